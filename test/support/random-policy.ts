// Test support: fast-check generators of random policies (as IR, through ir-builder) and of
// packets aimed at their edges (prefix ends, port range ends, ICMP types the rules name), for
// the data path's differential tests.
import fc from 'fast-check';
import { formatAddress, parseAddress, prefixFromText, prefixRange, type Family } from '../../compiler/cidr.ts';
import type { ProgramIr, RuleIr } from '../../compiler/ir.ts';
import type { Packet } from '../../compiler/packet.ts';
import { programIr, ruleIr, type AddrSpec, type PortSpec, type ProtoSpec, type RuleSpec } from './ir-builder.ts';

const V4_POOL = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3', '10.200.0.0/13', '192.168.1.0/24', '192.168.1.128/25', '0.0.0.0/1', '172.16.0.0/12'];
const V6_POOL = ['2001:db8::/32', '2001:db8:1::/48', '2001:db8:1::5', 'fe80::/10', '2001:db8:8000::/33', '::/1', 'fd00::/8'];
const PORT_POOL: PortSpec[] = [22, 80, 443, '1-1023', '1024-65535', '32768-60999', 53, [80, 443, 8080], '0-10', 65535, '5000-5100'];
const PROTO_POOL: ProtoSpec[] = ['any', 'tcp', 'udp', 'sctp', ['tcp', 'udp'], ['tcp', 'udp', 'sctp'], 'icmp', 'icmpv6', ['icmp', 'icmpv6'], 47, ['tcp', 47]];
const ICMP_TYPES = [0, 3, 8, 11, 128, 129, 133, 135, 'echo-request', 'destination-unreachable'];

const addrSpec: fc.Arbitrary<AddrSpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom<AddrSpec>('any', 'any4', 'any6') },
  { weight: 5, arbitrary: fc.constantFrom<AddrSpec>(...V4_POOL, ...V6_POOL) },
  { weight: 2, arbitrary: fc.uniqueArray(fc.constantFrom(...V4_POOL, ...V6_POOL), { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.record({ of: fc.constantFrom<AddrSpec>('any', '10.0.0.0/8', '2001:db8::/32'), except: fc.constantFrom<AddrSpec>('10.1.0.0/16', '10.1.2.3', '2001:db8:1::/48') }) },
);

const ruleSpec: fc.Arbitrary<RuleSpec> = fc
  .record({
    action: fc.constantFrom<RuleSpec['action']>('allow', 'deny', 'log', 'deny log'),
    proto: fc.constantFrom(...PROTO_POOL),
    from: addrSpec,
    to: addrSpec,
    sport: fc.option(fc.constantFrom(...PORT_POOL), { freq: 4 }),
    dport: fc.option(fc.constantFrom(...PORT_POOL), { freq: 2 }),
    icmpType: fc.option(fc.constantFrom(...ICMP_TYPES), { freq: 2 }),
    icmpCode: fc.option(fc.constantFrom(0, 1, 3), { freq: 2 }),
  })
  .map((r) => {
    const protos = Array.isArray(r.proto) ? r.proto : [r.proto];
    const portsOk = protos.every((p) => p === 'tcp' || p === 'udp' || p === 'sctp');
    const icmpOk = protos.every((p) => p === 'icmp' || p === 'icmpv6');
    const spec: RuleSpec = {
      action: r.action,
      proto: r.proto,
      from: r.from,
      to: r.to,
      ...(portsOk && r.sport !== null ? { sport: r.sport } : {}),
      ...(portsOk && r.dport !== null ? { dport: r.dport } : {}),
      ...(icmpOk && r.icmpType !== null ? { icmp: { type: r.icmpType, ...(r.icmpCode !== null ? { code: r.icmpCode } : {}) } } : {}),
    };
    return spec;
  });

/** Whether ir-builder (like the front end) accepts the rule: it must be able to match a packet. */
function acceptable(spec: RuleSpec): boolean {
  try {
    ruleIr(spec, { id: 0, direction: 'ingress', priority: 1, span: { file: 't', start: 0, end: 0 } });
    return true;
  } catch {
    return false;
  }
}

export interface RandomPolicyOptions {
  /** Rule specs drawn per direction, before dropping those that can match nothing. */
  readonly minRules?: number;
  readonly maxRules?: number;
}

/** A random program with rules in both directions and random defaults. */
export function randomProgram(options: RandomPolicyOptions = {}): fc.Arbitrary<ProgramIr> {
  const rules = fc.array(ruleSpec, { minLength: options.minRules ?? 0, maxLength: options.maxRules ?? 12 }).map((rs) => rs.filter(acceptable));
  return fc
    .record({ ingress: rules, egress: rules, di: fc.constantFrom('allow', 'deny' as const), de: fc.constantFrom('allow', 'deny' as const) })
    .map(({ ingress, egress, di, de }) => programIr({ ingress: { default: di, rules: ingress }, egress: { default: de, rules: egress } }));
}

/** Addresses at the edges of every prefix a policy could name, and a few others. */
function edgeAddresses(family: Family): string[] {
  const out = new Set<string>();
  for (const text of family === 4 ? V4_POOL : V6_POOL) {
    const p = prefixFromText(text.includes('/') ? text : `${text}/${family === 4 ? 32 : 128}`);
    const [lo, hi] = prefixRange(p);
    for (const v of [lo, hi, lo - 1n, hi + 1n, (lo + hi) / 2n]) {
      if (v >= 0n && v <= (family === 4 ? 0xffffffffn : (1n << 128n) - 1n)) out.add(formatAddress(family, v));
    }
  }
  out.add(family === 4 ? '0.0.0.0' : '::');
  out.add(family === 4 ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
  return [...out].sort();
}

const EDGE4 = edgeAddresses(4);
const EDGE6 = edgeAddresses(6);
const PORT_EDGES = [0, 1, 9, 10, 11, 21, 22, 23, 52, 53, 54, 79, 80, 81, 442, 443, 444, 1022, 1023, 1024, 1025, 4999, 5000, 5100, 5101, 8080, 32767, 32768, 60999, 61000, 65534, 65535];

function address(family: Family): fc.Arbitrary<string> {
  const random =
    family === 4
      ? fc.integer({ min: 0, max: 0xffffffff }).map((n) => formatAddress(4, BigInt(n)))
      : fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((n) => formatAddress(6, n));
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(family === 4 ? EDGE4 : EDGE6)) }, { weight: 1, arbitrary: random });
}

