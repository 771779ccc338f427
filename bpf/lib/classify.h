/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Classification: the first matching rule of a direction, from the active slot's tables.
 * Each field maps to an equivalence class (a bitmap row of the rules containing the value):
 * source and destination address by longest-prefix match, ports and ICMP type/code by array
 * index, protocol by array index. The rows' AND, scanned only in the chunks where every row
 * has a set bit, gives the first matching rule. docs/datapath.md has the cost model. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "maps.h"
#include "parse.h"

/**
 * struct seg_decision - what classification decided.
 * @rule: the deciding rule id, or SEG_RULE_NONE for the default.
 * @reason: SEG_REASON_RULE, SEG_REASON_DEFAULT or SEG_REASON_INTERNAL.
 * @log: the rule logs (an event per packet).
 * @audit: the rule is a `deny audit`: its denies pass (counted as would-deny).
 * @no_session: the rule's flows open no session (seg_rule_info.no_session).
 */
struct seg_decision {
	__u32 rule;
	__u32 reason;
	__u32 verdict;
	__u8 log;
	__u8 audit;
	__u8 no_session;
	__u8 pad;
};

/* Index of the lowest set bit of a nonzero word. */
static __always_inline __u32 seg_ffs64(__u64 w)
{
	__u32 n = 0;

	if (!(w & 0xffffffffull)) { n += 32; w >>= 32; }
	if (!(w & 0xffffull)) { n += 16; w >>= 16; }
	if (!(w & 0xffull)) { n += 8; w >>= 8; }
	if (!(w & 0xfull)) { n += 4; w >>= 4; }
	if (!(w & 0x3ull)) { n += 2; w >>= 2; }
	if (!(w & 0x1ull)) { n += 1; }
	return n;
}

/* A row id, or SEG_RULE_NONE when the trie has no prefix (then no rule contains the address). */
static __always_inline __u32 seg_address_row(void *prefixes, __u32 dir, const struct seg_packet *pkt,
					     __u32 field)
{
	struct seg_prefix_key key = {};
	__u32 *row;

	key.prefixlen = SEG_PREFIX_SELECTOR_BITS + 128;
	key.dir = dir;
	key.family = pkt->family;
	key.field = field;
	if (field == SEG_FIELD_SRC)
		__builtin_memcpy(key.addr, pkt->src, 16);
	else
		__builtin_memcpy(key.addr, pkt->dst, 16);
	row = bpf_map_lookup_elem(prefixes, &key);
	return row ? *row : SEG_RULE_NONE;
}

static __always_inline void seg_decide_default(const struct seg_policy_meta *meta, __u32 dir,
					       struct seg_decision *out)
{
	out->rule = SEG_RULE_NONE;
	out->reason = SEG_REASON_DEFAULT;
	out->verdict = meta->default_verdict[dir & 1];
	out->log = 0;
	out->audit = 0;
	out->no_session = 0;
}

/**
 * seg_classify - the first rule of @dir that matches @pkt, in the tables of @slot
 * @pkt: the packet's fields (or a session's first packet, rebuilt)
 * @dir: enum seg_dir
 * @slot: the active slot
 * @meta: that slot's policy header
 * @out: the decision
 *
 * Returns: 0 (a global function returns a scalar); @out->reason is SEG_REASON_INTERNAL when a
 * table of the slot is missing (or an argument is NULL, which the callers never pass).
 */
/* verifier: a global function, checked once on its own rather than at each of its callers (new
 * packets, re-checked sessions, handshake replies), whose copies of its stack frame would also
 * pass the 512-byte limit. Its pointer arguments may be NULL as far as the verifier knows. */
