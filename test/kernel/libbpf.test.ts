// Kernel tests of the libbpf bindings: every binding exercised for real on the fixture program
// (test/kernel/fixtures/libbpf_fixture.bpf.c), with packets from packet-bytes.ts; TC attach,
// replace and detach on a veth pair in throwaway namespaces; the verifier log of a rejected
// program. Needs root; skips otherwise. Cleans up what it creates, by name.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import koffi from 'koffi';
import {
  BPF_EXIST,
  BPF_F,
  BPF_LINK_TYPE_TCX,
  BPF_MAP_TYPE,
  BPF_NOEXIST,
  BPF_PROG_TYPE_SCHED_CLS,
  BPF_TCX_EGRESS,
  STRUCT_LAYOUTS,
  TC_ACT,
  bpf_link_detach,
  bpf_link_get_fd_by_id,
  bpf_link_get_info_by_fd,
  bpf_map__fd,
  bpf_map__key_size,
  bpf_map__map_flags,
  bpf_map__max_entries,
  bpf_map__name,
  bpf_map__pin,
  bpf_map__pin_path,
  bpf_map__reuse_fd,
  bpf_map__set_inner_map_fd,
  bpf_map__set_map_flags,
  bpf_map__set_max_entries,
  bpf_map__set_pin_path,
  bpf_map__type,
  bpf_map__unpin,
  bpf_map__value_size,
  bpf_map_create,
  bpf_map_delete_batch,
  bpf_map_delete_elem,
  bpf_map_freeze,
  bpf_map_get_fd_by_id,
  bpf_map_get_info_by_fd,
  bpf_map_get_next_id,
  bpf_map_get_next_key,
  bpf_map_lookup_batch,
  bpf_map_lookup_elem,
  bpf_map_shape,
  bpf_map_update_batch,
  bpf_map_update_elem,
  bpf_obj_get,
  bpf_obj_pin,
  bpf_object__close,
  bpf_object__find_map_by_name,
  bpf_object__find_program_by_name,
  bpf_object__load,
  bpf_object__name,
  bpf_object__next_map,
  bpf_object__next_program,
  bpf_object__open_file,
  bpf_prog_get_fd_by_id,
  bpf_prog_get_info_by_fd,
  bpf_prog_get_next_id,
  bpf_prog_test_run_opts,
  bpf_program__fd,
  bpf_program__log_buf,
  bpf_program__name,
  bpf_program__pin,
  bpf_program__set_autoload,
  bpf_program__set_log_buf,
  bpf_program__set_log_level,
  bpf_program__unpin,
  close,
  if_indextoname,
  if_nametoindex,
  join_percpu_value,
  libbpf_num_possible_cpus,
  libbpf_probe_bpf_helper,
  libbpf_probe_bpf_map_type,
  libbpf_probe_bpf_prog_type,
  libbpf_set_print,
  libbpf_strerror,
  libbpf_version_string,
  percpu_value_size,
  split_percpu_value,
  strerror,
  type BpfMap,
  type BpfObject,
  type BpfProgram,
} from '../../runtime/libbpf.ts';
import { BpfError } from '../../runtime/errors.ts';
import {
  attachTc,
  attachTcxLink,
  detachTc,
  ensureClsact,
  interfaceIndex,
  queryTc,
  queryTcProgram,
  queryTcx,
  removeClsact,
  SEGC_TC_HANDLE,
  SEGC_TC_PRIORITY,
  updateTcxLink,
} from '../../runtime/tc.ts';
import { BPFFS_ROOT, ensureBpffs, isBpffs, makePinDir, pinPath, removePinDir, unpin } from '../../runtime/bpffs.ts';
import { buildArpFrame, buildFrame } from '../../runtime/packet-bytes.ts';
import { isRoot, NetnsSandbox, run } from '../support/netns.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test/kernel/fixtures/build/libbpf_fixture.bpf.o');
const REJECTED = join(ROOT, 'test/kernel/fixtures/build/rejected.bpf.o');
const FX_CB_MARKER = 0xfeed;

/** The layout check needs a C compiler and libbpf's development headers. */
const hasClang = (() => {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    return existsSync('/usr/include/bpf/libbpf.h');
  } catch {
    return false;
  }
})();

function buildFixtures(): void {
  execFileSync('make', ['-s', 'fixtures'], { cwd: ROOT, stdio: 'pipe', timeout: 60_000 });
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};
/** struct fx_lpm_key: host-order prefix length, then the address bytes in network order. */
const lpmKey = (address: string, prefixlen: number) => Buffer.concat([u32(prefixlen), Buffer.from(address.split('.').map(Number))]);
const readU32 = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).readUInt32LE(0));

const udp = (dst: string) => buildFrame({ proto: 17, src: '192.0.2.1', srcPort: 5000, dst, dstPort: 53 });
const tcp = (dst: string) => buildFrame({ proto: 6, src: '192.0.2.1', srcPort: 40000, dst, dstPort: 443 });

