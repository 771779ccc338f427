// Test support: a model of the kernel's lookup (bpf/lib/classify.h) over emitted map images,
// byte for byte: LPM tries by longest prefix over the key bytes, arrays by index, values read
// in little-endian order. The differential tests hold it against evaluate.ts and the kernel.
import { parseAddress } from '../../compiler/cidr.ts';
import {
  SEG_CHUNK,
  SEG_CHUNK_RULES,
  SEG_CHUNK_WORDS,
  SEG_CLASS_FIELDS,
  SEG_L4_ROWS,
  SEG_L4_NONE,
  SEG_MAX_CHUNKS,
  SEG_POLICY_META,
  SEG_PREFIX_KEY,
  SEG_RULE_INFO,
  SEG_RULE_NONE,
  SegSlotMap,
  SegVerdict,
} from '../../compiler/policy-abi.ts';
import type { MapImage, PolicyImage } from '../../compiler/entries.ts';
import { MATCH_FIELDS } from '../../compiler/match-fields.ts';
import type { Verdict } from '../../compiler/ir.ts';
import { packetFamily, type Packet } from '../../compiler/packet.ts';

export interface ModelDecision {
  readonly verdict: Verdict;
  /** The deciding rule id, or null for the default. */
  readonly rule: number | null;
}

/** A prepared image: the trie indexed by prefix length, for lookups in O(key bits). */
export interface KernelModel {
  readonly image: PolicyImage;
  readonly trie: ReadonlyMap<number, ReadonlyMap<string, number>>;
  readonly lengths: readonly number[];
  readonly maps: ReadonlyMap<string, MapImage>;
}

export function createKernelModel(image: PolicyImage): KernelModel {
  const maps = new Map(image.maps.map((m) => [m.name, m]));
  const trieImage = need(maps, SegSlotMap.slotPrefixes);
  const trie = new Map<number, Map<string, number>>();
  const keys = trieImage.keys ?? new Uint8Array();
  const kv = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  const vv = new DataView(trieImage.values.buffer, trieImage.values.byteOffset, trieImage.values.byteLength);
  for (let i = 0; i < trieImage.count; i++) {
    const key = keys.subarray(i * trieImage.keySize, (i + 1) * trieImage.keySize);
    const prefixlen = kv.getUint32(i * trieImage.keySize, true);
    let bucket = trie.get(prefixlen);
    if (!bucket) trie.set(prefixlen, (bucket = new Map()));
    bucket.set(maskedKey(key, prefixlen), vv.getUint32(i * 4, true));
  }
  return { image, trie, lengths: [...trie.keys()].sort((a, b) => b - a), maps };
}

function need(maps: ReadonlyMap<string, MapImage>, name: string): MapImage {
  const m = maps.get(name);
  if (!m) throw new Error(`image has no ${name}`);
  return m;
}

/** The key's data bytes (after prefixlen) with bits beyond `prefixlen` cleared, as hex. */
function maskedKey(key: Uint8Array, prefixlen: number): string {
  let out = '';
  for (let b = 0; b < key.length - 4; b++) {
    const bitsHere = Math.max(0, Math.min(8, prefixlen - 8 * b));
    const mask = bitsHere === 0 ? 0 : (0xff << (8 - bitsHere)) & 0xff;
    out += (((key[4 + b] as number) & mask) | 0x100).toString(16).slice(1);
  }
  return out;
}

function arrayU32(m: MapImage, index: number, offset: number): number | undefined {
  if (index >= m.maxEntries) return undefined;
  return new DataView(m.values.buffer, m.values.byteOffset).getUint32(index * m.valueSize + offset, true);
}

