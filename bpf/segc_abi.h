/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* The data path's ABI: everything the classifier shares with TypeScript (key and value
 * layouts, verdicts, reasons, counters, flags, limits, config). Constants are enums so that the
 * object's BTF carries them; scripts/gen-abi.ts generates runtime/datapath/abi.ts from that BTF
 * (map names and types from the .maps section), and a test fails when the file is stale. A
 * change to a layout here bumps DATAPATH_VERSION (runtime/datapath/version.ts) and comes with
 * its migration (runtime/datapath/migrate.ts) and a test of it. */
#pragma once

#include <linux/types.h>
#include <linux/bpf.h>	/* struct bpf_spin_lock */

/* Sizes and limits of the data path's tables. */
enum seg_limits {
	/* Two policy slots: deploy fills the inactive one, then flips seg_config.active_slot. */
	SEG_SLOTS = 2,
	SEG_DIRS = 2,
	SEG_FAMILIES = 2,
	/* The seg_l4 array: index = port (host order) for packets with ports; SEG_L4_NONE for
	 * packets without them (ICMP, unknown protocols, later fragments). */
	SEG_L4_NONE = 65536,
	SEG_L4_ENTRIES = 65537,
	/* The seg_icmp array (when used): index = family << 16 | type << 8 | code. */
	SEG_ICMP_ENTRIES = 131072,
	/* Rule bitmaps: each row is one meta chunk followed by the rule chunks of its direction. */
	SEG_CHUNK_WORDS = 8,
	SEG_CHUNK_RULES = SEG_CHUNK_WORDS * 64,
	/* verifier: the chunk scan is a bounded loop; 128 chunks = 65,536 rules per direction. */
	SEG_MAX_CHUNKS = 128,
	/* IPv6 extension headers walked before giving up (SEG_REASON_EXT_LIMIT). */
	SEG_MAX_EXT_HDRS = 8,
	/* Bits of struct seg_prefix_key that precede the address. */
	SEG_PREFIX_SELECTOR_BITS = 32,
	/* The match fields a packet is reduced to (src/dst address, src port, dst side, protocol):
	 * compiler/match-fields.ts lists them; the classifier ANDs one bitmap row per field. */
	SEG_CLASS_FIELDS = 5,
	/* How long after its first fragment passed the later fragments of a datagram may follow
	 * (Linux's ipfrag_time is 30 s too). */
	SEG_FRAGMENT_TIMEOUT_S = 30,
};

/* A rule id meaning "the direction's default decided" (an enum of its own: it is unsigned). */
enum seg_rule_id {
	SEG_RULE_NONE = 0xffffffffu,
};

enum seg_dir {
	SEG_DIR_INGRESS = 0,
	SEG_DIR_EGRESS = 1,
};

/* Family index (not AF_*): the second index of per-family tables. */
enum seg_family {
	SEG_FAMILY_IP4 = 0,
	SEG_FAMILY_IP6 = 1,
};

enum seg_field {
	SEG_FIELD_SRC = 0,
	SEG_FIELD_DST = 1,
};

enum seg_verdict {
	SEG_VERDICT_DENY = 0,
	SEG_VERDICT_ALLOW = 1,
};

/* Why a packet got its verdict; written to skb->cb[1] and counted in seg_stats. Stable:
 * append only. */
