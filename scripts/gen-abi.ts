// Generates the TypeScript side of the kernel contract from the BTF of the built classifier
// (bpf/build/segc.bpf.o, read with `bpftool btf dump -j`): runtime/datapath/abi.ts (every enum,
// struct layout and map of bpf/segc_abi.h and bpf/lib/maps.h) and compiler/policy-abi.ts (the
// part a policy image is made of: limits, verdicts, the slot tables' layouts). `make bpf` runs
// it after building the object; test/runtime/datapath/abi.test.ts fails when either is stale.
//
//   node scripts/gen-abi.ts [--check] [OBJECT]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface BtfType {
  readonly id: number;
  readonly kind: string;
  readonly name?: string;
  readonly size?: number;
  readonly type_id?: number;
  readonly nr_elems?: number;
  readonly encoding?: string;
  readonly members?: readonly { readonly name: string; readonly type_id: number; readonly bits_offset: number }[];
  readonly values?: readonly { readonly name: string; readonly val: bigint }[];
  readonly vars?: readonly { readonly type_id: number }[];
}

export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'bytes' | 'u16[]' | 'u32[]' | 'u64[]';

export interface GenField {
  readonly offset: number;
  readonly size: number;
  readonly type: FieldType;
  readonly count: number;
}

export interface GenStruct {
  readonly name: string;
  readonly size: number;
  readonly fields: Readonly<Record<string, GenField>>;
}

export interface GenMap {
  readonly name: string;
  readonly type: string;
  readonly key: string;
  readonly value: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
}

export interface GenAbi {
  readonly enums: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly structs: Readonly<Record<string, GenStruct>>;
  readonly maps: Readonly<Record<string, GenMap>>;
}

/** Map types by their number in enum bpf_map_type (the ones a classifier may declare). */
const MAP_TYPES: Readonly<Record<number, string>> = {
  1: 'HASH',
  2: 'ARRAY',
  5: 'PERCPU_HASH',
  6: 'PERCPU_ARRAY',
  9: 'LRU_HASH',
  10: 'LRU_PERCPU_HASH',
  11: 'LPM_TRIE',
  12: 'ARRAY_OF_MAPS',
  13: 'HASH_OF_MAPS',
  27: 'RINGBUF',
};

/** Maps that are the object's own business: not pinned, never read by TypeScript. */
export const PRIVATE_MAPS: readonly string[] = ['seg_abi', 'seg_clock'];

/** What compiler/policy-abi.ts takes: the policy image's part of the contract. */
const POLICY_ENUMS = ['seg_limits', 'seg_rule_id', 'seg_verdict', 'seg_dir', 'seg_family', 'seg_field'];
const POLICY_STRUCTS = ['seg_policy_meta', 'seg_prefix_key', 'seg_l4_rows', 'seg_dir_rows', 'seg_chunk', 'seg_rule_info'];

