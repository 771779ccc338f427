import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { SEG_CFG_CLASSIFY_ND, SEG_CFG_STATELESS, SegReason } from '../../runtime/datapath/abi.ts';
import { parsePacket, type Packet } from '../../compiler/packet.ts';
import { bundle, bundleImage, parseBundle } from '../../compiler/bundle.ts';
import { emit } from '../../compiler/emit.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import { createKernelModel } from '../support/kernel-model.ts';
import { CORPUS } from '../support/corpus.ts';
import { activateSlot, readConfig } from '../../runtime/datapath/config.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { installPolicy } from '../../runtime/datapath/slots.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { buildArpFrame, buildEthernetFrame, buildFrame, type FrameOptions, type Ipv6ExtensionHeader } from '../../runtime/packet-bytes.ts';
import { classBenchAgrees, classBenchToIr, readClassBenchRules, readHs1Trace } from '../support/classbench.ts';
import { programIr } from '../support/ir-builder.ts';
import { randomPacket, randomProgram } from '../support/random-policy.ts';
import { deployIr, expectSameDecision, KERNEL_AVAILABLE, setFlags } from '../support/datapath-harness.ts';

const TRUNCATION_REASONS: readonly number[] = [
  SegReason.SEG_REASON_TRUNC_L2,
  SegReason.SEG_REASON_TRUNC_IP4,
  SegReason.SEG_REASON_TRUNC_IP6,
  SegReason.SEG_REASON_TRUNC_EXT,
  SegReason.SEG_REASON_TRUNC_L4,
];

/** Frame shapes that must not change the decision: a VLAN tag, IPv4 options, IPv6 extension headers, first fragments. */
function frameOptions(packet: Packet): fc.Arbitrary<FrameOptions> {
  const v6 = packet.src.includes(':');
  const carriesL4 = packet.srcPort !== undefined || packet.icmpType !== undefined;
  const ext: fc.Arbitrary<Ipv6ExtensionHeader> = fc.oneof(
    fc.constant<Ipv6ExtensionHeader>({ kind: 'hop-by-hop' }),
    fc.constant<Ipv6ExtensionHeader>({ kind: 'destination', length: 16 }),
    fc.constant<Ipv6ExtensionHeader>({ kind: 'routing' }),
    fc.constant<Ipv6ExtensionHeader>({ kind: 'auth' }),
  );
  return fc
    .record({
      vlan: fc.boolean(),
      ipv4Options: fc.constantFrom(0, 0, 4, 40),
      ext: fc.array(ext, { maxLength: 3 }),
      firstFragment: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      tcpFlags: fc.constantFrom<FrameOptions['tcpFlags']>('syn', 'ack', 'rst', 'fin'),
    })
    .map((r) => {
      const o: { -readonly [K in keyof FrameOptions]: FrameOptions[K] } = { tcpFlags: r.tcpFlags };
      if (r.vlan) o.vlan = { id: 42 };
      if (!v6 && r.ipv4Options > 0) o.ipv4Options = r.ipv4Options;
      if (v6 && r.ext.length > 0) o.ipv6ExtensionHeaders = r.ext;
      if (carriesL4 && r.firstFragment) o.fragment = { offset: 0, moreFragments: true };
      return o;
    });
}

