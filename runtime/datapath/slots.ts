// The kernel contract: the two policy slots (seg_slot_* outer arrays of inner maps, the header
// struct seg_policy_meta in seg_slot_meta). A policy image from the compiler goes into the
// inactive slot: fresh inner maps, filled, put into the outer maps, the header last.
import { BPF_F, BPF_MAP_TYPE, bpf_map_create, bpf_map_get_fd_by_id, bpf_map_lookup_elem, bpf_map_update_elem, close } from '../libbpf.ts';
import type { MapImage, PolicyImage } from '../../compiler/entries.ts';
import { SEG_POLICY_META, SEG_SLOTS, SegMap, type MapName } from './abi.ts';
import { decode, decodeU32, encode, encodeU32, encodeU32Range } from './codec.ts';
import { readConfig } from './config.ts';
import { resetRuleHits } from './counters.ts';
import { mapOf, type Datapath } from './datapath.ts';
import { writeEntries } from './iterate.ts';

const KIND_TYPE = { array: BPF_MAP_TYPE.ARRAY, lpm_trie: BPF_MAP_TYPE.LPM_TRIE, hash: BPF_MAP_TYPE.HASH } as const;

/** Creates one inner map of `image`'s shape and writes every entry; returns its fd. */
function installInnerMap(image: MapImage): number {
  const fd = bpf_map_create(KIND_TYPE[image.kind], image.name.replace('seg_slot_', 'seg_'), image.keySize, image.valueSize, image.maxEntries, {
    mapFlags: image.flags,
  });
  try {
    if (image.kind === 'array') writeEntries(fd, encodeU32Range(0, image.maxEntries), image.values, image.maxEntries, 4, image.valueSize);
    else if (image.keys) writeEntries(fd, image.keys, image.values, image.count, image.keySize, image.valueSize);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

export interface InstallOptions {
  readonly slot: number;
  /** The deploy generation (>= 1); sessions of other generations are classified again. */
  readonly generation: bigint;
  /** Audit mode for the whole policy: denies pass, counted as would-deny (the slot header's flag). */
  readonly audit?: boolean;
}

/**
 * Fills `slot` with `image`: fresh inner maps, then the outer maps' slot entries, the slot's
 * header last. The slot must not be the active one (the program would see a half-filled
 * policy); `activateSlot` then switches to it.
 */
export function installPolicy(dp: Datapath, image: PolicyImage, options: InstallOptions): void {
  if (image.ruleCount > dp.rulesPerSlot) throw new Error(`the policy has ${image.ruleCount} rules; this data path was loaded for ${dp.rulesPerSlot}`);
  if (options.generation < 1n) throw new RangeError('generation must be at least 1');
  if (options.slot < 0 || options.slot >= SEG_SLOTS) throw new RangeError(`slot ${options.slot} does not exist (0 or 1)`);
  if (readConfig(dp).activeSlot === options.slot && slotGeneration(dp, options.slot) !== 0n) {
    throw new Error(`slot ${options.slot} holds the policy in force; fill the other slot and switch to it`);
  }
  // The slot's rule counters still hold what an older policy in it counted.
  resetRuleHits(dp, options.slot, image.ruleCount);
  const slotKey = encodeU32(options.slot);
  const created: number[] = [];
  try {
    for (const m of image.maps) {
      const fd = installInnerMap(m);
      created.push(fd);
      bpf_map_update_elem(mapOf(dp, m.name as MapName).fd, slotKey, encodeU32(fd));
    }
    const meta = encode(SEG_POLICY_META, {
      ...decode(SEG_POLICY_META, image.meta),
      generation: options.generation,
      rule_base: options.slot * dp.rulesPerSlot,
      audit: options.audit === true ? 1 : 0,
    });
    created.push(writeSlotHeader(dp, options.slot, meta));
  } finally {
    // The outer maps hold their own references.
    for (const fd of created) close(fd);
  }
}

/** Puts a fresh header map holding `meta` into `slot` (one outer-map write); returns its fd. */
function writeSlotHeader(dp: Datapath, slot: number, meta: Uint8Array): number {
  const metaFd = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'seg_meta', 4, SEG_POLICY_META.size, 1, { mapFlags: BPF_F.INNER_MAP });
  try {
    bpf_map_update_elem(metaFd, encodeU32(0), meta);
    bpf_map_update_elem(mapOf(dp, SegMap.slotMeta).fd, encodeU32(slot), encodeU32(metaFd));
    return metaFd;
  } catch (e) {
    close(metaFd);
    throw e;
  }
}

/** The generation of the policy in `slot`, or 0 when the slot is empty. */
export function slotGeneration(dp: Datapath, slot: number): bigint {
  return slotHeader(dp, slot)?.generation ?? 0n;
}

function readSlotMeta(dp: Datapath, slot: number) {
  const id = bpf_map_lookup_elem(mapOf(dp, SegMap.slotMeta).fd, encodeU32(slot), 4);
  if (!id) return undefined;
  const fd = bpf_map_get_fd_by_id(decodeU32(id));
  try {
    const meta = bpf_map_lookup_elem(fd, encodeU32(0), SEG_POLICY_META.size);
    return meta ? decode(SEG_POLICY_META, meta) : undefined;
  } finally {
    close(fd);
  }
}

/** What a slot's header says, or undefined when the slot holds no header. */
export function slotHeader(dp: Datapath, slot: number): { readonly generation: bigint; readonly audit: boolean; readonly ruleBase: number } | undefined {
  const meta = readSlotMeta(dp, slot);
  return meta ? { generation: meta.generation, audit: meta.audit !== 0, ruleBase: meta.rule_base } : undefined;
}

/**
 * Points `slot`'s header at `dp`'s rule counters (rule_base = slot * dp.rulesPerSlot) after the
 * counters were resized: a fresh header map swapped in with one outer-map write, so a packet
 * reads either the old header or the new one.
 */
export function rebaseSlot(dp: Datapath, slot: number): boolean {
  const meta = readSlotMeta(dp, slot);
  if (!meta || meta.rule_base === slot * dp.rulesPerSlot) return false;
  close(writeSlotHeader(dp, slot, encode(SEG_POLICY_META, { ...meta, rule_base: slot * dp.rulesPerSlot })));
  return true;
}
