// The diagnostic code table kept honest: no duplicate codes, codes in the block of their
// category, every code documented in docs/diagnostics.md (with the
// table's severity, category and title), and every live code triggered by some test.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Code, DIAGNOSTICS, makeDiagnostic, type Category, type DiagnosticCode } from '../../compiler/diagnostics.ts';
import { analyze } from '../../compiler/analysis/index.ts';
import { compile } from '../../compiler/program.ts';
import { DIAGNOSTIC_TITLES } from '../../compiler/report/titles.ts';
import { createMemoryHost } from '../../compiler/source.ts';

const ROOT = join(import.meta.dirname, '../..');
const codes = Object.values(Code);
const table = Object.entries(DIAGNOSTICS);

/** Which categories each thousand-block of codes may hold (STYLE.md, "Diagnostics"). */
const BLOCK_CATEGORIES: Readonly<Record<string, readonly Category[]>> = {
  '1': ['syntax'],
  '2': ['name'],
  '3': ['value'],
  '4': ['include'],
  '5': ['shadowed', 'redundant', 'conflict', 'generalization', 'lockout', 'session', 'internal'],
  '9': ['internal'],
};

interface DocSection {
  readonly title: string;
  readonly severity: string;
  readonly category: string;
  readonly body: string;
}

/** The `### SEGnnnn` sections of the docs, each opened by `**Title** · severity · category `x``. */
function readDocSections(): Map<string, DocSection> {
  const text = readFileSync(join(ROOT, 'docs/diagnostics.md'), 'utf8');
  const sections = new Map<string, DocSection>();
  const parts = text.split(/^### (SEG\d{4})\s*$/m);
  for (let i = 1; i < parts.length; i += 2) {
    const code = parts[i] ?? '';
    const body = parts[i + 1] ?? '';
    const head = /^\s*\*\*(.+?)\*\* · (\w+) · category `(\w+)`/.exec(body);
    if (sections.has(code)) throw new Error(`docs/diagnostics.md has two sections for ${code}`);
    sections.set(code, { title: head?.[1] ?? '', severity: head?.[2] ?? '', category: head?.[3] ?? '', body });
  }
  return sections;
}

/**
 * The files of a docs example: `# name.seg` lines start a new file (else it is one `x.seg`),
 * and a fragment of bare rule lines is put inside a policy block.
 */
function exampleFiles(example: string): Record<string, string> {
  const files: Record<string, string> = {};
  let current = 'x.seg';
  for (const line of example.split('\n')) {
    const header = /^# (\S+\.seg)$/.exec(line);
    if (header) current = header[1] ?? current;
    else files[current] = (files[current] ?? '') + line + '\n';
  }
  for (const [name, text] of Object.entries(files)) if (/^\s+\d/.test(text)) files[name] = `policy ingress {\n${text}}\n`;
  return files;
}

function listFiles(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (keep(path)) out.push(path);
    }
  };
  walk(dir);
  return out;
}

// Tests that build diagnostics by hand to check a reporter show how a code looks, not that
// anything reports it; they (and this file) do not count as triggering a code.
const NOT_TRIGGERS = [/^test\/compiler\/report\//, /^test\/compiler\/diagnostics\.test\.ts$/];

/**
 * The codes some test makes the compiler report: those in golden baselines (`error[SEG3003]`),
 * and those test sources name (`Code.HostBitsSet`, `'SEG3003'`) outside the reporter tests.
 */
function triggeredCodes(): Set<string> {
  const found = new Set<string>();
  const byName = new Map<string, string>(Object.entries(Code));
  for (const path of listFiles(join(ROOT, 'test/baselines'), (p) => p.endsWith('.txt'))) {
    for (const m of readFileSync(path, 'utf8').matchAll(/^(?:error|warning|info)\[(SEG\d{4})\]/gm)) found.add(m[1] ?? '');
  }
  const sources = listFiles(join(ROOT, 'test'), (p) => p.endsWith('.ts')).filter((p) => !NOT_TRIGGERS.some((re) => re.test(relative(ROOT, p))));
  for (const path of sources) {
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(/\bCode\.(\w+)/g)) {
      const code = byName.get(m[1] ?? '');
      if (code !== undefined) found.add(code);
    }
    for (const m of text.matchAll(/['"`](SEG\d{4})['"`]/g)) found.add(m[1] ?? '');
  }
  return found;
}

describe('the diagnostic table', () => {
  it('has no duplicate code, and each entry sits under its own code', () => {
    expect(new Set(codes).size).toBe(codes.length);
    expect(table.map(([key]) => key).sort()).toEqual([...codes].sort());
    for (const [key, def] of table) expect(def.code, key).toBe(key);
  });

  it('names codes SEGnnnn, each in the block of its category', () => {
    for (const [key, def] of table) {
      expect(key).toMatch(/^SEG\d{4}$/);
      expect(BLOCK_CATEGORIES[key.charAt(3)] ?? [], key).toContain(def.category);
    }
  });

  it('drops a hint whose holes have no value instead of printing a half-filled hint', () => {
    const span = { file: 'a.seg', start: 0, end: 1 };
    expect(makeDiagnostic(Code.UnknownSet, span, { name: 'ofice' }).hint).toBeUndefined();
    expect(makeDiagnostic(Code.UnknownSet, span, { name: 'ofice', suggestion: 'office' }).hint).toBe("did you mean 'office'?");
  });
});

describe('docs/diagnostics.md', () => {
  const sections = readDocSections();

  it('has a section for every code, stating its severity, category and title', () => {
    for (const [key, def] of table) {
      const section = sections.get(key);
      expect(section, `docs/diagnostics.md lacks a section for ${key}`).toBeDefined();
      expect(section?.severity, key).toBe(def.severity);
      expect(section?.category, key).toBe(def.category);
      expect(section?.title, key).toBe(DIAGNOSTIC_TITLES[key as DiagnosticCode]);
      if (def.retired === true) expect(section?.body, key).toMatch(/retired/i);
      else expect(section?.body, key).toMatch(/\*\*Fix:\*\*/);
    }
  });

  it('gives examples that really report their code (through the rule analysis where it is one of its codes)', () => {
    for (const [code, section] of sections) {
      const example = /```seg\n([\s\S]*?)```/.exec(section.body)?.[1];
      if (example === undefined) continue;
      const files = exampleFiles(example);
      const compilation = compile([Object.keys(files)[0] ?? ''], createMemoryHost(files));
      const reported = compilation.diagnostics.map((d) => d.code);
      if (compilation.ir !== undefined) reported.push(...analyze(compilation.ir).diagnostics.map((d) => d.code));
      expect(reported, `the example of ${code}`).toContain(code);
    }
  });

  it('documents no code that the table lacks', () => {
    for (const code of sections.keys()) expect(codes as readonly string[], code).toContain(code);
  });
});

describe('test coverage of the codes', () => {
  it('triggers every code that is not retired in some test', () => {
    const triggered = triggeredCodes();
    const untested = table.filter(([key, def]) => def.retired !== true && !triggered.has(key)).map(([key]) => key);
    expect(untested, 'codes no test triggers (add a test/cases/segNNNN-*.seg case)').toEqual([]);
  });
});
