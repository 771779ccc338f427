import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeState } from '../../../runtime/state.ts';
import { compile } from '../../../compiler/program.ts';
import { createMemoryHost } from '../../../compiler/source.ts';
import { diffPolicies } from '../../../compiler/diff.ts';
import { formatPacket } from '../../../compiler/packet.ts';
import { formatVerifierLog } from '../../../runtime/cli/deploy.ts';
import { effectiveCapabilities, parseKernelRelease } from '../../../runtime/cli/doctor.ts';
import { counterName } from '../../../runtime/cli/stats.ts';
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
