// `segc test` in process: failures with packet, expected and actual outcome and file:line, exit
// codes, the X.test.seg companion, JSON and JUnit XML, coverage, and `check` on test errors.
import { describe, expect, it } from 'vitest';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

const WEB = `set office = 10.20.0.0/16
policy ingress default deny {
  100 ssh-office: allow tcp from office to any port 22
  200 web:        allow tcp from any to any port 443
}
`;
const TESTS = `include "web.seg"
test "office reaches ssh" {
  expect allow tcp 10.20.1.5:40000 -> 10.0.1.7:22 ingress
  expect deny  tcp 192.0.2.1 -> 10.0.1.7:22
  expect rule ssh-office tcp 10.20.1.5 -> 10.0.1.7:22
}
`;
const WRONG = 'test "wrong" {\n  expect allow tcp 192.0.2.1 -> 10.0.1.7:22\n}\n';

async function segc(files: Record<string, string>, ...argv: string[]) {
  const io = createMemoryIo(files);
  const code = await run(argv, io);
  return { code, out: io.out(), err: io.err() };
}

describe('segc test', () => {
  it('passes, taking the X.test.seg next to a named X.seg', async () => {
    const r = await segc({ 'web.seg': WEB, 'web.test.seg': TESTS }, 'test', 'web.seg');
    expect(r).toEqual({ code: 0, out: '3 expectations in 1 test: 3 passed, 0 failed\n', err: '' });
  });

  it('reports a failed expectation with its packet, the actual verdict and the deciding rule, and exits 1', async () => {
    const r = await segc({ 'web.seg': WEB + WRONG }, 'test', 'web.seg');
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      'FAIL  wrong  web.seg:7\n  expect allow tcp 192.0.2.1 -> 10.0.1.7:22 ingress\n  expected allow, got deny by the default (web.seg:2)\n1 expectation in 1 test: 0 passed, 1 failed\n',
    );
  });

  it('writes JSON and JUnit XML', async () => {
    const json = await segc({ 'web.seg': WEB + WRONG }, 'test', '--format', 'json', 'web.seg');
    const parsed = JSON.parse(json.out) as { failed: number; expectations: { passed: boolean; line: number; actual: { verdict: string } }[] };
    expect([parsed.failed, parsed.expectations[0]?.passed, parsed.expectations[0]?.line, parsed.expectations[0]?.actual.verdict]).toEqual([1, false, 7, 'deny']);
    const junit = await segc({ 'web.seg': WEB + WRONG }, 'test', '--format', 'junit', 'web.seg');
    expect(junit.out).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="segc test" tests="1" failures="1">/);
    expect(junit.out).toContain('<testcase classname="wrong" name="expect allow tcp 192.0.2.1 -&gt; 10.0.1.7:22 ingress" file="web.seg" line="7">');
    expect(junit.out).toContain('<failure message="expected allow, got deny by the default (web.seg:2)"');
  });

  it('lists the rules no expectation reaches with --coverage', async () => {
    const r = await segc({ 'web.seg': WEB, 'web.test.seg': TESTS }, 'test', '--coverage', 'web.seg');
    expect(r.out).toContain('coverage: 1 of 2 rules decide some expectation (50%)\n  not reached  ingress rule web  web.seg:4\n');
  });

  it('refuses to run tests of a policy with errors, and check reports the test errors', async () => {
    const files = { 'web.seg': WEB + 'test "t" {\n  expect rule ssh-ofice tcp 10.20.1.5 -> 10.0.1.7:22\n}\n' };
    const r = await segc(files, 'test', 'web.seg');
    expect(r.code).toBe(1);
    expect(r.err).toContain("error[SEG2201]: no ingress rule is named 'ssh-ofice'");
    const c = await segc(files, 'check', 'web.seg');
    expect([c.code, c.out.includes('SEG2201')]).toEqual([1, true]);
  });
});

describe('expiry in check and deploy', () => {
  const DATED = 'policy ingress {\n  100 vendor: allow tcp from 192.0.2.0/24 to any port 22 expires 2027-03-31\n}\n';
  it('takes today from SEGC_NOW and the window from --expiry-window', async () => {
    const at = async (now: string, ...argv: string[]) => {
      const io = createMemoryIo({ 'p.seg': DATED }, { env: { SEGC_NOW: now } });
      const code = await run(['check', ...argv, 'p.seg'], io);
      return [code, /SEG\d{4}/.exec(io.out())?.[0] ?? null];
    };
    expect(await at('2027-03-01')).toEqual([0, null]);
    expect(await at('2027-03-01', '--expiry-window', '30d')).toEqual([0, 'SEG3104']);
    expect(await at('2027-03-20T23:59:00Z')).toEqual([0, 'SEG3104']);
    expect(await at('2027-04-01')).toEqual([1, 'SEG3103']);
  });

  it('makes deploy refuse an expired rule unless --allow-expired (checked before any kernel work)', async () => {
    const io = createMemoryIo({ 'p.seg': DATED }, { env: { SEGC_NOW: '2027-05-01' } });
    const code = await run(['deploy', 'p.seg', '--iface', 'lo', '--dry-run'], io);
    expect(code).toBe(1);
    expect(io.err()).toContain("rule 'vendor' expired on 2027-03-31");
    expect(io.err()).toContain('--allow-expired');
  });

  it('makes deploy --test refuse a policy whose tests fail', async () => {
    const io = createMemoryIo({ 'web.seg': WEB + WRONG });
    const code = await run(['deploy', 'web.seg', '--iface', 'lo', '--dry-run', '--test'], io);
    expect(code).toBe(1);
    expect(io.out()).toContain('FAIL  wrong  web.seg:7');
    expect(io.err()).toContain('--test: 1 expectation fails; nothing was deployed');
  });
});
