// The set or port set under the cursor and every place it occurs: its declaration and its uses,
// across the files of every open compilation that declares it (names are shared by all files
// of a compilation). Shared by definition, references and rename.
import type { Name } from '../../compiler/ast.ts';
import type { DeclSymbol, SymbolKind } from '../../compiler/resolve.ts';
import type { SourceFile, Span } from '../../compiler/source.ts';
import type { DocumentSnapshot } from './snapshot.ts';
import { findNodeAt } from './node-at.ts';

export interface SymbolAt {
  readonly kind: SymbolKind;
  readonly name: string;
  /** The name under the cursor (a use or the declaration's own name). */
  readonly at: Span;
  /** The resolved declaration, when the name resolved. */
  readonly symbol: DeclSymbol | undefined;
}

/** The name of a set or port set at an offset of a file of the snapshot, resolved in it. */
export function symbolAt(snapshot: DocumentSnapshot, path: string, offset: number): SymbolAt | undefined {
  const ast = snapshot.compilation.asts.get(path);
  if (!ast) return undefined;
  const node = findNodeAt(ast, offset);
  const resolved = snapshot.compilation.resolved;
  if (node?.kind === 'reference') {
    const kind: SymbolKind = node.ref.kind === 'SetRef' ? 'set' : 'ports';
    const target = resolved.references.get(node.ref) ?? undefined;
    return { kind, name: node.ref.name, at: node.ref.span, symbol: target };
  }
  if (node?.kind === 'declaration') {
    const symbol = resolved.symbols.get(node.decl.name.name);
    return { kind: node.decl.kind === 'SetDecl' ? 'set' : 'ports', name: node.decl.name.name, at: node.decl.name.span, symbol };
  }
  return undefined;
}

export interface Occurrences {
  readonly declaration: Name;
  /** Every use, from every open compilation holding the declaration, without repeats. */
  readonly uses: readonly Span[];
  /** The sources the spans lie in. */
  readonly sources: ReadonlyMap<string, SourceFile>;
}

/** The declaration of a resolved symbol and its uses in every open compilation that holds it. */
export function occurrencesOf(symbol: DeclSymbol, all: readonly DocumentSnapshot[]): Occurrences {
  const decl = symbol.decl.name.span;
  const seen = new Set<string>();
  const uses: Span[] = [];
  const sources = new Map<string, SourceFile>();
  for (const s of all) {
    const other = s.compilation.resolved.symbols.get(symbol.name);
    if (!other || other.kind !== symbol.kind || !sameSpan(other.decl.name.span, decl)) continue;
    for (const [p, f] of s.compilation.sources) if (!sources.has(p)) sources.set(p, f);
    for (const u of other.uses) {
      const key = `${u.file}\0${u.start}`;
      if (seen.has(key)) continue;
      seen.add(key);
      uses.push(u);
    }
  }
  return { declaration: symbol.decl.name, uses, sources };
}

function sameSpan(a: Span, b: Span): boolean {
  return a.file === b.file && a.start === b.start && a.end === b.end;
}
