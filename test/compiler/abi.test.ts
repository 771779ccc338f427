import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ABI_ENUMS, ABI_STRUCTS } from '../../compiler/abi.ts';

const OBJECT = 'bpf/build/segc.bpf.o';

interface BtfType {
  readonly id: number;
  readonly kind: string;
  readonly name?: string;
  readonly size?: number;
  readonly type_id?: number;
  readonly nr_elems?: number;
  readonly members?: readonly { name: string; type_id: number; bits_offset: number }[];
  readonly values?: readonly { name: string; val: number }[];
}

function hasBpftool(): boolean {
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = existsSync(OBJECT) && hasBpftool();

function loadBtf(): Map<number, BtfType> {
  const json = JSON.parse(execFileSync('bpftool', ['btf', 'dump', 'file', OBJECT, 'format', 'raw', '-j'], { encoding: 'utf8' })) as {
    types: BtfType[];
  };
  return new Map(json.types.map((t) => [t.id, t]));
}

function sizeOf(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id);
  if (!t) throw new Error(`BTF type ${id} missing`);
  switch (t.kind) {
    case 'INT':
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
      return t.size ?? 0;
    case 'ARRAY':
      return (t.nr_elems ?? 0) * sizeOf(types, t.type_id ?? 0);
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
      return sizeOf(types, t.type_id ?? 0);
    default:
      throw new Error(`cannot size BTF kind ${t.kind}`);
  }
}

describe.skipIf(!available)('abi.ts against the BTF of bpf/build/segc.bpf.o', () => {
  const types = available ? loadBtf() : new Map<number, BtfType>();
  const named = (kind: string, name: string) => [...types.values()].find((t) => t.kind === kind && t.name === name);

  it.each(Object.entries(ABI_STRUCTS))('struct %s has the size and member offsets abi.ts gives', (name, layout) => {
    const t = named('STRUCT', name);
    expect(t, `struct ${name} is not in the object's BTF`).toBeDefined();
    expect(t?.size).toBe(layout.size);
    const members = Object.fromEntries((t?.members ?? []).map((m) => [m.name, { offset: m.bits_offset / 8, size: sizeOf(types, m.type_id) }]));
    expect(members).toEqual(layout.fields);
  });

  it.each(Object.entries(ABI_ENUMS))('enum %s has the values abi.ts gives', (name, values) => {
    const t = named('ENUM', name);
    expect(t, `enum ${name} is not in the object's BTF`).toBeDefined();
    expect(Object.fromEntries((t?.values ?? []).map((v) => [v.name, v.val]))).toEqual(values);
  });
});
