// Stage: format (`segc fmt`). Takes one file's AST, parsed without syntax errors, and its source;
// returns the file's canonical text. It prints the same tokens in the same order, so it never
// changes meaning, and proves that before returning it: `formatSource` (what `segc fmt` and the
// language server run) scans its output once and compares the tokens with the input's, which
// the parse of the input left (where they differ, a bug, the full proof below decides);
// `format`, given an AST from elsewhere, re-parses its output and compares the trees.
//
// The canonical form:
// - one space between tokens; declarations in source order; blank lines between declarations,
//   between rules and between list elements are kept, collapsed to one (none after `{` or
//   before `}`); every file ends with one newline;
// - a run of `set` (or `ports`) declarations with no blank line between them aligns its `=`;
// - a `{ }` list stays on one line unless the user broke it over lines, it holds a comment, or
//   (in `set`/`ports` only) the declaration would pass LINE_WIDTH columns; then it gets one
//   element per line, indented two more, with no trailing comma (the core grammar has none);
// - rules are indented two spaces and laid out in columns: the priority (right-aligned),
//   `name:`, the action, the protocol, `from SRC [port P]`, `to DST [port P] [icmp T]` and the
//   description. The first three columns align over the whole policy block, the others within
//   each group of rules (a blank line ends a group), so that one wide rule does not push every
//   other rule's description off the screen. A column that no rule of its scope uses takes no
//   space. A cell wider than MAX_ALIGNED_CELL, or broken over lines, does not widen its column,
//   and the rest of its row follows with single spaces;
// - comments stay where they were: own-line comments on their own line at the indentation of
//   what follows, trailing comments one space after the line they ended; trailing whitespace
//   inside a comment is dropped;
// - everything the user wrote as a value keeps its text: addresses are not canonicalised,
//   numbers keep their digits, strings keep their escapes.
import type {
  AddrExpr,
  Comment,
  FileAst,
  PolicyDecl,
  PortExpr,
  PortsDecl,
  ProtoExpr,
  RuleAst,
  SetDecl,
  TestDecl,
  ExpectationAst,
} from './ast.ts';
import { parseSourceFile, parseTokenTable } from './build-ast.ts';
import { assertNever, createCollector, hasErrors, sortDiagnostics, type Diagnostic, type DiagnosticCollector } from './diagnostics.ts';
import { tokenizeTable, type TokenizeTableResult } from './lexer.ts';
import type { TokenTable } from './lexer-scan.ts';
import { createSourceFile, spanText, type SourceFile, type Span } from './source.ts';
import { LCurly, Newline, RCurly } from './tokens.ts';

/** A `set` or `ports` declaration longer than this on one line gets its lists broken. */
export const LINE_WIDTH = 100;
/** A rule cell wider than this does not widen its column. */
export const MAX_ALIGNED_CELL = 40;
const INDENT = '  ';

export interface FormatResult {
  /** The canonical text, or undefined when the file has syntax errors. */
  readonly text: string | undefined;
  /** The syntax errors that stopped formatting (sorted); empty when `text` is set. */
  readonly diagnostics: readonly Diagnostic[];
}

/** Parses and formats one file; a file with syntax errors is refused with its diagnostics. */
export function formatSource(source: SourceFile): FormatResult {
  const diagnostics = createCollector();
  const lexed = tokenizeTable(source, diagnostics);
  const text = formatSourcePrint(source, lexed, diagnostics);
  if (text === undefined) return { text: undefined, diagnostics: sortDiagnostics(diagnostics.items) };
  // Only a bug makes the token streams differ; then the full proof (a parse of the input and
  // of the output) decides, and gives its error.
  if (!formatSameTokenStreams(lexed, source, text)) formatVerify(parseSourceFile(source, createCollector()), source, text);
  return { text, diagnostics: [] };
}

/** The parse and the printing, apart, so that the AST is garbage before the output is scanned. */
function formatSourcePrint(source: SourceFile, lexed: TokenizeTableResult, diagnostics: DiagnosticCollector): string | undefined {
  const ast = parseTokenTable(source, lexed, diagnostics);
  if (hasErrors(diagnostics.items)) return undefined;
  formatAssertComplete(ast);
  return formatPrint(ast, source);
}

