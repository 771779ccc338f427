// The kernel contract: moving a map's entries from an older data path into a new map, for an
// upgrade in place or a resize. Members are copied by their BTF name from the old version's
// layout into the current one; a member the old layout lacks is zero ("unknown, not yet
// learnt": every new session member must mean that at zero) unless FIELD_MIGRATIONS gives it a
// value; a member whose size changed is converted by its converter there. Counter arrays move
// by index (rule counters from slot * oldRulesPerSlot + i to slot * newRulesPerSlot + i).
//
// The rule (docs/deploy.md, "Upgrading segc"): a layout change bumps DATAPATH_VERSION, records
// the old layout in LAYOUT_HISTORY under the old version, adds converters for what cannot be
// copied by name, and comes with a test that upgrades a deployment of the old version.
import { bpf_map_get_info_by_fd, BPF_NOEXIST, libbpf_num_possible_cpus } from '../libbpf.ts';
import { ABI_STRUCTS, SEG_MAPS, SEG_SLOTS, SegMap, SegReason, SegStat, type FieldLayout, type MapName, type StructLayout } from './abi.ts';
import { decode, decodeU32, encode, encodeU32, type FieldValue } from './codec.ts';
import { iterateEntries, writeEntries } from './iterate.ts';
import { DATAPATH_VERSION } from './version.ts';

export type StructName = keyof typeof ABI_STRUCTS;

/**
 * Layouts of older data-path versions, where they differ from the current ones (by C name).
 * Version 1 (segc up to 9463f29) has version 2's layouts; it lacks only seg_info.
 */
export const LAYOUT_HISTORY: Readonly<Record<number, Partial<Record<StructName, StructLayout>>>> = {
  1: {},
  // Version 3 added the canary's members at the end of seg_config (zero: no canary) and the TCP
  // sequence windows (tcp_*) at the end of seg_session (zero: not known yet).
  2: {
    seg_config: {
      name: 'seg_config',
      size: 64,
      fields: {
        active_slot: { offset: 0, size: 4, type: 'u32', count: 1 },
        flags: { offset: 4, size: 4, type: 'u32', count: 1 },
        timeout_s: { offset: 8, size: 32, type: 'u32[]', count: 8 },
        event_rate: { offset: 40, size: 4, type: 'u32', count: 1 },
        event_burst: { offset: 44, size: 4, type: 'u32', count: 1 },
        event_global_rate: { offset: 48, size: 4, type: 'u32', count: 1 },
        event_global_burst: { offset: 52, size: 4, type: 'u32', count: 1 },
        pressure_pct: { offset: 56, size: 4, type: 'u32', count: 1 },
        pad: { offset: 60, size: 4, type: 'u32', count: 1 },
      },
    },
    seg_session: {
      name: 'seg_session',
      size: 48,
      fields: {
        last_seen_ns: { offset: 0, size: 8, type: 'u64', count: 1 },
        generation: { offset: 8, size: 8, type: 'u64', count: 1 },
        packets: { offset: 16, size: 8, type: 'u64', count: 1 },
        bytes: { offset: 24, size: 8, type: 'u64', count: 1 },
        rule_id: { offset: 32, size: 4, type: 'u32', count: 1 },
        verdict: { offset: 36, size: 1, type: 'u8', count: 1 },
        dir: { offset: 37, size: 1, type: 'u8', count: 1 },
        state: { offset: 38, size: 1, type: 'u8', count: 1 },
        flags: { offset: 39, size: 1, type: 'u8', count: 1 },
        icmp_type: { offset: 40, size: 1, type: 'u8', count: 1 },
        icmp_code: { offset: 41, size: 1, type: 'u8', count: 1 },
        pad: { offset: 42, size: 6, type: 'bytes', count: 6 },
      },
    },
  },
  // Version 4 named seg_rule_info's padding byte no_session. Rule tables are not migrated (a
  // deploy writes its policy's slot), and an older policy's zero there keeps opening sessions.
  3: {
    seg_rule_info: {
      name: 'seg_rule_info',
      size: 4,
      fields: {
        verdict: { offset: 0, size: 1, type: 'u8', count: 1 },
        log: { offset: 1, size: 1, type: 'u8', count: 1 },
        audit: { offset: 2, size: 1, type: 'u8', count: 1 },
        pad: { offset: 3, size: 1, type: 'u8', count: 1 },
      },
    },
  },
};

