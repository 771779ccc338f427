// `segc deploy --dry-run`: the semantic difference between the deployed policy (recompiled
// from the sources its record keeps) and the new one, from the one diff engine of `segc diff`
// (compiler/diff.ts): rules added, removed and changed, defaults, and the exact regions of
// packets whose verdict changes, each with an example and the deciding rules; and audit: the
// mode of the whole policy and the rules in `deny audit`, before and after. Touches nothing.
// A damaged record (or deployed sources that no longer compile) is a warning, not a failure:
// the dry run says so, with the repair, and compares against no deployed policy, as the deploy
// itself would treat it.
import type { PolicyDiff } from '../../compiler/diff.ts';
import { hashProgram } from '../../compiler/hash.ts';
import { diffPolicies } from '../../compiler/program.ts';
import { formatPacket } from '../../compiler/packet.ts';
import type { RuleIr } from '../../compiler/ir.ts';
import { diffJson } from '../../compiler/report/diff.ts';
import { locate } from '../../compiler/report/location.ts';
import { createMemoryHost, createSourceFile, type SourceFile } from '../../compiler/source.ts';
import type { Outcome } from './command.ts';
import type { CompiledPolicy, DeployCommandOptions } from './deploy-input.ts';
import type { CliIo } from './io.ts';

/** Regions of changed verdicts a dry run prints; `--json` has them all. */
const MAX_DRY_RUN_REGIONS = 10;

function modeOf(audit: boolean): 'audit' | 'enforce' {
  return audit ? 'audit' : 'enforce';
}

function ruleNames(rules: readonly RuleIr[]): string[] {
  return rules.map((r) => `${r.direction} ${r.name}`);
}

/** Why the dry run could not compare with the deployed policy, and how to repair it. */
export interface DryRunWarning {
  readonly kind: 'damaged-record' | 'sources-do-not-compile';
  readonly message: string;
  /** The record file, for a damaged record. */
  readonly path?: string;
  readonly hint: string;
}

