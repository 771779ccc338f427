// The IR content hash: `sha256:<hex>` over a canonical serialisation of the policy's meaning
// (each direction's default, whether a block declared it, and rules: priority, name, action, log, matches, description).
// Spans, file names, rule ids and declarations are left out, so moving a rule to another file,
// reordering files or editing comments keeps the hash.
import { createHash } from 'node:crypto';
import type { ProgramIr, RuleIr } from './ir.ts';

/** What the hash reads. */
export type HashInput = Pick<ProgramIr, 'ingress' | 'egress'>;

/**
 * The policy's hash. Computed by the commands that record or compare it (a deploy's bundle,
 * `deploy --diff`, `explain --deployed`), not by lowering: a check never reads it.
 */
export function hashProgram(program: HashInput): string {
  const hash = createHash('sha256');
  // Lines go to the hash some 64 KiB at a time: one native call per line cost more than the
  // serialising on 100k-rule policies. The bytes hashed are the same.
  let chunk = '';
  for (const line of canonicalLines(program)) {
    chunk += line + '\n';
    if (chunk.length >= 65536) {
      hash.update(chunk);
      chunk = '';
    }
  }
  hash.update(chunk);
  return 'sha256:' + hash.digest('hex');
}

/**
 * The canonical text the hash covers, one JSON line per direction header and per rule (fed to
 * the hash line by line, so a large policy never becomes one huge string). Arrays with a fixed
 * field order, not objects, keep it independent of how an object was built; the version tag
 * keeps hashes of a future layout from colliding with these.
 */
export function* canonicalLines(program: HashInput): Generator<string> {
  yield JSON.stringify(['segc-ir', 2]);
  for (const d of [program.ingress, program.egress]) {
    // `declared` is covered: an undeclared direction means the same as an empty default-allow
    // block on the wire, but reports (explain) tell them apart.
    yield JSON.stringify([d.direction, d.defaultAction, d.rules.length, d.declared]);
    for (const r of d.rules) yield canonicalRuleLine(r);
  }
}

/** One rule's line of the canonical text. */
export function canonicalRuleLine(r: RuleIr): string {
  return JSON.stringify(canonicalRule(r));
}

function canonicalRule(r: RuleIr): unknown {
  // The expiry date joins the line only when there is one, so hashes of rules without one
  // stay what they were before expiry existed.
  const base = [
    r.priority,
    r.name,
    r.named,
    r.action,
    r.log,
    r.protocols,
    [r.src.v4, r.src.v6],
    [r.dst.v4, r.dst.v6],
    r.srcPorts,
    r.dstPorts,
    r.icmp === null ? null : [r.icmp.type4, r.icmp.type6, r.icmp.code],
    r.description,
    // Appended only when set, so that the hash of a policy without audit rules is unchanged.
    ...(r.audit ? ['audit'] : []),
    // Likewise `nosession` (a word no date can be, so the expiry after it stays unambiguous).
    ...(r.noSession ? ['nosession'] : []),
  ];
  return r.expires === undefined ? base : [...base, r.expires];
}
