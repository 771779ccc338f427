// The kernel contract: seg_events, the data path's log events (struct seg_event) read from the
// seg_events ring buffer through libbpf's consumer, decoded into plain data with the packet in
// the language's own notation. `segc monitor` prints them; the agent can write the same
// records elsewhere: both own an `EventReader` and decide what to do with each event.
import { formatAddress } from '../../compiler/cidr.ts';
import { formatPacket, type Packet } from '../../compiler/packet.ts';
import { ring_buffer__consume, ring_buffer__free, ring_buffer__new, ring_buffer__poll, type RingBuffer } from '../libbpf.ts';
import { SEG_EVENT, SEG_RULE_NONE, SegDir, SegEventFlag, SegEventKind, SegEventVerdict, SegFamily, SegMap, SegReason } from './abi.ts';
import { decode } from './codec.ts';
import { mapOf, type Datapath } from './datapath.ts';

export type EventVerdict = 'allow' | 'deny' | 'would-deny';
export type EventKind = 'packet' | 'syn-untracked';

/** One event as the kernel sent it. */
export interface SegEvent {
  readonly kind: EventKind;
  /** CLOCK_MONOTONIC_COARSE at the decision, in ns (the session clock). */
  readonly timeNs: bigint;
  readonly generation: bigint;
  /** The deciding rule's id in its policy (for a session: the rule that allowed it), or null. */
  readonly rule: number | null;
  readonly ifindex: number;
  readonly direction: 'ingress' | 'egress';
  readonly verdict: EventVerdict;
  /** enum seg_reason, as its lower-case name (`rule`, `default`, `session`, ...). */
  readonly reason: string;
  readonly length: number;
  /** The TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10, ...); 0 for other protocols. */
  readonly tcpFlags: number;
  readonly fragment: boolean;
  /** The classification fields: what `segc explain --packet` takes. */
  readonly packet: Packet;
}

const REASON_NAMES = new Map<number, string>(Object.entries(SegReason).map(([name, value]) => [value, name.replace('SEG_REASON_', '').toLowerCase().replaceAll('_', '-')]));

function address(family: 4 | 6, bytes: Uint8Array): string {
  let v = 0n;
  for (const b of bytes.subarray(0, family === 4 ? 4 : 16)) v = (v << 8n) | BigInt(b);
  return formatAddress(family, v);
}

/** Decodes one ring buffer record (struct seg_event). */
export function decodeEvent(raw: Uint8Array): SegEvent {
  if (raw.byteLength < SEG_EVENT.size) throw new RangeError(`an event record has ${raw.byteLength} bytes, struct seg_event ${SEG_EVENT.size}`);
  const e = decode(SEG_EVENT, raw);
  const family = e.family === SegFamily.SEG_FAMILY_IP4 ? 4 : 6;
  const packet: Packet = {
    proto: e.proto,
    src: address(family, e.src),
    dst: address(family, e.dst),
    ...(e.flags & SegEventFlag.SEG_EVENT_HAS_PORTS ? { srcPort: e.sport, dstPort: e.dport } : {}),
    ...(e.flags & SegEventFlag.SEG_EVENT_HAS_ICMP ? { icmpType: e.icmp_type, icmpCode: e.icmp_code } : {}),
  };
  return {
    kind: e.kind === SegEventKind.SEG_EVENT_SYN_UNTRACKED ? 'syn-untracked' : 'packet',
    timeNs: e.time_ns,
    generation: e.generation,
    rule: e.rule_id === SEG_RULE_NONE ? null : e.rule_id,
    ifindex: e.ifindex,
    direction: e.dir === SegDir.SEG_DIR_INGRESS ? 'ingress' : 'egress',
    verdict: e.verdict === SegEventVerdict.SEG_EVENT_WOULD_DENY ? 'would-deny' : e.verdict === SegEventVerdict.SEG_EVENT_ALLOW ? 'allow' : 'deny',
    reason: REASON_NAMES.get(e.reason) ?? String(e.reason),
    length: e.len,
    tcpFlags: e.tcp_flags,
    fragment: (e.flags & SegEventFlag.SEG_EVENT_FRAGMENT) !== 0,
    packet,
  };
}

/** `tcp 10.0.0.1:40000 -> 10.0.1.5:443`: the packet in the notation `segc explain --packet` reads. */
export function eventPacketText(event: SegEvent): string {
  return formatPacket(event.packet);
}

const TCP_FLAG_NAMES: readonly [number, string][] = [
  [0x02, 'syn'],
  [0x10, 'ack'],
  [0x01, 'fin'],
  [0x04, 'rst'],
  [0x08, 'psh'],
  [0x20, 'urg'],
];

/** `syn,ack`: the TCP flags by name (empty for none). */
export function tcpFlagNames(flags: number): string {
  return TCP_FLAG_NAMES.filter(([bit]) => flags & bit)
    .map(([, name]) => name)
    .join(',');
}

/**
 * The reader of a data path's events. `poll` waits (blocking the thread, so keep the timeout
 * short in a process that does other work) and `drain` only takes what is there; both call
 * `onEvent` for each event, in the order the kernel wrote them per CPU.
 */
export class EventReader {
  private ring: RingBuffer | undefined;

  constructor(dp: Datapath, onEvent: (event: SegEvent) => void) {
    this.ring = ring_buffer__new(mapOf(dp, SegMap.events).fd, (raw) => onEvent(decodeEvent(raw)));
  }

  /** Waits up to `timeoutMs` for events; returns how many were read. */
  poll(timeoutMs: number): number {
    if (!this.ring) throw new Error('the event reader is closed');
    return ring_buffer__poll(this.ring, timeoutMs);
  }

  /** Reads the events there are now, without waiting; returns how many. */
  drain(): number {
    if (!this.ring) throw new Error('the event reader is closed');
    return ring_buffer__consume(this.ring);
  }

  close(): void {
    if (this.ring) ring_buffer__free(this.ring);
    this.ring = undefined;
  }
}
