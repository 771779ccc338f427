// Runtime: the session census counted in the kernel. A small program of its own object
// (bpf/segc_census.bpf.c), bound to a deployment's pinned session table, walks it with
// bpf_for_each_map_elem under BPF_PROG_TEST_RUN and leaves the count of each state in a
// one-entry array: one run and one lookup replace copying every entry out by batch lookups (a
// full 262,144-entry table: a few ms in the kernel against 0.2-0.9 s of batch lookups on the
// development machine). Where it cannot load, `openSessionCensus` says why and callers count
// with `censusSessions` (runtime/datapath/sessions.ts) instead.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SegMap, SegSessionTableLimits, SegState } from './abi.ts';
import {
  bpf_map__fd,
  bpf_map__reuse_fd,
  bpf_map_get_info_by_fd,
  bpf_map_lookup_elem,
  bpf_object__close,
  bpf_object__find_map_by_name,
  bpf_object__find_program_by_name,
  bpf_object__load,
  bpf_object__open_file,
  bpf_prog_test_run_opts,
  bpf_program__fd,
  libbpf_set_print,
  type BpfObject,
} from '../libbpf.ts';
import { DEFAULT_OBJECT_PATH } from '../loader.ts';
import type { Datapath } from './datapath.ts';
import type { SessionCensus } from './sessions.ts';

/** The census object, built beside the data path's (`make bpf`). */
export const CENSUS_OBJECT_PATH = join(dirname(DEFAULT_OBJECT_PATH), 'segc_census.bpf.o');

/** BPF_PROG_TEST_RUN of a TC program needs an Ethernet header's worth of frame. */
const FRAME = new Uint8Array(64);

export interface SessionCensusCounter {
  /** The census of the session table it is bound to, now. */
  census(): SessionCensus;
  close(): void;
}

/**
 * Loads the census program bound to the session table of `dp` (a deployment's pinned data
 * path: the table stays shared, the counter holds its own reference until `close`), or
 * returns why it cannot run here.
 */
export function openSessionCensus(dp: Datapath, objectPath = CENSUS_OBJECT_PATH): SessionCensusCounter | { readonly unavailable: string } {
  const sessionsFd = dp.maps[SegMap.sessions];
  if (sessionsFd === undefined) return { unavailable: 'the data path has no session table' };
  if (!existsSync(objectPath)) return { unavailable: `${objectPath} is missing (make bpf)` };
  libbpf_set_print(null);
  let obj: BpfObject | undefined;
  try {
    obj = bpf_object__open_file(objectPath);
    bpf_map__reuse_fd(bpf_object__find_map_by_name(obj, SegMap.sessions), sessionsFd);
    bpf_object__load(obj);
    const progFd = bpf_program__fd(bpf_object__find_program_by_name(obj, 'seg_session_census'));
    const outFd = bpf_map__fd(bpf_object__find_map_by_name(obj, 'seg_census_out'));
    const tableFd = bpf_map__fd(bpf_object__find_map_by_name(obj, SegMap.sessions));
    const capacity = bpf_map_get_info_by_fd(tableFd).maxEntries * SegSessionTableLimits.SEG_SESSION_WAYS;
    const loaded = obj;
    return {
      census: () => {
        bpf_prog_test_run_opts(progFd, { data: FRAME, ctxOut: false });
        const value = bpf_map_lookup_elem(outFd, new Uint8Array(4));
        if (!value) throw new Error('the session census left no counts');
        const counts = new BigUint64Array(value.buffer, value.byteOffset, SegState.SEG_STATE_COUNT + 1);
        return { entries: Number(counts[SegState.SEG_STATE_COUNT] ?? 0n), capacity, byState: Array.from(counts.subarray(0, SegState.SEG_STATE_COUNT), Number) };
      },
      close: () => bpf_object__close(loaded),
    };
  } catch (error) {
    if (obj !== undefined) bpf_object__close(obj);
    return { unavailable: error instanceof Error ? error.message : String(error) };
  }
}
