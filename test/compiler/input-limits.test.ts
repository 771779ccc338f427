import { describe, expect, it } from 'vitest';
import { Code } from '../../compiler/diagnostics.ts';
import { policyTextProblem } from '../../compiler/input-limits.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost, type CompilerHost } from '../../compiler/source.ts';

const POLICY = 'policy ingress default deny {\n  100 ssh: allow tcp from any to any port 22\n}\n';

function codesOf(files: Record<string, string>, roots: string[], options: Parameters<typeof compile>[2] = {}) {
  const c = compile(roots, createMemoryHost(files), options);
  return c.diagnostics.map((d) => ({ code: d.code, file: d.span.file, message: d.message }));
}

describe('what a compilation may read', () => {
  it('refuses an include over the size limit at the include, without reading its text into a diagnostic', () => {
    const got = codesOf({ 'main.seg': `include "big.seg"\n${POLICY}`, 'big.seg': `set x = 10.0.0.0/8\n${'#'.repeat(200)}\n` }, ['main.seg'], { limits: { maxFileBytes: 100 } });
    expect(got).toEqual([{ code: Code.IncludeRefused, file: 'main.seg', message: "cannot read 'big.seg': it holds 220 bytes, more than the 100 a policy file may" }]);
  });

  it('refuses files past the total limit of the compilation', () => {
    const got = codesOf({ 'main.seg': `include "a.seg"\n${POLICY}`, 'a.seg': 'set a = 10.0.0.0/8\n'.repeat(10) }, ['main.seg'], { limits: { maxTotalBytes: 150 } });
    expect(got.map((d) => d.code)).toEqual(['SEG4003']);
    expect(got[0]?.message).toMatch(/hold more than 150 bytes together/);
  });

  it('stops includes nested deeper than the limit (a chain no path-based cycle check sees)', () => {
    const files: Record<string, string> = { 'f0.seg': `include "f1.seg"\n${POLICY}` };
    for (let i = 1; i < 10; i++) files[`f${i}.seg`] = `include "f${i + 1}.seg"\n`;
    files['f10.seg'] = 'set x = 10.0.0.0/8\n';
    expect(codesOf(files, ['f0.seg'])).toEqual([]);
    const got = codesOf(files, ['f0.seg'], { limits: { maxIncludeDepth: 4 } });
    expect(got).toEqual([{ code: Code.IncludeTooDeep, file: 'f4.seg', message: "includes nested more than 4 deep at 'f5.seg'" }]);
  });

  it('says an included file that is not a policy is not one, and shows nothing of it', () => {
    const got = codesOf({ 'main.seg': `include "passwd"\n${POLICY}`, passwd: 'root:x:0:0:root:/root:/bin/bash\n' }, ['main.seg']);
    expect(got).toEqual([{ code: 'SEG4005', file: 'main.seg', message: "'passwd' is not a segc policy: it does not start with a declaration (include, set, ports, policy or test); its content is not shown" }]);
  });

  it('decides "not a policy" on NUL bytes, replacement characters, bad characters and a first word that starts no declaration', () => {
    expect(policyTextProblem('set a = 10.0.0.0/8\u0000')).toMatch(/NUL/);
    expect(policyTextProblem('set a = \uFFFD')).toMatch(/UTF-8/);
    expect(policyTextProblem('root:$6$abc:1::\n')).toMatch(/not segc syntax/);
    expect(policyTextProblem('myhost\n')).toMatch(/does not start with a declaration/);
    expect(policyTextProblem('# comment\n\nset a = 10.0.0.0/8\n')).toBeUndefined();
    expect(policyTextProblem('')).toBeUndefined();
    // A typo further down is the policy's own mistake, reported with its text as usual.
    expect(policyTextProblem(`${POLICY}\n\n\n\n\n\n\n\n\npolicy egress default deny {\n  100 x: allow tcp from ;\n}\n`)).toBeUndefined();
  });

  it('still quotes a root file the user named, and an include that is a policy with a mistake', () => {
    const got = codesOf({ 'main.seg': 'include "lib.seg"\n' + POLICY, 'lib.seg': 'set a = 10.0.0.0/33\n' }, ['main.seg']);
    expect(got.map((d) => d.code)).toEqual(['SEG3004']);
  });

  it('stops over its time budget, names what was not done, and gives no IR', () => {
    let t = 0;
    // Each read of the clock is a second later: the budget of 1.5 s runs out while reading.
    const c = compile(['main.seg'], createMemoryHost({ 'main.seg': POLICY }), { budgetMs: 1500, now: () => (t += 1000) });
    expect(c.ir).toBeUndefined();
    expect(c.diagnostics.map((d) => [d.code, d.message])).toEqual([[Code.CompileBudget, 'compilation stopped after 1500 ms: lowering, and with it the rule analysis and the packet tests, was not done']]);
  });

  it('stops over its memory budget as over its time budget: names what was not done, the budget and its option, and gives no IR', () => {
    let used = 100 << 20;
    // Each reading of the host's memory measure is 64 MiB more: a 100 MiB budget runs out while reading.
    const c = compile(['main.seg'], createMemoryHost({ 'main.seg': POLICY }), { memoryBudgetBytes: 100 << 20, memoryUsed: () => (used += 64 << 20) });
    expect(c.ir).toBeUndefined();
    expect(c.diagnostics.map((d) => [d.code, d.message, d.hint])).toEqual([
      [Code.CompileBudget, 'compilation stopped after 100 MiB of memory: lowering, and with it the rule analysis and the packet tests, was not done', 'raise --compile-memory, or split the policy'],
    ]);
    // Within its budget, or with none (0, or no measure from the host), it compiles.
    expect(compile(['main.seg'], createMemoryHost({ 'main.seg': POLICY }), { memoryBudgetBytes: 1 << 30, memoryUsed: () => (used += 64 << 20) }).ir).toBeDefined();
    expect(compile(['main.seg'], createMemoryHost({ 'main.seg': POLICY }), { memoryBudgetBytes: 0, memoryUsed: () => (used += 64 << 20) }).ir).toBeDefined();
  });

  it('stops the rule analysis when the memory budget runs out during it, saying what was not analysed', () => {
    const rules = Array.from({ length: 400 }, (_, i) => `  ${100 + i} r${i}: allow tcp from 10.${i >> 8}.${i & 255}.0/24 to any port ${1000 + (i % 50)}`).join('\n');
    const text = `policy ingress default deny {\n${rules}\n}\n`;
    let reads = 0;
    // Flat until the analysis has read the measure a few times, then far past the ceiling.
    const c = compile(['main.seg'], createMemoryHost({ 'main.seg': text }), { analysis: { budgetMs: 60_000 }, memoryBudgetBytes: 1 << 30, memoryUsed: () => (++reads > 6 ? 8 * 1024 ** 3 : 0) });
    expect(c.ir).toBeDefined();
    const incomplete = c.diagnostics.filter((d) => d.code === Code.AnalysisIncomplete);
    expect(incomplete.map((d) => [d.message.replace(/: .*/, ''), d.hint])).toEqual([['rule analysis stopped after 1024 MiB of memory', 'raise --compile-memory, or split the policy']]);
    expect(c.analysis?.complete).toBe(false);
  });

  it('uses a host that reads with care when it has one', () => {
    const host: CompilerHost = {
      readFile: () => {
        throw new Error('readFile must not be called when readSource exists');
      },
      readSource: (path) => (path === 'main.seg' ? { kind: 'text', text: `include "dev.seg"\n${POLICY}` } : { kind: 'refused', reason: 'it is a FIFO, not a regular file', hint: 'name a .seg policy file' }),
      resolveInclude: (_from, spec) => spec,
    };
    const c = compile(['main.seg'], host);
    expect(c.diagnostics.map((d) => [d.code, d.message, d.hint])).toEqual([['SEG4003', "cannot read 'dev.seg': it is a FIFO, not a regular file", 'name a .seg policy file']]);
  });
});
