import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeState, type DeploymentRecord } from '../../../runtime/state.ts';
import { SEG_CFG_LOG_DENIES, SEG_CFG_NO_SYN_PROTECTION, SEG_CFG_STATELESS, SegReason, SegStat } from '../../../runtime/datapath/abi.ts';
import { configWith } from '../../../runtime/deploy.ts';
import { ruleSelected } from '../../../runtime/cli/monitor.ts';
import { countBySource, sortSessions, type SessionView } from '../../../runtime/cli/sessions.ts';
import { auditView } from '../../../runtime/cli/status.ts';
import { compile } from '../../../compiler/program.ts';
import { createMemoryHost } from '../../../compiler/source.ts';
import { diffPolicies } from '../../../compiler/diff.ts';
import { formatPacket } from '../../../compiler/packet.ts';
import { settingsOf } from '../../../runtime/cli/deploy.ts';
import { formatVerifierLog } from '../../../runtime/cli/deploy-run.ts';
import { effectiveCapabilities, parseKernelRelease } from '../../../runtime/cli/doctor.ts';
import { counterName, evictionEstimate } from '../../../runtime/cli/stats.ts';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

function irOf(text: string) {
  const c = compile(['p.seg'], createMemoryHost({ 'p.seg': text }));
  if (!c.ir) throw new Error(JSON.stringify(c.diagnostics));
  return c.ir;
}

const BEFORE = `
policy ingress default deny {
  100 ssh:  allow tcp from 10.0.0.0/8 to any port 22
  110 web:  allow tcp from any to any port 443
}
`;

describe('deploy --dry-run differences', () => {
  it('names rules added, removed and changed, and packets whose verdict changes both ways', () => {
    const after = `
policy ingress default deny {
  100 ssh:  allow tcp from 10.1.0.0/16 to any port 22
  120 dns:  allow udp from any to any port 53
}
`;
    const diff = diffPolicies(irOf(BEFORE), irOf(after));
    expect(diff.rules).toEqual([
      { direction: 'ingress', name: 'ssh', change: 'changed' },
      { direction: 'ingress', name: 'dns', change: 'added' },
      { direction: 'ingress', name: 'web', change: 'removed' },
    ]);
    const packets = diff.regions.map((r) => ({ before: r.before.verdict, after: r.after.verdict, packet: formatPacket(r.example) }));
    expect(packets.some((p) => p.before === 'deny' && p.after === 'allow' && p.packet.includes(':53'))).toBe(true);
    expect(packets.some((p) => p.before === 'allow' && p.after === 'deny' && p.packet.includes(':443'))).toBe(true);
    expect(packets.some((p) => p.before === 'allow' && p.after === 'deny' && p.packet.endsWith(':22'))).toBe(true);
  });

  it('finds no difference between a policy and itself, whatever its layout', () => {
    const relaid = BEFORE.replace('100 ssh:  allow', '100 ssh: allow').replace('\n}', '\n\n}');
    expect(diffPolicies(irOf(BEFORE), irOf(relaid))).toEqual({ rules: [], defaults: [], regions: [], unpaired: { ingress: 0, egress: 0 } });
  });

  it('reports a changed default with the packets it flips', () => {
    const diff = diffPolicies(irOf(BEFORE), irOf(BEFORE.replace('default deny', 'default allow')));
    expect(diff.defaults).toEqual([{ direction: 'ingress', before: 'deny', after: 'allow' }]);
  });
});