enum seg_reason {
	SEG_REASON_RULE = 0,		/* a rule decided (cb[0] holds its id) */
	SEG_REASON_DEFAULT = 1,		/* no rule matched: the direction's default */
	SEG_REASON_SESSION = 2,		/* a live session of the current policy */
	SEG_REASON_SESSION_RECHECKED = 3, /* a session of an older policy, still allowed */
	SEG_REASON_SESSION_REVOKED = 4,	/* a session of an older policy, now denied: dropped */
	SEG_REASON_NON_IP = 5,		/* not IPv4/IPv6 (ARP, LLDP, ...): passes */
	SEG_REASON_NEIGHBOR_DISCOVERY = 6, /* ICMPv6 133-137: passes unless configured */
	SEG_REASON_NO_POLICY = 7,	/* the active slot holds no policy: dropped */
	SEG_REASON_TRUNC_L2 = 8,	/* Ethernet or 802.1Q header cut short */
	SEG_REASON_TRUNC_IP4 = 9,	/* IPv4 header cut short */
	SEG_REASON_BAD_IP4 = 10,	/* IHL < 5 or total length shorter than the header */
	SEG_REASON_TRUNC_IP6 = 11,	/* IPv6 header cut short */
	SEG_REASON_BAD_IP6 = 12,	/* version is not 6 */
	SEG_REASON_TRUNC_EXT = 13,	/* an IPv6 extension header cut short */
	SEG_REASON_EXT_LIMIT = 14,	/* more than SEG_MAX_EXT_HDRS extension headers */
	SEG_REASON_TRUNC_L4 = 15,	/* TCP/UDP/SCTP/ICMP header of a first fragment cut short */
	SEG_REASON_BAD_L4 = 16,		/* TCP data offset < 5 */
	SEG_REASON_INTERNAL = 17,	/* a table of the active slot is missing or too small: dropped */
	SEG_REASON_VLAN_DEPTH = 18,	/* a second VLAN tag: dropped, it would hide the payload */
	SEG_REASON_RELATED = 19,	/* an ICMP error quoting a packet of a live session: passes */
	SEG_REASON_FRAGMENT = 20,	/* a later fragment of a datagram whose first fragment passed */
	SEG_REASON_HANDSHAKE_REPLY = 21, /* a SYN-ACK without session under table pressure, passed
					  * because the SYN it answers is allowed (lib/pressure.h) */
	SEG_REASON_TCP_WINDOW = 22,	/* a TCP RST or SYN outside its session's sequence window (or
					 * a SYN on a synchronized session): not the session's, it
					 * got the verdict of a packet without one (lib/tcp_window.h) */
	SEG_REASON_COUNT = 23,
};

/* Per-CPU counters (seg_stats index). Verdicts first, then session events, then one counter
 * per reason at SEG_STAT_REASON_BASE + reason. */
enum seg_stat {
	SEG_STAT_DENY = 0,
	SEG_STAT_ALLOW = 1,
	SEG_STAT_SESSION_HIT = 2,
	SEG_STAT_SESSION_MISS = 3,
	SEG_STAT_SESSION_NEW = 4,
	SEG_STAT_SESSION_TABLE_FULL = 5,
	SEG_STAT_SESSION_EXPIRED = 6,
	SEG_STAT_SESSION_CLOSED = 7,
	SEG_STAT_REASON_BASE = 8,
	/* Counters after the reasons (their index moves with SEG_REASON_COUNT; use the names). */
	SEG_STAT_EXT_BASE = SEG_STAT_REASON_BASE + SEG_REASON_COUNT,
	SEG_STAT_WOULD_DENY = SEG_STAT_EXT_BASE + 0,	/* audit: a deny that passed */
	SEG_STAT_EVENT_SENT = SEG_STAT_EXT_BASE + 1,	/* events written to seg_events */
	SEG_STAT_EVENT_RULE_LIMITED = SEG_STAT_EXT_BASE + 2, /* not sent: the rule's bucket was empty */
	SEG_STAT_EVENT_GLOBAL_LIMITED = SEG_STAT_EXT_BASE + 3, /* not sent: the global bucket was empty */
	SEG_STAT_EVENT_RING_FULL = SEG_STAT_EXT_BASE + 4, /* not sent: no room in the ring buffer */
	SEG_STAT_SYN = SEG_STAT_EXT_BASE + 5,		/* TCP SYN (no ACK) packets classified */
	SEG_STAT_HALF_OPEN_NEW = SEG_STAT_EXT_BASE + 6,	/* sessions opened by a SYN or SYN-ACK */
	SEG_STAT_SYN_UNTRACKED = SEG_STAT_EXT_BASE + 7,	/* allowed SYN / SYN-ACK opened no session:
							 * the table was under pressure */
	SEG_STAT_PRESSURE = SEG_STAT_EXT_BASE + 8,	/* packets that found the table under pressure */
	/* Verdicts by hook: SEG_STAT_DIR_VERDICT_BASE + dir * 2 + (verdict == allow). */
	SEG_STAT_DIR_VERDICT_BASE = SEG_STAT_EXT_BASE + 9,
	SEG_STAT_INGRESS_DENY = SEG_STAT_DIR_VERDICT_BASE + 0,
	SEG_STAT_INGRESS_ALLOW = SEG_STAT_DIR_VERDICT_BASE + 1,
	SEG_STAT_EGRESS_DENY = SEG_STAT_DIR_VERDICT_BASE + 2,
	SEG_STAT_EGRESS_ALLOW = SEG_STAT_DIR_VERDICT_BASE + 3,
	SEG_STAT_COUNT = SEG_STAT_EXT_BASE + 13,
};

