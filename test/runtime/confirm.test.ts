import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clearPending, CONFIRM_FORMAT, CONFIRM_VERSION, isOverdue, listPending, readPending, segcCommand, writePending, type PendingConfirmation } from '../../runtime/confirm.ts';
import { formatDuration, parseDuration } from '../../runtime/duration.ts';
import { createMemoryIo } from '../../runtime/cli/io.ts';
import { run } from '../../runtime/cli/main.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function pending(over: Partial<PendingConfirmation> = {}): PendingConfirmation {
  return { format: CONFIRM_FORMAT, version: CONFIRM_VERSION, name: 'web', token: 'abc', generation: 4, policyHash: 'sha256:x', rollbackTo: 3, armedAt: '2026-01-01T00:00:00.000Z', deadline: '2026-01-01T00:02:00.000Z', windowMs: 120_000, watcher: null, ...over };
}

describe('commit-confirmed deploy records', () => {
  it('reads durations as an operator writes them, and bounds --confirm', async () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1500ms')).toBe(1_500);
    expect(parseDuration('30')).toBe(30_000);
    expect(parseDuration('2 minutes')).toBeUndefined();
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    for (const bad of ['0s', '500ms', '25h', 'soon']) {
      const io = createMemoryIo({});
      expect(await run(['deploy', 'x.seg', '--iface', 'lo', '--confirm', bad], io)).toBe(2);
      expect(io.err()).toMatch(/expected a duration from 1s to 24h/);
    }
  });

  it('keeps a pending confirmation beside the record, lists it, and clears it', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'segct-confirm-'));
    dirs.push(stateDir);
    expect(readPending(stateDir, 'web')).toBeUndefined();
    writePending(stateDir, pending());
    expect(readPending(stateDir, 'web')).toEqual(pending());
    expect(listPending(stateDir)).toEqual(['web']);
    expect(isOverdue(pending(), new Date('2026-01-01T00:01:59.999Z'))).toBe(false);
    expect(isOverdue(pending(), new Date('2026-01-01T00:02:00.000Z'))).toBe(true);
    expect(clearPending(stateDir, 'web')?.token).toBe('abc');
    expect(readPending(stateDir, 'web')).toBeUndefined();
    expect(listPending(stateDir)).toEqual([]);
  });

  it('starts the watcher with the segc that runs (the package bin inside another program)', () => {
    const command = segcCommand();
    expect(command[0]).toBe(process.execPath);
    expect(command.at(-1)).toMatch(/bin\/segc\.js$/);
  });

  it('documents confirm in --help, and hides the watcher command', async () => {
    const io = createMemoryIo({});
    expect(await run(['confirm', '--help'], io)).toBe(0);
    expect(io.out()).toMatch(/--name <name>[\s\S]*Examples:[\s\S]*deploy web.seg --iface eth0 --confirm 2m/);
    const help = createMemoryIo({});
    expect(await run(['--help'], help)).toBe(0);
    expect(help.out()).toMatch(/confirm \[options\] +keep a deploy made with --confirm/);
    expect(help.out()).not.toMatch(/confirm-watch/);
  });
});

describe('a damaged confirmation record', () => {
  it('is a ConfirmRecordError naming the file, never a guess', async () => {
    const { writeFileSync, mkdirSync } = await import('node:fs');
    const { ConfirmRecordError, pendingPath } = await import('../../runtime/confirm.ts');
    const stateDir = mkdtempSync(join(tmpdir(), 'segct-confirm-'));
    dirs.push(stateDir);
    mkdirSync(join(stateDir, 'web'));
    for (const text of ['{', '[]', '{"format":"segc-confirmation","version":1,"name":"web"}', JSON.stringify({ ...pending(), name: 'db' }), JSON.stringify({ ...pending(), deadline: 'soon' })]) {
      writeFileSync(pendingPath(stateDir, 'web'), text);
      expect(() => readPending(stateDir, 'web'), text).toThrow(ConfirmRecordError);
      expect(() => readPending(stateDir, 'web'), text).toThrow(/the pending confirmation .*web\/confirm.json is damaged/);
    }
  });

  it('is read and written as the deployment record is: never through a symbolic link (the canary record too)', async () => {
    const { writeFileSync, mkdirSync, symlinkSync, readFileSync } = await import('node:fs');
    const { ConfirmRecordError, pendingPath } = await import('../../runtime/confirm.ts');
    const { readCanary, canaryPath, CanaryRecordError } = await import('../../runtime/canary-record.ts');
    const stateDir = mkdtempSync(join(tmpdir(), 'segct-confirm-'));
    dirs.push(stateDir);
    mkdirSync(join(stateDir, 'web'));
    const target = join(stateDir, 'elsewhere.json');
    writeFileSync(target, JSON.stringify(pending()));
    symlinkSync(target, pendingPath(stateDir, 'web'));
    expect(() => readPending(stateDir, 'web')).toThrow(ConfirmRecordError);
    expect(() => readPending(stateDir, 'web')).toThrow(/symbolic link/);
    // A write replaces the link; it never writes through it.
    writePending(stateDir, pending());
    expect(readFileSync(target, 'utf8')).toBe(JSON.stringify(pending()));
    expect(readPending(stateDir, 'web')?.name).toBe('web');
    symlinkSync('/dev/zero', canaryPath(stateDir, 'web'));
    expect(() => readCanary(stateDir, 'web')).toThrow(CanaryRecordError);
    expect(() => readCanary(stateDir, 'web')).toThrow(/symbolic link/);
    rmSync(canaryPath(stateDir, 'web'));
    expect(readCanary(stateDir, 'web')).toBeUndefined();
  });
});
