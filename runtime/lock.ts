// Runtime: the host-wide deploy lock. Every command that changes a deployment (deploy,
// rollback, undeploy, sessions --flush) holds it, so two of them never interleave their
// steps. A lock file created exclusively (O_EXCL) holds the owner's pid; a file whose owner
// has died (a crash half-way) is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface DeployLock {
  readonly path: string;
  release(): void;
}

export class LockBusyError extends Error {
  readonly owner: number;
  constructor(path: string, owner: number) {
    super(`another segc process (pid ${owner}) is changing deployments (lock ${path})`);
    this.name = 'LockBusyError';
    this.owner = owner;
  }
}

export interface LockOptions {
  /** How long to wait for another holder, in ms (default 10 000). */
  readonly timeoutMs?: number;
}

/** Takes the lock in `stateDir`, waiting for a live holder up to `timeoutMs`. */
export function acquireLock(stateDir: string, options: LockOptions = {}): DeployLock {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, '.lock');
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const fd = tryCreate(path);
    if (fd !== undefined) {
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let held = true;
      return {
        path,
        release() {
          if (!held) return;
          held = false;
          if (lockOwner(path) === process.pid) unlinkSync(path);
        },
      };
    }
    const owner = lockOwner(path);
    if (owner !== undefined && !isAlive(owner)) {
      // The holder died without releasing: its half-done work is undone by whoever runs next.
      try {
        unlinkSync(path);
      } catch {
        // Someone else took it over first.
      }
      continue;
    }
    if (Date.now() > deadline) throw new LockBusyError(path, owner ?? 0);
    Atomics.wait(sleeper, 0, 0, 50);
  }
}

function tryCreate(path: string): number | undefined {
  try {
    return openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
}

function lockOwner(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
