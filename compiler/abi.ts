// The data path's ABI as TypeScript sees it: a mirror of bpf/segc_abi.h (the single source of
// truth). test/compiler/abi.test.ts checks every layout and enum here against the BTF of the
// built object, so a change to the header that is not made here too fails the tests.

export const SEG_SLOTS = 2;
export const SEG_L4_NONE = 65536;
export const SEG_L4_ENTRIES = 65537;
export const SEG_ICMP_ENTRIES = 131072;
export const SEG_CHUNK_WORDS = 8;
export const SEG_CHUNK_RULES = SEG_CHUNK_WORDS * 64;
export const SEG_MAX_CHUNKS = 128;
export const SEG_MAX_EXT_HDRS = 8;
export const SEG_RULE_NONE = 0xffffffff;
export const SEG_PREFIX_SELECTOR_BITS = 32;
export const SEG_CFG_CLASSIFY_ND = 1;
export const SEG_CFG_STATELESS = 2;
/** Seconds the later fragments of a datagram may follow its allowed first fragment. */
export const SEG_FRAGMENT_TIMEOUT_S = 30;
export const SEG_CFG_LOG_DENIES = 4;
export const SEG_CFG_NO_SYN_PROTECTION = 8;

/** Defaults the data path uses where a seg_config field holds 0. */
export const SEG_DEFAULT_EVENT_RATE = 100;
export const SEG_DEFAULT_EVENT_BURST = 200;
export const SEG_DEFAULT_EVENT_GLOBAL_RATE = 2000;
export const SEG_DEFAULT_EVENT_GLOBAL_BURST = 4000;
export const SEG_DEFAULT_PRESSURE_PCT = 75;

/** skb->cb[] indexes where the program leaves its decision. */
export const SEG_CB = { rule: 0, reason: 1, verdict: 2, wouldDeny: 3 } as const;

export const SegMap = {
  config: 'seg_config',
  slotMeta: 'seg_slot_meta',
  slotPrefixes: 'seg_slot_prefixes',
  slotL4: 'seg_slot_l4',
  slotIcmp: 'seg_slot_icmp',
  slotProtos: 'seg_slot_protos',
  slotBits: 'seg_slot_bits',
  slotRules: 'seg_slot_rules',
  sessions: 'seg_sessions',
  stats: 'seg_stats',
  ruleHits: 'seg_rule_hits',
  fragments: 'seg_fragments',
  events: 'seg_events',
  eventBuckets: 'seg_event_buckets',
  ruleWouldDeny: 'seg_rule_would_deny',
  synSources: 'seg_syn_sources',
} as const;

export const SegDir = { SEG_DIR_INGRESS: 0, SEG_DIR_EGRESS: 1 } as const;
export const SegFamily = { SEG_FAMILY_IP4: 0, SEG_FAMILY_IP6: 1 } as const;
export const SegField = { SEG_FIELD_SRC: 0, SEG_FIELD_DST: 1 } as const;
export const SegVerdict = { SEG_VERDICT_DENY: 0, SEG_VERDICT_ALLOW: 1 } as const;

export const SegReason = {
  SEG_REASON_RULE: 0,
  SEG_REASON_DEFAULT: 1,
  SEG_REASON_SESSION: 2,
  SEG_REASON_SESSION_RECHECKED: 3,
  SEG_REASON_SESSION_REVOKED: 4,
  SEG_REASON_NON_IP: 5,
  SEG_REASON_NEIGHBOR_DISCOVERY: 6,
  SEG_REASON_NO_POLICY: 7,
  SEG_REASON_TRUNC_L2: 8,
  SEG_REASON_TRUNC_IP4: 9,
  SEG_REASON_BAD_IP4: 10,
  SEG_REASON_TRUNC_IP6: 11,
  SEG_REASON_BAD_IP6: 12,
  SEG_REASON_TRUNC_EXT: 13,
  SEG_REASON_EXT_LIMIT: 14,
  SEG_REASON_TRUNC_L4: 15,
  SEG_REASON_BAD_L4: 16,
  SEG_REASON_INTERNAL: 17,
  SEG_REASON_VLAN_DEPTH: 18,
  SEG_REASON_RELATED: 19,
  SEG_REASON_FRAGMENT: 20,
  SEG_REASON_HANDSHAKE_REPLY: 21,
  SEG_REASON_COUNT: 22,
} as const;

