// Completion: keywords where they fit, the set and port-set names in scope (every file of the
// compilation), protocol and ICMP type names, and `include` paths. Where the cursor is comes
// from the words before it on its line and from the AST (inside a policy block or not); the
// text is never parsed a second way.
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CompletionItemKind, InsertTextFormat, type CompletionItem } from 'vscode-languageserver';
import type { FileAst } from '../../compiler/ast.ts';
import { lineText, positionOf, type SourceFile } from '../../compiler/source.ts';
import type { DocumentSnapshot } from './snapshot.ts';
import { ICMP_TYPE_NAMES, icmpTypeMeaning, PROTOCOL_MEANINGS } from './protocol-words.ts';

const TOP_LEVEL = ['include', 'set', 'ports', 'policy', 'test'];
const ACTIONS = ['allow', 'deny', 'log', 'allow log', 'deny log', 'deny audit'];
const PROTOCOLS = ['tcp', 'udp', 'sctp', 'icmp', 'icmpv6', 'any'];
const ANY_ADDRESSES = ['any', 'any4', 'any6'];
/** At most this many include candidates are listed (a folder of thousands of files). */
const MAX_PATHS = 200;

export function complete(snapshot: DocumentSnapshot | undefined, file: SourceFile, offset: number): CompletionItem[] {
  const position = positionOf(file, offset);
  const before = lineText(file, position.line).slice(0, position.column - 1);
  const ast = snapshot?.compilation.asts.get(file.path);
  const names = (kind: 'set' | 'ports'): CompletionItem[] =>
    [...(snapshot?.compilation.resolved.symbols.values() ?? [])]
      .filter((s) => s.kind === kind)
      .map((s) => ({ label: s.name, kind: kind === 'set' ? CompletionItemKind.Variable : CompletionItemKind.Constant, detail: kind === 'set' ? 'address set' : 'port set' }));

  const include = /^\s*include\s+"([^"]*)$/.exec(before);
  if (include) return completeIncludePaths(file.path, include[1] ?? '');
  if (/^\s*include\s*$/.test(before)) return [{ label: '""', kind: CompletionItemKind.File, insertText: '"$1"', insertTextFormat: InsertTextFormat.Snippet }];

  const words = before.replace(/[{},=:]/g, (c) => ` ${c} `).trim().split(/\s+/).filter((w) => w !== '');
  const partial = /[A-Za-z0-9_-]$/.test(before);
  const previous = (partial ? words.slice(0, -1) : words).at(-1);
  const lastKeyword = [...(partial ? words.slice(0, -1) : words)].reverse().find((w) => ['from', 'to', 'port', 'icmp', 'set', 'ports', 'policy', 'default', 'except', 'expect'].includes(w));

  if (previous === 'icmp' && /\bto\b/.test(before)) return ICMP_TYPE_NAMES.map((n) => ({ label: n, kind: CompletionItemKind.EnumMember, detail: icmpTypeMeaning(n) ?? '' }));
  if (previous === 'policy') return keywords(['ingress', 'egress']);
  if (previous === 'ingress' || previous === 'egress') return keywords(['default']);
  if (previous === 'default') return keywords(['allow', 'deny']);
  if (lastKeyword === 'port' && previous !== undefined && (previous === 'port' || previous === '{' || previous === ',')) return names('ports');
  if (lastKeyword === 'ports' && (previous === '=' || previous === '{' || previous === ',')) return names('ports');
  if ((lastKeyword === 'from' || lastKeyword === 'to' || lastKeyword === 'except' || lastKeyword === 'set') && previous !== undefined && ['from', 'to', 'except', '=', '{', ','].includes(previous)) {
    return [...keywords(ANY_ADDRESSES), ...names('set')];
  }
  if (lastKeyword === 'from' || lastKeyword === 'to') {
    return keywords(lastKeyword === 'from' ? ['to', 'port'] : ['port', 'icmp', 'nosession', 'expires']);
  }

  const inPolicy = ast !== undefined && isInsidePolicy(ast, offset);
  if (inPolicy) {
    // A rule line: PRIORITY [name:] ACTION PROTOCOL from ... to ...
    if (words.length === 0 || (words.length === 1 && partial)) return [ruleSnippet(ast, offset)];
    if (previous === ':' || /^\d+$/.test(previous ?? '')) return keywords(ACTIONS);
    if (previous !== undefined && ACTIONS.some((a) => a.endsWith(previous))) return protocols();
    if (previous !== undefined && PROTOCOLS.includes(previous)) return keywords(['from']);
    return [];
  }
  if (words.length === 0 || (words.length === 1 && partial)) return keywords(TOP_LEVEL);
  if (previous === 'expect') return keywords(['allow', 'deny', 'default', 'rule']);
  return [];
}

function keywords(list: readonly string[]): CompletionItem[] {
  return list.map((k) => ({ label: k, kind: CompletionItemKind.Keyword }));
}

function protocols(): CompletionItem[] {
  return PROTOCOLS.map((p) => ({ label: p, kind: CompletionItemKind.EnumMember, detail: PROTOCOL_MEANINGS[p] ?? '' }));
}

function isInsidePolicy(ast: FileAst, offset: number): boolean {
  return ast.declarations.some((d) => d.kind === 'Policy' && d.span.start < offset && (offset < d.span.end || d.recovered === true));
}

/** A rule skeleton whose priority follows the highest of its block. */
function ruleSnippet(ast: FileAst, offset: number): CompletionItem {
  const policy = ast.declarations.find((d) => d.kind === 'Policy' && d.span.start < offset && offset <= d.span.end);
  // A reduce, not Math.max(...): a block of 100k+ rules is more than a spread can pass.
  const highest = policy?.kind === 'Policy' ? policy.rules.reduce((h, r) => Math.max(h, r.priority.value), 0) : 0;
  const next = (Math.floor(highest / 10) + 1) * 10;
  return {
    label: 'rule',
    kind: CompletionItemKind.Snippet,
    detail: `${next} name: allow tcp from any to any port ...`,
    insertText: `${next} \${1:name}: \${2|allow,deny,log|} \${3|tcp,udp,icmp,any|} from \${4:any} to \${5:any}`,
    insertTextFormat: InsertTextFormat.Snippet,
  };
}

/** .seg files (and folders) below the including file's folder, relative to it. */
function completeIncludePaths(fromPath: string, typed: string): CompletionItem[] {
  if (!fromPath.startsWith('/')) return [];
  const base = dirname(fromPath);
  const folder = join(base, typed.includes('/') ? typed.slice(0, typed.lastIndexOf('/') + 1) : '');
  let entries;
  try {
    entries = readdirSync(folder, { withFileTypes: true }).slice(0, MAX_PATHS);
  } catch {
    return [];
  }
  const out: CompletionItem[] = [];
  for (const e of entries) {
    const full = join(folder, e.name);
    if (full === fromPath || e.name.startsWith('.') || e.name === 'node_modules') continue;
    const rel = relative(base, full);
    if (e.isDirectory()) out.push({ label: `${rel}/`, kind: CompletionItemKind.Folder });
    else if (e.name.endsWith('.seg')) out.push({ label: rel, kind: CompletionItemKind.File });
  }
  return out.sort((a, b) => (a.label < b.label ? -1 : 1));
}
