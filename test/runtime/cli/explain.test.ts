// `segc explain` (file mode) in process: the verdict, log flag and deciding rule for a packet,
// in words and as the JSON of cli.md; bad packets are usage errors, bad policies exit 1.
import { describe, expect, it } from 'vitest';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

const WEB = `# web tier
set office   = { 10.20.0.0/16, 2001:db8:20::/48 }
set web_tier = { 10.0.1.0/24, 2001:db8:1::/64 }

policy ingress default deny {
  100 public-web: allow tcp from any to web_tier port { 80, 443 } "public web"
  200 ssh-office: allow log tcp from office to any port 22
  300             deny log udp from any to any port 53
  400             allow icmp from office to any icmp echo-request
}

policy egress {
  100 no-mail: deny tcp from any to any port 25
}
`;

/** Ingress only: egress has no block, so it is unfiltered. */
const INBOUND_ONLY = 'policy ingress default deny {\n  100 ssh: allow tcp from any to any port 22\n}\n';

async function explain(...argv: string[]) {
  const io = createMemoryIo({ 'web.seg': WEB, 'inbound.seg': INBOUND_ONLY, 'broken.seg': 'set x = 10.0.0.1/8\n' });
  const code = await run(['explain', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

describe('segc explain', () => {
  it('names the deciding rule with its priority, file:line and description', async () => {
    const r = await explain('web.seg', '--packet', 'tcp 192.0.2.1:40000 -> 10.0.1.5:443');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        'packet     tcp 192.0.2.1:40000 -> 10.0.1.5:443 (ingress)',
        'verdict    allow',
        'rule       public-web, priority 100, web.seg:6  "public web"',
        '',
      ].join('\n'),
    );
  });

  it('prints the JSON of cli.md with --json', async () => {
    const r = await explain('web.seg', '--json', '--packet', 'tcp [2001:db8:20::7]:50000 -> [2001:db8:1::5]:22');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ verdict: 'allow', log: true, direction: 'ingress', rule: { name: 'ssh-office', priority: 200, location: 'web.seg:7', file: 'web.seg', line: 7 } });
  });

  it('names unnamed rules by direction and priority, and reports the log flag of deny log', async () => {
    const r = await explain('web.seg', '--json', '--packet', 'udp 10.9.9.9:5353 -> 10.0.1.1:53');
    expect(JSON.parse(r.out)).toEqual({ verdict: 'deny', log: true, direction: 'ingress', rule: { name: 'ingress/300', priority: 300, location: 'web.seg:8', file: 'web.seg', line: 8 } });
  });

  it('says when the stated default decided, and where it is stated', async () => {
    const r = await explain('web.seg', '--packet', 'tcp 192.0.2.1:40000 -> 192.0.2.2:8080');
    expect(r.out).toContain('verdict    deny\n');
    expect(r.out).toContain('rule       default: no rule matched; the ingress default is deny (web.seg:5)\n');
    const json = await explain('web.seg', '--json', '--packet', 'tcp 192.0.2.1:40000 -> 192.0.2.2:8080');
    expect(JSON.parse(json.out)).toEqual({ verdict: 'deny', log: false, direction: 'ingress', rule: null });
  });

  it('uses the egress rules with --direction egress, and says when no block states a default', async () => {
    const mail = await explain('web.seg', '--direction', 'egress', '--json', '--packet', 'tcp 10.0.1.5:40000 -> 198.51.100.1:25');
    expect(JSON.parse(mail.out)).toMatchObject({ verdict: 'deny', direction: 'egress', rule: { name: 'no-mail' } });
    const other = await explain('web.seg', '--direction', 'egress', '--packet', 'tcp 10.0.1.5:40000 -> 198.51.100.1:443');
    expect(other.out).toContain('no egress policy states a default, so it is deny');
  });

  it('says a direction without a policy block is unfiltered, and allows its packets', async () => {
    const r = await explain('inbound.seg', '--direction', 'egress', '--packet', 'udp 10.0.1.5:40000 -> 198.51.100.1:53');
    expect(r.code).toBe(0);
    expect(r.out).toContain('verdict    allow\n');
    expect(r.out).toContain('rule       no policy block for egress: unfiltered');
    const json = await explain('inbound.seg', '--direction', 'egress', '--json', '--packet', 'tcp 10.0.1.5:40000 -> 198.51.100.1:443');
    expect(JSON.parse(json.out)).toEqual({ verdict: 'allow', log: false, direction: 'egress', rule: null });
    const inbound = await explain('inbound.seg', '--packet', 'tcp 198.51.100.1:443 -> 10.0.1.5:40000');
    expect(inbound.out).toContain('verdict    deny\n');
  });

  it('matches ICMP types given by name in the packet', async () => {
    const r = await explain('web.seg', '--json', '--packet', 'icmp 10.20.3.4 -> 10.0.1.1 type echo-request');
    expect(JSON.parse(r.out)).toMatchObject({ verdict: 'allow', rule: { priority: 400 } });
  });

  it('treats a packet that is not one as a usage error (exit 2) and says how to write it', async () => {
    const r = await explain('web.seg', '--packet', 'tcp from here to there');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('error: --packet:');
    expect(r.err).toContain('PROTO SRC[:PORT] -> DST[:PORT]');
  });

  it('requires --packet and rejects an unknown direction (exit 2)', async () => {
    expect((await explain('web.seg')).code).toBe(2);
    expect((await explain('web.seg', '--direction', 'sideways', '--packet', 'tcp 1.1.1.1:1 -> 2.2.2.2:2')).code).toBe(2);
  });

  it('reports the errors of a broken policy on stderr and exits 1', async () => {
    const r = await explain('broken.seg', '--packet', 'tcp 1.1.1.1:1 -> 2.2.2.2:2');
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('error[SEG3003]');
  });

  it('exits 2 on a missing policy file', async () => {
    const r = await explain('nope.seg', '--packet', 'tcp 1.1.1.1:1 -> 2.2.2.2:2');
    expect(r.code).toBe(2);
    expect(r.err).toContain("no such file or folder: 'nope.seg'");
  });
});
