/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* TCP options: the window scale a SYN or SYN-ACK offers (RFC 7323), which the sequence-window
 * checks of lib/tcp_window.h need to read the later windows in bytes. Only SYNs are parsed. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"

/* seg_packet.tcp_wscale when the segment offers no window scale (or is not a SYN). */
#define SEG_TCP_NO_WSCALE 0xffu
/* The TCP options area is at most 40 bytes (data offset 15). */
#define SEG_TCP_MAX_OPTIONS 40
#define SEG_TCPOPT_EOL 0
#define SEG_TCPOPT_NOP 1
#define SEG_TCPOPT_WSCALE 3

/* The option walk's state, on the stack of seg_tcp_wscale. */
struct seg_tcp_options {
	/* verifier: 64 bytes, so that any index masked with 63 reads inside it. */
	__u8 opt[64];
	__u32 at;
	__u32 size;
	__u32 shift;
};

/* One option of the walk (a bpf_loop callback). Returns: 1 to stop, 0 to go on. */
static long seg_tcp_option_step(__u64 index, void *data)
{
	struct seg_tcp_options *w = data;
	__u32 at = w->at;
	__u8 kind, length;

	if (at >= w->size || at >= SEG_TCP_MAX_OPTIONS)
		return 1;
	kind = w->opt[at & 63];
	if (kind == SEG_TCPOPT_EOL)
		return 1;
	if (kind == SEG_TCPOPT_NOP) {
		w->at = at + 1;
		return 0;
	}
	length = w->opt[(at + 1) & 63];
	if (length < 2 || at + length > w->size)
		return 1;
	if (kind == SEG_TCPOPT_WSCALE && length == 3) {
		w->shift = w->opt[(at + 2) & 63];
		return 1;
	}
	w->at = at + length;
	return 0;
}

/**
 * seg_tcp_wscale - the window scale option of a SYN
 * @skb: the packet
 * @off: offset of the options (the TCP header + 20)
 * @len: length of the options (the data offset's bytes less 20)
 *
 * Returns: the offered shift, capped at SEG_TCP_MAX_WSCALE (RFC 7323 2.3), or
 * SEG_TCP_NO_WSCALE when there is none or the options cannot be read.
 */
/* verifier: a global function, checked once rather than at every caller of seg_parse; the walk
 * is a bpf_loop, whose callback is checked once too (an open loop over options of unknown
 * lengths multiplies the verifier's states past its limit). */
__noinline int seg_tcp_wscale(struct __sk_buff *skb, __u32 off, __u32 len)
{
	struct seg_tcp_options w = {};
	__u64 size = len;

	/* verifier: the helper's size must be seen as 1..40 in the register it is passed in; the
	 * barrier keeps the compiler from folding the two tests into one subtraction. */
	if (!skb || size == 0)
		return SEG_TCP_NO_WSCALE;
	asm volatile("" : "+r"(size));
	if (size > SEG_TCP_MAX_OPTIONS)
		return SEG_TCP_NO_WSCALE;
	if (bpf_skb_load_bytes(skb, off, w.opt, size))
		return SEG_TCP_NO_WSCALE;
	w.size = size;
	w.shift = SEG_TCP_NO_WSCALE;
	bpf_loop(SEG_TCP_MAX_OPTIONS, seg_tcp_option_step, &w, 0);
	if (w.shift == SEG_TCP_NO_WSCALE)
		return SEG_TCP_NO_WSCALE;
	return w.shift > SEG_TCP_MAX_WSCALE ? SEG_TCP_MAX_WSCALE : w.shift;
}
