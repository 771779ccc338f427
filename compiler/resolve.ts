// Stage 4: name resolution. Takes the root files and a host; loads and parses each file once
// (following includes), collects the `set` and `ports` declarations of every file into one
// namespace and points every name reference at its declaration. Returns a `ResolvedProgram`.
import type { AddrExpr, FileAst, IncludeDecl, PolicyDecl, PortExpr, PortsDecl, PortsRef, RuleAst, SetDecl, SetRef } from './ast.ts';
import { Code, assertNever, type DiagnosticCollector, type RelatedInfo } from './diagnostics.ts';
import type { InputRead, InputReader } from './input-limits.ts';
import { createSourceFile, normalizePosixPath, type CompilerHost, type SourceFile, type Span } from './source.ts';
import { closestSpelling } from './spelling.ts';

/** Parses one file (the front end's `parseSourceFile`); passed in so tests can use any parser. */
export type ParseFile = (file: SourceFile, diagnostics: DiagnosticCollector) => FileAst;

export interface ResolveInput {
  readonly rootFiles: readonly string[];
  readonly host: CompilerHost;
  readonly parseFile: ParseFile;
  readonly diagnostics: DiagnosticCollector;
  /** Reads each file within the compilation's limits (input-limits.ts); default: the host as is. */
  readonly read?: InputReader;
  /** Includes nested deeper than this are refused (default: unlimited, the reader's host decides). */
  readonly maxIncludeDepth?: number;
}

export type SymbolKind = 'set' | 'ports';

/** One declared name: its first declaration and everything resolve learned about it. */
export interface DeclSymbol {
  readonly kind: SymbolKind;
  readonly name: string;
  readonly decl: SetDecl | PortsDecl;
  /** Spans of the references that resolved to this symbol, in file then offset order. */
  readonly uses: Span[];
  /**
   * True when the declaration cannot be given a value: it was recovered by the parser, takes part
   * in a cycle, or refers (directly or not) to an unknown, wrong-kind or failed name. Its error is
   * already reported; everything that uses it is skipped without another diagnostic.
   */
  failed: boolean;
}

/**
 * What holds after `resolve`:
 * - every file of the compilation (roots and includes) was read and parsed exactly once; `files`
 *   and `asts` list them sorted by path, and every later walk follows that order, so results do
 *   not depend on the order of files on the command line;
 * - `symbols` maps each declared name to its first declaration (file, then offset order); a name
 *   declared again, as a set or as ports, has been reported (SEG2003);
 * - `references` gives every name reference the symbol of the right kind, or null when it is
 *   unknown or of the wrong kind; outside recovered nodes the latter is reported (SEG2001,
 *   SEG2002, SEG2006; unknown names are not reported when a file could not be read, since it
 *   may declare them);
 * - a symbol is `failed` when its value cannot be computed (recovered, cyclic (SEG2005), or
 *   depending on a failed name); no further diagnostic is due for it or for its users;
 * - `order` lists the symbols so that computing values in that order never recurses into
 *   another declaration;
 * - `policies` are the policy blocks of every file, files sorted by path, blocks in text order.
 */
export interface ResolvedProgram {
  readonly files: readonly SourceFile[];
  readonly asts: readonly FileAst[];
  readonly symbols: ReadonlyMap<string, DeclSymbol>;
  /** Every symbol, each after every symbol its value uses (cycles broken anywhere). */
  readonly order: readonly DeclSymbol[];
  readonly references: ReferenceLookup;
  readonly policies: readonly PolicyDecl[];
}

/**
 * What a name reference resolves to: its symbol, or null when the name is unknown or of the
 * wrong kind. A function of the reference's name and kind and of `symbols`, so it is computed
 * when asked, not stored per reference node: a map of every reference of a 10k-rule file was
 * most of the language server's re-check after an edit (inserting a fresh object key is slow).
 * It answers for references inside recovered nodes too (those are not walked, so no diagnostic
 * is due for them).
 */
export interface ReferenceLookup {
  get(ref: SetRef | PortsRef): DeclSymbol | null;
}

