/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Parsing: Ethernet (one 802.1Q/802.1ad tag), IPv4 (any IHL), IPv6 (a bounded walk of
 * extension headers), TCP, UDP, SCTP, ICMP and ICMPv6, into the fields rules test.
 * Headers are read with bpf_skb_load_bytes, which bounds-checks against skb->len and also
 * reads non-linear skbs (GRO), so a header beyond the linear area is not mistaken for a
 * truncated one. The common frame (untagged IPv4 without options or fragments, IPv6 without
 * extension headers, its L4 header linear) is read in place first (seg_parse_fast), with the
 * same result. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "segc_abi.h"
#include "tcp_options.h"

/* seg_parse's result when the packet is an IP packet ready for classification. */
#define SEG_PARSE_OK 0xffu

#define SEG_TCP_FIN 0x01
#define SEG_TCP_SYN 0x02
#define SEG_TCP_RST 0x04
#define SEG_TCP_ACK 0x10

#define SEG_ETH_P_8021AD 0x88A8

/**
 * struct seg_packet - the classification fields of one packet (not ABI: stack only).
 * @has_ports: tcp/udp/sctp with its header (not a later fragment).
 * @has_icmp: icmp (IPv4) / icmpv6 (IPv6) with its header (not a later fragment).
 * @fragment: a later IP fragment (offset != 0): no L4 header.
 * @more_fragments: the IPv4 MF / IPv6 M bit: more fragments follow this one.
 * @frag_id: the IPv4 identification, or the IPv6 fragment header's (0 without one).
 * @l4_off: offset of the L4 header in the frame (first fragments and whole packets).
 * @tcp_seq: TCP: the sequence number; @tcp_ack: the acknowledgment number (host order).
 * @tcp_len: TCP: the payload's length (the IP length less the headers: 16 bits, as IP lengths).
 * @tcp_win: TCP: the window field as sent (unscaled).
 * @tcp_wscale: TCP SYN: the window scale option's shift, or SEG_TCP_NO_WSCALE.
 */
struct seg_packet {
	__u8 family;
	__u8 proto;
	__u8 has_ports;
	__u8 has_icmp;
	__u8 fragment;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 sport;
	__u16 dport;
	__u16 icmp_id;
	__u16 tcp_len;
	__u8 src[16];
	__u8 dst[16];
	__u32 frag_id;
	__u32 l4_off;
	__u8 more_fragments;
	__u8 tcp_wscale;
	__u16 tcp_win;
	__u32 tcp_seq;
	__u32 tcp_ack;
};

/* ICMP header as far as classification reads it (type, code, checksum, echo identifier). */
struct seg_icmp_hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__u16 id;
	__u16 seq;
};

/* The first 16 bytes of a TCP header, up to the window. */
struct seg_tcp_head {
	__u16 source;
	__u16 dest;
	__u32 seq;
	__u32 ack_seq;
	__u8 doff_res;
	__u8 flags;
	__u16 window;
};

/**
 * seg_parse_l4 - read ports or ICMP type/code of a first fragment (or unfragmented packet)
 * @skb: the packet
 * @pkt: family and proto set; ports/ICMP fields filled here
 * @off: offset of the L4 header
 * @end: end of the IP payload (the IP length, not the frame length)
 *
 * Returns: SEG_PARSE_OK, SEG_REASON_TRUNC_L4 or SEG_REASON_BAD_L4. Other protocols have no
 * fields to read and are classified with ports absent.
 */
