// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Fixture of test/kernel/deploy-verifier.test.ts: the classifier's maps and program names
 * with an ingress program the verifier must reject (a packet read not checked against
 * data_end), so that a deploy meets a real rejection at load time. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "lib/maps.h"

SEC("tc")
int seg_ingress(struct __sk_buff *skb)
{
	__u8 *data = (void *)(long)skb->data;

	return data[12] == 0x08 ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int seg_egress(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int seg_parse_only(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