export function resolve(input: ResolveInput): ResolvedProgram {
  const { files, asts, complete } = resolveFiles(input);
  const symbols = resolveDeclarations(asts, input.diagnostics);
  const references: ReferenceLookup = { get: (ref) => resolveTarget(symbols, ref) };
  const dependencies: Dependencies = new Map();
  const walker = createReferenceWalker(symbols, complete, input.diagnostics);
  for (const ast of asts) {
    for (const d of ast.declarations) {
      if (d.kind === 'SetDecl' || d.kind === 'PortsDecl') {
        if (d.recovered || d.value === undefined) continue;
        // Only the first declaration of a name has a symbol; a duplicate's value is still
        // checked for unknown names, since those are separate mistakes.
        const own = symbols.get(d.name.name);
        const deps = walker.walkDeclaration(d);
        if (own && own.decl === d) dependencies.set(own, deps);
      } else if (d.kind === 'Policy') {
        for (const rule of d.rules) if (!rule.recovered) walker.walkRule(rule);
      }
    }
  }
  const order = resolveOrder(symbols, dependencies, input.diagnostics);
  const policies = asts.flatMap((a) => a.declarations.filter((d): d is PolicyDecl => d.kind === 'Policy'));
  return { files, asts, symbols, order, references, policies };
}

/** What each declaration's value refers to, found while walking; used by the cycle and failure passes. */
type Dependencies = Map<DeclSymbol, Dependency[]>;

interface Dependency {
  /** Null when the reference did not resolve (the depending symbol fails). */
  readonly target: DeclSymbol | null;
  readonly span: Span;
}

// ---- Files and includes -----------------------------------------------------------------------

/** Loads every file; `complete` is false when some file could not be read (SEG4001 reported). */
function resolveFiles(input: ResolveInput): { files: SourceFile[]; asts: FileAst[]; complete: boolean } {
  const { host, parseFile, diagnostics } = input;
  // Keyed by the normalised path, so `./a.seg` on the command line and `include "a.seg"` are one
  // file; the file keeps the first spelling it was reached by.
  const loaded = new Map<string, { file: SourceFile; ast: FileAst }>();
  const onStack: string[] = [];
  let complete = true;

  const visit = (path: string, from: IncludeDecl | undefined): void => {
    const key = normalizePosixPath(path);
    const cycleAt = onStack.indexOf(key);
    if (cycleAt >= 0 && from) {
      const cycle = [...onStack.slice(cycleAt), key].map((k) => (loaded.get(k) as { file: SourceFile }).file.path).join(' -> ');
      diagnostics.add(Code.IncludeCycle, from.pathSpan, { cycle });
      return;
    }
    if (loaded.has(key)) return;
    // A root file has no include to point at: the span is the empty start of it.
    const at = from ? from.pathSpan : { file: path, start: 0, end: 0 };
    // Depth, not only cycles by path: a cycle through symbolic links names a new path each time.
    if (from && onStack.length > (input.maxIncludeDepth ?? Infinity)) {
      diagnostics.add(Code.IncludeTooDeep, at, { path, max: input.maxIncludeDepth ?? 0 });
      complete = false;
      return;
    }
    const read = input.read ? input.read(path, from !== undefined) : readPlain(host, path);
    if (read.kind !== 'text') {
      if (read.kind === 'missing') diagnostics.add(Code.IncludeNotFound, at, { path });
      else if (read.kind === 'refused') diagnostics.add(Code.IncludeRefused, at, { path, reason: read.reason, hint: read.hint });
      else diagnostics.add(Code.IncludeNotPolicy, at, { path, reason: read.reason });
      complete = false;
      return;
    }
    const file = createSourceFile(path, read.text);
    const ast = parseFile(file, diagnostics);
    loaded.set(key, { file, ast });
    onStack.push(key);
    for (const d of ast.declarations) {
      if (d.kind === 'Include' && !d.recovered) visit(host.resolveInclude(path, d.path), d);
    }
    onStack.pop();
  };

  // Roots in sorted order, so the same include cycle is reported whatever the command line order.
  for (const root of [...new Set(input.rootFiles)].sort(comparePaths)) visit(root, undefined);
  const entries = [...loaded.values()].sort((a, b) => comparePaths(a.file.path, b.file.path));
  return { files: entries.map((e) => e.file), asts: entries.map((e) => e.ast), complete };
}

