import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, LockBusyError, StateDirError } from '../../runtime/lock.ts';
import { isDeploymentName, listDeployments, readAllStates, readState, RecordError, recordPath, removeState, sweepTemporaryRecords, writeState, type DeploymentRecord } from '../../runtime/state.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const CONTENDER = join(HERE, '..', 'support', 'lock-contender.ts');
const LOCK_MODULE = join(HERE, '..', '..', 'runtime', 'lock.ts');

function record(name: string, generation: number): DeploymentRecord {
  return {
    name,
    policyHash: `sha256:${'ab'.repeat(32)}`,
    generation,
    slot: generation % 2,
    deployedAt: '2026-01-01T00:00:00.000Z',
    files: ['web.seg'],
    interfaces: [{ iface: 'eth0', ifindex: 2, createdClsact: true }],
    attachments: [{ iface: 'eth0', ifindex: 2, direction: 'ingress', progId: 7 }],
    pins: { dir: `/sys/fs/bpf/segc/${name}`, programs: { ingress: 'i', egress: 'e' }, maps: {} },
    rulesPerSlot: 64,
    sessions: 1024,
    bundle: '{}',
    sources: { 'web.seg': 'policy ingress default deny {\n}\n' },
  };
}

describe('deployment records', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'segct-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips a record with its previous deployment, and lists only directories holding records', () => {
    writeState(dir, { format: 'segc-deployment', version: 1, current: record('web', 2), previous: record('web', 1) });
    writeState(dir, { format: 'segc-deployment', version: 1, current: record('db', 1), previous: null });
    writeFileSync(join(dir, 'stray-file'), 'x');
    expect(readState(dir, 'web')?.previous?.generation).toBe(1);
    expect(readState(dir, 'web')?.current).toEqual(record('web', 2));
    expect(listDeployments(dir)).toEqual(['db', 'web']);
    expect(readState(dir, 'nothing')).toBeUndefined();
  });

  it('removes one record and leaves the others', () => {
    writeState(dir, { format: 'segc-deployment', version: 1, current: record('web', 2), previous: null });
    writeState(dir, { format: 'segc-deployment', version: 1, current: record('db', 1), previous: null });
    expect(removeState(dir, 'web')).toBe(true);
    expect(removeState(dir, 'web')).toBe(false);
    expect(listDeployments(dir)).toEqual(['db']);
  });

  it('refuses names that would leave the state folder or the pin folder', () => {
    for (const bad of ['', '..', '../x', 'a/b', '.hidden', 'x'.repeat(65)]) expect(isDeploymentName(bad), bad).toBe(false);
    for (const good of ['default', 'web-1', 'db_2.blue']) expect(isDeploymentName(good), good).toBe(true);
    expect(() => recordPath(dir, '../etc')).toThrow(RangeError);
  });

  it('rejects a file that is not a segc record', () => {
    writeState(dir, { format: 'segc-deployment', version: 1, current: record('web', 2), previous: null });
    writeFileSync(recordPath(dir, 'web'), JSON.stringify({ format: 'other', version: 1 }));
    expect(() => readState(dir, 'web')).toThrow(/not a segc deployment record/);
  });

  /** Each way a record is found damaged, with what the error must say. */
  const DAMAGED: readonly (readonly [string, (path: string) => void, RegExp])[] = [
    ['empty', (p) => writeFileSync(p, ''), /the file is empty/],
    ['truncated', (p) => writeFileSync(p, readFileSync(p, 'utf8').slice(0, 40)), /not JSON/],
    ['null', (p) => writeFileSync(p, 'null'), /holds null/],
    ['garbage', (p) => writeFileSync(p, '\u0000\u00ff}{ garbage'), /not JSON/],
    ['an empty current', (p) => writeFileSync(p, JSON.stringify({ format: 'segc-deployment', version: 1, current: {}, previous: null })), /current deployment names 'undefined'/],
    ['a current without interfaces', (p) => writeFileSync(p, JSON.stringify({ format: 'segc-deployment', version: 1, current: { ...record('db', 1), interfaces: null }, previous: null })), /lacks 'interfaces'/],
    ['a symbolic link', (p) => {
      writeFileSync(`${p}.target`, readFileSync(p));
      rmSync(p);
      symlinkSync(`${p}.target`, p);
    }, /symbolic link/],
  ];

  for (const [shape, damage, says] of DAMAGED) {
    it(`reports a record that is ${shape} as damaged, with its path and the repair, and reads the others`, () => {
      writeState(dir, { format: 'segc-deployment', version: 1, current: record('web', 2), previous: null });
      writeState(dir, { format: 'segc-deployment', version: 1, current: record('db', 1), previous: null });
      damage(recordPath(dir, 'db'));
      let thrown: unknown;
      try {
        readState(dir, 'db');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RecordError);
      const e = thrown as RecordError;
      expect(e.message).toMatch(says);
      expect(e.message).toContain(recordPath(dir, 'db'));
      expect(e.hint).toMatch(/segc deploy --name db .*segc undeploy --name db/);
      const scan = readAllStates(dir);
      expect(scan.states.map((st) => st.current.name)).toEqual(['web']);
      expect(scan.damaged.map((d) => d.deployment)).toEqual(['db']);
      expect(listDeployments(dir)).toEqual(['db', 'web']);
    });
  }

  it('never writes through a symbolic link planted for the record: the link is replaced, its target kept', () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    mkdirSync(join(dir, 'web'));
    symlinkSync(victim, recordPath(dir, 'web'));
    writeState(dir, { format: 'segc-deployment', version: 1, current: record('web', 2), previous: null });
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readState(dir, 'web')?.current.generation).toBe(2);
  });

  it('sweeps the temporary files a killed record write left behind, and only those', () => {
    writeState(dir, { format: 'segc-deployment', version: 1, current: record('web', 2), previous: null });
    writeFileSync(`${recordPath(dir, 'web')}.1234`, '{"format":');
    writeFileSync(`${recordPath(dir, 'web')}.99.lz3k`, '');
    expect(sweepTemporaryRecords(dir)).toHaveLength(2);
    expect(readdirSync(join(dir, 'web'))).toEqual(['deployment.json']);
    expect(readState(dir, 'web')?.current.generation).toBe(2);
  });
});

