// Incremental re-parsing of one open document, for the language server (runtime/lsp/). Takes a
// document's text and then its edits; gives, after each edit, the file's AST and syntax
// diagnostics exactly as `parseSourceFile` gives them for the whole new text, re-lexing and
// re-reading only the lines the edit touched.
//
// API (plain data in, plain data out; no disk, no clock):
//
//   createIncrementalDocument(path, text): IncrementalDocument
//     Parses the whole text once.
//   applyEdit(doc, { start, end, text }): IncrementalDocument
//     Replaces doc.text[start, end) by `text` (offsets in UTF-16 code units, as LSP's with
//     `positionEncoding: utf-16`, converted from line:character by the caller) and returns the
//     new document. `doc` is consumed: its tokens, and the rule nodes its AST shares with the
//     returned one, are moved in place (a copy of every rule after the edit was most of an
//     edit's cost), so keep only the returned document; a compilation made from `doc` has those
//     rules' spans in the new text's offsets too. The returned `ast` and `diagnostics` hold until
//     the next edit.
//     Throws a RangeError for offsets outside the text or start > end.
//   checkDocument(doc, host?, options?): Compilation
//     `compile` of the document as root (resolve, lower, analysis when asked) with this
//     document's AST in place of a parse of it; includes are read through `host` (default: a
//     host that knows only this document).
//   parseFileWith(docs): ParseFile
//     The parser of a compilation that several open documents take part in (the language
//     server's): a file whose path and text are a document's gets that document's AST.
//
// What holds: after any sequence of edits, `doc.ast` and `doc.diagnostics` equal (deeply, field
// order included) what `parseSourceFile` gives for `doc.text`, and `checkDocument` gives what
// `compile` gives from scratch (a test checks both on random edits to a 10k-rule file).
//
// How: the file is its lines; a rule line is the unit the fast path reads
// (parse-rule-lines.ts), and the grammar only reads the lines that path leaves. An edit
// re-lexes the whole lines it touches (a token never spans a line), keeps every other token
// (shifting the offsets after the edit) and every other rule line's AST (the same nodes, moved
// with their line's first token, so the lowering cache finds them as they were),
// then the grammar re-reads the lines it reads anyway: headers, declarations and broken lines,
// few in a policy of many rules. An edit whose lines a multi-line `{ }` literal crosses, or
// that leaves a `{` open at its end, or that brings a lone `\r`, is parsed from scratch.
import type { IToken } from 'chevrotain';
import type { FileAst, RuleAst } from './ast.ts';
import { buildAst, buildAstBlocksHold, parseSourceFile } from './build-ast.ts';
import { createCollector, sortDiagnostics, type Diagnostic } from './diagnostics.ts';
import { isLiteralTokenType, tokenize } from './lexer.ts';
import { parseRuleLines } from './parse-rule-lines.ts';
import { parse } from './parser.ts';
import { createLowerCache, type LowerCache } from './lower.ts';
import { compile, type CompileOptions, type Compilation } from './program.ts';
import type { ParseFile } from './resolve.ts';
import { createMemoryHost, createSourceFile, type CompilerHost, type SourceFile, type Span } from './source.ts';
import { LCurly, Newline, Policy, RCurly, TestWord } from './tokens.ts';

export interface IncrementalDocument {
  readonly path: string;
  readonly text: string;
  /** The file's AST, as `parseSourceFile` gives it. */
  readonly ast: FileAst;
  /** The file's syntax diagnostics (SEG1xxx), sorted as `compile` sorts them. */
  readonly diagnostics: readonly Diagnostic[];
  /** Whether the last edit was re-parsed locally (false: from scratch). For tests and benches. */
  readonly incremental: boolean;
  /** What the next edit starts from; not for callers. */
  readonly state: IncrementalState;
}

/** A change of the text: [start, end) replaced by `text`. */
export interface TextEdit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

