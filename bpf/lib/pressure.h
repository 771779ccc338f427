/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* SYN floods and a filling session table (docs/datapath.md, "Table pressure"). The LRU table
 * evicts its least recently used sessions when full, and in a flood the newest entries are the
 * flood's half-open ones: idle established flows would go first. So once the table is filled
 * to seg_config.pressure_pct, an allowed SYN or SYN-ACK opens no session (counted, and an
 * event): a connection is then tracked from its handshake's final ACK, which opens it as
 * established; the SYN-ACK of such a handshake, when its own direction denies it, passes if
 * the SYN it answers is allowed in the other direction (SEG_REASON_HANDSHAKE_REPLY). SYNs are
 * also counted per source (seg_syn_sources). SEG_CFG_NO_SYN_PROTECTION turns the gate off. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "maps.h"
#include "parse.h"
#include "classify.h"
#include "session.h"
#include "session_table.h"
#include "stats.h"
#include "events.h"


static __always_inline int seg_is_syn(const struct seg_packet *pkt)
{
	return pkt->proto == IPPROTO_TCP && pkt->has_ports && (pkt->tcp_flags & (SEG_TCP_SYN | SEG_TCP_ACK | SEG_TCP_RST)) == SEG_TCP_SYN;
}

static __always_inline int seg_is_syn_ack(const struct seg_packet *pkt)
{
	return pkt->proto == IPPROTO_TCP && pkt->has_ports &&
	       (pkt->tcp_flags & (SEG_TCP_SYN | SEG_TCP_ACK | SEG_TCP_RST)) == (SEG_TCP_SYN | SEG_TCP_ACK);
}

/* A packet that would open a half-open session: a SYN or a SYN-ACK. */
static __always_inline int seg_is_handshake(const struct seg_packet *pkt)
{
	return seg_is_syn(pkt) || seg_is_syn_ack(pkt);
}

/* 1 when the session table holds at least pressure_pct of its capacity. */
static __always_inline int seg_table_under_pressure(const struct seg_config *cfg)
{
	const struct bpf_map *m = (const struct bpf_map *)&seg_sessions;
	const struct seg_session_table *t = seg_session_meta_get();
	__u64 pct = cfg->pressure_pct ? cfg->pressure_pct : SEG_DEFAULT_PRESSURE_PCT;
	__s64 n = t ? t->live : 0;

	return n > 0 && (__u64)n * 100 >= (__u64)m->max_entries * SEG_SESSION_WAYS * pct;
}

/**
 * seg_note_syn - count a SYN that missed the session table, in total and for its source
 *
 * The source's entry keeps the SYNs of the current and the previous one-second window (the
 * rate) and a total. verifier: not inlined (one LRU update, off the session-hit path).
 */
static __noinline void seg_note_syn(const struct seg_packet *pkt, __u32 len)
{
	struct seg_source_key key = {};
	struct seg_syn_rate *r, fresh = {};
	__u64 now = seg_now_ns();

	seg_count(SEG_STAT_SYN, len);
	__builtin_memcpy(key.addr, pkt->src, 16);
	key.family = pkt->family;
	r = bpf_map_lookup_elem(&seg_syn_sources, &key);
	if (!r) {
		fresh.window_ns = now;
		fresh.current = 1;
		fresh.total = 1;
		bpf_map_update_elem(&seg_syn_sources, &key, &fresh, BPF_ANY);
		return;
	}
	if (now > r->window_ns && now - r->window_ns >= SEG_NS_PER_S) {
		/* A gap of more than one window means nothing came in the window before. */
		r->previous = now - r->window_ns >= 2 * SEG_NS_PER_S ? 0 : r->current;
		r->current = 0;
		r->window_ns = now;
	}
	r->current++;
	r->total++;
}

/**
 * seg_syn_protect - whether an allowed SYN / SYN-ACK must open no session (table pressure)
 * Returns: 1 when the session is not to be opened (counted, and an event when the buckets allow).
 */
static __noinline int seg_syn_protect(struct __sk_buff *skb, const struct seg_packet *pkt,
				      const struct seg_policy_meta *meta, __u32 dir)
{
	struct seg_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&seg_config, &zero);
	if (!cfg || !seg_table_under_pressure(cfg))
		return 0;
	seg_count(SEG_STAT_PRESSURE, skb->len);
	if (cfg->flags & SEG_CFG_NO_SYN_PROTECTION)
		return 0;
	seg_count(SEG_STAT_SYN_UNTRACKED, skb->len);
	seg_emit_event(skb, pkt, meta, SEG_EVENT_WHAT(SEG_EVENT_SYN_UNTRACKED, dir, SEG_EVENT_ALLOW, SEG_REASON_RULE),
		       SEG_RULE_NONE);
	return 1;
}

/* Whether @pkt's bucket holds only sessions seen twice. verifier: out of line, so that its key
 * is not in seg_handshake_reply's frame (that one calls seg_classify). */
static __noinline int seg_handshake_bucket_full(const struct seg_packet *pkt)
{
	struct seg_session_key key SEG_KEY_ALIGNED = {};
	int src_is_a;

	if (!pkt)
		return 0;
	return seg_session_key_of(pkt, &key, &src_is_a) && seg_session_full_of_seen(&key);
}

/**
 * seg_handshake_reply - under pressure, let a SYN-ACK pass whose SYN is allowed the other way
 * @d: the SYN-ACK's own decision (a deny); replaced when the SYN it answers is allowed
 *
 * Under pressure (or in a bucket of sessions seen twice) the SYN opened no session, so its
 * SYN-ACK finds none; the reply of an allowed
 * SYN must not be dropped by a default-deny direction for it. The SYN is rebuilt (addresses
 * and ports swapped) and classified in the other direction.
 */
static __noinline void seg_handshake_reply(const struct seg_packet *pkt, __u32 dir, __u32 slot,
					   const struct seg_policy_meta *meta, struct seg_decision *d)
{
	struct seg_packet syn = {};
	struct seg_decision back = {};
	struct seg_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&seg_config, &zero);
	if (!cfg || (cfg->flags & SEG_CFG_NO_SYN_PROTECTION))
		return;
	/* Under pressure, or where the SYN's bucket held only sessions seen twice (the SYN opened
	 * none there either: lib/session_table.h seg_session_insert). */
	if (!seg_table_under_pressure(cfg) && !seg_handshake_bucket_full(pkt))
		return;
	syn.family = pkt->family;
	syn.proto = pkt->proto;
	syn.has_ports = 1;
	syn.tcp_flags = SEG_TCP_SYN;
	syn.sport = pkt->dport;
	syn.dport = pkt->sport;
	__builtin_memcpy(syn.src, pkt->dst, 16);
	__builtin_memcpy(syn.dst, pkt->src, 16);
	seg_classify(&syn, dir ^ 1, slot, meta, &back);
	if (back.verdict != SEG_VERDICT_ALLOW)
		return;
	d->verdict = SEG_VERDICT_ALLOW;
	d->reason = SEG_REASON_HANDSHAKE_REPLY;
	d->rule = back.rule;
	d->log = back.log;
	d->audit = 0;
	d->no_session = 0;
}
