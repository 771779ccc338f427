// A process that takes the deploy lock ROUNDS times and checks, each time, that nobody else
// holds it (a marker file naming a live holder); with CRASH_AT it is killed with SIGKILL while
// holding the lock at that round, leaving a stale lock file and marker behind. Run by
// test/runtime/deploy-state.test.ts: node lock-contender.ts DIR ROUNDS [CRASH_AT].
import { appendFileSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock } from '../../runtime/lock.ts';

const [dir = '', rounds = '1', crashAt = '-1'] = process.argv.slice(2);
const marker = join(dir, 'holder');

/** Whether `pid` is a live process (not gone, not a zombie waiting to be reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

for (let i = 0; i < Number(rounds); i++) {
  const lock = acquireLock(dir, { timeoutMs: 120_000, ownerUid: process.getuid?.() ?? 0 });
  let other: number | undefined;
  try {
    const text = readFileSync(marker, 'utf8');
    other = text.endsWith(' killed') ? undefined : Number(text);
  } catch {
    other = undefined;
  }
  if (other !== undefined && other !== process.pid && alive(other)) appendFileSync(join(dir, 'violations'), `${process.pid} got the lock while ${other} held it\n`);
  writeFileSync(marker, String(process.pid));
  appendFileSync(join(dir, 'acquired'), `${process.pid}\n`);
  const until = performance.now() + 1 + Math.random() * 2;
  while (performance.now() < until) {
    // Hold the lock a moment, busy, so that others contend.
  }
  if (i === Number(crashAt)) {
    // Marked as dying: the kernel frees the lock while closing this process's files, before
    // /proc shows it as a zombie, so the next holder may still see it "alive" for a moment.
    writeFileSync(marker, `${process.pid} killed`);
    process.kill(process.pid, 'SIGKILL');
  }
  unlinkSync(marker);
  lock.release();
}