interface IncrementalState {
  /** The file's tokens, as `tokenize` gives them (Newlines with their meaning, a final one). */
  readonly tokens: IToken[];
  readonly comments: IToken[];
  /** The lexer's diagnostics, in the order `tokenize` adds them. */
  readonly lexical: Diagnostic[];
  /**
   * Every rule the fast path took, by its line's first token: those of the last parse, and
   * those of earlier ones whose line is still there (their spans follow the token when reused).
   */
  readonly rules: Map<IToken, RuleAst>;
  /** Set once `applyEdit` has consumed this state (its tokens were shifted). */
  consumed: boolean;
  /** The rules `checkDocument` lowered, passed from each version of the document to the next. */
  readonly lowerCache: LowerCache;
}

export function createIncrementalDocument(path: string, text: string): IncrementalDocument {
  return incrementalParseAll(path, text);
}

export function applyEdit(doc: IncrementalDocument, edit: TextEdit): IncrementalDocument {
  const old = doc.text;
  if (!(Number.isInteger(edit.start) && Number.isInteger(edit.end) && 0 <= edit.start && edit.start <= edit.end && edit.end <= old.length)) {
    throw new RangeError(`edit [${edit.start}, ${edit.end}) is outside the text (0..${old.length})`);
  }
  if (doc.state.consumed) throw new Error('this document was already edited: apply edits to the document applyEdit returned');
  doc.state.consumed = true;
  const text = old.slice(0, edit.start) + edit.text + old.slice(edit.end);
  return incrementalReparse(doc, edit, text) ?? incrementalParseAll(doc.path, text, doc.state.lowerCache);
}

/** `compile` with `doc` as the root file, its AST used as it is. */
export function checkDocument(doc: IncrementalDocument, host?: CompilerHost, options: Omit<CompileOptions, 'parseFile'> = {}): Compilation {
  const files = host ?? createMemoryHost({ [doc.path]: doc.text });
  return compile([doc.path], files, { lowerCache: doc.state.lowerCache, ...options, parseFile: parseFileWith(new Map([[doc.path, doc]])) });
}

/** `parseSourceFile`, except that a file whose path and text are a document's gets its AST. */
export function parseFileWith(docs: ReadonlyMap<string, IncrementalDocument>): ParseFile {
  return (file, diagnostics) => {
    const doc = docs.get(file.path);
    if (doc === undefined || file.text !== doc.text) return parseSourceFile(file, diagnostics);
    for (const d of doc.diagnostics) diagnostics.items.push(d);
    return doc.ast;
  };
}

// ---- From scratch -------------------------------------------------------------------------

function incrementalParseAll(path: string, text: string, lowerCache: LowerCache = createLowerCache()): IncrementalDocument {
  const file = createSourceFile(path, text);
  const collector = createCollector();
  const { tokens, comments } = tokenize(file, collector);
  const lexical = [...collector.items];
  const rules = new Map<IToken, RuleAst>();
  const result = incrementalParseTokens(file, tokens, comments, lexical, rules, () => undefined);
  return { path, text, ...result, incremental: false, state: { tokens, comments, lexical, rules, consumed: false, lowerCache } };
}

/** The grammar and the fast path over `tokens`, as parseSourceFile runs them. */
function incrementalParseTokens(
  file: SourceFile,
  tokens: IToken[],
  comments: readonly IToken[],
  lexical: readonly Diagnostic[],
  record: Map<IToken, RuleAst>,
  reuse: (first: IToken) => RuleAst | undefined,
): { ast: FileAst; diagnostics: Diagnostic[] } {
  const lines = parseRuleLines(file, tokens, { reuse, record });
  if (lines.taken > 0) {
    const trial = createCollector();
    for (const d of lexical) trial.items.push(d);
    const cst = parse(file, tokens, trial, lines.rest);
    if (buildAstBlocksHold(cst, lines.rest, lines.rulesByBlock)) {
      return { ast: buildAst(file, cst, comments, lines.rulesByBlock), diagnostics: sortDiagnostics(trial.items) };
    }
  }
  const collector = createCollector();
  for (const d of lexical) collector.items.push(d);
  const ast = buildAst(file, parse(file, tokens, collector), comments);
  return { ast, diagnostics: sortDiagnostics(collector.items) };
}

