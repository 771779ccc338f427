import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, LockBusyError } from '../../runtime/lock.ts';
import { isDeploymentName, listDeployments, readAllStates, readState, RecordError, recordPath, removeState, sweepTemporaryRecords, writeState, type DeploymentRecord } from '../../runtime/state.ts';

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
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'segct-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is exclusive while held and free again once released', () => {
    const lock = acquireLock(dir);
    expect(readFileSync(lock.path, 'utf8').trim()).toBe(String(process.pid));
    expect(() => acquireLock(dir, { timeoutMs: 100 })).toThrow(LockBusyError);
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
    acquireLock(dir).release();
  });

  it('takes over the lock of a process that died holding it', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid as number;
    await new Promise((resolve) => child.once('exit', resolve));
    writeFileSync(join(dir, '.lock'), `${pid}\n`);
    const lock = acquireLock(dir, { timeoutMs: 100 });
    expect(readFileSync(lock.path, 'utf8').trim()).toBe(String(process.pid));
    lock.release();
  });

  it('waits for a live holder and names it when the wait runs out', () => {
    writeFileSync(join(dir, '.lock'), `${process.ppid}\n`);
    expect(() => acquireLock(dir, { timeoutMs: 120 })).toThrow(`pid ${process.ppid}`);
  });
});