function readPlain(host: CompilerHost, path: string): InputRead {
  const text = host.readFile(path);
  return text === undefined ? { kind: 'missing' } : { kind: 'text', text };
}

function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- Declarations -------------------------------------------------------------------------------

function resolveDeclarations(asts: readonly FileAst[], diagnostics: DiagnosticCollector): Map<string, DeclSymbol> {
  const symbols = new Map<string, DeclSymbol>();
  for (const ast of asts) {
    for (const d of ast.declarations) {
      if (d.kind !== 'SetDecl' && d.kind !== 'PortsDecl') continue;
      const name = d.name.name;
      // A recovered declaration may lack even its name; an empty one is not declared.
      if (name === '') continue;
      const first = symbols.get(name);
      if (first) {
        diagnostics.add(Code.DuplicateDeclaration, d.name.span, { name }, { related: [{ span: first.decl.name.span, message: `'${name}' is first declared here` }] });
        continue;
      }
      symbols.set(name, {
        kind: declarationKind(d),
        name,
        decl: d,
        uses: [],
        failed: d.recovered === true || d.value === undefined,
      });
    }
  }
  return symbols;
}

function declarationKind(d: SetDecl | PortsDecl): SymbolKind {
  return d.kind === 'SetDecl' ? 'set' : 'ports';
}

const KIND_PHRASE: Readonly<Record<SymbolKind, string>> = { set: 'an address set', ports: 'a port set' };

// ---- References ---------------------------------------------------------------------------------

interface ReferenceWalker {
  /** Resolves the references of a declaration's value; returns what it depends on. */
  walkDeclaration(d: SetDecl | PortsDecl): Dependency[];
  walkRule(rule: RuleAst): void;
}

/** The symbol of the right kind that `ref` names, or null (what `ResolvedProgram.references` gives). */
function resolveTarget(symbols: ReadonlyMap<string, DeclSymbol>, ref: SetRef | PortsRef): DeclSymbol | null {
  const symbol = symbols.get(ref.name);
  return symbol !== undefined && symbol.kind === (ref.kind === 'SetRef' ? 'set' : 'ports') ? symbol : null;
}

function createReferenceWalker(
  symbols: ReadonlyMap<string, DeclSymbol>,
  complete: boolean,
  diagnostics: DiagnosticCollector,
): ReferenceWalker {
  // Candidates for "did you mean", per kind, sorted so that ties resolve the same way every run.
  const namesOf = (kind: SymbolKind) => [...symbols.values()].filter((s) => s.kind === kind).map((s) => s.name).sort();
  const candidates: Record<SymbolKind, string[] | undefined> = { set: undefined, ports: undefined };

  const resolveRef = (ref: SetRef | PortsRef, deps: Dependency[] | undefined): void => {
    const expected: SymbolKind = ref.kind === 'SetRef' ? 'set' : 'ports';
    const symbol = symbols.get(ref.name);
    let target: DeclSymbol | null = null;
    if (!symbol) {
      // A file that could not be read may declare the name: its SEG4001 is then the one mistake.
      if (complete) {
        const suggestion = closestSpelling(ref.name, (candidates[expected] ??= namesOf(expected)));
        diagnostics.add(expected === 'set' ? Code.UnknownSet : Code.UnknownPorts, ref.span, suggestion === undefined ? { name: ref.name } : { name: ref.name, suggestion });
      }
    } else if (symbol.kind !== expected) {
      diagnostics.add(
        Code.WrongKindOfName,
        ref.span,
        { name: ref.name, actual: KIND_PHRASE[symbol.kind], expected: KIND_PHRASE[expected] },
        { related: [{ span: symbol.decl.name.span, message: `'${ref.name}' is declared here` }] },
      );
    } else {
      target = symbol;
      symbol.uses.push(ref.span);
    }
    deps?.push({ target, span: ref.span });
  };

  const walkAddr = (e: AddrExpr, deps: Dependency[] | undefined): void => {
    switch (e.kind) {
      case 'AddrLiteral':
      case 'AnyAddr':
        return;
      case 'SetRef':
        return resolveRef(e, deps);
      case 'AddrList':
        for (const item of e.items) walkAddr(item, deps);
        return;
      case 'AddrExcept':
        walkAddr(e.base, deps);
        walkAddr(e.excluded, deps);
        return;
      default:
        return assertNever(e);
    }
  };

  const walkPorts = (e: PortExpr, deps: Dependency[] | undefined): void => {
    switch (e.kind) {
      case 'PortNumber':
      case 'PortRange':
        return;
      case 'PortsRef':
        return resolveRef(e, deps);
      case 'PortList':
        for (const item of e.items) walkPorts(item, deps);
        return;
      default:
        return assertNever(e);
    }
  };

  return {
    walkDeclaration(d) {
      const deps: Dependency[] = [];
      if (d.kind === 'SetDecl' && d.value) walkAddr(d.value, deps);
      else if (d.kind === 'PortsDecl' && d.value) walkPorts(d.value, deps);
      return deps;
    },
    walkRule(rule) {
      if (rule.src) walkAddr(rule.src, undefined);
      if (rule.dst) walkAddr(rule.dst, undefined);
      if (rule.srcPorts) walkPorts(rule.srcPorts, undefined);
      if (rule.dstPorts) walkPorts(rule.dstPorts, undefined);
    },
  };
}

