// Find references: every use of a set or port set in the open compilations that hold its
// declaration (and the declaration itself when the client asks for it).
import type { Location } from 'vscode-languageserver';
import type { DocumentSnapshot } from './snapshot.ts';
import { rangeOf, uriOfPath } from './positions.ts';
import { occurrencesOf, symbolAt } from './symbols.ts';

export function findReferences(snapshot: DocumentSnapshot, all: readonly DocumentSnapshot[], path: string, offset: number, includeDeclaration: boolean): Location[] {
  const found = symbolAt(snapshot, path, offset);
  if (!found?.symbol) return [];
  const occ = occurrencesOf(found.symbol, all);
  const spans = includeDeclaration ? [occ.declaration.span, ...occ.uses] : occ.uses;
  return spans.flatMap((span) => {
    const file = occ.sources.get(span.file);
    return file ? [{ uri: uriOfPath(file.path), range: rangeOf(file, span) }] : [];
  });
}