// ---- One edit -----------------------------------------------------------------------------

/** The edit re-parsed from the lines it touches, or undefined when it must be parsed whole. */
function incrementalReparse(doc: IncrementalDocument, edit: TextEdit, text: string): IncrementalDocument | undefined {
  const old = doc.text;
  const { tokens, comments, lexical, rules } = doc.state;
  // The whole lines the edit touches: [a, b) in the old text, [a, b + delta) in the new.
  const a = edit.start === 0 ? 0 : old.lastIndexOf('\n', edit.start - 1) + 1;
  const nl = old.indexOf('\n', edit.end);
  const b = nl < 0 ? old.length : nl + 1;
  const delta = edit.text.length - (edit.end - edit.start);
  const region = text.slice(a, b + delta);
  // A lone `\r` is a line break the line search above does not see.
  if (/\r(?!\n)/.test(region) || (a > 0 && old[a - 1] === '\r')) return undefined;
  const atEnd = b === old.length;
  // The old tokens of those lines: [i0, i1).
  const i0 = incrementalFirstAtOrAfter(tokens, a);
  const i1 = atEnd ? tokens.length : incrementalFirstAtOrAfter(tokens, b);
  // They must be whole statements: a kept Newline before and at the end (not joined by a
  // literal over several lines), and no literal left open before them.
  if (i0 > 0 && tokens[i0 - 1]!.tokenType !== Newline) return undefined;
  if (i1 > i0 && tokens[i1 - 1]!.tokenType !== Newline) return undefined;
  if (!incrementalNoOpenLiteral(tokens, i0)) return undefined;

  const regionFile = createSourceFile(doc.path, region);
  const regionCollector = createCollector();
  const lexed = tokenize(regionFile, regionCollector);
  let regionTokens = lexed.tokens;
  // tokenize ends its tokens with a Newline; one made up at the region's end (no text) is
  // the file's own only when the region ends the file.
  const last = regionTokens.at(-1);
  if (!atEnd && last !== undefined && last.image === '') regionTokens = regionTokens.slice(0, -1);
  if (!atEnd && (regionTokens.length === 0 || regionTokens.at(-1)!.tokenType !== Newline || regionTokens.at(-1)!.startOffset + regionTokens.at(-1)!.image.length !== region.length)) return undefined;
  if (!atEnd && !incrementalNoOpenLiteral(regionTokens, regionTokens.length)) return undefined;
  for (const t of regionTokens) incrementalShiftToken(t, a);
  for (const t of lexed.comments) incrementalShiftToken(t, a);

  // Tokens: before, the region's, after (shifted). The arrays are the consumed document's, so
  // they are changed in place (a keystroke's region is a few tokens; a copy is 10^5).
  // The rules of the lines the edit replaced go with their tokens; every other rule stays,
  // keyed by its line's first token, and moves with it when the walk takes it again.
  for (let i = i0; i < i1; i++) rules.delete(tokens[i]!);
  if (delta !== 0) for (let i = i1; i < tokens.length; i++) incrementalShiftToken(tokens[i]!, delta);
  const newTokens = incrementalSplice(tokens, i0, i1, regionTokens);
  const c0 = incrementalFirstAtOrAfter(comments, a);
  const c1 = atEnd ? comments.length : incrementalFirstAtOrAfter(comments, b);
  if (delta !== 0) for (let i = c1; i < comments.length; i++) incrementalShiftToken(comments[i]!, delta);
  const newComments = incrementalSplice(comments, c0, c1, lexed.comments);
  // The lexer's diagnostics: those of other lines kept (shifted after), the region's new ones.
  // (Their order does not matter: `parse` reads them as a set, and the result is sorted.)
  const inRegion = (d: Diagnostic) => d.span.start >= a && (d.span.start < b || (atEnd && d.span.start <= b));
  const newLexical = lexical
    .filter((d) => !inRegion(d))
    .map((d) => (d.span.start >= b ? incrementalShiftDiagnostic(d, delta) : d))
    .concat(regionCollector.items.map((d) => incrementalShiftDiagnostic(d, a)));

  const file = createSourceFile(doc.path, text);
  const reuse = (first: IToken): RuleAst | undefined => {
    const rule = rules.get(first);
    if (rule === undefined) return undefined;
    // A rule starts at its first token, which was shifted above (by this edit and by any
    // earlier one that left the rule out of the walk): the rule follows it, in place.
    const moved = first.startOffset - rule.span.start;
    if (moved !== 0) incrementalMoveNode(rule, moved);
    return rule;
  };
  const result = incrementalParseTokens(file, newTokens, newComments, newLexical, rules, reuse);
  return {
    path: doc.path,
    text,
    ...result,
    incremental: true,
    state: { tokens: newTokens, comments: newComments, lexical: newLexical, rules, consumed: false, lowerCache: doc.state.lowerCache },
  };
}

