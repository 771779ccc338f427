// BpfError: the message format every runtime failure shares, errno names (the kernel's and
// libbpf's own), and the type guard the runtime uses to tolerate expected errors.
import { describe, expect, it } from 'vitest';
import { BpfError, errnoName, isBpfError } from '../../runtime/errors.ts';

describe('BpfError', () => {
  it('reads operation, subject, reason and errno name in its message', () => {
    const e = new BpfError({ operation: 'bpf_obj_get', errno: 2, reason: 'No such file or directory', subject: '/sys/fs/bpf/x' });
    expect(e.message).toBe('bpf_obj_get(/sys/fs/bpf/x): No such file or directory (ENOENT)');
    expect(e).toMatchObject({ name: 'BpfError', operation: 'bpf_obj_get', errno: 2, code: 'ENOENT', subject: '/sys/fs/bpf/x', log: undefined });
    expect(e).toBeInstanceOf(Error);
  });

  it('keeps the verifier log out of the message', () => {
    const e = new BpfError({ operation: 'bpf_object__load', errno: 13, reason: 'Permission denied', log: 'program p:\ninvalid access to packet' });
    expect(e.message).toBe('bpf_object__load: Permission denied (EACCES)');
    expect(e.log).toBe('program p:\ninvalid access to packet');
  });

  it('names libbpf error codes above the kernel range, and leaves unknown numbers unnamed', () => {
    expect(errnoName(4007)).toBe('LIBBPF_ERRNO__VERIFY');
    expect(errnoName(28)).toBe('ENOSPC');
    expect(errnoName(99999)).toBeUndefined();
    expect(new BpfError({ operation: 'x', errno: 99999, reason: 'Unknown error 99999' }).message).toBe('x: Unknown error 99999');
  });

  it('tells BpfErrors apart, optionally by errno name', () => {
    const e = new BpfError({ operation: 'bpf_tc_hook_create', errno: 17, reason: 'File exists' });
    expect(isBpfError(e)).toBe(true);
    expect(isBpfError(e, 'EEXIST')).toBe(true);
    expect(isBpfError(e, 'ENOENT', 'EINVAL')).toBe(false);
    expect(isBpfError(new Error('EEXIST'), 'EEXIST')).toBe(false);
  });
});
