// The kernel contract: seg_sessions, the session table (struct seg_session_key ->
// struct seg_session, an LRU hash shared by every policy generation).
import { bpf_map_delete_elem, bpf_map_get_info_by_fd } from '../libbpf.ts';
import { SEG_RULE_NONE, SEG_SESSION, SEG_SESSION_KEY, SegFamily, SegMap, SegState, SegTcpWindowFlag, SegVerdict, SegDir, type SegSession } from './abi.ts';
import { decode, decodeField } from './codec.ts';
import { mapOf, type Datapath } from './datapath.ts';
import { iterateEntries } from './iterate.ts';
import { layoutOf, migrateValue } from './migrate.ts';
import { DATAPATH_VERSION } from './version.ts';

/** One session as the kernel holds it (struct seg_session_key + struct seg_session). */
export interface SessionEntry {
  readonly family: 4 | 6;
  readonly proto: number;
  /** Endpoint a is the lower of the two (address, then port). */
  readonly addrA: Uint8Array;
  readonly addrB: Uint8Array;
  readonly portA: number;
  readonly portB: number;
  readonly lastSeenNs: bigint;
  readonly generation: bigint;
  readonly packets: bigint;
  readonly bytes: bigint;
  readonly rule: number | null;
  readonly verdict: 'allow' | 'deny';
  readonly direction: 'ingress' | 'egress';
  /** enum seg_state (SegState). */
  readonly state: number;
  /** enum seg_session_flag bits (SegSessionFlag). */
  readonly flags: number;
  /** TCP: each endpoint's sequence window as far as the session knows it (lib/tcp_window.h). */
  readonly tcp?: TcpWindow;
  /** The raw key, for deleting the session. */
  readonly key: Uint8Array;
}

/**
 * What a TCP session knows of each endpoint's sequence space: the sequence number after the
 * furthest byte it sent and the largest window it advertised (bytes), once it was heard from
 * (`knownA`/`knownB`; a session migrated from data-path version 2 starts knowing nothing); the
 * window scales when the handshake was seen (`scaled`).
 */
export interface TcpWindow {
  readonly knownA: boolean;
  readonly knownB: boolean;
  readonly endA: number;
  readonly endB: number;
  readonly maxWindowA: number;
  readonly maxWindowB: number;
  readonly scaled: boolean;
  readonly scaleA: number;
  readonly scaleB: number;
}

/** The session table in numbers: entries, and entries by state (SegState index). */
export interface SessionCensus {
  readonly entries: number;
  readonly capacity: number;
  readonly byState: readonly number[];
}

/**
 * The data-path version whose seg_session the table holds: this segc's, or an older one's (a
 * deployment not upgraded yet, read by this segc's status, stats or sessions), by value size.
 */
function sessionVersion(dp: Datapath): { readonly version: number; readonly size: number } {
  const size = bpf_map_get_info_by_fd(mapOf(dp, SegMap.sessions).fd).valueSize;
  if (size === SEG_SESSION.size) return { version: DATAPATH_VERSION, size };
  for (let v = DATAPATH_VERSION - 1; v >= 1; v--) if (layoutOf('seg_session', v).size === size) return { version: v, size };
  throw new Error(`seg_sessions holds ${size}-byte sessions, which no data-path version this segc knows has (a newer segc's? use it, or undeploy)`);
}

/** Every entry of the table, its value in this version's layout. */
function* sessionsOf(dp: Datapath): Generator<{ key: Uint8Array; value: Uint8Array }> {
  const { version, size } = sessionVersion(dp);
  for (const entry of iterateEntries(mapOf(dp, SegMap.sessions).fd, SEG_SESSION_KEY.size, size)) {
    yield version === DATAPATH_VERSION ? entry : { key: entry.key, value: migrateValue('seg_session', version, entry.value) };
  }
}

/**
 * Counts the sessions by state with batch lookups (a full 262,144-entry table is 64 calls),
 * decoding only the state of each entry. A snapshot: the table keeps changing.
 */
export function censusSessions(dp: Datapath): SessionCensus {
  const capacity = bpf_map_get_info_by_fd(mapOf(dp, SegMap.sessions).fd).maxEntries;
  const byState = new Array<number>(SegState.SEG_STATE_COUNT).fill(0);
  let entries = 0;
  for (const { value } of sessionsOf(dp)) {
    const state = decodeField(SEG_SESSION.fields.state, value) as number;
    if (state < byState.length) byState[state] = (byState[state] ?? 0) + 1;
    entries++;
  }
  return { entries, capacity, byState };
}

/** Every session in the table (a snapshot; the table keeps changing). */
export function readSessions(dp: Datapath): SessionEntry[] {
  return [...sessionsOf(dp)].map(({ key, value }) => decodeSession(key, value));
}

/** One session from its raw key and value. */
export function decodeSession(key: Uint8Array, value: Uint8Array): SessionEntry {
  const k = decode(SEG_SESSION_KEY, key);
  const v = decode(SEG_SESSION, value);
  const family = k.family === SegFamily.SEG_FAMILY_IP4 ? 4 : 6;
  const addrLength = family === 4 ? 4 : 16;
  return {
    family,
    proto: k.proto,
    addrA: k.addr_a.slice(0, addrLength),
    addrB: k.addr_b.slice(0, addrLength),
    portA: k.port_a,
    portB: k.port_b,
    lastSeenNs: v.last_seen_ns,
    generation: v.generation,
    packets: v.packets,
    bytes: v.bytes,
    rule: v.rule_id === SEG_RULE_NONE ? null : v.rule_id,
    verdict: v.verdict === SegVerdict.SEG_VERDICT_ALLOW ? 'allow' : 'deny',
    direction: v.dir === SegDir.SEG_DIR_INGRESS ? 'ingress' : 'egress',
    state: v.state,
    flags: v.flags,
    ...(k.proto === 6 ? { tcp: tcpWindowOf(v) } : {}),
    key: key.slice(),
  };
}

function tcpWindowOf(v: SegSession): TcpWindow {
  const known = v.tcp_window;
  const scaled = (known & SegTcpWindowFlag.SEG_TCP_SCALED) !== 0;
  return {
    knownA: (known & SegTcpWindowFlag.SEG_TCP_WINDOW_A) !== 0,
    knownB: (known & SegTcpWindowFlag.SEG_TCP_WINDOW_B) !== 0,
    endA: v.tcp_end_a,
    endB: v.tcp_end_b,
    maxWindowA: v.tcp_maxwin_a,
    maxWindowB: v.tcp_maxwin_b,
    scaled,
    scaleA: scaled ? v.tcp_scale_a : 0,
    scaleB: scaled ? v.tcp_scale_b : 0,
  };
}

/** Removes one session by its raw key; false when it was gone already. */
export function deleteSession(dp: Datapath, key: Uint8Array): boolean {
  return bpf_map_delete_elem(mapOf(dp, SegMap.sessions).fd, key);
}

/** Removes every session; returns how many there were. */
export function flushSessions(dp: Datapath): number {
  const fd = mapOf(dp, SegMap.sessions).fd;
  let n = 0;
  for (const { key } of [...sessionsOf(dp)]) if (bpf_map_delete_elem(fd, key)) n++;
  return n;
}
