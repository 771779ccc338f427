// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The peer benchmark's "TC hook alone": a classifier that passes every packet, so its cell
 * measures the hook itself (clsact, the program call) with nothing decided. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int bench_pass(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
