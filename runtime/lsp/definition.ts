// Go to definition: from a use of a set or port set to its declaration (in whichever file of
// the compilation declares it), from a declaration to itself, from an include to the file.
import type { Location } from 'vscode-languageserver';
import { resolvePosixInclude } from '../../compiler/source.ts';
import type { DocumentSnapshot } from './snapshot.ts';
import { findNodeAt } from './node-at.ts';
import { rangeOf, uriOfPath } from './positions.ts';
import { symbolAt } from './symbols.ts';

export function findDefinition(snapshot: DocumentSnapshot, path: string, offset: number): Location | undefined {
  const ast = snapshot.compilation.asts.get(path);
  if (!ast) return undefined;
  const node = findNodeAt(ast, offset);
  if (node?.kind === 'include') {
    const target = resolvePosixInclude(path, node.include.path);
    // An include that could not be read has no place to go to.
    if (!snapshot.compilation.sources.has(target)) return undefined;
    return { uri: uriOfPath(target), range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } };
  }
  const found = symbolAt(snapshot, path, offset);
  const decl = found?.symbol?.decl.name.span;
  const file = decl && snapshot.compilation.sources.get(decl.file);
  if (!decl || !file) return undefined;
  return { uri: uriOfPath(file.path), range: rangeOf(file, decl) };
}
