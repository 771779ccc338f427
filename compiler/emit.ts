// Stage: emit. Takes the IR; returns the contents of a policy slot's tables (`PolicyImage`):
// per direction, each field's equivalence classes (the set of rules containing a value) as
// bitmap rows, and the lookups that map a packet's fields to rows. The first set bit of the AND
// of a packet's five rows is its first matching rule. Layouts follow compiler/policy-abi.ts (generated from the object's BTF).
import { FAMILY_BITS, prefixFromText, type Family } from './cidr.ts';
import type { DirectionIr, PortSetIr, ProgramIr, RuleIr } from './ir.ts';
import {
  SEG_CHUNK,
  SEG_CHUNK_RULES,
  SEG_CLASS_FIELDS,
  SEG_DIR_ROWS,
  SEG_ICMP_ENTRIES,
  SEG_L4_ENTRIES,
  SEG_L4_NONE,
  SEG_L4_ROWS,
  SEG_MAX_CHUNKS,
  SEG_POLICY_META,
  SEG_PREFIX_KEY,
  SEG_PREFIX_SELECTOR_BITS,
  SEG_RULE_INFO,
  SegField,
  SegSlotMap,
  SegVerdict,
} from './policy-abi.ts';
import { CLASS_FIELD_COUNT, fieldsOfKind } from './match-fields.ts';
import type { DirectionStats, EmitStats, EntryOrigin, MapImage, PolicyImage } from './entries.ts';

export interface EmitOptions {
  /** Record where each trie entry and rule entry came from (the bundle's source map). */
  readonly origins?: boolean;
  /**
   * The rules whose flows open no session: `Compilation.noSession.ruleIds`, as proved by
   * analysis/no-session.ts. Absent, none: every rule's flows open sessions. (Not decided here:
   * emit stays apart from the analysis, which the CLI's bundle keeps in the compiler's chunk.)
   */
  readonly noSession?: readonly number[];
}

/** Thrown when a policy does not fit the data path's fixed limits (a user-facing error). */
export class EmitLimitError extends Error {}

const BPF_F_NO_PREALLOC = 1;
const BPF_F_INNER_MAP = 0x1000;
const FAMILIES: readonly Family[] = [4, 6];
/** The address fields (one trie, keyed by the field's class field as seg_field). */
const ADDRESS_FIELDS = fieldsOfKind('prefix');

// The classifier ANDs one row per class field: the table and the C side must agree.
if (CLASS_FIELD_COUNT !== SEG_CLASS_FIELDS) throw new Error(`match-fields.ts has ${CLASS_FIELD_COUNT} class fields, the data path ${SEG_CLASS_FIELDS}`);

/** A rule set of one direction: bit k is the direction's k-th rule (by priority). */
type Bitmap = Uint8Array;

interface RowTable {
  readonly index: Map<string, number>;
  readonly bitmaps: Bitmap[];
  readonly dirOf: number[];
}

interface PrefixEntry {
  readonly dir: number;
  readonly family: Family;
  readonly field: number;
  readonly value: bigint;
  readonly length: number;
  readonly row: number;
  readonly rules: number[];
}

interface DirectionTables {
  readonly rules: readonly RuleIr[];
  readonly chunks: number;
  readonly prefixes: PrefixEntry[];
  /** Per port 0..65535 and SEG_L4_NONE. */
  readonly srcPortRows: Uint32Array;
  readonly dstPortRows: Uint32Array;
  /** Per family << 16 | type << 8 | code; null when no rule of the policy tests an ICMP type. */
  readonly icmpRows: Uint32Array | null;
  /** Per family << 8 | proto. */
  readonly protoRows: Uint32Array;
  readonly stats: Omit<DirectionStats, 'rows'>;
}