export function readBtf(objectPath: string): Map<number, BtfType> {
  const text = execFileSync('bpftool', ['btf', 'dump', 'file', objectPath, 'format', 'raw', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  // Enum values as exact integers: bpftool prints an unsigned 0xffffffff enumerator as the
  // 64-bit 18446744073709551615, which a double cannot hold.
  const reviver = (key: string, value: unknown, context?: { source?: string }): unknown => (key === 'val' && context?.source !== undefined ? BigInt(context.source) : value);
  const json = JSON.parse(text, reviver as (key: string, value: unknown) => unknown) as { types: BtfType[] };
  return new Map(json.types.map((t) => [t.id, t]));
}

function typeOf(types: Map<number, BtfType>, id: number): BtfType {
  const t = types.get(id);
  if (!t) throw new Error(`BTF type ${id} is missing`);
  return t;
}

/** Follows typedefs and qualifiers. */
function resolve(types: Map<number, BtfType>, id: number): BtfType {
  let t = typeOf(types, id);
  while (t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE') t = typeOf(types, t.type_id ?? 0);
  return t;
}

function scalarName(size: number): 'u8' | 'u16' | 'u32' | 'u64' {
  if (size === 1) return 'u8';
  if (size === 2) return 'u16';
  if (size === 4) return 'u32';
  if (size === 8) return 'u64';
  throw new Error(`no scalar of ${size} bytes`);
}

function fieldOf(types: Map<number, BtfType>, structName: string, member: { name: string; type_id: number; bits_offset: number }): GenField {
  if (member.bits_offset % 8 !== 0) throw new Error(`${structName}.${member.name} is a bit field; the contract has none`);
  const t = resolve(types, member.type_id);
  const offset = member.bits_offset / 8;
  if (t.kind === 'INT' || t.kind === 'ENUM') return { offset, size: t.size ?? 0, type: scalarName(t.size ?? 0), count: 1 };
  // A nested struct (the session table's bucket: its lock, its ways) is its bytes; readers
  // decode its parts with that struct's own layout (e.g. SEG_SESSION_WAY.size as the stride).
  if (t.kind === 'STRUCT') return { offset, size: t.size ?? 0, type: 'bytes', count: t.size ?? 0 };
  if (t.kind === 'ARRAY') {
    const elem = resolve(types, t.type_id ?? 0);
    if (elem.kind === 'STRUCT') {
      const size = (t.nr_elems ?? 0) * (elem.size ?? 0);
      return { offset, size, type: 'bytes', count: size };
    }
    if (elem.kind !== 'INT' && elem.kind !== 'ENUM') throw new Error(`${structName}.${member.name}: arrays of ${elem.kind} are not in the contract`);
    const count = t.nr_elems ?? 0;
    const scalar = scalarName(elem.size ?? 0);
    return { offset, size: count * (elem.size ?? 0), type: scalar === 'u8' ? 'bytes' : (`${scalar}[]` as FieldType), count };
  }
  throw new Error(`${structName}.${member.name}: a ${t.kind} member is not in the contract`);
}

function structOf(types: Map<number, BtfType>, t: BtfType): GenStruct {
  const name = t.name ?? '';
  const fields: Record<string, GenField> = {};
  for (const m of t.members ?? []) fields[m.name] = fieldOf(types, name, m);
  return { name, size: t.size ?? 0, fields };
}

/** The value of a `__uint(name, N)` member: a pointer to an array of N. */
function uintMember(types: Map<number, BtfType>, def: BtfType, name: string): number | undefined {
  const m = def.members?.find((x) => x.name === name);
  if (!m) return undefined;
  return typeOf(types, typeOf(types, m.type_id).type_id ?? 0).nr_elems;
}

/** The type of a `__type(name, T)` member, by name ('u32' for a plain integer). */
function typeMember(types: Map<number, BtfType>, def: BtfType, name: string): { name: string; size: number } | undefined {
  const m = def.members?.find((x) => x.name === name);
  if (!m) return undefined;
  const target = resolve(types, typeOf(types, m.type_id).type_id ?? 0);
  if (target.kind === 'STRUCT') return { name: target.name ?? '', size: target.size ?? 0 };
  if (target.kind === 'INT' || target.kind === 'ENUM') return { name: scalarName(target.size ?? 0), size: target.size ?? 0 };
  if (target.kind === 'ARRAY') {
    // An outer map's inner template (`__array(values, struct inner)`): ids are u32.
    return { name: 'u32', size: 4 };
  }
  throw new Error(`map member ${name} is a ${target.kind}`);
}

/** Everything the contract holds, from the object's BTF. */
export function abiOf(types: Map<number, BtfType>): GenAbi {
  const all = [...types.values()];
  const enums: Record<string, Record<string, number>> = {};
  for (const t of all) {
    if (t.kind !== 'ENUM' || !t.name?.startsWith('seg_')) continue;
    // The enumerator as the C type holds it (BTF sign-extends into 64 bits).
    enums[t.name] = Object.fromEntries((t.values ?? []).map((v) => [v.name, Number(BigInt.asUintN(8 * (t.size ?? 4), BigInt(v.val)))]));
  }
  // The structs the contract names: every member of struct seg_abi_types (the BTF anchor).
  const anchor = all.find((t) => t.kind === 'STRUCT' && t.name === 'seg_abi_types');
  if (!anchor) throw new Error('struct seg_abi_types is not in the BTF: is this the classifier object?');
  const structs: Record<string, GenStruct> = {};
  for (const m of anchor.members ?? []) {
    const t = resolve(types, m.type_id);
    if (t.kind === 'STRUCT' && t.name) structs[t.name] = structOf(types, t);
  }
  const maps: Record<string, GenMap> = {};
  const section = all.find((t) => t.kind === 'DATASEC' && t.name === '.maps');
  for (const v of section?.vars ?? []) {
    const variable = typeOf(types, v.type_id);
    const name = variable.name ?? '';
    if (PRIVATE_MAPS.includes(name)) continue;
    const def = resolve(types, variable.type_id ?? 0);
    const typeNumber = uintMember(types, def, 'type') ?? 0;
    const key = typeMember(types, def, 'key');
    const value = typeMember(types, def, 'value') ?? (def.members?.some((m) => m.name === 'values') ? { name: 'u32', size: 4 } : undefined);
    const keySize = key?.size ?? uintMember(types, def, 'key_size') ?? 0;
    const valueSize = value?.size ?? uintMember(types, def, 'value_size') ?? 0;
    maps[name] = {
      name,
      type: MAP_TYPES[typeNumber] ?? String(typeNumber),
      key: key?.name ?? (keySize === 0 ? 'none' : keySize === 4 ? 'u32' : `${keySize} bytes`),
      value: value?.name ?? (valueSize === 0 ? 'none' : valueSize === 4 ? 'u32' : `${valueSize} bytes`),
      keySize,
      valueSize,
      maxEntries: uintMember(types, def, 'max_entries') ?? 0,
      flags: uintMember(types, def, 'map_flags') ?? 0,
    };
  }
  const sortedMaps = Object.fromEntries(Object.entries(maps).sort(([a], [b]) => a.localeCompare(b)));
  return { enums, structs, maps: sortedMaps };
}

/** A short hash of the layouts: DATAPATH_VERSION's record (runtime/datapath/version.ts) names it. */
export function fingerprintOf(abi: GenAbi): string {
  return createHash('sha256').update(JSON.stringify(abi)).digest('hex').slice(0, 16);
}

const camel = (s: string, upperFirst: boolean): string => {
  const parts = s.split('_').filter((p) => p !== '');
  return parts.map((p, i) => (i === 0 && !upperFirst ? p : p.charAt(0).toUpperCase() + p.slice(1))).join('');
};
const pascal = (s: string): string => camel(s, true);
const constName = (s: string): string => s.toUpperCase();

const TS_TYPE: Record<FieldType, string> = { u8: 'number', u16: 'number', u32: 'number', u64: 'bigint', bytes: 'Uint8Array', 'u16[]': 'readonly number[]', 'u32[]': 'readonly number[]', 'u64[]': 'readonly bigint[]' };

/** Enums whose members are also exported one by one (the limits, flags and defaults). */
const SPREAD_ENUMS = ['seg_limits', 'seg_rule_id', 'seg_cfg_flag', 'seg_default'];

function renderLayoutTypes(): string {
  return `/** How a member is stored: a little-endian scalar, a byte array, or an array of scalars. */
export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'bytes' | 'u16[]' | 'u32[]' | 'u64[]';

/** A member's byte offset and size (arrays: the whole array; count: its elements). */
export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
  readonly type: FieldType;
  readonly count: number;
}

/** A struct of the contract; \`T\` is its decoded form (one member per field). */
export interface StructLayout<T = Record<string, unknown>> {
  readonly name: string;
  readonly size: number;
  readonly fields: { readonly [K in keyof T & string]: FieldLayout };
}
`;
}

function renderEnum(name: string, values: Readonly<Record<string, number>>, spread: boolean): string {
  const lines = [`/** enum ${name} */`, `export const ${pascal(name)} = {`];
  for (const [k, v] of Object.entries(values)) lines.push(`  ${k}: ${v},`);
  lines.push('} as const;');
  if (spread) for (const [k, v] of Object.entries(values)) lines.push(`export const ${k} = ${v};`);
  return lines.join('\n');
}

function renderStruct(s: GenStruct): string {
  const lines = [`/** struct ${s.name} */`, `export interface ${pascal(s.name)} {`];
  for (const [k, f] of Object.entries(s.fields)) lines.push(`  readonly ${k}: ${TS_TYPE[f.type]};`);
  lines.push('}');
  lines.push(`export const ${constName(s.name)}: StructLayout<${pascal(s.name)}> = {`);
  lines.push(`  name: '${s.name}',`);
  lines.push(`  size: ${s.size},`);
  lines.push('  fields: {');
  for (const [k, f] of Object.entries(s.fields)) lines.push(`    ${k}: { offset: ${f.offset}, size: ${f.size}, type: '${f.type}', count: ${f.count} },`);
  lines.push('  },');
  lines.push('};');
  return lines.join('\n');
}

const HEADER = (what: string) => `// GENERATED by scripts/gen-abi.ts from the BTF of bpf/build/segc.bpf.o: do not edit.
// ${what}
// Change bpf/segc_abi.h (or bpf/lib/maps.h), run \`make bpf\`, and commit the result; a layout
// change also bumps DATAPATH_VERSION and brings its migration (docs/deploy.md, "Upgrading segc").
`;

export function renderRuntimeAbi(abi: GenAbi): string {
  const parts = [HEADER('The kernel contract as TypeScript sees it: enums, struct layouts, maps.'), renderLayoutTypes()];
  for (const [name, values] of Object.entries(abi.enums)) parts.push(renderEnum(name, values, SPREAD_ENUMS.includes(name)));
  for (const s of Object.values(abi.structs)) parts.push(renderStruct(s));
  parts.push(`/** Every enum by its C name. */
export const ABI_ENUMS = { ${Object.keys(abi.enums).map((n) => `${n}: ${pascal(n)}`).join(', ')} } as const;`);
  parts.push(`/** Every struct layout by its C name. */
export const ABI_STRUCTS = { ${Object.keys(abi.structs).map((n) => `${n}: ${constName(n)}`).join(', ')} } as const;`);
  parts.push(`/** A map of the object as declared (sizes before the loader resizes it). */
export interface MapDefinition {
  readonly name: string;
  readonly type: string;
  /** The key's and value's struct name, or 'u32'. */
  readonly key: string;
  readonly value: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
}`);
  const mapLines = Object.values(abi.maps).map(
    (m) => `  ${m.name}: { name: '${m.name}', type: '${m.type}', key: '${m.key}', value: '${m.value}', keySize: ${m.keySize}, valueSize: ${m.valueSize}, maxEntries: ${m.maxEntries}, flags: ${m.flags} },`,
  );
  parts.push(`/** The maps TypeScript opens and pins, by name. */
export const SEG_MAPS = {
${mapLines.join('\n')}
} as const satisfies Record<string, MapDefinition>;
export type MapName = keyof typeof SEG_MAPS;`);
  parts.push(`/** The map names by a short name (\`SegMap.sessions\` is 'seg_sessions'). */
export const SegMap = {
${Object.keys(abi.maps).map((n) => `  ${camel(n.replace(/^seg_/, ''), false)}: '${n}',`).join('\n')}
} as const satisfies Record<string, MapName>;`);
  parts.push(`/** A hash of every layout above; runtime/datapath/version.ts ties it to DATAPATH_VERSION. */
export const ABI_FINGERPRINT = '${fingerprintOf(abi)}';`);
  return parts.join('\n\n') + '\n';
}

export function renderPolicyAbi(abi: GenAbi): string {
  const parts = [HEADER("The policy image's part of the kernel contract (runtime/datapath/abi.ts holds all of it)."), renderLayoutTypes()];
  for (const name of POLICY_ENUMS) {
    const values = abi.enums[name];
    if (!values) throw new Error(`enum ${name} is not in the BTF`);
    parts.push(renderEnum(name, values, SPREAD_ENUMS.includes(name)));
  }
  for (const name of POLICY_STRUCTS) {
    const s = abi.structs[name];
    if (!s) throw new Error(`struct ${name} is not in the BTF`);
    parts.push(renderStruct(s));
  }
  const slots = Object.keys(abi.maps).filter((n) => n.startsWith('seg_slot_'));
  parts.push(`/** The outer maps whose slots hold a policy's tables. */
export const SegSlotMap = {
${slots.map((n) => `  ${camel(n.replace(/^seg_/, ''), false)}: '${n}',`).join('\n')}
} as const;`);
  return parts.join('\n\n') + '\n';
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUTPUTS = { runtime: join(ROOT, 'runtime/datapath/abi.ts'), policy: join(ROOT, 'compiler/policy-abi.ts') } as const;

/** Both generated files' texts for the object at `objectPath`. */
export function generateAbi(objectPath: string): { runtime: string; policy: string } {
  const abi = abiOf(readBtf(objectPath));
  return { runtime: renderRuntimeAbi(abi), policy: renderPolicyAbi(abi) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const object = args.find((a) => !a.startsWith('--')) ?? join(ROOT, 'bpf/build/segc.bpf.o');
  const out = generateAbi(object);
  let stale = false;
  for (const key of ['runtime', 'policy'] as const) {
    const path = OUTPUTS[key];
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // Not there yet: written below.
    }
    if (current === out[key]) continue;
    if (check) {
      process.stderr.write(`${path} is stale: run make bpf\n`);
      stale = true;
    } else {
      writeFileSync(path, out[key]);
      process.stdout.write(`gen-abi: wrote ${path}\n`);
    }
  }
  process.exit(stale ? 1 : 0);
}
