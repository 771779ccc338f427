// The deployment folder's logs (confirm.log, canary.log) follow the records' rules: a planted
// symbolic link is never written or read through, the size is bounded, and the tail is the
// last lines even of a log larger than what is read.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCanaryLog } from '../../runtime/canary-record.ts';
import { logConfirmation } from '../../runtime/confirm.ts';
import { appendLog, MAX_LOG_BYTES, readLogTail } from '../../runtime/state-log.ts';

describe('deployment logs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'segc-log-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends timestamped lines, one event a line, and reads the last n back', () => {
    const at = new Date('2026-12-07T04:00:00.000Z');
    for (let i = 0; i < 5; i++) appendLog(dir, 'web', 'canary.log', `event ${i}`, at);
    appendLog(dir, 'web', 'canary.log', 'two\nlines', at);
    expect(readLogTail(dir, 'web', 'canary.log', 3)).toEqual(['2026-12-07T04:00:00.000Z event 3', '2026-12-07T04:00:00.000Z event 4', '2026-12-07T04:00:00.000Z two lines']);
    expect(readCanaryLog(dir, 'web', 1)).toEqual(['2026-12-07T04:00:00.000Z two lines']);
    expect(readLogTail(dir, 'none', 'canary.log')).toEqual([]);
  });

  it('never writes or reads through a planted symbolic link', () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'secret\n');
    mkdirSync(join(dir, 'web'));
    symlinkSync(victim, join(dir, 'web', 'confirm.log'));
    symlinkSync(victim, join(dir, 'web', 'canary.log'));
    logConfirmation(dir, 'web', 'rolled back');
    appendLog(dir, 'web', 'canary.log', 'promoted');
    expect(readFileSync(victim, 'utf8')).toBe('secret\n');
    expect(readLogTail(dir, 'web', 'canary.log')).toEqual([]);
  });

  it('moves a log past its bound aside, keeping one old generation, and tails a large log exactly', () => {
    mkdirSync(join(dir, 'web'));
    const big = Array.from({ length: 20_000 }, (_, i) => `2026-12-07T04:00:00.000Z line ${i} ${'x'.repeat(60)}`).join('\n') + '\n';
    expect(big.length).toBeGreaterThan(MAX_LOG_BYTES);
    writeFileSync(join(dir, 'web', 'canary.log'), big);
    expect(readLogTail(dir, 'web', 'canary.log', 2).map((l) => l.split(' ').slice(1, 3).join(' '))).toEqual(['line 19998', 'line 19999']);
    appendLog(dir, 'web', 'canary.log', 'after the bound');
    expect(existsSync(join(dir, 'web', 'canary.log.1'))).toBe(true);
    expect(statSync(join(dir, 'web', 'canary.log')).size).toBeLessThan(100);
    expect(readLogTail(dir, 'web', 'canary.log')).toHaveLength(1);
    expect(readLogTail(dir, 'web', 'canary.log')[0]).toMatch(/ after the bound$/);
  });

  it('skips a log that is not a regular file', () => {
    mkdirSync(join(dir, 'web', 'canary.log'), { recursive: true });
    appendLog(dir, 'web', 'canary.log', 'x');
    expect(readLogTail(dir, 'web', 'canary.log')).toEqual([]);
  });
});
