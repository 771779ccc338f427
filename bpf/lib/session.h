/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Sessions: the direction-independent flow key, TCP state tracking and timeouts. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "segc_abi.h"
#include "maps.h"
#include "parse.h"

#define SEG_NS_PER_S 1000000000ull

/**
 * seg_now_ns - the session clock: bpf_ktime_get_coarse_ns, read through a per-CPU cache
 *
 * The coarse clock only moves when the tick advances jiffies, and bpf_jiffies64 is inlined by
 * the verifier (one load) where bpf_ktime_get_coarse_ns is a helper call of about 12-20 ns, a
 * fifth of a session hit's time over parse-only. So the helper is called once per tick on each
 * CPU and its value reused while jiffies stay the same. The tick advances jiffies just before
 * the coarse clock, so a value may lag by a tick or two (1-10 ms each): timeouts are seconds,
 * and a time older than a session's last-seen counts as no time passed (seg_session_expired,
 * the last-seen update in seg_handle), so that the lag never expires a session early.
 */
static __always_inline __u64 seg_now_ns(void)
{
	__u64 j = bpf_jiffies64();
	__u32 zero = 0;
	struct seg_clock *c = bpf_map_lookup_elem(&seg_clock, &zero);

	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->jiffies != j || !c->ns) {
		c->ns = bpf_ktime_get_coarse_ns();
		c->jiffies = j;
	}
	return c->ns;
}

/* Built-in timeouts, used where seg_config.timeout_s holds 0. */
static __always_inline __u64 seg_state_timeout_s(const struct seg_config *cfg, __u32 state)
{
	__u32 t = 0;

	if (state < SEG_STATE_COUNT)
		t = cfg->timeout_s[state];
	if (t)
		return t;
	switch (state) {
	case SEG_STATE_TCP_SYN_SENT:
	case SEG_STATE_TCP_SYN_RECV:
		return 60;
	case SEG_STATE_TCP_ESTABLISHED:
		return 3600;
	case SEG_STATE_TCP_FIN_WAIT:
		return 120;
	case SEG_STATE_TCP_CLOSING:
		return 10;
	case SEG_STATE_ICMP:
		return 30;
	default:
		return 60;
	}
}

static __always_inline int seg_is_echo(const struct seg_packet *pkt)
{
	if (pkt->family == SEG_FAMILY_IP4)
		return pkt->icmp_type == 8 || pkt->icmp_type == 0;
	return pkt->icmp_type == 128 || pkt->icmp_type == 129;
}

/* Compares (addr, port) endpoints; negative when the source is the lower: addresses as 16-byte
 * strings (lexicographically), then ports as numbers. Four word compares: a byte loop runs its
 * full length for IPv4 (12 equal bytes of the mapped prefix first), a fifth of a session hit.
 * Big-endian words compare in byte order. seg_packet keeps its addresses 4-byte aligned. */
static __always_inline int seg_endpoint_cmp(const __u8 *src, const __u8 *dst, __u16 sport, __u16 dport)
{
	const __u32 *s = (const __u32 *)src, *d = (const __u32 *)dst;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		if (s[i] != d[i])
			return bpf_ntohl(s[i]) < bpf_ntohl(d[i]) ? -1 : 1;
	}
	if (sport != dport)
		return sport < dport ? -1 : 1;
	return 0;
}

/* Copies a 16-byte address by words: seg_session_key is 2-byte aligned to the compiler, which
 * copies it by half-words and shifts (twice the instructions); both ends are 4-byte aligned
 * (seg_packet's addresses, and keys that callers declare SEG_KEY_ALIGNED). */
static __always_inline void seg_addr_copy(__u8 *to, const __u8 *from)
{
	__u32 *t = (__u32 *)to;
	const __u32 *f = (const __u32 *)from;

	t[0] = f[0];
	t[1] = f[1];
	t[2] = f[2];
	t[3] = f[3];
}

/* On a session key on the stack: 4-byte alignment, which seg_addr_copy's word stores need. */
#define SEG_KEY_ALIGNED __attribute__((aligned(8)))

/**
 * seg_session_key_fill - the session key of a flow from one packet's endpoints
 * @pkt: family, proto and addresses
 * @sport: the source port as the key holds it (the echo id for ICMP echo, 0 without ports)
 * @dport: likewise the destination port
 * @key: filled here (declared SEG_KEY_ALIGNED)
 *
 * Returns: whether the packet's source is endpoint a.
 */
static __always_inline int seg_session_key_fill(const struct seg_packet *pkt, __u16 sport, __u16 dport,
						struct seg_session_key *key)
{
	int src_is_a = seg_endpoint_cmp(pkt->src, pkt->dst, sport, dport) <= 0;

	if (src_is_a) {
		seg_addr_copy(key->addr_a, pkt->src);
		seg_addr_copy(key->addr_b, pkt->dst);
		key->port_a = sport;
		key->port_b = dport;
	} else {
		seg_addr_copy(key->addr_a, pkt->dst);
		seg_addr_copy(key->addr_b, pkt->src);
		key->port_a = dport;
		key->port_b = sport;
	}
	key->proto = pkt->proto;
	key->family = pkt->family;
	return src_is_a;
}

