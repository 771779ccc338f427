// Runtime: koffi bindings to the system's libbpf.so.1 (libbpf 1.1 API) and the few libc calls
// the runtime needs. Only declarations, with libbpf's own names: each function is wrapped
// once, turning a negative return (or NULL plus errno) into a `BpfError`.
//
// Conventions:
// - Keys and values are `Uint8Array`s (a `Buffer` is one) in the map's own byte layout.
// - libbpf 1.x returns `-errno` from int functions and NULL with errno set from pointer ones.
// - Options structs are declared field for field after /usr/include/bpf/{libbpf,bpf}.h and
//   linux/bpf.h, with `sz` set to their size; test/kernel/libbpf.test.ts compares the layouts
//   with the C compiler's.
// - Memory libbpf keeps a pointer to after the call returns (a program's log buffer) is
//   allocated natively with koffi.alloc, never a JS buffer that the garbage collector may move.
// - The library is opened on first use, so importing this module never fails.
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { BpfError } from './errors.ts';

/** koffi's type specifier (a type name or object); its declaration file does not export it. */
type TypeSpec = Parameters<typeof koffi.sizeof>[0];

/** An opened `struct bpf_object *`; only valid until `bpf_object__close`. */
export type BpfObject = bigint & { readonly __brand: 'bpf_object' };
/** A `struct bpf_map *` of an opened object. */
export type BpfMap = bigint & { readonly __brand: 'bpf_map' };
/** A `struct bpf_program *` of an opened object. */
export type BpfProgram = bigint & { readonly __brand: 'bpf_program' };

/** `enum bpf_map_type` (linux/bpf.h), the members the runtime and its tests use. */
export const BPF_MAP_TYPE = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  PERCPU_CGROUP_STORAGE: 21,
} as const;

/** Map types whose values hold one slot per possible CPU in user space. */
const PERCPU_MAP_TYPES: readonly number[] = [BPF_MAP_TYPE.PERCPU_HASH, BPF_MAP_TYPE.PERCPU_ARRAY, BPF_MAP_TYPE.LRU_PERCPU_HASH, BPF_MAP_TYPE.PERCPU_CGROUP_STORAGE];

/** `enum bpf_prog_type`: the TC classifier's type. */
export const BPF_PROG_TYPE_SCHED_CLS = 3;

/** Map creation flags (`map_flags`). */
export const BPF_F = {
  NO_PREALLOC: 1 << 0,
  NO_COMMON_LRU: 1 << 1,
  NUMA_NODE: 1 << 2,
  RDONLY: 1 << 3,
  WRONLY: 1 << 4,
  ZERO_SEED: 1 << 6,
  RDONLY_PROG: 1 << 7,
  WRONLY_PROG: 1 << 8,
  MMAPABLE: 1 << 10,
  INNER_MAP: 1 << 12,
} as const;

/** Update flags of bpf_map_update_elem and the batch calls. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

/** bpf_prog_test_run_opts `flags`: run on `cpu` instead of the current one. */
export const BPF_F_TEST_RUN_ON_CPU = 1;

/** `enum bpf_tc_attach_point` and `enum bpf_tc_flags` (libbpf.h). */
export const BPF_TC_INGRESS = 1 << 0;
export const BPF_TC_EGRESS = 1 << 1;
export const BPF_TC_CUSTOM = 1 << 2;
export const BPF_TC_F_REPLACE = 1 << 0;

/**
 * TCX attach points (`enum bpf_attach_type`, kernel 6.6+; newer than libbpf 1.1's headers):
 * BPF links on an interface's ingress or egress, in front of clsact's filters.
 */
export const BPF_TCX_INGRESS = 46;
export const BPF_TCX_EGRESS = 47;
/** `enum bpf_link_type` of TCX links. */
export const BPF_LINK_TYPE_TCX = 11;
/** bpf_link_update flag: replace only if the link still runs `oldProgFd`. */
export const BPF_F_REPLACE = 1 << 2;

/** TC verdicts a classifier returns (linux/pkt_cls.h). */
export const TC_ACT = { UNSPEC: -1, OK: 0, RECLASSIFY: 1, SHOT: 2, PIPE: 3, STOLEN: 4, QUEUED: 5, REPEAT: 6, REDIRECT: 7 } as const;

const BPF_OBJ_NAME_LEN = 16;

// ---------------------------------------------------------------------------------------------
// Struct layouts (x86-64 and other LP64 ABIs).

const ObjectOpenOpts = koffi.struct({
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  _attach_prog_fd_removed: 'uint32_t',
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
  kernel_log_buf: 'void *',
  kernel_log_size: 'size_t',
  kernel_log_level: 'uint32_t',
});

const MapCreateOpts = koffi.struct({
  sz: 'size_t',
  btf_fd: 'uint32_t',
  btf_key_type_id: 'uint32_t',
  btf_value_type_id: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t',
  inner_map_fd: 'uint32_t',
  map_flags: 'uint32_t',
  map_extra: 'uint64_t',
  numa_node: 'uint32_t',
  map_ifindex: 'uint32_t',
});

const MapBatchOpts = koffi.struct({ sz: 'size_t', elem_flags: 'uint64_t', flags: 'uint64_t' });

const ObjGetOpts = koffi.struct({ sz: 'size_t', file_flags: 'uint32_t' });