const port = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PORT_EDGES) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) });

/**
 * A packet as the language sees it: tcp/udp/sctp with ports or, as a later fragment, without;
 * icmp/icmpv6 with a type and code or (a later fragment) without; other protocols bare.
 */
export const randomPacket: fc.Arbitrary<Packet> = fc
  .record({
    family: fc.constantFrom<Family>(4, 6),
    protoPick: fc.constantFrom(6, 17, 132, 'icmp', 47, 50, 1, 58),
    fragment: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
    sport: port,
    dport: port,
    icmpType: fc.oneof(fc.constantFrom(0, 3, 8, 11, 128, 129, 133, 135, 136), fc.integer({ min: 0, max: 255 })),
    icmpCode: fc.oneof(fc.constantFrom(0, 1, 3), fc.integer({ min: 0, max: 255 })),
  })
  .chain((r) =>
    fc.record({ src: address(r.family), dst: address(r.family) }).map(({ src, dst }) => {
      const proto: number = typeof r.protoPick === 'string' ? (r.family === 4 ? 1 : 58) : r.protoPick;
      const p: { -readonly [K in keyof Packet]: Packet[K] } = { proto, src, dst };
      if ([6, 17, 132].includes(proto) && !r.fragment) {
        p.srcPort = r.sport;
        p.dstPort = r.dport;
      }
      if (proto === (r.family === 4 ? 1 : 58) && !r.fragment) {
        p.icmpType = r.icmpType;
        p.icmpCode = r.icmpCode;
      }
      return p as Packet;
    }),
  );

/** Whether the text is an address (guards generators against typos in the pools). */
export function isAddress(text: string): boolean {
  return parseAddress(text) !== undefined;
}

/** Packets a rule matches: the ends of its prefixes and port ranges, its protocols (the echo types for ICMP). */
export function packetsInRule(rule: RuleIr): Packet[] {
  const out: Packet[] = [];
  for (const family of [4, 6] as const) {
    const src = family === 4 ? rule.src.v4 : rule.src.v6;
    const dst = family === 4 ? rule.dst.v4 : rule.dst.v6;
    if (src.length === 0 || dst.length === 0) continue;
    const ends = (prefixes: readonly string[]) => [prefixes[0], prefixes.at(-1)].map((t) => prefixRange(prefixFromText(t as string))).flatMap(([lo, hi]) => [formatAddress(family, lo), formatAddress(family, hi)]);
    const icmp = family === 4 ? 1 : 58;
    const protos = (rule.protocols ?? [6, 17, icmp, 47]).filter((p) => p !== (family === 4 ? 58 : 1) || rule.protocols === null);
    const portEnds = (ports: RuleIr['srcPorts']) => (ports === null ? [40000, 53] : ports.flatMap(([lo, hi]) => [lo, hi]));
    for (const s of ends(src)) for (const d of ends(dst)) for (const proto of protos) {
      if ([6, 17, 132].includes(proto)) {
        for (const sp of portEnds(rule.srcPorts)) for (const dp of portEnds(rule.dstPorts)) out.push({ proto, src: s, dst: d, srcPort: sp, dstPort: dp });
      } else if (proto === icmp) {
        const type = family === 4 ? rule.icmp?.type4 : rule.icmp?.type6;
        for (const t of type === undefined || type === null ? (family === 4 ? [8, 0] : [128, 129]) : [type]) out.push({ proto, src: s, dst: d, icmpType: t, icmpCode: rule.icmp?.code ?? 0 });
      } else out.push({ proto, src: s, dst: d });
    }
  }
  return out;
}
