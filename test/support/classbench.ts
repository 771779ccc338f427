// Test support: ClassBench rule sets and header traces (see /work/shared/corpus/SOURCES.md),
// read into plain data, turned into `.seg` text and into IR, and traces into `Packet`s.
// Shared by the analysis benchmark and the data-path differential tests: keep the API stable.
//
// How ClassBench maps onto segc (ClassBench has one flat 5-tuple, segc knows packet kinds):
// - priority = line order: rule i (0-based) gets priority i + 1, its 1-based line number, so an
//   hs1 trace's match index is the deciding rule's priority;
// - actions are assigned deterministically by `options.action` (default: even index allow,
//   odd index deny), every rule unnamed (`ingress/17`), the default from `options.defaultAction`;
// - protocol `0x00/0x00` is `any`, unless the rule restricts ports: then it is
//   `{ tcp, udp, sctp }`, since only those carry ports in segc (ClassBench lets any protocol
//   "have" ports); other masks list every protocol number the value/mask pair admits;
// - a port range `0 : 65535` is no port constraint (so the rule also matches later fragments);
// - a rule that restricts ports but whose protocols carry none (ClassBench's `icmp` with
//   `123 : 123`) matches no segc packet: it becomes a comment, keeps its priority number, and
//   is listed in `skipped`; the flags field is ignored (segc has no TCP flags).
// Trace headers become packets the same way: ports only for tcp/udp/sctp, and an icmp header
// becomes an icmp packet without type (like a fragment), which any classbench icmp rule
// matches. `exact` marks trace lines whose segc first match must equal the trace's answer.
import type { DirectionIr, ProgramIr, RuleIr, Verdict, Direction, PortSetIr } from '../../compiler/ir.ts';
import { PORT_PROTOCOLS } from '../../compiler/ir.ts';
import { formatIpv4 } from '../../compiler/cidr.ts';
import { protocolName, type Packet } from '../../compiler/packet.ts';
import type { Span } from '../../compiler/source.ts';

export interface ClassBenchPrefix {
  /** The network as an unsigned 32-bit integer (host bits cleared). */
  readonly value: number;
  readonly length: number;
}

export interface ClassBenchRule {
  /** 0-based index in the file (line order: 0 is the highest priority). */
  readonly index: number;
  readonly src: ClassBenchPrefix;
  readonly dst: ClassBenchPrefix;
  /** Inclusive port ranges. */
  readonly srcPorts: readonly [number, number];
  readonly dstPorts: readonly [number, number];
  /** Protocol value and mask: a protocol p matches when (p & mask) === (value & mask). */
  readonly proto: { readonly value: number; readonly mask: number };
  /** TCP flags value/mask of the second format, or null in the first; segc ignores them. */
  readonly flags: { readonly value: number; readonly mask: number } | null;
}

/** One trace header in ClassBench's own terms (addresses as unsigned 32-bit integers). */
export interface ClassBenchHeader {
  readonly src: number;
  readonly dst: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly proto: number;
}

export interface Hs1TraceEntry {
  readonly header: ClassBenchHeader;
  readonly packet: Packet;
  /** 0-based index of the first matching rule (the file gives it 1-based). */
  readonly match: number;
}

export interface PartitionSortTraceEntry {
  readonly header: ClassBenchHeader;
  readonly packet: Packet;
  /** The trace's FLAGSKEY field, kept as read. */
  readonly flagsKey: number;
  /** 0-based index of the rule the header was generated from: the first match is at most this. */
  readonly matchAtMost: number;
}

export interface ClassBenchOptions {
  /** Direction of the policy block (default ingress). */
  readonly direction?: Direction;
  /** The block's default (default deny). */
  readonly defaultAction?: Verdict;
  /** The action of the rule at a 0-based index (default: even allow, odd deny). */
  readonly action?: (index: number) => Verdict;
  /** File name for spans and the comment header (default `classbench.seg`). */
  readonly file?: string;
}

