// `segc deploy --dry-run`: the semantic difference between the deployed policy (recompiled
// from the sources its record keeps) and the new one: rules added, removed and changed,
// defaults, and example packets whose verdict changes, both ways, found by running packets
// drawn from every rule of either policy through the reference interpreter. Touches nothing.
import { evaluate } from '../../compiler/evaluate.ts';
import type { DirectionIr, ProgramIr, RuleIr } from '../../compiler/ir.ts';
import { DIRECTIONS } from '../../compiler/ir.ts';
import { formatPacket, type Packet } from '../../compiler/packet.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import type { Outcome } from './command.ts';
import type { CompiledPolicy, DeployCommandOptions } from './deploy.ts';
import type { CliIo } from './io.ts';

export interface RuleChange {
  readonly direction: 'ingress' | 'egress';
  readonly name: string;
  readonly change: 'added' | 'removed' | 'changed';
}

export interface VerdictChange {
  readonly direction: 'ingress' | 'egress';
  readonly packet: string;
  readonly before: 'allow' | 'deny';
  readonly after: 'allow' | 'deny';
}

export interface PolicyDiff {
  readonly rules: readonly RuleChange[];
  readonly defaults: readonly { readonly direction: 'ingress' | 'egress'; readonly before: string; readonly after: string }[];
  readonly packets: readonly VerdictChange[];
}

/** What a rule matches and does; equal signatures mean the same rule. */
function ruleSignature(r: RuleIr): string {
  return JSON.stringify([r.priority, r.action, r.log, r.audit, r.protocols, r.src, r.dst, r.srcPorts, r.dstPorts, r.icmp]);
}

export function diffPolicies(before: ProgramIr, after: ProgramIr, maxPackets = 5): PolicyDiff {
  const rules: RuleChange[] = [];
  const defaults: PolicyDiff['defaults'][number][] = [];
  const packets: VerdictChange[] = [];
  for (const direction of DIRECTIONS) {
    const old = new Map(before[direction].rules.map((r) => [r.name, r]));
    const now = new Map(after[direction].rules.map((r) => [r.name, r]));
    for (const [name, r] of now) {
      const o = old.get(name);
      if (!o) rules.push({ direction, name, change: 'added' });
      else if (ruleSignature(o) !== ruleSignature(r)) rules.push({ direction, name, change: 'changed' });
    }
    for (const name of old.keys()) if (!now.has(name)) rules.push({ direction, name, change: 'removed' });
    if (before[direction].defaultAction !== after[direction].defaultAction) {
      defaults.push({ direction, before: before[direction].defaultAction, after: after[direction].defaultAction });
    }
    packets.push(...verdictChanges(before[direction], after[direction], maxPackets));
  }
  return { rules, defaults, packets };
}

/** Up to `max` packets each way (allow -> deny, deny -> allow) whose verdict differs. */
function verdictChanges(before: DirectionIr, after: DirectionIr, max: number): VerdictChange[] {
  const seen = new Set<string>();
  const out: VerdictChange[] = [];
  const counts = { allow: 0, deny: 0 };
  for (const rule of [...after.rules, ...before.rules]) {
    for (const packet of samplePackets(rule)) {
      const text = formatPacket(packet);
      if (seen.has(text)) continue;
      seen.add(text);
      const was = evaluate(before, packet).verdict;
      const now = evaluate(after, packet).verdict;
      if (was === now || counts[now] >= max) continue;
      counts[now]++;
      out.push({ direction: before.direction, packet: text, before: was, after: now });
    }
  }
  return out;
}

/** Packets inside the rule: one per address family it covers, at the first port and type it names. */
function samplePackets(rule: RuleIr): Packet[] {
  const out: Packet[] = [];
  for (const family of ['v4', 'v6'] as const) {
    const src = rule.src[family][0];
    const dst = rule.dst[family][0];
    if (src === undefined || dst === undefined) continue;
    const protocols = rule.protocols ?? [6];
    const proto = protocols.find((p) => (family === 'v4' ? p !== 58 : p !== 1)) ?? protocols[0] ?? 6;
    const packet: { -readonly [K in keyof Packet]: Packet[K] } = { proto, src: firstAddress(src, family), dst: firstAddress(dst, family) };
    if (proto === 6 || proto === 17 || proto === 132) {
      packet.srcPort = rule.srcPorts?.[0]?.[0] ?? 40000;
      packet.dstPort = rule.dstPorts?.[0]?.[0] ?? 40000;
    } else if (proto === 1 || proto === 58) {
      const type = family === 'v4' ? rule.icmp?.type4 : rule.icmp?.type6;
      packet.icmpType = type ?? (proto === 1 ? 8 : 128);
      packet.icmpCode = rule.icmp?.code ?? 0;
    }
    out.push(packet);
  }
  return out;
}