/* Session states; each has a timeout in seg_config.timeout_s. */
enum seg_state {
	SEG_STATE_TCP_SYN_SENT = 0,
	SEG_STATE_TCP_SYN_RECV = 1,
	SEG_STATE_TCP_ESTABLISHED = 2,
	SEG_STATE_TCP_FIN_WAIT = 3,	/* one side sent FIN */
	SEG_STATE_TCP_CLOSING = 4,	/* both sides sent FIN */
	SEG_STATE_UDP = 5,
	SEG_STATE_ICMP = 6,
	SEG_STATE_OTHER = 7,
	SEG_STATE_COUNT = 8,
};

/* seg_config.flags */
enum seg_cfg_flag {
	SEG_CFG_CLASSIFY_ND = 1u << 0,		/* classify ICMPv6 133-137 like any packet */
	SEG_CFG_STATELESS = 1u << 1,		/* no sessions: classify every packet (tests, benchmarks) */
	SEG_CFG_LOG_DENIES = 1u << 2,		/* an event for every denied packet, not only log rules' */
	SEG_CFG_NO_SYN_PROTECTION = 1u << 3,	/* under table pressure, SYNs open sessions anyway */
};

/* Defaults where a seg_config field holds 0 (docs/datapath.md, "Events", "Table pressure"). */
enum seg_default {
	SEG_DEFAULT_EVENT_RATE = 100,		/* events per second per rule and CPU */
	SEG_DEFAULT_EVENT_BURST = 200,
	SEG_DEFAULT_EVENT_GLOBAL_RATE = 2000,	/* events per second per CPU, all rules */
	SEG_DEFAULT_EVENT_GLOBAL_BURST = 4000,
	SEG_DEFAULT_PRESSURE_PCT = 75,		/* session table fill where SYN protection starts */
};

/* skb->cb[] as the program leaves it (BPF_PROG_TEST_RUN reads it back from ctx_out). */
enum seg_cb {
	SEG_CB_RULE = 0,	/* deciding rule id, or SEG_RULE_NONE */
	SEG_CB_REASON = 1,	/* enum seg_reason */
	SEG_CB_VERDICT = 2,	/* enum seg_verdict */
	SEG_CB_WOULD_DENY = 3,	/* 1: audit passed a packet the policy denies */
};

/**
 * struct seg_config - the one global config entry (seg_config[0]).
 * @active_slot: slot whose tables classify packets; flipping it switches policy atomically.
 * @flags: SEG_CFG_* bits.
 * @timeout_s: session timeout per enum seg_state, in seconds.
 * @event_rate: token bucket of each rule's events, per second and CPU (0: the default).
 * @event_burst: that bucket's depth (0: the default).
 * @event_global_rate: bucket of all events, per second and CPU (0: the default).
 * @event_global_burst: its depth (0: the default).
 * @pressure_pct: session table fill, in percent, from which allowed SYNs open no session
 *	(unless SEG_CFG_NO_SYN_PROTECTION); 0: SEG_DEFAULT_PRESSURE_PCT.
 * @canary_generation: the canary (lib/canary.h): the generation of the policy in the other slot
 *	(1 - @active_slot) that judges a share of new flows beside the one in force; 0: no canary.
 * @canary_share: that share of new flows, in SEG_CANARY_SHARE_SCALE parts (0: none, while the
 *	canary's own sessions keep it).
 */