static __always_inline __u32 seg_parse_l4(struct __sk_buff *skb, struct seg_packet *pkt, __u32 off, __u32 end)
{
	__u8 icmp_proto = pkt->family == SEG_FAMILY_IP4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;

	pkt->l4_off = off;
	if (pkt->proto == IPPROTO_TCP) {
		struct seg_tcp_head th;
		__u32 hlen;

		if (off + 20 > end || bpf_skb_load_bytes(skb, off, &th, sizeof(th)))
			return SEG_REASON_TRUNC_L4;
		if ((th.doff_res >> 4) < 5)
			return SEG_REASON_BAD_L4;
		pkt->sport = bpf_ntohs(th.source);
		pkt->dport = bpf_ntohs(th.dest);
		pkt->tcp_flags = th.flags;
		pkt->tcp_seq = bpf_ntohl(th.seq);
		pkt->tcp_ack = bpf_ntohl(th.ack_seq);
		pkt->tcp_win = bpf_ntohs(th.window);
		hlen = (th.doff_res >> 4) * 4;
		pkt->tcp_len = end > off + hlen ? end - off - hlen : 0;
		/* Only a SYN carries the window scale; other segments skip the options. */
		pkt->tcp_wscale = (th.flags & SEG_TCP_SYN) && hlen > 20 ? seg_tcp_wscale(skb, off + 20, hlen - 20) : SEG_TCP_NO_WSCALE;
		pkt->has_ports = 1;
	} else if (pkt->proto == IPPROTO_UDP || pkt->proto == IPPROTO_SCTP) {
		__u16 ports[2];
		/* UDP header is 8 bytes, SCTP's common header 12: both start with the ports. */
		__u32 need = pkt->proto == IPPROTO_UDP ? 8 : 12;

		if (off + need > end || bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
			return SEG_REASON_TRUNC_L4;
		pkt->sport = bpf_ntohs(ports[0]);
		pkt->dport = bpf_ntohs(ports[1]);
		pkt->has_ports = 1;
	} else if (pkt->proto == icmp_proto) {
		struct seg_icmp_hdr ih;

		/* Every ICMP and ICMPv6 message has at least this 8-byte header. */
		if (off + sizeof(ih) > end || bpf_skb_load_bytes(skb, off, &ih, sizeof(ih)))
			return SEG_REASON_TRUNC_L4;
		pkt->icmp_type = ih.type;
		pkt->icmp_code = ih.code;
		pkt->icmp_id = bpf_ntohs(ih.id);
		pkt->has_icmp = 1;
	}
	return SEG_PARSE_OK;
}

/**
 * seg_parse4 - parse an IPv4 header and what follows it
 * @skb: the packet
 * @pkt: filled here
 * @l3: offset of the IPv4 header
 *
 * Returns: SEG_PARSE_OK or the reason the packet is malformed or truncated.
 */
static __always_inline __u32 seg_parse4(struct __sk_buff *skb, struct seg_packet *pkt, __u32 l3)
{
	struct iphdr iph;
	__u32 hlen, end;

	if (bpf_skb_load_bytes(skb, l3, &iph, sizeof(iph)))
		return SEG_REASON_TRUNC_IP4;
	hlen = (__u32)iph.ihl * 4;
	if (iph.version != 4 || hlen < sizeof(iph) || bpf_ntohs(iph.tot_len) < hlen)
		return SEG_REASON_BAD_IP4;
	end = l3 + bpf_ntohs(iph.tot_len);
	if (end > skb->len)
		return SEG_REASON_TRUNC_IP4;
	pkt->family = SEG_FAMILY_IP4;
	pkt->proto = iph.protocol;
	__builtin_memcpy(pkt->src, &iph.saddr, 4);
	__builtin_memcpy(pkt->dst, &iph.daddr, 4);
	pkt->frag_id = bpf_ntohs(iph.id);
	if (bpf_ntohs(iph.frag_off) & 0x1fff) {
		pkt->fragment = 1;
		return SEG_PARSE_OK;
	}
	pkt->more_fragments = !!(bpf_ntohs(iph.frag_off) & 0x2000);
	return seg_parse_l4(skb, pkt, l3 + hlen, end);
}

static __always_inline int ip6_is_extension(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING || nexthdr == IPPROTO_DSTOPTS ||
	       nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_AH;
}

/**
 * seg_parse6 - parse an IPv6 header, its extension headers and what follows them
 * @skb: the packet
 * @pkt: filled here
 * @l3: offset of the IPv6 header
 *
 * Returns: SEG_PARSE_OK or the reason the packet is malformed, truncated or has too long an
 * extension header chain.
 */
static __always_inline __u32 seg_parse6(struct __sk_buff *skb, struct seg_packet *pkt, __u32 l3)
{
	struct ipv6hdr ip6h;
	__u32 off, end;
	__u8 nexthdr;
	int i;

	if (bpf_skb_load_bytes(skb, l3, &ip6h, sizeof(ip6h)))
		return SEG_REASON_TRUNC_IP6;
	if (ip6h.version != 6)
		return SEG_REASON_BAD_IP6;
	end = l3 + sizeof(ip6h) + bpf_ntohs(ip6h.payload_len);
	if (end > skb->len)
		return SEG_REASON_TRUNC_IP6;
	pkt->family = SEG_FAMILY_IP6;
	__builtin_memcpy(pkt->src, &ip6h.saddr, 16);
	__builtin_memcpy(pkt->dst, &ip6h.daddr, 16);
	nexthdr = ip6h.nexthdr;
	off = l3 + sizeof(ip6h);

	/* verifier: a bounded walk; a chain longer than SEG_MAX_EXT_HDRS is dropped. */
	for (i = 0; i < SEG_MAX_EXT_HDRS; i++) {
		__u8 ext[8];

		if (!ip6_is_extension(nexthdr))
			break;
		if (nexthdr == IPPROTO_FRAGMENT) {
			__u16 frag_off;

			if (off + 8 > end || bpf_skb_load_bytes(skb, off, ext, 8))
				return SEG_REASON_TRUNC_EXT;
			frag_off = ((__u16)ext[2] << 8) | ext[3];
			nexthdr = ext[0];
			pkt->frag_id = ((__u32)ext[4] << 24) | ((__u32)ext[5] << 16) | ((__u32)ext[6] << 8) | ext[7];
			pkt->more_fragments = frag_off & 1;
			if (frag_off & 0xfff8) {
				pkt->proto = nexthdr;
				pkt->fragment = 1;
				return SEG_PARSE_OK;
			}
			off += 8;
			continue;
		}
		if (off + 2 > end || bpf_skb_load_bytes(skb, off, ext, 2))
			return SEG_REASON_TRUNC_EXT;
		/* AH counts its length in 4-byte units minus 2; the others in 8-byte units minus 1. */
		off += nexthdr == IPPROTO_AH ? ((__u32)ext[1] + 2) * 4 : ((__u32)ext[1] + 1) * 8;
		nexthdr = ext[0];
	}
	if (ip6_is_extension(nexthdr))
		return SEG_REASON_EXT_LIMIT;
	pkt->proto = nexthdr;
	return seg_parse_l4(skb, pkt, off, end);
}

/* seg_parse_fast's answer when the frame needs the full walk of seg_parse. */
#define SEG_PARSE_SLOW 0xfeu

/**
 * seg_parse_fast_l4 - seg_parse_fast's L4 header, read in place
 * @pkt: filled here only when the answer is SEG_PARSE_OK
 * @l4: the L4 header in the packet (at least 8 bytes of it checked against @data_end)
 * @data_end: the end of the linear data
 * @off: offset of the L4 header in the frame
 * @end: end of the IP payload
 * @proto: the L4 protocol; @icmp_proto: ICMP's for this family
 *
 * Returns: SEG_PARSE_OK, or SEG_PARSE_SLOW for what the full walk decides (SCTP, a TCP SYN
 * with options, a header cut short or malformed).
 */
static __always_inline __u32 seg_parse_fast_l4(struct seg_packet *pkt, const __u8 *l4, void *data_end, __u32 off,
					       __u32 end, __u8 proto, __u8 icmp_proto)
{
	if (proto == IPPROTO_TCP) {
		const struct seg_tcp_head *th = (const void *)l4;
		__u32 hlen;

		if ((void *)l4 + 20 > data_end || end < off + 20)
			return SEG_PARSE_SLOW;
		hlen = (th->doff_res >> 4) * 4;
		if (hlen < 20 || ((th->flags & SEG_TCP_SYN) && hlen > 20))
			return SEG_PARSE_SLOW;
		pkt->sport = bpf_ntohs(th->source);
		pkt->dport = bpf_ntohs(th->dest);
		pkt->tcp_flags = th->flags;
		pkt->tcp_seq = bpf_ntohl(th->seq);
		pkt->tcp_ack = bpf_ntohl(th->ack_seq);
		pkt->tcp_win = bpf_ntohs(th->window);
		pkt->tcp_len = end > off + hlen ? end - off - hlen : 0;
		pkt->tcp_wscale = SEG_TCP_NO_WSCALE;
		pkt->has_ports = 1;
	} else if (proto == IPPROTO_UDP) {
		const __u16 *ports = (const void *)l4;

		if (end < off + 8)
			return SEG_PARSE_SLOW;
		pkt->sport = bpf_ntohs(ports[0]);
		pkt->dport = bpf_ntohs(ports[1]);
		pkt->has_ports = 1;
	} else if (proto == icmp_proto) {
		const struct seg_icmp_hdr *ih = (const void *)l4;

		if (end < off + 8)
			return SEG_PARSE_SLOW;
		pkt->icmp_type = ih->type;
		pkt->icmp_code = ih->code;
		pkt->icmp_id = bpf_ntohs(ih->id);
		pkt->has_icmp = 1;
	} else if (proto == IPPROTO_SCTP) {
		return SEG_PARSE_SLOW;
	}
	pkt->proto = proto;
	pkt->l4_off = off;
	return SEG_PARSE_OK;
}

/**
 * seg_parse_fast - parse the common frame straight from the linear packet data
 * @skb: the packet
 * @pkt: zeroed by the caller; filled here (seg_parse starts again from a zeroed one when the
 *       answer is SEG_PARSE_SLOW)
 *
 * An untagged IPv4 frame without options and not fragmented, or an IPv6 frame without
 * extension headers, whose TCP (no SYN options), UDP or ICMP header lies in the linear data:
 * the fields are read in place, without the stack copies and helper calls of
 * bpf_skb_load_bytes (three per frame, half of a session hit's parse). Every other frame, and
 * every one this path would call malformed or truncated, is left to seg_parse's full walk
 * (SEG_PARSE_SLOW), so the two give the same fields and reasons.
 *
 * Returns: SEG_PARSE_OK or SEG_PARSE_SLOW.
 */
static __always_inline __u32 seg_parse_fast(struct __sk_buff *skb, struct seg_packet *pkt)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	const struct ethhdr *eth = data;

	/* verifier: each family's reads stay within the bounds checked here and in _l4. */
	if (data + ETH_HLEN + sizeof(struct iphdr) + 8 > data_end)
		return SEG_PARSE_SLOW;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		const struct iphdr *iph = data + ETH_HLEN;
		__u32 tot = bpf_ntohs(iph->tot_len), r;

		if (*(const __u8 *)iph != 0x45 || iph->frag_off & bpf_htons(0x3fff) || tot < sizeof(*iph) ||
		    ETH_HLEN + tot > skb->len)
			return SEG_PARSE_SLOW;
		r = seg_parse_fast_l4(pkt, data + ETH_HLEN + sizeof(*iph), data_end, ETH_HLEN + sizeof(*iph), ETH_HLEN + tot,
				      iph->protocol, IPPROTO_ICMP);
		if (r != SEG_PARSE_OK)
			return r;
		pkt->family = SEG_FAMILY_IP4;
		*(__u32 *)pkt->src = iph->saddr;
		*(__u32 *)pkt->dst = iph->daddr;
		pkt->frag_id = bpf_ntohs(iph->id);
		return SEG_PARSE_OK;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6h = data + ETH_HLEN;
		__u32 end, r;
		const __u32 *a;
		__u32 *t;

		if (data + ETH_HLEN + sizeof(*ip6h) + 8 > data_end || ip6h->version != 6 || ip6_is_extension(ip6h->nexthdr))
			return SEG_PARSE_SLOW;
		end = ETH_HLEN + sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
		if (end > skb->len)
			return SEG_PARSE_SLOW;
		r = seg_parse_fast_l4(pkt, data + ETH_HLEN + sizeof(*ip6h), data_end, ETH_HLEN + sizeof(*ip6h), end,
				      ip6h->nexthdr, IPPROTO_ICMPV6);
		if (r != SEG_PARSE_OK)
			return r;
		pkt->family = SEG_FAMILY_IP6;
		/* By words: the packet's 2-byte alignment is the compiler's worry, not x86's. */
		a = (const __u32 *)&ip6h->saddr;
		t = (__u32 *)pkt->src;
		t[0] = a[0], t[1] = a[1], t[2] = a[2], t[3] = a[3];
		a = (const __u32 *)&ip6h->daddr;
		t = (__u32 *)pkt->dst;
		t[0] = a[0], t[1] = a[1], t[2] = a[2], t[3] = a[3];
		return SEG_PARSE_OK;
	}
	return SEG_PARSE_SLOW;
}

