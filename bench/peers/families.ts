// Peer benchmark: the filters compared. Each family prepares its filter once in the receiving
// namespace (a deploy, a set) and then toggles it: `attach` before a cell's window, `detach`
// before the no-filter baseline window that precedes it. TC programs also name the program
// whose kernel run time (bpf_stats) is read around the window.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEG_CFG_STATELESS } from '../../runtime/datapath/abi.ts';
import { deployCanary, rollbackCanary } from '../../runtime/canary.ts';
import { bundle } from '../../compiler/bundle.ts';
import { emit } from '../../compiler/emit.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import { deploy, openPinnedDatapath, pinsOf, releaseDatapath, undeploy } from '../../runtime/deploy.ts';
import { bpf_obj_get, close } from '../../runtime/libbpf.ts';
import { readConfig, writeConfig } from '../../runtime/datapath/config.ts';
import { attachTc, interfaceIndex, removeClsact } from '../../runtime/tc.ts';
import { classBenchToSeg, readClassBenchRules } from '../../test/support/classbench.ts';
import { CORPUS } from '../../test/support/corpus.ts';
import { NEW_FLOW_SOURCES, SINK_PORT, type PeerBed, type TrafficKind } from './topology.ts';

/** One row of the table: a filter in one state, under one kind of traffic. */
export interface Cell {
  readonly family: string;
  /** What the filter holds: `10 rules`, `fw1 10k`, `1k elements`. */
  readonly size: string;
  /** `session hit`, `new flow`, `sessions off`, `one flow`, ... */
  readonly path: string;
  readonly traffic: TrafficKind;
  /** Puts the filter in place, in this cell's state. */
  attach(): Promise<void>;
  /** Takes it out: the namespace has no filter of this family. */
  detach(): Promise<void>;
  /** The fd of the TC program whose run time the kernel counts, for TC families. */
  programFd(): number | undefined;
}

/** A filter prepared once (a deployed policy, a loaded program) and the cells it gives. */
export interface Family {
  readonly name: string;
  prepare(): Promise<readonly Cell[]>;
  dispose(): Promise<void>;
}

/** Sizes of the synthetic rule sets and of the peers' sets. */
export const SYNTHETIC_SIZES: readonly { readonly label: string; readonly count: number }[] = [
  { label: '10', count: 10 },
  { label: '1k', count: 1000 },
  { label: '10k', count: 10000 },
];