export function emit(ir: ProgramIr, options: EmitOptions = {}): PolicyImage {
  const rows: RowTable = { index: new Map(), bitmaps: [], dirOf: [] };
  const icmpUsed = ir.rules.some((r) => r.icmp !== null);
  const dirs = [ir.ingress, ir.egress].map((d, i) => emitDirection(d, i, rows, icmpUsed));
  const [ingress, egress] = dirs as [DirectionTables, DirectionTables];
  const rowStride = Math.max(ingress.chunks, egress.chunks) + 1;

  const maps: MapImage[] = [
    emitPrefixMap(dirs),
    emitL4Map(dirs),
    emitIcmpMap(dirs, icmpUsed),
    emitProtoMap(dirs),
    emitBitsMap(rows, dirs, rowStride),
    emitRulesMap(ir, new Set(options.noSession ?? [])),
  ];
  const meta = new Uint8Array(SEG_POLICY_META.size);
  const mv = new DataView(meta.buffer);
  const f = SEG_POLICY_META.fields;
  mv.setUint32(offsetOf(f, 'rule_offset'), 0, true);
  mv.setUint32(offsetOf(f, 'rule_offset') + 4, ir.ingress.rules.length, true);
  mv.setUint32(offsetOf(f, 'chunks'), ingress.chunks, true);
  mv.setUint32(offsetOf(f, 'chunks') + 4, egress.chunks, true);
  mv.setUint32(offsetOf(f, 'row_stride'), rowStride, true);
  meta[offsetOf(f, 'default_verdict')] = verdictCode(ir.ingress.defaultAction);
  meta[offsetOf(f, 'default_verdict') + 1] = verdictCode(ir.egress.defaultAction);
  meta[offsetOf(f, 'icmp_used')] = icmpUsed ? 1 : 0;

  const dirStats = (d: DirectionTables, dir: number): DirectionStats => ({
    ...d.stats,
    rows: rows.dirOf.filter((x) => x === dir).length,
  });
  const memoryBytes = maps.reduce((sum, m) => sum + estimateMemory(m), 0);
  const maxChunks = Math.max(ingress.chunks, egress.chunks);
  const stats: EmitStats = {
    ingress: dirStats(ingress, 0),
    egress: dirStats(egress, 1),
    rows: rows.bitmaps.length,
    rowStride,
    prefixEntries: maps[0]?.count ?? 0,
    memoryBytes,
    // 2 trie + 2 port + 1 icmp + 1 protocol + a row summary per class field + as many per chunk + 1 rule.
    maxLookups: 7 + SEG_CLASS_FIELDS + SEG_CLASS_FIELDS * maxChunks,
  };
  return { meta, maps, ruleCount: ir.rules.length, origins: options.origins ? emitOrigins(ir, dirs, maps) : [], stats };
}

function offsetOf(fields: Readonly<Record<string, { offset: number }>>, name: string): number {
  const field = fields[name];
  if (!field) throw new Error(`ABI field ${name} missing`);
  return field.offset;
}

function verdictCode(v: 'allow' | 'deny'): number {
  return v === 'allow' ? SegVerdict.SEG_VERDICT_ALLOW : SegVerdict.SEG_VERDICT_DENY;
}

// ---- Classes ------------------------------------------------------------------------------

function emitDirection(direction: DirectionIr, dir: number, rows: RowTable, icmpUsed: boolean): DirectionTables {
  const rules = direction.rules;
  const chunks = Math.ceil(rules.length / SEG_CHUNK_RULES);
  if (chunks > SEG_MAX_CHUNKS) {
    throw new EmitLimitError(`${direction.direction} has ${rules.length} rules; the data path takes at most ${SEG_MAX_CHUNKS * SEG_CHUNK_RULES} per direction`);
  }
  const bytes = chunks * SEG_CHUNK.size;
  const newBitmap = (): Bitmap => new Uint8Array(bytes);
  const rowOf = (b: Bitmap): number => emitRow(rows, dir, b);

  const prefixes: PrefixEntry[] = [];
  const addrClasses = new Map<number, Set<number>>(ADDRESS_FIELDS.map((f) => [f.classField, new Set<number>()]));
  for (const family of FAMILIES) {
    for (const field of ADDRESS_FIELDS) {
      for (const e of emitAddressClasses(rules, family, field.packet as 'src' | 'dst', newBitmap)) {
        const row = rowOf(e.bitmap);
        addrClasses.get(field.classField)?.add(row);
        prefixes.push({ dir, family, field: field.classField, value: e.value, length: e.length, row, rules: e.rules });
      }
    }
  }

  const srcPortRows = emitPortRows(rules, (r) => r.srcPorts, () => true, newBitmap, rowOf);
  // A rule that tests an ICMP type contains no packet with ports, and none without ICMP.
  const dstPortRows = emitPortRows(rules, (r) => r.dstPorts, (r) => r.icmp === null, newBitmap, rowOf);
  const icmpRows = icmpUsed ? emitIcmpRows(rules, newBitmap, rowOf) : null;
  const protoRows = emitProtoRows(rules, newBitmap, rowOf);
  return {
    rules,
    chunks,
    prefixes,
    srcPortRows,
    dstPortRows,
    icmpRows,
    protoRows,
    stats: {
      rules: rules.length,
      chunks,
      srcClasses: addrClasses.get(SegField.SEG_FIELD_SRC)?.size ?? 0,
      dstClasses: addrClasses.get(SegField.SEG_FIELD_DST)?.size ?? 0,
      srcPortClasses: new Set(srcPortRows).size,
      dstPortClasses: new Set(dstPortRows).size,
      protoClasses: new Set(protoRows).size,
    },
  };
}

