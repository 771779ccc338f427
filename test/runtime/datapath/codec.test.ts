import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ABI_STRUCTS, type FieldLayout, type StructLayout } from '../../../runtime/datapath/abi.ts';
import { decode, decodePerCpu, encode, encodeU32, decodeU32, perCpuStride, type FieldValue } from '../../../runtime/datapath/codec.ts';

const OBJECT = 'bpf/build/segc.bpf.o';

interface BtfType {
  readonly id: number;
  readonly kind: string;
  readonly name?: string;
  readonly size?: number;
  readonly type_id?: number;
  readonly nr_elems?: number;
  readonly members?: readonly { name: string; type_id: number; bits_offset: number }[];
}

function btfTypes(): Map<number, BtfType> | undefined {
  if (!existsSync(OBJECT)) return undefined;
  try {
    const json = JSON.parse(execFileSync('bpftool', ['btf', 'dump', 'file', OBJECT, 'format', 'raw', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { types: BtfType[] };
    return new Map(json.types.map((t) => [t.id, t]));
  } catch {
    return undefined;
  }
}

const types = btfTypes();

/** A member's offset, element size and count straight from BTF (not from the generated file). */
function btfMember(structName: string, member: string): { offset: number; elem: number; count: number } {
  const all = [...(types as Map<number, BtfType>).values()];
  const s = all.find((t) => t.kind === 'STRUCT' && t.name === structName);
  const m = s?.members?.find((x) => x.name === member);
  if (!s || !m) throw new Error(`${structName}.${member} not in BTF`);
  let t = types?.get(m.type_id);
  while (t && (t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE')) t = types?.get(t.type_id ?? 0);
  // A nested struct, or an array of them, is its bytes (scripts/gen-abi.ts).
  if (t?.kind === 'STRUCT') return { offset: m.bits_offset / 8, elem: 1, count: t.size ?? 0 };
  if (t?.kind === 'ARRAY') {
    let e = types?.get(t.type_id ?? 0);
    while (e && e.kind === 'TYPEDEF') e = types?.get(e.type_id ?? 0);
    if (e?.kind === 'STRUCT') return { offset: m.bits_offset / 8, elem: 1, count: (t.nr_elems ?? 0) * (e.size ?? 0) };
    return { offset: m.bits_offset / 8, elem: e?.size ?? 0, count: t.nr_elems ?? 0 };
  }
  return { offset: m.bits_offset / 8, elem: t?.size ?? 0, count: 1 };
}

function fieldArbitrary(f: FieldLayout): fc.Arbitrary<FieldValue> {
  const scalar = (width: number): fc.Arbitrary<number | bigint> =>
    width === 8 ? fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) : fc.integer({ min: 0, max: 2 ** (8 * width) - 1 });
  switch (f.type) {
    case 'bytes':
      return fc.uint8Array({ minLength: f.count, maxLength: f.count });
    case 'u64[]':
      return fc.array(scalar(8) as fc.Arbitrary<bigint>, { minLength: f.count, maxLength: f.count });
    case 'u16[]':
    case 'u32[]':
      return fc.array(scalar(f.size / f.count) as fc.Arbitrary<number>, { minLength: f.count, maxLength: f.count });
    default:
      return scalar(f.size);
  }
}

function valueArbitrary(layout: StructLayout): fc.Arbitrary<Record<string, FieldValue>> {
  const fields = layout.fields as Readonly<Record<string, FieldLayout>>;
  return fc.record(Object.fromEntries(Object.entries(fields).map(([name, f]) => [name, fieldArbitrary(f)])));
}

/** Reads element `i` of a member straight from the bytes, little-endian, by BTF's offsets. */
function readLe(bytes: Uint8Array, at: number, width: number): bigint {
  let v = 0n;
  for (let b = width - 1; b >= 0; b--) v = (v << 8n) | BigInt(bytes[at + b] ?? 0);
  return v;
}

describe('the codec', () => {
  it.skipIf(!types).each(Object.keys(ABI_STRUCTS))('struct %s: encode puts every member at its BTF offset, and decode gives back what was encoded', (name) => {
    const layout = ABI_STRUCTS[name as keyof typeof ABI_STRUCTS] as StructLayout;
    fc.assert(
      fc.property(valueArbitrary(layout), (value) => {
        const bytes = encode(layout, value);
        expect(bytes.byteLength).toBe(layout.size);
        for (const [member, v] of Object.entries(value)) {
          const btf = btfMember(name, member);
          const items: readonly (number | bigint)[] = v instanceof Uint8Array ? [...v] : Array.isArray(v) ? (v as readonly (number | bigint)[]) : [v as number | bigint];
          expect(items.length).toBe(btf.count);
          items.forEach((item, i) => expect(readLe(bytes, btf.offset + i * btf.elem, btf.elem)).toBe(BigInt(item)));
        }
        expect(decode(layout, bytes)).toEqual(value);
      }),
      { numRuns: 50 },
    );
  });

  it('members left out encode as zero, and unknown members are refused', () => {
    const layout = ABI_STRUCTS.seg_session;
    const bytes = encode(layout, { packets: 7n });
    expect(decode(layout, bytes)).toMatchObject({ packets: 7n, bytes: 0n, rule_id: 0, state: 0 });
    expect(() => encode(layout as StructLayout, { nonsense: 1 })).toThrow(/no member nonsense/);
  });

  it('decodes a struct inside a larger buffer and refuses a short one', () => {
    const layout = ABI_STRUCTS.seg_counter;
    const buf = new Uint8Array(40);
    encode(layout, { packets: 3n, bytes: 4n }, buf, 16);
    expect(decode(layout, buf, 16)).toEqual({ packets: 3n, bytes: 4n });
    expect(() => decode(layout, buf, 30)).toThrow(RangeError);
  });

  it('splits per-CPU values on their 8-byte stride', () => {
    const layout = ABI_STRUCTS.seg_counter;
    const stride = perCpuStride(layout);
    const buf = new Uint8Array(stride * 3);
    [1n, 2n, 3n].forEach((n, c) => encode(layout, { packets: n, bytes: n * 10n }, buf, c * stride));
    expect(decodePerCpu(layout, buf, 3).map((c) => c.bytes)).toEqual([10n, 20n, 30n]);
    expect(decodeU32(encodeU32(0xfffffffe))).toBe(0xfffffffe);
  });
});