/** `items` with [from, to) replaced by `by`: in place when `by` is small, else a new array. */
function incrementalSplice<T>(items: T[], from: number, to: number, by: readonly T[]): T[] {
  // A spread of many arguments would overflow the stack: a large region is concatenated.
  if (by.length > 4096) return items.slice(0, from).concat(by, items.slice(to));
  items.splice(from, to - from, ...by);
  return items;
}

/** The index of the first token starting at or after `offset` (tokens are in offset order). */
function incrementalFirstAtOrAfter(tokens: readonly IToken[], offset: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid]!.startOffset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Whether no `{ }` literal is open before tokens[at] in the sense of `tokenizeLines` (which
 * drops the newlines of a literal closed on a later line): walking back over literal tokens and
 * newlines, no `{` is found unmatched, other than a policy or test block's.
 */
function incrementalNoOpenLiteral(tokens: readonly IToken[], at: number): boolean {
  let depth = 0;
  for (let j = at - 1; j >= 0; j--) {
    const t = tokens[j]!;
    const type = t.tokenType;
    if (type === Newline) continue;
    if (type === RCurly) depth++;
    else if (type === LCurly) {
      if (depth > 0) depth--;
      else return incrementalIsBlockBrace(tokens, j);
    } else if (!isLiteralTokenType(type)) return true;
  }
  return true;
}

/** Whether tokens[j] (a `{`) is the first `{` of a line starting with `policy` or `test`. */
function incrementalIsBlockBrace(tokens: readonly IToken[], j: number): boolean {
  let s = j;
  while (s > 0 && tokens[s - 1]!.tokenType !== Newline) s--;
  const first = tokens[s]!.tokenType;
  if (first !== Policy && first !== TestWord) return false;
  for (let k = s; k < j; k++) if (tokens[k]!.tokenType === LCurly) return false;
  return true;
}

function incrementalShiftToken(token: IToken, delta: number): void {
  token.startOffset += delta;
  if (token.endOffset !== undefined) token.endOffset += delta;
}

function incrementalShiftSpan(span: Span, delta: number): Span {
  return { file: span.file, start: span.start + delta, end: span.end + delta };
}

function incrementalShiftDiagnostic(d: Diagnostic, delta: number): Diagnostic {
  return { ...d, span: incrementalShiftSpan(d.span, delta), related: d.related.map((r) => ({ ...r, span: incrementalShiftSpan(r.span, delta) })) };
}

/**
 * Moves every span of a node by `delta`, in place. The rules of a policy after an edit all
 * move, thousands per keystroke: a copy of each (and a new cache key for each copy) was most of
 * an edit's cost. Spans are recognised by their `file` field; the fast path gives every node a
 * span object of its own, so none is moved twice.
 */
function incrementalMoveNode(node: object, delta: number): void {
  if (Array.isArray(node)) {
    for (const item of node as unknown[]) if (typeof item === 'object' && item !== null) incrementalMoveNode(item, delta);
    return;
  }
  const object = node as Record<string, unknown>;
  if (typeof object['file'] === 'string') {
    const span = object as { start: number; end: number };
    span.start += delta;
    span.end += delta;
    return;
  }
  for (const key in object) {
    const value = object[key];
    if (typeof value === 'object' && value !== null) incrementalMoveNode(value, delta);
  }
}
