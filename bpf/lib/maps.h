/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Map definitions. Policy tables are inner maps held by two-slot outer arrays (one slot is
 * live, the other is filled by the next deploy); state maps are shared by every generation.
 * Sizes here are templates: the loader sizes each map from the policy before loading. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"

/* Inner map templates. Arrays carry BPF_F_INNER_MAP so that a slot's arrays may differ in
 * max_entries from the template; tries may differ without it. Templates give sizes, not BTF
 * types: libbpf 1.1 cannot size a BTF key of an inner map template. */
struct seg_meta_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct seg_policy_meta));
};

struct seg_prefix_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct seg_prefix_key));
	__uint(value_size, sizeof(__u32));
};

struct seg_l4_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, SEG_L4_ENTRIES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct seg_l4_rows));
};

struct seg_dir_rows_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct seg_dir_rows));
};

struct seg_bits_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct seg_chunk));
};

struct seg_rules_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct seg_rule_info));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seg_config);
} seg_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SEG_SLOTS);
	__type(key, __u32);
	__array(values, struct seg_meta_table);
} seg_slot_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SEG_SLOTS);
	__type(key, __u32);
	__array(values, struct seg_prefix_table);
} seg_slot_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SEG_SLOTS);
	__type(key, __u32);
	__array(values, struct seg_l4_table);
} seg_slot_l4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SEG_SLOTS);
	__type(key, __u32);
	__array(values, struct seg_dir_rows_table);
} seg_slot_icmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SEG_SLOTS);
	__type(key, __u32);
	__array(values, struct seg_dir_rows_table);
} seg_slot_protos SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SEG_SLOTS);
	__type(key, __u32);
	__array(values, struct seg_bits_table);
} seg_slot_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SEG_SLOTS);
	__type(key, __u32);
	__array(values, struct seg_rules_table);
} seg_slot_rules SEC(".maps");

/* The session table (lib/session_table.h): buckets of SEG_SESSION_WAYS sessions; the loader
 * sizes it to a power of two of buckets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct seg_session_bucket);
} seg_sessions SEC(".maps");

/* The session table's hash key and fill (struct seg_session_table). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seg_session_table);
} seg_session_meta SEC(".maps");

/* Datagrams whose first fragment passed (lib/fragments.h); sized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct seg_fragment_key);
	__type(value, struct seg_fragment);
} seg_fragments SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEG_STAT_COUNT);
	__type(key, __u32);
	__type(value, struct seg_counter);
} seg_stats SEC(".maps");

/* Two slots' worth of rule counters; a slot's rules start at seg_policy_meta.rule_base. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * 65536);
	__type(key, __u32);
	__type(value, struct seg_counter);
} seg_rule_hits SEC(".maps");

/* Log events for userspace (lib/events.h; runtime/events.ts reads them). Size set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} seg_events SEC(".maps");

/* Event token buckets, per CPU: [0] is the global one, [1 + rule_base + rule id] each rule's. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1 + 2 * 65536);
	__type(key, __u32);
	__type(value, struct seg_bucket);
} seg_event_buckets SEC(".maps");

/* Audit: per rule, the packets it denied that passed (indexed like seg_rule_hits). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * 65536);
	__type(key, __u32);
	__type(value, struct seg_counter);
} seg_rule_would_deny SEC(".maps");

/* The canary's counters per role (lib/canary.h), indexed role * SEG_CANARY_STAT_COUNT + stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * SEG_CANARY_STAT_COUNT);
	__type(key, __u32);
	__type(value, struct seg_counter);
} seg_canary_stats SEC(".maps");

/* SYNs per source address (lib/pressure.h); LRU, so the active sources stay. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct seg_source_key);
	__type(value, struct seg_syn_rate);
} seg_syn_sources SEC(".maps");

/* What the pinned data path is: its version (struct seg_info). Written by the loader, never by
 * the programs; an upgrade reads it to know the layouts of the maps it adopts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seg_info);
} seg_info SEC(".maps");

/* The session clock's per-CPU cache (lib/session.h seg_now_ns): private to the object, not ABI. */
struct seg_clock {
	__u64 jiffies;
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seg_clock);
} seg_clock SEC(".maps");

/* Never read or written: its value lists every ABI type, so that the object's BTF carries them
 * all (enums used only as constants would be left out) and scripts/gen-abi.ts can generate
 * runtime/datapath/abi.ts from it. */
struct seg_abi_types {
	enum seg_dir dir;
	enum seg_family family;
	enum seg_field field;
	enum seg_verdict verdict;
	enum seg_reason reason;
	enum seg_stat stat;
	enum seg_state state;
	struct seg_config config;
	struct seg_policy_meta meta;
	struct seg_prefix_key prefix_key;
	struct seg_l4_rows l4_rows;
	struct seg_dir_rows dir_rows;
	struct seg_chunk chunk;
	struct seg_rule_info rule_info;
	struct seg_session_key session_key;
	struct seg_session session;
	struct seg_session_way session_way;
	struct seg_session_bucket session_bucket;
	struct seg_session_table session_table;
	enum seg_session_table_limits session_table_limits;
	struct seg_counter counter;
	struct seg_fragment_key fragment_key;
	struct seg_fragment fragment;
	enum seg_event_verdict event_verdict;
	enum seg_event_kind event_kind;
	struct seg_event event;
	struct seg_bucket bucket;
	struct seg_source_key source_key;
	struct seg_syn_rate syn_rate;
	struct seg_info info;
	enum seg_limits limits;
	enum seg_rule_id rule_id;
	enum seg_cfg_flag cfg_flag;
	enum seg_default defaults;
	enum seg_cb cb;
	enum seg_session_flag session_flag;
	enum seg_event_flag event_flag;
	enum seg_tcp_window_flag tcp_window_flag;
	enum seg_tcp_limit tcp_limit;
	enum seg_canary_limits canary_limits;
	enum seg_canary_role canary_role;
	enum seg_canary_stat canary_stat;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seg_abi_types);
} seg_abi SEC(".maps");
