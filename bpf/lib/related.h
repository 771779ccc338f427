/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Related ICMP: an ICMP or ICMPv6 error (IPv4 destination unreachable 3, time exceeded 11,
 * parameter problem 12; IPv6 destination unreachable 1, packet too big 2, time exceeded 3,
 * parameter problem 4) quotes the IP header and the first 8 bytes of the packet it concerns.
 * It passes as related (SEG_REASON_RELATED) when all of these hold:
 *  - the quoted packet parses: IPv4 (any IHL, not a later fragment) or IPv6 whose next header
 *    is the L4 header itself, of the error's family; TCP, UDP or SCTP ports, or an ICMP echo;
 *  - a session exists for the quoted flow (exact addresses, ports or echo id, protocol), of the
 *    current generation, and it has not expired;
 *  - the error goes to the quoted packet's source (outer destination = quoted source);
 *  - it crosses the hook opposite to the one the quoted packet crossed, worked out from the
 *    session's first direction and initiator.
 * The session is not refreshed by it (as conntrack does not). Anything else is classified. */
#pragma once

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "segc_abi.h"
#include "maps.h"
#include "parse.h"
#include "session.h"
#include "session_table.h"

static __always_inline int seg_is_icmp_error(const struct seg_packet *pkt)
{
	if (!pkt->has_icmp)
		return 0;
	if (pkt->family == SEG_FAMILY_IP4)
		return pkt->proto == IPPROTO_ICMP && (pkt->icmp_type == 3 || pkt->icmp_type == 11 || pkt->icmp_type == 12);
	return pkt->proto == IPPROTO_ICMPV6 && pkt->icmp_type >= 1 && pkt->icmp_type <= 4;
}

/* The 8 quoted L4 bytes: the ports (TCP, UDP, SCTP) or an ICMP header. */
static __always_inline int seg_quoted_l4(struct __sk_buff *skb, struct seg_packet *q, __u32 off)
{
	struct seg_icmp_hdr l4;

	if (bpf_skb_load_bytes(skb, off, &l4, sizeof(l4)))
		return 0;
	if (q->proto == IPPROTO_TCP || q->proto == IPPROTO_UDP || q->proto == IPPROTO_SCTP) {
		const __u16 *ports = (const __u16 *)&l4;

		q->sport = bpf_ntohs(ports[0]);
		q->dport = bpf_ntohs(ports[1]);
		q->has_ports = 1;
		return 1;
	}
	if (q->proto == (q->family == SEG_FAMILY_IP4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		q->icmp_type = l4.type;
		q->icmp_code = l4.code;
		q->icmp_id = bpf_ntohs(l4.id);
		q->has_icmp = 1;
		return 1;
	}
	return 0;
}

/* The quoted packet of an ICMP error whose header starts at @icmp_off. */
static __always_inline int seg_quoted_packet(struct __sk_buff *skb, __u8 family, __u32 icmp_off, struct seg_packet *q)
{
	__u32 off = icmp_off + 8;

	q->family = family;
	if (family == SEG_FAMILY_IP4) {
		struct iphdr iph;

		if (bpf_skb_load_bytes(skb, off, &iph, sizeof(iph)))
			return 0;
		if (iph.version != 4 || iph.ihl < 5 || (bpf_ntohs(iph.frag_off) & 0x1fff))
			return 0;
		q->proto = iph.protocol;
		__builtin_memcpy(q->src, &iph.saddr, 4);
		__builtin_memcpy(q->dst, &iph.daddr, 4);
		return seg_quoted_l4(skb, q, off + (__u32)iph.ihl * 4);
	} else {
		/* Version, next header, then the addresses straight into @q (stack is scarce). */
		__u8 head[8];

		if (bpf_skb_load_bytes(skb, off, head, sizeof(head)) || (head[0] >> 4) != 6)
			return 0;
		if (bpf_skb_load_bytes(skb, off + 8, q->src, 16) || bpf_skb_load_bytes(skb, off + 24, q->dst, 16))
			return 0;
		q->proto = head[6];
		return seg_quoted_l4(skb, q, off + sizeof(struct ipv6hdr));
	}
}

/**
 * seg_related - whether an ICMP error is related to a live session (see the top of the file)
 * @skb: the packet
 * @pkt: its parsed fields; an ICMP error (seg_is_icmp_error)
 * @dir: enum seg_dir it crosses
 * @cfg: the config (session timeouts)
 * @generation: the active policy's generation
 *
 * Returns: the session's rule id (SEG_RULE_NONE for its default) when related, -1 when the
 * error is to be classified. (A BPF call takes five arguments: no room for an out pointer.)
 */
/* verifier: a global function, checked once on its own rather than at every path into it. */
__noinline __s64 seg_related(struct __sk_buff *skb, const struct seg_packet *pkt, __u32 dir,
			     const struct seg_config *cfg, __u64 generation)
{
	struct seg_packet q = {};
	struct seg_session_key key SEG_KEY_ALIGNED = {};
	struct seg_session *s;
	int q_src_is_a = 0, q_from_initiator;
	__u32 q_dir;
	int i;

	/* A global function's pointer arguments may be NULL as far as the verifier knows. */
	if (!pkt || !cfg)
		return -1;
	if (!seg_quoted_packet(skb, pkt->family, pkt->l4_off, &q))
		return -1;
	/* The error goes back to whoever sent the quoted packet. */
#pragma unroll
	for (i = 0; i < 16; i++) {
		if (pkt->dst[i] != q.src[i])
			return -1;
	}
	/* The key as seg_session_key_of builds it: an echo's id as both ports. */
	if (q.has_icmp) {
		if (!seg_is_echo(&q))
			return -1;
		q.sport = q.icmp_id;
		q.dport = q.icmp_id;
	}
	q_src_is_a = seg_session_key_fill(&q, q.sport, q.dport, &key);
	s = seg_session_find(&key, 0);
	if (!s || (s->generation != generation && s->generation != cfg->canary_generation) || seg_session_expired(s, cfg, seg_now_ns()))
		return -1;
	q_from_initiator = !!(s->flags & SEG_SESSION_INITIATOR_A) == !!q_src_is_a;
	q_dir = q_from_initiator ? s->dir : !s->dir;
	if (dir == q_dir)
		return -1;
	return s->rule_id;
}
