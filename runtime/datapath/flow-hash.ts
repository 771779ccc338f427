// The kernel contract: the canary's flow hash (bpf/lib/canary.h seg_flow_hash), computed here
// from the same definition so that a test, or an operator, can tell which policy a flow meets:
// MurmurHash3 x86_32, seed SEG_CANARY_SEED, over the 40 bytes of struct seg_session_key as the
// data path builds it (endpoint a the lower of (address, port); the padding zero). A flow is the
// canary's when (hash * SEG_CANARY_SHARE_SCALE) >> 32 < seg_config.canary_share.
import { SEG_SESSION_KEY, SegCanaryLimits } from './abi.ts';
import { encode } from './codec.ts';
import { parseAddress } from '../../compiler/cidr.ts';
import type { Packet } from '../../compiler/packet.ts';

/** bpf/lib/canary.h SEG_CANARY_SEED. */
export const CANARY_SEED = 0x5e9ca7a1;

/** Shares are written in these parts of new flows (basis points). */
export const CANARY_SHARE_SCALE = SegCanaryLimits.SEG_CANARY_SHARE_SCALE;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** MurmurHash3 x86_32 of `bytes` (a multiple of 4 long, as the session key is). */
export function murmur3(bytes: Uint8Array, seed: number = CANARY_SEED): number {
  let h = seed >>> 0;
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    let k = ((bytes[i] ?? 0) | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24)) >>> 0;
    k = Math.imul(k, 0xcc9e2d51) >>> 0;
    k = rotl(k, 15);
    k = Math.imul(k, 0x1b873593) >>> 0;
    h = (h ^ k) >>> 0;
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  h = (h ^ bytes.length) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** One endpoint of a flow: a 16-byte address (IPv4 in the first 4 bytes) and a port (host order). */
export interface FlowEndpoint {
  readonly addr: Uint8Array;
  readonly port: number;
}

/** One flow as the data path keys it (family 0 = IPv4, 1 = IPv6; ports 0 when the packet has none). */
export interface FlowOf {
  readonly family: number;
  readonly proto: number;
  readonly src: FlowEndpoint;
  readonly dst: FlowEndpoint;
}

function compare(a: FlowEndpoint, b: FlowEndpoint): number {
  for (let i = 0; i < 16; i++) if ((a.addr[i] ?? 0) !== (b.addr[i] ?? 0)) return (a.addr[i] ?? 0) - (b.addr[i] ?? 0);
  return a.port - b.port;
}

/** The session key bytes of a flow: the same for both directions. */
export function flowKey(flow: FlowOf): Uint8Array {
  const [a, b] = compare(flow.src, flow.dst) <= 0 ? [flow.src, flow.dst] : [flow.dst, flow.src];
  return encode(SEG_SESSION_KEY, { addr_a: a.addr, addr_b: b.addr, port_a: a.port, port_b: b.port, proto: flow.proto, family: flow.family, pad: new Uint8Array(2) });
}

/** The flow's canary hash (bpf/lib/canary.h seg_flow_hash). */
export function flowHash(flow: FlowOf): number {
  return murmur3(flowKey(flow));
}

/** Whether a new flow of `hash` is judged by the canary at `share` parts of CANARY_SHARE_SCALE. */
export function isCanaryFlow(hash: number, share: number): boolean {
  return Number((BigInt(hash) * BigInt(CANARY_SHARE_SCALE)) >> 32n) < share;
}

/**
 * The flow of a packet as the language writes it (compiler/packet.ts), keyed as the data path
 * keys it: ports for tcp/udp/sctp with ports; an ICMP echo's identifier as both ports (the
 * frame builder's default `icmpRest` gives 1); otherwise (later fragments, other ICMP, other
 * protocols) both ports 0.
 */
export function packetFlow(packet: Packet, icmpId = 1): FlowOf {
  const src = parseAddress(packet.src);
  const dst = parseAddress(packet.dst);
  if (!src || !dst || src.family !== dst.family) throw new RangeError(`${packet.src} -> ${packet.dst} is not a pair of addresses of one family`);
  const family = src.family;
  const icmpProto = family === 4 ? 1 : 58;
  const echo = packet.proto === icmpProto && packet.icmpType !== undefined && (family === 4 ? packet.icmpType === 0 || packet.icmpType === 8 : packet.icmpType === 128 || packet.icmpType === 129);
  const ports = packet.srcPort !== undefined && packet.dstPort !== undefined && packet.icmpType === undefined ? [packet.srcPort, packet.dstPort] : echo ? [icmpId, icmpId] : [0, 0];
  return {
    family: family === 4 ? 0 : 1,
    proto: packet.proto,
    src: { addr: addressBytes(src.value, family), port: ports[0] ?? 0 },
    dst: { addr: addressBytes(dst.value, family), port: ports[1] ?? 0 },
  };
}

/** 16 bytes: IPv4 in the first 4 (network order), the rest zero. */
function addressBytes(value: bigint, family: 4 | 6): Uint8Array {
  const bytes = new Uint8Array(16);
  const n = family === 4 ? 4 : 16;
  for (let i = 0; i < n; i++) bytes[i] = Number((value >> BigInt(8 * (n - 1 - i))) & 0xffn);
  return bytes;
}
