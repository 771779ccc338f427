/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* TCP sequence windows: which segments of a session's flow are the flow's. Each endpoint's
 * sequence space is tracked in the session (the sequence number after its furthest byte, the
 * largest window it advertised, the scale its SYN offered), in the manner of conntrack's
 * tcp_in_window, and RFC 5961's rules are applied to what could end or restart a session:
 *
 *  - an RST is the flow's only if its sequence number lies in the window (for an RST answering
 *    a SYN: only if it acknowledges the SYN);
 *  - a SYN on a synchronized session (established or half closed) starts nothing; a SYN-ACK
 *    there must lie in the window (a retransmission);
 *  - a SYN after both FINs reopens the flow (the port is reused, as conntrack does from
 *    TIME_WAIT): the old session ends and the SYN is a new flow.
 *
 * Such a segment that is not the flow's leaves the session untouched and is judged as a packet
 * without a session (SEG_REASON_TCP_WINDOW). Other segments outside the window pass with the
 * session (the host's own TCP discards them) but teach it nothing, so a spoofed segment cannot
 * move the window for a later RST. What is unknown (a session of data-path version 2, one picked
 * up mid-stream, an endpoint not heard from yet) is in the window and is learnt from the next
 * segments; a window scale not seen in the handshake is assumed the largest. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include "segc_abi.h"
#include "parse.h"

/* seg_tcp_window's answer. */
#define SEG_TCP_IN 0		/* the flow's segment: the session goes on */
#define SEG_TCP_OUTSIDE 1	/* not the flow's: judged without the session, which is untouched */
#define SEG_TCP_REOPEN 2	/* a SYN after both FINs: the session ends, the SYN is a new flow */

/* Sequence numbers wrap: a is after b when the distance from b to a is under 2^31. */
static __always_inline int seg_seq_after(__u32 a, __u32 b)
{
	return (__s32)(a - b) > 0;
}

/* The sequence number after a segment: its payload, and one each for SYN and FIN. */
static __always_inline __u32 seg_tcp_end(const struct seg_packet *pkt)
{
	return pkt->tcp_seq + pkt->tcp_len + !!(pkt->tcp_flags & SEG_TCP_SYN) + !!(pkt->tcp_flags & SEG_TCP_FIN);
}

/* The window a segment from @from_a advertises, in bytes: a SYN's is never scaled (RFC 7323). */
static __always_inline __u32 seg_tcp_window_bytes(const struct seg_session *s, const struct seg_packet *pkt, int from_a)
{
	__u32 shift = SEG_TCP_MAX_WSCALE;

	if (pkt->tcp_flags & SEG_TCP_SYN)
		shift = 0;
	else if (s->tcp_window & SEG_TCP_SCALED)
		shift = from_a ? s->tcp_scale_a : s->tcp_scale_b;
	/* At most 65,535 << 14, under 2^30: end +- window never wraps past half the space. */
	return (__u32)pkt->tcp_win << (shift > SEG_TCP_MAX_WSCALE ? SEG_TCP_MAX_WSCALE : shift);
}

/**
 * seg_tcp_in_window - whether a segment's sequence number lies where its sender may send
 * @s: the session
 * @pkt: the segment
 * @from_a: whether endpoint a sent it
 *
 * The receiver has taken at most what the sender sent (tcp_end), and the sender cannot have
 * more than the receiver's largest window in flight, so the receiver's next expected sequence
 * number, and any acceptable one, lies within that window either side of the sender's end.
 *
 * Returns: 1 when it does, or when either endpoint's space is not known yet; else 0.
 */
static __always_inline int seg_tcp_in_window(const struct seg_session *s, const struct seg_packet *pkt, int from_a)
{
	__u8 both = SEG_TCP_WINDOW_A | SEG_TCP_WINDOW_B;
	__u32 end = from_a ? s->tcp_end_a : s->tcp_end_b;
	__u32 win = from_a ? s->tcp_maxwin_b : s->tcp_maxwin_a;

	if ((s->tcp_window & both) != both)
		return 1;
	return !seg_seq_after(end - win, pkt->tcp_seq) && !seg_seq_after(pkt->tcp_seq, end + win);
}

/**
 * seg_tcp_learn - a segment of the flow moves its sender's end and largest window
 * @s: the session (a map value, or the new session on the stack)
 * @pkt: the segment
 * @from_a: whether endpoint a sent it
 */
static __always_inline void seg_tcp_learn(struct seg_session *s, const struct seg_packet *pkt, int from_a)
{
	__u8 known = from_a ? SEG_TCP_WINDOW_A : SEG_TCP_WINDOW_B;
	__u32 end = seg_tcp_end(pkt);
	__u32 win = seg_tcp_window_bytes(s, pkt, from_a);

	if (from_a) {
		if (!(s->tcp_window & known) || seg_seq_after(end, s->tcp_end_a))
			s->tcp_end_a = end;
		if (!(s->tcp_window & known) || win > s->tcp_maxwin_a)
			s->tcp_maxwin_a = win;
	} else {
		if (!(s->tcp_window & known) || seg_seq_after(end, s->tcp_end_b))
			s->tcp_end_b = end;
		if (!(s->tcp_window & known) || win > s->tcp_maxwin_b)
			s->tcp_maxwin_b = win;
	}
	s->tcp_window |= known;
	if (pkt->tcp_flags & SEG_TCP_SYN) {
		/* The scale this side offers; it applies only if the other side offers one too. */
		__u8 offered = from_a ? SEG_TCP_WSCALE_A : SEG_TCP_WSCALE_B;

		if (pkt->tcp_wscale == SEG_TCP_NO_WSCALE) {
			s->tcp_window &= ~offered;
		} else {
			s->tcp_window |= offered;
			if (from_a)
				s->tcp_scale_a = pkt->tcp_wscale;
			else
				s->tcp_scale_b = pkt->tcp_wscale;
		}
	}
}

/**
 * seg_tcp_window_open - the window of a session that a TCP segment opens
 * @s: the new session
 * @pkt: its first packet
 * @from_a: whether endpoint a sent it
 */
static __always_inline void seg_tcp_window_open(struct seg_session *s, const struct seg_packet *pkt, int from_a)
{
	if (pkt->proto == IPPROTO_TCP && pkt->has_ports)
		seg_tcp_learn(s, pkt, from_a);
}

/**
 * seg_tcp_segment - seg_tcp_window for a segment without SYN or RST: the session's always (its
 *	window only teaches the session when the segment lies in it)
 * @s: the session
 * @pkt: the segment (TCP, no SYN, no RST)
 * @from_a: whether endpoint a sent it
 *
 * Returns: SEG_TCP_IN.
 */
static __always_inline int seg_tcp_segment(struct seg_session *s, const struct seg_packet *pkt, int from_a)
{
	if (seg_tcp_in_window(s, pkt, from_a))
		seg_tcp_learn(s, pkt, from_a);
	return SEG_TCP_IN;
}

/**
 * seg_tcp_window - whether a TCP segment that found a session is the session's
 * @s: the session; learns from the segment when it is
 * @pkt: the segment (TCP)
 * @from_a: whether endpoint a sent it
 *
 * Returns: SEG_TCP_IN, SEG_TCP_OUTSIDE (@s untouched) or SEG_TCP_REOPEN (@s untouched).
 */
/* verifier: a global function, so that its temporaries live in a frame of its own: seg_handle's
 * frame with seg_related's must stay within 512 bytes. */
__noinline int seg_tcp_window(struct seg_session *s, const struct seg_packet *pkt, int from_a)
{
	int from_initiator, synchronized;
	__u32 initiator_end;
	__u8 initiator_known, fl;

	if (!s || !pkt || !pkt->has_ports)
		return SEG_TCP_IN;
	from_initiator = !!(s->flags & SEG_SESSION_INITIATOR_A) == !!from_a;
	initiator_end = (s->flags & SEG_SESSION_INITIATOR_A) ? s->tcp_end_a : s->tcp_end_b;
	initiator_known = (s->flags & SEG_SESSION_INITIATOR_A) ? SEG_TCP_WINDOW_A : SEG_TCP_WINDOW_B;
	synchronized = s->state == SEG_STATE_TCP_ESTABLISHED || s->state == SEG_STATE_TCP_FIN_WAIT ||
		       s->state == SEG_STATE_TCP_CLOSING;
	fl = pkt->tcp_flags;
	if ((fl & (SEG_TCP_SYN | SEG_TCP_ACK)) == SEG_TCP_SYN) {
		/* RFC 5961 4: a SYN on a synchronized connection is never a new one. */
		if (s->state == SEG_STATE_TCP_CLOSING)
			return SEG_TCP_REOPEN;
		if (synchronized)
			return SEG_TCP_OUTSIDE;
		/* A retransmitted (or retried) SYN: its sequence number starts its sender's space. */
		s->tcp_window &= from_a ? ~SEG_TCP_WINDOW_A : ~SEG_TCP_WINDOW_B;
		seg_tcp_learn(s, pkt, from_a);
		return SEG_TCP_IN;
	}
	if (fl & SEG_TCP_SYN) {
		if (s->state == SEG_STATE_TCP_SYN_SENT && !from_initiator) {
			/* The handshake's SYN-ACK acknowledges the SYN. */
			if ((s->tcp_window & initiator_known) && pkt->tcp_ack != initiator_end)
				return SEG_TCP_OUTSIDE;
			s->tcp_window &= from_a ? ~SEG_TCP_WINDOW_A : ~SEG_TCP_WINDOW_B;
			seg_tcp_learn(s, pkt, from_a);
			/* Both offers are known now: scaling is on only if both made one. */
			if ((s->tcp_window & (SEG_TCP_WSCALE_A | SEG_TCP_WSCALE_B)) != (SEG_TCP_WSCALE_A | SEG_TCP_WSCALE_B)) {
				s->tcp_scale_a = 0;
				s->tcp_scale_b = 0;
			}
			s->tcp_window |= SEG_TCP_SCALED;
			return SEG_TCP_IN;
		}
		/* Elsewhere a SYN-ACK is the flow's only as a retransmission, in the window. */
		if (!seg_tcp_in_window(s, pkt, from_a))
			return SEG_TCP_OUTSIDE;
		seg_tcp_learn(s, pkt, from_a);
		return SEG_TCP_IN;
	}
	if (fl & SEG_TCP_RST) {
		/* RFC 793: a reset of a SYN is acceptable when it acknowledges the SYN. */
		if (s->state == SEG_STATE_TCP_SYN_SENT && !from_initiator && (s->tcp_window & initiator_known))
			return (fl & SEG_TCP_ACK) && pkt->tcp_ack == initiator_end ? SEG_TCP_IN : SEG_TCP_OUTSIDE;
		/* RFC 5961 3: only in the window (the session then ends: nothing to learn). */
		return seg_tcp_in_window(s, pkt, from_a) ? SEG_TCP_IN : SEG_TCP_OUTSIDE;
	}
	return seg_tcp_segment(s, pkt, from_a);
}

