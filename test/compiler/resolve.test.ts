import { describe, expect, it } from 'vitest';
import type { FileAst, SetRef } from '../../compiler/ast.ts';
import { createCollector, type Diagnostic } from '../../compiler/diagnostics.ts';
import { resolve, type ParseFile } from '../../compiler/resolve.ts';
import { createMemoryHost, normalizePosixPath, type Span } from '../../compiler/source.ts';
import { addr, fileAst, include, policy, ports, portsDecl, proto, rule, setDecl, textFile } from '../support/ast-builder.ts';

/** A parser stand-in that hands out prebuilt ASTs by path and counts how often each is asked for. */
function fakeParser(asts: Readonly<Record<string, FileAst>>): { parseFile: ParseFile; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  return {
    calls,
    parseFile: (file) => {
      calls.set(file.path, (calls.get(file.path) ?? 0) + 1);
      const ast = asts[normalizePosixPath(file.path)];
      if (!ast) throw new Error(`no AST for ${file.path}`);
      return ast;
    },
  };
}

function run(roots: string[], files: Record<string, { text: string; ast: FileAst }>) {
  const host = createMemoryHost(Object.fromEntries(Object.entries(files).map(([p, f]) => [p, f.text])));
  const { parseFile, calls } = fakeParser(Object.fromEntries(Object.entries(files).map(([p, f]) => [p, f.ast])));
  const diagnostics = createCollector();
  const resolved = resolve({ rootFiles: roots, host, parseFile, diagnostics });
  return { resolved, calls, diagnostics: diagnostics.items };
}

function brief(d: Diagnostic): { code: string; span: Span; message: string } {
  return { code: d.code, span: d.span, message: d.message };
}

describe('resolve: files and includes', () => {
  const mainText = 'include "lib/a.seg"\ninclude "lib/b.seg"\n';
  const aText = 'include "b.seg"\nset office = 10.0.0.0/8\n';
  const bText = 'ports web = 80\n';
  const main = textFile('main.seg', mainText);
  const a = textFile('lib/a.seg', aText);
  const b = textFile('lib/b.seg', bText);
  const files = {
    'main.seg': { text: mainText, ast: fileAst(main, [include(main, 'lib/a.seg'), include(main, 'lib/b.seg')]) },
    'lib/a.seg': { text: aText, ast: fileAst(a, [include(a, 'b.seg'), setDecl(a, 'office', addr(a, '10.0.0.0/8'))]) },
    'lib/b.seg': { text: bText, ast: fileAst(b, [portsDecl(b, 'web', ports(b, '80'))]) },
  };

  it('follows includes relative to the including file and parses each file once', () => {
    const { resolved, calls, diagnostics } = run(['main.seg'], files);
    expect(diagnostics).toEqual([]);
    expect(resolved.files.map((f) => f.path)).toEqual(['lib/a.seg', 'lib/b.seg', 'main.seg']);
    expect([...calls.values()]).toEqual([1, 1, 1]);
    expect([...resolved.symbols.keys()]).toEqual(['office', 'web']);
  });

  it('loads a root file that another root also includes only once, however its path is spelled', () => {
    const { resolved, calls } = run(['./lib/b.seg', 'main.seg', 'lib/../main.seg'], files);
    expect(resolved.files.map((f) => f.path)).toEqual(['./lib/b.seg', 'lib/../main.seg', 'lib/a.seg']);
    expect([...calls.values()]).toEqual([1, 1, 1]);
  });

  it('reports a missing include at the include string, with the resolved path', () => {
    const text = 'include "nope.seg"\n';
    const f = textFile('dir/main.seg', text);
    const { diagnostics } = run(['dir/main.seg'], { 'dir/main.seg': { text, ast: fileAst(f, [include(f, 'nope.seg')]) } });
    expect(diagnostics.map(brief)).toEqual([{ code: 'SEG4001', span: f.at('"nope.seg"'), message: "cannot find included file 'dir/nope.seg'" }]);
  });

  it('reports a missing root file at its start', () => {
    const { diagnostics } = run(['gone.seg'], {});
    expect(diagnostics.map(brief)).toEqual([{ code: 'SEG4001', span: { file: 'gone.seg', start: 0, end: 0 }, message: "cannot find included file 'gone.seg'" }]);
  });

  it('reports an include cycle once, naming the chain, whatever the order of the roots', () => {
    const xText = 'include "y.seg"\n';
    const yText = 'include "x.seg"\n';
    const x = textFile('x.seg', xText);
    const y = textFile('y.seg', yText);
    const cyc = {
      'x.seg': { text: xText, ast: fileAst(x, [include(x, 'y.seg')]) },
      'y.seg': { text: yText, ast: fileAst(y, [include(y, 'x.seg')]) },
    };
    const expected = [{ code: 'SEG4002', span: y.at('"x.seg"'), message: 'include cycle: x.seg -> y.seg -> x.seg' }];
    expect(run(['x.seg', 'y.seg'], cyc).diagnostics.map(brief)).toEqual(expected);
    expect(run(['y.seg', 'x.seg'], cyc).diagnostics.map(brief)).toEqual(expected);
  });

  it('reports a file that includes itself', () => {
    const text = 'include "self.seg"\n';
    const f = textFile('self.seg', text);
    const { diagnostics } = run(['self.seg'], { 'self.seg': { text, ast: fileAst(f, [include(f, 'self.seg')]) } });
    expect(diagnostics.map(brief)).toEqual([{ code: 'SEG4002', span: f.at('"self.seg"'), message: 'include cycle: self.seg -> self.seg' }]);
  });
});

describe('resolve: names', () => {
  const text = [
    'set office = 10.0.0.0/8',
    'set admins = office',
    'ports web = 80',
    'policy ingress {',
    '  100 allow tcp from admins to any port web',
    '  200 allow tcp from ofice to any port admins',
    '}',
    '',
  ].join('\n');
  const f = textFile('n.seg', text);
  const r100 = rule(f, 100, { protocol: proto(f, 'tcp'), src: addr(f, 'admins', 1), dst: addr(f, 'any'), dstPorts: ports(f, 'web', 1) });
  const r200 = rule(f, 200, { protocol: proto(f, 'tcp', 1), src: addr(f, 'ofice'), dst: addr(f, 'any', 1), dstPorts: ports(f, 'admins', 2) });
  const ast = fileAst(f, [
    setDecl(f, 'office', addr(f, '10.0.0.0/8')),
    setDecl(f, 'admins', addr(f, 'office', 1)),
    portsDecl(f, 'web', ports(f, '80')),
    policy(f, 'ingress', [r100, r200]),
  ]);

  it('points references at their declarations and records every use', () => {
    const { resolved, diagnostics } = run(['n.seg'], { 'n.seg': { text, ast } });
    expect(resolved.references.get(r100.src as SetRef)?.name).toBe('admins');
    expect(resolved.symbols.get('office')?.uses).toEqual([f.at('office', 1)]);
    expect(resolved.symbols.get('admins')?.uses).toEqual([f.at('admins', 1)]);
    expect(resolved.symbols.get('web')?.uses).toEqual([f.at('web', 1)]);
    // The two mistakes of rule 200: an unknown name (with a suggestion) and a wrong kind.
    expect(diagnostics.map((d) => [d.code, d.message, d.hint])).toEqual([
      ['SEG2001', "unknown address set 'ofice'", "did you mean 'office'?"],
      ['SEG2006', "'admins' is an address set, but a port set is expected here", undefined],
    ]);
    expect(resolved.references.get(r200.src as SetRef)).toBeNull();
  });
});
