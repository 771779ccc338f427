// The logs a deployment's folder holds beside its records (confirm.log, canary.log): lines for
// people, shown by `segc status`. They live in the same state folder as the records and are
// written and read under the same rules: never through a symbolic link, only a regular file,
// and bounded in size, so a planted link or a runaway log cannot reach outside the folder or
// fill the disk.
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Past this size a log is moved aside to `<file>.1` (one old generation kept) and restarted. */
export const MAX_LOG_BYTES = 1 << 20;
/** `readLogTail` reads at most this much of a log's end. */
const TAIL_BYTES = 64 << 10;

/**
 * Appends one timestamped line to log `file` of deployment `name`. A courtesy: what the line
 * describes has happened (or failed) on its own, so a log that cannot be written is skipped.
 */
export function appendLog(stateDir: string, name: string, file: string, line: string, now = new Date()): void {
  const path = join(stateDir, name, file);
  try {
    mkdirSync(join(stateDir, name), { recursive: true, mode: 0o700 });
    let fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      return;
    }
    if (fstatSync(fd).size > MAX_LOG_BYTES) {
      closeSync(fd);
      renameSync(path, `${path}.1`);
      fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    }
    try {
      // One line, newlines inside it flattened: a line of the log is one event.
      writeSync(fd, `${now.toISOString()} ${line.replace(/[\r\n]+/g, ' ')}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best effort, as above.
  }
}

/** The last `n` lines of log `file` of deployment `name`; none when it is missing or not a plain file. */
export function readLogTail(stateDir: string, name: string, file: string, n = 10): string[] {
  let fd: number;
  try {
    fd = openSync(join(stateDir, name, file), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return [];
    const length = Math.min(st.size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const r = readSync(fd, buffer, got, length - got, st.size - length + got);
      if (r === 0) break;
      got += r;
    }
    const lines = buffer.subarray(0, got).toString('utf8').split('\n');
    // A tail that starts mid-file starts mid-line: drop that partial first line.
    if (length < st.size) lines.shift();
    return lines.filter((l) => l !== '').slice(-n);
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}
