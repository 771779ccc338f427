/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* The session table: find, insert and remove sessions by flow key. A set-associative table in
 * an array map (seg_sessions, struct seg_session_bucket): a flow's two buckets (two choices)
 * come from a keyed hash of its key (seg_session_meta's hash_key, random per deployment); a
 * bucket keeps its ways' tags, sequence words and eviction state in one 64-byte line, so a miss
 * reads two lines and a hit in the first bucket two or three. Readers take no lock; writers take the bucket's. docs/datapath.md
 * "The session table" and docs/performance.md "The set-associative session table". */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "segc_abi.h"
#include "maps.h"
#include "session.h"
#include "canary.h"	/* seg_u32_alias */

/* The kernel's struct bpf_map, the one field read here (CO-RE: the offset comes from the
 * kernel's BTF at load). */
struct bpf_map {
	__u32 max_entries;
} __attribute__((preserve_access_index));

/* A compiler barrier. The lock-free reader is ordered for x86's TSO; see
 * docs/datapath.md "Memory ordering" for weaker memory models. */
#define seg_barrier() asm volatile("" ::: "memory")

/* The hash key, or NULL when seg_session_meta is missing (never in a loaded data path). */
static __always_inline const struct seg_session_table *seg_session_meta_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&seg_session_meta, &zero);
}

/**
 * seg_session_hash - the bucket hash of a session key (NH over the deployment's key, then a
 * 64-bit finaliser); runtime/datapath/session-hash.ts is its mirror
 *
 * Five independent 32x32->64 products, where MurmurHash3 chains ten rounds one after the other:
 * a fraction of its latency on the session-hit path.
 *
 * Returns: 64 bits: the low half picks the first bucket, the high half the second and is the tag.
 */
static __always_inline __u64 seg_session_hash(const struct seg_session_key *key)
{
	const struct seg_session_table *t = seg_session_meta_get();
	const seg_u32_alias *w = (const seg_u32_alias *)key;
	const __u32 *k;
	__u64 h;

	if (!t)
		return 0;
	k = t->hash_key;
	h = (__u64)(__u32)(w[0] + k[0]) * (__u32)(w[1] + k[1]) +
	    (__u64)(__u32)(w[2] + k[2]) * (__u32)(w[3] + k[3]) +
	    (__u64)(__u32)(w[4] + k[4]) * (__u32)(w[5] + k[5]) +
	    (__u64)(__u32)(w[6] + k[6]) * (__u32)(w[7] + k[7]) +
	    (__u64)(__u32)(w[8] + k[8]) * (__u32)(w[9] + k[9]);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

/* A way's tag: the high half of the hash, never 0 (0 marks a free way). The same in both of a
 * flow's buckets. */
static __always_inline __u32 seg_session_tag(__u64 h)
{
	return (__u32)(h >> 32) | 1;
}

/* The bucket of 32 hash bits: multiply-shift over the table's size (a power of two). */
static __always_inline struct seg_session_bucket *seg_session_bucket_at(__u32 h32)
{
	const struct bpf_map *m = (const struct bpf_map *)&seg_sessions;
	__u32 idx = (__u32)(((__u64)h32 * m->max_entries) >> 32);

	return bpf_map_lookup_elem(&seg_sessions, &idx);
}

/* A flow's two buckets (two choices): the first of the hash's low half, the second of its high
 * half. Both may be one bucket; then @second is NULL. */
static __always_inline struct seg_session_bucket *seg_session_bucket_of(__u64 h)
{
	return seg_session_bucket_at((__u32)h);
}

static __always_inline struct seg_session_bucket *seg_session_second_of(__u64 h, const struct seg_session_bucket *first)
{
	struct seg_session_bucket *b = seg_session_bucket_at((__u32)(h >> 32));

	return b == first ? NULL : b;
}

static __always_inline int seg_session_key_eq(const struct seg_session_key *a, const struct seg_session_key *b)
{
	const seg_u32_alias *x = (const seg_u32_alias *)a, *y = (const seg_u32_alias *)b;
	__u32 diff = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*a) / 4); i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* The key's way in bucket @b, or NULL: see seg_session_find. */