struct seg_config {
	__u32 active_slot;
	__u32 flags;
	__u32 timeout_s[SEG_STATE_COUNT];
	__u32 event_rate;
	__u32 event_burst;
	__u32 event_global_rate;
	__u32 event_global_burst;
	__u32 pressure_pct;
	__u32 pad;
	__u64 canary_generation;
	__u32 canary_share;
	__u32 canary_pad;
};
_Static_assert(sizeof(struct seg_config) == 80, "seg_config layout");

/**
 * struct seg_policy_meta - a slot's policy header (inner array, one entry).
 * @generation: deploy generation of the policy in this slot; 0 = empty slot.
 * @rule_base: first index of this slot's rules in seg_rule_hits.
 * @rule_offset: per direction, the rule id of bit 0 (ingress rules come first).
 * @chunks: per direction, rule chunks in each bitmap row.
 * @row_stride: chunks per bitmap row (1 meta chunk + the larger direction's rule chunks).
 * @default_verdict: per direction, enum seg_verdict when no rule matches.
 * @icmp_used: nonzero when some rule tests an ICMP type (seg_icmp is then populated).
 * @audit: nonzero: audit mode for the whole policy (denies pass, counted as would-deny).
 */
struct seg_policy_meta {
	__u64 generation;
	__u32 rule_base;
	__u32 rule_offset[SEG_DIRS];
	__u32 chunks[SEG_DIRS];
	__u32 row_stride;
	__u8 default_verdict[SEG_DIRS];
	__u8 icmp_used;
	__u8 audit;
	__u8 pad[4];
};
_Static_assert(sizeof(struct seg_policy_meta) == 40, "seg_policy_meta layout");

/**
 * struct seg_prefix_key - key of the address LPM trie (one trie per slot for every direction,
 * family and field). LPM prefixes run from the first byte after @prefixlen, so the selectors
 * come first (always fully matched: prefixlen = 32 + address bits) and the address last.
 * IPv4 addresses take the first 4 bytes of @addr; the rest is zero.
 */
struct seg_prefix_key {
	__u32 prefixlen;
	__u8 dir;
	__u8 family;
	__u8 field;
	__u8 pad;
	__u8 addr[16];
};
_Static_assert(sizeof(struct seg_prefix_key) == 24, "seg_prefix_key layout");

/* seg_l4[port]: bitmap rows of the source and destination port classes, per direction. */
struct seg_l4_rows {
	__u32 src[SEG_DIRS];
	__u32 dst[SEG_DIRS];
};
_Static_assert(sizeof(struct seg_l4_rows) == 16, "seg_l4_rows layout");

/* seg_icmp[family << 16 | type << 8 | code] and seg_protos[family << 8 | proto]: a row per
 * direction. */
struct seg_dir_rows {
	__u32 row[SEG_DIRS];
};
_Static_assert(sizeof(struct seg_dir_rows) == 8, "seg_dir_rows layout");

/* One chunk of a rule bitmap: bit i of word w is rule 64 * w + i of the chunk. A row's meta
 * chunk (its first) summarises the row: bit c % 64 of w[c / 64] is set when rule chunk c has
 * a set bit (SEG_MAX_CHUNKS = 128 chunks: w[0] and w[1]); the other words are zero. */
struct seg_chunk {
	__u64 w[SEG_CHUNK_WORDS];
};
_Static_assert(sizeof(struct seg_chunk) == 64, "seg_chunk layout");

/**
 * struct seg_session_key - a flow, the same in both directions: endpoint a is the lower of the
 * two (address, then port). Ports in host order; for ICMP echo both hold the identifier.
 */
struct seg_session_key {
	__u8 addr_a[16];
	__u8 addr_b[16];
	__u16 port_a;
	__u16 port_b;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};
_Static_assert(sizeof(struct seg_session_key) == 40, "seg_session_key layout");

/* seg_session.flags */
enum seg_session_flag {
	SEG_SESSION_INITIATOR_A = 1u << 0,	/* the first packet came from endpoint a */
	SEG_SESSION_FIN_A = 1u << 1,		/* endpoint a sent FIN */
	SEG_SESSION_FIN_B = 1u << 2,		/* endpoint b sent FIN */
	SEG_SESSION_HAS_PORTS = 1u << 3,
	SEG_SESSION_HAS_ICMP = 1u << 4,
	SEG_SESSION_LOG = 1u << 5,		/* the allowing rule logs: every packet is an event */
};