/** The row of a rule set, shared by every field of the direction that has the same set. */
function emitRow(rows: RowTable, dir: number, bitmap: Bitmap): number {
  const key = `${dir}:${Buffer.from(bitmap.buffer, bitmap.byteOffset, bitmap.byteLength).toString('base64')}`;
  let row = rows.index.get(key);
  if (row === undefined) {
    row = rows.bitmaps.length;
    rows.index.set(key, row);
    rows.bitmaps.push(bitmap);
    rows.dirOf.push(dir);
  }
  return row;
}

function setBit(b: Bitmap, k: number): void {
  b[k >> 3] = (b[k >> 3] as number) | (1 << (k & 7));
}

function clearBit(b: Bitmap, k: number): void {
  b[k >> 3] = (b[k >> 3] as number) & ~(1 << (k & 7));
}

interface AddressClass {
  readonly value: bigint;
  readonly length: number;
  readonly bitmap: Bitmap;
  readonly rules: number[];
}

/**
 * The trie entries of one address field: every prefix some rule lists, plus /0. An address's
 * longest matching prefix identifies the rules containing it (those listing that prefix or one
 * of its ancestors), since the prefixes containing an address form a chain.
 */
function emitAddressClasses(rules: readonly RuleIr[], family: Family, field: 'src' | 'dst', newBitmap: () => Bitmap): AddressClass[] {
  // Rules that use one set share its prefix list (lower gives one array per set value), so
  // each distinct list is parsed once and its prefixes carry the whole group of rules: an
  // `any except` of thousands of hosts (hundreds of thousands of prefixes) used by fifty rules
  // is one pass over its prefixes, not fifty.
  const groups = new Map<readonly string[], number[]>();
  rules.forEach((rule, k) => {
    const list = rule[field][family === 4 ? 'v4' : 'v6'];
    const group = groups.get(list);
    if (group) group.push(k);
    else groups.set(list, [k]);
  });
  const byPrefix = new Map<string, { value: bigint; length: number; groups: number[][] }>();
  const add = (value: bigint, length: number, group: number[] | null) => {
    const key = `${value}/${length}`;
    let e = byPrefix.get(key);
    if (!e) {
      e = { value, length, groups: [] };
      byPrefix.set(key, e);
    }
    if (group !== null) e.groups.push(group);
  };
  add(0n, 0, null);
  for (const [list, group] of groups) {
    for (const text of list) {
      const p = prefixFromText(text);
      add(p.value, p.length, group);
    }
  }
  // Ancestors sort before descendants: by address, then shorter first.
  const sorted = [...byPrefix.values()].sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.length - b.length));
  const bits = FAMILY_BITS[family];
  const out: AddressClass[] = [];
  const stack: { end: bigint; bitmap: Bitmap }[] = [];
  for (const p of sorted) {
    const end = p.value + (1n << BigInt(bits - p.length)) - 1n;
    while (stack.length > 0 && (stack[stack.length - 1] as { end: bigint }).end < p.value) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent && p.groups.length === 0) continue;
    const bitmap = parent ? parent.bitmap.slice() : newBitmap();
    for (const g of p.groups) for (const k of g) setBit(bitmap, k);
    stack.push({ end, bitmap });
    // One group (the common case) is shared, not copied: the origins map it once.
    const ruleIds = p.groups.length === 1 ? (p.groups[0] as number[]) : p.groups.flat().sort((a, b) => a - b);
    out.push({ value: p.value, length: p.length, bitmap, rules: ruleIds });
  }
  return out;
}

