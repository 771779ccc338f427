// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The segc TC classifier: one program per hook direction, plus a parse-only reference program
 * the benchmark compares against. The decision logic is in lib/policy.h. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "lib/policy.h"

SEC("tc")
int seg_ingress(struct __sk_buff *skb)
{
	return seg_handle(skb, SEG_DIR_INGRESS);
}

SEC("tc")
int seg_egress(struct __sk_buff *skb)
{
	return seg_handle(skb, SEG_DIR_EGRESS);
}

/* The benchmark's baseline: parses exactly as the classifier does, then passes. */
SEC("tc")
int seg_parse_only(struct __sk_buff *skb)
{
	struct seg_packet pkt = {};

	skb->cb[SEG_CB_REASON] = seg_parse(skb, &pkt);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