/**
 * seg_session_key_of - the session key of a packet
 * @pkt: the packet
 * @key: filled here
 * @src_is_a: set to whether the packet's source is endpoint a
 *
 * Returns: 0 when the packet belongs to no session (later fragments, ICMP other than echo),
 * 1 otherwise.
 */
static __always_inline int seg_session_key_of(const struct seg_packet *pkt, struct seg_session_key *key,
					      int *src_is_a)
{
	__u16 sport = pkt->sport, dport = pkt->dport;

	if (pkt->fragment)
		return 0;
	if ((pkt->proto == IPPROTO_ICMP || pkt->proto == IPPROTO_ICMPV6) && pkt->has_icmp) {
		if (!seg_is_echo(pkt))
			return 0;
		sport = pkt->icmp_id;
		dport = pkt->icmp_id;
	} else if (!pkt->has_ports) {
		sport = 0;
		dport = 0;
	}
	*src_is_a = seg_session_key_fill(pkt, sport, dport, key);
	return 1;
}

/**
 * seg_session_first_packet - rebuild the packet that opened a session, to classify it again
 * @key: the session's key
 * @s: the session
 * @pkt: filled here (addresses, ports or ICMP fields as the first packet had them)
 */
static __always_inline void seg_session_first_packet(const struct seg_session_key *key,
						     const struct seg_session *s, struct seg_packet *pkt)
{
	int a_first = s->flags & SEG_SESSION_INITIATOR_A;

	pkt->family = key->family;
	pkt->proto = key->proto;
	__builtin_memcpy(pkt->src, a_first ? key->addr_a : key->addr_b, 16);
	__builtin_memcpy(pkt->dst, a_first ? key->addr_b : key->addr_a, 16);
	if (s->flags & SEG_SESSION_HAS_PORTS) {
		pkt->has_ports = 1;
		pkt->sport = a_first ? key->port_a : key->port_b;
		pkt->dport = a_first ? key->port_b : key->port_a;
	}
	if (s->flags & SEG_SESSION_HAS_ICMP) {
		pkt->has_icmp = 1;
		pkt->icmp_type = s->icmp_type;
		pkt->icmp_code = s->icmp_code;
	}
}

static __always_inline __u8 seg_state_initial(const struct seg_packet *pkt)
{
	if (pkt->proto == IPPROTO_TCP && pkt->has_ports) {
		if ((pkt->tcp_flags & (SEG_TCP_SYN | SEG_TCP_ACK)) == SEG_TCP_SYN)
			return SEG_STATE_TCP_SYN_SENT;
		/* Picked up mid-stream (the session table lost it, or segc was deployed late). */
		return SEG_STATE_TCP_ESTABLISHED;
	}
	if (pkt->proto == IPPROTO_UDP)
		return SEG_STATE_UDP;
	if (pkt->has_icmp)
		return SEG_STATE_ICMP;
	return SEG_STATE_OTHER;
}

/**
 * seg_session_track - advance a session's TCP state for one packet
 * @s: the session
 * @pkt: the packet
 * @src_is_a: whether the packet comes from endpoint a
 *
 * Returns: 1 when the session has ended (RST) and should be removed, else 0.
 */
static __always_inline int seg_session_track(struct seg_session *s, const struct seg_packet *pkt, int src_is_a)
{
	int from_initiator = !!(s->flags & SEG_SESSION_INITIATOR_A) == !!src_is_a;
	__u8 fl = pkt->tcp_flags;

	if (pkt->proto != IPPROTO_TCP || !pkt->has_ports)
		return 0;
	if (fl & SEG_TCP_RST)
		return 1;
	if (fl & SEG_TCP_FIN) {
		s->flags |= src_is_a ? SEG_SESSION_FIN_A : SEG_SESSION_FIN_B;
		if ((s->flags & (SEG_SESSION_FIN_A | SEG_SESSION_FIN_B)) == (SEG_SESSION_FIN_A | SEG_SESSION_FIN_B))
			s->state = SEG_STATE_TCP_CLOSING;
		else
			s->state = SEG_STATE_TCP_FIN_WAIT;
		return 0;
	}
	if (s->state == SEG_STATE_TCP_SYN_SENT && !from_initiator &&
	    (fl & (SEG_TCP_SYN | SEG_TCP_ACK)) == (SEG_TCP_SYN | SEG_TCP_ACK))
		s->state = SEG_STATE_TCP_SYN_RECV;
	else if (s->state == SEG_STATE_TCP_SYN_RECV && from_initiator && (fl & (SEG_TCP_SYN | SEG_TCP_ACK)) == SEG_TCP_ACK)
		s->state = SEG_STATE_TCP_ESTABLISHED;
	return 0;
}

/* @now may be a tick behind a last-seen time another CPU wrote (seg_now_ns): that is age 0. */
static __always_inline int seg_session_expired(const struct seg_session *s, const struct seg_config *cfg, __u64 now)
{
	return now > s->last_seen_ns && now - s->last_seen_ns > seg_state_timeout_s(cfg, s->state) * SEG_NS_PER_S;
}
