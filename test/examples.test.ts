// The example policies in examples/: each one, checked on its own (names are global to a
// compilation, so two examples together would clash), compiles with no error and no warning,
// passes `segc check` and `segc fmt --check`, and covers what its header promises. The packet
// tests beside a policy (`*.test.seg`) pass `segc test` with it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../compiler/analysis/index.ts';
import { Code } from '../compiler/diagnostics.ts';
import { compile } from '../compiler/program.ts';
import { createMemoryHost, type Span } from '../compiler/source.ts';
import { createMemoryIo } from '../runtime/cli/io.ts';
import { run } from '../runtime/cli/main.ts';

const DIR = join(import.meta.dirname, '../examples');
const FILES: Readonly<Record<string, string>> = Object.fromEntries(
  readdirSync(DIR)
    .filter((f) => f.endsWith('.seg'))
    .sort()
    .map((f) => [`examples/${f}`, readFileSync(join(DIR, f), 'utf8')]),
);
const ALL_FILES = Object.keys(FILES);
/** Packet tests of the policy beside them (`segc test web-app-db.seg` takes them along). */
const TESTS = ALL_FILES.filter((p) => p.endsWith('.test.seg'));
const PATHS = ALL_FILES.filter((p) => !TESTS.includes(p));
/** Files that declare shared names for others to include; they hold no policy. */
const LIBRARIES = ['examples/common.seg'];
const POLICIES = PATHS.filter((p) => !LIBRARIES.includes(p));

function compileExample(path: string) {
  return compile([path], createMemoryHost(FILES));
}

describe('the examples', () => {
  it('are the four host policies, the library they share and one policy\'s packet tests', () => {
    expect(TESTS).toEqual(['examples/web-app-db.test.seg']);
    expect(PATHS).toEqual([
      'examples/common.seg',
      'examples/db-host.seg',
      'examples/ipv6-host.seg',
      'examples/k8s-node.seg',
      'examples/web-app-db.seg',
    ]);
  });

  it.each(PATHS)('%s compiles with no error and no warning', (path) => {
    const { ir, diagnostics } = compileExample(path);
    expect(diagnostics.filter((d) => d.severity !== 'info').map((d) => `${d.code} ${d.message}`)).toEqual([]);
    expect(ir).toBeDefined();
  });

  it.each(PATHS)('%s gets no error or warning from the rule analysis, which completes', (path) => {
    const ir = compileExample(path).ir;
    if (ir === undefined) throw new Error(`${path} does not compile`);
    const result = analyze(ir);
    expect(result.complete).toBe(true);
    expect(result.diagnostics.filter((d) => d.severity !== 'info').map((d) => `${d.code} ${d.message}`)).toEqual([]);
  });

  it('show the exception-first pattern, which the analysis reports as a generalization (info)', () => {
    const generalizations = POLICIES.flatMap((path) => {
      const ir = compileExample(path).ir;
      if (ir === undefined) return [];
      const ruleAt = (span: Span) => ir.rules.find((r) => r.span.file === span.file && r.span.start === span.start)?.name;
      return analyze(ir)
        .diagnostics.filter((d) => d.code === Code.Generalization)
        .map((d) => `${path}: ${ruleAt(d.span)} generalizes ${d.related.map((r) => ruleAt(r.span)).join(', ')}`);
    });
    expect(generalizations).toEqual(['examples/ipv6-host.seg: ndp-link generalizes ra-guard', 'examples/k8s-node.seg: no-mail generalizes relay']);
  });

  it.each(POLICIES)('%s has rules in both directions', (path) => {
    const ir = compileExample(path).ir;
    expect(ir?.ingress.rules.length).toBeGreaterThan(0);
    expect(ir?.egress.rules.length).toBeGreaterThan(0);
  });

  it.each(PATHS)('%s passes segc check and segc fmt --check', async (path) => {
    const io = createMemoryIo(FILES);
    expect(await run(['check', path], io)).toBe(0);
    const fmtIo = createMemoryIo(FILES);
    expect(await run(['fmt', '--check', path], fmtIo)).toBe(0);
    expect(fmtIo.out()).toBe('');
  });

  it.each(TESTS)('%s passes segc test with its policy, and segc fmt --check', async (path) => {
    const policy = path.replace(/\.test\.seg$/, '.seg');
    const io = createMemoryIo(FILES);
    expect(await run(['test', policy], io), io.out() + io.err()).toBe(0);
    expect(io.out()).toMatch(/^\d+ expectations in \d+ tests: (\d+) passed, 0 failed$/m);
    const fmtIo = createMemoryIo(FILES);
    expect(await run(['fmt', '--check', path], fmtIo)).toBe(0);
  });

  it('share common.seg through include', () => {
    const includers = POLICIES.filter((p) => compileExample(p).sources.has('examples/common.seg'));
    expect(includers).toEqual(['examples/db-host.seg', 'examples/web-app-db.seg']);
  });

  it('use every declaration of the shared library somewhere', () => {
    const unused = new Set<string>();
    const used = new Set<string>();
    for (const path of POLICIES) {
      for (const d of compileExample(path).ir?.declarations ?? []) {
        if (d.span.file !== 'examples/common.seg') continue;
        (d.uses.length === 0 ? unused : used).add(d.name);
      }
    }
    expect([...unused].filter((name) => !used.has(name))).toEqual([]);
  });

  it('cover the cases their headers name', () => {
    const text = (name: string) => FILES[`examples/${name}`] ?? '';
    expect(text('k8s-node.seg')).toMatch(/30000-32767/);
    expect(text('k8s-node.seg')).toMatch(/port etcd/);
    expect(text('ipv6-host.seg')).toMatch(/fe80::\/10/);
    expect(text('ipv6-host.seg')).toMatch(/ except /);
    expect(text('ipv6-host.seg')).toMatch(/neighbor-solicitation/);
    expect(text('ipv6-host.seg')).toMatch(/dhcp6_server/);
  });
});