export async function dryRun(compiled: CompiledPolicy, options: DeployCommandOptions, io: CliIo): Promise<Outcome> {
  const [{ readState, stateDirOf, isRecordError }, { compile }] = await Promise.all([import('../state.ts'), import('../../compiler/program.ts')]);
  const warnings: DryRunWarning[] = [];
  let state: Awaited<ReturnType<typeof readState>>;
  try {
    state = readState(stateDirOf(io.env), options.name);
  } catch (error) {
    if (!isRecordError(error)) throw error;
    // The deploy reads a damaged record as none and rewrites it: compare with no policy.
    warnings.push({ kind: 'damaged-record', message: `${error.message}; compared with no deployed policy`, path: error.path, hint: error.hint });
    state = undefined;
  }
  let diff: PolicyDiff | null = null;
  let oldSources: ReadonlyMap<string, SourceFile> = new Map();
  let oldRules: readonly RuleIr[] = [];
  if (state) {
    const old = compile(state.current.files, createMemoryHost(state.current.sources));
    if (old.ir === undefined) {
      warnings.push({
        kind: 'sources-do-not-compile',
        message: `the deployed sources of '${options.name}' (generation ${state.current.generation}) no longer compile with this segc; compared with no deployed policy`,
        hint: `segc check the deployed files to see why; segc status --name ${options.name} shows what is in force`,
      });
    } else {
      diff = diffPolicies(old.ir, compiled.ir);
      oldSources = old.sources;
      oldRules = old.ir.rules;
    }
  }
  for (const w of warnings) io.stderr.write(`warning: ${w.message}
  hint: ${w.hint}
`);
  const newSources = new Map(Object.entries(compiled.sources).map(([path, text]) => [path, createSourceFile(path, text)]));
  const sides = { before: { label: 'deployed', sources: oldSources }, after: { label: '', sources: newSources } };
  const interfaces = { before: state?.current.interfaces.map((i) => i.iface) ?? [], after: [...new Set(options.iface)] };
  const mode = { before: state === undefined ? null : modeOf(state.current.settings?.audit === true), after: modeOf(options.audit === true) };
  const policyHash = hashProgram(compiled.ir);
  const auditRules = { before: ruleNames(oldRules.filter((r) => r.audit)), after: ruleNames(compiled.ir.rules.filter((r) => r.audit)) };
  if (options.json === true) {
    io.stdout.write(
      JSON.stringify({ name: options.name, deployed: state ? { policyHash: state.current.policyHash, generation: state.current.generation } : null, policyHash, interfaces, mode, auditRules, diff: diff && diffJson(diff, sides), ...(warnings.length > 0 ? { warnings } : {}) }) + '\n',
    );
    return 'ok';
  }
  const lines = [`dry run for '${options.name}': nothing was changed`];
  if (mode.before !== null && mode.before !== mode.after) {
    lines.push(`  mode       ${mode.before} -> ${mode.after}${mode.after === 'enforce' ? ': what audit counted as would-deny is dropped from now on' : ': denies will pass, counted as would-deny'}`);
  }
  for (const name of auditRules.before.filter((n) => !auditRules.after.includes(n))) lines.push(`  enforce    rule ${name} (was deny audit)`);
  for (const name of auditRules.after.filter((n) => !auditRules.before.includes(n))) lines.push(`  audit      rule ${name} (deny audit)`);
  if (warnings.some((w) => w.kind === 'damaged-record')) {
    lines.push(`  the record is damaged (above): a deploy would rewrite it and enforce ${compiled.ir.rules.length} rules on ${interfaces.after.join(', ')}`);
  } else if (!state) {
    lines.push(`  nothing is deployed under this name: a deploy would enforce ${compiled.ir.rules.length} rules on ${interfaces.after.join(', ')}`);
  } else if (!diff) {
    lines.push(`  deployed   generation ${state.current.generation} (${state.current.policyHash.slice(0, 19)}), not compared (above): a deploy would enforce ${compiled.ir.rules.length} rules`);
  } else if (state.current.policyHash === policyHash && diff?.rules.length === 0) {
    lines.push(`  the policy is the one in force (generation ${state.current.generation})${mode.before === mode.after ? '; a deploy would change no verdict' : ''}`);
  } else if (diff) {
    lines.push(`  deployed   generation ${state.current.generation} (${state.current.policyHash.slice(0, 19)})`);
    for (const r of diff.rules) lines.push(`  ${r.change.padEnd(9)}  ${r.direction} rule ${r.name}`);
    for (const d of diff.defaults) lines.push(`  default    ${d.direction}: ${d.before} -> ${d.after}`);
    if (diff.regions.length === 0) lines.push('  no packet changes verdict');
    const shown = diff.regions.slice(0, MAX_DRY_RUN_REGIONS);
    for (const r of shown) {
      const rule = (d: (typeof r)['before'], side: 'before' | 'after') => {
        const span = d.rule?.span ?? d.defaultSpan;
        const at = span ? ` ${side === 'before' ? 'deployed:' : ''}${locate(span, sides[side].sources).file}:${locate(span, sides[side].sources).line}` : '';
        return `${d.rule ? d.rule.name : 'default'}${at}`;
      };
      lines.push(`  verdict    ${r.direction} ${formatPacket(r.example)}: ${r.before.verdict} -> ${r.after.verdict}  (${rule(r.before, 'before')} -> ${rule(r.after, 'after')})`);
    }
    if (diff.regions.length > shown.length) lines.push(`  ...        and ${diff.regions.length - shown.length} more regions (segc diff shows them all)`);
  }
  const added = interfaces.after.filter((i) => !interfaces.before.includes(i));
  const dropped = interfaces.before.filter((i) => !interfaces.after.includes(i));
  if (state && added.length > 0) lines.push(`  attach     ${added.join(', ')}`);
  if (state && dropped.length > 0) lines.push(`  detach     ${dropped.join(', ')}`);
  io.stdout.write(lines.join('\n') + '\n');
  return 'ok';
}