/**
 * SEG_REASON_COUNT of older data-path versions (where it differs from the current one). seg_stats
 * holds one counter per reason from SEG_STAT_REASON_BASE, and the counters after them
 * (SEG_STAT_EXT_BASE on) move when a reason is added: version 3 added TCP_WINDOW.
 */
export const REASON_COUNT_HISTORY: Readonly<Record<number, number>> = { 1: 22, 2: 22 };

/** A seg_stats index of data-path version `from` in the current layout. */
export function migrateStatIndex(index: number, from: number): number {
  const reasons = REASON_COUNT_HISTORY[from] ?? SegReason.SEG_REASON_COUNT;
  return index >= SegStat.SEG_STAT_REASON_BASE + reasons ? index + SegReason.SEG_REASON_COUNT - reasons : index;
}

/** A member's value in the new layout, from the old entry (decoded by the old layout). */
export type FieldConverter = (old: Readonly<Record<string, FieldValue>>, oldVersion: number) => FieldValue;

/**
 * Per struct and member: how a member that is new, or whose type changed, gets its value.
 * Members not listed are copied by name, or zero when the old layout lacks them.
 */
export const FIELD_MIGRATIONS: Readonly<Partial<Record<StructName, Readonly<Record<string, FieldConverter>>>>> = {};

/** The layout of struct `name` in data-path version `version`. */
export function layoutOf(name: StructName, version: number): StructLayout {
  for (let v = version; v < DATAPATH_VERSION; v++) {
    const old = LAYOUT_HISTORY[v]?.[name];
    if (old) return old;
  }
  return ABI_STRUCTS[name] as StructLayout;
}

function sameLayout(a: StructLayout, b: StructLayout): boolean {
  return a.size === b.size && JSON.stringify(a.fields) === JSON.stringify(b.fields);
}

/** Whether struct `name` is laid out in `version` as in this segc. */
export function layoutUnchanged(name: string, version: number): boolean {
  if (!(name in ABI_STRUCTS)) return true;
  return sameLayout(layoutOf(name as StructName, version), ABI_STRUCTS[name as StructName] as StructLayout);
}

function sameSized(a: FieldLayout, b: FieldLayout): boolean {
  return a.type === b.type && a.count === b.count;
}

/** One value of struct `name` from version `from` into the current layout. */
export function migrateValue(name: StructName, from: number, bytes: Uint8Array, at = 0): Uint8Array {
  const oldLayout = layoutOf(name, from);
  const newLayout = ABI_STRUCTS[name] as StructLayout;
  if (sameLayout(oldLayout, newLayout)) return bytes.slice(at, at + newLayout.size);
  const old = decode(oldLayout, bytes, at) as Record<string, FieldValue>;
  const converters = FIELD_MIGRATIONS[name] ?? {};
  const oldFields = oldLayout.fields as Readonly<Record<string, FieldLayout>>;
  const value: Record<string, FieldValue> = {};
  for (const [member, field] of Object.entries(newLayout.fields as Readonly<Record<string, FieldLayout>>)) {
    const convert = converters[member];
    if (convert) value[member] = convert(old, from);
    else if (oldFields[member] && sameSized(oldFields[member], field) && old[member] !== undefined) value[member] = old[member];
    else if (oldFields[member]) throw new Error(`${name}.${member} changed type since data-path version ${from}: FIELD_MIGRATIONS needs a converter for it`);
    // Otherwise new: zero, "unknown".
  }
  return encode(newLayout, value);
}

export interface MigrationContext {
  /** The data-path version the old map was made by. */
  readonly from: number;
  readonly oldRulesPerSlot: number;
  readonly newRulesPerSlot: number;
}

function structOf(side: string): StructName | undefined {
  return side in ABI_STRUCTS ? (side as StructName) : undefined;
}