/**
 * Rows per port (0..65535) and for "no port" (SEG_L4_NONE), by a sweep over the rules'
 * interval ends. `eligible` says whether a rule can match a packet of the field's kind at all.
 */
function emitPortRows(
  rules: readonly RuleIr[],
  portsOf: (r: RuleIr) => PortSetIr | null,
  eligible: (r: RuleIr) => boolean,
  newBitmap: () => Bitmap,
  rowOf: (b: Bitmap) => number,
): Uint32Array {
  const out = new Uint32Array(SEG_L4_ENTRIES);
  const none = newBitmap();
  const starts = new Map<number, number[]>();
  const ends = new Map<number, number[]>();
  const current = newBitmap();
  rules.forEach((rule, k) => {
    if (!eligible(rule)) return;
    const ports = portsOf(rule);
    if (ports === null) {
      setBit(none, k);
      setBit(current, k);
      return;
    }
    for (const [lo, hi] of ports) {
      (starts.get(lo) ?? starts.set(lo, []).get(lo))?.push(k);
      (ends.get(hi + 1) ?? ends.set(hi + 1, []).get(hi + 1))?.push(k);
    }
  });
  const cuts = [...new Set([0, ...starts.keys(), ...ends.keys()])].filter((p) => p <= 65535).sort((a, b) => a - b);
  for (const [i, cut] of cuts.entries()) {
    for (const k of ends.get(cut) ?? []) clearBit(current, k);
    for (const k of starts.get(cut) ?? []) setBit(current, k);
    const row = rowOf(current.slice());
    out.fill(row, cut, cuts[i + 1] ?? 65536);
  }
  out[SEG_L4_NONE] = rowOf(none);
  return out;
}

/**
 * Rows of the destination-side class of ICMP packets, per family, type and code: rules with no
 * destination port that either test no ICMP type or test this one (and this code, if any).
 */
function emitIcmpRows(rules: readonly RuleIr[], newBitmap: () => Bitmap, rowOf: (b: Bitmap) => number): Uint32Array {
  const out = new Uint32Array(SEG_ICMP_ENTRIES);
  for (const [fi, family] of FAMILIES.entries()) {
    const base = newBitmap();
    const byType = new Map<number, { rule: number; code: number | null }[]>();
    rules.forEach((rule, k) => {
      if (rule.dstPorts !== null) return;
      if (rule.icmp === null) {
        setBit(base, k);
        return;
      }
      const type = family === 4 ? rule.icmp.type4 : rule.icmp.type6;
      if (type === null) return;
      (byType.get(type) ?? byType.set(type, []).get(type))?.push({ rule: k, code: rule.icmp.code });
    });
    out.fill(rowOf(base), fi << 16, (fi + 1) << 16);
    for (const [type, tests] of byType) {
      const anyCode = base.slice();
      for (const t of tests) if (t.code === null) setBit(anyCode, t.rule);
      const anyRow = rowOf(anyCode);
      for (let code = 0; code < 256; code++) {
        const specific = tests.filter((t) => t.code === code);
        let row = anyRow;
        if (specific.length > 0) {
          const b = anyCode.slice();
          for (const t of specific) setBit(b, t.rule);
          row = rowOf(b);
        }
        out[(fi << 16) | (type << 8) | code] = row;
      }
    }
  }
  return out;
}

