/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Log events: a record in the seg_events ring buffer for each packet a log rule decides (and,
 * with SEG_CFG_LOG_DENIES, each denied one), behind two token buckets per CPU: the deciding
 * rule's and a global one. An event not sent is counted by cause (rule bucket, global bucket,
 * ring full), so that sent + not sent = every packet that asked for one. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "maps.h"
#include "parse.h"
#include "session.h"
#include "stats.h"

/* seg_emit_event's @what: kind | dir << 8 | event verdict << 16 | reason << 24. */
#define SEG_EVENT_WHAT(kind, dir, verdict, reason) \
	((__u32)(kind) | ((__u32)(dir) << 8) | ((__u32)(verdict) << 16) | ((__u32)(reason) << 24))

/**
 * seg_bucket_take - take one event's worth from a token bucket
 *
 * The credit is kept in billionths of a token, so that a change of rate or burst applies to
 * the tokens a bucket holds: it grows by @rate tokens a second up to @burst, and each event
 * takes one. A bucket never used starts full. (@rate is at most 10^6: the loader checks.)
 * Returns: 1 when the event may go, 0 when the bucket is empty.
 */
static __always_inline int seg_bucket_take(__u32 idx, __u64 rate, __u64 burst, __u64 now)
{
	struct seg_bucket *b = bpf_map_lookup_elem(&seg_event_buckets, &idx);
	__u64 depth = burst * SEG_NS_PER_S, credit, elapsed;

	if (!b)
		return 0;
	credit = b->credit_ns;
	if (!b->last_ns) {
		credit = depth;
	} else if (now > b->last_ns) {
		/* Bounded before the product: 1000 s refill any bucket (rate * 10^12 < 2^64). */
		elapsed = now - b->last_ns;
		if (elapsed > 1000 * SEG_NS_PER_S)
			elapsed = 1000 * SEG_NS_PER_S;
		credit += elapsed * rate;
	}
	if (credit > depth)
		credit = depth;
	if (now > b->last_ns)
		b->last_ns = now;
	if (credit < SEG_NS_PER_S) {
		b->credit_ns = credit;
		return 0;
	}
	b->credit_ns = credit - SEG_NS_PER_S;
	return 1;
}

/**
 * seg_emit_event - send one event, if both buckets allow and the ring has room
 * @skb: the packet
 * @pkt: its parsed fields
 * @meta: the policy in force
 * @what: SEG_EVENT_WHAT(kind, dir, verdict, reason)
 * @rule: the deciding rule, or SEG_RULE_NONE (then only the global bucket applies)
 *
 * verifier: not inlined, so that seg_handle's paths carry one call instead of this body.
 * Returns: 1 when the event was sent.
 */
static __noinline int seg_emit_event(struct __sk_buff *skb, const struct seg_packet *pkt,
				     const struct seg_policy_meta *meta, __u32 what, __u32 rule)
{
	struct seg_config *cfg;
	struct seg_event *e;
	__u32 zero = 0;
	__u64 now;

	cfg = bpf_map_lookup_elem(&seg_config, &zero);
	if (!cfg || !meta)
		return 0;
	now = seg_now_ns();
	if (rule != SEG_RULE_NONE &&
	    !seg_bucket_take(1 + meta->rule_base + rule, cfg->event_rate ? cfg->event_rate : SEG_DEFAULT_EVENT_RATE,
			     cfg->event_burst ? cfg->event_burst : SEG_DEFAULT_EVENT_BURST, now)) {
		seg_count(SEG_STAT_EVENT_RULE_LIMITED, skb->len);
		return 0;
	}
	if (!seg_bucket_take(0, cfg->event_global_rate ? cfg->event_global_rate : SEG_DEFAULT_EVENT_GLOBAL_RATE,
			     cfg->event_global_burst ? cfg->event_global_burst : SEG_DEFAULT_EVENT_GLOBAL_BURST, now)) {
		seg_count(SEG_STAT_EVENT_GLOBAL_LIMITED, skb->len);
		return 0;
	}
	e = bpf_ringbuf_reserve(&seg_events, sizeof(*e), 0);
	if (!e) {
		seg_count(SEG_STAT_EVENT_RING_FULL, skb->len);
		return 0;
	}
	e->time_ns = now;
	e->generation = meta->generation;
	e->rule_id = rule;
	e->ifindex = skb->ifindex;
	e->len = skb->len;
	e->kind = what & 0xff;
	e->dir = (what >> 8) & 0xff;
	e->verdict = (what >> 16) & 0xff;
	e->reason = what >> 24;
	e->family = pkt->family;
	e->proto = pkt->proto;
	e->tcp_flags = pkt->tcp_flags;
	e->icmp_type = pkt->icmp_type;
	e->icmp_code = pkt->icmp_code;
	e->flags = (pkt->has_ports ? SEG_EVENT_HAS_PORTS : 0) | (pkt->has_icmp ? SEG_EVENT_HAS_ICMP : 0) |
		   (pkt->fragment ? SEG_EVENT_FRAGMENT : 0);
	e->sport = pkt->sport;
	e->dport = pkt->dport;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__builtin_memcpy(e->src, pkt->src, 16);
	__builtin_memcpy(e->dst, pkt->dst, 16);
	bpf_ringbuf_submit(e, 0);
	seg_count(SEG_STAT_EVENT_SENT, skb->len);
	return 1;
}
