// Runtime: the typed failure of a call into libbpf, the bpf(2) syscall or libc. Carries which
// operation failed, its errno and a readable message, plus the verifier log when there is one.
import { constants } from 'node:os';

/** The errno names of this platform (`ENOENT`), by number. */
const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** libbpf's own error codes (libbpf.h, `enum libbpf_errno`), above the kernel's errno range. */
const LIBBPF_ERRNO_NAMES: Readonly<Record<number, string>> = {
  4000: 'LIBBPF_ERRNO__LIBELF',
  4001: 'LIBBPF_ERRNO__FORMAT',
  4002: 'LIBBPF_ERRNO__KVERSION',
  4003: 'LIBBPF_ERRNO__ENDIAN',
  4004: 'LIBBPF_ERRNO__INTERNAL',
  4005: 'LIBBPF_ERRNO__RELOC',
  4006: 'LIBBPF_ERRNO__LOAD',
  4007: 'LIBBPF_ERRNO__VERIFY',
  4008: 'LIBBPF_ERRNO__PROG2BIG',
  4009: 'LIBBPF_ERRNO__KVER',
  4010: 'LIBBPF_ERRNO__PROGTYPE',
  4011: 'LIBBPF_ERRNO__WRNGPID',
  4012: 'LIBBPF_ERRNO__INVSEQ',
  4013: 'LIBBPF_ERRNO__NLPARSE',
};

/** The symbolic name of an errno (`ENOENT`, or libbpf's `LIBBPF_ERRNO__VERIFY`), if known. */
export function errnoName(errno: number): string | undefined {
  return ERRNO_NAMES.get(errno) ?? LIBBPF_ERRNO_NAMES[errno];
}

export interface BpfErrorDetails {
  /** The function that failed, by its C name: `bpf_map_update_elem`, `bpf_object__load`. */
  readonly operation: string;
  /** The positive errno (libbpf returns `-errno`, or NULL and sets errno). */
  readonly errno: number;
  /** strerror(3) or libbpf_strerror's text for `errno`. */
  readonly reason: string;
  /** What the call was about: a path, a map or program name, an interface. */
  readonly subject?: string;
  /** The verifier's log, for a program the kernel rejected. */
  readonly log?: string;
}

/**
 * A failed BPF or libc call. `message` reads `bpf_obj_get(/sys/fs/bpf/x): No such file or
 * directory (ENOENT)`; the verifier log, when present, is in `log`, not in the message.
 */
export class BpfError extends Error {
  override readonly name = 'BpfError';
  readonly operation: string;
  readonly errno: number;
  /** `ENOENT`, or undefined for a number this platform does not name. */
  readonly code: string | undefined;
  readonly reason: string;
  readonly subject: string | undefined;
  readonly log: string | undefined;

  constructor(details: BpfErrorDetails) {
    const code = errnoName(details.errno);
    const subject = details.subject === undefined ? '' : `(${details.subject})`;
    super(`${details.operation}${subject}: ${details.reason}${code ? ` (${code})` : ''}`);
    this.operation = details.operation;
    this.errno = details.errno;
    this.code = code;
    this.reason = details.reason;
    this.subject = details.subject;
    this.log = details.log;
  }
}

/** True when `error` is a BpfError, optionally with one of the given errno names. */
export function isBpfError(error: unknown, ...codes: readonly string[]): error is BpfError {
  return error instanceof BpfError && (codes.length === 0 || (error.code !== undefined && codes.includes(error.code)));
}