/**
 * The canonical text of a file. The AST must come from a parse without syntax errors (a
 * recovered node could lose tokens); throws on a recovered node, and throws when the output
 * would not parse back to the same AST and comments (a bug in `format`, never the user's).
 */
export function format(ast: FileAst, source: SourceFile): string {
  formatAssertComplete(ast);
  const text = formatPrint(ast, source);
  formatVerify(ast, source, text);
  return text;
}

function formatPrint(ast: FileAst, source: SourceFile): string {
  return formatFile({ text: source.text, source, comments: ast.comments, next: 0 }, ast);
}

// ---- Comments and blank lines ----------------------------------------------------------------

/** The comments are taken in source order, each at the first place the printer reaches after it. */
interface FormatState {
  readonly text: string;
  readonly source: SourceFile;
  readonly comments: readonly Comment[];
  /** Index of the first comment not printed yet. */
  next: number;
}

/** A piece of output between tokens: a comment, and where it goes. */
interface CommentPiece {
  readonly text: string;
  /** True when the comment ended a line that had code on it: it stays at that line's end. */
  readonly trailing: boolean;
  /** True when a blank line came before it (own-line comments only). */
  readonly blankBefore: boolean;
  readonly end: number;
}

const NO_COMMENTS: readonly CommentPiece[] = [];

/** The comments that start before `offset` and are not printed yet; `prevEnd` is where the last printed thing ended. */
function formatTakeComments(state: FormatState, offset: number, prevEnd: number | undefined): readonly CommentPiece[] {
  // Most calls (one per rule) take none: no array for them.
  const next = state.comments[state.next];
  if (next === undefined || next.span.start >= offset) return NO_COMMENTS;
  const pieces: CommentPiece[] = [];
  let last = prevEnd;
  while (state.next < state.comments.length) {
    const c = state.comments[state.next];
    if (c === undefined || c.span.start >= offset) break;
    state.next++;
    const trailing = last !== undefined && !formatHasNewline(state.text, last, c.span.start);
    const blankBefore = last !== undefined && !trailing && formatHasBlankLine(state.text, last, c.span.start);
    pieces.push({ text: c.text.trimEnd(), trailing, blankBefore, end: c.span.end });
    last = c.span.end;
  }
  return pieces;
}

function formatHasNewline(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10 || ch === 13) return true;
  }
  return false;
}

/** True when [from, to) holds an empty line: two line breaks with only spaces between. */
function formatHasBlankLine(text: string, from: number, to: number): boolean {
  // CRLF is one line break, and so is a lone CR (as source.ts counts lines). A scan, not a
  // regular expression over a slice: this runs between every two rules.
  let breaks = 0;
  for (let i = Math.max(0, from); i < to; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 13 || ch === 10) {
      if (++breaks === 2) return true;
      if (ch === 13 && text.charCodeAt(i + 1) === 10) i++;
    } else if (ch !== 32 && ch !== 9 && ch !== 12 && ch !== 11) breaks = 0;
  }
  return false;
}

function formatHasCommentWithin(state: FormatState, span: Span): boolean {
  for (let i = state.next; i < state.comments.length; i++) {
    const c = state.comments[i];
    if (c === undefined || c.span.start >= span.end) return false;
    if (c.span.start >= span.start) return true;
  }
  return false;
}

/** Appends `piece` to the output lines: at the end of the last line, or as a line of its own. */
function formatPushComment(lines: string[], piece: CommentPiece, indent: string): void {
  const lastIndex = lines.length - 1;
  if (piece.trailing && lastIndex >= 0) {
    lines[lastIndex] = `${lines[lastIndex]} ${piece.text}`;
    return;
  }
  if (piece.blankBefore && lines.length > 0) lines.push('');
  lines.push(indent + piece.text);
}

// ---- File and declarations -------------------------------------------------------------------

