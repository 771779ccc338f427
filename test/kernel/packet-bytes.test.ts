// The kernel as an independent judge of packet-bytes.ts: frames built by buildFrame are written
// into a tap interface of a throwaway namespace, where the stack checks every checksum and
// header (a tap's frames are not marked pre-verified), and its SNMP counters show whether it
// accepted each one. Corrupted copies show that the counters do catch bad frames. Needs root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Packet } from '../../compiler/packet.ts';
import { buildArpFrame, buildFrame, parseFrame, type FrameOptions } from '../../runtime/packet-bytes.ts';
import { isRoot, NetnsSandbox, waitFor, type Tap } from '../support/netns.ts';

const HOST4 = '10.214.0.1';
const PEER4 = '10.214.0.2';
const HOST6 = 'fd00:5e6d::1';
const PEER6 = 'fd00:5e6d::2';
const VLAN_HOST4 = '10.214.100.1';
const VLAN_PEER4 = '10.214.100.2';
/** Nothing listens on this port in the namespace. */
const CLOSED_PORT = 9;

interface Case {
  readonly name: string;
  readonly packet: Packet;
  readonly options?: FrameOptions;
  /** The counter that moves only once the kernel has accepted the frame's checksums. */
  readonly accepted: string;
  /** The counter of checksum failures at that layer. */
  readonly rejected: string;
}

const CASES: readonly Case[] = [
  { name: 'an IPv4 UDP datagram', packet: { proto: 17, src: PEER4, srcPort: 40000, dst: HOST4, dstPort: CLOSED_PORT }, options: { payload: new Uint8Array([1, 2, 3]) }, accepted: 'UdpNoPorts', rejected: 'UdpInCsumErrors' },
  { name: 'an IPv4 UDP datagram with IP options (IHL 8)', packet: { proto: 17, src: PEER4, srcPort: 40001, dst: HOST4, dstPort: CLOSED_PORT }, options: { ipv4Options: 12 }, accepted: 'UdpNoPorts', rejected: 'UdpInCsumErrors' },
  { name: 'an IPv4 UDP datagram tagged for VLAN 100', packet: { proto: 17, src: VLAN_PEER4, srcPort: 40008, dst: VLAN_HOST4, dstPort: CLOSED_PORT }, options: { vlan: { id: 100, priority: 3 } }, accepted: 'UdpNoPorts', rejected: 'UdpInCsumErrors' },
  { name: 'an IPv4 TCP SYN', packet: { proto: 6, src: PEER4, srcPort: 40002, dst: HOST4, dstPort: CLOSED_PORT }, options: { tcpFlags: 'syn' }, accepted: 'TcpOutRsts', rejected: 'TcpInCsumErrors' },
  { name: 'an IPv4 TCP SYN with options (data offset 8) and data', packet: { proto: 6, src: PEER4, srcPort: 40003, dst: HOST4, dstPort: CLOSED_PORT }, options: { tcpDataOffset: 8, payload: new Uint8Array(5) }, accepted: 'TcpOutRsts', rejected: 'TcpInCsumErrors' },
  { name: 'an ICMP echo request', packet: { proto: 1, src: PEER4, dst: HOST4, icmpType: 8, icmpCode: 0 }, options: { payload: new Uint8Array(16) }, accepted: 'IcmpMsgInType8', rejected: 'IcmpInCsumErrors' },
  { name: 'an IPv6 UDP datagram', packet: { proto: 17, src: PEER6, srcPort: 40004, dst: HOST6, dstPort: CLOSED_PORT }, options: { payload: new Uint8Array([9]) }, accepted: 'Udp6NoPorts', rejected: 'Udp6InCsumErrors' },
  {
    name: 'an IPv6 UDP datagram behind hop-by-hop and destination options',
    packet: { proto: 17, src: PEER6, srcPort: 40005, dst: HOST6, dstPort: CLOSED_PORT },
    options: { ipv6ExtensionHeaders: [{ kind: 'hop-by-hop' }, { kind: 'destination', length: 16 }] },
    accepted: 'Udp6NoPorts',
    rejected: 'Udp6InCsumErrors',
  },
  {
    name: 'an IPv6 UDP datagram behind a routing header with no segments left and long destination options',
    packet: { proto: 17, src: PEER6, srcPort: 40007, dst: HOST6, dstPort: CLOSED_PORT },
    options: { ipv6ExtensionHeaders: [{ kind: 'routing', routingType: 0, length: 24 }, { kind: 'destination', length: 1024 }] },
    accepted: 'Udp6NoPorts',
    rejected: 'Udp6InCsumErrors',
  },
  { name: 'an IPv6 TCP SYN', packet: { proto: 6, src: PEER6, srcPort: 40006, dst: HOST6, dstPort: CLOSED_PORT }, accepted: 'TcpOutRsts', rejected: 'TcpInCsumErrors' },
  { name: 'an ICMPv6 echo request', packet: { proto: 58, src: PEER6, dst: HOST6, icmpType: 128, icmpCode: 0 }, options: { payload: new Uint8Array(8) }, accepted: 'Icmp6InEchos', rejected: 'Icmp6InCsumErrors' },
];

