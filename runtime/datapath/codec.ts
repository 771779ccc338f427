// The kernel contract's codec: the one place that turns map keys and values into bytes and back,
// by the layouts generated from the object's BTF (abi.ts). Scalars are little-endian (the
// kernel's order on every host segc runs on); u64 members decode to bigint, byte arrays to a
// copy, scalar arrays to arrays. Fields missing from a value encode as zero.
import type { FieldLayout, StructLayout } from './abi.ts';

/** A decoded member: number (u8/u16/u32), bigint (u64), bytes, or an array of scalars. */
export type FieldValue = number | bigint | Uint8Array | readonly number[] | readonly bigint[];

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readScalar(v: DataView, type: 'u8' | 'u16' | 'u32' | 'u64', at: number): number | bigint {
  switch (type) {
    case 'u8':
      return v.getUint8(at);
    case 'u16':
      return v.getUint16(at, true);
    case 'u32':
      return v.getUint32(at, true);
    case 'u64':
      return v.getBigUint64(at, true);
  }
}

function writeScalar(v: DataView, type: 'u8' | 'u16' | 'u32' | 'u64', at: number, value: number | bigint): void {
  switch (type) {
    case 'u8':
      v.setUint8(at, Number(value));
      return;
    case 'u16':
      v.setUint16(at, Number(value), true);
      return;
    case 'u32':
      v.setUint32(at, Number(value) >>> 0, true);
      return;
    case 'u64':
      v.setBigUint64(at, BigInt(value), true);
      return;
  }
}

function elementType(field: FieldLayout): 'u8' | 'u16' | 'u32' | 'u64' {
  switch (field.type) {
    case 'bytes':
      return 'u8';
    case 'u16[]':
      return 'u16';
    case 'u32[]':
      return 'u32';
    case 'u64[]':
      return 'u64';
    default:
      return field.type;
  }
}

/** One member of the struct that starts at `at` in `bytes`. */
export function decodeField(field: FieldLayout, bytes: Uint8Array, at = 0): FieldValue {
  const start = at + field.offset;
  if (field.type === 'bytes') return bytes.slice(start, start + field.size);
  const v = view(bytes);
  if (field.count === 1 && !field.type.endsWith('[]')) return readScalar(v, elementType(field), start);
  const type = elementType(field);
  const width = field.size / field.count;
  const out: (number | bigint)[] = [];
  for (let i = 0; i < field.count; i++) out.push(readScalar(v, type, start + i * width));
  return out as readonly number[] | readonly bigint[];
}

/** Writes one member of the struct that starts at `at` in `bytes`. */
export function encodeField(field: FieldLayout, bytes: Uint8Array, value: FieldValue, at = 0): void {
  const start = at + field.offset;
  if (field.type === 'bytes') {
    const src = value as Uint8Array;
    bytes.fill(0, start, start + field.size);
    bytes.set(src.subarray(0, field.size), start);
    return;
  }
  const v = view(bytes);
  const type = elementType(field);
  if (!field.type.endsWith('[]')) {
    writeScalar(v, type, start, value as number | bigint);
    return;
  }
  const items = value as readonly (number | bigint)[];
  const width = field.size / field.count;
  for (let i = 0; i < field.count; i++) writeScalar(v, type, start + i * width, items[i] ?? 0);
}

/** The struct that starts at `at` in `bytes`, every member decoded. */
export function decode<T>(layout: StructLayout<T>, bytes: Uint8Array, at = 0): T {
  if (bytes.byteLength < at + layout.size) throw new RangeError(`${layout.name} needs ${layout.size} bytes at ${at}; ${bytes.byteLength} given`);
  const out: Record<string, FieldValue> = {};
  for (const [name, field] of Object.entries(layout.fields) as [string, FieldLayout][]) out[name] = decodeField(field, bytes, at);
  return out as T;
}

/** `value` in `layout`'s bytes (into `target` at `at` when given); missing members are zero. */
export function encode<T>(layout: StructLayout<T>, value: Partial<T>, target?: Uint8Array, at = 0): Uint8Array {
  const bytes = target ?? new Uint8Array(layout.size);
  if (target) bytes.fill(0, at, at + layout.size);
  const fields = layout.fields as Readonly<Record<string, FieldLayout>>;
  for (const [name, member] of Object.entries(value as Record<string, FieldValue | undefined>)) {
    const field = fields[name];
    if (field === undefined) throw new Error(`${layout.name} has no member ${name}`);
    if (member !== undefined) encodeField(field, bytes, member, at);
  }
  return bytes;
}

/** A per-CPU value as the kernel hands it: one struct per possible CPU, each 8-byte aligned. */
export function decodePerCpu<T>(layout: StructLayout<T>, bytes: Uint8Array, cpus: number): T[] {
  const stride = perCpuStride(layout);
  return Array.from({ length: cpus }, (_, c) => decode(layout, bytes, c * stride));
}

/** Bytes of one CPU's share of a per-CPU value. */
export function perCpuStride(layout: StructLayout<unknown>): number {
  return Math.ceil(layout.size / 8) * 8;
}

/** A u32 map key or value (array indexes, map ids in outer maps). */
export function encodeU32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, n >>> 0, true);
  return b;
}

export function decodeU32(bytes: Uint8Array, at = 0): number {
  return view(bytes).getUint32(at, true);
}

/** `count` consecutive u32 keys from `first` (an array map's batch of indexes). */
export function encodeU32Range(first: number, count: number): Uint8Array {
  const keys = new Uint8Array(count * 4);
  const v = view(keys);
  for (let i = 0; i < count; i++) v.setUint32(i * 4, first + i, true);
  return keys;
}