describe.skipIf(!hasClang)('struct layouts', () => {
  it('match the C compiler for every options and info struct the bindings declare', () => {
    const dir = mkdtempSync(join(tmpdir(), 'segct-layout-'));
    try {
      const lines: string[] = [];
      for (const [name, type] of Object.entries(STRUCT_LAYOUTS)) {
        lines.push(`printf("%s %zu\\n", "${name}", sizeof(struct ${name}));`);
        for (const member of Object.keys(type.members ?? {})) {
          if (!member.startsWith('_')) lines.push(`printf("%s.%s %zu\\n", "${name}", "${member}", offsetof(struct ${name}, ${member}));`);
        }
      }
      const source = `#include <stdio.h>\n#include <stddef.h>\n#include <bpf/libbpf.h>\n#include <bpf/bpf.h>\n#include <linux/bpf.h>\nint main(void) {\n${lines.join('\n')}\nreturn 0;\n}\n`;
      writeFileSync(join(dir, 'layout.c'), source);
      execFileSync('clang', ['-o', join(dir, 'layout'), join(dir, 'layout.c')], { stdio: 'pipe' });
      const expected = execFileSync(join(dir, 'layout'), { encoding: 'utf8' }).trim().split('\n');
      const actual: string[] = [];
      for (const [name, type] of Object.entries(STRUCT_LAYOUTS)) {
        actual.push(`${name} ${koffi.sizeof(type)}`);
        for (const member of Object.keys(type.members ?? {})) {
          if (!member.startsWith('_')) actual.push(`${name}.${member} ${koffi.offsetof(type, member)}`);
        }
      }
      expect(actual).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!isRoot())('libbpf bindings in the kernel', () => {
  let obj: BpfObject;
  let prog: BpfProgram;
  let progFd: number;
  let hashFd: number;
  let lpmFd: number;
  let percpuFd: number;
  let outerFd: number;
  const fds: number[] = [];
  const objects: BpfObject[] = [];
  const pinDir = join(BPFFS_ROOT, `segct-${process.pid}`);

  /** Opens and loads a fresh copy of the fixture; `prepare` runs between open and load. */
  function loadFixture(prepare?: (o: BpfObject) => void): BpfObject {
    const o = bpf_object__open_file(FIXTURE, { objectName: 'segct_fixture' });
    objects.push(o);
    prepare?.(o);
    bpf_object__load(o);
    return o;
  }

  const runPacket = (data: Uint8Array, ctx = {}) => bpf_prog_test_run_opts(progFd, { data, ctx });

  beforeAll(() => {
    buildFixtures();
    libbpf_set_print(null);
    obj = loadFixture((o) => {
      bpf_map__set_max_entries(bpf_object__find_map_by_name(o, 'fx_hash'), 32);
      bpf_program__set_log_buf(o, bpf_object__find_program_by_name(o, 'fx_classify'), 1 << 16);
    });
    prog = bpf_object__find_program_by_name(obj, 'fx_classify');
    progFd = bpf_program__fd(prog);
    hashFd = bpf_map__fd(bpf_object__find_map_by_name(obj, 'fx_hash'));
    lpmFd = bpf_map__fd(bpf_object__find_map_by_name(obj, 'fx_lpm'));
    percpuFd = bpf_map__fd(bpf_object__find_map_by_name(obj, 'fx_percpu'));
    outerFd = bpf_map__fd(bpf_object__find_map_by_name(obj, 'fx_outer'));
  });

  afterAll(() => {
    for (const fd of fds.splice(0)) close(fd);
    for (const o of objects.splice(0)) bpf_object__close(o);
    if (existsSync(pinDir)) removePinDir(pinDir);
  });

  it('loads the fixture and describes its maps and program', () => {
    const maps: Record<string, { type: number; key: number; value: number; max: number }> = {};
    for (let m: BpfMap | null = bpf_object__next_map(obj, null); m !== null; m = bpf_object__next_map(obj, m)) {
      maps[bpf_map__name(m)] = { type: bpf_map__type(m), key: bpf_map__key_size(m), value: bpf_map__value_size(m), max: bpf_map__max_entries(m) };
    }
    expect(maps).toEqual({
      fx_hash: { type: BPF_MAP_TYPE.HASH, key: 4, value: 4, max: 32 },
      fx_lpm: { type: BPF_MAP_TYPE.LPM_TRIE, key: 8, value: 4, max: 64 },
      fx_percpu: { type: BPF_MAP_TYPE.PERCPU_ARRAY, key: 4, value: 8, max: 1 },
      fx_outer: { type: BPF_MAP_TYPE.ARRAY_OF_MAPS, key: 4, value: 4, max: 2 },
    });
    const programs: string[] = [];
    for (let p: BpfProgram | null = bpf_object__next_program(obj, null); p !== null; p = bpf_object__next_program(obj, p)) programs.push(bpf_program__name(p));
    expect(programs).toEqual(['fx_classify']);

    const info = bpf_prog_get_info_by_fd(progFd);
    expect(info.name).toBe('fx_classify');
    expect(info.type).toBe(BPF_PROG_TYPE_SCHED_CLS);
    expect(info.tag).toMatch(/^[0-9a-f]{16}$/);
    const mapIds = [hashFd, lpmFd, percpuFd, outerFd].map((fd) => bpf_map_get_info_by_fd(fd).id);
    expect([...info.mapIds].sort()).toEqual(expect.arrayContaining([...mapIds].sort()));
    expect(bpf_map_get_info_by_fd(lpmFd)).toMatchObject({ name: 'fx_lpm', type: BPF_MAP_TYPE.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 64, mapFlags: BPF_F.NO_PREALLOC });
    // A program that loaded leaves its failure-only log empty.
    expect(bpf_program__log_buf(obj, prog)).toBe('');
  });

  it('reports the library version and probes kernel support, as doctor needs', () => {
    expect(libbpf_version_string()).toMatch(/^v1\.\d+$/);
    expect(libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS)).toBe(true);
    expect(libbpf_probe_bpf_map_type(BPF_MAP_TYPE.LPM_TRIE)).toBe(true);
    expect(libbpf_probe_bpf_map_type(BPF_MAP_TYPE.ARRAY_OF_MAPS)).toBe(true);
    // Helper 1 is bpf_map_lookup_elem; 0x7fff is no helper at all.
    expect(libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, 1)).toBe(true);
    expect(libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, 0x7fff)).toBe(false);
  });

  it('finds loaded programs and maps again by id', () => {
    const info = bpf_prog_get_info_by_fd(progFd);
    const ids: number[] = [];
    for (let id = bpf_prog_get_next_id(0); id !== undefined; id = bpf_prog_get_next_id(id)) ids.push(id);
    expect(ids).toContain(info.id);
    const fd = bpf_prog_get_fd_by_id(info.id);
    fds.push(fd);
    expect(bpf_prog_get_info_by_fd(fd).tag).toBe(info.tag);
    const mapIds: number[] = [];
    for (let id = bpf_map_get_next_id(0); id !== undefined; id = bpf_map_get_next_id(id)) mapIds.push(id);
    expect(mapIds).toContain(bpf_map_get_info_by_fd(hashFd).id);
    const mapFd = bpf_map_get_fd_by_id(bpf_map_get_info_by_fd(hashFd).id);
    fds.push(mapFd);
    expect(bpf_map_get_info_by_fd(mapFd).name).toBe('fx_hash');
  });

  it('names what is missing in a typed error', () => {
    expect(() => bpf_object__find_map_by_name(obj, 'no_such_map')).toThrow(BpfError);
    try {
      bpf_object__open_file('/nonexistent/x.bpf.o');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BpfError);
      expect(error).toMatchObject({ operation: 'bpf_object__open_file', code: 'ENOENT', subject: '/nonexistent/x.bpf.o' });
      expect((error as Error).message).toBe('bpf_object__open_file(/nonexistent/x.bpf.o): No such file or directory (ENOENT)');
    }
    expect(() => bpf_prog_get_fd_by_id(0x7fffffff)).toThrow(/bpf_prog_get_fd_by_id\(id 2147483647\): .*ENOENT/);
  });

  it('creates, reads, iterates and deletes hash entries', () => {
    bpf_map_update_elem(hashFd, u32(6), u32(TC_ACT.SHOT));
    bpf_map_update_elem(hashFd, u32(17), u32(TC_ACT.OK), BPF_NOEXIST);
    expect(readU32(bpf_map_lookup_elem(hashFd, u32(6), 4))).toBe(TC_ACT.SHOT);
    expect(bpf_map_lookup_elem(hashFd, u32(1), 4)).toBeUndefined();
    expect(() => bpf_map_update_elem(hashFd, u32(6), u32(0), BPF_NOEXIST)).toThrow(expect.objectContaining({ code: 'EEXIST', operation: 'bpf_map_update_elem', subject: `map fx_hash, fd ${hashFd}` }));
    expect(() => bpf_map_update_elem(hashFd, u32(99), u32(0), BPF_EXIST)).toThrow(expect.objectContaining({ code: 'ENOENT' }));

    const keys: number[] = [];
    for (let k = bpf_map_get_next_key(hashFd, null, 4); k !== undefined; k = bpf_map_get_next_key(hashFd, k, 4)) keys.push(readU32(k) as number);
    expect(keys.sort((a, b) => a - b)).toEqual([6, 17]);

    // The program reads the same entries: TCP is shot, UDP passes (no LPM entry yet).
    expect(runPacket(tcp('198.51.100.7')).retval).toBe(TC_ACT.SHOT);
    expect(runPacket(udp('198.51.100.7')).retval).toBe(TC_ACT.OK);

    // A full map says which map is full.
    const small = bpf_map_create(BPF_MAP_TYPE.HASH, 'segct_small_h', 4, 4, 2);
    fds.push(small);
    bpf_map_update_elem(small, u32(1), u32(1));
    bpf_map_update_elem(small, u32(2), u32(2));
    expect(() => bpf_map_update_elem(small, u32(3), u32(3))).toThrow(`bpf_map_update_elem(map segct_small_h, fd ${small}): Argument list too long (E2BIG)`);

    expect(bpf_map_delete_elem(hashFd, u32(6))).toBe(true);
    expect(bpf_map_delete_elem(hashFd, u32(6))).toBe(false);
    expect(runPacket(tcp('198.51.100.7')).retval).toBe(TC_ACT.OK);
    bpf_map_delete_elem(hashFd, u32(17));
  });

  it('writes, reads back and deletes entries in batches', () => {
    const count = 20;
    const keys = Buffer.concat(Array.from({ length: count }, (_, i) => u32(100 + i)));
    const values = Buffer.concat(Array.from({ length: count }, (_, i) => u32(1000 + i)));
    expect(bpf_map_update_batch(hashFd, keys, values, count)).toBe(count);

    const seen = new Map<number, number>();
    let next: Uint8Array | null = null;
    for (let round = 0; round < 100; round++) {
      const batch = bpf_map_lookup_batch(hashFd, next, 4, 4, 7);
      for (let i = 0; i < batch.count; i++) seen.set(Buffer.from(batch.keys).readUInt32LE(i * 4), Buffer.from(batch.values).readUInt32LE(i * 4));
      next = batch.next;
      if (next === null) break;
    }
    expect(seen.size).toBe(count);
    for (let i = 0; i < count; i++) expect(seen.get(100 + i)).toBe(1000 + i);

    expect(bpf_map_delete_batch(hashFd, keys, count)).toBe(count);
    expect(bpf_map_get_next_key(hashFd, null, 4)).toBeUndefined();
  });

  it('stores LPM prefixes that the program matches by longest prefix', () => {
    bpf_map_update_elem(lpmFd, lpmKey('10.1.0.0', 16), u32(TC_ACT.SHOT));
    bpf_map_update_elem(lpmFd, lpmKey('10.1.2.0', 24), u32(TC_ACT.OK));
    bpf_map_update_elem(lpmFd, lpmKey('0.0.0.0', 0), u32(TC_ACT.PIPE));

    // A lookup from user space takes a /32 key and returns the longest match.
    expect(readU32(bpf_map_lookup_elem(lpmFd, lpmKey('10.1.2.3', 32), 4))).toBe(TC_ACT.OK);
    expect(readU32(bpf_map_lookup_elem(lpmFd, lpmKey('10.1.9.9', 32), 4))).toBe(TC_ACT.SHOT);
    expect(readU32(bpf_map_lookup_elem(lpmFd, lpmKey('192.0.2.1', 32), 4))).toBe(TC_ACT.PIPE);

    expect(runPacket(udp('10.1.2.3')).retval).toBe(TC_ACT.OK);
    expect(runPacket(udp('10.1.9.9')).retval).toBe(TC_ACT.SHOT);
    expect(runPacket(udp('172.16.0.1')).retval).toBe(TC_ACT.PIPE);

    expect(bpf_map_delete_elem(lpmFd, lpmKey('0.0.0.0', 0))).toBe(true);
    expect(runPacket(udp('172.16.0.1')).retval).toBe(TC_ACT.OK);
    expect(bpf_map_delete_elem(lpmFd, lpmKey('10.1.0.0', 16))).toBe(true);
    expect(bpf_map_delete_elem(lpmFd, lpmKey('10.1.2.0', 24))).toBe(true);
  });

  it('reads and writes per-CPU values, one slot per possible CPU', () => {
    const cpus = libbpf_num_possible_cpus();
    expect(cpus).toBeGreaterThanOrEqual(1);
    expect(percpu_value_size(8)).toBe(8 * cpus);
    expect(percpu_value_size(4)).toBe(8 * cpus);

    bpf_map_update_elem(percpuFd, u32(0), join_percpu_value(u64(0n), 8));
    const repeat = 25;
    bpf_prog_test_run_opts(progFd, { data: udp('203.0.113.1'), repeat });
    runPacket(udp('203.0.113.1'));
    const slots = split_percpu_value(bpf_map_lookup_elem(percpuFd, u32(0), percpu_value_size(8)) as Uint8Array, 8);
    expect(slots).toHaveLength(cpus);
    expect(slots.reduce((sum, s) => sum + Buffer.from(s).readBigUInt64LE(0), 0n)).toBe(BigInt(repeat + 1));

    const distinct = Array.from({ length: cpus }, (_, cpu) => u64(BigInt(cpu + 1) * 1000n));
    bpf_map_update_elem(percpuFd, u32(0), join_percpu_value(distinct, 8));
    const back = split_percpu_value(bpf_map_lookup_elem(percpuFd, u32(0), percpu_value_size(8)) as Uint8Array, 8);
    expect(back.map((s) => Buffer.from(s).readBigUInt64LE(0))).toEqual(distinct.map((d) => d.readBigUInt64LE(0)));
    // Sizes come from the kernel: a lookup without a length gets every CPU's slot, and
    // buffers that would make the kernel copy past their end are refused before the call.
    expect(bpf_map_lookup_elem(percpuFd, u32(0))).toHaveLength(percpu_value_size(8));
    expect(bpf_map_shape(percpuFd)).toEqual({ type: BPF_MAP_TYPE.PERCPU_ARRAY, keySize: 4, valueSize: 8, valueLength: percpu_value_size(8) });
    if (cpus > 1) {
      expect(() => bpf_map_update_elem(percpuFd, u32(0), u64(1n))).toThrow(/value of 8 bytes, the map's values have \d+ \(8 per CPU/);
      expect(() => bpf_map_lookup_elem(percpuFd, u32(0), 8)).toThrow(RangeError);
    }
    expect(() => bpf_map_lookup_elem(percpuFd, u64(0n))).toThrow(/key of 8 bytes, the map's keys have 4/);
    if (cpus > 1) expect(() => join_percpu_value([u64(1n)], 8)).toThrow(/missing/);
    expect(() => join_percpu_value(u64(1n).subarray(0, 4), 8)).toThrow(/expected 8/);
  });

  it('swaps the inner map of an outer slot, and the program follows at once', () => {
    const innerA = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_inner_a', 4, 4, 1);
    const innerB = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_inner_b', 4, 4, 1);
    fds.push(innerA, innerB);
    bpf_map_update_elem(innerA, u32(0), u32(111));
    bpf_map_update_elem(innerB, u32(0), u32(222));

    expect(runPacket(udp('203.0.113.1')).ctx?.mark).toBe(0);
    bpf_map_update_elem(outerFd, u32(0), u32(innerA));
    expect(runPacket(udp('203.0.113.1')).ctx?.mark).toBe(111);
    // User space reads back the inner map's id, not the fd it wrote.
    expect(readU32(bpf_map_lookup_elem(outerFd, u32(0), 4))).toBe(bpf_map_get_info_by_fd(innerA).id);
    bpf_map_update_elem(outerFd, u32(0), u32(innerB));
    expect(runPacket(udp('203.0.113.1')).ctx?.mark).toBe(222);

    // The template fixes the inner maps' shape: one of another size is refused.
    const wrongSize = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_inner_c', 4, 4, 8);
    fds.push(wrongSize);
    expect(() => bpf_map_update_elem(outerFd, u32(0), u32(wrongSize))).toThrow(expect.objectContaining({ code: 'EINVAL' }));

    expect(bpf_map_delete_elem(outerFd, u32(0))).toBe(true);
    expect(runPacket(udp('203.0.113.1')).ctx?.mark).toBe(0);
  });

  it('creates maps with flags and inner-map templates through bpf_map_create options', () => {
    const noPrealloc = bpf_map_create(BPF_MAP_TYPE.HASH, 'segct_noprealc', 4, 4, 16, { mapFlags: BPF_F.NO_PREALLOC });
    fds.push(noPrealloc);
    expect(bpf_map_get_info_by_fd(noPrealloc)).toMatchObject({ name: 'segct_noprealc', mapFlags: BPF_F.NO_PREALLOC, maxEntries: 16 });

    // BPF_F_INNER_MAP on the template lets inner maps of any max_entries fill the outer map.
    const template = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_template', 4, 8, 1, { mapFlags: BPF_F.INNER_MAP });
    const outer = bpf_map_create(BPF_MAP_TYPE.HASH_OF_MAPS, 'segct_outer', 4, 4, 4, { innerMapFd: template });
    const small = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_small', 4, 8, 2, { mapFlags: BPF_F.INNER_MAP });
    const large = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_large', 4, 8, 1000, { mapFlags: BPF_F.INNER_MAP });
    fds.push(template, outer, small, large);
    bpf_map_update_elem(outer, u32(1), u32(small));
    bpf_map_update_elem(outer, u32(2), u32(large));
    expect(readU32(bpf_map_lookup_elem(outer, u32(2), 4))).toBe(bpf_map_get_info_by_fd(large).id);

    expect(() => bpf_map_create(BPF_MAP_TYPE.LPM_TRIE, 'segct_bad_lpm', 8, 4, 16)).toThrow(expect.objectContaining({ operation: 'bpf_map_create', code: 'EINVAL' }));
  });

  it('pins maps and programs on bpffs and opens the pins again', () => {
    makePinDir(pinDir);
    const mapPin = pinPath(pinDir, 'fx_hash');
    const progPin = pinPath(pinDir, 'fx_classify');
    bpf_obj_pin(hashFd, mapPin);
    bpf_obj_pin(progFd, progPin);
    expect(() => bpf_obj_pin(hashFd, mapPin)).toThrow(expect.objectContaining({ code: 'EEXIST', subject: mapPin }));

    const mapFd = bpf_obj_get(mapPin);
    const pinnedProgFd = bpf_obj_get(progPin);
    fds.push(mapFd, pinnedProgFd);
    expect(bpf_map_get_info_by_fd(mapFd).id).toBe(bpf_map_get_info_by_fd(hashFd).id);
    expect(bpf_prog_get_info_by_fd(pinnedProgFd).id).toBe(bpf_prog_get_info_by_fd(progFd).id);

    // A write through the pin shows in the program's map; a read-only open refuses writes.
    bpf_map_update_elem(mapFd, u32(6), u32(TC_ACT.SHOT));
    expect(bpf_prog_test_run_opts(pinnedProgFd, { data: tcp('198.51.100.9') }).retval).toBe(TC_ACT.SHOT);
    const readOnly = bpf_obj_get(mapPin, BPF_F.RDONLY);
    fds.push(readOnly);
    expect(readU32(bpf_map_lookup_elem(readOnly, u32(6), 4))).toBe(TC_ACT.SHOT);
    expect(() => bpf_map_update_elem(readOnly, u32(6), u32(0))).toThrow(expect.objectContaining({ code: 'EPERM' }));
    bpf_map_delete_elem(hashFd, u32(6));

    expect(unpin(progPin)).toBe(true);
    expect(unpin(progPin)).toBe(false);
    expect(() => bpf_obj_get(progPin)).toThrow(expect.objectContaining({ operation: 'bpf_obj_get', code: 'ENOENT' }));
  });

  it('reuses a pinned map in a second load, by fd and by pin path', () => {
    const mapPin = pinPath(pinDir, 'fx_reused');
    makePinDir(pinDir);
    bpf_obj_pin(hashFd, mapPin);
    const pinnedFd = bpf_obj_get(mapPin);
    fds.push(pinnedFd);
    const second = loadFixture((o) => bpf_map__reuse_fd(bpf_object__find_map_by_name(o, 'fx_hash'), pinnedFd));
    const secondHash = bpf_map__fd(bpf_object__find_map_by_name(second, 'fx_hash'));
    expect(bpf_map_get_info_by_fd(secondHash).id).toBe(bpf_map_get_info_by_fd(hashFd).id);

    // With a pin path, libbpf pins a new map on the first load and reuses it on the next.
    const lpmPin = pinPath(pinDir, 'fx_lpm_shared');
    const third = loadFixture((o) => bpf_map__set_pin_path(bpf_object__find_map_by_name(o, 'fx_lpm'), lpmPin));
    expect(bpf_map__pin_path(bpf_object__find_map_by_name(third, 'fx_lpm'))).toBe(lpmPin);
    const fourth = loadFixture((o) => bpf_map__set_pin_path(bpf_object__find_map_by_name(o, 'fx_lpm'), lpmPin));
    const ids = [third, fourth].map((o) => bpf_map_get_info_by_fd(bpf_map__fd(bpf_object__find_map_by_name(o, 'fx_lpm'))).id);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]).not.toBe(bpf_map_get_info_by_fd(lpmFd).id);
  });

  it('tunes an object before load: flags, inner-map template, log level, autoload', () => {
    const template = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_tmpl', 4, 4, 8, { mapFlags: BPF_F.INNER_MAP });
    fds.push(template);
    const tuned = loadFixture((o) => {
      const hash = bpf_object__find_map_by_name(o, 'fx_hash');
      bpf_map__set_map_flags(hash, bpf_map__map_flags(hash) | BPF_F.NO_PREALLOC);
      bpf_map__set_inner_map_fd(bpf_object__find_map_by_name(o, 'fx_outer'), template);
      const p = bpf_object__find_program_by_name(o, 'fx_classify');
      bpf_program__set_log_buf(o, p, 1 << 20);
      bpf_program__set_log_level(p, 1);
    });
    expect(bpf_object__name(tuned)).toBe('segct_fixture');
    expect(bpf_map_get_info_by_fd(bpf_map__fd(bpf_object__find_map_by_name(tuned, 'fx_hash'))).mapFlags).toBe(BPF_F.NO_PREALLOC);
    // Log level 1 logs a program that loads, too.
    expect(bpf_program__log_buf(tuned, bpf_object__find_program_by_name(tuned, 'fx_classify'))).toMatch(/processed \d+ insns/);
    // The BPF_F_INNER_MAP template admits inner maps of any size.
    const inner = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_inner_4', 4, 4, 4, { mapFlags: BPF_F.INNER_MAP });
    fds.push(inner);
    bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(tuned, 'fx_outer')), u32(1), u32(inner));

    // Without autoload, the rejected program is not loaded and the object loads.
    const skipped = bpf_object__open_file(REJECTED);
    objects.push(skipped);
    bpf_program__set_autoload(bpf_object__find_program_by_name(skipped, 'fx_unchecked_read'), false);
    bpf_object__load(skipped);
    expect(() => bpf_program__fd(bpf_object__find_program_by_name(skipped, 'fx_unchecked_read'))).toThrow(BpfError);
  });

  it('pins and unpins through the object, and freezes maps', () => {
    makePinDir(pinDir);
    const hash = bpf_object__find_map_by_name(obj, 'fx_hash');
    bpf_map__pin(hash, pinPath(pinDir, 'by_object_map'));
    bpf_program__pin(prog, pinPath(pinDir, 'by_object_prog'));
    expect(existsSync(pinPath(pinDir, 'by_object_map')) && existsSync(pinPath(pinDir, 'by_object_prog'))).toBe(true);
    bpf_map__unpin(hash, pinPath(pinDir, 'by_object_map'));
    bpf_program__unpin(prog, pinPath(pinDir, 'by_object_prog'));
    expect(existsSync(pinPath(pinDir, 'by_object_map')) || existsSync(pinPath(pinDir, 'by_object_prog'))).toBe(false);

    const frozen = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_frozen', 4, 4, 1);
    fds.push(frozen);
    bpf_map_update_elem(frozen, u32(0), u32(5));
    bpf_map_freeze(frozen);
    expect(() => bpf_map_update_elem(frozen, u32(0), u32(6))).toThrow(expect.objectContaining({ operation: 'bpf_map_update_elem', code: 'EPERM' }));
    expect(readU32(bpf_map_lookup_elem(frozen, u32(0)))).toBe(5);
  });

  it('turns error numbers into text, libbpf codes included', () => {
    expect(strerror(2)).toBe('No such file or directory');
    expect(libbpf_strerror(2)).toBe('No such file or directory');
    expect(libbpf_strerror(4007)).toBe('Kernel verifier blocks program loading');
  });

  it('runs packets with a context in and reads the context and data back', () => {
    const frame = udp('203.0.113.5');
    const result = bpf_prog_test_run_opts(progFd, { data: frame, ctx: { mark: 7, priority: 3, cb: [1, 2, 3, 4, 5] } });
    expect(result.retval).toBe(TC_ACT.OK);
    expect(Buffer.from(result.data)).toEqual(Buffer.from(frame));
    expect(result.ctx?.cb).toEqual([FX_CB_MARKER, 2, 3, 4, 5]);
    expect(result.ctx?.mark).toBe(7);
    expect(result.ctx?.priority).toBe(3);
    expect(result.duration).toBeGreaterThanOrEqual(0);

    // An ARP frame is not IPv4: the fixture returns TC_ACT_UNSPEC (-1) and leaves cb alone.
    const arp = bpf_prog_test_run_opts(progFd, { data: buildArpFrame({ operation: 'request', senderIp: '10.0.0.1', targetIp: '10.0.0.2' }) });
    expect(arp.retval).toBe(TC_ACT.UNSPEC);
    expect(arp.ctx?.cb).toEqual([0, 0, 0, 0, 0]);

    // The kernel refuses context fields a test run may not set.
    expect(() => bpf_prog_test_run_opts(progFd, { data: frame, ctx: { gso_segs: 0, wire_len: 1 } })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('gives the verifier log of a rejected program in the error', () => {
    const messages: string[] = [];
    libbpf_set_print((level, message) => messages.push(`${level}: ${message}`));
    const bad = bpf_object__open_file(REJECTED);
    objects.push(bad);
    bpf_program__set_log_buf(bad, bpf_object__find_program_by_name(bad, 'fx_unchecked_read'));
    try {
      bpf_object__load(bad);
      expect.unreachable();
    } catch (error) {
      libbpf_set_print(null);
      expect(error).toBeInstanceOf(BpfError);
      const e = error as BpfError;
      expect(e.operation).toBe('bpf_object__load');
      expect(e.code).toBe('EACCES');
      expect(e.log).toMatch(/^program fx_unchecked_read:\n/);
      expect(e.log).toMatch(/invalid access to packet/);
      expect(e.log).not.toMatch(/\0/);
    }
    // The print callback got libbpf's own formatted messages (printf arguments filled in).
    expect(messages.join('')).toMatch(/prog 'fx_unchecked_read': BPF program load failed: Permission denied/);
  });

  it('says so when the verifier log overflows its buffer, keeping the end of the log', () => {
    const bad = bpf_object__open_file(REJECTED);
    objects.push(bad);
    bpf_program__set_log_buf(bad, bpf_object__find_program_by_name(bad, 'fx_unchecked_read'), 128);
    expect(() => bpf_object__load(bad)).toThrow(expect.objectContaining({ code: 'ENOSPC', reason: expect.stringMatching(/did not fit/), log: expect.stringMatching(/^program fx_unchecked_read:\n/) }));
  });

  describe('TC on a veth pair in throwaway namespaces', () => {
    const sandbox = new NetnsSandbox('libbpf');
    let nsA: string;
    let nsB: string;
    let ifA: string;

    beforeAll(() => {
      nsA = sandbox.createNetns('a');
      nsB = sandbox.createNetns('b');
      const pair = sandbox.createVethPair(nsA, nsB, { a: { ipv4: '10.213.0.1/24', ipv6: 'fd00:5e6c::1/64' }, b: { ipv4: '10.213.0.2/24', ipv6: 'fd00:5e6c::2/64' } });
      ifA = pair.a.name;
    });

    afterAll(() => {
      sandbox.cleanup();
      expect(sandbox.listNetns()).toEqual([]);
    });

    const reachable = (target: string) => sandbox.tcpReachable(nsA, target, 9);

    it('attaches, replaces and detaches the classifier, and the traffic follows', async () => {
      const replacement = loadFixture();
      const replacementFd = bpf_program__fd(bpf_object__find_program_by_name(replacement, 'fx_classify'));
      const firstId = bpf_prog_get_info_by_fd(progFd).id;
      const secondId = bpf_prog_get_info_by_fd(replacementFd).id;
      expect(reachable('10.213.0.2')).toBe(true);
      expect(reachable('fd00:5e6c::2')).toBe(true);

      const ifindex = await sandbox.within(nsA, () => interfaceIndex(ifA));
      const attached = await sandbox.within(nsA, () => attachTc(ifindex, 'egress', progFd));
      expect(attached).toEqual({ ifindex, direction: 'egress', handle: SEGC_TC_HANDLE, priority: SEGC_TC_PRIORITY, progId: firstId });
      await sandbox.within(nsA, () => attachTc(ifindex, 'ingress', progFd));
      expect(await sandbox.within(nsA, () => [queryTc(ifindex, 'ingress'), queryTc(ifindex, 'egress')])).toEqual([firstId, firstId]);
      expect(await sandbox.within(nsA, () => if_indextoname(ifindex))).toBe(ifA);
      expect(run('nsenter', [`--net=/var/run/netns/${nsA}`, 'tc', 'filter', 'show', 'dev', ifA, 'egress'])).toMatch(/fx_classify.*direct-action/);

      // The attached program enforces: an LPM entry for B's address drops A's packets to it.
      bpf_map_update_elem(lpmFd, lpmKey('10.213.0.2', 32), u32(TC_ACT.SHOT));
      expect(reachable('10.213.0.2')).toBe(false);

      // Replacing swaps the program at the same slot; the replacement's maps are empty.
      const replaced = await sandbox.within(nsA, () => attachTc(ifindex, 'egress', replacementFd));
      expect(replaced).toMatchObject({ handle: SEGC_TC_HANDLE, priority: SEGC_TC_PRIORITY, progId: secondId });
      expect(await sandbox.within(nsA, () => queryTcProgram(ifindex, 'egress')?.id)).toBe(secondId);
      expect(reachable('10.213.0.2')).toBe(true);
      bpf_map_delete_elem(lpmFd, lpmKey('10.213.0.2', 32));

      expect(await sandbox.within(nsA, () => detachTc(ifindex, 'egress'))).toBe(true);
      expect(await sandbox.within(nsA, () => detachTc(ifindex, 'egress'))).toBe(false);
      expect(await sandbox.within(nsA, () => queryTc(ifindex, 'egress'))).toBeUndefined();
      expect(await sandbox.within(nsA, () => queryTc(ifindex, 'ingress'))).toBe(firstId);

      expect(await sandbox.within(nsA, () => ensureClsact(ifindex))).toBe(false);
      expect(await sandbox.within(nsA, () => removeClsact(ifindex))).toBe(true);
      expect(await sandbox.within(nsA, () => queryTc(ifindex, 'ingress'))).toBeUndefined();
      expect(await sandbox.within(nsA, () => removeClsact(ifindex))).toBe(false);
    });

    it('attaches through a pinned TCX link that outlives its fd, and swaps its program in one step', async () => {
      const replacement = loadFixture();
      const replacementFd = bpf_program__fd(bpf_object__find_program_by_name(replacement, 'fx_classify'));
      const [firstId, secondId] = [progFd, replacementFd].map((fd) => bpf_prog_get_info_by_fd(fd).id);
      const ifindex = await sandbox.within(nsA, () => interfaceIndex(ifA));
      const linkPin = pinPath(pinDir, 'tcx_egress');
      makePinDir(pinDir);

      const linkFd = await sandbox.within(nsA, () => attachTcxLink(ifindex, 'egress', progFd));
      bpf_obj_pin(linkFd, linkPin);
      const info = bpf_link_get_info_by_fd(linkFd);
      expect(info).toMatchObject({ type: BPF_LINK_TYPE_TCX, progId: firstId, tcx: { ifindex, attachType: BPF_TCX_EGRESS } });
      close(linkFd);
      expect(await sandbox.within(nsA, () => queryTcx(ifindex, 'egress'))).toEqual([firstId]);
      expect(await sandbox.within(nsA, () => queryTcx(ifindex, 'ingress'))).toEqual([]);

      bpf_map_update_elem(lpmFd, lpmKey('10.213.0.2', 32), u32(TC_ACT.SHOT));
      expect(reachable('10.213.0.2')).toBe(false);

      // Through the pin: a guarded update refuses when the expected program is not running.
      const pinned = bpf_obj_get(linkPin);
      fds.push(pinned);
      expect(() => updateTcxLink(pinned, replacementFd, replacementFd)).toThrow(expect.objectContaining({ operation: 'bpf_link_update', code: 'EPERM' }));
      updateTcxLink(pinned, replacementFd, progFd);
      expect(await sandbox.within(nsA, () => queryTcx(ifindex, 'egress'))).toEqual([secondId]);
      expect(bpf_link_get_info_by_fd(bpf_link_get_fd_by_id(info.id))).toMatchObject({ id: info.id, progId: secondId });
      expect(reachable('10.213.0.2')).toBe(true);
      bpf_map_delete_elem(lpmFd, lpmKey('10.213.0.2', 32));

      bpf_link_detach(pinned);
      expect(await sandbox.within(nsA, () => queryTcx(ifindex, 'egress'))).toEqual([]);
      // A detached TCX link keeps its program but no longer names an interface.
      expect(bpf_link_get_info_by_fd(pinned).tcx?.ifindex).toBe(0);
      expect(unpin(linkPin)).toBe(true);
    });

    it('reports an unknown interface as ENODEV', async () => {
      expect(() => if_nametoindex('segct-nope0')).toThrow(expect.objectContaining({ operation: 'if_nametoindex', code: 'ENODEV' }));
      // The pair's interfaces exist only inside the namespaces, never in the caller's.
      expect(() => interfaceIndex(ifA)).toThrow(BpfError);
      expect(await sandbox.within(nsA, () => interfaceIndex(ifA))).toBeGreaterThan(0);
    });
  });

  describe('bpffs', () => {
    const scratch = join(tmpdir(), `segct-${process.pid}-bpffs`);

    afterAll(() => {
      if (isBpffs(scratch)) run('umount', [scratch]);
      rmSync(scratch, { recursive: true, force: true });
    });

    it('tells bpffs from other file systems and mounts one where missing', () => {
      expect(isBpffs(BPFFS_ROOT)).toBe(true);
      expect(isBpffs(tmpdir())).toBe(false);
      expect(ensureBpffs(BPFFS_ROOT)).toBe(false);
      mkdirSync(scratch, { recursive: true });
      expect(ensureBpffs(scratch)).toBe(true);
      expect(isBpffs(scratch)).toBe(true);
      expect(ensureBpffs(scratch)).toBe(false);
    });

    it('makes pin directories, refuses paths outside bpffs and removes pins', () => {
      const dir = makePinDir(pinPath(pinDir, 'nested', 'deeper'));
      const fd = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'segct_pinned', 4, 4, 1);
      fds.push(fd);
      bpf_obj_pin(fd, join(dir, 'm'));
      expect(() => pinPath(pinDir, '..', 'x')).toThrow(RangeError);
      expect(() => pinPath(pinDir, '/etc')).toThrow(RangeError);
      expect(() => makePinDir(join(tmpdir(), `segct-${process.pid}-notbpf`))).toThrow(/not on a bpffs mount/);
      expect(removePinDir(pinPath(pinDir, 'nested'))).toBe(true);
      expect(existsSync(dir)).toBe(false);
      expect(removePinDir(pinPath(pinDir, 'nested'))).toBe(false);
      // A stray regular file cannot be unpinned through these helpers outside bpffs.
      const stray = join(tmpdir(), `segct-${process.pid}-stray`);
      writeFileSync(stray, '');
      expect(() => unpin(stray)).toThrow(/not on a bpffs mount/);
      unlinkSync(stray);
    });
  });
});
