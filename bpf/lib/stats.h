/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Counters: per-CPU packets and bytes by verdict, session event and reason; per-rule hits. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "maps.h"

static __always_inline void seg_count(__u32 stat, __u32 bytes)
{
	struct seg_counter *c = bpf_map_lookup_elem(&seg_stats, &stat);

	/* Per-CPU values: no other CPU writes this one, plain adds suffice. */
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline void seg_count_rule(const struct seg_policy_meta *meta, __u32 rule, __u32 bytes)
{
	struct seg_counter *c;
	__u32 idx;

	if (!meta || rule == SEG_RULE_NONE)
		return;
	idx = meta->rule_base + rule;
	c = bpf_map_lookup_elem(&seg_rule_hits, &idx);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* Audit: a deny that passed, in total and for its rule (the default's only in the total). */
static __always_inline void seg_count_would_deny(const struct seg_policy_meta *meta, __u32 rule, __u32 bytes)
{
	struct seg_counter *c;
	__u32 idx;

	seg_count(SEG_STAT_WOULD_DENY, bytes);
	if (!meta || rule == SEG_RULE_NONE)
		return;
	idx = meta->rule_base + rule;
	c = bpf_map_lookup_elem(&seg_rule_would_deny, &idx);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}