function formatFile(state: FormatState, ast: FileAst): string {
  const lines: string[] = [];
  const nameWidths = formatDeclarationNameWidths(state, ast);
  let prevEnd: number | undefined;
  ast.declarations.forEach((decl, i) => {
    for (const piece of formatTakeComments(state, decl.span.start, prevEnd)) {
      formatPushComment(lines, piece, '');
      prevEnd = piece.end;
    }
    if (prevEnd !== undefined && lines.length > 0 && formatHasBlankLine(state.text, prevEnd, decl.span.start)) lines.push('');
    lines.push(formatDeclaration(state, decl, nameWidths[i] ?? 0));
    prevEnd = decl.span.end;
  });
  for (const piece of formatTakeComments(state, Number.POSITIVE_INFINITY, prevEnd)) {
    formatPushComment(lines, piece, '');
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/**
 * The name width of each declaration: a run of `set` (or `ports`) declarations with no blank
 * line between them (comments may be) aligns its `=` on its longest name.
 */
function formatDeclarationNameWidths(state: FormatState, ast: FileAst): number[] {
  const widths = ast.declarations.map(() => 0);
  let runStart = 0;
  const decls = ast.declarations;
  for (let i = 0; i <= decls.length; i++) {
    const decl = decls[i];
    const prev = decls[i - 1];
    const continues =
      decl !== undefined &&
      prev !== undefined &&
      (decl.kind === 'SetDecl' || decl.kind === 'PortsDecl') &&
      decl.kind === prev.kind &&
      !formatHasBlankLine(state.text, prev.span.end, decl.span.start);
    if (continues) continue;
    let width = 0;
    for (let j = runStart; j < i; j++) {
      const d = decls[j];
      if (d !== undefined && (d.kind === 'SetDecl' || d.kind === 'PortsDecl')) width = Math.max(width, d.name.name.length);
    }
    for (let j = runStart; j < i; j++) widths[j] = width;
    runStart = i;
  }
  return widths;
}

function formatDeclaration(state: FormatState, decl: FileAst['declarations'][number], nameWidth: number): string {
  switch (decl.kind) {
    case 'Include':
      return `include ${spanText(state.source, decl.pathSpan)}`;
    case 'SetDecl':
    case 'PortsDecl':
      return formatNamedSet(state, decl, nameWidth);
    case 'Policy':
      return formatPolicy(state, decl);
    case 'Test':
      return formatTest(state, decl);
    default:
      return assertNever(decl);
  }
}

/** `set NAME = VALUE` / `ports NAME = VALUE`; breaks the outer lists when the line is too long. */
function formatNamedSet(state: FormatState, decl: SetDecl | PortsDecl, nameWidth: number): string {
  const head = `${decl.kind === 'SetDecl' ? 'set' : 'ports'} ${decl.name.name.padEnd(nameWidth)} = `;
  const print = (breakLists: boolean): string => {
    if (decl.value === undefined) throw new Error(`format: declaration '${decl.name.name}' has no value`);
    return decl.kind === 'SetDecl'
      ? formatAddr(state, decl.value, '', breakLists)
      : formatPorts(state, decl.value, '', breakLists);
  };
  // Printing takes comments; measuring the flat form must give back the ones it took.
  const mark = state.next;
  const flat = print(false);
  if (flat.includes('\n') || head.length + flat.length <= LINE_WIDTH) return head + flat;
  state.next = mark;
  return head + print(true);
}

// ---- Expressions ----------------------------------------------------------------------------

/**
 * `{ a, b }` on one line, or one element per line when the user broke the list, it holds a
 * comment, or `breakList` asks. Elements are printed by `item` at the inner indentation.
 */
function formatList<T extends { readonly span: Span }>(
  state: FormatState,
  span: Span,
  items: readonly T[],
  indent: string,
  breakList: boolean,
  item: (element: T, indent: string) => string,
): string {
  const multiline =
    (breakList && items.length > 0) ||
    formatHasNewline(state.text, span.start, span.end) ||
    formatHasCommentWithin(state, span);
  if (!multiline) return items.length === 0 ? '{ }' : `{ ${items.map((e) => item(e, indent)).join(', ')} }`;
  const inner = indent + INDENT;
  const lines: string[] = ['{'];
  let prevEnd = span.start + 1;
  items.forEach((element, i) => {
    for (const piece of formatTakeComments(state, element.span.start, prevEnd)) {
      formatPushComment(lines, piece, inner);
      prevEnd = piece.end;
    }
    const blank = lines.length > 1 && formatHasBlankLine(state.text, prevEnd, element.span.start);
    if (blank) lines.push('');
    lines.push(inner + item(element, inner) + (i < items.length - 1 ? ',' : ''));
    prevEnd = element.span.end;
  });
  for (const piece of formatTakeComments(state, span.end, prevEnd)) {
    formatPushComment(lines, { ...piece, blankBefore: piece.blankBefore && lines.length > 1 }, inner);
  }
  lines.push(`${indent}}`);
  return lines.join('\n');
}

/** `breakLists` breaks the outermost lists (those not inside another list). */
function formatAddr(state: FormatState, expr: AddrExpr, indent: string, breakLists: boolean): string {
  switch (expr.kind) {
    case 'AddrLiteral':
      return expr.text;
    case 'AnyAddr':
      return expr.which;
    case 'SetRef':
      return expr.name;
    case 'AddrList':
      return formatList(state, expr.span, expr.items, indent, breakLists, (e, inner) => formatAddr(state, e, inner, false));
    case 'AddrExcept': {
      const base = formatAddr(state, expr.base, indent, breakLists);
      return `${base} except ${formatAddr(state, expr.excluded, indent, breakLists)}`;
    }
    default:
      return assertNever(expr);
  }
}

function formatPorts(state: FormatState, expr: PortExpr, indent: string, breakLists: boolean): string {
  switch (expr.kind) {
    case 'PortNumber':
      return spanText(state.source, expr.span);
    case 'PortRange':
      return `${spanText(state.source, expr.low.span)}-${spanText(state.source, expr.high.span)}`;
    case 'PortsRef':
      return expr.name;
    case 'PortList':
      return formatList(state, expr.span, expr.items, indent, breakLists, (e, inner) => formatPorts(state, e, inner, false));
    default:
      return assertNever(expr);
  }
}

function formatProto(state: FormatState, expr: ProtoExpr, indent: string): string {
  switch (expr.kind) {
    case 'ProtoName':
      return expr.name;
    case 'ProtoNumber':
      return spanText(state.source, expr.span);
    case 'ProtoList':
      return formatList(state, expr.span, expr.items, indent, false, (e, inner) => formatProto(state, e, inner));
    default:
      return assertNever(expr);
  }
}

// ---- Policies and rules ---------------------------------------------------------------------

/** The columns of a rule line, in order; `priority` is right-aligned. */
const RULE_COLUMNS = ['priority', 'name', 'action', 'protocol', 'from', 'to', 'description', 'options'] as const;
/** The first columns align over the whole block; the others within a group of rules. */
const BLOCK_COLUMNS = 3;
type RuleCells = readonly string[];

type BodyItem =
  | { readonly kind: 'comment'; readonly piece: CommentPiece }
  | { readonly kind: 'rule'; readonly cells: RuleCells; readonly blankBefore: boolean; readonly group: number };

function formatPolicy(state: FormatState, policy: PolicyDecl): string {
  const header =
    `policy ${policy.direction}` +
    (policy.defaultAction === undefined ? '' : ` default ${policy.defaultAction.verdict}`) +
    ' {';
  const headerEnd = policy.defaultAction?.span.end ?? policy.directionSpan.end;
  const items: BodyItem[] = [];
  let prevEnd = headerEnd;
  let first = true;
  // A blank line (before a rule or an own-line comment) starts a new group of rules.
  let group = 0;
  for (const rule of policy.rules) {
    for (const piece of formatTakeComments(state, rule.span.start, prevEnd)) {
      const blankBefore = piece.blankBefore && !first;
      items.push({ kind: 'comment', piece: { ...piece, blankBefore } });
      if (blankBefore) group++;
      prevEnd = piece.end;
      if (!piece.trailing) first = false;
    }
    const blankBefore = !first && formatHasBlankLine(state.text, prevEnd, rule.span.start);
    if (blankBefore) group++;
    items.push({ kind: 'rule', cells: formatRuleCells(state, rule), blankBefore, group });
    prevEnd = rule.span.end;
    first = false;
  }
  // The closing brace is the last character of the policy's span.
  for (const piece of formatTakeComments(state, policy.span.end - 1, prevEnd)) {
    items.push({ kind: 'comment', piece: { ...piece, blankBefore: piece.blankBefore && !first } });
    if (!piece.trailing) first = false;
  }
  const lines = [header];
  const widths = formatPolicyWidths(items);
  for (const item of items) {
    if (item.kind === 'comment') {
      formatPushComment(lines, item.piece, INDENT);
      continue;
    }
    if (item.blankBefore) lines.push('');
    lines.push(INDENT + formatRuleLine(item.cells, widths[item.group] ?? []));
  }
  lines.push('}');
  return lines.join('\n');
}

function formatRuleCells(state: FormatState, rule: RuleAst): RuleCells {
  const { action, protocol, src, dst } = rule;
  if (action === undefined || protocol === undefined || src === undefined || dst === undefined) {
    throw new Error(`format: rule ${rule.priority.value} is incomplete`);
  }
  // Each part is printed in source order: lists inside them take their comments in that order.
  const priority = spanText(state.source, rule.priority.span);
  const name = rule.name === undefined ? '' : `${rule.name.name}:`;
  const proto = formatProto(state, protocol, INDENT);
  let from = `from ${formatAddr(state, src, INDENT, false)}`;
  if (rule.srcPorts !== undefined) from += ` port ${formatPorts(state, rule.srcPorts, INDENT, false)}`;
  let to = `to ${formatAddr(state, dst, INDENT, false)}`;
  if (rule.dstPorts !== undefined) to += ` port ${formatPorts(state, rule.dstPorts, INDENT, false)}`;
  if (rule.icmp !== undefined) to += ` ${formatIcmp(state, rule.icmp)}`;
  const description = rule.description === undefined ? '' : spanText(state.source, rule.description.span);
  // The rule's options, in the grammar's order: `nosession`, then `expires DATE`.
  const options = [rule.noSession === undefined ? '' : 'nosession', rule.expires === undefined ? '' : `expires ${rule.expires.text}`].filter((o) => o !== '').join(' ');
  return [priority, name, action.text, proto, from, to, description, options];
}

function formatIcmp(state: FormatState, icmp: NonNullable<RuleAst['icmp']>): string {
  const type = 'name' in icmp.type ? icmp.type.name : spanText(state.source, icmp.type.span);
  return icmp.code === undefined ? `icmp ${type}` : `icmp ${type}/${spanText(state.source, icmp.code.span)}`;
}

function formatIsAligned(cell: string): boolean {
  return !cell.includes('\n') && cell.length <= MAX_ALIGNED_CELL;
}

/**
 * The column widths of each group: its own for the group columns, the block's for the others.
 * Per column, the widest aligned cell; -1 for a column no rule of the scope uses. (Loops over
 * the cells, once: a block may hold 100k rules.)
 */
function formatPolicyWidths(items: readonly BodyItem[]): number[][] {
  const columns = RULE_COLUMNS.length;
  const block: number[] = RULE_COLUMNS.map(() => -1);
  const groups: number[][] = [];
  for (const item of items) {
    if (item.kind !== 'rule') continue;
    const widths = (groups[item.group] ??= RULE_COLUMNS.map(() => -1));
    const cells = item.cells;
    for (let column = 0; column < columns; column++) {
      const cell = cells[column]!;
      if (cell === '') continue;
      const width = formatIsAligned(cell) ? cell.length : 0;
      if (width > widths[column]!) widths[column] = width;
      if (width > block[column]!) block[column] = width;
    }
  }
  for (let g = 0; g < groups.length; g++) {
    const widths = (groups[g] ??= RULE_COLUMNS.map(() => -1));
    for (let column = 0; column < BLOCK_COLUMNS; column++) widths[column] = block[column]!;
  }
  return groups;
}

function formatRuleLine(cells: RuleCells, widths: readonly number[]): string {
  let lastUsed = cells.length - 1;
  while (lastUsed >= 0 && cells[lastUsed] === '') lastUsed--;
  let line = '';
  let aligned = true;
  for (let column = 0; column <= lastUsed; column++) {
    const width = widths[column] ?? -1;
    if (width < 0) continue;
    const cell = cells[column] ?? '';
    if (!aligned) {
      if (cell !== '') line += ` ${cell}`;
      continue;
    }
    const padded = column === 0 ? cell.padStart(width) : cell.padEnd(width);
    line += column === 0 ? padded : ` ${padded}`;
    if (!formatIsAligned(cell) || cell.length > width) aligned = false;
  }
  return line.trimEnd();
}

// ---- Test blocks ----------------------------------------------------------------------------

/**
 * `test "title" {` and one expectation per line: `expect OUTCOME PACKET [DIRECTION]`, the
 * outcome and packet columns aligned over the block; comments and blank lines as in a policy.
 */
function formatTest(state: FormatState, test: TestDecl): string {
  const header = `test ${spanText(state.source, test.titleSpan)} {`;
  const lines = [header];
  const cells = test.expectations.map(formatExpectationCells);
  // A loop, not Math.max(...): a test block may hold more expectations than a spread can pass.
  const widths = [0, 1].map((c) => cells.reduce((w, row) => Math.max(w, formatIsAligned(row[c] ?? '') ? (row[c] ?? '').length : 0), 0));
  let prevEnd = test.titleSpan.end;
  let first = true;
  test.expectations.forEach((e, i) => {
    for (const piece of formatTakeComments(state, e.span.start, prevEnd)) {
      formatPushComment(lines, { ...piece, blankBefore: piece.blankBefore && !first }, INDENT);
      prevEnd = piece.end;
      if (!piece.trailing) first = false;
    }
    if (!first && formatHasBlankLine(state.text, prevEnd, e.span.start)) lines.push('');
    const [outcome = '', packet = '', direction = ''] = cells[i] ?? [];
    const line = direction === '' ? `${outcome.padEnd(widths[0] ?? 0)} ${packet}` : `${outcome.padEnd(widths[0] ?? 0)} ${packet.padEnd(widths[1] ?? 0)} ${direction}`;
    lines.push(`${INDENT}expect ${line.trimEnd()}`);
    prevEnd = e.span.end;
    first = false;
  });
  for (const piece of formatTakeComments(state, test.span.end - 1, prevEnd)) {
    formatPushComment(lines, { ...piece, blankBefore: piece.blankBefore && !first }, INDENT);
    if (!piece.trailing) first = false;
  }
  lines.push('}');
  return lines.join('\n');
}

function formatExpectationCells(e: ExpectationAst): [string, string, string] {
  const x = e.expected;
  const outcome = x.kind === 'verdict' ? x.verdict : x.kind === 'default' ? 'default' : `rule ${x.rule.name}`;
  return [outcome, e.packet.text, e.direction?.direction ?? ''];
}

// ---- Checks -----------------------------------------------------------------------------------

function formatAssertComplete(ast: FileAst): void {
  for (const decl of ast.declarations) {
    const recovered =
      decl.recovered === true ||
      (decl.kind === 'Policy' && decl.rules.some((r) => r.recovered === true)) ||
      (decl.kind === 'Test' && decl.expectations.some((e) => e.recovered === true));
    if (recovered) throw new Error(`format: ${ast.path} has syntax errors; use formatSource to get them`);
  }
}

/** Re-parses the output and compares it with the input: same tree (spans aside), same comments. */
function formatVerify(ast: FileAst, source: SourceFile, text: string): void {
  const diagnostics = createCollector();
  const again = parseSourceFile(createSourceFile(source.path, text), diagnostics);
  const first = diagnostics.items[0];
  if (first !== undefined) {
    throw new Error(`format produced text that does not parse (${first.code} ${first.message}) for ${source.path}`);
  }
  const sameComments =
    ast.comments.length === again.comments.length &&
    ast.comments.every((c, i) => c.text.trimEnd() === again.comments[i]?.text.trimEnd());
  if (!sameComments || !formatSameTree(ast.declarations, again.declarations)) {
    throw new Error(`format changed the syntax tree of ${source.path}`);
  }
}

/**
 * The fast proof of `formatSource`: whether the output, scanned once, holds the input's tokens
 * in the same order (same types, same images) and the same comments, without a lexical error.
 * The AST is a function of that token stream (the parser and the fast path read token types
 * and images; offsets only order tokens and make spans), so equal streams parse to equal trees,
 * spans aside. Line breaks count where the parser sees them (`tokenizeLines` drops those inside
 * a `{ }` literal), and a run of them as one: the blank lines fmt adds or removes mean nothing.
 * False proves nothing either way: the full proof (`formatVerify`) then decides.
 */
function formatSameTokenStreams(input: TokenizeTableResult, source: SourceFile, text: string): boolean {
  const diagnostics = createCollector();
  const output = tokenizeTable(createSourceFile(source.path, text), diagnostics);
  if (diagnostics.items.length > 0) return false;
  const a = input.comments;
  const b = output.comments;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.image.trimEnd() !== b[i]!.image.trimEnd()) return false;
  return formatSameTokens(input.table, source.text, output.table, text);
}

const NEWLINE = Newline.tokenTypeIdx!;
const LCURLY = LCurly.tokenTypeIdx!;
const RCURLY = RCurly.tokenTypeIdx!;

/** Whether two token tables hold the same tokens (types, texts), line breaks counted as above. */
function formatSameTokens(a: TokenTable, textA: string, b: TokenTable, textB: string): boolean {
  let i = formatSkipNewlines(a, 0);
  let j = formatSkipNewlines(b, 0);
  while (i < a.count && j < b.count) {
    const x = a.types[i]!;
    const y = b.types[j]!;
    if (x === NEWLINE || y === NEWLINE) {
      const ni = formatSkipNewlines(a, i);
      const nj = formatSkipNewlines(b, j);
      // An empty block, `{}`, is printed on two lines; a block's body takes any number of
      // line breaks (parser.ts, policyDecl and testDecl), none included. (Valid input: the
      // line breaks of a literal's `{ }` were dropped by tokenizeLines.)
      const emptyBlock = i > 0 && a.types[i - 1] === LCURLY && ni < a.count && a.types[ni] === RCURLY && nj < b.count && b.types[nj] === RCURLY;
      if (x !== y && !emptyBlock) return false;
      i = ni;
      j = nj;
      continue;
    }
    if (x !== y || !formatSameText(textA, a.starts[i]!, a.ends[i]!, textB, b.starts[j]!, b.ends[j]!)) return false;
    i++;
    j++;
  }
  return i === a.count && j === b.count;
}

function formatSkipNewlines(table: TokenTable, from: number): number {
  let i = from;
  while (i < table.count && table.types[i] === NEWLINE) i++;
  return i;
}

/** Whether textA[startA, endA) equals textB[startB, endB), without slicing either. */
function formatSameText(textA: string, startA: number, endA: number, textB: string, startB: number, endB: number): boolean {
  if (endA - startA !== endB - startB) return false;
  for (let k = 0; k < endA - startA; k++) if (textA.charCodeAt(startA + k) !== textB.charCodeAt(startB + k)) return false;
  return true;
}

/** Deep equality of plain AST data, except spans (positions change when formatting, nothing else may). */
function formatSameTree(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    if (a.length !== other.length) return false;
    for (let i = 0; i < a.length; i++) if (!formatSameTree(a[i], other[i])) return false;
    return true;
  }
  // Key by key without building key lists: this runs over every node of the file twice.
  const recordA = a as Record<string, unknown>;
  const recordB = b as Record<string, unknown>;
  let count = 0;
  for (const k in recordA) {
    if (formatIsSpanKey(k)) continue;
    count++;
    if (!Object.hasOwn(recordB, k) || !formatSameTree(recordA[k], recordB[k])) return false;
  }
  for (const k in recordB) if (!formatIsSpanKey(k)) count--;
  return count === 0;
}

function formatIsSpanKey(key: string): boolean {
  return key === 'span' || key.endsWith('Span');
}