describe.skipIf(!KERNEL_AVAILABLE)('the TC classifier under BPF_PROG_TEST_RUN', () => {
  let dp: Datapath;
  beforeAll(() => {
    dp = loadDatapath({ sessions: 4096, rulesPerSlot: 16384 });
  });
  afterAll(() => {
    if (dp) closeDatapath(dp);
  });

  it('drops every packet before a policy is installed', () => {
    const frame = buildFrame({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 22 });
    const d = runFrame(dp, 'ingress', frame);
    expect(d.verdict).toBe('deny');
    expect(d.reason).toBe(SegReason.SEG_REASON_NO_POLICY);
  });

  it('agrees with the interpreter and the model on random policies, packets and frame shapes', () => {
    setFlags(dp, SEG_CFG_STATELESS | SEG_CFG_CLASSIFY_ND);
    fc.assert(
      fc.property(randomProgram(), fc.array(randomPacket.chain((p) => fc.tuple(fc.constant(p), frameOptions(p))), { minLength: 60, maxLength: 60 }), (ir, cases) => {
        const installed = deployIr(dp, ir);
        for (const [packet, options] of cases) expectSameDecision(dp, installed, packet, options);
      }),
      { numRuns: 30 },
    );
  });

  it('drops truncated frames with a truncation reason, whatever the policy says', () => {
    setFlags(dp, SEG_CFG_STATELESS);
    deployIr(dp, programIr({ ingress: { default: 'allow', rules: [{ action: 'allow' }] }, egress: { default: 'allow', rules: [] } }));
    fc.assert(
      fc.property(randomPacket, fc.boolean(), fc.nat(), (packet, vlan, cut) => {
        const full = buildFrame(packet, vlan ? { vlan: { id: 7 } } : {});
        // BPF_PROG_TEST_RUN refuses an untagged IP frame shorter than its fixed IP header
        // (the stack never hands TC such a frame either); a tagged one may be cut anywhere.
        const min = vlan ? 14 : 14 + (packet.src.includes(':') ? 40 : 20);
        if (full.length <= min) return;
        const length = min + (cut % (full.length - min));
        const d = runFrame(dp, 'ingress', full.subarray(0, length));
        expect(d.verdict, `${JSON.stringify(packet)} cut to ${length} of ${full.length}`).toBe('deny');
        expect(TRUNCATION_REASONS).toContain(d.reason);
      }),
      { numRuns: 300 },
    );
  });

  it('passes ARP and LLDP frames and IPv6 neighbour discovery under a deny-all policy', () => {
    setFlags(dp, SEG_CFG_STATELESS);
    deployIr(dp, programIr({ ingress: { default: 'deny', rules: [{ action: 'deny' }] } }));
    const arp = runFrame(dp, 'ingress', buildArpFrame({ operation: 'request', senderIp: '10.0.0.1', targetIp: '10.0.0.2' }));
    expect([arp.verdict, arp.reason]).toEqual(['allow', SegReason.SEG_REASON_NON_IP]);
    const lldp = runFrame(dp, 'ingress', buildEthernetFrame(0x88cc, new Uint8Array(40)));
    expect([lldp.verdict, lldp.reason]).toEqual(['allow', SegReason.SEG_REASON_NON_IP]);
    for (const type of [133, 134, 135, 136, 137]) {
      const nd = runFrame(dp, 'ingress', buildFrame({ proto: 58, src: 'fe80::1', dst: 'ff02::1', icmpType: type, icmpCode: 0 }));
      expect([nd.verdict, nd.reason]).toEqual(['allow', SegReason.SEG_REASON_NEIGHBOR_DISCOVERY]);
    }
    const echo = runFrame(dp, 'ingress', buildFrame({ proto: 58, src: 'fe80::1', dst: 'ff02::1', icmpType: 128, icmpCode: 0 }));
    expect(echo.verdict).toBe('deny');
  });

  it('classifies neighbour discovery like any packet when the config says so', () => {
    setFlags(dp, SEG_CFG_STATELESS | SEG_CFG_CLASSIFY_ND);
    deployIr(dp, programIr({ ingress: { default: 'deny', rules: [{ action: 'deny' }] } }));
    const nd = runFrame(dp, 'ingress', buildFrame({ proto: 58, src: 'fe80::1', dst: 'ff02::1', icmpType: 135, icmpCode: 0 }));
    expect([nd.verdict, nd.rule]).toEqual(['deny', 0]);
  });

  it('drops a packet with more IPv6 extension headers than the program walks', () => {
    setFlags(dp, SEG_CFG_STATELESS);
    deployIr(dp, programIr({ ingress: { default: 'allow', rules: [] } }));
    const packet: Packet = { proto: 6, src: '2001:db8::1', dst: '2001:db8::2', srcPort: 1, dstPort: 2 };
    const headers = (n: number): Ipv6ExtensionHeader[] => Array.from({ length: n }, () => ({ kind: 'destination' }));
    expect(runFrame(dp, 'ingress', buildFrame(packet, { ipv6ExtensionHeaders: headers(8) })).verdict).toBe('allow');
    const d = runFrame(dp, 'ingress', buildFrame(packet, { ipv6ExtensionHeaders: headers(9) }));
    expect([d.verdict, d.reason]).toEqual(['deny', SegReason.SEG_REASON_EXT_LIMIT]);
  });

  it('drops frames with a second VLAN tag, and a bad IPv4 header length', () => {
    setFlags(dp, SEG_CFG_STATELESS);
    deployIr(dp, programIr({ ingress: { default: 'allow', rules: [] } }));
    const inner = buildFrame({ proto: 17, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 }, { vlan: { id: 5 } });
    // Insert a second tag after the first one: MACs, 0x8100 TCI, 0x8100 TCI, then the rest.
    const qinq = new Uint8Array(inner.length + 4);
    qinq.set(inner.subarray(0, 16), 0);
    qinq.set([0x81, 0x00, 0x00, 0x06], 16);
    qinq.set(inner.subarray(16), 20);
    const d = runFrame(dp, 'ingress', qinq);
    expect([d.verdict, d.reason]).toEqual(['deny', SegReason.SEG_REASON_VLAN_DEPTH]);
    const bad = buildFrame({ proto: 17, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 });
    bad[14] = 0x44; // version 4, IHL 4
    const b = runFrame(dp, 'ingress', bad);
    expect([b.verdict, b.reason]).toEqual(['deny', SegReason.SEG_REASON_BAD_IP4]);
  });

  it.each(['acl1_1K', 'fw1_1K', 'ipc1_1K'])('agrees with the interpreter, the model and the trace on ClassBench %s', (name) => {
    setFlags(dp, SEG_CFG_STATELESS);
    const corpus = `${CORPUS}/classbench-hs1`;
    const rules = readClassBenchRules(readFileSync(`${corpus}/rules/${name}`, 'utf8'));
    const { ir, ruleOf } = classBenchToIr(rules);
    const installed = deployIr(dp, ir);
    const trace = readHs1Trace(readFileSync(`${corpus}/traces/${name}_trace`, 'utf8')).slice(0, 2500);
    let checked = 0;
    for (const entry of trace) {
      expectSameDecision(dp, installed, entry.packet);
      // The trace's ground truth names the same first rule, where segc's meaning and
      // ClassBench's must agree.
      if (!classBenchAgrees(rules, entry.header)) continue;
      const got = runFrame(dp, 'ingress', buildFrame(entry.packet));
      expect(got.rule, `trace line for ${JSON.stringify(entry.packet)}`).toBe(ruleOf[entry.match]?.id ?? null);
      checked++;
    }
    expect(checked).toBeGreaterThan(trace.length / 2);
  });

  it('decides an untagged IP frame read in place as the full parse decides it with a VLAN tag', () => {
    // seg_parse_fast reads common untagged IPv4 and IPv6 frames straight from the packet and
    // leaves the rest to the full walk, which a tagged frame always takes: the same bytes behind
    // a tag must give the same verdict, reason and rule, also with lengths and header bits damaged.
    setFlags(dp, SEG_CFG_STATELESS);
    const damage = fc.record({
      pad: fc.integer({ min: 0, max: 24 }),
      length: fc.option(fc.integer({ min: 0, max: 80 })),
      version: fc.option(fc.constantFrom(0x45, 0x44, 0x46, 0x4f, 0x55, 0x35, 0x60, 0x50)),
      fragment: fc.option(fc.constantFrom(0x2000, 0x0001, 0x4000, 0x6000, 0x1fff)),
      nextHeader: fc.option(fc.constantFrom(0, 6, 17, 43, 44, 58, 60, 132)),
      tcpOffset: fc.option(fc.integer({ min: 0, max: 15 })),
      tcpFlags: fc.constantFrom<FrameOptions['tcpFlags']>('syn', 'ack', 'rst', 'fin'),
    });
    fc.assert(
      fc.property(randomProgram(), fc.array(fc.tuple(randomPacket, damage), { minLength: 40, maxLength: 40 }), (ir, cases) => {
        deployIr(dp, ir);
        for (const [packet, d] of cases) {
          const v6 = packet.src.includes(':');
          const built = buildFrame(packet, { tcpFlags: d.tcpFlags });
          const frame = new Uint8Array(built.length + d.pad);
          frame.set(built);
          // IPv4: total length at 16, fragment bits at 20, protocol left alone; IPv6: payload
          // length at 18, next header at 20. The version byte is at 14 in both.
          if (d.length !== null) frame.set([d.length >> 8, d.length & 0xff], v6 ? 18 : 16);
          if (d.version !== null) frame[14] = v6 ? (d.version & 0xf0) | (frame[14]! & 0x0f) : d.version;
          if (!v6 && d.fragment !== null) frame.set([d.fragment >> 8, d.fragment & 0xff], 20);
          if (v6 && d.nextHeader !== null) frame[20] = d.nextHeader;
          const tcpOffset = (v6 ? 54 : 34) + 12;
          if (d.tcpOffset !== null && packet.proto === 6 && frame.length > tcpOffset) frame[tcpOffset] = (d.tcpOffset << 4) | (frame[tcpOffset]! & 0x0f);
          const tagged = new Uint8Array(frame.length + 4);
          tagged.set(frame.subarray(0, 12));
          tagged.set([0x81, 0x00, 0x00, 0x2a], 12);
          tagged.set(frame.subarray(12), 16);
          const plain = runFrame(dp, 'ingress', frame), behind = runFrame(dp, 'ingress', tagged);
          expect([plain.verdict, plain.reason, plain.rule], JSON.stringify({ packet, d })).toEqual([behind.verdict, behind.reason, behind.rule]);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('parses every frame shape the classifier takes as the parse-only program reports it', () => {
    // The parse-only program leaves seg_parse's result in cb[1]: SEG_PARSE_OK (0xff) for an IP
    // packet ready for classification. It is the benchmark's baseline, so it must parse as much.
    fc.assert(
      fc.property(randomPacket.chain((p) => fc.tuple(fc.constant(p), frameOptions(p))), ([packet, options]) => {
        const d = runFrame(dp, 'parseOnly', buildFrame(packet, options));
        expect(d.reason, JSON.stringify({ packet, options })).toBe(0xff);
        expect(d.verdict).toBe('allow');
      }),
      { numRuns: 300 },
    );
    const arp = runFrame(dp, 'parseOnly', buildArpFrame({ operation: 'request', senderIp: '10.0.0.1', targetIp: '10.0.0.2' }));
    expect(arp.reason).toBe(SegReason.SEG_REASON_NON_IP);
  });

  it('enforces a policy loaded from a compiled bundle as the interpreter decides it', () => {
    // Neighbour discovery classified too, so that every packet is the policy's to decide.
    setFlags(dp, SEG_CFG_STATELESS | SEG_CFG_CLASSIFY_ND);
    const text = [
      'set office = { 10.20.0.0/16, 2001:db8:20::/48 }',
      'policy ingress default deny {',
      '  100 web: allow tcp from any to any port { 80, 443 }',
      '  200 ssh: allow tcp from office to any port 22',
      '  300 ping: allow icmpv6 from office to any icmp echo-request',
      '}',
      'policy egress default allow {',
      '  100 no-mail: deny tcp from any to any port 25',
      '}',
      '',
    ].join('\n');
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': text }));
    if (!c.ir) throw new Error(JSON.stringify(c.diagnostics));
    const out = bundle(c.ir, emit(c.ir, { origins: true }), c.sources, { bundleFile: 'p.json', sourceMapFile: 'p.json.map' });
    const image = bundleImage(parseBundle(out.text));
    const slot = 1 - readConfig(dp).activeSlot;
    installPolicy(dp, image, { slot, generation: 1000n });
    activateSlot(dp, slot);
    const installed = { ir: c.ir, image, model: createKernelModel(image), slot, generation: 1000n };
    fc.assert(
      fc.property(randomPacket, (packet) => expectSameDecision(dp, installed, packet)),
      { numRuns: 300 },
    );
    for (const text of ['tcp 10.20.1.1:5000 -> 10.0.0.1:22', 'tcp 10.21.1.1:5000 -> 10.0.0.1:22', 'icmpv6 2001:db8:20::1 -> 2001:db8::1 type echo-request']) {
      const p = parsePacket(text);
      if (!p.ok) throw new Error(p.error);
      expectSameDecision(dp, installed, p.packet);
    }
  });
});