/* seg_session.tcp_window: what the session knows of each endpoint's sequence space. Zero (a
 * session of data-path version 2, or one just opened) knows nothing: every segment is in the
 * window, and the next ones teach it (lib/tcp_window.h). */
enum seg_tcp_window_flag {
	SEG_TCP_WINDOW_A = 1u << 0,	/* tcp_end_a and tcp_maxwin_a hold what a sent */
	SEG_TCP_WINDOW_B = 1u << 1,	/* tcp_end_b and tcp_maxwin_b hold what b sent */
	SEG_TCP_WSCALE_A = 1u << 2,	/* a's SYN offered window scaling (tcp_scale_a) */
	SEG_TCP_WSCALE_B = 1u << 3,	/* b's SYN or SYN-ACK offered window scaling (tcp_scale_b) */
	SEG_TCP_SCALED = 1u << 4,	/* the handshake was seen: the scales are known (0 unless
					 * both sides offered one) */
};

/* Window scale assumed while the handshake's is unknown (RFC 7323's largest): liberal. */
enum seg_tcp_limit {
	SEG_TCP_MAX_WSCALE = 14,
};

/**
 * struct seg_session - what the first allowed packet decided, and the flow's state since.
 * @generation: the policy generation that decided it (older = classify again).
 * @dir: enum seg_dir of the first packet; with SEG_SESSION_INITIATOR_A it rebuilds the first
 *	packet for re-classification.
 * @tcp_end_a: TCP: the sequence number after the furthest byte endpoint a sent in the window
 *	(a SYN and a FIN count one); valid with SEG_TCP_WINDOW_A.
 * @tcp_end_b: likewise for endpoint b.
 * @tcp_maxwin_a: TCP: the largest window a advertised, in bytes (scaled); valid with
 *	SEG_TCP_WINDOW_A.
 * @tcp_maxwin_b: likewise for endpoint b.
 * @tcp_scale_a: the window scale a's SYN offered (with SEG_TCP_WSCALE_A).
 * @tcp_scale_b: the window scale b's SYN or SYN-ACK offered (with SEG_TCP_WSCALE_B).
 * @tcp_window: enum seg_tcp_window_flag; zero: nothing known yet (data-path version 2).
 */
struct seg_session {
	__u64 last_seen_ns;
	__u64 generation;
	__u64 packets;
	__u64 bytes;
	__u32 rule_id;
	__u8 verdict;
	__u8 dir;
	__u8 state;
	__u8 flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad[6];
	/* Data-path version 3: the TCP sequence windows (zero = unknown). */
	__u32 tcp_end_a;
	__u32 tcp_end_b;
	__u32 tcp_maxwin_a;
	__u32 tcp_maxwin_b;
	__u8 tcp_scale_a;
	__u8 tcp_scale_b;
	__u8 tcp_window;
	__u8 tcp_pad[5];
};
_Static_assert(sizeof(struct seg_session) == 72, "seg_session layout");

/* The session table (lib/session_table.h): set-associative, SEG_SESSION_WAYS sessions per
 * bucket. Data-path version 5 (version 4 and older: an LRU hash of key -> seg_session). */
enum seg_session_table_limits {
	SEG_SESSION_WAYS = 4,
	/* A way's eviction stamp: the session clock >> SEG_SESSION_STAMP_SHIFT (1.05 ms). */
	SEG_SESSION_STAMP_SHIFT = 20,
	/* The bucket hash's key words (struct seg_session_table.hash_key). */
	SEG_SESSION_HASH_WORDS = 10,
};

/* One way of a bucket: a session and its flow. */
struct seg_session_way {
	struct seg_session_key key;
	struct seg_session s;
};
_Static_assert(sizeof(struct seg_session_way) == 112, "seg_session_way layout");

