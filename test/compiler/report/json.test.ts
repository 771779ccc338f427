// The JSON reporter: exactly the shape of cli.md, 1-based positions, optional fields only where
// they apply.
import { describe, expect, it } from 'vitest';
import { Code, makeDiagnostic } from '../../../compiler/diagnostics.ts';
import { formatJson, toJsonReport } from '../../../compiler/report/json.ts';
import { createSourceFile } from '../../../compiler/source.ts';

const file = createSourceFile('dir/web.seg', 'set office = 10.20.0.0/16\npolicy ingress {\n  100 allow tcp from ofice to any\n}\n');
const sources = new Map([[file.path, file]]);
const at = (needle: string) => {
  const start = file.text.indexOf(needle);
  return { file: file.path, start, end: start + needle.length };
};

describe('toJsonReport', () => {
  it('gives each diagnostic its code, severity, category, message, hint and 1-based span', () => {
    const d = makeDiagnostic(Code.UnknownSet, at('ofice'), { name: 'ofice', suggestion: 'office' });
    const report = toJsonReport([d], sources, { fileCount: 1 });
    expect(report.diagnostics).toEqual([
      {
        code: 'SEG2001',
        severity: 'error',
        category: 'name',
        message: "unknown address set 'ofice'",
        hint: "did you mean 'office'?",
        location: 'dir/web.seg:3',
        file: 'dir/web.seg',
        line: 3,
        column: 22,
        endLine: 3,
        endColumn: 27,
      },
    ]);
    expect(report.summary).toEqual({ errors: 1, warnings: 0, infos: 0, files: 1 });
  });

  it('lists related places and the witness where a diagnostic has them', () => {
    const d = makeDiagnostic(
      Code.Shadowed,
      at('100 allow tcp from ofice to any'),
      { rule: 'ingress/100', blockers: 'x' },
      { related: [{ span: at('set office'), message: 'covered here' }], witness: { proto: 'tcp', src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 22 } },
    );
    const [j] = toJsonReport([d], sources, { fileCount: 1 }).diagnostics;
    expect(j?.related).toEqual([{ location: 'dir/web.seg:1', file: 'dir/web.seg', line: 1, column: 1, endLine: 1, endColumn: 11, message: 'covered here' }]);
    expect(j?.witness).toEqual({ proto: 'tcp', src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 22 });
  });

  it('leaves out related, witness and hint where they do not apply', () => {
    const d = makeDiagnostic(Code.CyclicDeclaration, at('office'), { name: 'office', cycle: 'office -> office' });
    const [j] = toJsonReport([d], sources, { fileCount: 1 }).diagnostics;
    expect(Object.keys(j ?? {})).toEqual(['code', 'severity', 'category', 'message', 'location', 'file', 'line', 'column', 'endLine', 'endColumn']);
  });
});

describe('formatJson', () => {
  it('writes one JSON object that parses back to the report, ending with a newline', () => {
    const d = makeDiagnostic(Code.UnusedSet, at('office'), { name: 'office' });
    const text = formatJson([d], sources, { fileCount: 2 });
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text)).toEqual(toJsonReport([d], sources, { fileCount: 2 }));
  });

  it('writes an empty list when there is nothing to report', () => {
    expect(JSON.parse(formatJson([], sources, { fileCount: 1 }))).toEqual({ diagnostics: [], summary: { errors: 0, warnings: 0, infos: 0, files: 1 } });
  });
});
