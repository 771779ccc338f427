// `segc check` in process through run(argv, io) with an in-memory io: exit codes, --strict,
// formats, folders, includes, missing files, colour, and a property: arbitrary input gives
// diagnostics and exit 1, never a crash or exit 2.
import fc from 'fast-check';
import type * as Sarif from 'sarif';
import { describe, expect, it } from 'vitest';
import { Code, makeDiagnostic } from '../../../compiler/diagnostics.ts';
import { checkOutcome } from '../../../runtime/cli/check.ts';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

const CLEAN = 'set web = 10.0.1.0/24\npolicy ingress default deny {\n  100 allow tcp from any to web port 443\n}\n';
const HOST_BITS = 'set web = 10.0.1.0/16\npolicy ingress {\n  100 allow tcp from any to web port 443\n}\n';
const UNUSED = 'set web = 10.0.1.0/24\nset old = 192.168.0.0/16\npolicy ingress {\n  100 allow tcp from any to web port 443\n}\n';
/** A file with its own set name and priority, so that several can be checked together. */
const policyFile = (name: string, priority: number, cidr: string) => `set ${name} = ${cidr}\npolicy ingress {\n  ${priority} allow tcp from any to ${name} port 443\n}\n`;

async function check(files: Record<string, string>, ...argv: string[]) {
  const io = createMemoryIo(files);
  const code = await run(['check', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

describe('segc check', () => {
  it('exits 0 and says so when the files have no problems', async () => {
    const r = await check({ 'web.seg': CLEAN }, 'web.seg');
    expect(r).toEqual({ code: 0, out: 'no problems (1 file checked)\n', err: '' });
  });

  it('exits 1 and reports the error in the human format', async () => {
    const r = await check({ 'web.seg': HOST_BITS }, 'web.seg');
    expect(r.code).toBe(1);
    expect(r.out).toContain("error[SEG3003]: '10.0.1.0/16' has host bits set\n --> web.seg:1:11\n");
    expect(r.out.endsWith('\n1 error\n')).toBe(true);
  });

  it('exits 0 on infos alone (an unused set), with and without --strict', async () => {
    const plain = await check({ 'web.seg': UNUSED }, 'web.seg');
    expect(plain.out).toContain('info[SEG2101]');
    expect(plain.code).toBe(0);
    expect((await check({ 'web.seg': UNUSED }, '--strict', 'web.seg')).code).toBe(0);
  });

  it('runs the rule analysis: a warning exits 0, and 1 under --strict', async () => {
    const redundant = 'policy ingress default deny {\n  100 deny tcp from any to any port 23\n  200 allow tcp from any to any port 443\n}\n';
    const plain = await check({ 'p.seg': redundant }, 'p.seg');
    expect(plain.out).toContain('warning[SEG5002]');
    expect(plain.code).toBe(0);
    expect((await check({ 'p.seg': redundant }, '--strict', 'p.seg')).code).toBe(1);
  });

  it('reports a shadowed rule as an error with the covering rules as notes', async () => {
    const shadowed = 'policy ingress default allow {\n  100 deny tcp from 10.0.0.0/9 to any port 22\n  200 deny tcp from 10.128.0.0/9 to any port 22\n  300 allow tcp from 10.0.0.0/8 to any port 22\n}\n';
    const r = await check({ 'p.seg': shadowed }, '--format', 'json', 'p.seg');
    expect(r.code).toBe(1);
    const [finding] = (JSON.parse(r.out) as { diagnostics: { code: string; line: number; related?: { line: number }[] }[] }).diagnostics.filter((d) => d.code === 'SEG5001');
    expect(finding?.line).toBe(4);
    expect(finding?.related?.map((x) => x.line).sort()).toEqual([2, 3]);
  });

  it('reports every file named, each once, in the order of the paths', async () => {
    const r = await check({ 'a.seg': policyFile('a', 100, '10.0.1.0/16'), 'b.seg': policyFile('b', 200, '10.0.2.0/16') }, 'b.seg', './a.seg', 'a.seg');
    expect(r.out.match(/^ --> .*$/gm)).toEqual([' --> a.seg:1:9', ' --> b.seg:1:9']);
    expect(r.out).toContain('2 errors');
  });

  it('checks every .seg file below a folder, skipping dot-folders and node_modules', async () => {
    const files = {
      'p/web.seg': policyFile('web', 100, '10.0.1.0/24'),
      'p/sub/db.seg': policyFile('db', 200, '10.0.2.0/16'),
      'p/notes.txt': 'not a policy',
      'p/.git/x.seg': 'garbage {{{',
      'p/node_modules/y.seg': 'garbage {{{',
    };
    const r = await check(files, 'p');
    expect(r.code).toBe(1);
    expect(r.out.match(/^ --> .*$/gm)).toEqual([' --> p/sub/db.seg:1:10']);
    expect(r.out).toContain("'10.0.2.0/16' has host bits set");
    expect(r.out).toContain('1 error');
  });

  it('with --each, checks each file with its includes as a policy of its own, reporting a shared file once', async () => {
    const files = {
      'hosts/common.seg': 'set admins = 10.9.0.0/16\nset bad = 10.0.0.1/8\n',
      'hosts/web.seg': 'include "common.seg"\npolicy ingress {\n  100 ssh: allow tcp from admins to any port 22\n}\n',
      'hosts/db.seg': 'include "common.seg"\npolicy ingress {\n  100 ssh: allow tcp from admins to any port 22\n}\n',
    };
    // Together, the two hosts' rules clash (same priority, same name); each on its own, they do not.
    const together = await check(files, '--no-color', 'hosts');
    expect(together.out).toContain('error[SEG3009]');
    const each = await check(files, '--each', '--no-color', 'hosts');
    expect(each.code).toBe(1);
    expect(each.out).not.toContain('SEG3009');
    expect(each.out.match(/^error\[SEG3003\]/gm)).toHaveLength(1);
    expect(each.out.endsWith('1 error\n')).toBe(true);
    const clean = await check({ ...files, 'hosts/common.seg': 'set admins = 10.9.0.0/16\n' }, '--each', 'hosts');
    expect(clean.code).toBe(0);
    // common.seg is checked inside the files that include it, where 'admins' is used.
    expect(clean.out).toBe('no problems (3 files checked)\n');
  });

  it("with --each, checks a policy's packet tests (X.test.seg) with it, not as a policy of their own", async () => {
    const files = {
      'hosts/web.seg': 'policy ingress {\n  100 ssh: allow tcp from 10.9.0.0/16 to any port 22\n}\n',
      'hosts/web.test.seg': 'test "ssh" {\n  expect rule ssh tcp 10.9.0.1 -> 10.0.0.1:22\n}\n',
      'hosts/db.seg': 'policy ingress {\n  100 ssh: allow tcp from 10.9.0.0/16 to any port 22\n}\n',
    };
    const each = await check(files, '--each', '--no-color', 'hosts');
    expect(each.out + each.err).not.toContain('SEG2201');
    expect(each.code).toBe(0);
    const broken = await check({ ...files, 'hosts/web.test.seg': 'test "ssh" {\n  expect rule shh tcp 10.9.0.1 -> 10.0.0.1:22\n}\n' }, '--each', '--no-color', 'hosts');
    expect(broken.code).toBe(1);
    expect(broken.out).toContain("error[SEG2201]: no ingress rule is named 'shh'");
    expect(broken.out.match(/^error\[SEG2201\]/gm)).toHaveLength(1);
  });

  it('with --each, still checks on their own the files that include each other in a cycle', async () => {
    const r = await check({ 'a.seg': 'include "b.seg"\nset x = 10.0.0.1/8\n', 'b.seg': 'include "a.seg"\n' }, '--each', 'a.seg', 'b.seg');
    expect(r.code).toBe(1);
    expect(r.out).toContain('error[SEG4002]');
    expect(r.out).toContain('error[SEG3003]');
  });

  it('follows includes, reporting errors in the included file by its path', async () => {
    const r = await check({ 'main.seg': 'include "lib/common.seg"\npolicy ingress {\n  100 allow tcp from any to web port 443\n}\n', 'lib/common.seg': 'set web = 10.0.1.0/16\n' }, 'main.seg');
    expect(r.code).toBe(1);
    expect(r.out).toContain(' --> lib/common.seg:1:11');
  });

  it('exits 2 naming every missing path, and prints no report', async () => {
    const r = await check({ 'a.seg': CLEAN }, 'a.seg', 'nope.seg', 'gone/');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain("error: no such file or folder: 'nope.seg', 'gone/'");
  });

  it('exits 2 on a folder that holds no .seg file', async () => {
    const r = await check({ 'docs/readme.md': '#' }, 'docs');
    expect(r.code).toBe(2);
    expect(r.err).toContain("no .seg files under 'docs'");
  });

  it('writes the JSON of cli.md with --format json', async () => {
    const r = await check({ 'web.seg': HOST_BITS }, '--format', 'json', 'web.seg');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as { diagnostics: Record<string, unknown>[]; summary: Record<string, number> };
    expect(report.diagnostics).toEqual([
      {
        code: 'SEG3003',
        severity: 'error',
        category: 'value',
        message: "'10.0.1.0/16' has host bits set",
        hint: 'the network is 10.0.0.0/16',
        location: 'web.seg:1',
        file: 'web.seg',
        line: 1,
        column: 11,
        endLine: 1,
        endColumn: 22,
      },
    ]);
    expect(report.summary).toEqual({ errors: 1, warnings: 0, infos: 0, files: 1 });
  });

  it('writes an empty JSON report and exits 0 for a clean file', async () => {
    const r = await check({ 'web.seg': CLEAN }, '--format', 'json', 'web.seg');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ diagnostics: [] });
  });

  it('writes SARIF 2.1.0 with --format sarif, paths relative to the working folder', async () => {
    const io = createMemoryIo({ 'pol/web.seg': HOST_BITS }, { cwd: '/src/repo' });
    expect(await run(['check', '--format', 'sarif', 'pol'], io)).toBe(1);
    const log = JSON.parse(io.out()) as Sarif.Log;
    expect(log.version).toBe('2.1.0');
    const run0 = log.runs[0];
    expect(run0?.tool.driver.name).toBe('segc');
    expect(run0?.tool.driver.rules?.map((r) => [r.id, r.helpUri?.endsWith('diagnostics.md#seg3003')])).toEqual([['SEG3003', true]]);
    expect(run0?.results?.[0]?.locations?.[0]?.physicalLocation).toEqual({
      artifactLocation: { uri: 'pol/web.seg', uriBaseId: '%SRCROOT%' },
      region: { startLine: 1, startColumn: 11, endLine: 1, endColumn: 22 },
    });
    expect(run0?.originalUriBaseIds?.['%SRCROOT%']?.uri).toBe('file:///src/repo/');
  });

  it('colours the report on a terminal, and not with --no-color or NO_COLOR', async () => {
    const files = { 'web.seg': HOST_BITS };
    const tty = createMemoryIo(files, { isTTY: true });
    await run(['check', 'web.seg'], tty);
    expect(tty.out()).toContain('\u001b[');
    const flag = createMemoryIo(files, { isTTY: true });
    await run(['check', '--no-color', 'web.seg'], flag);
    expect(flag.out()).not.toContain('\u001b[');
    const env = createMemoryIo(files, { isTTY: true, env: { NO_COLOR: '1' } });
    await run(['check', 'web.seg'], env);
    expect(env.out()).not.toContain('\u001b[');
    const forced = createMemoryIo(files);
    await run(['check', '--color', 'web.seg'], forced);
    expect(forced.out()).toContain('\u001b[');
  });

  it('takes --analysis-budget as a whole number of milliseconds', async () => {
    expect((await check({ 'web.seg': CLEAN }, '--analysis-budget', '500', 'web.seg')).code).toBe(0);
    const bad = await check({ 'web.seg': CLEAN }, '--analysis-budget', '0', 'web.seg');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('milliseconds');
  });

  it('still writes parseable JSON and SARIF naming the bug (SEG9001) when the compiler crashes, and exits 2', async () => {
    for (const format of ['json', 'sarif']) {
      const io = createMemoryIo({ 'web.seg': CLEAN });
      const crashing = Object.assign(io, {
        host: {
          readFile: () => {
            throw new RangeError('index out of range');
          },
          resolveInclude: io.host.resolveInclude,
        },
      });
      expect(await run(['check', '--format', format, 'web.seg'], crashing)).toBe(2);
      expect(io.out()).toContain('"SEG9001"');
      expect(io.out()).toContain('internal error: index out of range');
      expect(() => JSON.parse(io.out()) as unknown).not.toThrow();
      expect(io.err()).toContain('internal error: index out of range');
    }
  });

  it('never writes a file', async () => {
    const io = createMemoryIo({ 'web.seg': HOST_BITS, 'ok.seg': CLEAN });
    const before = new Map(io.files);
    await run(['check', '.'], io);
    expect(io.files).toEqual(before);
  });
});

describe('checkOutcome', () => {
  const span = { file: 'a.seg', start: 0, end: 1 };
  const warning = makeDiagnostic(Code.Redundant, span, { rule: 'ingress/100', reason: 'the default denies it too' });
  const info = makeDiagnostic(Code.UnusedSet, span, { name: 'x' });
  const error = makeDiagnostic(Code.HostBitsSet, span, { text: 't', network: 'n' });

  it('finds problems in errors, and in warnings only under --strict', () => {
    expect(checkOutcome([], false)).toBe('ok');
    expect(checkOutcome([info, warning], false)).toBe('ok');
    expect(checkOutcome([info, warning], true)).toBe('findings');
    expect(checkOutcome([info], true)).toBe('ok');
    expect(checkOutcome([error], false)).toBe('findings');
  });
});

// ---- Property: arbitrary input never crashes the compiler or the CLI ----------------------------

const TOKENS = [
  'include', 'set', 'ports', 'policy', 'ingress', 'egress', 'default', 'allow', 'deny', 'log', 'from', 'to', 'port',
  'any', 'any4', 'any6', 'except', 'icmp', 'tcp', 'udp', 'icmpv6', 'sctp', '{', '}', ',', ':', '=', '-', '/', '"',
  '"str"', '#c', '\n', ' ', '10.0.0.0/8', '10.0.0.1', '2001:db8::/32', 'fe80::1', '::', '80', '1-1023', '65536',
  '99999999999999999999', 'web', 'deny-all', 'echo-request', '\\', '\t', '\r\n', 'é', '\u0000',
];

// A control character can start no token, in any context (it is outside strings and comments
// at the very start of a file), so a file that begins with one always has an error.
const BELL = '\u0007';

describe('check on arbitrary input', () => {
  it('reports diagnostics and exits 1 for random byte strings, never exit 2 or a stack trace', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const io = createMemoryIo({ 'fuzz.seg': BELL + Buffer.from(bytes).toString('latin1') });
        const code = await run(['check', 'fuzz.seg'], io);
        expect(io.err()).toBe('');
        expect(code).toBe(1);
        expect(io.out()).toMatch(/^error\[SEG1001\]/m);
      }),
      { numRuns: 150 },
    );
  });

  it('gives token soups a report and exit 0 or 1 matching its errors, in every format, never exit 2', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }), fc.constantFrom('human', 'json', 'sarif'), async (tokens, format) => {
        const io = createMemoryIo({ 'soup.seg': tokens.join(' ') });
        const code = await run(['check', '--format', format, 'soup.seg'], io);
        expect(io.err()).toBe('');
        const out = io.out();
        if (format === 'human') expect(code).toBe(/^error\[/m.test(out) ? 1 : 0);
        else {
          const parsed = JSON.parse(out) as { diagnostics?: { severity: string }[]; runs?: { results: { level: string }[] }[] };
          const levels = parsed.diagnostics?.map((d) => d.severity) ?? parsed.runs?.[0]?.results.map((r) => r.level) ?? [];
          expect(code).toBe(levels.includes('error') ? 1 : 0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