/** Rows per family and protocol: icmp (1) counts for IPv4 only, icmpv6 (58) for IPv6 only. */
function emitProtoRows(rules: readonly RuleIr[], newBitmap: () => Bitmap, rowOf: (b: Bitmap) => number): Uint32Array {
  const out = new Uint32Array(512);
  for (const [fi, family] of FAMILIES.entries()) {
    const base = newBitmap();
    const listed = new Map<number, number[]>();
    rules.forEach((rule, k) => {
      if (rule.protocols === null) {
        setBit(base, k);
        return;
      }
      for (const p of rule.protocols) {
        if ((p === 1 && family !== 4) || (p === 58 && family !== 6)) continue;
        (listed.get(p) ?? listed.set(p, []).get(p))?.push(k);
      }
    });
    const baseRow = rowOf(base);
    for (let proto = 0; proto < 256; proto++) {
      const ks = listed.get(proto);
      if (!ks) {
        out[(fi << 8) | proto] = baseRow;
        continue;
      }
      const b = base.slice();
      for (const k of ks) setBit(b, k);
      out[(fi << 8) | proto] = rowOf(b);
    }
  }
  return out;
}

// ---- Map images ---------------------------------------------------------------------------

function emitPrefixMap(dirs: readonly DirectionTables[]): MapImage {
  const entries = dirs.flatMap((d) => d.prefixes);
  const keySize = SEG_PREFIX_KEY.size;
  const keys = new Uint8Array(entries.length * keySize);
  const values = new Uint8Array(entries.length * 4);
  const kv = new DataView(keys.buffer);
  const vv = new DataView(values.buffer);
  const f = SEG_PREFIX_KEY.fields;
  entries.forEach((e, i) => {
    const o = i * keySize;
    kv.setUint32(o + offsetOf(f, 'prefixlen'), SEG_PREFIX_SELECTOR_BITS + e.length, true);
    keys[o + offsetOf(f, 'dir')] = e.dir;
    keys[o + offsetOf(f, 'family')] = e.family === 4 ? 0 : 1;
    keys[o + offsetOf(f, 'field')] = e.field;
    const bytes = FAMILY_BITS[e.family] / 8;
    const addr = o + offsetOf(f, 'addr');
    for (let b = 0; b < bytes; b++) keys[addr + b] = Number((e.value >> BigInt(8 * (bytes - 1 - b))) & 0xffn);
    vv.setUint32(i * 4, e.row, true);
  });
  return {
    name: SegSlotMap.slotPrefixes,
    kind: 'lpm_trie',
    keySize,
    valueSize: 4,
    maxEntries: Math.max(1, entries.length),
    flags: BPF_F_NO_PREALLOC,
    count: entries.length,
    keys,
    values,
  };
}

function denseArray(name: string, valueSize: number, maxEntries: number, values: Uint8Array): MapImage {
  return { name, kind: 'array', keySize: 4, valueSize, maxEntries, flags: BPF_F_INNER_MAP, count: maxEntries, keys: null, values };
}

function emitL4Map(dirs: readonly DirectionTables[]): MapImage {
  const values = new Uint8Array(SEG_L4_ENTRIES * SEG_L4_ROWS.size);
  const v = new DataView(values.buffer);
  for (let port = 0; port < SEG_L4_ENTRIES; port++) {
    dirs.forEach((d, dir) => {
      v.setUint32(port * SEG_L4_ROWS.size + dir * 4, d.srcPortRows[port] as number, true);
      v.setUint32(port * SEG_L4_ROWS.size + 8 + dir * 4, d.dstPortRows[port] as number, true);
    });
  }
  return denseArray(SegSlotMap.slotL4, SEG_L4_ROWS.size, SEG_L4_ENTRIES, values);
}

function emitDirRows(name: string, entries: number, rowsOf: (d: DirectionTables) => Uint32Array | null, dirs: readonly DirectionTables[]): MapImage {
  const values = new Uint8Array(entries * SEG_DIR_ROWS.size);
  const v = new DataView(values.buffer);
  dirs.forEach((d, dir) => {
    const rows = rowsOf(d);
    if (!rows) return;
    for (let i = 0; i < entries; i++) v.setUint32(i * SEG_DIR_ROWS.size + dir * 4, rows[i] as number, true);
  });
  return denseArray(name, SEG_DIR_ROWS.size, entries, values);
}