describe.skipIf(!isRoot())('built frames as the kernel sees them', () => {
  const sandbox = new NetnsSandbox('frames');
  let netns: string;
  let tap: Tap;
  let vlanSupported = false;

  beforeAll(async () => {
    netns = sandbox.createNetns('tap');
    tap = await sandbox.createTap(netns, { ipv4: `${HOST4}/24`, ipv6: `${HOST6}/64` });
    // VLAN 100 on the tap, for tagged frames, where the kernel has 802.1Q support.
    try {
      sandbox.exec(netns, 'ip', ['link', 'add', 'link', tap.name, 'name', `${tap.name}v`, 'type', 'vlan', 'id', '100']);
      sandbox.exec(netns, 'ip', ['addr', 'add', `${VLAN_HOST4}/24`, 'dev', `${tap.name}v`]);
      sandbox.exec(netns, 'ip', ['link', 'set', `${tap.name}v`, 'up']);
      vlanSupported = true;
    } catch (error) {
      if (!/Unknown device type/.test(String(error))) throw error;
    }
  });

  afterAll(() => sandbox.cleanup());

  const counter = (name: string) => sandbox.counters(netns).get(name) ?? 0;

  /** Writes the frame and waits for `accepted` to move; reports what the checksum counter did. */
  async function deliver(frame: Uint8Array, accepted: string, rejected: string): Promise<{ accepted: boolean; csumErrors: number }> {
    const before = sandbox.counters(netns);
    tap.write(frame);
    let moved = false;
    try {
      await waitFor(`${accepted} to count the frame`, () => (moved = counter(accepted) > (before.get(accepted) ?? 0)) || counter(rejected) > (before.get(rejected) ?? 0), 3_000);
    } catch {
      // Neither counter moved: reported as not accepted, no checksum error.
    }
    return { accepted: moved, csumErrors: counter(rejected) - (before.get(rejected) ?? 0) };
  }

  for (const c of CASES) {
    it(`accepts ${c.name} with every checksum right`, async (context) => {
      if (c.options?.vlan && !vlanSupported) context.skip('this kernel has no 802.1Q VLAN devices');
      const frame = buildFrame(c.packet, { dstMac: tap.mac, ...c.options });
      expect(await deliver(frame, c.accepted, c.rejected)).toEqual({ accepted: true, csumErrors: 0 });
    });
  }

  it('learns the sender of an ARP request as a neighbour', async () => {
    tap.write(buildArpFrame({ operation: 'request', senderIp: PEER4, targetIp: HOST4, senderMac: '02:00:00:00:00:09' }, { srcMac: '02:00:00:00:00:09' }));
    await waitFor('the ARP sender in the neighbour table', () => /lladdr 02:00:00:00:00:09/.test(sandbox.exec(netns, 'ip', ['neigh', 'show', PEER4])), 3_000);
  });

  it('counts a UDP datagram whose checksum is off by one bit as a checksum error', async () => {
    const frame = buildFrame({ proto: 17, src: PEER4, srcPort: 40100, dst: HOST4, dstPort: CLOSED_PORT }, { dstMac: tap.mac }).slice();
    const l4 = (parseFrame(frame) as Extract<ReturnType<typeof parseFrame>, { kind: 'ip' }>).details.l4Offset;
    frame[l4 + 7] = (frame[l4 + 7] as number) ^ 1;
    expect(await deliver(frame, 'UdpNoPorts', 'UdpInCsumErrors')).toEqual({ accepted: false, csumErrors: 1 });
  });

  it('counts an IPv4 header whose checksum is off as a header checksum error', async () => {
    const frame = buildFrame({ proto: 17, src: PEER4, srcPort: 40101, dst: HOST4, dstPort: CLOSED_PORT }, { dstMac: tap.mac }).slice();
    frame[14 + 11] = (frame[14 + 11] as number) ^ 0x10;
    expect(await deliver(frame, 'UdpNoPorts', 'IpExtInCsumErrors')).toEqual({ accepted: false, csumErrors: 1 });
  });

  it('counts an ICMPv6 message whose checksum is off as a checksum error', async () => {
    const frame = buildFrame({ proto: 58, src: PEER6, dst: HOST6, icmpType: 128, icmpCode: 0 }, { dstMac: tap.mac }).slice();
    frame[14 + 40 + 2] = (frame[14 + 40 + 2] as number) ^ 0x80;
    expect(await deliver(frame, 'Icmp6InEchos', 'Icmp6InCsumErrors')).toEqual({ accepted: false, csumErrors: 1 });
  });
});