// ---- Cycles, failures and order -------------------------------------------------------------------

interface OrderFrame {
  readonly symbol: DeclSymbol;
  /** The reference that led here from the frame below (none for a starting symbol). */
  readonly via: Span | undefined;
  /** The next dependency to follow. */
  next: number;
}

/**
 * Walks the declarations depth first, without recursion (a chain of thousands of sets must not
 * overflow the stack). Reports each cycle that shares no declaration with one already reported
 * (SEG2005) and marks the members of every cycle failed; marks failed every symbol that uses an
 * unresolved reference or a failed symbol; returns the symbols in dependency order (each after
 * every symbol it uses).
 */
function resolveOrder(symbols: ReadonlyMap<string, DeclSymbol>, dependencies: Dependencies, diagnostics: DiagnosticCollector): DeclSymbol[] {
  const state = new Map<DeclSymbol, 'active' | 'done'>();
  const order: DeclSymbol[] = [];
  const stack: OrderFrame[] = [];

  // Symbols already on a cycle: a further cycle through one of them is part of the same mistake,
  // so it is not reported again.
  const onCycle = new Set<DeclSymbol>();

  const reportCycle = (start: DeclSymbol, closing: Span): void => {
    const members = stack.slice(stack.findIndex((f) => f.symbol === start));
    const known = members.some((f) => onCycle.has(f.symbol));
    for (const f of members) {
      f.symbol.failed = true;
      onCycle.add(f.symbol);
    }
    if (known) return;
    const cycle = [...members.map((f) => f.symbol.name), start.name].join(' -> ');
    // The references that form the cycle, each in the declaration that makes it.
    const related: RelatedInfo[] = [];
    for (let i = 1; i < members.length; i++) {
      const { symbol, via } = members[i] as OrderFrame;
      if (via) related.push({ span: via, message: `'${(members[i - 1] as OrderFrame).symbol.name}' uses '${symbol.name}' here` });
    }
    related.push({ span: closing, message: `'${(members[members.length - 1] as OrderFrame).symbol.name}' uses '${start.name}' here` });
    diagnostics.add(Code.CyclicDeclaration, start.decl.name.span, { name: start.name, cycle }, { related });
  };

  // Declarations in file then offset order (the map's insertion order), so a cycle is reported
  // at the same declaration whatever the command line order.
  for (const root of symbols.values()) {
    if (state.has(root)) continue;
    state.set(root, 'active');
    stack.push({ symbol: root, via: undefined, next: 0 });
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as OrderFrame;
      const deps = dependencies.get(top.symbol) ?? [];
      const dep = deps[top.next++];
      if (dep) {
        const target = dep.target;
        if (!target) continue;
        const s = state.get(target);
        if (s === undefined) {
          state.set(target, 'active');
          stack.push({ symbol: target, via: dep.span, next: 0 });
        } else if (s === 'active') reportCycle(target, dep.span);
        continue;
      }
      // Every dependency is done (its `failed` is final) or on a cycle (failed already).
      if (deps.some((d) => d.target === null || d.target.failed)) top.symbol.failed = true;
      stack.pop();
      state.set(top.symbol, 'done');
      order.push(top.symbol);
    }
  }
  return order;
}