const TestRunOpts = koffi.struct({
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

const LinkUpdateOpts = koffi.struct({ sz: 'size_t', flags: 'uint32_t', old_prog_fd: 'uint32_t' });

const TcHook = koffi.struct({ sz: 'size_t', ifindex: 'int', attach_point: 'uint32_t', parent: 'uint32_t' });

const TcOpts = koffi.struct({ sz: 'size_t', prog_fd: 'int', flags: 'uint32_t', prog_id: 'uint32_t', handle: 'uint32_t', priority: 'uint32_t' });

/** `struct __sk_buff` (linux/bpf.h): the context a TC program sees, and test runs pass in/out. */
const SkBuffStruct = koffi.struct({
  len: 'uint32_t',
  pkt_type: 'uint32_t',
  mark: 'uint32_t',
  queue_mapping: 'uint32_t',
  protocol: 'uint32_t',
  vlan_present: 'uint32_t',
  vlan_tci: 'uint32_t',
  vlan_proto: 'uint32_t',
  priority: 'uint32_t',
  ingress_ifindex: 'uint32_t',
  ifindex: 'uint32_t',
  tc_index: 'uint32_t',
  cb: koffi.array('uint32_t', 5, 'Array'),
  hash: 'uint32_t',
  tc_classid: 'uint32_t',
  data: 'uint32_t',
  data_end: 'uint32_t',
  napi_id: 'uint32_t',
  family: 'uint32_t',
  remote_ip4: 'uint32_t',
  local_ip4: 'uint32_t',
  remote_ip6: koffi.array('uint32_t', 4, 'Array'),
  local_ip6: koffi.array('uint32_t', 4, 'Array'),
  remote_port: 'uint32_t',
  local_port: 'uint32_t',
  data_meta: 'uint32_t',
  flow_keys: 'uint64_t',
  tstamp: 'uint64_t',
  wire_len: 'uint32_t',
  gso_segs: 'uint32_t',
  sk: 'uint64_t',
  gso_size: 'uint32_t',
  tstamp_type: 'uint8_t',
  _pad: koffi.array('uint8_t', 3, 'Array'),
  hwtstamp: 'uint64_t',
});

const ProgInfoStruct = koffi.struct({
  type: 'uint32_t',
  id: 'uint32_t',
  tag: koffi.array('uint8_t', 8, 'Array'),
  jited_prog_len: 'uint32_t',
  xlated_prog_len: 'uint32_t',
  jited_prog_insns: 'uint64_t',
  xlated_prog_insns: 'uint64_t',
  load_time: 'uint64_t',
  created_by_uid: 'uint32_t',
  nr_map_ids: 'uint32_t',
  map_ids: 'uint64_t',
  name: koffi.array('char', BPF_OBJ_NAME_LEN),
  ifindex: 'uint32_t',
  _gpl_compatible_bitfield: 'uint32_t',
  netns_dev: 'uint64_t',
  netns_ino: 'uint64_t',
  nr_jited_ksyms: 'uint32_t',
  nr_jited_func_lens: 'uint32_t',
  jited_ksyms: 'uint64_t',
  jited_func_lens: 'uint64_t',
  btf_id: 'uint32_t',
  func_info_rec_size: 'uint32_t',
  func_info: 'uint64_t',
  nr_func_info: 'uint32_t',
  nr_line_info: 'uint32_t',
  line_info: 'uint64_t',
  jited_line_info: 'uint64_t',
  nr_jited_line_info: 'uint32_t',
  line_info_rec_size: 'uint32_t',
  jited_line_info_rec_size: 'uint32_t',
  nr_prog_tags: 'uint32_t',
  prog_tags: 'uint64_t',
  run_time_ns: 'uint64_t',
  run_cnt: 'uint64_t',
  recursion_misses: 'uint64_t',
  verified_insns: 'uint32_t',
  attach_btf_obj_id: 'uint32_t',
  attach_btf_id: 'uint32_t',
  _pad: 'uint32_t',
});

const MapInfoStruct = koffi.struct({
  type: 'uint32_t',
  id: 'uint32_t',
  key_size: 'uint32_t',
  value_size: 'uint32_t',
  max_entries: 'uint32_t',
  map_flags: 'uint32_t',
  name: koffi.array('char', BPF_OBJ_NAME_LEN),
  ifindex: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t',
  netns_dev: 'uint64_t',
  netns_ino: 'uint64_t',
  btf_id: 'uint32_t',
  btf_key_type_id: 'uint32_t',
  btf_value_type_id: 'uint32_t',
  _pad: 'uint32_t',
  map_extra: 'uint64_t',
});

/** Layouts as koffi computed them, for the test that checks them against the C compiler. */
export const STRUCT_LAYOUTS = {
  bpf_object_open_opts: ObjectOpenOpts,
  bpf_map_create_opts: MapCreateOpts,
  bpf_map_batch_opts: MapBatchOpts,
  bpf_obj_get_opts: ObjGetOpts,
  bpf_test_run_opts: TestRunOpts,
  bpf_link_update_opts: LinkUpdateOpts,
  bpf_tc_hook: TcHook,
  bpf_tc_opts: TcOpts,
  __sk_buff: SkBuffStruct,
  bpf_prog_info: ProgInfoStruct,
  bpf_map_info: MapInfoStruct,
} as const;

// ---------------------------------------------------------------------------------------------
// Declarations, bound on first use.

type Fn = (...args: never[]) => unknown;

function declare(lib: LibraryHandle) {
  const f = <T extends Fn>(name: string, result: TypeSpec, args: TypeSpec[]) => lib.func(name, result, args) as unknown as T;
  const inout = (t: TypeObject) => koffi.inout(koffi.pointer(t));
  const ptr = (t: TypeObject) => koffi.pointer(t);
  // Anonymous, so that a second copy of this module in one process (test isolation) can declare it too.
  const LogPrintFn = koffi.proto('int', ['int', 'const char *', 'void *']);
  // ring_buffer_sample_fn: int (*)(void *ctx, void *data, size_t size).
  const RingBufferSampleFn = koffi.proto('int', ['void *', 'void *', 'size_t']);
  return {
    libbpf_strerror: f<(err: number, buf: Uint8Array, size: number) => number>('libbpf_strerror', 'int', ['int', 'void *', 'size_t']),
    libbpf_num_possible_cpus: f<() => number>('libbpf_num_possible_cpus', 'int', []),
    libbpf_version_string: f<() => string>('libbpf_version_string', 'const char *', []),
    libbpf_probe_bpf_prog_type: f<(progType: number, opts: null) => number>('libbpf_probe_bpf_prog_type', 'int', ['int', 'void *']),
    libbpf_probe_bpf_map_type: f<(mapType: number, opts: null) => number>('libbpf_probe_bpf_map_type', 'int', ['int', 'void *']),
    libbpf_probe_bpf_helper: f<(progType: number, helperId: number, opts: null) => number>('libbpf_probe_bpf_helper', 'int', ['int', 'int', 'void *']),
    libbpf_set_print: f<(fn: bigint | null) => bigint | null>('libbpf_set_print', 'void *', [koffi.pointer(LogPrintFn)]),
    LogPrintFn,

    bpf_object__open_file: f<(path: string, opts: object | null) => bigint | null>('bpf_object__open_file', 'void *', ['const char *', ptr(ObjectOpenOpts)]),
    bpf_object__load: f<(obj: bigint) => number>('bpf_object__load', 'int', ['void *']),
    bpf_object__close: f<(obj: bigint) => void>('bpf_object__close', 'void', ['void *']),
    bpf_object__name: f<(obj: bigint) => string>('bpf_object__name', 'const char *', ['void *']),
    bpf_object__find_map_by_name: f<(obj: bigint, name: string) => bigint | null>('bpf_object__find_map_by_name', 'void *', ['void *', 'const char *']),
    bpf_object__find_program_by_name: f<(obj: bigint, name: string) => bigint | null>('bpf_object__find_program_by_name', 'void *', ['void *', 'const char *']),
    bpf_object__next_map: f<(obj: bigint, prev: bigint | null) => bigint | null>('bpf_object__next_map', 'void *', ['void *', 'void *']),
    bpf_object__next_program: f<(obj: bigint, prev: bigint | null) => bigint | null>('bpf_object__next_program', 'void *', ['void *', 'void *']),

    bpf_map__fd: f<(map: bigint) => number>('bpf_map__fd', 'int', ['void *']),
    bpf_map__name: f<(map: bigint) => string>('bpf_map__name', 'const char *', ['void *']),
    bpf_map__type: f<(map: bigint) => number>('bpf_map__type', 'int', ['void *']),
    bpf_map__key_size: f<(map: bigint) => number>('bpf_map__key_size', 'uint32_t', ['void *']),
    bpf_map__value_size: f<(map: bigint) => number>('bpf_map__value_size', 'uint32_t', ['void *']),
    bpf_map__max_entries: f<(map: bigint) => number>('bpf_map__max_entries', 'uint32_t', ['void *']),
    bpf_map__set_max_entries: f<(map: bigint, n: number) => number>('bpf_map__set_max_entries', 'int', ['void *', 'uint32_t']),
    bpf_map__map_flags: f<(map: bigint) => number>('bpf_map__map_flags', 'uint32_t', ['void *']),
    bpf_map__set_map_flags: f<(map: bigint, flags: number) => number>('bpf_map__set_map_flags', 'int', ['void *', 'uint32_t']),
    bpf_map__reuse_fd: f<(map: bigint, fd: number) => number>('bpf_map__reuse_fd', 'int', ['void *', 'int']),
    bpf_map__set_pin_path: f<(map: bigint, path: string | null) => number>('bpf_map__set_pin_path', 'int', ['void *', 'const char *']),
    bpf_map__pin_path: f<(map: bigint) => string | null>('bpf_map__pin_path', 'const char *', ['void *']),
    bpf_map__pin: f<(map: bigint, path: string | null) => number>('bpf_map__pin', 'int', ['void *', 'const char *']),
    bpf_map__unpin: f<(map: bigint, path: string | null) => number>('bpf_map__unpin', 'int', ['void *', 'const char *']),
    bpf_map__set_inner_map_fd: f<(map: bigint, fd: number) => number>('bpf_map__set_inner_map_fd', 'int', ['void *', 'int']),

    bpf_program__fd: f<(prog: bigint) => number>('bpf_program__fd', 'int', ['void *']),
    bpf_program__name: f<(prog: bigint) => string>('bpf_program__name', 'const char *', ['void *']),
    bpf_program__set_autoload: f<(prog: bigint, on: boolean) => number>('bpf_program__set_autoload', 'int', ['void *', 'bool']),
    bpf_program__set_log_level: f<(prog: bigint, level: number) => number>('bpf_program__set_log_level', 'int', ['void *', 'uint32_t']),
    bpf_program__set_log_buf: f<(prog: bigint, buf: bigint | null, size: number) => number>('bpf_program__set_log_buf', 'int', ['void *', 'void *', 'size_t']),
    bpf_program__pin: f<(prog: bigint, path: string) => number>('bpf_program__pin', 'int', ['void *', 'const char *']),
    bpf_program__unpin: f<(prog: bigint, path: string) => number>('bpf_program__unpin', 'int', ['void *', 'const char *']),

    bpf_map_create: f<(type: number, name: string | null, keySize: number, valueSize: number, maxEntries: number, opts: object) => number>(
      'bpf_map_create',
      'int',
      ['int', 'const char *', 'uint32_t', 'uint32_t', 'uint32_t', ptr(MapCreateOpts)],
    ),
    bpf_map_update_elem: f<(fd: number, key: Uint8Array, value: Uint8Array, flags: bigint) => number>('bpf_map_update_elem', 'int', ['int', 'void *', 'void *', 'uint64_t']),
    bpf_map_lookup_elem: f<(fd: number, key: Uint8Array, value: Uint8Array) => number>('bpf_map_lookup_elem', 'int', ['int', 'void *', 'void *']),
    bpf_map_lookup_elem_flags: f<(fd: number, key: Uint8Array, value: Uint8Array, flags: bigint) => number>('bpf_map_lookup_elem_flags', 'int', ['int', 'void *', 'void *', 'uint64_t']),
    bpf_map_delete_elem: f<(fd: number, key: Uint8Array) => number>('bpf_map_delete_elem', 'int', ['int', 'void *']),
    bpf_map_get_next_key: f<(fd: number, key: Uint8Array | null, next: Uint8Array) => number>('bpf_map_get_next_key', 'int', ['int', 'void *', 'void *']),
    bpf_map_freeze: f<(fd: number) => number>('bpf_map_freeze', 'int', ['int']),
    bpf_map_update_batch: f<(fd: number, keys: Uint8Array, values: Uint8Array, count: number[], opts: object) => number>(
      'bpf_map_update_batch',
      'int',
      ['int', 'void *', 'void *', koffi.inout(koffi.pointer('uint32_t')), ptr(MapBatchOpts)],
    ),
    bpf_map_lookup_batch: f<(fd: number, inBatch: Uint8Array | null, outBatch: Uint8Array, keys: Uint8Array, values: Uint8Array, count: number[], opts: object) => number>(
      'bpf_map_lookup_batch',
      'int',
      ['int', 'void *', 'void *', 'void *', 'void *', koffi.inout(koffi.pointer('uint32_t')), ptr(MapBatchOpts)],
    ),
    bpf_map_delete_batch: f<(fd: number, keys: Uint8Array, count: number[], opts: object) => number>(
      'bpf_map_delete_batch',
      'int',
      ['int', 'void *', koffi.inout(koffi.pointer('uint32_t')), ptr(MapBatchOpts)],
    ),
    bpf_obj_pin: f<(fd: number, path: string) => number>('bpf_obj_pin', 'int', ['int', 'const char *']),
    bpf_obj_get: f<(path: string) => number>('bpf_obj_get', 'int', ['const char *']),
    bpf_obj_get_opts: f<(path: string, opts: object) => number>('bpf_obj_get_opts', 'int', ['const char *', ptr(ObjGetOpts)]),
    bpf_obj_get_info_by_fd: f<(fd: number, info: Uint8Array, len: number[]) => number>('bpf_obj_get_info_by_fd', 'int', ['int', 'void *', koffi.inout(koffi.pointer('uint32_t'))]),
    /** The same call with the length in a typed array: cheaper, for the size check of every map call. */
    bpf_obj_get_info_by_fd_raw: f<(fd: number, info: Uint8Array, len: Uint32Array) => number>('bpf_obj_get_info_by_fd', 'int', ['int', 'void *', 'void *']),
    bpf_prog_get_fd_by_id: f<(id: number) => number>('bpf_prog_get_fd_by_id', 'int', ['uint32_t']),
    bpf_map_get_fd_by_id: f<(id: number) => number>('bpf_map_get_fd_by_id', 'int', ['uint32_t']),
    bpf_prog_get_next_id: f<(start: number, next: number[]) => number>('bpf_prog_get_next_id', 'int', ['uint32_t', koffi.out(koffi.pointer('uint32_t'))]),
    bpf_map_get_next_id: f<(start: number, next: number[]) => number>('bpf_map_get_next_id', 'int', ['uint32_t', koffi.out(koffi.pointer('uint32_t'))]),
    bpf_prog_test_run_opts: f<(fd: number, opts: bigint) => number>('bpf_prog_test_run_opts', 'int', ['int', 'void *']),

    bpf_link_create: f<(progFd: number, target: number, attachType: number, opts: null) => number>('bpf_link_create', 'int', ['int', 'int', 'int', 'void *']),
    bpf_link_update: f<(linkFd: number, progFd: number, opts: object) => number>('bpf_link_update', 'int', ['int', 'int', ptr(LinkUpdateOpts)]),
    bpf_link_detach: f<(linkFd: number) => number>('bpf_link_detach', 'int', ['int']),
    bpf_link_get_fd_by_id: f<(id: number) => number>('bpf_link_get_fd_by_id', 'int', ['uint32_t']),
    bpf_prog_query: f<(target: number, attachType: number, queryFlags: number, attachFlags: number[], progIds: Uint32Array, count: number[]) => number>(
      'bpf_prog_query',
      'int',
      ['int', 'int', 'uint32_t', koffi.out(koffi.pointer('uint32_t')), 'void *', koffi.inout(koffi.pointer('uint32_t'))],
    ),

    ring_buffer__new: f<(mapFd: number, sampleCb: bigint, ctx: null, opts: null) => bigint | null>('ring_buffer__new', 'void *', ['int', koffi.pointer(RingBufferSampleFn), 'void *', 'void *']),
    ring_buffer__consume: f<(rb: bigint) => number>('ring_buffer__consume', 'int', ['void *']),
    ring_buffer__poll: f<(rb: bigint, timeoutMs: number) => number>('ring_buffer__poll', 'int', ['void *', 'int']),
    ring_buffer__epoll_fd: f<(rb: bigint) => number>('ring_buffer__epoll_fd', 'int', ['void *']),
    ring_buffer__free: f<(rb: bigint) => void>('ring_buffer__free', 'void', ['void *']),
    RingBufferSampleFn,

    bpf_tc_hook_create: f<(hook: object) => number>('bpf_tc_hook_create', 'int', [ptr(TcHook)]),
    bpf_tc_hook_destroy: f<(hook: object) => number>('bpf_tc_hook_destroy', 'int', [ptr(TcHook)]),
    bpf_tc_attach: f<(hook: object, opts: object) => number>('bpf_tc_attach', 'int', [ptr(TcHook), inout(TcOpts)]),
    bpf_tc_detach: f<(hook: object, opts: object) => number>('bpf_tc_detach', 'int', [ptr(TcHook), ptr(TcOpts)]),
    bpf_tc_query: f<(hook: object, opts: object) => number>('bpf_tc_query', 'int', [ptr(TcHook), inout(TcOpts)]),
  };
}

function declareLibc(lib: LibraryHandle) {
  return {
    close: lib.func('close', 'int', ['int']) as unknown as (fd: number) => number,
    flock: lib.func('flock', 'int', ['int', 'int']) as unknown as (fd: number, operation: number) => number,
    strerror: lib.func('strerror', 'const char *', ['int']) as unknown as (errno: number) => string,
    if_nametoindex: lib.func('if_nametoindex', 'uint32_t', ['const char *']) as unknown as (name: string) => number,
    if_indextoname: lib.func('if_indextoname', 'void *', ['uint32_t', 'void *']) as unknown as (index: number, buf: Uint8Array) => bigint | null,
    mount: lib.func('mount', 'int', ['const char *', 'const char *', 'const char *', 'unsigned long', 'void *']) as unknown as (
      source: string,
      target: string,
      type: string,
      flags: number,
      data: null,
    ) => number,
    setns: lib.func('setns', 'int', ['int', 'int']) as unknown as (fd: number, nstype: number) => number,
    vsnprintf: lib.func('vsnprintf', 'int', ['void *', 'size_t', 'const char *', 'void *']) as unknown as (buf: Uint8Array, size: number, format: string, args: bigint) => number,
  };
}

let bound: { libbpf: ReturnType<typeof declare>; libc: ReturnType<typeof declareLibc> } | undefined;

/** The bound libraries; opens libbpf.so.1 and libc on first use. */
function lib() {
  if (!bound) {
    let libbpfHandle: LibraryHandle;
    try {
      libbpfHandle = koffi.load('libbpf.so.1');
    } catch (error) {
      throw new BpfError({
        operation: 'dlopen',
        subject: 'libbpf.so.1',
        errno: constantsErrno('ENOENT'),
        reason: `cannot load libbpf 1.x (${error instanceof Error ? error.message : String(error)}); install it (Debian: apt-get install libbpf1)`,
      });
    }
    bound = { libbpf: declare(libbpfHandle), libc: declareLibc(koffi.load('libc.so.6')) };
  }
  return bound;
}

function constantsErrno(name: keyof typeof koffi.os.errno): number {
  return koffi.os.errno[name] ?? 2;
}

// ---------------------------------------------------------------------------------------------
// Errors.

/** libbpf_strerror's text for a positive errno (covers libbpf's own 4000+ codes). */
export function libbpf_strerror(errno: number): string {
  const buf = Buffer.alloc(256);
  lib().libbpf.libbpf_strerror(errno, buf, buf.length);
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}

function fail(operation: string, errno: number, subject?: string, log?: string): never {
  const e = Math.abs(errno) || constantsErrno('EINVAL');
  throw new BpfError({ operation, errno: e, reason: libbpf_strerror(e), ...(subject === undefined ? {} : { subject }), ...(log ? { log } : {}) });
}

/** Checks an int return: `-errno` (libbpf) or -1 with errno set (libc). */
function check(operation: string, ret: number, subject?: string): number {
  if (ret >= 0) return ret;
  fail(operation, ret === -1 ? koffi.errno() || 1 : ret, subject);
}

function checkPointer<T extends bigint>(operation: string, ret: bigint | null, subject?: string): T {
  if (ret === null || ret === 0n) fail(operation, koffi.errno() || constantsErrno('ENOENT'), subject);
  return ret as T;
}

// ---------------------------------------------------------------------------------------------
// libbpf: objects, maps and programs.

export function libbpf_num_possible_cpus(): number {
  return check('libbpf_num_possible_cpus', lib().libbpf.libbpf_num_possible_cpus());
}

/** `v1.1`: the loaded library's version, for `segc doctor`. */
export function libbpf_version_string(): string {
  return lib().libbpf.libbpf_version_string();
}

/** Whether the kernel can load programs of this type (libbpf loads a trivial one). */
export function libbpf_probe_bpf_prog_type(progType: number): boolean {
  return check('libbpf_probe_bpf_prog_type', lib().libbpf.libbpf_probe_bpf_prog_type(progType, null), `program type ${progType}`) === 1;
}

/** Whether the kernel can create maps of this type. */
export function libbpf_probe_bpf_map_type(mapType: number): boolean {
  return check('libbpf_probe_bpf_map_type', lib().libbpf.libbpf_probe_bpf_map_type(mapType, null), `map type ${mapType}`) === 1;
}

/** Whether programs of `progType` may call helper `helperId` (`enum bpf_func_id`). */
export function libbpf_probe_bpf_helper(progType: number, helperId: number): boolean {
  return check('libbpf_probe_bpf_helper', lib().libbpf.libbpf_probe_bpf_helper(progType, helperId, null), `helper ${helperId}`) === 1;
}

let printCallback: bigint | undefined;

/**
 * Routes libbpf's messages to `fn`, or silences them with `null` (libbpf prints to stderr by
 * default). Works around the `va_list` argument by formatting with libc's vsnprintf, which on
 * x86-64 and arm64 takes the callback's `va_list` as the pointer it receives.
 */
export function libbpf_set_print(fn: ((level: 'warn' | 'info' | 'debug', message: string) => void) | null): void {
  const { libbpf, libc } = lib();
  const previous = printCallback;
  if (fn === null) {
    libbpf.libbpf_set_print(null);
    printCallback = undefined;
  } else {
    if (process.arch !== 'x64' && process.arch !== 'arm64') throw new RangeError(`libbpf_set_print with a callback needs x64 or arm64, not ${process.arch}`);
    const levels = ['warn', 'info', 'debug'] as const;
    // Large enough for the verifier logs libbpf prints in one message.
    const buf = Buffer.alloc(1 << 20);
    printCallback = koffi.register((level: number, format: string, args: bigint) => {
      const n = libc.vsnprintf(buf, buf.length, format, args);
      fn(levels[level] ?? 'debug', buf.toString('utf8', 0, Math.min(Math.max(n, 0), buf.length - 1)));
      return 0;
    }, koffi.pointer(libbpf.LogPrintFn));
    libbpf.libbpf_set_print(printCallback);
  }
  if (previous !== undefined) koffi.unregister(previous);
}

// ---------------------------------------------------------------------------------------------
// libbpf: BPF ring buffers (BPF_MAP_TYPE_RINGBUF), read through libbpf's consumer.

/** A `struct ring_buffer *` and the registered callback it calls; free with ring_buffer__free. */
export interface RingBuffer {
  readonly rb: bigint;
  readonly callback: bigint;
}

/**
 * Opens libbpf's consumer of the ring buffer map `mapFd`. `onSample` gets each record (a copy,
 * valid after the call) while ring_buffer__consume / ring_buffer__poll run, on this thread;
 * its return value is ignored (0 keeps consuming).
 */
export function ring_buffer__new(mapFd: number, onSample: (data: Uint8Array) => void): RingBuffer {
  const { libbpf } = lib();
  const callback = koffi.register((_ctx: bigint, data: bigint, size: number | bigint) => {
    onSample(new Uint8Array(koffi.view(data, Number(size)).slice(0)));
    return 0;
  }, koffi.pointer(libbpf.RingBufferSampleFn));
  const rb = libbpf.ring_buffer__new(mapFd, callback, null, null);
  if (rb === null || rb === 0n) {
    const errno = koffi.errno() || constantsErrno('EINVAL');
    koffi.unregister(callback);
    fail('ring_buffer__new', errno);
  }
  return { rb, callback };
}

/** Reads every record available now, without waiting; returns how many. */
export function ring_buffer__consume(ring: RingBuffer): number {
  return check('ring_buffer__consume', lib().libbpf.ring_buffer__consume(ring.rb));
}

/** Waits up to `timeoutMs` for records (blocking this thread), reads them; returns how many. */
export function ring_buffer__poll(ring: RingBuffer, timeoutMs: number): number {
  const n = lib().libbpf.ring_buffer__poll(ring.rb, timeoutMs);
  // EINTR: a signal arrived while waiting; nothing was read.
  if (n === -constantsErrno('EINTR')) return 0;
  return check('ring_buffer__poll', n);
}

/** The epoll fd that becomes readable when records arrive. */
export function ring_buffer__epoll_fd(ring: RingBuffer): number {
  return check('ring_buffer__epoll_fd', lib().libbpf.ring_buffer__epoll_fd(ring.rb));
}

export function ring_buffer__free(ring: RingBuffer): void {
  lib().libbpf.ring_buffer__free(ring.rb);
  koffi.unregister(ring.callback);
}

export interface ObjectOpenOptions {
  /** Overrides the object name libbpf derives from the file name. */
  readonly objectName?: string;
  /** Where maps with a `pinning` attribute are pinned (default /sys/fs/bpf). */
  readonly pinRootPath?: string;
  /** Custom BTF for CO-RE relocations instead of the kernel's. */
  readonly btfCustomPath?: string;
}

export function bpf_object__open_file(path: string, options: ObjectOpenOptions = {}): BpfObject {
  const opts = {
    sz: koffi.sizeof(ObjectOpenOpts),
    object_name: options.objectName ?? null,
    relaxed_maps: false,
    pin_root_path: options.pinRootPath ?? null,
    _attach_prog_fd_removed: 0,
    kconfig: null,
    btf_custom_path: options.btfCustomPath ?? null,
    kernel_log_buf: null,
    kernel_log_size: 0,
    kernel_log_level: 0,
  };
  return checkPointer<BpfObject>('bpf_object__open_file', lib().libbpf.bpf_object__open_file(path, opts), path);
}

/** Native log buffers given to programs, by object, freed on close. */
const logBuffers = new Map<bigint, Map<bigint, { buf: bigint; size: number }>>();

/**
 * Loads (verifies) every program and creates every map. On a rejection the error's `log`
 * holds the verifier logs of the programs given a buffer with bpf_program__set_log_buf.
 */
export function bpf_object__load(obj: BpfObject): void {
  const { libbpf } = lib();
  const ret = libbpf.bpf_object__load(obj);
  if (ret >= 0) return;
  const logs: string[] = [];
  for (const [prog, { buf, size }] of logBuffers.get(obj) ?? []) {
    const text = koffi.decode(buf, 'char', -1) as string;
    if (text.length > 0 && text.length < size) logs.push(`program ${libbpf.bpf_program__name(prog)}:\n${text.trimEnd()}`);
  }
  const subject = libbpf.bpf_object__name(obj);
  // A log longer than its buffer makes the kernel answer ENOSPC instead of the rejection; the
  // buffer then holds the log's end, which is where the reason for a rejection is.
  if (ret === -constantsErrno('ENOSPC') && logs.length > 0) {
    throw new BpfError({ operation: 'bpf_object__load', errno: -ret, subject, reason: 'a program was rejected and its verifier log did not fit in its buffer (its end follows; give bpf_program__set_log_buf a larger size)', log: logs.join('\n\n') });
  }
  fail('bpf_object__load', ret, subject, logs.join('\n\n'));
}

export function bpf_object__close(obj: BpfObject): void {
  lib().libbpf.bpf_object__close(obj);
  for (const { buf } of logBuffers.get(obj)?.values() ?? []) koffi.free(buf);
  logBuffers.delete(obj);
}

export function bpf_object__name(obj: BpfObject): string {
  return lib().libbpf.bpf_object__name(obj);
}

export function bpf_object__find_map_by_name(obj: BpfObject, name: string): BpfMap {
  return checkPointer<BpfMap>('bpf_object__find_map_by_name', lib().libbpf.bpf_object__find_map_by_name(obj, name), name);
}

export function bpf_object__find_program_by_name(obj: BpfObject, name: string): BpfProgram {
  return checkPointer<BpfProgram>('bpf_object__find_program_by_name', lib().libbpf.bpf_object__find_program_by_name(obj, name), name);
}

/** The object's maps after `prev` (from the first with null); null after the last. */
export function bpf_object__next_map(obj: BpfObject, prev: BpfMap | null): BpfMap | null {
  return lib().libbpf.bpf_object__next_map(obj, prev) as BpfMap | null;
}

export function bpf_object__next_program(obj: BpfObject, prev: BpfProgram | null): BpfProgram | null {
  return lib().libbpf.bpf_object__next_program(obj, prev) as BpfProgram | null;
}

export function bpf_map__fd(map: BpfMap): number {
  return check('bpf_map__fd', lib().libbpf.bpf_map__fd(map), bpf_map__name(map));
}

export function bpf_map__name(map: BpfMap): string {
  return lib().libbpf.bpf_map__name(map);
}

export function bpf_map__type(map: BpfMap): number {
  return lib().libbpf.bpf_map__type(map);
}

export function bpf_map__key_size(map: BpfMap): number {
  return lib().libbpf.bpf_map__key_size(map);
}

export function bpf_map__value_size(map: BpfMap): number {
  return lib().libbpf.bpf_map__value_size(map);
}

export function bpf_map__max_entries(map: BpfMap): number {
  return lib().libbpf.bpf_map__max_entries(map);
}

/** Before load only: sizes the map to what the policy needs. */
export function bpf_map__set_max_entries(map: BpfMap, maxEntries: number): void {
  check('bpf_map__set_max_entries', lib().libbpf.bpf_map__set_max_entries(map, maxEntries), bpf_map__name(map));
}

export function bpf_map__map_flags(map: BpfMap): number {
  return lib().libbpf.bpf_map__map_flags(map);
}

export function bpf_map__set_map_flags(map: BpfMap, flags: number): void {
  check('bpf_map__set_map_flags', lib().libbpf.bpf_map__set_map_flags(map, flags), bpf_map__name(map));
}

/** Before load: use an existing map (a pinned one, say) instead of creating this one. */
export function bpf_map__reuse_fd(map: BpfMap, fd: number): void {
  check('bpf_map__reuse_fd', lib().libbpf.bpf_map__reuse_fd(map, fd), bpf_map__name(map));
}

/** Before load: pin the map at `path` on load, or reuse what is pinned there already. */
export function bpf_map__set_pin_path(map: BpfMap, path: string | null): void {
  check('bpf_map__set_pin_path', lib().libbpf.bpf_map__set_pin_path(map, path), bpf_map__name(map));
}

export function bpf_map__pin_path(map: BpfMap): string | null {
  return lib().libbpf.bpf_map__pin_path(map);
}

/** After load: pin at `path`, or at the pin path set before when `path` is null. */
export function bpf_map__pin(map: BpfMap, path: string | null): void {
  check('bpf_map__pin', lib().libbpf.bpf_map__pin(map, path), path ?? bpf_map__name(map));
}

export function bpf_map__unpin(map: BpfMap, path: string | null): void {
  check('bpf_map__unpin', lib().libbpf.bpf_map__unpin(map, path), path ?? bpf_map__name(map));
}

/** Before load: the template inner map of a map-in-map declared without one. */
export function bpf_map__set_inner_map_fd(map: BpfMap, fd: number): void {
  check('bpf_map__set_inner_map_fd', lib().libbpf.bpf_map__set_inner_map_fd(map, fd), bpf_map__name(map));
}

export function bpf_program__fd(prog: BpfProgram): number {
  return check('bpf_program__fd', lib().libbpf.bpf_program__fd(prog), bpf_program__name(prog));
}

export function bpf_program__name(prog: BpfProgram): string {
  return lib().libbpf.bpf_program__name(prog);
}

export function bpf_program__set_autoload(prog: BpfProgram, autoload: boolean): void {
  check('bpf_program__set_autoload', lib().libbpf.bpf_program__set_autoload(prog, autoload), bpf_program__name(prog));
}

/** Before load: 0 logs only on failure (with a buffer set), 1 and 2 log always. */
export function bpf_program__set_log_level(prog: BpfProgram, level: number): void {
  check('bpf_program__set_log_level', lib().libbpf.bpf_program__set_log_level(prog, level), bpf_program__name(prog));
}

/**
 * Before load: gives the program a native log buffer of `size` bytes for the verifier, read
 * back by bpf_program__log_buf and attached to a failed bpf_object__load's error. The buffer
 * lives until bpf_object__close of `obj`.
 */
export function bpf_program__set_log_buf(obj: BpfObject, prog: BpfProgram, size = 1 << 20): void {
  const perObject = logBuffers.get(obj) ?? new Map<bigint, { buf: bigint; size: number }>();
  logBuffers.set(obj, perObject);
  const old = perObject.get(prog);
  const buf = koffi.alloc('char', size) as bigint;
  new Uint8Array(koffi.view(buf, size)).fill(0);
  const ret = lib().libbpf.bpf_program__set_log_buf(prog, buf, size);
  if (ret < 0) {
    koffi.free(buf);
    fail('bpf_program__set_log_buf', ret, bpf_program__name(prog));
  }
  if (old) koffi.free(old.buf);
  perObject.set(prog, { buf, size });
}

/** The text in the program's log buffer ('' without one). */
export function bpf_program__log_buf(obj: BpfObject, prog: BpfProgram): string {
  const entry = logBuffers.get(obj)?.get(prog);
  return entry ? (koffi.decode(entry.buf, 'char', -1) as string) : '';
}

export function bpf_program__pin(prog: BpfProgram, path: string): void {
  check('bpf_program__pin', lib().libbpf.bpf_program__pin(prog, path), path);
}

export function bpf_program__unpin(prog: BpfProgram, path: string): void {
  check('bpf_program__unpin', lib().libbpf.bpf_program__unpin(prog, path), path);
}

// ---------------------------------------------------------------------------------------------
// bpf(2) by file descriptor.

export interface MapCreateOptions {
  /** BPF_F flags, for example BPF_F.NO_PREALLOC (LPM tries need it) or BPF_F.INNER_MAP. */
  readonly mapFlags?: number;
  /** For ARRAY_OF_MAPS and HASH_OF_MAPS: a map of the inner maps' shape. */
  readonly innerMapFd?: number;
  readonly numaNode?: number;
  readonly mapExtra?: bigint;
}

/** Creates a map outside any object (an inner map, say); returns its fd. */
export function bpf_map_create(mapType: number, name: string | null, keySize: number, valueSize: number, maxEntries: number, options: MapCreateOptions = {}): number {
  const opts = {
    sz: koffi.sizeof(MapCreateOpts),
    btf_fd: 0,
    btf_key_type_id: 0,
    btf_value_type_id: 0,
    btf_vmlinux_value_type_id: 0,
    inner_map_fd: options.innerMapFd ?? 0,
    map_flags: options.mapFlags ?? 0,
    map_extra: options.mapExtra ?? 0n,
    numa_node: options.numaNode ?? 0,
    map_ifindex: 0,
  };
  return check('bpf_map_create', lib().libbpf.bpf_map_create(mapType, name, keySize, valueSize, maxEntries, opts), name ?? undefined);
}

/** `map seg_rules (fd 12)` for an error, read from the kernel only once a call has failed. */
function describeMapFd(fd: number): string {
  const buf = Buffer.alloc(koffi.sizeof(MapInfoStruct));
  const ret = lib().libbpf.bpf_obj_get_info_by_fd(fd, buf, [buf.length]);
  if (ret < 0) return `fd ${fd}`;
  return `map ${String((koffi.decode(buf, MapInfoStruct) as { name: string }).name)}, fd ${fd}`;
}

/** What user space must pass for one entry of a map: key bytes and value bytes. */
export interface MapShape {
  readonly type: number;
  readonly keySize: number;
  /** The value size as declared (per CPU, for per-CPU maps). */
  readonly valueSize: number;
  /** Bytes of one value in user space: all CPUs' slots for per-CPU maps, a u32 for map-in-maps. */
  readonly valueLength: number;
}

/**
 * The key and value sizes of the map behind `fd`, read from the kernel on every call (an fd
 * number may be closed and reused for another map, so nothing is cached).
 */
export function bpf_map_shape(fd: number): MapShape {
  const buf = shapeInfo;
  shapeInfoLength[0] = buf.length;
  const ret = lib().libbpf.bpf_obj_get_info_by_fd_raw(fd, buf, shapeInfoLength);
  if (ret < 0) fail('bpf_obj_get_info_by_fd', ret, `fd ${fd}`);
  const type = buf.readUInt32LE(MAP_INFO_OFFSETS.type);
  const keySize = buf.readUInt32LE(MAP_INFO_OFFSETS.key_size);
  const valueSize = buf.readUInt32LE(MAP_INFO_OFFSETS.value_size);
  const valueLength = is_percpu_map_type(type) ? percpu_value_size(valueSize) : valueSize;
  return { type, keySize, valueSize, valueLength };
}

const MAP_INFO_OFFSETS = { type: koffi.offsetof(MapInfoStruct, 'type'), key_size: koffi.offsetof(MapInfoStruct, 'key_size'), value_size: koffi.offsetof(MapInfoStruct, 'value_size') };
/** The kernel fills a shorter bpf_map_info up to the length given: enough for the sizes. */
const MAP_INFO_SHAPE_BYTES = koffi.offsetof(MapInfoStruct, 'max_entries');
/** Reused by every size check (calls are synchronous); the kernel writes them during the call only. */
const shapeInfo = Buffer.alloc(MAP_INFO_SHAPE_BYTES);
const shapeInfoLength = new Uint32Array(1);

/**
 * Refuses buffers of the wrong size before the kernel copies `keySize` or `valueLength` bytes
 * to or from them: too short would read or write past the buffer, and a wrong length is
 * always a caller's bug (a per-CPU value given once instead of per CPU, say).
 */
function checkEntry(operation: string, fd: number, key: Uint8Array | null, value: Uint8Array | null, valueAtLeast = false): MapShape {
  const shape = bpf_map_shape(fd);
  if (key !== null && key.length !== shape.keySize) throw new RangeError(`${operation}(${describeMapFd(fd)}): key of ${key.length} bytes, the map's keys have ${shape.keySize}`);
  if (value !== null && (valueAtLeast ? value.length < shape.valueLength : value.length !== shape.valueLength)) {
    const perCpu = is_percpu_map_type(shape.type) ? ` (${shape.valueSize} per CPU, each rounded up to 8, times ${libbpf_num_possible_cpus()} possible CPUs)` : '';
    throw new RangeError(`${operation}(${describeMapFd(fd)}): value of ${value.length} bytes, the map's values have ${shape.valueLength}${perCpu}`);
  }
  return shape;
}

export function bpf_map_update_elem(fd: number, key: Uint8Array, value: Uint8Array, flags: number = BPF_ANY): void {
  checkEntry('bpf_map_update_elem', fd, key, value);
  const ret = lib().libbpf.bpf_map_update_elem(fd, key, value, BigInt(flags));
  if (ret < 0) fail('bpf_map_update_elem', ret, describeMapFd(fd));
}

/**
 * The value stored under `key`; undefined when there is none (ENOENT). Its length is the
 * map's user-space value length (all CPUs' slots for per-CPU maps, see `split_percpu_value`),
 * or `valueLength` when given, which may not be shorter.
 */
export function bpf_map_lookup_elem(fd: number, key: Uint8Array, valueLength?: number, flags = 0): Uint8Array | undefined {
  const shape = checkEntry('bpf_map_lookup_elem', fd, key, null);
  if (valueLength !== undefined && valueLength < shape.valueLength) {
    throw new RangeError(`bpf_map_lookup_elem(${describeMapFd(fd)}): a buffer of ${valueLength} bytes is too short for the map's values of ${shape.valueLength}`);
  }
  const value = Buffer.alloc(valueLength ?? shape.valueLength);
  const ret = flags === 0 ? lib().libbpf.bpf_map_lookup_elem(fd, key, value) : lib().libbpf.bpf_map_lookup_elem_flags(fd, key, value, BigInt(flags));
  if (ret === -constantsErrno('ENOENT')) return undefined;
  if (ret < 0) fail('bpf_map_lookup_elem', ret, describeMapFd(fd));
  return value;
}

/** Deletes `key`; false when it was not there (ENOENT). */
export function bpf_map_delete_elem(fd: number, key: Uint8Array): boolean {
  checkEntry('bpf_map_delete_elem', fd, key, null);
  const ret = lib().libbpf.bpf_map_delete_elem(fd, key);
  if (ret === -constantsErrno('ENOENT')) return false;
  if (ret < 0) fail('bpf_map_delete_elem', ret, describeMapFd(fd));
  return true;
}

/** The key after `key` (the first with null); undefined after the last (ENOENT). */
export function bpf_map_get_next_key(fd: number, key: Uint8Array | null, keySize?: number): Uint8Array | undefined {
  const shape = checkEntry('bpf_map_get_next_key', fd, key, null);
  if (keySize !== undefined && keySize !== shape.keySize) throw new RangeError(`bpf_map_get_next_key(${describeMapFd(fd)}): key size ${keySize}, the map's keys have ${shape.keySize}`);
  const next = Buffer.alloc(shape.keySize);
  const ret = lib().libbpf.bpf_map_get_next_key(fd, key, next);
  if (ret === -constantsErrno('ENOENT')) return undefined;
  if (ret < 0) fail('bpf_map_get_next_key', ret, describeMapFd(fd));
  return next;
}

/** Makes the map read-only for user space from now on. */
export function bpf_map_freeze(fd: number): void {
  const ret = lib().libbpf.bpf_map_freeze(fd);
  if (ret < 0) fail('bpf_map_freeze', ret, describeMapFd(fd));
}

export interface BatchOptions {
  /** Per-element flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK). */
  readonly elemFlags?: number;
  readonly flags?: number;
}

function batchOpts(options: BatchOptions) {
  return { sz: koffi.sizeof(MapBatchOpts), elem_flags: BigInt(options.elemFlags ?? 0), flags: BigInt(options.flags ?? 0) };
}

/** Writes `count` entries from packed `keys` and `values` arrays in one call; returns `count`. */
export function bpf_map_update_batch(fd: number, keys: Uint8Array, values: Uint8Array, count: number, options: BatchOptions = {}): number {
  checkBatch('bpf_map_update_batch', fd, keys, values, count);
  const n = [count];
  const ret = lib().libbpf.bpf_map_update_batch(fd, keys, values, n, batchOpts(options));
  if (ret < 0) fail('bpf_map_update_batch', ret, `${describeMapFd(fd)}, ${n[0]} of ${count} written`);
  return n[0] ?? count;
}

function checkBatch(operation: string, fd: number, keys: Uint8Array, values: Uint8Array | null, count: number): MapShape {
  const shape = bpf_map_shape(fd);
  if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`${operation}: count ${count} is not a whole number`);
  if (keys.length < count * shape.keySize) throw new RangeError(`${operation}(${describeMapFd(fd)}): ${keys.length} key bytes for ${count} keys of ${shape.keySize}`);
  if (values !== null && values.length < count * shape.valueLength) {
    throw new RangeError(`${operation}(${describeMapFd(fd)}): ${values.length} value bytes for ${count} values of ${shape.valueLength}`);
  }
  return shape;
}

export interface LookupBatch {
  /** Packed keys and values of the `count` entries read. */
  readonly keys: Uint8Array;
  readonly values: Uint8Array;
  readonly count: number;
  /** Pass as `inBatch` to read on; null once the map is exhausted. */
  readonly next: Uint8Array | null;
}

/**
 * Reads up to `count` entries, starting after `inBatch` (from the start with null). The batch
 * token is opaque: 4 bytes for hash maps, a key for arrays; `tokenSize` covers both.
 */
export function bpf_map_lookup_batch(fd: number, inBatch: Uint8Array | null, keySize: number, valueLength: number, count: number, options: BatchOptions = {}): LookupBatch {
  const shape = bpf_map_shape(fd);
  if (keySize !== shape.keySize || valueLength !== shape.valueLength) {
    throw new RangeError(`bpf_map_lookup_batch(${describeMapFd(fd)}): entries of ${keySize}+${valueLength} bytes, the map's are ${shape.keySize}+${shape.valueLength}`);
  }
  const tokenSize = Math.max(keySize, 8);
  const outBatch = Buffer.alloc(tokenSize);
  const keys = Buffer.alloc(keySize * count);
  const values = Buffer.alloc(valueLength * count);
  const n = [count];
  const ret = lib().libbpf.bpf_map_lookup_batch(fd, inBatch, outBatch, keys, values, n, batchOpts(options));
  const done = ret === -constantsErrno('ENOENT');
  if (ret < 0 && !done) fail('bpf_map_lookup_batch', ret, describeMapFd(fd));
  const read = n[0] ?? 0;
  return { keys: keys.subarray(0, read * keySize), values: values.subarray(0, read * valueLength), count: read, next: done ? null : outBatch };
}

/** Deletes `count` packed keys in one call; returns how many were deleted. */
export function bpf_map_delete_batch(fd: number, keys: Uint8Array, count: number, options: BatchOptions = {}): number {
  checkBatch('bpf_map_delete_batch', fd, keys, null, count);
  const n = [count];
  const ret = lib().libbpf.bpf_map_delete_batch(fd, keys, n, batchOpts(options));
  if (ret < 0) fail('bpf_map_delete_batch', ret, `${describeMapFd(fd)}, ${n[0]} of ${count} deleted`);
  return n[0] ?? count;
}

export function bpf_obj_pin(fd: number, path: string): void {
  check('bpf_obj_pin', lib().libbpf.bpf_obj_pin(fd, path), path);
}

/** Opens a pinned map, program or link; `fileFlags` BPF_F.RDONLY or WRONLY restrict it. */
export function bpf_obj_get(path: string, fileFlags = 0): number {
  if (fileFlags === 0) return check('bpf_obj_get', lib().libbpf.bpf_obj_get(path), path);
  return check('bpf_obj_get_opts', lib().libbpf.bpf_obj_get_opts(path, { sz: koffi.sizeof(ObjGetOpts), file_flags: fileFlags }), path);
}

export function bpf_prog_get_fd_by_id(id: number): number {
  return check('bpf_prog_get_fd_by_id', lib().libbpf.bpf_prog_get_fd_by_id(id), `id ${id}`);
}

export function bpf_map_get_fd_by_id(id: number): number {
  return check('bpf_map_get_fd_by_id', lib().libbpf.bpf_map_get_fd_by_id(id), `id ${id}`);
}

/** The id of the next loaded program after `start` (0 for the first); undefined at the end. */
export function bpf_prog_get_next_id(start: number): number | undefined {
  const next = [0];
  const ret = lib().libbpf.bpf_prog_get_next_id(start, next);
  if (ret === -constantsErrno('ENOENT')) return undefined;
  check('bpf_prog_get_next_id', ret);
  return next[0];
}

export function bpf_map_get_next_id(start: number): number | undefined {
  const next = [0];
  const ret = lib().libbpf.bpf_map_get_next_id(start, next);
  if (ret === -constantsErrno('ENOENT')) return undefined;
  check('bpf_map_get_next_id', ret);
  return next[0];
}

/** Fills `info` (a bpf_prog_info, bpf_map_info, ...) for `fd`; returns the length written. */
export function bpf_obj_get_info_by_fd(fd: number, info: Uint8Array): number {
  const len = [info.length];
  check('bpf_obj_get_info_by_fd', lib().libbpf.bpf_obj_get_info_by_fd(fd, info, len));
  return len[0] ?? 0;
}

export interface ProgInfo {
  readonly type: number;
  readonly id: number;
  /** The program's tag (hash of its instructions), 16 hex digits. */
  readonly tag: string;
  readonly name: string;
  /** ns since boot. */
  readonly loadTime: bigint;
  readonly createdByUid: number;
  readonly mapIds: readonly number[];
  readonly btfId: number;
  readonly xlatedProgLen: number;
  readonly jitedProgLen: number;
  readonly verifiedInsns: number;
  /** Only counted while kernel.bpf_stats_enabled is 1. */
  readonly runTimeNs: bigint;
  readonly runCnt: bigint;
}

/** libbpf 1.2's bpf_prog_get_info_by_fd, over bpf_obj_get_info_by_fd (libbpf 1.1 lacks it). */
export function bpf_prog_get_info_by_fd(fd: number): ProgInfo {
  const { libbpf } = lib();
  const size = koffi.sizeof(ProgInfoStruct);
  const mapIdCapacity = 64;
  // map_ids is a pointer inside the struct, so it gets stable native memory (see header).
  const mapIdsPtr = koffi.alloc('uint32_t', mapIdCapacity) as bigint;
  const buf = Buffer.alloc(size);
  buf.writeUInt32LE(mapIdCapacity, koffi.offsetof(ProgInfoStruct, 'nr_map_ids'));
  buf.writeBigUInt64LE(mapIdsPtr, koffi.offsetof(ProgInfoStruct, 'map_ids'));
  const len = [size];
  let mapIds: Uint32Array;
  try {
    check('bpf_prog_get_info_by_fd', libbpf.bpf_obj_get_info_by_fd(fd, buf, len));
    mapIds = new Uint32Array(koffi.view(mapIdsPtr, mapIdCapacity * 4).slice(0));
  } finally {
    koffi.free(mapIdsPtr);
  }
  const info = koffi.decode(buf, ProgInfoStruct) as Record<string, unknown>;
  const nrMapIds = Math.min(Number(info.nr_map_ids), mapIdCapacity);
  return {
    type: Number(info.type),
    id: Number(info.id),
    tag: Buffer.from(info.tag as number[]).toString('hex'),
    name: String(info.name),
    loadTime: BigInt(info.load_time as number | bigint),
    createdByUid: Number(info.created_by_uid),
    mapIds: Array.from(mapIds.subarray(0, nrMapIds)),
    btfId: Number(info.btf_id),
    xlatedProgLen: Number(info.xlated_prog_len),
    jitedProgLen: Number(info.jited_prog_len),
    verifiedInsns: Number(info.verified_insns),
    runTimeNs: BigInt(info.run_time_ns as number | bigint),
    runCnt: BigInt(info.run_cnt as number | bigint),
  };
}

export interface MapInfo {
  readonly type: number;
  readonly id: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
}

/** libbpf 1.2's bpf_map_get_info_by_fd, over bpf_obj_get_info_by_fd. */
export function bpf_map_get_info_by_fd(fd: number): MapInfo {
  const buf = Buffer.alloc(koffi.sizeof(MapInfoStruct));
  const len = [buf.length];
  check('bpf_map_get_info_by_fd', lib().libbpf.bpf_obj_get_info_by_fd(fd, buf, len));
  const info = koffi.decode(buf, MapInfoStruct) as Record<string, unknown>;
  return {
    type: Number(info.type),
    id: Number(info.id),
    name: String(info.name),
    keySize: Number(info.key_size),
    valueSize: Number(info.value_size),
    maxEntries: Number(info.max_entries),
    mapFlags: Number(info.map_flags),
  };
}

// ---------------------------------------------------------------------------------------------
// Per-CPU values: user space sees one slot per possible CPU, each rounded up to 8 bytes.

export function is_percpu_map_type(mapType: number): boolean {
  return PERCPU_MAP_TYPES.includes(mapType);
}

/** The buffer length of one per-CPU map value whose per-CPU size is `valueSize`. */
export function percpu_value_size(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8 * libbpf_num_possible_cpus();
}

/** Splits a per-CPU lookup result into one `valueSize`-byte value per CPU. */
export function split_percpu_value(buffer: Uint8Array, valueSize: number): Uint8Array[] {
  const stride = Math.ceil(valueSize / 8) * 8;
  const out: Uint8Array[] = [];
  for (let at = 0; at + valueSize <= buffer.length; at += stride) out.push(buffer.subarray(at, at + valueSize));
  return out;
}

/** Joins one value per possible CPU (or one value for all) into a per-CPU update buffer. */
export function join_percpu_value(values: readonly Uint8Array[] | Uint8Array, valueSize: number): Uint8Array {
  const cpus = libbpf_num_possible_cpus();
  const stride = Math.ceil(valueSize / 8) * 8;
  const buffer = Buffer.alloc(stride * cpus);
  for (let cpu = 0; cpu < cpus; cpu++) {
    const value = values instanceof Uint8Array ? values : values[cpu];
    if (value === undefined) throw new RangeError(`per-CPU value for CPU ${cpu} missing: give ${cpus} values or one for all`);
    if (value.length !== valueSize) throw new RangeError(`per-CPU value of ${value.length} bytes, expected ${valueSize}`);
    buffer.set(value, cpu * stride);
  }
  return buffer;
}

// ---------------------------------------------------------------------------------------------
// BPF_PROG_TEST_RUN.

/** The `struct __sk_buff` fields, as test runs take and return them. */
export interface SkBuff {
  len: number;
  pkt_type: number;
  mark: number;
  queue_mapping: number;
  protocol: number;
  vlan_present: number;
  vlan_tci: number;
  vlan_proto: number;
  priority: number;
  ingress_ifindex: number;
  ifindex: number;
  tc_index: number;
  cb: number[];
  hash: number;
  tc_classid: number;
  data: number;
  data_end: number;
  napi_id: number;
  family: number;
  remote_ip4: number;
  local_ip4: number;
  remote_ip6: number[];
  local_ip6: number[];
  remote_port: number;
  local_port: number;
  data_meta: number;
  flow_keys: bigint;
  tstamp: bigint;
  wire_len: number;
  gso_segs: number;
  sk: bigint;
  gso_size: number;
  tstamp_type: number;
  hwtstamp: bigint;
}

/**
 * The fields a test run may set in `ctx_in` for a TC program (the kernel's
 * convert___skb_to_skb refuses others that are not zero).
 */
export type SkBuffIn = Partial<Pick<SkBuff, 'mark' | 'priority' | 'ingress_ifindex' | 'ifindex' | 'cb' | 'tstamp' | 'wire_len' | 'gso_segs' | 'gso_size' | 'hwtstamp'>>;

/** Offsets and kinds of the `__sk_buff` members, to read and write them in place. */
const SKBUFF_FIELDS = Object.entries(SkBuffStruct.members ?? {})
  .filter(([name]) => !name.startsWith('_'))
  .map(([name, member]) => ({
    name,
    offset: member.offset,
    kind: member.type.primitive === 'Array' ? ('u32[]' as const) : member.type.size === 8 ? ('u64' as const) : member.type.size === 1 ? ('u8' as const) : ('u32' as const),
    length: member.type.length ?? 1,
  }));

function writeSkBuff(view: DataView, fields: SkBuffIn): void {
  for (let i = 0; i < view.byteLength; i++) view.setUint8(i, 0);
  for (const field of SKBUFF_FIELDS) {
    const value = (fields as Record<string, unknown>)[field.name];
    if (value === undefined) continue;
    if (field.kind === 'u32[]') {
      const values = value as readonly number[];
      if (values.length > field.length) throw new RangeError(`__sk_buff.${field.name} has ${field.length} words, got ${values.length}`);
      values.forEach((v, j) => view.setUint32(field.offset + 4 * j, v >>> 0, true));
    } else if (field.kind === 'u64') view.setBigUint64(field.offset, BigInt(value as bigint | number), true);
    else if (field.kind === 'u8') view.setUint8(field.offset, value as number);
    else view.setUint32(field.offset, (value as number) >>> 0, true);
  }
}

function readSkBuff(view: DataView): SkBuff {
  const out: Record<string, unknown> = {};
  for (const field of SKBUFF_FIELDS) {
    if (field.kind === 'u32[]') out[field.name] = Array.from({ length: field.length }, (_, j) => view.getUint32(field.offset + 4 * j, true));
    else if (field.kind === 'u64') out[field.name] = view.getBigUint64(field.offset, true);
    else if (field.kind === 'u8') out[field.name] = view.getUint8(field.offset);
    else out[field.name] = view.getUint32(field.offset, true);
  }
  return out as unknown as SkBuff;
}

/**
 * Native scratch memory of test runs, kept between calls (runs are synchronous, so one set
 * serves all) and grown on demand: allocating per packet cost more than the run itself.
 */
interface Scratch {
  ptr: bigint;
  size: number;
  view: DataView;
}

const testRunScratch: Record<'opts' | 'dataIn' | 'dataOut' | 'ctxIn' | 'ctxOut', Scratch | undefined> = { opts: undefined, dataIn: undefined, dataOut: undefined, ctxIn: undefined, ctxOut: undefined };

function scratch(slot: keyof typeof testRunScratch, size: number): Scratch {
  const current = testRunScratch[slot];
  if (current && current.size >= size) return current;
  if (current) koffi.free(current.ptr);
  const grown = Math.max(size, 64, (current?.size ?? 0) * 2);
  const ptr = koffi.alloc('uint8_t', grown) as bigint;
  const next = { ptr, size: grown, view: new DataView(koffi.view(ptr, grown)) };
  testRunScratch[slot] = next;
  return next;
}

const TEST_RUN_FIELDS = ['sz', 'data_in', 'data_out', 'data_size_in', 'data_size_out', 'ctx_in', 'ctx_out', 'ctx_size_in', 'ctx_size_out', 'retval', 'repeat', 'duration', 'flags', 'cpu'] as const;
const TEST_RUN = {
  size: koffi.sizeof(TestRunOpts),
  offset: Object.fromEntries(TEST_RUN_FIELDS.map((name) => [name, koffi.offsetof(TestRunOpts, name)])) as Record<(typeof TEST_RUN_FIELDS)[number], number>,
};

export interface TestRunOptions {
  /** The frame, from the Ethernet header on. */
  readonly data: Uint8Array;
  /** Room for the frame the program leaves (default: input length + 256). */
  readonly dataSizeOut?: number;
  /** Context in; omit to let the kernel build a default `__sk_buff`. */
  readonly ctx?: SkBuffIn;
  /** Read the context back (mark, priority, cb[], tc_index, ...). Default true. */
  readonly ctxOut?: boolean;
  /** Runs of the same packet; `duration` is their average. Default 1. */
  readonly repeat?: number;
  /** Run on this CPU (sets BPF_F_TEST_RUN_ON_CPU); the kernel accepts it for raw tracepoints only, not TC. */
  readonly cpu?: number;
}

export interface TestRunResult {
  /** The program's return value (TC_ACT_*: -1 as 0xffffffff is given back as -1). */
  readonly retval: number;
  /** Average ns per run, as the kernel measured. */
  readonly duration: number;
  readonly data: Uint8Array;
  readonly ctx: SkBuff | undefined;
}

/** Runs the program on one packet in the kernel, without a device (BPF_PROG_TEST_RUN). */
export function bpf_prog_test_run_opts(progFd: number, options: TestRunOptions): TestRunResult {
  const { libbpf } = lib();
  const ctxSize = koffi.sizeof(SkBuffStruct);
  const dataSizeOut = options.dataSizeOut ?? options.data.length + 256;
  const wantCtx = options.ctxOut ?? true;
  // The opts struct holds pointers, so it and its buffers live in native memory (see header).
  const opts = scratch('opts', TEST_RUN.size);
  const dataIn = scratch('dataIn', options.data.length);
  const dataOut = scratch('dataOut', dataSizeOut);
  const ctxIn = scratch('ctxIn', ctxSize);
  const ctxOut = scratch('ctxOut', ctxSize);
  new Uint8Array(dataIn.view.buffer, 0, options.data.length).set(options.data);
  if (options.ctx) writeSkBuff(new DataView(ctxIn.view.buffer, 0, ctxSize), options.ctx);
  if (wantCtx) new Uint8Array(ctxOut.view.buffer, 0, ctxSize).fill(0);

  const o = TEST_RUN.offset;
  const v = opts.view;
  new Uint8Array(v.buffer, 0, TEST_RUN.size).fill(0);
  v.setBigUint64(o.sz, BigInt(TEST_RUN.size), true);
  v.setBigUint64(o.data_in, dataIn.ptr, true);
  v.setBigUint64(o.data_out, dataOut.ptr, true);
  v.setUint32(o.data_size_in, options.data.length, true);
  v.setUint32(o.data_size_out, dataSizeOut, true);
  if (options.ctx) {
    v.setBigUint64(o.ctx_in, ctxIn.ptr, true);
    v.setUint32(o.ctx_size_in, ctxSize, true);
  }
  if (wantCtx) {
    v.setBigUint64(o.ctx_out, ctxOut.ptr, true);
    v.setUint32(o.ctx_size_out, ctxSize, true);
  }
  v.setInt32(o.repeat, options.repeat ?? 1, true);
  if (options.cpu !== undefined) {
    v.setUint32(o.flags, BPF_F_TEST_RUN_ON_CPU, true);
    v.setUint32(o.cpu, options.cpu, true);
  }
  check('bpf_prog_test_run_opts', libbpf.bpf_prog_test_run_opts(progFd, opts.ptr));
  const outLength = Math.min(v.getUint32(o.data_size_out, true), dataSizeOut);
  return {
    retval: v.getInt32(o.retval, true),
    duration: v.getUint32(o.duration, true),
    data: Buffer.from(new Uint8Array(dataOut.view.buffer, 0, outLength)),
    ctx: wantCtx ? readSkBuff(new DataView(ctxOut.view.buffer, 0, ctxSize)) : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// BPF links.

/**
 * Attaches `progFd` through a BPF link (for TCX, `target` is the ifindex in this thread's
 * network namespace); returns the link fd. The attachment lasts while the link fd is open or
 * pinned.
 */
export function bpf_link_create(progFd: number, target: number, attachType: number): number {
  return check('bpf_link_create', lib().libbpf.bpf_link_create(progFd, target, attachType, null), `target ${target}, attach type ${attachType}`);
}

/** Swaps the link's program in one step; with `oldProgFd`, only if that one still runs. */
export function bpf_link_update(linkFd: number, newProgFd: number, options: { readonly oldProgFd?: number } = {}): void {
  const opts = { sz: koffi.sizeof(LinkUpdateOpts), flags: options.oldProgFd === undefined ? 0 : BPF_F_REPLACE, old_prog_fd: options.oldProgFd ?? 0 };
  check('bpf_link_update', lib().libbpf.bpf_link_update(linkFd, newProgFd, opts), `link fd ${linkFd}`);
}

/** Detaches the link's program now, whoever else holds the link. */
export function bpf_link_detach(linkFd: number): void {
  check('bpf_link_detach', lib().libbpf.bpf_link_detach(linkFd), `link fd ${linkFd}`);
}

export function bpf_link_get_fd_by_id(id: number): number {
  return check('bpf_link_get_fd_by_id', lib().libbpf.bpf_link_get_fd_by_id(id), `id ${id}`);
}

export interface LinkInfo {
  readonly type: number;
  readonly id: number;
  readonly progId: number;
  /** For TCX links; `ifindex` is 0 once the link is detached. */
  readonly tcx?: { readonly ifindex: number; readonly attachType: number };
}

/** libbpf 1.2's bpf_link_get_info_by_fd, over bpf_obj_get_info_by_fd. */
export function bpf_link_get_info_by_fd(fd: number): LinkInfo {
  // struct bpf_link_info: type, id, prog_id, then a union aligned to 8 (tcx: ifindex,
  // attach_type). libbpf 1.1's headers predate the tcx member, so it is read by offset.
  const buf = Buffer.alloc(128);
  const len = [buf.length];
  check('bpf_link_get_info_by_fd', lib().libbpf.bpf_obj_get_info_by_fd(fd, buf, len));
  const type = buf.readUInt32LE(0);
  const info = { type, id: buf.readUInt32LE(4), progId: buf.readUInt32LE(8) };
  return type === BPF_LINK_TYPE_TCX ? { ...info, tcx: { ifindex: buf.readUInt32LE(16), attachType: buf.readUInt32LE(20) } } : info;
}

/** The ids of the programs attached at `target` for `attachType` (TCX: by ifindex), in order. */
export function bpf_prog_query(target: number, attachType: number, maxPrograms = 64): number[] {
  const ids = new Uint32Array(maxPrograms);
  const count = [maxPrograms];
  check('bpf_prog_query', lib().libbpf.bpf_prog_query(target, attachType, 0, [0], ids, count), `target ${target}, attach type ${attachType}`);
  return Array.from(ids.subarray(0, Math.min(count[0] ?? 0, maxPrograms)));
}

// ---------------------------------------------------------------------------------------------
// TC (clsact) through libbpf's netlink helpers.

export interface TcHookSpec {
  readonly ifindex: number;
  /** BPF_TC_INGRESS, BPF_TC_EGRESS, both OR-ed (create/destroy only), or BPF_TC_CUSTOM. */
  readonly attachPoint: number;
  /** For BPF_TC_CUSTOM: the parent qdisc handle. */
  readonly parent?: number;
}

export interface TcOptions {
  readonly progFd?: number;
  /** BPF_TC_F_REPLACE swaps the program of an existing (handle, priority) atomically. */
  readonly flags?: number;
  readonly handle?: number;
  readonly priority?: number;
}

export interface TcAttached {
  readonly progId: number;
  readonly handle: number;
  readonly priority: number;
}

function tcHook(spec: TcHookSpec) {
  return { sz: koffi.sizeof(TcHook), ifindex: spec.ifindex, attach_point: spec.attachPoint, parent: spec.parent ?? 0 };
}

function tcOpts(options: TcOptions) {
  return { sz: koffi.sizeof(TcOpts), prog_fd: options.progFd ?? 0, flags: options.flags ?? 0, prog_id: 0, handle: options.handle ?? 0, priority: options.priority ?? 0 };
}

/** Adds the clsact qdisc; fails with EEXIST when the interface has one already. */
export function bpf_tc_hook_create(spec: TcHookSpec): void {
  check('bpf_tc_hook_create', lib().libbpf.bpf_tc_hook_create(tcHook(spec)), `ifindex ${spec.ifindex}`);
}

/** With BPF_TC_INGRESS | BPF_TC_EGRESS removes the clsact qdisc and every filter on it. */
export function bpf_tc_hook_destroy(spec: TcHookSpec): void {
  check('bpf_tc_hook_destroy', lib().libbpf.bpf_tc_hook_destroy(tcHook(spec)), `ifindex ${spec.ifindex}`);
}

/** Attaches a direct-action filter; returns what the kernel chose for handle and priority. */
export function bpf_tc_attach(spec: TcHookSpec, options: TcOptions): TcAttached {
  const opts = tcOpts(options);
  check('bpf_tc_attach', lib().libbpf.bpf_tc_attach(tcHook(spec), opts), `ifindex ${spec.ifindex}`);
  return { progId: opts.prog_id, handle: opts.handle, priority: opts.priority };
}

/** Removes the filter (`handle`, `priority` required; no prog fd, flags or id). */
export function bpf_tc_detach(spec: TcHookSpec, options: Pick<TcOptions, 'handle' | 'priority'>): void {
  check('bpf_tc_detach', lib().libbpf.bpf_tc_detach(tcHook(spec), tcOpts(options)), `ifindex ${spec.ifindex}`);
}

/** The program attached at (`handle`, `priority`); undefined when there is none (ENOENT). */
export function bpf_tc_query(spec: TcHookSpec, options: Pick<TcOptions, 'handle' | 'priority'>): TcAttached | undefined {
  const opts = tcOpts(options);
  const ret = lib().libbpf.bpf_tc_query(tcHook(spec), opts);
  if (ret === -constantsErrno('ENOENT')) return undefined;
  check('bpf_tc_query', ret, `ifindex ${spec.ifindex}`);
  return { progId: opts.prog_id, handle: opts.handle, priority: opts.priority };
}

// ---------------------------------------------------------------------------------------------
// libc.

/** close(2) of a BPF fd (maps, programs, pins opened with bpf_obj_get). */
export function close(fd: number): void {
  check('close', lib().libc.close(fd), `fd ${fd}`);
}

/** flock(2) operations (sys/file.h). */
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/**
 * flock(2) on an open descriptor. With LOCK_NB, returns false when another open file
 * description holds a conflicting lock (EWOULDBLOCK); every other failure throws.
 */
export function flock(fd: number, operation: number): boolean {
  const ret = lib().libc.flock(fd, operation);
  if (ret === 0) return true;
  const errno = koffi.errno();
  if (errno === constantsErrno('EWOULDBLOCK') || errno === constantsErrno('EAGAIN')) return false;
  fail('flock', errno || 1, `fd ${fd}`);
}

export function strerror(errno: number): string {
  return lib().libc.strerror(errno);
}

/** The index of a network interface in the caller's namespace; BpfError ENODEV when none. */
export function if_nametoindex(name: string): number {
  const index = lib().libc.if_nametoindex(name);
  if (index === 0) fail('if_nametoindex', koffi.errno() || constantsErrno('ENODEV'), name);
  return index;
}

/** The name of interface `index`, or undefined when there is none. */
export function if_indextoname(index: number): string | undefined {
  const buf = Buffer.alloc(16);
  const ret = lib().libc.if_indextoname(index, buf);
  if (ret === null) return undefined;
  return buf.toString('utf8', 0, buf.indexOf(0) < 0 ? 16 : buf.indexOf(0));
}

/** CLONE_NEWNET, the namespace type of setns(2) for network namespaces. */
export const CLONE_NEWNET = 0x40000000;

/**
 * setns(2): moves the calling thread (Node's main thread, for these synchronous calls) into
 * the namespace `fd` refers to; netlink sockets opened afterwards (bpf_tc_*) live there.
 */
export function setns(fd: number, nstype: number): void {
  check('setns', lib().libc.setns(fd, nstype), `fd ${fd}`);
}

/** mount(2), with no mount data. */
export function mount(source: string, target: string, fsType: string, flags = 0): void {
  check('mount', lib().libc.mount(source, target, fsType, flags, null), target);
}
