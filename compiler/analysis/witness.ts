// Rule analysis, witnesses: a packet of the analysis space in the diagnostics' JSON shape.
import type { Witness } from '../diagnostics.ts';
import { protocolName, type Packet } from '../packet.ts';

export function witnessOf(p: Packet): Witness {
  return {
    proto: protocolName(p.proto),
    src: p.src,
    ...(p.srcPort !== undefined ? { srcPort: p.srcPort } : {}),
    dst: p.dst,
    ...(p.dstPort !== undefined ? { dstPort: p.dstPort } : {}),
    ...(p.icmpType !== undefined ? { icmpType: p.icmpType } : {}),
    ...(p.icmpCode !== undefined ? { icmpCode: p.icmpCode } : {}),
  };
}
