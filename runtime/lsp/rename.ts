// Rename a set or port set in every file of the open compilations that hold it: its declaration
// and each use. Refused, with a message, for a name that is not a name, is a keyword, or is
// already declared (it would clash: SEG2003).
import { ResponseError, ErrorCodes, type Range, type TextEdit, type WorkspaceEdit } from 'vscode-languageserver';
import { positionOf } from '../../compiler/source.ts';
import { CONTEXTUAL_WORDS, EXTENSION_KEYWORDS, KEYWORDS } from '../../compiler/tokens.ts';
import type { DocumentSnapshot } from './snapshot.ts';
import { rangeOf, uriOfPath } from './positions.ts';
import { occurrencesOf, symbolAt } from './symbols.ts';

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const RESERVED: ReadonlySet<string> = new Set<string>([...KEYWORDS, ...EXTENSION_KEYWORDS, ...CONTEXTUAL_WORDS]);

/** The range of the name to rename, or an error saying why there is nothing to rename here. */
export function prepareRename(snapshot: DocumentSnapshot, path: string, offset: number): Range {
  const found = symbolAt(snapshot, path, offset);
  const file = snapshot.compilation.sources.get(path);
  if (!found || !file) throw new ResponseError(ErrorCodes.InvalidRequest, 'only a set or port set can be renamed');
  if (!found.symbol) throw new ResponseError(ErrorCodes.InvalidRequest, `'${found.name}' is not declared; declare it before renaming it`);
  return rangeOf(file, found.at);
}

export function rename(snapshot: DocumentSnapshot, all: readonly DocumentSnapshot[], path: string, offset: number, newName: string): WorkspaceEdit {
  prepareRename(snapshot, path, offset);
  const found = symbolAt(snapshot, path, offset);
  const symbol = found?.symbol;
  if (!symbol) throw new ResponseError(ErrorCodes.InvalidRequest, 'only a set or port set can be renamed');
  if (!NAME.test(newName)) throw new ResponseError(ErrorCodes.InvalidParams, `'${newName}' is not a name: a name starts with a letter or _ and goes on with letters, digits, _ and -`);
  if (RESERVED.has(newName)) throw new ResponseError(ErrorCodes.InvalidParams, `'${newName}' is a keyword of the language`);
  if (newName === symbol.name) return { changes: {} };
  for (const s of all) {
    if (!s.compilation.resolved.symbols.has(symbol.name)) continue;
    const clash = s.compilation.resolved.symbols.get(newName);
    if (clash) {
      const where = s.compilation.sources.get(clash.decl.name.span.file);
      const at = where ? `${where.path}:${positionOf(where, clash.decl.name.span.start).line}` : clash.decl.name.span.file;
      throw new ResponseError(ErrorCodes.InvalidParams, `'${newName}' is already declared (${at}); names are shared by every file of a compilation`);
    }
  }
  const occ = occurrencesOf(symbol, all);
  const changes: Record<string, TextEdit[]> = {};
  for (const span of [occ.declaration.span, ...occ.uses]) {
    const file = occ.sources.get(span.file);
    if (!file) continue;
    (changes[uriOfPath(file.path)] ??= []).push({ range: rangeOf(file, span), newText: newName });
  }
  return { changes };
}
