// Runtime: the BPF filesystem where segc pins its maps and programs so that enforcement
// outlives the segc process. Checks that a path is on bpffs, mounts it when missing, makes pin
// directories and removes pins, refusing paths outside bpffs.
import { mkdirSync, rmSync, statfsSync, unlinkSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative } from 'node:path';
import { mount } from './libbpf.ts';
import { BpfError } from './errors.ts';

/** Where bpffs is mounted on every mainstream distribution. */
export const BPFFS_ROOT = '/sys/fs/bpf';

/** statfs(2) f_type of bpffs (linux/magic.h). */
export const BPF_FS_MAGIC = 0xcafe4a11;

/** True when `path` exists and lives on a bpffs mount. */
export function isBpffs(path: string = BPFFS_ROOT): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Makes sure `root` is a bpffs mount, mounting one if not (needs CAP_SYS_ADMIN). Returns
 * whether this call mounted it.
 */
export function ensureBpffs(root: string = BPFFS_ROOT): boolean {
  if (isBpffs(root)) return false;
  mkdirSync(root, { recursive: true });
  mount('bpf', root, 'bpf');
  if (!isBpffs(root)) throw new Error(`mounted bpffs on ${root}, but statfs still reports another file system`);
  return true;
}

/** The path of `parts` under `root`; refuses parts that would leave it (`..`, absolute). */
export function pinPath(root: string, ...parts: readonly string[]): string {
  for (const part of parts) {
    if (part === '' || isAbsolute(part) || normalize(part).split('/').includes('..')) throw new RangeError(`'${part}' is not a pin name inside ${root}`);
  }
  return join(root, ...parts);
}

function requireOnBpffs(path: string, what: string): void {
  // The nearest existing ancestor must be bpffs: pins elsewhere would not hold BPF objects.
  let probe = path;
  while (probe !== dirname(probe)) {
    try {
      statfsSync(probe);
      break;
    } catch {
      probe = dirname(probe);
    }
  }
  if (!isBpffs(probe)) {
    throw new BpfError({ operation: what, errno: 22, reason: `${path} is not on a bpffs mount; mount one with: mount -t bpf bpf ${BPFFS_ROOT}`, subject: path });
  }
}

/** mkdir -p of a pin directory on bpffs; returns the path. */
export function makePinDir(path: string): string {
  requireOnBpffs(path, 'makePinDir');
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return path;
}

/** Removes one pin (the object lives on while something else holds it); false when absent. */
export function unpin(path: string): boolean {
  requireOnBpffs(path, 'unpin');
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Removes a pin directory and every pin under it; false when it did not exist. */
export function removePinDir(path: string): boolean {
  requireOnBpffs(path, 'removePinDir');
  if (relative(BPFFS_ROOT, path) === '' || path === '/') throw new RangeError(`refusing to remove the bpffs root ${path}`);
  try {
    statfsSync(path);
  } catch {
    return false;
  }
  rmSync(path, { recursive: true });
  return true;
}
