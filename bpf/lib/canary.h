/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* The in-kernel canary: a second policy generation beside the one in force. While
 * seg_config.canary_generation names the policy in the other slot, a share of NEW flows
 * (seg_config.canary_share of SEG_CANARY_SHARE_SCALE) is judged by it, chosen by a hash of the
 * flow's direction-independent key, so both directions and every packet of a flow meet the same
 * policy. A session keeps the generation that opened it: a session hit of the canary's
 * generation is judged as the canary's, one of the baseline's as the baseline's, whatever the
 * share becomes. With no canary the hot path pays one test of a config word it has loaded.
 *
 * The flow hash (runtime/datapath/flow-hash.ts computes the same, docs/deploy.md "Canary"):
 * MurmurHash3 x86_32 of the 40 bytes of struct seg_session_key, seed SEG_CANARY_SEED, for the
 * key the packet's session has (seg_session_key_of), or, for a packet that belongs to no session
 * (an ICMP error, a later fragment), the key of its addresses and protocol with both ports 0.
 * The flow is the canary's when (hash * SEG_CANARY_SHARE_SCALE) >> 32 < canary_share. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "maps.h"
#include "parse.h"
#include "session.h"

#define SEG_CANARY_SEED 0x5e9ca7a1u

/* Words that may alias the key's bytes and ports (without it, type-based alias analysis lets
 * the loads move above the stores that fill the key). */
typedef __u32 __attribute__((may_alias)) seg_u32_alias;

static __always_inline __u32 seg_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/**
 * seg_flow_hash - MurmurHash3 x86_32 of a session key (little-endian words), seed SEG_CANARY_SEED
 * @key: the flow's key; its padding is zero
 *
 * Returns: the hash.
 */
static __always_inline __u32 seg_flow_hash(const struct seg_session_key *key)
{
	/* Whole words: 10 loads, not 40 (the key is 40 bytes; a global function's pointer
	 * argument is memory, not stack, so the verifier asks no alignment of it). */
	const seg_u32_alias *w = (const seg_u32_alias *)key;
	__u32 h = SEG_CANARY_SEED, k;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*key) / 4); i++) {
		k = w[i];
		k *= 0xcc9e2d51u;
		k = seg_rotl32(k, 15);
		k *= 0x1b873593u;
		h ^= k;
		h = seg_rotl32(h, 13);
		h = h * 5 + 0xe6546b64u;
	}
	h ^= sizeof(*key);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/**
 * seg_canary_flow_in - whether a new flow is the canary's
 * @pkt: the packet
 * @key: its session key, or NULL when the caller has none (stateless, or no session)
 * @share: seg_config.canary_share
 *
 * Returns: 1 for the canary, 0 for the policy in force.
 */
/* verifier: a global function, so that its own key does not grow seg_handle's stack frame. */
__noinline int seg_canary_flow_in(const struct seg_packet *pkt, const struct seg_session_key *key, __u32 share)
{
	struct seg_session_key own __attribute__((aligned(8))) = {};
	int src_is_a;

	if (!pkt)
		return 0;
	if (!key) {
		if (!seg_session_key_of(pkt, &own, &src_is_a))
			seg_session_key_fill(pkt, 0, 0, &own);
		key = &own;
	}
	return (((__u64)seg_flow_hash(key) * SEG_CANARY_SHARE_SCALE) >> 32) < share;
}

/* The canary slot's header, when it holds the canary the config names (not while replaced). */
static __always_inline struct seg_policy_meta *seg_canary_meta(const struct seg_config *cfg, __u32 slot)
{
	__u32 other = (slot ^ 1) & 1, zero = 0;
	struct seg_policy_meta *m = NULL;
	void *metas = bpf_map_lookup_elem(&seg_slot_meta, &other);

	if (metas)
		m = bpf_map_lookup_elem(metas, &zero);
	return m && m->generation == cfg->canary_generation ? m : NULL;
}

/**
 * seg_canary_pick - the policy that judges a new flow: the one in force, or the canary
 * @cfg: the config
 * @pkt: the packet
 * @key: its session key, or NULL
 * @slot: the active slot; the canary's when the flow is the canary's
 * @meta: its header; likewise
 */