function emitIcmpMap(dirs: readonly DirectionTables[], icmpUsed: boolean): MapImage {
  // Unused, the table is one entry: the program then takes the "no port" class for ICMP.
  return emitDirRows(SegSlotMap.slotIcmp, icmpUsed ? SEG_ICMP_ENTRIES : 1, (d) => d.icmpRows, dirs);
}

function emitProtoMap(dirs: readonly DirectionTables[]): MapImage {
  return emitDirRows(SegSlotMap.slotProtos, 512, (d) => d.protoRows, dirs);
}

/** Row r occupies entries r * stride (its meta chunk: a bit per nonzero rule chunk) onwards. */
function emitBitsMap(rows: RowTable, dirs: readonly DirectionTables[], stride: number): MapImage {
  const entries = Math.max(1, rows.bitmaps.length * stride);
  const values = new Uint8Array(entries * SEG_CHUNK.size);
  const v = new DataView(values.buffer);
  rows.bitmaps.forEach((bitmap, r) => {
    const chunks = (dirs[rows.dirOf[r] as number] as DirectionTables).chunks;
    // The meta chunk: one bit per rule chunk that has a set bit.
    let summary = 0n;
    for (let c = 0; c < chunks; c++) {
      if (bitmap.subarray(c * SEG_CHUNK.size, (c + 1) * SEG_CHUNK.size).some((x) => x !== 0)) summary |= 1n << BigInt(c);
    }
    v.setBigUint64(r * stride * SEG_CHUNK.size, summary & 0xffffffffffffffffn, true);
    v.setBigUint64(r * stride * SEG_CHUNK.size + 8, summary >> 64n, true);
    values.set(bitmap, (r * stride + 1) * SEG_CHUNK.size);
  });
  return denseArray(SegSlotMap.slotBits, SEG_CHUNK.size, entries, values);
}

function emitRulesMap(ir: ProgramIr, noSession: ReadonlySet<number>): MapImage {
  const entries = Math.max(1, ir.rules.length);
  const values = new Uint8Array(entries * SEG_RULE_INFO.size);
  const f = SEG_RULE_INFO.fields;
  for (const rule of ir.rules) {
    const at = rule.id * SEG_RULE_INFO.size;
    values[at + f.verdict.offset] = verdictCode(rule.action);
    values[at + f.log.offset] = rule.log ? 1 : 0;
    values[at + f.audit.offset] = rule.audit ? 1 : 0;
    // The analysis's decision, not the option as written: 1 only where every reply is proved to pass.
    values[at + f.no_session.offset] = noSession.has(rule.id) ? 1 : 0;
  }
  return denseArray(SegSlotMap.slotRules, SEG_RULE_INFO.size, entries, values);
}

function emitOrigins(ir: ProgramIr, dirs: readonly DirectionTables[], maps: readonly MapImage[]): EntryOrigin[] {
  const out: EntryOrigin[] = [];
  let entry = 0;
  dirs.forEach((d, dir) => {
    const offset = dir === 0 ? 0 : ir.ingress.rules.length;
    // Prefixes of one shared set share their rule list; it is offset once, not per prefix.
    const mapped = new Map<readonly number[], readonly number[]>();
    for (const p of d.prefixes) {
      let rules = mapped.get(p.rules);
      if (rules === undefined) {
        rules = p.rules.map((k) => k + offset);
        mapped.set(p.rules, rules);
      }
      out.push({ map: SegSlotMap.slotPrefixes, entry: entry++, rules });
    }
  });
  if (maps.length > 0) for (const rule of ir.rules) out.push({ map: SegSlotMap.slotRules, entry: rule.id, rules: [rule.id] });
  return out;
}

/**
 * Kernel memory of one table, roughly: arrays store values rounded up to 8 bytes; hash and trie
 * entries carry about 64 bytes of node overhead besides key and value.
 */
function estimateMemory(m: MapImage): number {
  if (m.kind === 'array') return m.maxEntries * Math.ceil(m.valueSize / 8) * 8;
  return m.maxEntries * (64 + m.keySize + m.valueSize);
}