/**
 * struct seg_session_bucket - SEG_SESSION_WAYS sessions whose flows hash to one bucket
 * @lock: taken by writers only (the kernel's inserts and removes; userspace's BPF_F_LOCK
 *	updates); readers never take it
 * @seq: per way, odd while a writer changes the way (a seqcount: a reader treats a way in
 *	change, or one that changed under it, as absent)
 * @tag: per way, the high half of the flow's bucket hash with bit 0 set (nonzero); 0: free
 * @stamp: per way, the session clock >> SEG_SESSION_STAMP_SHIFT when last seen (eviction)
 * @ref: per way, 1 once a packet after the first found the session (a flow seen once is
 *	evicted before one seen again)
 *
 * The header (everything before @way) is one 64-byte line; a miss reads it only.
 */
struct seg_session_bucket {
	struct bpf_spin_lock lock;
	__u32 seq[SEG_SESSION_WAYS];
	__u32 tag[SEG_SESSION_WAYS];
	__u32 stamp[SEG_SESSION_WAYS];
	__u8 ref[SEG_SESSION_WAYS];
	__u8 pad[8];
	struct seg_session_way way[SEG_SESSION_WAYS];
};
_Static_assert(sizeof(struct seg_session_bucket) == 64 + SEG_SESSION_WAYS * 112, "seg_session_bucket layout");

/**
 * struct seg_session_table - the session table's own state (seg_session_meta[0])
 * @hash_key: the bucket hash's key, drawn at random by the loader when a deployment's maps are
 *	made and kept with them (redeploys, upgrades), so that nobody can aim flows at one bucket
 * @live: ways in use (kernel inserts and removes; userspace flushes and seeds adjust it), for
 *	table pressure (lib/pressure.h); approximate under races, never below 0 when read
 */
struct seg_session_table {
	__u32 hash_key[SEG_SESSION_HASH_WORDS];
	__u32 pad[2];
	__s64 live;
};
_Static_assert(sizeof(struct seg_session_table) == 56, "seg_session_table layout");

/**
 * struct seg_fragment_key - one fragmented datagram: its addresses as sent, protocol, family
 * and identification (the IPv4 ID, or the IPv6 fragment header's identification).
 */
struct seg_fragment_key {
	__u8 src[16];
	__u8 dst[16];
	__u32 id;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};
_Static_assert(sizeof(struct seg_fragment_key) == 40, "seg_fragment_key layout");

/**
 * struct seg_fragment - an allowed first fragment, so that the later ones pass too.
 * @first_ns: the session clock when the first fragment passed.
 * @rule_id: the rule that decided the first fragment (or its session's rule).
 * @dir: enum seg_dir the first fragment crossed; later fragments must cross the same.
 */
struct seg_fragment {
	__u64 first_ns;
	__u32 rule_id;
	__u8 dir;
	__u8 pad[3];
};
_Static_assert(sizeof(struct seg_fragment) == 16, "seg_fragment layout");

/* seg_rules[rule id]: what a rule decides. @audit: a deny that passes (`deny audit`).
 * @no_session: the flows it allows open no session (`nosession`, set only where the analysis
 * proved that the other direction passes every reply; data-path version 4, the byte that was
 * padding, so that 0 in an older policy's entries means "open sessions" as before). */
struct seg_rule_info {
	__u8 verdict;
	__u8 log;
	__u8 audit;
	__u8 no_session;
};
_Static_assert(sizeof(struct seg_rule_info) == 4, "seg_rule_info layout");

/* seg_stats value (per CPU) and seg_rule_hits value (per CPU). */
struct seg_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct seg_counter) == 16, "seg_counter layout");

/* struct seg_event.verdict: what happened to the packet. */
enum seg_event_verdict {
	SEG_EVENT_DENY = 0,
	SEG_EVENT_ALLOW = 1,
	SEG_EVENT_WOULD_DENY = 2,	/* audit: denied by the policy, passed */
};

/* struct seg_event.kind */
enum seg_event_kind {
	SEG_EVENT_PACKET = 0,		/* a packet decided by a log rule (or denied, with LOG_DENIES) */
	SEG_EVENT_SYN_UNTRACKED = 1,	/* an allowed SYN opened no session: table pressure */
};

/* struct seg_event.flags */
enum seg_event_flag {
	SEG_EVENT_HAS_PORTS = 1u << 0,
	SEG_EVENT_HAS_ICMP = 1u << 1,
	SEG_EVENT_FRAGMENT = 1u << 2,
};

