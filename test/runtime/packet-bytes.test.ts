// Frame bytes: known answers for the checksums, byte layouts of a few frames, and round trips
// of random packets and header options through buildFrame and parseFrame.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatAddress } from '../../compiler/cidr.ts';
import type { Packet } from '../../compiler/packet.ts';
import {
  buildArpFrame,
  buildEthernetFrame,
  buildFrame,
  crc32c,
  ETH_P,
  internetChecksum,
  IPV6_EXTENSION_HEADERS,
  parseFrame,
  TCP_FLAG_SETS,
  TCP_FLAGS,
  type FrameOptions,
  type Ipv6ExtensionHeader,
  type ParsedFrame,
} from '../../runtime/packet-bytes.ts';

const hex = (text: string) => Uint8Array.from(text.replace(/\s+/g, '').match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function expectIp(parsed: ParsedFrame): Extract<ParsedFrame, { kind: 'ip' }> {
  if (parsed.kind !== 'ip') throw new Error(`expected an IP frame, got ${JSON.stringify(parsed)}`);
  return parsed;
}

describe('checksums', () => {
  it('computes the RFC 1071 example sum', () => {
    // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
    expect(internetChecksum(hex('0001f203f4f5f6f7'))).toBe(0x220d);
  });

  it('pads an odd byte count with a zero byte', () => {
    expect(internetChecksum(hex('0001f203f4f5f6'))).toBe(internetChecksum(hex('0001f203f4f5f600')));
  });

  it('gives the well-known checksum of a sample IPv4 header', () => {
    // 192.168.0.1 -> 192.168.0.199, UDP, total length 115, DF: checksum b861.
    expect(internetChecksum(hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7'))).toBe(0xb861);
  });

  it('computes the CRC-32C check value and the RFC 3720 vectors', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });
});

describe('frame layout', () => {
  it('writes an IPv4 TCP SYN byte for byte', () => {
    const frame = buildFrame({ proto: 6, src: '192.168.0.1', srcPort: 40000, dst: '192.168.0.199', dstPort: 443 }, { tcpSeq: 1, tcpFlags: 'syn' });
    expect(toHex(frame)).toBe(
      '020000000002' + '020000000001' + '0800' +
        // IPv4: IHL 5, length 40, DF, TTL 64, TCP, checksum, addresses.
        '45000028' + '00004000' + '4006' + toHex(frame.subarray(24, 26)) + 'c0a80001' + 'c0a800c7' +
        // TCP: ports, seq 1, ack 0, data offset 5, SYN, window 65535, checksum, urgent 0.
        '9c4001bb' + '00000001' + '00000000' + '5002ffff' + toHex(frame.subarray(50, 52)) + '0000',
    );
    expect(internetChecksum(frame.subarray(14, 34))).toBe(0);
  });

  it('tags a frame with one 802.1Q header before the EtherType', () => {
    const frame = buildFrame({ proto: 17, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }, { vlan: { id: 100, priority: 5 } });
    expect(toHex(frame.subarray(12, 18))).toBe('8100' + 'a064' + '0800');
    const parsed = expectIp(parseFrame(frame));
    expect(parsed.details.vlan).toEqual({ id: 100, priority: 5 });
    expect(parsed.details.l4Offset).toBe(14 + 4 + 20);
  });

  it('grows the IPv4 header length with options', () => {
    const frame = buildFrame({ proto: 17, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }, { ipv4Options: 8 });
    expect(frame[14]).toBe(0x47);
    expect(toHex(frame.subarray(34, 42))).toBe('0101010101010100');
    const parsed = expectIp(parseFrame(frame));
    expect(parsed.details.ipv4HeaderLength).toBe(28);
    expect(parsed.details.ipv4ChecksumOk).toBe(true);
    expect(parsed.packet).toEqual({ proto: 17, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 });
  });

  it('marks a first IPv4 fragment with MF and offset 0, keeping its ports', () => {
    const frame = buildFrame({ proto: 6, src: '10.0.0.1', srcPort: 1000, dst: '10.0.0.2', dstPort: 22 }, { fragment: { offset: 0, moreFragments: true, id: 7 } });
    expect(toHex(frame.subarray(18, 22))).toBe('0007' + '2000');
    const parsed = expectIp(parseFrame(frame));
    expect(parsed.details.fragment).toEqual({ offset: 0, moreFragments: true, id: 7 });
    expect(parsed.packet.dstPort).toBe(22);
  });

  it('builds a later fragment, without an L4 header, for a packet without ports', () => {
    const frame = buildFrame({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' }, { payload: hex('deadbeef') });
    expect(toHex(frame.subarray(20, 22))).toBe('00b9');
    expect(frame.length).toBe(14 + 20 + 4);
    const parsed = expectIp(parseFrame(frame));
    expect(parsed.packet).toEqual({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' });
    expect(parsed.details.fragment).toEqual({ offset: 185, moreFragments: false, id: 0x1234 });
    expect(toHex(parsed.details.payload)).toBe('deadbeef');
  });

  it('chains IPv6 extension headers and ends with the upper-layer protocol', () => {
    const frame = buildFrame(
      { proto: 58, src: '2001:db8::1', dst: '2001:db8::2', icmpType: 128, icmpCode: 0 },
      { ipv6ExtensionHeaders: [{ kind: 'hop-by-hop' }, { kind: 'routing', length: 24 }, { kind: 'destination', length: 16 }] },
    );
    expect(frame[14 + 6]).toBe(0); // hop-by-hop first
    expect(toHex(frame.subarray(54, 62))).toBe('2b00' + '0104' + '00000000'); // next routing, PadN of 4
    expect(toHex(frame.subarray(62, 64))).toBe('3c02'); // next destination options, 24 bytes
    expect(toHex(frame.subarray(86, 88))).toBe('3a01'); // next ICMPv6, 16 bytes
    // 14 option bytes: one skippable experimental option rather than 12 bytes of padding.
    expect(toHex(frame.subarray(88, 102))).toBe('1e0c' + '00'.repeat(12));
    const parsed = expectIp(parseFrame(frame));
    expect(parsed.details.ipv6ExtensionHeaders).toEqual(['hop-by-hop', 'routing', 'destination']);
    expect(parsed.details.l4Offset).toBe(14 + 40 + 8 + 24 + 16);
    expect(parsed.details.l4ChecksumOk).toBe(true);
    expect(parsed.packet).toEqual({ proto: 58, src: '2001:db8::1', dst: '2001:db8::2', icmpType: 128, icmpCode: 0 });
  });

  it('never pads IPv6 options with more than 7 bytes in a row', () => {
    for (let length = 8; length <= 2048; length += 8) {
      const frame = buildFrame({ proto: 17, src: '::1', srcPort: 1, dst: '::2', dstPort: 2 }, { ipv6ExtensionHeaders: [{ kind: 'destination', length }] });
      const area = frame.subarray(14 + 40 + 2, 14 + 40 + length);
      let padding = 0;
      let options = 0;
      for (let at = 0; at < area.length; ) {
        const type = area[at] as number;
        const size = type === 0 ? 1 : 2 + (area[at + 1] as number);
        padding = type === 0 || type === 1 ? padding + size : 0;
        expect(padding).toBeLessThanOrEqual(7);
        expect(type === 0 || type === 1 || type >> 6 === 0).toBe(true); // unknown types are skippable
        options++;
        at += size;
        if (at === area.length) break;
        expect(at).toBeLessThan(area.length);
      }
      expect(options).toBeLessThanOrEqual(8); // Linux's default max_dst_opts_number
    }
  });

  it('adds an IPv6 fragment header for a later fragment', () => {
    const frame = buildFrame({ proto: 17, src: '2001:db8::1', dst: '2001:db8::2' }, { fragment: { offset: 3, moreFragments: true, id: 0xabcdef01 } });
    expect(frame[14 + 6]).toBe(44);
    expect(toHex(frame.subarray(54, 62))).toBe('1100' + '0019' + 'abcdef01');
    const parsed = expectIp(parseFrame(frame));
    expect(parsed.packet).toEqual({ proto: 17, src: '2001:db8::1', dst: '2001:db8::2' });
    expect(parsed.details.fragment).toEqual({ offset: 3, moreFragments: true, id: 0xabcdef01 });
  });

  it('writes the SCTP CRC-32C little-endian, as Linux reads it', () => {
    const frame = buildFrame({ proto: 132, src: '10.0.0.1', srcPort: 5000, dst: '10.0.0.2', dstPort: 38412 });
    const sctp = frame.slice(34);
    const stored = sctp.slice(8, 12);
    sctp.fill(0, 8, 12);
    const crc = crc32c(sctp);
    expect(toHex(stored)).toBe(toHex(Uint8Array.of(crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24)));
    expect(expectIp(parseFrame(frame)).details.l4ChecksumOk).toBe(true);
  });

  it('sets the named TCP flag sets and a longer data offset', () => {
    for (const [name, bits] of Object.entries(TCP_FLAG_SETS)) {
      const frame = buildFrame({ proto: 6, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }, { tcpFlags: name as keyof typeof TCP_FLAG_SETS, tcpDataOffset: 8 });
      const parsed = expectIp(parseFrame(frame));
      expect(parsed.details.tcpFlags).toBe(bits);
      expect(parsed.details.tcpDataOffset).toBe(8);
      expect(parsed.details.payload.length).toBe(0);
    }
    expect(TCP_FLAG_SETS['syn-ack']).toBe(TCP_FLAGS.SYN | TCP_FLAGS.ACK);
  });

  it('builds an ARP request as a broadcast non-IP frame', () => {
    const frame = buildArpFrame({ operation: 'request', senderIp: '10.0.0.1', targetIp: '10.0.0.2' });
    expect(toHex(frame)).toBe('ffffffffffff' + '020000000001' + '0806' + '0001080006040001' + '020000000001' + '0a000001' + '000000000000' + '0a000002');
    const parsed = parseFrame(frame);
    expect(parsed).toMatchObject({ kind: 'non-ip', etherType: ETH_P.ARP });
  });

  it('takes an ARP opcode as a number, and sends replies to the given MAC', () => {
    const reply = buildArpFrame({ operation: 2, senderIp: '10.0.0.2', targetIp: '10.0.0.1', targetMac: '02:00:00:00:00:01' }, { dstMac: '02:00:00:00:00:01' });
    expect(toHex(reply.subarray(0, 6))).toBe('020000000001');
    expect(toHex(reply.subarray(20, 22))).toBe('0002');
    expect(toHex(buildArpFrame({ operation: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }))).toBe(toHex(buildArpFrame({ operation: 'request', senderIp: '10.0.0.1', targetIp: '10.0.0.2' })));
    expect(() => buildArpFrame({ operation: 70000, senderIp: '10.0.0.1', targetIp: '10.0.0.2' })).toThrow(RangeError);
  });

  it('builds frames of other EtherTypes, tagged or not', () => {
    const parsed = parseFrame(buildEthernetFrame(ETH_P.LLDP, hex('0207'), { vlan: { id: 5 } }));
    expect(parsed).toEqual({ kind: 'non-ip', etherType: ETH_P.LLDP, vlan: { id: 5, priority: 0 }, body: hex('0207') });
  });

  it('reports where a cut frame runs out', () => {
    const frame = buildFrame({ proto: 6, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }, { vlan: { id: 1 } });
    expect(parseFrame(frame.subarray(0, 13))).toEqual({ kind: 'truncated', layer: 'ethernet' });
    expect(parseFrame(frame.subarray(0, 16))).toEqual({ kind: 'truncated', layer: 'vlan' });
    expect(parseFrame(frame.subarray(0, 30))).toEqual({ kind: 'truncated', layer: 'ipv4' });
    expect(parseFrame(buildFrame({ proto: 6, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }, { truncateTo: 40 }))).toEqual({ kind: 'truncated', layer: 'tcp' });
    const v6 = buildFrame({ proto: 17, src: '::1', srcPort: 1, dst: '::2', dstPort: 2 }, { ipv6ExtensionHeaders: [{ kind: 'destination', length: 16 }] });
    expect(parseFrame(v6.subarray(0, 14 + 40 + 12))).toEqual({ kind: 'truncated', layer: 'ipv6-extension' });
    expect(parseFrame(v6.subarray(0, 14 + 40 + 16 + 7))).toEqual({ kind: 'truncated', layer: 'udp' });
  });

  it('keeps the full length fields when truncateTo cuts the frame', () => {
    const frame = buildFrame({ proto: 17, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }, { payload: new Uint8Array(100), truncateTo: 60 });
    expect(frame.length).toBe(60);
    const parsed = expectIp(parseFrame(frame));
    expect(parsed.details.ipTotalLength).toBe(20 + 8 + 100);
    expect(parsed.details.payload.length).toBe(60 - 14 - 20 - 8);
    expect(parsed.details.l4ChecksumOk).toBeUndefined();
  });

  it('calls a header with a bad IHL or data offset malformed', () => {
    const frame = buildFrame({ proto: 6, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }).slice();
    frame[14] = 0x44;
    expect(parseFrame(frame)).toMatchObject({ kind: 'malformed', layer: 'ipv4' });
    frame[14] = 0x45;
    frame[17] = 19; // total length below the header's 20 bytes
    expect(parseFrame(frame)).toMatchObject({ kind: 'malformed', layer: 'ipv4', reason: expect.stringMatching(/total length 19/) });
    frame[17] = 40;
    frame[46] = 0x40;
    expect(parseFrame(frame)).toMatchObject({ kind: 'malformed', layer: 'tcp' });
  });

  it('refuses packets that no frame can carry', () => {
    expect(() => buildFrame({ proto: 0, src: '::1', dst: '::2' })).toThrow(/extension header/);
    expect(() => buildFrame({ proto: 1, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 })).toThrow(/no ports/);
    expect(() => buildFrame({ proto: 1, src: '::1', dst: '::2', icmpType: 128 })).toThrow(/no ICMP type/);
    expect(() => buildFrame({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' }, { fragment: { offset: 0, moreFragments: true } })).toThrow(/later fragment/);
    expect(() => buildFrame({ proto: 6, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }, { fragment: { offset: 2, moreFragments: false } })).toThrow(/no L4 header/);
    expect(() => buildFrame({ proto: 17, src: '10.0.0.1', dst: '::2' })).toThrow(/one family/);
    expect(() => buildFrame({ proto: 17, src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 2 }, { ipv4Options: 6 })).toThrow(/multiple of 4/);
  });
});

// Random packets as the language sees them, and random header options that fit each packet.
const ipv4Arb = fc.integer({ min: 0, max: 0xffffffff }).map((n) => formatAddress(4, BigInt(n)));
const ipv6Arb = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((n) => formatAddress(6, n));
const portArb = fc.integer({ min: 0, max: 65535 });

const packetArb: fc.Arbitrary<Packet> = fc
  .record({
    family: fc.constantFrom(4 as const, 6 as const),
    proto: fc.oneof(fc.constantFrom(1, 6, 17, 58, 132), fc.integer({ min: 0, max: 255 })),
    carriesL4: fc.boolean(),
    srcPort: portArb,
    dstPort: portArb,
    icmpType: fc.integer({ min: 0, max: 255 }),
    icmpCode: fc.integer({ min: 0, max: 255 }),
  })
  .filter((r) => !(r.family === 6 && IPV6_EXTENSION_HEADERS.includes(r.proto)))
  .chain((r) =>
    fc.tuple(r.family === 4 ? ipv4Arb : ipv6Arb, r.family === 4 ? ipv4Arb : ipv6Arb).map(([src, dst]) => {
      const packet: { -readonly [K in keyof Packet]: Packet[K] } = { proto: r.proto, src, dst };
      const isIcmp = (r.family === 4 && r.proto === 1) || (r.family === 6 && r.proto === 58);
      if (r.carriesL4 && [6, 17, 132].includes(r.proto)) {
        packet.srcPort = r.srcPort;
        packet.dstPort = r.dstPort;
      }
      if (r.carriesL4 && isIcmp) {
        packet.icmpType = r.icmpType;
        packet.icmpCode = r.icmpCode;
      }
      return packet as Packet;
    }),
  );

const extensionArb: fc.Arbitrary<Ipv6ExtensionHeader> = fc.oneof(
  fc.record({ kind: fc.constantFrom('hop-by-hop' as const, 'destination' as const), length: fc.integer({ min: 1, max: 6 }).map((n) => n * 8) }),
  fc.record({ kind: fc.constant('routing' as const), routingType: fc.integer({ min: 0, max: 255 }), length: fc.integer({ min: 1, max: 4 }).map((n) => n * 8) }),
  fc.record({ kind: fc.constant('auth' as const), length: fc.integer({ min: 3, max: 8 }).map((n) => n * 4) }),
);

function optionsArb(packet: Packet): fc.Arbitrary<FrameOptions> {
  const laterFragment = isLaterFragment(packet);
  return fc.record(
    {
      vlan: fc.record({ id: fc.integer({ min: 0, max: 4095 }), priority: fc.integer({ min: 0, max: 7 }) }),
      ttl: fc.integer({ min: 0, max: 255 }),
      ipv4Options: fc.integer({ min: 0, max: 10 }).map((n) => n * 4),
      fragment: laterFragment
        ? fc.record({ offset: fc.integer({ min: 1, max: 8191 }), moreFragments: fc.boolean(), id: fc.integer({ min: 0, max: 0xffff }) })
        : fc.record({ offset: fc.constant(0), moreFragments: fc.constant(true), id: fc.integer({ min: 0, max: 0xffff }) }),
      ipv6ExtensionHeaders: fc.array(extensionArb, { maxLength: 4 }),
      tcpFlags: fc.integer({ min: 0, max: 255 }),
      tcpDataOffset: fc.integer({ min: 5, max: 15 }),
      payload: fc.uint8Array({ maxLength: 64 }),
    },
    { requiredKeys: [] },
  ).map((o) => (packet.src.includes(':') ? { ...o, ipv4Options: undefined } : { ...o, ipv6ExtensionHeaders: undefined }));
}

function isLaterFragment(p: Packet): boolean {
  const v6 = p.src.includes(':');
  const isIcmp = (!v6 && p.proto === 1) || (v6 && p.proto === 58);
  if (isIcmp) return p.icmpType === undefined;
  return [6, 17, 132].includes(p.proto) && p.srcPort === undefined;
}

const packetWithOptionsArb = packetArb.chain((packet) => optionsArb(packet).map((options) => ({ packet, options })));

describe('round trips', () => {
  it('parses every built frame back to its packet', () => {
    fc.assert(
      fc.property(packetWithOptionsArb, ({ packet, options }) => {
        const parsed = expectIp(parseFrame(buildFrame(packet, options)));
        expect(parsed.packet).toEqual(packet);
      }),
      { numRuns: 500 },
    );
  });

  it('parses every built frame back to its header options', () => {
    fc.assert(
      fc.property(packetWithOptionsArb, ({ packet, options }) => {
        const { details } = expectIp(parseFrame(buildFrame(packet, options)));
        const v6 = packet.src.includes(':');
        expect(details.family).toBe(v6 ? 6 : 4);
        expect(details.vlan).toEqual(options.vlan);
        expect(details.ttl).toBe(options.ttl ?? 64);
        if (!v6) expect(details.ipv4HeaderLength).toBe(20 + ((options.ipv4Options as number | undefined) ?? 0));
        const fragment = options.fragment ?? (isLaterFragment(packet) ? { offset: 185, moreFragments: false, id: 0x1234 } : undefined);
        expect(details.fragment).toEqual(fragment === undefined ? undefined : { id: 0x1234, ...fragment });
        const kinds = (options.ipv6ExtensionHeaders ?? []).map((h) => h.kind);
        expect(details.ipv6ExtensionHeaders).toEqual(v6 && fragment ? [...kinds, 'fragment'] : kinds);
        if (packet.proto === 6 && !isLaterFragment(packet)) {
          expect(details.tcpFlags).toBe(options.tcpFlags ?? TCP_FLAGS.SYN);
          expect(details.tcpDataOffset).toBe(options.tcpDataOffset ?? 5);
        }
        expect(details.payload).toEqual(options.payload ?? new Uint8Array(0));
      }),
      { numRuns: 500 },
    );
  });

  it('writes checksums that verify on every whole packet', () => {
    fc.assert(
      fc.property(packetWithOptionsArb, ({ packet, options }) => {
        const { details } = expectIp(parseFrame(buildFrame(packet, { ...options, fragment: undefined })));
        if (details.family === 4) expect(details.ipv4ChecksumOk).toBe(true);
        if (!isLaterFragment(packet) && details.l4ChecksumOk !== undefined) expect(details.l4ChecksumOk).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('notices a flipped bit in a checksummed header', () => {
    fc.assert(
      fc.property(
        packetArb.filter((p) => !isLaterFragment(p) && [1, 6, 17, 58, 132].includes(p.proto)),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (packet, where, bit) => {
          const frame = buildFrame(packet).slice();
          const l4Offset = expectIp(parseFrame(frame)).details.l4Offset;
          // Flip a bit of the L4 header other than the ports and ICMP type and code, which
          // the parser reads back and which the checksum also covers.
          const at = l4Offset + 4 + (where % (frame.length - l4Offset - 4));
          frame[at] = (frame[at] as number) ^ (1 << bit);
          const parsed = parseFrame(frame);
          if (parsed.kind === 'ip' && parsed.details.l4ChecksumOk !== undefined) expect(parsed.details.l4ChecksumOk).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('parses arbitrary bytes without throwing', () => {
    const etherTypes = fc.constantFrom(ETH_P.IPV4, ETH_P.IPV6, ETH_P.VLAN, ETH_P.ARP);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), etherTypes, etherTypes, fc.boolean(), (bytes, outer, inner, steer) => {
        // Steering the EtherTypes (and the IP version nibble) sends the bytes down the IP paths.
        const frame = Uint8Array.from(bytes);
        if (steer && frame.length >= 19) {
          frame[12] = outer >> 8;
          frame[13] = outer & 0xff;
          frame[16] = inner >> 8;
          frame[17] = inner & 0xff;
          const ipAt = outer === ETH_P.VLAN ? 18 : 14;
          const version = (outer === ETH_P.VLAN ? inner : outer) === ETH_P.IPV6 ? 6 : 4;
          if (frame.length > ipAt) frame[ipAt] = (version << 4) | ((frame[ipAt] as number) & 0x0f);
        }
        const parsed = parseFrame(frame);
        expect(['ip', 'non-ip', 'truncated', 'malformed']).toContain(parsed.kind);
      }),
      { numRuns: 2000 },
    );
  });

  it('parses every prefix of a frame without throwing, as truncated or as a shorter IP frame', () => {
    fc.assert(
      fc.property(packetWithOptionsArb, fc.nat(), ({ packet, options }, cut) => {
        const whole = buildFrame(packet, options);
        const length = cut % (whole.length + 1);
        const parsed = parseFrame(buildFrame(packet, { ...options, truncateTo: length }));
        if (parsed.kind === 'ip') {
          expect(parsed.packet).toEqual(packet);
          expect(parsed.details.l4Offset).toBeLessThanOrEqual(length);
        } else {
          expect(parsed.kind).toBe('truncated');
        }
      }),
      { numRuns: 500 },
    );
  });
});
