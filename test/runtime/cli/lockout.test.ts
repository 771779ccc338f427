import { describe, expect, it } from 'vitest';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

const POLICY = `policy ingress default deny {
  100 web:    allow tcp from any to any port 443
  110 admin:  allow tcp from 10.9.0.0/16 to any port 22
}
`;

describe('segc check --host-context (the lock-out guard in CI)', () => {
  it('reports each management flow the policy denies as SEG5101 at the rule or default, exit 1', async () => {
    const io = createMemoryIo({ 'web.seg': POLICY, 'host.json': JSON.stringify({ keep: ['tcp 22', 'tcp 443'], ssh: '192.0.2.7 50022 10.9.0.1 22' }) });
    expect(await run(['check', '--host-context', 'host.json', 'web.seg'], io)).toBe(1);
    expect(io.out()).toContain("error[SEG5101]: the ingress default (deny) denies the SSH connection this command runs under (SSH_CONNECTION): ingress tcp 192.0.2.7:50022 -> 10.9.0.1:22\n --> web.seg:1:16");
    expect(io.out()).toContain("error[SEG5101]: the ingress default (deny) denies the kept management flow 'tcp 22'");
    expect(io.out()).not.toContain("'tcp 443'");
    const json = createMemoryIo({ 'web.seg': POLICY, 'host.json': '{"flows": ["tcp 10.9.3.4:50022 -> 10.9.0.1:22"], "keep": ["tcp 22 from 10.9.0.0/16"]}' });
    expect(await run(['check', '--host-context', 'host.json', '--format', 'json', 'web.seg'], json)).toBe(0);
  });

  it('refuses a context it cannot read as a usage error (exit 2)', async () => {
    for (const [text, message] of [
      ['{', /host.json is not JSON/],
      ['[]', /expected a JSON object/],
      ['{"keep": "tcp 22"}', /keep must be a list of strings/],
      ['{"keep": ["ssh"]}', /unknown protocol 'ssh'/],
      ['{"keep": ["tcp to 22"]}', /'tcp to 22' is not a management flow/],
      ['{"flows": ["tcp 1.2.3.4 -> nowhere"]}', /'nowhere' is not an IPv4 or IPv6 address/],
    ] as const) {
      const io = createMemoryIo({ 'web.seg': POLICY, 'host.json': text });
      expect(await run(['check', '--host-context', 'host.json', 'web.seg'], io), text).toBe(2);
      expect(io.err()).toMatch(message);
    }
    const missing = createMemoryIo({ 'web.seg': POLICY });
    expect(await run(['check', '--host-context', 'nope.json', 'web.seg'], missing)).toBe(2);
    expect(missing.err()).toMatch(/cannot read the host context nope.json/);
  });

  it('documents --keep, --allow-lockout and --host-context in --help', async () => {
    const deploy = createMemoryIo({});
    expect(await run(['deploy', '--help'], deploy)).toBe(0);
    expect(deploy.out()).toMatch(/--keep <flow>[\s\S]*--allow-lockout[\s\S]*--keep 'tcp 22'/);
    const check = createMemoryIo({});
    expect(await run(['check', '--help'], check)).toBe(0);
    expect(check.out()).toMatch(/--host-context <file>[\s\S]*"keep": \["tcp 22"/);
  });
});