const STAT_EXT_BASE = 8 + SegReason.SEG_REASON_COUNT;

export const SegStat = {
  SEG_STAT_DENY: 0,
  SEG_STAT_ALLOW: 1,
  SEG_STAT_SESSION_HIT: 2,
  SEG_STAT_SESSION_MISS: 3,
  SEG_STAT_SESSION_NEW: 4,
  SEG_STAT_SESSION_TABLE_FULL: 5,
  SEG_STAT_SESSION_EXPIRED: 6,
  SEG_STAT_SESSION_CLOSED: 7,
  SEG_STAT_REASON_BASE: 8,
  /** Counters after the reasons: their indexes move with SEG_REASON_COUNT (use the names). */
  SEG_STAT_EXT_BASE: STAT_EXT_BASE,
  SEG_STAT_WOULD_DENY: STAT_EXT_BASE + 0,
  SEG_STAT_EVENT_SENT: STAT_EXT_BASE + 1,
  SEG_STAT_EVENT_RULE_LIMITED: STAT_EXT_BASE + 2,
  SEG_STAT_EVENT_GLOBAL_LIMITED: STAT_EXT_BASE + 3,
  SEG_STAT_EVENT_RING_FULL: STAT_EXT_BASE + 4,
  SEG_STAT_SYN: STAT_EXT_BASE + 5,
  SEG_STAT_HALF_OPEN_NEW: STAT_EXT_BASE + 6,
  SEG_STAT_SYN_UNTRACKED: STAT_EXT_BASE + 7,
  SEG_STAT_PRESSURE: STAT_EXT_BASE + 8,
  SEG_STAT_DIR_VERDICT_BASE: STAT_EXT_BASE + 9,
  SEG_STAT_INGRESS_DENY: STAT_EXT_BASE + 9,
  SEG_STAT_INGRESS_ALLOW: STAT_EXT_BASE + 10,
  SEG_STAT_EGRESS_DENY: STAT_EXT_BASE + 11,
  SEG_STAT_EGRESS_ALLOW: STAT_EXT_BASE + 12,
  SEG_STAT_COUNT: STAT_EXT_BASE + 13,
} as const;

export const SegState = {
  SEG_STATE_TCP_SYN_SENT: 0,
  SEG_STATE_TCP_SYN_RECV: 1,
  SEG_STATE_TCP_ESTABLISHED: 2,
  SEG_STATE_TCP_FIN_WAIT: 3,
  SEG_STATE_TCP_CLOSING: 4,
  SEG_STATE_UDP: 5,
  SEG_STATE_ICMP: 6,
  SEG_STATE_OTHER: 7,
  SEG_STATE_COUNT: 8,
} as const;

export const SegEventVerdict = { SEG_EVENT_DENY: 0, SEG_EVENT_ALLOW: 1, SEG_EVENT_WOULD_DENY: 2 } as const;
export const SegEventKind = { SEG_EVENT_PACKET: 0, SEG_EVENT_SYN_UNTRACKED: 1 } as const;
export const EVENT_FLAGS = { hasPorts: 1, hasIcmp: 2, fragment: 4 } as const;

/** The enums above by their C names, as the ABI test compares them. */
export const ABI_ENUMS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  seg_dir: SegDir,
  seg_family: SegFamily,
  seg_field: SegField,
  seg_verdict: SegVerdict,
  seg_reason: SegReason,
  seg_stat: SegStat,
  seg_state: SegState,
  seg_event_verdict: SegEventVerdict,
  seg_event_kind: SegEventKind,
};

/** A member's byte offset and size (arrays: the whole array). */
export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
}

export interface StructLayout {
  readonly size: number;
  readonly fields: Readonly<Record<string, FieldLayout>>;
}

function layout(size: number, fields: Record<string, [offset: number, size: number]>): StructLayout {
  const out: Record<string, FieldLayout> = {};
  for (const [name, [offset, fieldSize]] of Object.entries(fields)) out[name] = { offset, size: fieldSize };
  return { size, fields: out };
}