describe('the deploy lock', () => {
  let dir: string;
  const uid = process.getuid?.() ?? 0;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'segct-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is exclusive while held and free again once released', () => {
    const lock = acquireLock(dir, { ownerUid: uid });
    expect(readFileSync(lock.path, 'utf8').trim()).toBe(String(process.pid));
    expect(() => acquireLock(dir, { timeoutMs: 100, ownerUid: uid })).toThrow(LockBusyError);
    lock.release();
    acquireLock(dir, { ownerUid: uid }).release();
  });

  it('is not blocked by a lock file alone: a planted or stale .lock holds nothing', () => {
    writeFileSync(join(dir, '.lock'), `${process.ppid}\n`);
    const lock = acquireLock(dir, { timeoutMs: 100, ownerUid: uid });
    expect(readFileSync(lock.path, 'utf8').trim()).toBe(String(process.pid));
    lock.release();
  });

  it('waits for a live holder in another process and names it when the wait runs out', async () => {
    const holder = spawn(process.execPath, [CONTENDER, dir, '1', '0'], { stdio: 'ignore' });
    // The contender holds the lock, then kills itself holding it: the kernel releases it.
    await new Promise((resolve) => holder.once('exit', resolve));
    const lock = acquireLock(dir, { timeoutMs: 5_000, ownerUid: uid });
    lock.release();
    const child = spawn(process.execPath, ['-e', `const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)}); const l = acquireLock(${JSON.stringify(dir)}, { ownerUid: ${uid} }); console.log('held'); setTimeout(() => l.release(), 3000);`, '--input-type=module'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()));
      expect(() => acquireLock(dir, { timeoutMs: 150, ownerUid: uid })).toThrow(`pid ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses a state folder others can write, or that is a link, with the fix', () => {
    chmodSync(dir, 0o777);
    expect(() => acquireLock(dir, { ownerUid: uid })).toThrow(StateDirError);
    expect(() => acquireLock(dir, { ownerUid: uid })).toThrow(/writable by its group and others \(mode 777\)/);
    chmodSync(dir, 0o700);
    symlinkSync(dir, `${dir}-link`);
    try {
      expect(() => acquireLock(`${dir}-link`, { ownerUid: uid })).toThrow(/is a symbolic link/);
    } finally {
      rmSync(`${dir}-link`);
    }
    expect(() => acquireLock(dir, { ownerUid: uid + 1 })).toThrow(/owned by uid \d+, not root/);
    try {
      acquireLock(dir, { ownerUid: uid + 1 });
    } catch (error) {
      expect((error as StateDirError).hint).toMatch(/chown root:root .* chmod 700/);
    }
  });

  it('refuses a lock file planted as a symbolic link', () => {
    symlinkSync('/etc/hostname', join(dir, '.lock'));
    expect(() => acquireLock(dir, { ownerUid: uid })).toThrow(/ELOOP/);
  });

  it('never has two holders: eight processes racing, two of them killed while holding it, over a stale lock file', async () => {
    writeFileSync(join(dir, '.lock'), '999999\n');
    const rounds = 25;
    const children = Array.from({ length: 8 }, (_, i) => spawn(process.execPath, [CONTENDER, dir, String(rounds), i < 2 ? String(5 + i * 7) : '-1'], { stdio: ['ignore', 'ignore', 'pipe'] }));
    const errors: string[] = [];
    for (const c of children) c.stderr?.on('data', (d: Buffer) => errors.push(d.toString()));
    const codes = await Promise.all(children.map((c) => new Promise<[number | null, string | null]>((resolve) => c.once('exit', (code, signal) => resolve([code, signal])))));
    expect(errors.join(''), 'contenders failed').toBe('');
    expect(codes.filter(([, signal]) => signal === 'SIGKILL')).toHaveLength(2);
    expect(codes.filter(([code]) => code === 0)).toHaveLength(6);
    expect(existsSync(join(dir, 'violations')) ? readFileSync(join(dir, 'violations'), 'utf8') : '').toBe('');
    // Every round of the six survivors, and the rounds the two crashed ones reached.
    expect(readFileSync(join(dir, 'acquired'), 'utf8').trim().split('\n')).toHaveLength(6 * rounds + 6 + 13);
  }, 120_000);
});
