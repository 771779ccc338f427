// Runtime: the host-wide deploy lock, and the checks on the state folder it lives in. Every
// command that changes a deployment (deploy, rollback, undeploy, sessions --flush) holds it, so
// two of them never interleave their steps. The lock is flock(2) on an open descriptor of
// `<state>/.lock`: the kernel gives it to one open file description at a time and takes it back
// when the holder exits, however it dies, so there is no stale lock to take over and no race
// in taking one over. The file is never removed (removing it would let a second process lock a
// new file while the first holds the old one); it holds the holder's pid, for messages only.
import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from './libbpf.ts';

export interface DeployLock {
  readonly path: string;
  release(): void;
}

export class LockBusyError extends Error {
  readonly owner: number;
  constructor(path: string, owner: number) {
    super(`another segc process (${owner > 0 ? `pid ${owner}` : 'pid unknown'}) is changing deployments (lock ${path})`);
    this.name = 'LockBusyError';
    this.owner = owner;
  }
}

/** A state folder segc must not write to (another user could plant links or files in it). */
export class StateDirError extends Error {
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'StateDirError';
    this.hint = hint;
  }
}

export interface LockOptions {
  /** How long to wait for another holder, in ms (default 10 000). */
  readonly timeoutMs?: number;
  /** The owner the state folder must have (default: root, 0); tests pass their own uid. */
  readonly ownerUid?: number;
}

/**
 * Makes the state folder if needed (mode 0700) and refuses one that is not a real folder, not
 * owned by root, or writable by group or others: whoever can write it could swap a record for a
 * link to a file root then overwrites, or plant files for segc to trust.
 */
export function checkStateDir(stateDir: string, ownerUid = 0): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const st = lstatSync(stateDir);
  const fix = `chown root:root ${stateDir} && chmod 700 ${stateDir} (or point SEGC_STATE_DIR at a folder only root can write)`;
  if (st.isSymbolicLink() || !st.isDirectory()) throw new StateDirError(`the state folder ${stateDir} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; segc keeps its records only in a real folder`, `make ${stateDir} a folder: ${fix}`);
  if (st.uid !== ownerUid) throw new StateDirError(`the state folder ${stateDir} is owned by uid ${st.uid}, not root; another user could change the deployment records`, fix);
  if ((st.mode & 0o022) !== 0) throw new StateDirError(`the state folder ${stateDir} is writable by ${(st.mode & 0o020) !== 0 ? 'its group' : ''}${(st.mode & 0o022) === 0o022 ? ' and ' : ''}${(st.mode & 0o002) !== 0 ? 'others' : ''} (mode ${(st.mode & 0o777).toString(8)}); another user could change the deployment records`, fix);
}

/** Takes the lock in `stateDir`, waiting for a holder up to `timeoutMs`. */
export function acquireLock(stateDir: string, options: LockOptions = {}): DeployLock {
  checkStateDir(stateDir, options.ownerUid ?? 0);
  const path = join(stateDir, '.lock');
  // O_NOFOLLOW: a link planted as the lock file is refused, never opened through (Node opens
  // every descriptor close-on-exec, so a spawned child never inherits the lock).
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    if (!fstatSync(fd).isFile()) throw new StateDirError(`the lock ${path} is not a regular file`, `remove it (rm ${path}); segc makes it again`);
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    while (!flock(fd, LOCK_EX | LOCK_NB)) {
      if (Date.now() > deadline) throw new LockBusyError(path, holderOf(path));
      Atomics.wait(sleeper, 0, 0, 25);
    }
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  // Held: say who holds it (for the busy message of others).
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try {
        ftruncateSync(fd, 0);
        flock(fd, LOCK_UN);
      } finally {
        closeSync(fd);
      }
    },
  };
}

function holderOf(path: string): number {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return 0;
  }
}