export const CLASSBENCH_FULL_PORTS: readonly [number, number] = [0, 65535];

/** The default action assignment: even index allow, odd index deny. */
export function classBenchAction(index: number): Verdict {
  return index % 2 === 0 ? 'allow' : 'deny';
}

// ---- Reading ---------------------------------------------------------------------------------

const RULE_LINE =
  /^@(\d+\.\d+\.\d+\.\d+)\/(\d+)\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)\s+(\d+)\s*:\s*(\d+)\s+(\d+)\s*:\s*(\d+)\s+0x([0-9a-fA-F]+)\/0x([0-9a-fA-F]+)(?:\s+0x([0-9a-fA-F]+)\/0x([0-9a-fA-F]+))?\s*$/;

/** Reads a ClassBench rule file in either format (with or without the flags field). */
export function readClassBenchRules(text: string): ClassBenchRule[] {
  const rules: ClassBenchRule[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') continue;
    const m = RULE_LINE.exec(line);
    if (!m) throw new Error(`classbench line ${i + 1}: not a rule: ${line}`);
    const num = (k: number) => Number(m[k]);
    const hex = (k: number) => parseInt(m[k] ?? '0', 16);
    rules.push({
      index: rules.length,
      src: readPrefix(m[1] ?? '', num(2), i + 1),
      dst: readPrefix(m[3] ?? '', num(4), i + 1),
      srcPorts: readPortRange(num(5), num(6), i + 1),
      dstPorts: readPortRange(num(7), num(8), i + 1),
      proto: { value: hex(9), mask: hex(10) },
      flags: m[11] === undefined ? null : { value: hex(11), mask: hex(12) },
    });
  }
  return rules;
}

function readPrefix(addr: string, length: number, line: number): ClassBenchPrefix {
  const parts = addr.split('.').map(Number);
  if (length > 32 || parts.some((p) => p > 255)) throw new Error(`classbench line ${line}: bad prefix ${addr}/${length}`);
  const value = (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
  // ClassBench compares only the prefix bits; clear the rest so the CIDR is canonical.
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return { value: (value & mask) >>> 0, length };
}

function readPortRange(lo: number, hi: number, line: number): readonly [number, number] {
  if (lo > hi || hi > 65535) throw new Error(`classbench line ${line}: bad port range ${lo} : ${hi}`);
  return [lo, hi];
}

function readHeader(fields: readonly string[]): ClassBenchHeader {
  const [src, dst, srcPort, dstPort, proto] = fields.map(Number);
  return { src: src ?? 0, dst: dst ?? 0, srcPort: srcPort ?? 0, dstPort: dstPort ?? 0, proto: proto ?? 0 };
}

/** Reads an hs1 trace: `SRC DST SPORT DPORT PROTO MATCH`, MATCH the 1-based first match. */
export function readHs1Trace(text: string): Hs1TraceEntry[] {
  const out: Hs1TraceEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6) continue;
    const header = readHeader(fields);
    out.push({ header, packet: classBenchPacket(header), match: Number(fields[5]) - 1 });
  }
  return out;
}

/** Reads a partitionsort trace: `SRC DST SPORT DPORT PROTO FLAGSKEY GENFILTER` (0-based upper bound). */
export function readPartitionSortTrace(text: string): PartitionSortTraceEntry[] {
  const out: PartitionSortTraceEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 7) continue;
    const header = readHeader(fields);
    out.push({ header, packet: classBenchPacket(header), flagsKey: Number(fields[5]), matchAtMost: Number(fields[6]) });
  }
  return out;
}

/** The segc packet for a trace header: ports only for tcp/udp/sctp; icmp without a type. */
export function classBenchPacket(h: ClassBenchHeader): Packet {
  const base = { proto: h.proto, src: formatIpv4(BigInt(h.src)), dst: formatIpv4(BigInt(h.dst)) };
  return PORT_PROTOCOLS.includes(h.proto) ? { ...base, srcPort: h.srcPort, dstPort: h.dstPort } : base;
}