static __always_inline struct seg_session *seg_session_find_in(struct seg_session_bucket *b,
							      const struct seg_session_key *key, __u32 tag, __u64 now)
{
	__u32 seq, st = (__u32)(now >> SEG_SESSION_STAMP_SHIFT);
	int i;

#pragma unroll
	for (i = 0; i < SEG_SESSION_WAYS; i++) {
		if (b->tag[i] != tag)
			continue;
		seq = *(volatile __u32 *)&b->seq[i];
		if (seq & 1)
			continue;
		seg_barrier();
		if (!seg_session_key_eq(&b->way[i].key, key))
			continue;
		seg_barrier();
		if (*(volatile __u32 *)&b->seq[i] != seq)
			continue;
		if (now) {
			/* Written only when changed: a hit dirties the header line once a ms. */
			if (b->stamp[i] != st)
				b->stamp[i] = st;
			if (!b->ref[i])
				b->ref[i] = 1;
		}
		return &b->way[i].s;
	}
	return NULL;
}

/**
 * seg_session_find - the session of a key, or NULL
 * @key: the flow's key
 * @now: the session clock, to move the way's eviction stamp and set its reference bit; 0
 *	leaves them (a peek)
 *
 * The first bucket, then the second on a miss: a flow found in both (two CPUs opened it at
 * once) is the first bucket's.
 *
 * Lock-free: a way is the key's when its tag matches and its sequence word is even and
 * unchanged across the key compare. What the caller then reads or writes through the pointer
 * may meet a writer that replaces the way afterwards, as with the LRU hash of data-path
 * version 4, whose elements were reused at once (docs/datapath.md "The session table").
 *
 * verifier: out of line (seg_handle's frame is at 512 bytes; the second probe inlined grows it).
 */
static __noinline struct seg_session *seg_session_find(const struct seg_session_key *key, __u64 now)
{
	__u64 h = seg_session_hash(key);
	struct seg_session_bucket *b = seg_session_bucket_of(h);
	struct seg_session *s = NULL;
	__u32 tag = seg_session_tag(h);

	if (b)
		s = seg_session_find_in(b, key, tag, now);
	if (!s) {
		b = seg_session_second_of(h, b);
		if (b)
			s = seg_session_find_in(b, key, tag, now);
	}
	return s;
}

/* Under the bucket's lock: a writer's change of way @i, bracketed by its sequence word
 * (atomic adds: a userspace BPF_F_LOCK update is the only other writer, and it holds the lock). */
static __always_inline void seg_session_way_begin(struct seg_session_bucket *b, int i)
{
	__sync_fetch_and_add(&b->seq[i], 1);
	seg_barrier();
}

static __always_inline void seg_session_way_end(struct seg_session_bucket *b, int i)
{
	seg_barrier();
	__sync_fetch_and_add(&b->seq[i], 1);
}

/* The table's fill moves by @n (a way taken or freed). */
static __always_inline void seg_session_live_add(__s64 n)
{
	struct seg_session_table *t = (struct seg_session_table *)seg_session_meta_get();

	if (t)
		__sync_fetch_and_add(&t->live, n);
}

/* Removes the key's way from bucket @b. Returns: 1 when it held one, else 0. */
static __always_inline int seg_session_remove_in(struct seg_session_bucket *b, const struct seg_session_key *key, __u32 tag)
{
	int i, removed = 0;

	bpf_spin_lock(&b->lock);
#pragma unroll
	for (i = 0; i < SEG_SESSION_WAYS; i++) {
		if (!removed && b->tag[i] == tag && seg_session_key_eq(&b->way[i].key, key)) {
			seg_session_way_begin(b, i);
			b->tag[i] = 0;
			seg_session_way_end(b, i);
			removed = 1;
		}
	}
	bpf_spin_unlock(&b->lock);
	return removed;
}

/* Both buckets: a flow two CPUs opened at once lives in both, and both go.
 * verifier: out of line (four call sites in seg_handle, whose frame must not grow). */
static __noinline void seg_session_remove(const struct seg_session_key *key)
{
	__u64 h = seg_session_hash(key);
	struct seg_session_bucket *b = seg_session_bucket_of(h);
	__u32 tag = seg_session_tag(h);
	int removed = 0;

	if (b)
		removed += seg_session_remove_in(b, key, tag);
	b = seg_session_second_of(h, b);
	if (b)
		removed += seg_session_remove_in(b, key, tag);
	if (removed)
		seg_session_live_add(-removed);
}

/* How good a way is to replace, now (@st): free best, then one never seen again (no reference
 * bit), then the one seen longest ago; higher is better, the lowest way wins ties. */
static __always_inline __u64 seg_session_victim_score(const struct seg_session_bucket *b, int i, __u32 st)
{
	__s32 age = (__s32)(st - b->stamp[i]);

	if (b->tag[i] == 0)
		return ~0ull;
	return ((__u64)!b->ref[i] << 32) | (__u32)(age > 0 ? age : 0);
}

