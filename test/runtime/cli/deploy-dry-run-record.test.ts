// `segc deploy --dry-run` when the deployment's record is damaged (or its deployed sources no
// longer compile): a warning naming the record and the repair, and the difference against no
// deployed policy, as the deploy itself would treat it; exit 0.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';
import { recordPath, writeState } from '../../../runtime/state.ts';

const POLICY = 'policy ingress default deny {\n  100 ssh: allow tcp from any to any port 22\n}\n';
const NAME = 'segct-dry';

const DAMAGED: readonly { readonly shape: string; readonly text: string; readonly why: RegExp }[] = [
  { shape: 'empty', text: '', why: /the file is empty/ },
  { shape: 'truncated', text: '{"format":"segc-deployment","version":1,"curr', why: /not JSON/ },
  { shape: 'null', text: 'null', why: /damaged/ },
  { shape: 'garbage', text: '\u0000\u0001garbage', why: /not JSON/ },
  { shape: 'a valid header with an empty current', text: '{"format":"segc-deployment","version":1,"current":{},"previous":null}', why: /damaged/ },
];

describe('segc deploy --dry-run with a damaged record', () => {
  let stateDir: string;
  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'segct-dry-'));
  });
  afterEach(() => {
    rmSync(stateDir, { recursive: true, force: true });
  });
  const dryRun = async (...extra: string[]) => {
    const io = createMemoryIo({ 'p.seg': POLICY }, { env: { SEGC_STATE_DIR: stateDir } });
    const code = await run(['deploy', 'p.seg', '--iface', 'lo', '--name', NAME, '--dry-run', ...extra], io);
    return { code, out: io.out(), err: io.err() };
  };
  const damage = (text: string) => {
    mkdirSync(join(stateDir, NAME), { recursive: true, mode: 0o700 });
    writeFileSync(recordPath(stateDir, NAME), text, { mode: 0o600 });
  };

  for (const { shape, text, why } of DAMAGED) {
    it(`warns, names the record and the repair, and compares with no deployed policy: ${shape}`, async () => {
      damage(text);
      const r = await dryRun();
      expect(r.code, r.err).toBe(0);
      expect(r.err).toContain(`warning: the deployment record of '${NAME}' is damaged: ${recordPath(stateDir, NAME)}`);
      expect(r.err).toMatch(why);
      expect(r.err).toMatch(new RegExp(`hint: deploy '${NAME}' again to rewrite its record`));
      expect(r.err).not.toMatch(/internal error|bug in segc|at .*\.ts:\d+/);
      expect(r.out).toContain(`dry run for '${NAME}': nothing was changed`);
      expect(r.out).toMatch(/the record is damaged \(above\): a deploy would rewrite it and enforce 1 rules on lo/);
    });
  }

  it('warns about a record that is a symbolic link, never following it', async () => {
    mkdirSync(join(stateDir, NAME), { recursive: true, mode: 0o700 });
    const target = join(stateDir, 'elsewhere.json');
    writeFileSync(target, '{}');
    symlinkSync(target, recordPath(stateDir, NAME));
    const r = await dryRun();
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/symbolic link/);
  });

  it('gives the warning in --json too, with the record and the repair', async () => {
    damage('');
    const r = await dryRun('--json');
    expect(r.code, r.err).toBe(0);
    const json = JSON.parse(r.out) as { deployed: unknown; diff: unknown; warnings: { kind: string; path: string; hint: string }[] };
    expect(json.deployed).toBeNull();
    expect(json.diff).toBeNull();
    expect(json.warnings).toEqual([{ kind: 'damaged-record', message: expect.stringContaining('damaged'), path: recordPath(stateDir, NAME), hint: expect.stringContaining('segc undeploy') }]);
  });

  it('warns when the deployed sources no longer compile, naming the generation in force', async () => {
    const pins = { dir: `/sys/fs/bpf/segc/${NAME}`, programs: { ingress: `/sys/fs/bpf/segc/${NAME}/prog_ingress`, egress: `/sys/fs/bpf/segc/${NAME}/prog_egress` }, maps: {} };
    const current = {
      name: NAME, policyHash: 'sha256:00', generation: 4, slot: 0, deployedAt: '2026-01-01T00:00:00.000Z', files: ['web.seg'],
      interfaces: [{ iface: 'lo', ifindex: 1, createdClsact: false }],
      attachments: [{ iface: 'lo', ifindex: 1, direction: 'ingress' as const, progId: 41 }, { iface: 'lo', ifindex: 1, direction: 'egress' as const, progId: 42 }],
      pins, rulesPerSlot: 64, sessions: 64, bundle: '{}', sources: { 'web.seg': 'policy ingress default deny {\n  100 x: allow tcp from nowhere to any\n}\n' },
    };
    writeState(stateDir, { format: 'segc-deployment', version: 1, current, previous: null });
    const r = await dryRun();
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/warning: the deployed sources of 'segct-dry' \(generation 4\) no longer compile/);
    expect(r.out).toMatch(/deployed +generation 4 .*not compared \(above\): a deploy would enforce 1 rules/);
  });
});