/**
 * struct seg_event - one record of the seg_events ring buffer.
 * @time_ns: the session clock (CLOCK_MONOTONIC_COARSE, lib/session.h).
 * @generation: the policy generation that decided.
 * @rule_id: the deciding rule (for a session: the rule that allowed it), or SEG_RULE_NONE.
 * @ifindex: the interface whose hook saw the packet.
 * @len: the packet's length (skb->len).
 * Ports in host order; addresses as in the packet (IPv4 in the first 4 bytes).
 */
struct seg_event {
	__u64 time_ns;
	__u64 generation;
	__u32 rule_id;
	__u32 ifindex;
	__u32 len;
	__u8 kind;
	__u8 dir;
	__u8 verdict;
	__u8 reason;
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 flags;
	__u16 sport;
	__u16 dport;
	__u8 pad[6];
	__u8 src[16];
	__u8 dst[16];
};
_Static_assert(sizeof(struct seg_event) == 80, "seg_event layout");

/* seg_event_buckets value (per CPU): a token bucket; @credit_ns in billionths of a token. */
struct seg_bucket {
	__u64 credit_ns;
	__u64 last_ns;
};
_Static_assert(sizeof(struct seg_bucket) == 16, "seg_bucket layout");

/* seg_syn_sources key: a source address (IPv4 in the first 4 bytes). */
struct seg_source_key {
	__u8 addr[16];
	__u8 family;
	__u8 pad[3];
};
_Static_assert(sizeof(struct seg_source_key) == 20, "seg_source_key layout");

/**
 * struct seg_syn_rate - SYNs seen from one source (LRU hash: the busiest sources stay).
 * @window_ns: start of the current one-second window.
 * @current: SYNs in the current window; @previous: in the window before (the rate, per second).
 * @total: SYNs since the entry was created.
 */
struct seg_syn_rate {
	__u64 window_ns;
	__u64 total;
	__u32 current;
	__u32 previous;
};
_Static_assert(sizeof(struct seg_syn_rate) == 24, "seg_syn_rate layout");

/* The canary's shares and its per-role counters (lib/canary.h, docs/deploy.md "Canary"). */
enum seg_canary_limits {
	/* seg_config.canary_share is in ten-thousandths (basis points) of new flows. */
	SEG_CANARY_SHARE_SCALE = 10000,
};

/* seg_canary_stats index: role * SEG_CANARY_STAT_COUNT + stat. Counted only while a canary runs. */
enum seg_canary_role {
	SEG_CANARY_ROLE_BASELINE = 0,	/* the policy in force (seg_config.active_slot) */
	SEG_CANARY_ROLE_CANARY = 1,	/* the canary (seg_config.canary_generation) */
};

enum seg_canary_stat {
	SEG_CANARY_STAT_ALLOW = 0,	/* packets the role's policy passed (sessions included) */
	SEG_CANARY_STAT_DENY = 1,	/* packets it dropped */
	SEG_CANARY_STAT_FLOWS = 2,	/* packets its rules classified (a new flow's first packets) */
	SEG_CANARY_STAT_FLOW_DENY = 3,	/* of those, denied */
	SEG_CANARY_STAT_WOULD_DENY = 4,	/* audit: denied by the policy, passed */
	SEG_CANARY_STAT_SESSION_HIT = 5, /* packets of a live session of the role's generation */
	SEG_CANARY_STAT_REVOKED = 6,	/* sessions of an older generation its policy denies now */
	SEG_CANARY_STAT_COUNT = 7,
};

/**
 * struct seg_info - seg_info[0]: what the pinned data path is (written by the loader).
 * @version: the data-path version (runtime/datapath/version.ts DATAPATH_VERSION) whose layouts
 *	the pinned maps hold. A data path without this map is version 1.
 * @pad: zero.
 * @lineage: the id of the first seg_stats map of this deployment: counters migrated into a new
 *	map continue its series (the agent's epoch), so no reset is seen across an upgrade.
 */
struct seg_info {
	__u32 version;
	__u32 pad;
	__u64 lineage;
};
_Static_assert(sizeof(struct seg_info) == 16, "seg_info layout");