/** Whether a map's entries can be copied (state that must survive), or start afresh. */
export function isMigrated(name: MapName): boolean {
  // Policy slots are installed again or handed over, the ring holds nothing to keep, and the
  // event buckets refill on their own.
  return [SegMap.sessions, SegMap.fragments, SegMap.synSources, SegMap.stats, SegMap.ruleHits, SegMap.ruleWouldDeny].includes(name as never);
}

/**
 * Copies every entry of map `name` from `oldFd` (made by data-path version `context.from`)
 * into `newFd`, converting keys and values; `onlyNew` leaves entries the new map already has
 * (a second pass after the new programs took over). Returns the entries written.
 */
export function migrateEntries(name: MapName, oldFd: number, newFd: number, context: MigrationContext, options: { readonly onlyNew?: boolean } = {}): number {
  const def = SEG_MAPS[name];
  const perCpu = (def.type as string).includes('PERCPU');
  const cpus = perCpu ? libbpf_num_possible_cpus() : 1;
  const keyStruct = structOf(def.key);
  const valueStruct = structOf(def.value);
  const oldInfo = bpf_map_get_info_by_fd(oldFd);
  const newInfo = bpf_map_get_info_by_fd(newFd);
  const oldValueLayout = valueStruct ? layoutOf(valueStruct, context.from) : undefined;
  const oldStride = perCpu ? Math.ceil(oldInfo.valueSize / 8) * 8 : oldInfo.valueSize;
  const newStride = perCpu ? Math.ceil(newInfo.valueSize / 8) * 8 : newInfo.valueSize;
  const keys: Uint8Array[] = [];
  const values: Uint8Array[] = [];
  for (const entry of iterateEntries(oldFd, oldInfo.keySize, oldStride * cpus)) {
    const key = mapKey(name, entry.key, keyStruct, context, newInfo.maxEntries);
    if (key === undefined) continue;
    const value = new Uint8Array(newStride * cpus);
    for (let c = 0; c < cpus; c++) {
      const migrated = valueStruct && oldValueLayout ? migrateValue(valueStruct, context.from, entry.value, c * oldStride) : entry.value.slice(c * oldStride, c * oldStride + oldInfo.valueSize);
      value.set(migrated.subarray(0, newInfo.valueSize), c * newStride);
    }
    keys.push(key);
    values.push(value);
  }
  if (keys.length === 0) return 0;
  const keyBytes = new Uint8Array(keys.length * newInfo.keySize);
  keys.forEach((k, i) => keyBytes.set(k, i * newInfo.keySize));
  const valueBytes = new Uint8Array(values.length * newStride * cpus);
  values.forEach((v, i) => valueBytes.set(v, i * newStride * cpus));
  if (options.onlyNew === true) {
    // One by one: an entry the new programs made meanwhile is newer than the old map's.
    let written = 0;
    for (let i = 0; i < keys.length; i++) {
      try {
        writeEntries(newFd, keyBytes.subarray(i * newInfo.keySize, (i + 1) * newInfo.keySize), valueBytes.subarray(i * newStride * cpus, (i + 1) * newStride * cpus), 1, newInfo.keySize, newStride * cpus, BPF_NOEXIST);
        written++;
      } catch {
        // EEXIST: the new data path has it already.
      }
    }
    return written;
  }
  writeEntries(newFd, keyBytes, valueBytes, keys.length, newInfo.keySize, newStride * cpus);
  return keys.length;
}

/** An entry's key in the new map, or undefined when it has no place there. */
function mapKey(name: MapName, key: Uint8Array, keyStruct: StructName | undefined, context: MigrationContext, newEntries: number): Uint8Array | undefined {
  if (keyStruct) return migrateValue(keyStruct, context.from, key);
  const index = decodeU32(key);
  if (name === SegMap.ruleHits || name === SegMap.ruleWouldDeny) {
    // A slot's rules start at slot * rulesPerSlot; rules beyond the new size have no counter.
    const slot = Math.floor(index / context.oldRulesPerSlot);
    const rule = index % context.oldRulesPerSlot;
    if (slot >= SEG_SLOTS || rule >= context.newRulesPerSlot) return undefined;
    return encodeU32(slot * context.newRulesPerSlot + rule);
  }
  const moved = name === SegMap.stats ? migrateStatIndex(index, context.from) : index;
  return moved < newEntries ? encodeU32(moved) : undefined;
}