/**
 * seg_parse - parse a frame from its Ethernet header
 * @skb: the packet
 * @pkt: zeroed by the caller; filled here
 *
 * Returns: SEG_PARSE_OK for an IPv4/IPv6 packet ready for classification, SEG_REASON_NON_IP
 * for other frames, or the reason a header is malformed or cut short.
 */
static __always_inline __u32 seg_parse(struct __sk_buff *skb, struct seg_packet *pkt)
{
	__u16 proto;
	__u32 l3 = ETH_HLEN;

	if (seg_parse_fast(skb, pkt) == SEG_PARSE_OK)
		return SEG_PARSE_OK;
	__builtin_memset(pkt, 0, sizeof(*pkt));
	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)))
		return SEG_REASON_TRUNC_L2;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(SEG_ETH_P_8021AD)) {
		/*
		 * A tag in the frame behind one the kernel already took out (skb->vlan_present:
		 * the receive path and offloading NICs strip the outer tag into vlan_tci before
		 * tc runs) is a second tag: a QinQ frame would otherwise be classified on its
		 * inner tag's payload.
		 */
		if (skb->vlan_present)
			return SEG_REASON_VLAN_DEPTH;
		/* One tag: TCI, then the inner EtherType. */
		if (bpf_skb_load_bytes(skb, ETH_HLEN + 2, &proto, sizeof(proto)))
			return SEG_REASON_TRUNC_L2;
		l3 += 4;
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(SEG_ETH_P_8021AD))
			return SEG_REASON_VLAN_DEPTH;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return seg_parse4(skb, pkt, l3);
	if (proto == bpf_htons(ETH_P_IPV6))
		return seg_parse6(skb, pkt, l3);
	return SEG_REASON_NON_IP;
}
