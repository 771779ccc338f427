// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The session census: counts a deployment's sessions by state inside the kernel, so that the
 * agent reads 72 bytes instead of copying every entry out with batch lookups
 * (runtime/session-census.ts). A separate object from the classifier: it is loaded by readers
 * only, with its seg_sessions bound to a deployment's pinned table (bpf_map__reuse_fd), and run
 * once per census under BPF_PROG_TEST_RUN; it never sees a packet. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"

struct bpf_map;

/* The deployment's table (replaced by its pinned map before load; sizes here are a template). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seg_session_bucket);
} seg_sessions SEC(".maps");

/* [state] sessions in each SEG_STATE_*, [SEG_STATE_COUNT] all of them. */
struct seg_census {
	__u64 counts[SEG_STATE_COUNT + 1];
};

/* The last census; one at a time (the agent's reads are serial, single-flight). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seg_census);
} seg_census_out SEC(".maps");

/* One bucket: its ways in use (tag set). Read without the bucket's lock: a snapshot. */
static long seg_census_one(struct bpf_map *map, const __u32 *index, const struct seg_session_bucket *b,
			   struct seg_census *c)
{
	__u32 state;
	int i;

#pragma unroll
	for (i = 0; i < SEG_SESSION_WAYS; i++) {
		if (!b->tag[i])
			continue;
		state = b->way[i].s.state;
		if (state < SEG_STATE_COUNT)
			c->counts[state]++;
		c->counts[SEG_STATE_COUNT]++;
	}
	return 0;
}

/**
 * seg_session_census - count every session of seg_sessions (ways whose tag is set) by state into seg_census_out[0]
 * @skb: unused (BPF_PROG_TEST_RUN needs a frame)
 *
 * Returns: TC_ACT_OK.
 */
SEC("tc")
int seg_session_census(struct __sk_buff *skb)
{
	struct seg_census c = {};
	__u32 zero = 0;

	bpf_for_each_map_elem(&seg_sessions, seg_census_one, &c, 0);
	bpf_map_update_elem(&seg_census_out, &zero, &c, BPF_ANY);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
