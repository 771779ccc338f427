// Frames with two VLAN tags are dropped (docs/datapath.md "Odd packets"), with real frames on a
// veth: the receive path takes the outer tag out of the frame into skb->vlan_tci before tc
// runs, so the classifier sees one tag in the bytes of a QinQ frame and must count the one
// taken out. Frames are sent raw (AF_PACKET) from the peer, so no 802.1Q module is needed; one
// tag is still classified. segc runs as a real process; the namespaces, pins and record go.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, segc, tearDownDeployTest, type PolicyDir } from '../support/deploy-harness.ts';
import { NetnsSandbox, type VethPair } from '../support/netns.ts';

const POLICY = 'policy ingress default deny {\n  100 echo: allow udp from any to any port 5353\n}\n';
const HAVE_PYTHON = spawnSync('python3', ['--version'], { timeout: 5_000 }).status === 0;

/** Sends COUNT UDP frames to port 5353 out of IFACE with the given VLAN ids (outer first). */
const SEND_FRAMES = `
import socket, struct, sys
iface, dst, tags, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), [int(t) for t in sys.argv[3].split(',') if t], int(sys.argv[4])
payload = b'segc-vlan'
udp = struct.pack('!HHHH', 40000, 5353, 8 + len(payload), 0) + payload
head = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton('10.206.0.2'), socket.inet_aton('10.206.0.1'))
words = struct.unpack('!10H', head)
s = sum(words); s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
head = head[:10] + struct.pack('!H', ~s & 0xffff) + head[12:]
frame = dst + bytes.fromhex('020000000002') + b''.join(b'\\x81\\x00' + struct.pack('!H', t) for t in tags) + b'\\x08\\x00' + head + udp
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((iface, 0))
for _ in range(count): sock.send(frame)
`;

describe.skipIf(!KERNEL_AVAILABLE || !HAVE_PYTHON)('VLAN tags in frames on the wire', () => {
  const sandbox = new NetnsSandbox('vlan');
  const name = `segct-${process.pid}-vlan`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;

  beforeAll(() => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: '10.206.0.1/24' }, b: { ipv4: '10.206.0.2/24' } });
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
  }, 60_000);

  afterAll(() => tearDownDeployTest({ host, names: [name], stateDir, servers: [], policies, sandbox }));

  const send = (tags: readonly number[], count: number) => {
    const mac = /link\/ether ([0-9a-f:]+)/.exec(sandbox.exec(host, 'ip', ['-o', 'link', 'show', 'dev', link.a.name]))?.[1] ?? '';
    const r = spawnSync('nsenter', [`--net=/var/run/netns/${peer}`, '--', 'python3', '-c', SEND_FRAMES, link.b.name, mac, tags.join(','), String(count)], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
  };
  const counters = () => {
    const stats = JSON.parse(segc(host, ['stats', '--name', name, '--json'], { stateDir }).stdout) as { counters: { counter: string; packets: number }[]; rules: { name: string; packets: number }[] };
    return { vlanDepth: stats.counters.find((c) => c.counter === 'reason:vlan-depth')?.packets ?? 0, echo: stats.rules.find((r) => r.name === 'echo')?.packets ?? 0 };
  };

  it('classifies a frame with one tag and drops one with two, counted as vlan-depth', () => {
    const r = segc(host, ['deploy', policies.write('echo.seg', POLICY), '--iface', link.a.name, '--name', name, '--max-rules', '16', '--sessions', '256'], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    const before = counters();
    send([100], 20);
    const oneTag = counters();
    expect(oneTag.echo - before.echo).toBe(20);
    expect(oneTag.vlanDepth).toBe(before.vlanDepth);
    send([100, 200], 20);
    const twoTags = counters();
    expect(twoTags.vlanDepth - oneTag.vlanDepth).toBe(20);
    expect(twoTags.echo).toBe(oneTag.echo);
    // Three tags (two left in the frame) were dropped before the fix too; still so.
    send([100, 200, 300], 5);
    expect(counters().vlanDepth - twoTags.vlanDepth).toBe(5);
  }, 60_000);
});
