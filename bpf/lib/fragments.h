/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Fragments: a later fragment carries no L4 header, so it cannot find its flow's session nor
 * match a rule that tests ports. When a first fragment (offset 0, more to follow) passes, its
 * datagram (addresses, protocol, identification) is remembered in seg_fragments for
 * SEG_FRAGMENT_TIMEOUT_S; a later fragment of it that crosses the same direction then passes
 * (SEG_REASON_FRAGMENT). A first fragment that is dropped forgets its datagram, and a later
 * fragment whose first was never seen (or dropped, or came after it) is classified as any
 * packet, ports absent: no fragment skips policy on the strength of one that did not pass. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "maps.h"
#include "parse.h"
#include "session.h"

static __always_inline void seg_fragment_key_of(const struct seg_packet *pkt, struct seg_fragment_key *key)
{
	__builtin_memcpy(key->src, pkt->src, 16);
	__builtin_memcpy(key->dst, pkt->dst, 16);
	key->id = pkt->frag_id;
	key->proto = pkt->proto;
	key->family = pkt->family;
}

/**
 * seg_fragment_note - remember (allowed) or forget (denied) the datagram of a first fragment
 * @pkt: a first fragment: not a later one, more_fragments set
 * @dir: enum seg_dir it crosses
 * @verdict: what it got
 * @rule: the rule that decided it (or its session's)
 *
 * Returns: 0 (a global function must return a scalar).
 */
/* verifier: global functions, checked once on their own rather than at every path into them. */
__noinline int seg_fragment_note(const struct seg_packet *pkt, __u32 dir, __u32 verdict, __u32 rule)
{
	struct seg_fragment_key key = {};
	struct seg_fragment f = {};

	if (!pkt)
		return 0;
	seg_fragment_key_of(pkt, &key);
	if (verdict != SEG_VERDICT_ALLOW) {
		bpf_map_delete_elem(&seg_fragments, &key);
		return 0;
	}
	f.first_ns = seg_now_ns();
	f.rule_id = rule;
	f.dir = dir;
	/* LRU: a full table evicts the oldest datagrams; theirs later fragments are then
	 * classified as any packet. */
	bpf_map_update_elem(&seg_fragments, &key, &f, BPF_ANY);
	return 0;
}

/**
 * seg_fragment_follows - whether a later fragment belongs to a datagram whose first passed
 * @pkt: a later fragment
 * @dir: enum seg_dir it crosses
 * @rule: set to the first fragment's rule when it does
 *
 * Returns: 1 when it passes as SEG_REASON_FRAGMENT, 0 when it is to be classified.
 */
__noinline int seg_fragment_follows(const struct seg_packet *pkt, __u32 dir, __u32 *rule)
{
	struct seg_fragment_key key = {};
	struct seg_fragment *f;
	__u64 now;

	if (!pkt || !rule)
		return 0;
	seg_fragment_key_of(pkt, &key);
	f = bpf_map_lookup_elem(&seg_fragments, &key);
	if (!f)
		return 0;
	now = seg_now_ns();
	if (now > f->first_ns && now - f->first_ns > SEG_FRAGMENT_TIMEOUT_S * SEG_NS_PER_S) {
		bpf_map_delete_elem(&seg_fragments, &key);
		return 0;
	}
	if (f->dir != dir)
		return 0;
	*rule = f->rule_id;
	return 1;
}