/* The best victim's score in bucket @b (seg_session_victim_score), its way in @victim. */
static __always_inline __u64 seg_session_best_victim(const struct seg_session_bucket *b, __u32 st, int *victim)
{
	__u64 best = 0, score;
	int i;

	*victim = 0;
#pragma unroll
	for (i = 0; i < SEG_SESSION_WAYS; i++) {
		score = seg_session_victim_score(b, i, st);
		if (i == 0 || score > best) {
			best = score;
			*victim = i;
		}
	}
	return best;
}

/* Whether every way of @b holds a session seen twice (read without the lock: a snapshot). */
static __always_inline int seg_session_bucket_all_seen(const struct seg_session_bucket *b)
{
	int i, seen = 0;

#pragma unroll
	for (i = 0; i < SEG_SESSION_WAYS; i++)
		seen += b->tag[i] != 0 && b->ref[i] != 0;
	return seen == SEG_SESSION_WAYS;
}

/**
 * seg_session_full_of_seen - whether a handshake's session would find no way for @key under SYN
 * protection: every way of both its buckets holds a session seen twice (a snapshot)
 */
static __always_inline int seg_session_full_of_seen(const struct seg_session_key *key)
{
	__u64 h = seg_session_hash(key);
	struct seg_session_bucket *b = seg_session_bucket_of(h), *b2;

	if (!b || !seg_session_bucket_all_seen(b))
		return 0;
	b2 = seg_session_second_of(h, b);
	return !b2 || seg_session_bucket_all_seen(b2);
}

/**
 * seg_session_insert - open a session in one of its two buckets: a free way, else the one seen
 * longest ago among those never seen again, else the one seen longest ago
 * @key: the flow's key
 * @s: the session
 * @half_open: a handshake's session under SYN protection: it takes a free way or one never seen
 *	again, never a session seen twice (a flood of SYNs cannot evict established flows from a
 *	bucket, docs/datapath.md "Table pressure and SYN floods")
 *
 * The bucket whose best victim is better takes the session, the first on a tie (the victims are
 * compared without the lock: a race picks the worse bucket, never a wrong way, as the victim is
 * chosen again under that bucket's lock). Two CPUs opening one flow at once into two different
 * buckets leave two sessions of it: the find returns the first bucket's, the other ages out, the
 * remove takes both.
 *
 * Returns: 0 when inserted, -1 when a bucket holds the flow already (another CPU opened it),
 * -2 when @half_open and every way of the chosen bucket holds a session seen twice.
 */
/* verifier: out of line, so that seg_open_session's frame stays small. */
static __noinline long seg_session_insert(const struct seg_session_key *key, const struct seg_session *s, int half_open)
{
	__u64 h = seg_session_hash(key), best;
	__u32 tag = seg_session_tag(h), st = (__u32)(s->last_seen_ns >> SEG_SESSION_STAMP_SHIFT);
	struct seg_session_bucket *b = seg_session_bucket_of(h), *b2;
	int i, victim = 0, dup = 0, was_free;

	if (!b)
		return -1;
	b2 = seg_session_second_of(h, b);
	if (b2) {
		/* The first bucket's duplicate is found under its lock below, when it is chosen. */
		if (seg_session_find_in(b, key, tag, 0) || seg_session_find_in(b2, key, tag, 0))
			return -1;
		if (seg_session_best_victim(b2, st, &victim) > seg_session_best_victim(b, st, &victim))
			b = b2;
	}
	bpf_spin_lock(&b->lock);
	/* verifier: no helper call while the lock is held; the loops are unrolled. */
#pragma unroll
	for (i = 0; i < SEG_SESSION_WAYS; i++) {
		if (b->tag[i] == tag && seg_session_key_eq(&b->way[i].key, key))
			dup = 1;
	}
	best = seg_session_best_victim(b, st, &victim);
	was_free = best == ~0ull;
	/* A score below 1 << 32: the best victim has its reference bit. */
	if (!dup && half_open && best < (1ull << 32)) {
		bpf_spin_unlock(&b->lock);
		return -2;
	}
	if (!dup) {
		victim &= SEG_SESSION_WAYS - 1;
		seg_session_way_begin(b, victim);
		b->tag[victim] = tag;
		b->stamp[victim] = st;
		b->ref[victim] = 0;
		__builtin_memcpy(&b->way[victim].key, key, sizeof(*key));
		__builtin_memcpy(&b->way[victim].s, s, sizeof(*s));
		seg_session_way_end(b, victim);
	}
	bpf_spin_unlock(&b->lock);
	if (dup)
		return -1;
	if (was_free)
		seg_session_live_add(1);
	return 0;
}