describe('deploy messages and doctor parsing', () => {
  it('shows the end of a long verifier log, where the reason is', () => {
    const log = Array.from({ length: 100 }, (_, i) => `insn ${i}`).join('\n') + '\nR1 invalid mem access';
    const text = formatVerifierLog(log, 5);
    expect(text).toMatch(/last 5 of 101 lines/);
    expect(text.trimEnd().endsWith('| R1 invalid mem access')).toBe(true);
    expect(text).not.toMatch(/insn 10\b/);
  });

  it('reads kernel releases and effective capabilities', () => {
    expect(parseKernelRelease('6.18.44-fc-v669')).toEqual([6, 18]);
    expect(parseKernelRelease('garbage')).toBeUndefined();
    expect(effectiveCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n')).toBe(0x1ffffffffffn);
    expect(effectiveCapabilities('CapEff:\t0000000000000000\n')).toBe(0n);
  });

  it('names counters as the stats command prints them', () => {
    expect(counterName(0)).toBe('deny');
    expect(counterName(2)).toBe('session-hit');
    expect(counterName(8 + 9)).toBe('reason:trunc-ip4');
  });
});

describe('segc deploy in process', () => {
  it('refuses a policy with errors (exit 1) before touching the host', async () => {
    const io = createMemoryIo({ 'p.seg': 'policy ingress default deny {\n  100 x: allow tcp from nowhere to any port 22\n}\n' });
    expect(await run(['deploy', 'p.seg', '--iface', 'lo'], io)).toBe(1);
    expect(io.err()).toMatch(/SEG2001/);
    expect(io.err()).toMatch(/nothing was deployed/);
  });

  it('refuses with --strict when the analysis finds a shadowed rule', async () => {
    const io = createMemoryIo({ 'p.seg': 'policy ingress default deny {\n  100 a: allow tcp from any to any port 22\n  110 b: deny tcp from any to any port 22\n}\n' });
    expect(await run(['deploy', 'p.seg', '--iface', 'lo', '--strict'], io)).toBe(1);
    expect(io.err()).toMatch(/--strict/);
  });

  it('needs --iface (a usage error)', async () => {
    const io = createMemoryIo({ 'p.seg': 'policy ingress default deny {\n}\n' });
    expect(await run(['deploy', 'p.seg'], io)).toBe(2);
    expect(io.err()).toMatch(/--iface/);
  });
});

describe('segc status from the records', () => {
  it('prints the shape of cli.md, and says when the pins cannot be read', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'segct-status-'));
    try {
      const pins = { dir: '/sys/fs/bpf/segc/segct-none', programs: { ingress: '/sys/fs/bpf/segc/segct-none/prog_ingress', egress: '/sys/fs/bpf/segc/segct-none/prog_egress' }, maps: {} };
      const current = {
        name: 'segct-none', policyHash: 'sha256:00', generation: 3, slot: 0, deployedAt: '2026-01-01T00:00:00.000Z', files: ['web.seg'],
        interfaces: [{ iface: 'eth9', ifindex: 99, createdClsact: false }],
        attachments: [{ iface: 'eth9', ifindex: 99, direction: 'ingress' as const, progId: 41 }, { iface: 'eth9', ifindex: 99, direction: 'egress' as const, progId: 42 }],
        pins, rulesPerSlot: 64, sessions: 64, bundle: '{}', sources: {},
      };
      writeState(stateDir, { format: 'segc-deployment', version: 1, current, previous: null });
      const io = createMemoryIo({}, { env: { SEGC_STATE_DIR: stateDir } });
      expect(await run(['status', '--json'], io)).toBe(0);
      const [d] = (JSON.parse(io.out()) as { deployments: Record<string, unknown>[] }).deployments;
      expect(d).toMatchObject({
        name: 'segct-none', policyHash: 'sha256:00', generation: 3, deployedAt: '2026-01-01T00:00:00.000Z', files: ['web.seg'],
        attachments: [{ iface: 'eth9', direction: 'ingress', progId: 41 }, { iface: 'eth9', direction: 'egress', progId: 42 }],
        pins: { dir: pins.dir, programs: pins.programs },
        kernel: { error: expect.any(String) },
      });
      const human = createMemoryIo({}, { env: { SEGC_STATE_DIR: stateDir } });
      expect(await run(['status'], human)).toBe(0);
      expect(human.out()).toMatch(/segct-none: generation 3/);
      expect(human.out()).toMatch(/kernel +cannot read the pins/);
      const missing = createMemoryIo({}, { env: { SEGC_STATE_DIR: stateDir } });
      expect(await run(['status', '--name', 'other'], missing)).toBe(2);
      expect(missing.err()).toMatch(/no deployment named 'other'/);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('audit, sessions and monitor helpers', () => {
  it('names the counters after the reasons by their enum names', () => {
    expect(counterName(SegStat.SEG_STAT_WOULD_DENY)).toBe('would-deny');
    expect(counterName(SegStat.SEG_STAT_EVENT_RING_FULL)).toBe('event-ring-full');
    expect(counterName(SegStat.SEG_STAT_SYN_UNTRACKED)).toBe('syn-untracked');
    expect(counterName(SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_HANDSHAKE_REPLY)).toBe('reason:handshake-reply');
  });

  it('estimates evictions from the session counters', () => {
    const stats = Array.from({ length: SegStat.SEG_STAT_COUNT }, () => ({ packets: 0n }));
    stats[SegStat.SEG_STAT_SESSION_NEW] = { packets: 100n };
    stats[SegStat.SEG_STAT_SESSION_EXPIRED] = { packets: 10n };
    stats[SegStat.SEG_STAT_SESSION_CLOSED] = { packets: 20n };
    expect(evictionEstimate(stats, 30)).toBe(40);
    expect(evictionEstimate(stats, 90)).toBe(0);
  });

  it('says how long a deployment has been in audit mode, and when that is too long', () => {
    const record = { deployedAt: '2026-01-09T00:00:00.000Z', auditSince: '2026-01-01T00:00:00.000Z', settings: { audit: true }, bundle: JSON.stringify({ rules: [{ id: 0, name: 'telnet', direction: 'ingress', audit: true, file: 'a.seg', line: 3 }] }) } as unknown as DeploymentRecord;
    expect(auditView(record, 7, new Date('2026-01-05T00:00:00.000Z'))).toEqual({ mode: 'audit', since: '2026-01-01T00:00:00.000Z', rules: ['ingress telnet (a.seg:3)'], overdue: false });
    expect(auditView(record, 7, new Date('2026-01-09T00:00:00.000Z')).overdue).toBe(true);
    expect(auditView({ ...record, settings: {} }, 7, new Date('2027-01-01T00:00:00.000Z'))).toMatchObject({ mode: 'enforce', since: null, overdue: false });
  });

  it('sorts sessions by idle age, bytes or packets and counts them by source', () => {
    const view = (source: string, idleSeconds: number, bytes: number, packets: number) => ({ source, idleSeconds, bytes, packets }) as SessionView;
    const views = [view('10.0.0.2', 5, 100, 1), view('10.0.0.1', 50, 10, 9), view('10.0.0.2', 1, 1000, 3)];
    expect(sortSessions([...views], 'age').map((v) => v.idleSeconds)).toEqual([50, 5, 1]);
    expect(sortSessions([...views], 'bytes').map((v) => v.bytes)).toEqual([1000, 100, 10]);
    expect(sortSessions([...views], 'packets').map((v) => v.packets)).toEqual([9, 3, 1]);
    expect(countBySource(views)).toEqual([{ source: '10.0.0.2', sessions: 2 }, { source: '10.0.0.1', sessions: 1 }]);
  });

  it('selects a rule by name or FILE:LINE for monitor --rule', () => {
    const rule = { id: 1, name: 'telnet', file: '/etc/segc/web.seg', line: 12 };
    expect(ruleSelected(rule, undefined)).toBe(true);
    expect(ruleSelected(rule, 'telnet')).toBe(true);
    expect(ruleSelected(rule, '/etc/segc/web.seg:12')).toBe(true);
    expect(ruleSelected(rule, 'web.seg:12')).toBe(true);
    expect(ruleSelected(rule, 'web.seg:13')).toBe(false);
    expect(ruleSelected(rule, 'eb.seg:12')).toBe(false);
    expect(ruleSelected(null, 'telnet')).toBe(false);
  });

  it('turns deploy options into data path settings and config', () => {
    const settings = settingsOf({ iface: [], name: 'x', audit: true, logDenies: true, synProtection: false, pressure: 60, eventRate: 5 });
    expect(settings).toEqual({ audit: true, logDenies: true, synProtection: false, pressurePct: 60, events: { rate: 5 } });
    const config = configWith({ activeSlot: 0, flags: SEG_CFG_STATELESS, timeouts: [0, 0, 0, 0, 0, 0, 0, 0] }, 1, settings);
    expect(config).toMatchObject({ activeSlot: 1, flags: SEG_CFG_STATELESS | SEG_CFG_LOG_DENIES | SEG_CFG_NO_SYN_PROTECTION, pressurePct: 60, events: { rate: 5, burst: 0, globalRate: 0, globalBurst: 0 } });
    expect(configWith(config, 0, {}).flags).toBe(SEG_CFG_STATELESS);
  });
});