export const SEG_CONFIG = layout(64, {
  active_slot: [0, 4],
  flags: [4, 4],
  timeout_s: [8, 32],
  event_rate: [40, 4],
  event_burst: [44, 4],
  event_global_rate: [48, 4],
  event_global_burst: [52, 4],
  pressure_pct: [56, 4],
  pad: [60, 4],
});
export const SEG_POLICY_META = layout(40, {
  generation: [0, 8],
  rule_base: [8, 4],
  rule_offset: [12, 8],
  chunks: [20, 8],
  row_stride: [28, 4],
  default_verdict: [32, 2],
  icmp_used: [34, 1],
  audit: [35, 1],
  pad: [36, 4],
});
export const SEG_PREFIX_KEY = layout(24, { prefixlen: [0, 4], dir: [4, 1], family: [5, 1], field: [6, 1], pad: [7, 1], addr: [8, 16] });
export const SEG_L4_ROWS = layout(16, { src: [0, 8], dst: [8, 8] });
export const SEG_DIR_ROWS = layout(8, { row: [0, 8] });
export const SEG_CHUNK = layout(64, { w: [0, 64] });
export const SEG_RULE_INFO = layout(4, { verdict: [0, 1], log: [1, 1], audit: [2, 1], pad: [3, 1] });
export const SEG_SESSION_KEY = layout(40, {
  addr_a: [0, 16],
  addr_b: [16, 16],
  port_a: [32, 2],
  port_b: [34, 2],
  proto: [36, 1],
  family: [37, 1],
  pad: [38, 2],
});
export const SEG_SESSION = layout(48, {
  last_seen_ns: [0, 8],
  generation: [8, 8],
  packets: [16, 8],
  bytes: [24, 8],
  rule_id: [32, 4],
  verdict: [36, 1],
  dir: [37, 1],
  state: [38, 1],
  flags: [39, 1],
  icmp_type: [40, 1],
  icmp_code: [41, 1],
  pad: [42, 6],
});
export const SEG_COUNTER = layout(16, { packets: [0, 8], bytes: [8, 8] });
export const SEG_FRAGMENT_KEY = layout(40, { src: [0, 16], dst: [16, 16], id: [32, 4], proto: [36, 1], family: [37, 1], pad: [38, 2] });
export const SEG_FRAGMENT = layout(16, { first_ns: [0, 8], rule_id: [8, 4], dir: [12, 1], pad: [13, 3] });
export const SEG_EVENT = layout(80, {
  time_ns: [0, 8],
  generation: [8, 8],
  rule_id: [16, 4],
  ifindex: [20, 4],
  len: [24, 4],
  kind: [28, 1],
  dir: [29, 1],
  verdict: [30, 1],
  reason: [31, 1],
  family: [32, 1],
  proto: [33, 1],
  tcp_flags: [34, 1],
  icmp_type: [35, 1],
  icmp_code: [36, 1],
  flags: [37, 1],
  sport: [38, 2],
  dport: [40, 2],
  pad: [42, 6],
  src: [48, 16],
  dst: [64, 16],
});
export const SEG_BUCKET = layout(16, { credit_ns: [0, 8], last_ns: [8, 8] });
export const SEG_SOURCE_KEY = layout(20, { addr: [0, 16], family: [16, 1], pad: [17, 3] });
export const SEG_SYN_RATE = layout(24, { window_ns: [0, 8], total: [8, 8], current: [16, 4], previous: [20, 4] });

/** The structs above by their C names, as the ABI test compares them. */
export const ABI_STRUCTS: Readonly<Record<string, StructLayout>> = {
  seg_config: SEG_CONFIG,
  seg_policy_meta: SEG_POLICY_META,
  seg_prefix_key: SEG_PREFIX_KEY,
  seg_l4_rows: SEG_L4_ROWS,
  seg_dir_rows: SEG_DIR_ROWS,
  seg_chunk: SEG_CHUNK,
  seg_rule_info: SEG_RULE_INFO,
  seg_session_key: SEG_SESSION_KEY,
  seg_session: SEG_SESSION,
  seg_counter: SEG_COUNTER,
  seg_fragment_key: SEG_FRAGMENT_KEY,
  seg_fragment: SEG_FRAGMENT,
  seg_event: SEG_EVENT,
  seg_bucket: SEG_BUCKET,
  seg_source_key: SEG_SOURCE_KEY,
  seg_syn_rate: SEG_SYN_RATE,
};

export const SESSION_FLAGS = { initiatorA: 1, finA: 2, finB: 4, hasPorts: 8, hasIcmp: 16, log: 32 } as const;
