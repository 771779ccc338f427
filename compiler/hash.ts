// The IR content hash: `sha256:<hex>` over a canonical serialisation of the policy's meaning
// (each direction's default and rules: priority, name, action, log, matches, description).
// Spans, file names, rule ids and declarations are left out, so moving a rule to another file,
// reordering files or editing comments keeps the hash.
import { createHash } from 'node:crypto';
import type { DirectionIr, ProgramIr, RuleIr } from './ir.ts';

/** What the hash reads: the program without its hash. */
export type HashInput = Pick<ProgramIr, 'ingress' | 'egress'>;

export function hashProgram(program: HashInput): string {
  return 'sha256:' + createHash('sha256').update(canonicalProgram(program)).digest('hex');
}

/**
 * The canonical text the hash covers. Arrays with a fixed field order (not objects) keep the
 * serialisation independent of how an object was built; a version tag keeps old hashes from
 * colliding with a future layout.
 */
export function canonicalProgram(program: HashInput): string {
  return JSON.stringify(['segc-ir-1', canonicalDirection(program.ingress), canonicalDirection(program.egress)]);
}

function canonicalDirection(d: DirectionIr): unknown {
  return [d.direction, d.defaultAction, d.rules.map(canonicalRule)];
}

function canonicalRule(r: RuleIr): unknown {
  return [
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
  ];
}