// ---- ClassBench's own meaning ----------------------------------------------------------------

/** Whether a rule matches a header in ClassBench's flat 5-tuple meaning (flags ignored). */
export function classBenchMatches(rule: ClassBenchRule, h: ClassBenchHeader): boolean {
  const inPrefix = (p: ClassBenchPrefix, v: number) => p.length === 0 || v >>> (32 - p.length) === p.value >>> (32 - p.length);
  return (
    inPrefix(rule.src, h.src) &&
    inPrefix(rule.dst, h.dst) &&
    h.srcPort >= rule.srcPorts[0] &&
    h.srcPort <= rule.srcPorts[1] &&
    h.dstPort >= rule.dstPorts[0] &&
    h.dstPort <= rule.dstPorts[1] &&
    (h.proto & rule.proto.mask) === (rule.proto.value & rule.proto.mask)
  );
}

/**
 * Whether segc's first match for this header must equal ClassBench's: true unless a rule that
 * ClassBench would match first restricts ports on a protocol that carries none in segc (the
 * header is then not tcp/udp/sctp, or the rule is a skipped one).
 */
export function classBenchAgrees(rules: readonly ClassBenchRule[], h: ClassBenchHeader): boolean {
  for (const rule of rules) {
    if (!classBenchMatches(rule, h)) continue;
    return !restrictsPorts(rule) || PORT_PROTOCOLS.includes(h.proto);
  }
  return true;
}

// ---- To segc -----------------------------------------------------------------------------------

function restrictsPorts(rule: ClassBenchRule): boolean {
  const full = (r: readonly [number, number]) => r[0] === 0 && r[1] === 65535;
  return !full(rule.srcPorts) || !full(rule.dstPorts);
}

/** The protocol numbers a value/mask pair admits, or null for every protocol. */
function classBenchProtocols(rule: ClassBenchRule): number[] | null {
  const { value, mask } = rule.proto;
  let protocols: number[] | null;
  if ((mask & 0xff) === 0) protocols = null;
  else {
    protocols = [];
    for (let p = 0; p < 256; p++) if ((p & mask) === (value & mask)) protocols.push(p);
  }
  if (!restrictsPorts(rule)) return protocols;
  return (protocols ?? PORT_PROTOCOLS).filter((p) => PORT_PROTOCOLS.includes(p));
}

/** How one rule reads in segc: its protocols and ports, or null when it can match no packet. */
function classBenchToSegRule(rule: ClassBenchRule): { protocols: number[] | null; srcPorts: PortSetIr | null; dstPorts: PortSetIr | null } | null {
  const protocols = classBenchProtocols(rule);
  if (protocols !== null && protocols.length === 0) return null;
  const ports = (r: readonly [number, number]): PortSetIr | null => (r[0] === 0 && r[1] === 65535 ? null : [[r[0], r[1]]]);
  return { protocols, srcPorts: ports(rule.srcPorts), dstPorts: ports(rule.dstPorts) };
}

function prefixText(p: ClassBenchPrefix): string {
  return `${formatIpv4(BigInt(p.value))}/${p.length}`;
}

function protoText(protocols: readonly number[] | null): string {
  if (protocols === null) return 'any';
  const names = protocols.map(protocolName);
  return names.length === 1 ? (names[0] ?? '') : `{ ${names.join(', ')} }`;
}

function portText(ports: PortSetIr | null): string {
  if (ports === null) return '';
  const [lo, hi] = ports[0] ?? [0, 0];
  return lo === hi ? ` port ${lo}` : ` port ${lo}-${hi}`;
}

interface SegLayout {
  readonly text: string;
  /** Per rule index: the span of its line, or null when skipped. */
  readonly spans: readonly (Span | null)[];
  readonly skipped: readonly number[];
}

