import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatPacket, packetFamily, parsePacket, protocolName, type Packet } from '../../compiler/packet.ts';

function parsed(text: string): Packet {
  const r = parsePacket(text);
  if (!r.ok) throw new Error(r.error);
  return r.packet;
}

describe('parsePacket', () => {
  it('reads the spec examples', () => {
    expect(parsed('tcp 10.0.0.1:40000 -> 10.0.1.5:443')).toEqual({ proto: 6, src: '10.0.0.1', srcPort: 40000, dst: '10.0.1.5', dstPort: 443 });
    expect(parsed('udp [2001:db8::1]:5353 -> [2001:db8::2]:53')).toEqual({ proto: 17, src: '2001:db8::1', srcPort: 5353, dst: '2001:db8::2', dstPort: 53 });
    expect(parsed('icmp 10.0.0.1 -> 10.0.0.2 type echo-request')).toEqual({ proto: 1, src: '10.0.0.1', dst: '10.0.0.2', icmpType: 8, icmpCode: 0 });
  });

  it('reads ICMPv6 type names in their own family, with a code', () => {
    expect(parsed('icmpv6 fe80::1 -> ff02::1 type echo-request code 0')).toEqual({ proto: 58, src: 'fe80::1', dst: 'ff02::1', icmpType: 128, icmpCode: 0 });
    expect(parsed('icmp 10.0.0.1 -> 10.0.0.2 type 3 code 4')).toMatchObject({ icmpType: 3, icmpCode: 4 });
  });

  it('prints addresses canonically, whatever the input spelling', () => {
    expect(parsed('tcp [2001:DB8:0::1]:1 -> [2001:db8::0:2]:2')).toMatchObject({ src: '2001:db8::1', dst: '2001:db8::2' });
    expect(parsed('udp 2001:db8::1 -> 2001:db8::2')).toEqual({ proto: 17, src: '2001:db8::1', dst: '2001:db8::2' });
  });

  it('reads a port protocol without ports as a later fragment, and protocol numbers', () => {
    expect(parsed('tcp 10.0.0.1 -> 10.0.0.2')).toEqual({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' });
    expect(parsed('47 10.0.0.1 -> 10.0.0.2')).toEqual({ proto: 47, src: '10.0.0.1', dst: '10.0.0.2' });
    expect(parsed('6 10.0.0.1:1 -> 10.0.0.2:2')).toMatchObject({ proto: 6, srcPort: 1, dstPort: 2 });
  });

  it.each([
    ['garbage', /is not a packet/],
    ['tcp 10.0.0.1:1 10.0.0.2:2', /is not a packet/],
    ['gre 10.0.0.1 -> 10.0.0.2', /unknown protocol 'gre'/],
    ['256 10.0.0.1 -> 10.0.0.2', /unknown protocol '256'/],
    ['tcp 10.0.0.1:1 -> [2001:db8::1]:2', /one family/],
    ['icmp 10.0.0.1:1 -> 10.0.0.2', /icmp packets have no ports/],
    ['tcp 10.0.0.1:1 -> 10.0.0.2', /both ports, or neither/],
    ['tcp 10.0.0.1:70000 -> 10.0.0.2:1', /port 70000 is out of range/],
    ['tcp 10.0.0.300:1 -> 10.0.0.2:1', /'10.0.0.300' is not an IPv4 or IPv6 address/],
    ['tcp 10.0.0.1 -> 10.0.0.2 type echo-request', /'type' needs protocol icmp for IPv4/],
    ['icmp 2001:db8::1 -> 2001:db8::2 type 1', /'type' needs protocol icmpv6 for IPv6/],
    ['icmp 10.0.0.1 -> 10.0.0.2 type packet-too-big', /unknown ICMP type 'packet-too-big'/],
    ['icmp 10.0.0.1 -> 10.0.0.2 type 300', /unknown ICMP type '300'/],
    ['icmp 10.0.0.1 -> 10.0.0.2 type 3 code 256', /ICMP code 256 is out of range/],
  ])('refuses %j with a message that says why', (text, error) => {
    const r = parsePacket(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });
});

describe('formatPacket', () => {
  it('writes the spec syntax, IPv6 in brackets when a port follows', () => {
    expect(formatPacket({ proto: 6, src: '10.0.0.1', srcPort: 40000, dst: '10.0.1.5', dstPort: 443 })).toBe('tcp 10.0.0.1:40000 -> 10.0.1.5:443');
    expect(formatPacket({ proto: 17, src: '2001:db8::1', srcPort: 5353, dst: '2001:db8::2', dstPort: 53 })).toBe('udp [2001:db8::1]:5353 -> [2001:db8::2]:53');
    expect(formatPacket({ proto: 1, src: '10.0.0.1', dst: '10.0.0.2', icmpType: 8, icmpCode: 0 })).toBe('icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0');
    expect(formatPacket({ proto: 47, src: '::1', dst: '::2' })).toBe('47 ::1 -> ::2');
  });

  it('is read back by parsePacket as the same packet', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
    const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => parsed(`udp ${g.map((x) => x.toString(16)).join(':')} -> ::`).src);
    const packet: fc.Arbitrary<Packet> = fc.oneof(fc.tuple(v4, v4), fc.tuple(v6, v6)).chain(([src, dst]) =>
      fc.oneof(
        fc.record({ proto: fc.constantFrom(6, 17, 132), src: fc.constant(src), dst: fc.constant(dst), srcPort: fc.nat(65535), dstPort: fc.nat(65535) }),
        fc.record({ proto: fc.constantFrom(6, 17, 47, 0, 255), src: fc.constant(src), dst: fc.constant(dst) }),
        fc.record({ proto: fc.constant(src.includes(':') ? 58 : 1), src: fc.constant(src), dst: fc.constant(dst), icmpType: fc.nat(255), icmpCode: fc.nat(255) }),
      ),
    );
    fc.assert(
      fc.property(packet, (p) => {
        expect(parsed(formatPacket(p))).toEqual(p);
      }),
    );
  });
});

describe('packet helpers', () => {
  it('names the known protocols and prints others as numbers', () => {
    expect([1, 6, 17, 58, 132, 47].map(protocolName)).toEqual(['icmp', 'tcp', 'udp', 'icmpv6', 'sctp', '47']);
  });

  it('tells the family from the source address', () => {
    expect(packetFamily({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' })).toBe(4);
    expect(packetFamily({ proto: 6, src: '::1', dst: '::2' })).toBe(6);
  });
});