static __always_inline void seg_canary_pick(const struct seg_config *cfg, const struct seg_packet *pkt,
					    const struct seg_session_key *key, __u32 *slot, struct seg_policy_meta **meta)
{
	struct seg_policy_meta *m;

	if (!cfg->canary_generation || !cfg->canary_share)
		return;
	if (!seg_canary_flow_in(pkt, key, cfg->canary_share))
		return;
	m = seg_canary_meta(cfg, *slot);
	if (m) {
		*slot = (*slot ^ 1) & 1;
		*meta = m;
	}
}

/**
 * seg_canary_session - a session hit whose generation is not the policy in force's
 * @cfg: the config
 * @s: the session
 * @pkt: the packet
 * @key: the session's key
 * @slot: the active slot; moved to the canary's (see Returns)
 * @meta: its header; likewise
 *
 * Returns: 1 when the session is the canary's (@slot and @meta moved to it): it passes as a
 * session of the policy in force does. 0: classify it again (an older generation's), by the
 * policy its flow's hash picks (@slot and @meta moved when that is the canary).
 */
static __always_inline int seg_canary_session(const struct seg_config *cfg, const struct seg_session *s,
					      const struct seg_packet *pkt, const struct seg_session_key *key,
					      __u32 *slot, struct seg_policy_meta **meta)
{
	struct seg_policy_meta *m;

	if (!cfg->canary_generation)
		return 0;
	if (s->generation == cfg->canary_generation) {
		m = seg_canary_meta(cfg, *slot);
		if (!m)
			return 0;
		*slot = (*slot ^ 1) & 1;
		*meta = m;
		return 1;
	}
	seg_canary_pick(cfg, pkt, key, slot, meta);
	return 0;
}

static __always_inline void seg_canary_add(__u32 idx, __u32 bytes)
{
	struct seg_counter *c = bpf_map_lookup_elem(&seg_canary_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* The role of @meta's policy while a canary runs, as a counter base; -1 without a canary. */
static __always_inline int seg_canary_base(const struct seg_policy_meta *meta)
{
	struct seg_config *cfg;
	__u32 zero = 0;

	if (!meta)
		return -1;
	cfg = bpf_map_lookup_elem(&seg_config, &zero);
	if (!cfg || !cfg->canary_generation)
		return -1;
	return meta->generation == cfg->canary_generation ? SEG_CANARY_ROLE_CANARY * SEG_CANARY_STAT_COUNT
							  : SEG_CANARY_ROLE_BASELINE * SEG_CANARY_STAT_COUNT;
}

/**
 * seg_canary_count - a packet's verdict in its role's counters, while a canary runs
 * @meta: the header of the policy that judged it (NULL: none did, not counted)
 * @verdict: enum seg_verdict as the packet leaves
 * @reason: enum seg_reason
 * @bytes: skb->len
 */
static __always_inline void seg_canary_count(const struct seg_policy_meta *meta, __u32 verdict, __u32 reason, __u32 bytes)
{
	int base = seg_canary_base(meta);

	if (base < 0)
		return;
	seg_canary_add(base + (verdict == SEG_VERDICT_ALLOW ? SEG_CANARY_STAT_ALLOW : SEG_CANARY_STAT_DENY), bytes);
	if (reason == SEG_REASON_RULE || reason == SEG_REASON_DEFAULT || reason == SEG_REASON_HANDSHAKE_REPLY) {
		seg_canary_add(base + SEG_CANARY_STAT_FLOWS, bytes);
		if (verdict != SEG_VERDICT_ALLOW)
			seg_canary_add(base + SEG_CANARY_STAT_FLOW_DENY, bytes);
	} else if (reason == SEG_REASON_SESSION || reason == SEG_REASON_SESSION_RECHECKED) {
		seg_canary_add(base + SEG_CANARY_STAT_SESSION_HIT, bytes);
	} else if (reason == SEG_REASON_SESSION_REVOKED) {
		seg_canary_add(base + SEG_CANARY_STAT_REVOKED, bytes);
	}
}

/* Audit: a deny of @meta's policy that passed, in its role's counters. */
static __always_inline void seg_canary_count_would_deny(const struct seg_policy_meta *meta, __u32 bytes)
{
	int base = seg_canary_base(meta);

	if (base >= 0)
		seg_canary_add(base + SEG_CANARY_STAT_WOULD_DENY, bytes);
}