/** Prefix k of the blocklists: a /28 every 32 addresses of 172.16.0.0/12, never the bench's traffic. */
function blockedPrefix(k: number): string {
  const base = (172 << 24) | (16 << 16);
  const v = (base + k * 32) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/28`;
}

// ---- No filter and the TC hook alone ----------------------------------------------------------

/** Baseline against baseline: the noise floor of the method. */
export function noFilter(): Family {
  const cell = (traffic: TrafficKind): Cell => ({ family: 'no filter', size: '-', path: traffic === 'single' ? 'one flow' : 'new flow per packet', traffic, attach: async () => {}, detach: async () => {}, programFd: () => undefined });
  return { name: 'no filter', prepare: async () => [cell('single'), cell('new')], dispose: async () => {} };
}

/** The bench's own TC program returning TC_ACT_OK (tc-pass.bpf.c): clsact and a program call. */
export function tcHookAlone(bed: PeerBed, objectPath: string): Family {
  const pin = `/sys/fs/bpf/segct-${process.pid}-peer-pass`;
  let fd = -1;
  const ifindex = () => bed.sandbox.within(bed.receiver, () => interfaceIndex(bed.link.b.name));
  const cell = (traffic: TrafficKind): Cell => ({
    family: 'TC hook alone',
    size: '-',
    path: traffic === 'single' ? 'one flow' : 'new flow per packet',
    traffic,
    attach: async () => {
      const index = await ifindex();
      await bed.sandbox.within(bed.receiver, () => attachTc(index, 'ingress', fd, { handle: 1, priority: 1 }));
    },
    detach: async () => {
      const index = await ifindex();
      await bed.sandbox.within(bed.receiver, () => removeClsact(index));
    },
    programFd: () => fd,
  });
  return {
    name: 'TC hook alone',
    prepare: async () => {
      rmSync(pin, { force: true });
      bed.sandbox.exec(bed.receiver, 'bpftool', ['prog', 'load', objectPath, pin, 'type', 'classifier']);
      fd = bpf_obj_get(pin);
      return [cell('single'), cell('new')];
    },
    dispose: async () => {
      if (fd >= 0) close(fd);
      rmSync(pin, { force: true });
    },
  };
}

// ---- segc -------------------------------------------------------------------------------------

/** A policy for segc: its `.seg` text. */
export interface SegcPolicy {
  readonly size: string;
  readonly text: string;
}

/**
 * N rules: N - 1 that the traffic never matches (deny UDP from a /28 of 172.16.0.0/12 to a
 * port of its own), then the one that allows it; default deny, so each packet is classified
 * through every field's lookups to the last rule.
 */
export function syntheticPolicy(count: number, label: string): SegcPolicy {
  const lines = ['policy ingress default deny {'];
  for (let k = 0; k < count - 1; k++) lines.push(`  ${k + 1} deny udp from ${blockedPrefix(k)} to any port ${1024 + (k % 60000)}`);
  lines.push(`  ${count} allow udp from { 10.77.0.0/16, ${NEW_FLOW_SOURCES} } to any port ${SINK_PORT}`);
  lines.push('}');
  return { size: `${label} rules`, text: lines.join('\n') + '\n' };
}

/**
 * A ClassBench rule set (../shared/corpus) where every rule and the default allow: each packet
 * passes whichever rule matches it first, after the full classification (lookups and the
 * bitmap scan), and no cell's traffic is dropped.
 */
export function classBenchPolicy(file: string, label: string): SegcPolicy {
  const rules = readClassBenchRules(readFileSync(`${CORPUS}/classbench-hs1/rules/${file}`, 'utf8'));
  return { size: label, text: classBenchToSeg(rules, { action: () => 'allow', defaultAction: 'allow' }) };
}

/** Where and how segc is deployed; with `object`, that build of the data path under a name of its own. */
export interface SegcHost {
  readonly stateDir: string;
  readonly name: string;
  readonly sessions?: number;
  /** A build to compare (`--object LABEL=PATH`): labels the family, deployed as NAME-LABEL and undeployed after it. */
  readonly object?: { readonly label: string; readonly path: string };
  /** `--canary PERCENT`: the same policy again as a canary beside it, this share in basis points. */
  readonly canaryShareBp?: number;
  /** `--nosession`: the policy with `nosession` on every allowing rule (family `segc nosession`). */
  readonly noSession?: boolean;
}

/** The policy with `nosession` at the end of every allowing rule line (the bench's policies have no `expires`). */
export function withNoSession(text: string): string {
  return text.replace(/^(\s*\d+ (?:[\w-]+: )?(?:allow|log)\b.*?)\s*$/gm, '$1 nosession');
}

/**
 * segc deployed with `segc deploy`'s own code path on the receiver's interface; its cells: a
 * session hit (one flow), a new flow per packet (lookup miss, classification, session insert,
 * the LRU evicting once the table is full), and sessions off (SEG_CFG_STATELESS: every packet
 * classified).
 */
export function segcFamily(bed: PeerBed, policy: SegcPolicy, host: SegcHost): Family {
  let programs: { ingress: number; egress: number } | undefined;
  let pinDir = '';
  const ifindex = () => bed.sandbox.within(bed.receiver, () => interfaceIndex(bed.link.b.name));
  const setStateless = (on: boolean) => {
    const dp = openPinnedDatapath(pinDir);
    try {
      const config = readConfig(dp);
      writeConfig(dp, { ...config, flags: on ? config.flags | SEG_CFG_STATELESS : config.flags & ~SEG_CFG_STATELESS });
    } finally {
      releaseDatapath(dp, true);
    }
  };
  const attach = async () => {
    const index = await ifindex();
    const p = programs;
    if (!p) throw new Error('segc is not deployed');
    await bed.sandbox.within(bed.receiver, () => {
      attachTc(index, 'ingress', p.ingress);
      attachTc(index, 'egress', p.egress);
    });
  };
  const detach = async () => {
    const index = await ifindex();
    await bed.sandbox.within(bed.receiver, () => removeClsact(index));
  };
  const family = `segc${host.object ? ` ${host.object.label}` : ''}${host.noSession === true ? ' nosession' : ''}`;
  const deployment = { stateDir: host.stateDir, name: host.object ? `${host.name}-${host.object.label}` : host.name };
  const cell = (path: string, traffic: TrafficKind, stateless: boolean): Cell => ({
    family,
    size: policy.size,
    path,
    traffic,
    attach: async () => {
      setStateless(stateless);
      await attach();
    },
    detach,
    programFd: () => programs?.ingress,
  });
  return {
    name: `${family} ${policy.size}${host.canaryShareBp === undefined ? '' : ` canary ${host.canaryShareBp / 100}%`}`,
    prepare: async () => {
      const text = host.noSession === true ? withNoSession(policy.text) : policy.text;
      const compilation = compile(['policy.seg'], createMemoryHost({ 'policy.seg': text }));
      const ir = compilation.ir;
      if (!ir) throw new Error(`the ${policy.size} policy does not compile`);
      // The traffic's replies (none are sent) are unfiltered: every allowing rule is proved.
      if (host.noSession === true && compilation.noSession?.ruleIds.length !== ir.rules.filter((r) => r.action === 'allow').length) throw new Error(`nosession is not proved for every rule of ${policy.size}`);
      const bundleText = bundle(ir, emit(ir, { origins: true, noSession: compilation.noSession?.ruleIds ?? [] }), compilation.sources, { bundleFile: 'b.json', sourceMapFile: 'b.json.map', includeSources: false }).text;
      const result = await bed.sandbox.within(bed.receiver, () =>
        deploy({ bundleText, interfaces: [bed.link.b.name], options: { ...deployment, rulesPerSlot: 16384, sessions: host.sessions, ...(host.object ? { objectPath: host.object.path } : {}) } }),
      );
      pinDir = result.record.pins.dir;
      // --canary: the same policy again as a canary beside it (its cost: the flow hash on
      // every new flow, the per-role counters); ended before the next policy's deploy.
      const shareBp = host.canaryShareBp;
      if (shareBp !== undefined) await bed.sandbox.within(bed.receiver, () => deployCanary({ bundleText, interfaces: [bed.link.b.name], options: { ...deployment, shareBp, ...(host.object ? { objectPath: host.object.path } : {}) } }));
      const pins = pinsOf(pinDir);
      programs = { ingress: bpf_obj_get(pins.programs.ingress), egress: bpf_obj_get(pins.programs.egress) };
      // With `nosession` the one flow opens no session: each of its packets is classified (on a
      // fresh deployment, --object; a redeploy keeps the sessions an earlier family opened).
      return [cell(host.noSession === true ? 'one flow, no session' : 'session hit', 'single', false), cell('new flow per packet', 'new', false), cell('sessions off', 'single', true)];
    },
    dispose: async () => {
      if (host.canaryShareBp !== undefined) await bed.sandbox.within(bed.receiver, () => rollbackCanary({ name: host.name, stateDir: host.stateDir })).catch(() => {});
      if (programs) {
        close(programs.ingress);
        close(programs.egress);
        programs = undefined;
      }
      if (host.object) {
        // Each build has its deployment: the next family deploys another on the same interface.
        await undeploySegc(bed, deployment);
        pinDir = '';
        return;
      }
      // Back in place, so that the next policy is a redeploy over an attached filter.
      await attach().catch(() => {});
      if (pinDir) setStateless(false);
    },
  };
}

/** Takes the bench's segc deployment away (pins, record). */
export async function undeploySegc(bed: PeerBed, host: { readonly stateDir: string; readonly name: string }): Promise<void> {
  await bed.sandbox.within(bed.receiver, () => {
    try {
      undeploy({ name: host.name, stateDir: host.stateDir });
    } catch {
      // Never deployed (a run limited to other families).
    }
  });
  rmSync(join('/sys/fs/bpf/segc', host.name), { recursive: true, force: true });
}

// ---- nftables ---------------------------------------------------------------------------------

/**
 * nftables in the receiver's input hook: `ip saddr @blocked drop` over an interval set of N
 * prefixes the traffic is not in, then accept; stateful puts `ct state established,related
 * accept` before it, so every packet goes through conntrack (one-way UDP stays `new` in
 * conntrack's terms: its packets meet the set too, as they would on a host).
 */
export function nftFamily(bed: PeerBed, count: number, label: string, stateful: boolean): Family {
  const table = `segcbench${process.pid}`;
  let dir = '';
  let file = '';
  const family = stateful ? 'nftables stateful' : 'nftables stateless';
  const cell = (traffic: TrafficKind): Cell => ({
    family,
    size: `${label} elements`,
    path: traffic === 'single' ? 'one flow' : 'new flow per packet',
    traffic,
    attach: async () => void bed.sandbox.exec(bed.receiver, 'nft', ['-f', file], 60_000),
    detach: async () => {
      if (/table inet/.test(bed.sandbox.exec(bed.receiver, 'nft', ['list', 'tables']))) bed.sandbox.exec(bed.receiver, 'nft', ['delete', 'table', 'inet', table]);
    },
    programFd: () => undefined,
  });
  return {
    name: `${family} ${label}`,
    prepare: async () => {
      dir = mkdtempSync(join(tmpdir(), 'segct-peer-nft-'));
      file = join(dir, 'ruleset.nft');
      const elements = Array.from({ length: count }, (_, k) => blockedPrefix(k)).join(', ');
      const rules = [...(stateful ? ['    ct state established,related accept'] : []), '    ip saddr @blocked drop'];
      writeFileSync(
        file,
        [`table inet ${table} {`, '  set blocked {', '    type ipv4_addr; flags interval;', `    elements = { ${elements} }`, '  }', '  chain input {', '    type filter hook input priority filter; policy accept;', ...rules, '  }', '}', ''].join('\n'),
      );
      return [cell('single'), cell('new')];
    },
    dispose: async () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- iptables-legacy with ipset ---------------------------------------------------------------

/** Why iptables-legacy cannot run here, or undefined when it can (probed in the receiver). */
export function iptablesLegacyMissing(bed: PeerBed): string | undefined {
  try {
    bed.sandbox.exec(bed.receiver, 'iptables-legacy', ['-w', '-L', 'INPUT', '-n']);
    bed.sandbox.exec(bed.receiver, 'ipset', ['list', '-n']);
    return undefined;
  } catch (error) {
    return (error as { stderr?: string }).stderr?.trim() || String(error);
  }
}

/** iptables-legacy's INPUT chain matching a hash:net ipset of N prefixes (`-m set ... -j DROP`). */
export function iptablesFamily(bed: PeerBed, count: number, label: string): Family {
  const set = `segcbench${process.pid}`;
  let dir = '';
  const rule = ['INPUT', '-m', 'set', '--match-set', set, 'src', '-j', 'DROP'];
  const cell = (traffic: TrafficKind): Cell => ({
    family: 'iptables-legacy + ipset',
    size: `${label} elements`,
    path: traffic === 'single' ? 'one flow' : 'new flow per packet',
    traffic,
    attach: async () => void bed.sandbox.exec(bed.receiver, 'iptables-legacy', ['-w', '-A', ...rule]),
    detach: async () => {
      try {
        bed.sandbox.exec(bed.receiver, 'iptables-legacy', ['-w', '-D', ...rule]);
      } catch {
        // Not in place.
      }
    },
    programFd: () => undefined,
  });
  return {
    name: `iptables-legacy + ipset ${label}`,
    prepare: async () => {
      dir = mkdtempSync(join(tmpdir(), 'segct-peer-ipset-'));
      const file = join(dir, 'set.ipset');
      const lines = [`create ${set} hash:net family inet maxelem ${Math.max(65536, count * 2)}`, ...Array.from({ length: count }, (_, k) => `add ${set} ${blockedPrefix(k)}`)];
      writeFileSync(file, lines.join('\n') + '\n');
      bed.sandbox.exec(bed.receiver, 'ipset', ['restore', '-file', file], 60_000);
      return [cell('single'), cell('new')];
    },
    dispose: async () => {
      try {
        bed.sandbox.exec(bed.receiver, 'ipset', ['destroy', set]);
      } catch {
        // The namespace goes with it.
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
