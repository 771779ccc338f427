/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* The per-packet decision: parse, sessions, classification, counters, in this precedence:
 *
 *  1. Frames that are not IPv4 or IPv6 (ARP, LLDP, ...) pass (SEG_REASON_NON_IP).
 *  2. Malformed or truncated headers are dropped, each with its reason; no shortcut lets
 *     them skip policy.
 *  3. IPv6 neighbour discovery (ICMPv6 133-137) passes unless SEG_CFG_CLASSIFY_ND is set.
 *  4. With no policy in the active slot, packets are dropped (SEG_REASON_NO_POLICY). While a
 *     canary runs (lib/canary.h), "the policy" in 6 and 8 is the one the flow's hash picks, and
 *     a session of the canary's generation is as current as one of the active slot's.
 *  5. (Unless SEG_CFG_STATELESS.) A live session of the current generation passes (SEG_REASON_SESSION); RST ends it.
 *     A TCP RST or SYN outside the session's sequence window (lib/tcp_window.h) is not the
 *     session's: it leaves the session untouched and goes on to 7 and 8 as a packet without a
 *     session, counted as SEG_REASON_TCP_WINDOW whatever it is decided.
 *  6. A session of an older generation is classified again as its first packet, in its first
 *     direction: still allowed, it passes (SESSION_RECHECKED); denied, it is removed and the
 *     packet dropped (SESSION_REVOKED).
 *  7. (Unless SEG_CFG_STATELESS.) An ICMP error quoting a packet of a live session, travelling
 *     back to its sender, passes (SEG_REASON_RELATED, lib/related.h); a later fragment of a
 *     datagram whose first fragment passed this direction passes (SEG_REASON_FRAGMENT,
 *     lib/fragments.h).
 *  8. Otherwise the first matching rule of this direction decides, or the default (a direction
 *     with no rules takes its default without a lookup).
 *  9. An allowed packet that can open a session (not a later fragment, not ICMP other than
 *     echo, not an RST) opens one, unless its rule's flows open none (`nosession`, proved by
 *     the compiler: the other direction passes every reply; the flow's next packet is
 *     classified again); a full table is counted and the packet still passes. Under
 *     table pressure a SYN or SYN-ACK opens none (lib/pressure.h). A first fragment (more to
 *     follow) that passes, by a session or a rule, is remembered for 7; one that is dropped is
 *     forgotten.
 * 10. Audit (the slot header's audit flag, or a `deny audit` rule): a deny of 6 or 8 passes,
 *     counted as would-deny, and opens no session. Log rules (and, with SEG_CFG_LOG_DENIES,
 *     denies) send an event (lib/events.h).
 *
 * The decision is left in skb->cb[] (SEG_CB_*) for BPF_PROG_TEST_RUN callers. */
#pragma once

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "maps.h"
#include "parse.h"
#include "classify.h"
#include "session.h"
#include "related.h"
#include "fragments.h"
#include "stats.h"
#include "events.h"
#include "pressure.h"
#include "tcp_window.h"
#include "canary.h"
#include "session_table.h"

static __always_inline int seg_finish(struct __sk_buff *skb, const struct seg_policy_meta *meta, __u32 dir,
				      __u32 verdict, __u32 reason, __u32 rule)
{
	__u32 allow = verdict == SEG_VERDICT_ALLOW;

	skb->cb[SEG_CB_RULE] = rule;
	skb->cb[SEG_CB_REASON] = reason;
	skb->cb[SEG_CB_VERDICT] = verdict;
	/* The verdict totals (SEG_STAT_ALLOW/DENY) are the sums of the two hooks', made by readers
	 * (runtime/datapath/counters.ts): one counter update less per packet. */
	seg_count(SEG_STAT_DIR_VERDICT_BASE + (dir & 1) * 2 + allow, skb->len);
	seg_count(SEG_STAT_REASON_BASE + (reason < SEG_REASON_COUNT ? reason : SEG_REASON_INTERNAL), skb->len);
	seg_count_rule(meta, rule, skb->len);
	seg_canary_count(meta, verdict, reason, skb->len);
	return verdict == SEG_VERDICT_ALLOW ? TC_ACT_OK : TC_ACT_SHOT;
}

static __always_inline int seg_is_neighbor_discovery(const struct seg_packet *pkt)
{
	return pkt->family == SEG_FAMILY_IP6 && pkt->proto == IPPROTO_ICMPV6 && pkt->has_icmp &&
	       pkt->icmp_type >= 133 && pkt->icmp_type <= 137;
}

/**
 * seg_exit - the end of a policy decision: audit (10), the log event, counters, verdict
 * @flags: seg_config.flags
 */
static __always_inline int seg_exit(struct __sk_buff *skb, const struct seg_packet *pkt, const struct seg_policy_meta *meta,
				    __u32 dir, const struct seg_decision *d, __u32 flags)
{
	__u32 verdict = d->verdict, event = d->verdict == SEG_VERDICT_ALLOW ? SEG_EVENT_ALLOW : SEG_EVENT_DENY;

	skb->cb[SEG_CB_WOULD_DENY] = 0;
	if (verdict != SEG_VERDICT_ALLOW && (meta->audit || d->audit)) {
		verdict = SEG_VERDICT_ALLOW;
		event = SEG_EVENT_WOULD_DENY;
		skb->cb[SEG_CB_WOULD_DENY] = 1;
		seg_count_would_deny(meta, d->rule, skb->len);
		seg_canary_count_would_deny(meta, skb->len);
	}
	/* Events: log rules, every would-deny, and every deny when asked. */
	if (d->log || event == SEG_EVENT_WOULD_DENY || (event == SEG_EVENT_DENY && (flags & SEG_CFG_LOG_DENIES)))
		seg_emit_event(skb, pkt, meta, SEG_EVENT_WHAT(SEG_EVENT_PACKET, dir, event, d->reason), d->rule);
	return seg_finish(skb, meta, dir, verdict, d->reason, d->rule);
}

/* seg_open_session's @how: the packet's length, its direction and whether it comes from a. */
#define SEG_OPEN_HOW(bytes, dir, src_is_a) ((__u64)(bytes) << 32 | ((dir) & 1) << 1 | !!(src_is_a))

/**
 * seg_open_session - record the first allowed packet of a flow
 * @key: the flow's key
 * @pkt: the packet
 * @meta: the policy header in force
 * @d: the decision that allowed it
 * @how: SEG_OPEN_HOW(length, direction, source is endpoint a)
 *
 * Returns: 0; a failed insert is counted as SEG_STAT_SESSION_TABLE_FULL.
 */
/* verifier: a global function, so that the new session (72 bytes) is built in a frame of its
 * own, not in seg_handle's, whose frame with seg_related's must stay within 512 bytes. */
__noinline int seg_open_session(const struct seg_session_key *key, const struct seg_packet *pkt,
				const struct seg_policy_meta *meta, const struct seg_decision *d, __u64 how)
{
	struct seg_session s = {};
	__u32 bytes = how >> 32, dir = (how >> 1) & 1, zero = 0;
	int src_is_a = how & 1, half_open;
	struct seg_config *cfg;

	if (!key || !pkt || !meta || !d)
		return 0;

	s.last_seen_ns = seg_now_ns();
	s.generation = meta->generation;
	s.packets = 1;
	s.bytes = bytes;
	s.rule_id = d->rule;
	s.verdict = d->verdict;
	s.dir = dir;
	s.state = seg_state_initial(pkt);
	s.flags = (src_is_a ? SEG_SESSION_INITIATOR_A : 0) | (pkt->has_ports ? SEG_SESSION_HAS_PORTS : 0) |
		  (pkt->has_icmp ? SEG_SESSION_HAS_ICMP : 0);
	s.icmp_type = pkt->icmp_type;
	s.icmp_code = pkt->icmp_code;
	if (d->log)
		s.flags |= SEG_SESSION_LOG;
	if (pkt->proto == IPPROTO_TCP && (pkt->tcp_flags & SEG_TCP_FIN))
		s.flags |= src_is_a ? SEG_SESSION_FIN_A : SEG_SESSION_FIN_B;
	seg_tcp_window_open(&s, pkt, src_is_a);
	/* The table evicts a session of the flow's two buckets rather than fail; an error here (another
	 * CPU opened the flow first, or a handshake found only sessions seen twice under SYN
	 * protection) leaves the flow as it was. */
	cfg = bpf_map_lookup_elem(&seg_config, &zero);
	half_open = seg_is_handshake(pkt) && cfg && !(cfg->flags & SEG_CFG_NO_SYN_PROTECTION);
	if (seg_session_insert(key, &s, half_open)) {
		seg_count(SEG_STAT_SESSION_TABLE_FULL, bytes);
	} else {
		seg_count(SEG_STAT_SESSION_NEW, bytes);
		if (seg_is_handshake(pkt))
			seg_count(SEG_STAT_HALF_OPEN_NEW, bytes);
	}
	return 0;
}

/**
 * seg_session_recheck - classify a session of an older generation again, as its first packet
 * @key: the session's key
 * @s: the session; on success moved to @meta's generation with the rule that allows it now
 * @slot: the active slot
 * @meta: that slot's policy header
 * @d: the decision for the rebuilt first packet
 *
 * Returns: 1 when the policy in force still allows the flow, 0 when it denies it now.
 */
/* verifier: a global function, so that the rebuilt packet's stack frame is not added to
 * seg_handle's, whose frame with a global callee's must stay within 512 bytes. */
__noinline int seg_session_recheck(const struct seg_session_key *key, struct seg_session *s, __u32 slot,
				   const struct seg_policy_meta *meta, struct seg_decision *d)
{
	struct seg_packet first = {};

	if (!key || !s || !meta || !d)
		return 0;
	seg_session_first_packet(key, s, &first);
	seg_classify(&first, s->dir, slot, meta, d);
	if (d->verdict != SEG_VERDICT_ALLOW)
		return 0;
	s->generation = meta->generation;
	s->rule_id = d->rule;
	s->flags = (s->flags & ~SEG_SESSION_LOG) | (d->log ? SEG_SESSION_LOG : 0);
	return 1;
}

/**
 * seg_handle - decide one packet crossing the hook of @dir
 * @skb: the packet
 * @dir: enum seg_dir
 *
 * Returns: TC_ACT_OK or TC_ACT_SHOT.
 */
static __always_inline int seg_handle(struct __sk_buff *skb, __u32 dir)
{
	struct seg_packet pkt = {};
	struct seg_session_key key SEG_KEY_ALIGNED = {};
	struct seg_decision d = {};
	struct seg_policy_meta *meta;
	struct seg_config *cfg;
	struct seg_session *s;
	__u32 zero = 0, slot, reason;
	int src_is_a = 0, has_session, window = SEG_TCP_IN;
	__u64 now;

	reason = seg_parse(skb, &pkt);
	/* 1 */
	if (reason == SEG_REASON_NON_IP)
		return seg_finish(skb, NULL, dir, SEG_VERDICT_ALLOW, reason, SEG_RULE_NONE);
	/* 2 */
	if (reason != SEG_PARSE_OK)
		return seg_finish(skb, NULL, dir, SEG_VERDICT_DENY, reason, SEG_RULE_NONE);
	cfg = bpf_map_lookup_elem(&seg_config, &zero);
	if (!cfg)
		return seg_finish(skb, NULL, dir, SEG_VERDICT_DENY, SEG_REASON_INTERNAL, SEG_RULE_NONE);
	/* 3 */
	if (seg_is_neighbor_discovery(&pkt) && !(cfg->flags & SEG_CFG_CLASSIFY_ND))
		return seg_finish(skb, NULL, dir, SEG_VERDICT_ALLOW, SEG_REASON_NEIGHBOR_DISCOVERY, SEG_RULE_NONE);
	/* 4: one read of the active slot; everything below uses only that slot's tables. */
	slot = cfg->active_slot & 1;
	meta = NULL;
	{
		void *metas = bpf_map_lookup_elem(&seg_slot_meta, &slot);

		if (metas)
			meta = bpf_map_lookup_elem(metas, &zero);
	}
	if (!meta || !meta->generation)
		return seg_finish(skb, NULL, dir, SEG_VERDICT_DENY, SEG_REASON_NO_POLICY, SEG_RULE_NONE);

	has_session = !(cfg->flags & SEG_CFG_STATELESS) && seg_session_key_of(&pkt, &key, &src_is_a);
	if (has_session) {
		now = seg_now_ns();
		s = seg_session_find(&key, now);
		if (s && seg_session_expired(s, cfg, now)) {
			seg_session_remove(&key);
			seg_count(SEG_STAT_SESSION_EXPIRED, skb->len);
			s = NULL;
		}
		/* 5: a TCP segment outside the window is judged without the session, untouched. */
		if (s && pkt.proto == IPPROTO_TCP) {
			window = seg_tcp_window(s, &pkt, src_is_a);
			if (window == SEG_TCP_REOPEN) {
				seg_session_remove(&key);
				seg_count(SEG_STAT_SESSION_CLOSED, skb->len);
			} else if (window == SEG_TCP_OUTSIDE) {
				has_session = 0;
			}
			if (window != SEG_TCP_IN)
				s = NULL;
		}
		if (s) {
			/* SEG_STAT_SESSION_HIT is the sum of the three session reasons below, made by
			 * readers (runtime/datapath/counters.ts): one counter update less per hit. */
			reason = SEG_REASON_SESSION;
			/* 6 (a canary's session is current too: lib/canary.h) */
			if (s->generation != meta->generation && !seg_canary_session(cfg, s, &pkt, &key, &slot, &meta)) {
				if (!seg_session_recheck(&key, s, slot, meta, &d)) {
					seg_session_remove(&key);
					d.reason = SEG_REASON_SESSION_REVOKED;
					return seg_exit(skb, &pkt, meta, dir, &d, cfg->flags);
				}
				reason = SEG_REASON_SESSION_RECHECKED;
			}
			/* 5: never backwards (seg_now_ns may lag another CPU by a tick). */
			if (now > s->last_seen_ns)
				s->last_seen_ns = now;
			/* Plain adds: two CPUs on one flow may lose a count; an atomic add would cost
			 * more than the rest of a session hit. */
			s->packets++;
			s->bytes += skb->len;
			d.rule = s->rule_id;
			d.log = !!(s->flags & SEG_SESSION_LOG);
			if (seg_session_track(s, &pkt, src_is_a)) {
				seg_session_remove(&key);
				seg_count(SEG_STAT_SESSION_CLOSED, skb->len);
			}
			/* 9: a fragmented reply's later fragments follow its first. */
			if (pkt.more_fragments)
				seg_fragment_note(&pkt, dir, SEG_VERDICT_ALLOW, d.rule);
			if (d.log) {
				d.verdict = SEG_VERDICT_ALLOW;
				d.reason = reason;
				d.audit = 0;
				return seg_exit(skb, &pkt, meta, dir, &d, cfg->flags);
			}
			return seg_finish(skb, meta, dir, SEG_VERDICT_ALLOW, reason, d.rule);
		}
		seg_count(SEG_STAT_SESSION_MISS, skb->len);
	}
	/* 7 */
	if (!(cfg->flags & SEG_CFG_STATELESS)) {
		__s64 related = seg_is_icmp_error(&pkt) ? seg_related(skb, &pkt, dir, cfg, meta->generation) : -1;

		if (related >= 0)
			return seg_finish(skb, meta, dir, SEG_VERDICT_ALLOW, SEG_REASON_RELATED, (__u32)related);
		if (pkt.fragment && seg_fragment_follows(&pkt, dir, &d.rule))
			return seg_finish(skb, meta, dir, SEG_VERDICT_ALLOW, SEG_REASON_FRAGMENT, d.rule);
	}
	/* 8: by the canary instead, for its share of new flows (lib/canary.h) */
	seg_canary_pick(cfg, &pkt, has_session ? &key : NULL, &slot, &meta);
	seg_classify(&pkt, dir, slot, meta, &d);
	if (window == SEG_TCP_OUTSIDE)
		d.reason = SEG_REASON_TCP_WINDOW;
	if (seg_is_syn(&pkt))
		seg_note_syn(&pkt, skb->len);
	if (d.verdict != SEG_VERDICT_ALLOW && has_session && seg_is_syn_ack(&pkt))
		seg_handshake_reply(&pkt, dir, slot, meta, &d);
	/* 9 */
	if (d.verdict == SEG_VERDICT_ALLOW && has_session && !d.no_session && !(pkt.proto == IPPROTO_TCP && (pkt.tcp_flags & SEG_TCP_RST)) &&
	    !(seg_is_handshake(&pkt) && seg_syn_protect(skb, &pkt, meta, dir)))
		seg_open_session(&key, &pkt, meta, &d, SEG_OPEN_HOW(skb->len, dir, src_is_a));
	if (pkt.more_fragments && !pkt.fragment && !(cfg->flags & SEG_CFG_STATELESS))
		seg_fragment_note(&pkt, dir, d.verdict, d.rule);
	/* 10 */
	return seg_exit(skb, &pkt, meta, dir, &d, cfg->flags);
}
