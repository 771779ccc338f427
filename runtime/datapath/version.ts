// The kernel contract's version. DATAPATH_VERSION names the layouts of every map the kernel
// shares with TypeScript (runtime/datapath/abi.ts, generated from bpf/segc_abi.h). It is bumped
// with every change to them, and each bump comes with its migration (migrate.ts: what a field
// that is new or changed gets when an older data path's entries are copied) and a test of it;
// test/runtime/datapath/abi.test.ts fails when the generated layouts change and this does not.

/** The data-path version this segc loads, pins and upgrades to. */
export const DATAPATH_VERSION = 5;

/** The layouts' fingerprint (abi.ts ABI_FINGERPRINT) of each version this segc knows. */
export const VERSION_FINGERPRINTS: Readonly<Record<number, string>> = {
  // Version 1: segc up to commit 9463f29. Its pins carry no version (no seg_info map); its
  // layouts are version 2's without seg_info and the enums that were #defines.
  1: 'unrecorded',
  2: 'e09b88e918801a0f',
  3: 'ee4808157d3110f2',
  4: '319b1b444ea96bc4',
  5: '9544a2f5cda4efb3',
};

/**
 * What a data-path version's maps hold, where it differs from the current one: struct layouts
 * by C name. Versions absent here (and the current one) hold the current layouts; version 1
 * differs only in lacking seg_info.
 */
export const VERSION_HISTORY: Readonly<Record<number, { readonly summary: string }>> = {
  1: { summary: 'segc up to 9463f29: no version record (seg_info); layouts otherwise as version 2' },
  2: { summary: 'the version record (seg_info: version, counter lineage); limits, flags and defaults as C enums' },
  3: { summary: 'the in-kernel canary: seg_config.canary_generation and canary_share (0: no canary), the seg_canary_stats counters per role; TCP sequence windows in seg_session (tcp_*; zero: learnt from the next segments); reason TCP_WINDOW (the counters after the reasons move by one)' },
  4: { summary: "flows that open no session: seg_rule_info.no_session (the byte that was padding; 0, an older policy's, opens sessions as before), set where a rule's 'nosession' is proved by the compiler" },
  5: { summary: 'the set-associative session table: seg_sessions is an array of seg_session_bucket (4 ways of key + session, tags, sequence words, eviction stamps, reference bits) instead of an LRU hash of seg_session_key -> seg_session; a flow lives in one of two buckets (two choices: the hash\'s low half names the first, its high half the second and the tag); seg_session_meta holds the bucket hash key (random per deployment) and the fill; an upgrade from 4 places every session in one of its buckets' },
};