function layoutClassBench(rules: readonly ClassBenchRule[], options: ClassBenchOptions): SegLayout {
  const file = options.file ?? 'classbench.seg';
  const direction = options.direction ?? 'ingress';
  const actionOf = options.action ?? classBenchAction;
  let text = `# ${file}: ${rules.length} ClassBench rules, priority = line order\n`;
  text += `policy ${direction} default ${options.defaultAction ?? 'deny'} {\n`;
  const spans: (Span | null)[] = [];
  const skipped: number[] = [];
  for (const rule of rules) {
    const seg = classBenchToSegRule(rule);
    const priority = rule.index + 1;
    if (seg === null) {
      text += `  # ${priority}: skipped, restricts ports of protocols without ports\n`;
      spans.push(null);
      skipped.push(rule.index);
      continue;
    }
    const line =
      `${priority} ${actionOf(rule.index)} ${protoText(seg.protocols)} from ${prefixText(rule.src)}${portText(seg.srcPorts)}` +
      ` to ${prefixText(rule.dst)}${portText(seg.dstPorts)}`;
    const start = text.length + 2;
    spans.push({ file, start, end: start + line.length });
    text += `  ${line}\n`;
  }
  text += '}\n';
  return { text, spans, skipped };
}

/** The `.seg` text of a ClassBench rule set (one policy block). */
export function classBenchToSeg(rules: readonly ClassBenchRule[], options: ClassBenchOptions = {}): string {
  return layoutClassBench(rules, options).text;
}

export interface ClassBenchIr {
  readonly ir: ProgramIr;
  /** The `.seg` text the spans point into (what `classBenchToSeg` returns). */
  readonly text: string;
  /** 0-based indices of the rules that can match no segc packet (left out of the IR). */
  readonly skipped: readonly number[];
  /** Per 0-based ClassBench index: the IR rule, or null when skipped. */
  readonly ruleOf: readonly (RuleIr | null)[];
}

/**
 * The IR `lower` gives for `classBenchToSeg`'s text, built directly (no front end): rules of
 * the chosen direction, the other direction empty with default deny.
 */
export function classBenchToIr(rules: readonly ClassBenchRule[], options: ClassBenchOptions = {}): ClassBenchIr {
  const layout = layoutClassBench(rules, options);
  const direction = options.direction ?? 'ingress';
  const actionOf = options.action ?? classBenchAction;
  const irRules: RuleIr[] = [];
  const ruleOf: (RuleIr | null)[] = [];
  for (const rule of rules) {
    const seg = classBenchToSegRule(rule);
    const span = layout.spans[rule.index];
    if (seg === null || !span) {
      ruleOf.push(null);
      continue;
    }
    const priority = rule.index + 1;
    const ir: RuleIr = {
      id: irRules.length,
      direction,
      priority,
      name: `${direction}/${priority}`,
      named: false,
      action: actionOf(rule.index),
      log: false,
      audit: false,
      protocols: seg.protocols,
      src: { v4: [prefixText(rule.src)], v6: [] },
      dst: { v4: [prefixText(rule.dst)], v6: [] },
      srcPorts: seg.srcPorts,
      dstPorts: seg.dstPorts,
      icmp: null,
      description: null,
      span,
    };
    irRules.push(ir);
    ruleOf.push(ir);
  }
  const file = options.file ?? 'classbench.seg';
  const main: DirectionIr = { direction, declared: true, defaultAction: options.defaultAction ?? 'deny', defaultSpan: null, rules: irRules };
  const other: DirectionIr = { direction: direction === 'ingress' ? 'egress' : 'ingress', declared: true, defaultAction: 'deny', defaultSpan: null, rules: [] };
  const ir: ProgramIr = {
    rules: irRules,
    ingress: direction === 'ingress' ? main : other,
    egress: direction === 'egress' ? main : other,
    declarations: [],
    files: [file],
  };
  return { ir, text: layout.text, skipped: layout.skipped, ruleOf };
}