function firstAddress(prefix: string, family: 'v4' | 'v6'): string {
  const address = prefix.split('/')[0] ?? prefix;
  // `any`: an address from the documentation ranges (RFC 5737, RFC 3849) reads as "some host".
  if (prefix.endsWith('/0')) return family === 'v4' ? '192.0.2.1' : '2001:db8::1';
  // A network's first address is often special; one inside it reads better (10.0.0.1).
  if (prefix.endsWith('/32') || prefix.endsWith('/128') || !prefix.includes('/')) return address;
  if (family === 'v4') {
    const parts = address.split('.').map(Number);
    parts[3] = (parts[3] ?? 0) + 1;
    return parts.join('.');
  }
  return address.endsWith('::') ? `${address}1` : address;
}

function modeOf(audit: boolean): 'audit' | 'enforce' {
  return audit ? 'audit' : 'enforce';
}

function ruleNames(rules: readonly RuleIr[]): string[] {
  return rules.map((r) => `${r.direction} ${r.name}`);
}

export async function dryRun(compiled: CompiledPolicy, options: DeployCommandOptions, io: CliIo): Promise<Outcome> {
  const [{ readState, stateDirOf }, { compile }] = await Promise.all([import('../state.ts'), import('../../compiler/program.ts')]);
  const state = readState(stateDirOf(io.env), options.name);
  let diff: PolicyDiff | null = null;
  let oldRules: readonly RuleIr[] = [];
  if (state) {
    const old = compile(state.current.files, createMemoryHost(state.current.sources));
    if (old.ir === undefined) throw new Error(`the deployed sources of '${options.name}' no longer compile`);
    diff = diffPolicies(old.ir, compiled.ir);
    oldRules = old.ir.rules;
  }
  const interfaces = { before: state?.current.interfaces.map((i) => i.iface) ?? [], after: [...new Set(options.iface)] };
  const mode = { before: state === undefined ? null : modeOf(state.current.settings?.audit === true), after: modeOf(options.audit === true) };
  const auditRules = { before: ruleNames(oldRules.filter((r) => r.audit)), after: ruleNames(compiled.ir.rules.filter((r) => r.audit)) };
  if (options.json === true) {
    io.stdout.write(JSON.stringify({ name: options.name, deployed: state ? { policyHash: state.current.policyHash, generation: state.current.generation } : null, policyHash: compiled.ir.hash, interfaces, mode, auditRules, diff }) + '\n');
    return 'ok';
  }
  const lines = [`dry run for '${options.name}': nothing was changed`];
  if (mode.before !== null && mode.before !== mode.after) {
    lines.push(`  mode       ${mode.before} -> ${mode.after}${mode.after === 'enforce' ? ': what audit counted as would-deny is dropped from now on' : ': denies will pass, counted as would-deny'}`);
  }
  for (const name of auditRules.before.filter((n) => !auditRules.after.includes(n))) lines.push(`  enforce    rule ${name} (was deny audit)`);
  for (const name of auditRules.after.filter((n) => !auditRules.before.includes(n))) lines.push(`  audit      rule ${name} (deny audit)`);
  if (!state) {
    lines.push(`  nothing is deployed under this name: a deploy would enforce ${compiled.ir.rules.length} rules on ${interfaces.after.join(', ')}`);
  } else if (state.current.policyHash === compiled.ir.hash && diff?.rules.length === 0) {
    lines.push(`  the policy is the one in force (generation ${state.current.generation})${mode.before === mode.after ? '; a deploy would change no verdict' : ''}`);
  } else if (diff) {
    lines.push(`  deployed   generation ${state.current.generation} (${state.current.policyHash.slice(0, 19)})`);
    for (const r of diff.rules) lines.push(`  ${r.change.padEnd(9)}  ${r.direction} rule ${r.name}`);
    for (const d of diff.defaults) lines.push(`  default    ${d.direction}: ${d.before} -> ${d.after}`);
    if (diff.packets.length === 0) lines.push('  no example packet found whose verdict changes');
    for (const p of diff.packets) lines.push(`  verdict    ${p.direction} ${p.packet}: ${p.before} -> ${p.after}`);
  }
  const added = interfaces.after.filter((i) => !interfaces.before.includes(i));
  const dropped = interfaces.before.filter((i) => !interfaces.after.includes(i));
  if (state && added.length > 0) lines.push(`  attach     ${added.join(', ')}`);
  if (state && dropped.length > 0) lines.push(`  detach     ${dropped.join(', ')}`);
  io.stdout.write(lines.join('\n') + '\n');
  return 'ok';
}