__noinline int seg_classify(const struct seg_packet *pkt, __u32 dir, __u32 slot,
			    const struct seg_policy_meta *meta, struct seg_decision *out)
{
	__u32 rows[SEG_CLASS_FIELDS];
	void *prefixes, *l4, *icmp, *protos, *bits, *rules;
	struct seg_l4_rows *l4_src, *l4_dst;
	struct seg_dir_rows *dr;
	struct seg_rule_info *info;
	struct seg_chunk *chunk;
	__u64 summary[2] = { ~0ull, ~0ull };
	__u32 idx, stride, i, f, w;

	if (!out)
		return 0;
	if (!pkt || !meta)
		goto internal;
	dir &= 1;
	/* A direction without rules (no policy block, say) has nothing to look up. */
	if (!meta->chunks[dir]) {
		seg_decide_default(meta, dir, out);
		return 0;
	}
	prefixes = bpf_map_lookup_elem(&seg_slot_prefixes, &slot);
	l4 = bpf_map_lookup_elem(&seg_slot_l4, &slot);
	icmp = bpf_map_lookup_elem(&seg_slot_icmp, &slot);
	protos = bpf_map_lookup_elem(&seg_slot_protos, &slot);
	bits = bpf_map_lookup_elem(&seg_slot_bits, &slot);
	rules = bpf_map_lookup_elem(&seg_slot_rules, &slot);
	if (!prefixes || !l4 || !icmp || !protos || !bits || !rules)
		goto internal;

	/* Phase 1: one class (bitmap row) per field. An address the trie does not hold is in no
	 * rule (the emitter always inserts /0, so this does not happen); an array index out of
	 * range means the tables do not fit the program: SEG_REASON_INTERNAL, dropped. */
	rows[0] = seg_address_row(prefixes, dir, pkt, SEG_FIELD_SRC);
	rows[1] = seg_address_row(prefixes, dir, pkt, SEG_FIELD_DST);
	idx = pkt->has_ports ? pkt->sport : SEG_L4_NONE;
	l4_src = bpf_map_lookup_elem(l4, &idx);
	idx = pkt->has_ports ? pkt->dport : SEG_L4_NONE;
	l4_dst = bpf_map_lookup_elem(l4, &idx);
	if (!l4_src || !l4_dst)
		goto internal;
	rows[2] = l4_src->src[dir];
	rows[3] = l4_dst->dst[dir];
	if (pkt->has_icmp && meta->icmp_used) {
		/* The destination-side class of an ICMP packet is that of its type and code. */
		idx = ((__u32)pkt->family << 16) | ((__u32)pkt->icmp_type << 8) | pkt->icmp_code;
		dr = bpf_map_lookup_elem(icmp, &idx);
		if (!dr)
			goto internal;
		rows[3] = dr->row[dir];
	}
	idx = ((__u32)pkt->family << 8) | pkt->proto;
	dr = bpf_map_lookup_elem(protos, &idx);
	if (!dr)
		goto internal;
	rows[4] = dr->row[dir];

	/* Phase 2: the chunks where all five rows have a set bit (the AND of the rows' summaries),
	 * in order; in each, the AND of the rows' words. The first set bit wins. */
	stride = meta->row_stride;
#pragma unroll
	for (f = 0; f < SEG_CLASS_FIELDS; f++) {
		if (rows[f] == SEG_RULE_NONE)
			goto no_match;
		/* From here on rows[] holds each row's first index in the bitmap array. */
		rows[f] *= stride;
		chunk = bpf_map_lookup_elem(bits, &rows[f]);
		if (!chunk)
			goto internal;
		summary[0] &= chunk->w[0];
		summary[1] &= chunk->w[1];
	}
	/* verifier: the scan is bounded by SEG_MAX_CHUNKS whatever the policy says. */
	for (i = 0; i < SEG_MAX_CHUNKS; i++) {
		struct seg_chunk *ch[SEG_CLASS_FIELDS];
		__u32 c;

		if (summary[0]) {
			c = seg_ffs64(summary[0]);
			summary[0] &= summary[0] - 1;
		} else if (summary[1]) {
			c = 64 + seg_ffs64(summary[1]);
			summary[1] &= summary[1] - 1;
		} else {
			break;
		}
#pragma unroll
		for (f = 0; f < SEG_CLASS_FIELDS; f++) {
			idx = rows[f] + 1 + c;
			ch[f] = bpf_map_lookup_elem(bits, &idx);
			if (!ch[f])
				goto internal;
		}
#pragma unroll
		for (w = 0; w < SEG_CHUNK_WORDS; w++) {
			__u64 acc = ch[0]->w[w] & ch[1]->w[w] & ch[2]->w[w] & ch[3]->w[w] & ch[4]->w[w];

			if (acc) {
				idx = meta->rule_offset[dir] + c * SEG_CHUNK_RULES + w * 64 + seg_ffs64(acc);
				info = bpf_map_lookup_elem(rules, &idx);
				if (!info)
					goto internal;
				out->rule = idx;
				out->reason = SEG_REASON_RULE;
				out->verdict = info->verdict;
				out->log = info->log;
				out->audit = info->audit;
				out->no_session = info->no_session;
				return 0;
			}
		}
	}
no_match:
	seg_decide_default(meta, dir, out);
	return 0;
internal:
	out->rule = SEG_RULE_NONE;
	out->reason = SEG_REASON_INTERNAL;
	out->verdict = SEG_VERDICT_DENY;
	out->log = 0;
	out->audit = 0;
	out->no_session = 0;
	return 0;
}
