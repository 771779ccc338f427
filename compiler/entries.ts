// Emitted map contents: what `emit` makes of the IR and what the loader writes into a policy
// slot's inner maps. Plain data (bytes in the host's little-endian order, as the kernel reads
// them), with the sizes the loader needs to create each map.

/** How a table is stored in the kernel. */
export type MapKind = 'array' | 'lpm_trie' | 'hash';

/**
 * One inner map of a policy slot. Arrays are dense: `values` holds `maxEntries` values, entry i
 * at `i * valueSize`, and `keys` is null. Tries and hashes hold `count` entries: key i at
 * `i * keySize` of `keys`, its value at `i * valueSize` of `values`.
 */
export interface MapImage {
  /** The outer map (`seg_slot_*`) whose slot holds this table. */
  readonly name: string;
  readonly kind: MapKind;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** BPF map flags the inner map is created with (BPF_F_INNER_MAP, BPF_F_NO_PREALLOC). */
  readonly flags: number;
  readonly count: number;
  readonly keys: Uint8Array | null;
  readonly values: Uint8Array;
}

/** Where one emitted entry came from, for the bundle's source map. */
export interface EntryOrigin {
  readonly map: string;
  /** Entry index within the map image. */
  readonly entry: number;
  /** Rule ids whose fields put this entry there (an address trie entry: the rules that list it). */
  readonly rules: readonly number[];
}

/** Classes per field and table sizes, per direction (`emit` prints these for `segc compile`). */
export interface DirectionStats {
  readonly rules: number;
  readonly chunks: number;
  readonly srcClasses: number;
  readonly dstClasses: number;
  readonly srcPortClasses: number;
  readonly dstPortClasses: number;
  readonly protoClasses: number;
  readonly rows: number;
}

export interface EmitStats {
  readonly ingress: DirectionStats;
  readonly egress: DirectionStats;
  /** Bitmap rows (distinct rule sets) over both directions. */
  readonly rows: number;
  readonly rowStride: number;
  readonly prefixEntries: number;
  /** Estimated kernel memory of the slot's tables, in bytes (see docs/datapath.md). */
  readonly memoryBytes: number;
  /** Lookups a new flow costs at most: phase 1 plus five per scanned chunk. */
  readonly maxLookups: number;
}

/** A slot's whole content: its header, its tables, and where every entry came from. */
export interface PolicyImage {
  /** struct seg_policy_meta with generation and rule_base 0 (the loader sets both). */
  readonly meta: Uint8Array;
  readonly maps: readonly MapImage[];
  readonly ruleCount: number;
  readonly origins: readonly EntryOrigin[];
  readonly stats: EmitStats;
}
