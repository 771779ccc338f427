import { describe, expect, it } from 'vitest';
import { Code } from '../../compiler/diagnostics.ts';
import { parseFlow, parseKeep, sshFlow, type KeepEntry, type ManagementFlow } from '../../compiler/lockout.ts';
import { checkLockout, compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';

const POLICY = `policy ingress default deny {
  100 web:      allow tcp from any to any port { 80, 443 }
  110 admin:    allow tcp from 10.9.0.0/16 to any port 22
  120 trial:    deny audit tcp from any to any port 2222
  130 no-mgmt:  deny tcp from any to any port 9464
}
policy egress default allow {
}
`;

function irOf(text: string) {
  const c = compile(['p.seg'], createMemoryHost({ 'p.seg': text }));
  if (!c.ir) throw new Error(JSON.stringify(c.diagnostics));
  return c.ir;
}

function keeps(...texts: string[]): KeepEntry[] {
  return texts.map((t) => {
    const k = parseKeep(t);
    if (!k.ok) throw new Error(k.error);
    return k.keep;
  });
}

function flow(text: string): ManagementFlow {
  const f = parseFlow(text, 'a test flow');
  if (!f.ok) throw new Error(f.error);
  return f.flow;
}

describe('the lock-out guard', () => {
  const ir = irOf(POLICY);

  it('names the rule that denies a concrete flow, at its exact span, with the flow as witness', () => {
    const [d, ...rest] = checkLockout(ir, { flows: [flow('tcp 192.0.2.7:51000 -> 10.9.0.1:9464')], keeps: [] });
    expect(rest).toEqual([]);
    expect(d?.code).toBe(Code.ManagementFlowDenied);
    expect(d?.message).toBe("ingress rule 'no-mgmt' denies a test flow: ingress tcp 192.0.2.7:51000 -> 10.9.0.1:9464");
    expect(POLICY.slice(d?.span.start, d?.span.end)).toMatch(/^130 no-mgmt: +deny tcp from any to any port 9464/);
    expect(d?.witness).toEqual({ proto: 'tcp', src: '192.0.2.7', srcPort: 51000, dst: '10.9.0.1', dstPort: 9464 });
    expect(d?.hint).toMatch(/--confirm DURATION .* --allow-lockout/);
  });

  it('reads SSH_CONNECTION and SSH_CLIENT as the inbound connection sshd accepted', () => {
    expect(sshFlow({ SSH_CONNECTION: '10.9.3.4 50022 10.9.0.1 22' })?.packet).toEqual({ proto: 6, src: '10.9.3.4', srcPort: 50022, dst: '10.9.0.1', dstPort: 22 });
    expect(sshFlow({ SSH_CONNECTION: '::ffff:192.0.2.1 50022 ::ffff:10.9.0.1 22' })?.packet).toMatchObject({ src: '192.0.2.1', dst: '10.9.0.1' });
    expect(sshFlow({ SSH_CLIENT: '2001:db8::5 50022 22' })?.packet).toMatchObject({ src: '2001:db8::5', dst: '::', dstPort: 22 });
    expect(sshFlow({})).toBeUndefined();
    // From the admin network: allowed; from elsewhere: the default denies it.
    expect(checkLockout(ir, { flows: [sshFlow({ SSH_CONNECTION: '10.9.3.4 50022 10.9.0.1 22' }) as ManagementFlow], keeps: [] })).toEqual([]);
    const [d] = checkLockout(ir, { flows: [sshFlow({ SSH_CONNECTION: '192.0.2.7 50022 10.9.0.1 22' }) as ManagementFlow], keeps: [] });
    expect(d?.message).toMatch(/^the ingress default \(deny\) denies the SSH connection this command runs under \(SSH_CONNECTION\)/);
    expect(POLICY.slice(d?.span.start, d?.span.end)).toBe('default deny');
  });

  it('checks a keep entry as every packet it names, exactly', () => {
    // Port 22 only from 10.9/16: 'tcp 22' (from anywhere) is denied somewhere, the restricted one is not.
    const [d] = checkLockout(ir, { flows: [], keeps: keeps('tcp 22') });
    expect(d?.message).toMatch(/^the ingress default \(deny\) denies the kept management flow 'tcp 22': ingress tcp /);
    expect(d?.witness?.dstPort).toBe(22);
    expect(checkLockout(ir, { flows: [], keeps: keeps('tcp 22 from 10.9.0.0/16', 'tcp 443', 'egress udp 53') })).toEqual([]);
    const [m] = checkLockout(ir, { flows: [], keeps: keeps('tcp 9000-9500 from 10.9.0.0/16') });
    expect(m?.message).toMatch(/^ingress rule 'no-mgmt' denies/);
  });

  it('does not count what audit lets pass', () => {
    expect(checkLockout(ir, { flows: [flow('tcp 10.9.0.2:40000 -> 10.9.0.1:2222')], keeps: keeps('tcp 2222 from 10.9.0.0/16') })).toEqual([]);
    expect(checkLockout(ir, { flows: [flow('tcp 192.0.2.7:51000 -> 10.9.0.1:9464')], keeps: keeps('tcp 22'), audit: true })).toEqual([]);
  });

  it('parses keep entries and refuses what is not one', () => {
    expect(keeps('tcp 22', 'egress udp 53', 'icmp', '132 3868')).toMatchObject([
      { direction: 'ingress', proto: 'tcp', ports: [22, 22], from: null },
      { direction: 'egress', proto: 'udp', ports: [53, 53] },
      { proto: 'icmp', ports: null },
      { proto: '132', ports: [3868, 3868] },
    ]);
    for (const bad of ['ssh', 'tcp 70000', 'icmp 8', 'tcp 22 from 10.0.0.1/8', 'tcp 30-20', 'tcp 22 to x']) expect(parseKeep(bad).ok, bad).toBe(false);
  });

  it('runs in check through the compile option (SEG5101 among the diagnostics)', () => {
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': POLICY }), { hostContext: { flows: [], keeps: keeps('tcp 9464') } });
    expect(c.diagnostics.map((d) => d.code)).toEqual(['SEG5101']);
  });
});
