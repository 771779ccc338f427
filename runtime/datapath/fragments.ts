// The kernel contract: seg_fragments, the datagrams whose first fragment passed
// (struct seg_fragment_key -> struct seg_fragment, an LRU hash; bpf/lib/fragments.h).
import { bpf_map_delete_elem } from '../libbpf.ts';
import { SEG_FRAGMENT, SEG_FRAGMENT_KEY, SegMap } from './abi.ts';
import { mapOf, type Datapath } from './datapath.ts';
import { iterateEntries } from './iterate.ts';

/** The datagrams whose first fragment passed, as raw keys (a snapshot). */
export function readFragmentKeys(dp: Datapath): Uint8Array[] {
  return [...iterateEntries(mapOf(dp, SegMap.fragments).fd, SEG_FRAGMENT_KEY.size, SEG_FRAGMENT.size)].map((e) => e.key);
}

/** Forgets every tracked fragmented datagram; returns how many there were. */
export function flushFragments(dp: Datapath): number {
  const fd = mapOf(dp, SegMap.fragments).fd;
  let n = 0;
  for (const key of readFragmentKeys(dp)) if (bpf_map_delete_elem(fd, key)) n++;
  return n;
}