/** The kernel's decision for a packet crossing `dir` (0 ingress, 1 egress), from the tables. */
export function modelClassify(model: KernelModel, dir: 0 | 1, packet: Packet): ModelDecision {
  const meta = new DataView(model.image.meta.buffer, model.image.meta.byteOffset);
  const f = SEG_POLICY_META.fields;
  const off = (name: keyof typeof f) => f[name].offset;
  // The kernel drops a packet whose lookup falls outside a table (SEG_REASON_INTERNAL).
  const internal: ModelDecision = { verdict: 'deny', rule: null };
  const defaultDecision: ModelDecision = {
    verdict: model.image.meta[off('default_verdict') + dir] === SegVerdict.SEG_VERDICT_ALLOW ? 'allow' : 'deny',
    rule: null,
  };
  const family = packetFamily(packet);
  const fam = family === 4 ? 0 : 1;
  const hasPorts = packet.srcPort !== undefined && packet.dstPort !== undefined;
  const icmpProto = family === 4 ? 1 : 58;
  const hasIcmp = packet.proto === icmpProto && packet.icmpType !== undefined;

  // One row per class field, found as the match-field table says each field is looked up:
  // prefixes in the trie, ranges in the port array, sets in their value-indexed arrays.
  const rows: (number | undefined)[] = new Array<number | undefined>(SEG_CLASS_FIELDS);
  const l4 = need(model.maps, SegSlotMap.slotL4);
  const icmpUsed = model.image.meta[off('icmp_used')] !== 0;
  for (const field of MATCH_FIELDS) {
    if (field.kind === 'prefix') rows[field.classField] = modelTrieLookup(model, dir, fam, field.classField, packet[field.packet] as string);
    else if (field.kind === 'range') {
      const member = field.packet === 'srcPort' ? SEG_L4_ROWS.fields.src : SEG_L4_ROWS.fields.dst;
      rows[field.classField] ??= arrayU32(l4, hasPorts ? (packet[field.packet] as number) : SEG_L4_NONE, member.offset + dir * 4);
    } else if (field.packet === 'proto') rows[field.classField] = arrayU32(need(model.maps, SegSlotMap.slotProtos), (fam << 8) | packet.proto, dir * 4);
    else if (field.packet === 'icmpType' && hasIcmp && icmpUsed) {
      // The ICMP type and code replace the port's row of their shared class field.
      const index = (fam << 16) | ((packet.icmpType as number) << 8) | (packet.icmpCode ?? 0);
      rows[field.classField] = arrayU32(need(model.maps, SegSlotMap.slotIcmp), index, dir * 4);
    }
  }

  const bits = need(model.maps, SegSlotMap.slotBits);
  const bv = new DataView(bits.values.buffer, bits.values.byteOffset, bits.values.byteLength);
  const stride = meta.getUint32(off('row_stride'), true);
  let summary = (1n << 128n) - 1n;
  const bases: number[] = [];
  for (const row of rows) {
    if (row === undefined) return internal;
    if (row === SEG_RULE_NONE) return defaultDecision;
    const base = row * stride;
    if (base >= bits.maxEntries) return internal;
    bases.push(base);
    summary &= bv.getBigUint64(base * SEG_CHUNK.size, true) | (bv.getBigUint64(base * SEG_CHUNK.size + 8, true) << 64n);
  }
  for (let c = 0; c < SEG_MAX_CHUNKS; c++) {
    if (((summary >> BigInt(c)) & 1n) === 0n) continue;
    for (let w = 0; w < SEG_CHUNK_WORDS; w++) {
      let acc = 0xffffffffffffffffn;
      for (const base of bases) acc &= bv.getBigUint64((base + 1 + c) * SEG_CHUNK.size + w * 8, true);
      if (acc !== 0n) {
        let bit = 0;
        while (((acc >> BigInt(bit)) & 1n) === 0n) bit++;
        const rule = meta.getUint32(off('rule_offset') + 4 * dir, true) + c * SEG_CHUNK_RULES + w * 64 + bit;
        const rules = need(model.maps, SegSlotMap.slotRules);
        if (rule >= rules.maxEntries) return internal;
        const verdict = rules.values[rule * SEG_RULE_INFO.size] === SegVerdict.SEG_VERDICT_ALLOW ? 'allow' : 'deny';
        return { verdict, rule };
      }
    }
  }
  return defaultDecision;
}

function modelTrieLookup(model: KernelModel, dir: number, fam: number, field: number, address: string): number {
  const a = parseAddress(address);
  if (!a) throw new Error(`not an address: ${address}`);
  const key = new Uint8Array(SEG_PREFIX_KEY.size);
  key[4] = dir;
  key[5] = fam;
  key[6] = field;
  const bytes = a.family === 4 ? 4 : 16;
  for (let b = 0; b < bytes; b++) key[8 + b] = Number((a.value >> BigInt(8 * (bytes - 1 - b))) & 0xffn);
  for (const len of model.lengths) {
    const row = model.trie.get(len)?.get(maskedKey(key, len));
    if (row !== undefined) return row;
  }
  // As seg_address_row: no prefix holds the address, so no rule contains it.
  return SEG_RULE_NONE;
}
