// Code actions: the did-you-mean fix of an unknown name or ICMP type, removing a shadowed or
// redundant rule or an unused declaration, extending an expiry date, and adding the missing
// `default` of a policy block. Each is a plain text edit of the document.
import { CodeActionKind, type CodeAction, type Diagnostic as LspDiagnostic, type TextEdit } from 'vscode-languageserver';
import type { Declaration, PolicyDecl, RuleAst } from '../../compiler/ast.ts';
import { formatIsoDate, parseIsoDate } from '../../compiler/expiry.ts';
import type { SourceFile, Span } from '../../compiler/source.ts';
import type { DiagnosticData } from './diagnostics.ts';
import type { DocumentSnapshot } from './snapshot.ts';
import { offsetAt, rangeOf, uriOfPath } from './positions.ts';

/** How far "extend expiry" moves a date, in days. */
export const EXPIRY_EXTENSIONS = [30, 90] as const;

export interface CodeActionInput {
  readonly snapshot: DocumentSnapshot;
  readonly file: SourceFile;
  /** The range asked about, as offsets. */
  readonly start: number;
  readonly end: number;
  readonly diagnostics: readonly LspDiagnostic[];
  /** Today, in days since 1970-01-01 (the server's clock, or SEGC_NOW). */
  readonly today: number;
}

export function codeActions(input: CodeActionInput): CodeAction[] {
  const { file, snapshot } = input;
  const ast = snapshot.compilation.asts.get(file.path);
  const uri = uriOfPath(file.path);
  const edit = (title: string, edits: TextEdit[], diagnostic?: LspDiagnostic, preferred = false): CodeAction => ({
    title,
    kind: CodeActionKind.QuickFix,
    edit: { changes: { [uri]: edits } },
    ...(diagnostic ? { diagnostics: [diagnostic] } : {}),
    ...(preferred ? { isPreferred: true } : {}),
  });
  const out: CodeAction[] = [];
  for (const d of input.diagnostics) {
    if (d.source !== 'segc') continue;
    const code = String(d.code ?? '');
    const at = offsetAt(file, d.range.start);
    const hint = (d.data as DiagnosticData | undefined)?.hint;
    const suggestion = hint === undefined ? undefined : /did you mean '([^']+)'\?/.exec(hint)?.[1];
    if (suggestion !== undefined) out.push(edit(`Change to '${suggestion}'`, [{ range: d.range, newText: suggestion }], d, true));
    if (!ast) continue;
    if (code === 'SEG5001' || code === 'SEG5002') {
      const rule = ruleAt(ast.declarations, at);
      if (rule) out.push(edit(`Remove ${code === 'SEG5001' ? 'shadowed' : 'redundant'} rule ${ruleLabel(rule.rule, rule.policy)}`, [deleteLines(file, rule.rule.span)], d));
    } else if (code === 'SEG2101' || code === 'SEG2102') {
      const decl = ast.declarations.find((x) => (x.kind === 'SetDecl' || x.kind === 'PortsDecl') && x.span.start <= at && at <= x.span.end);
      if (decl && (decl.kind === 'SetDecl' || decl.kind === 'PortsDecl')) out.push(edit(`Remove unused ${decl.kind === 'SetDecl' ? 'set' : 'ports'} '${decl.name.name}'`, [deleteLines(file, decl.span)], d));
    } else if (code === 'SEG3103' || code === 'SEG3104') {
      const rule = ruleAt(ast.declarations, at);
      const expires = rule?.rule.expires;
      const day = expires && parseIsoDate(expires.text);
      if (expires && day !== undefined) {
        for (const days of EXPIRY_EXTENSIONS) {
          const next = formatIsoDate(Math.max(day, input.today) + days);
          out.push(edit(`Extend expiry to ${next} (${days} days)`, [{ range: rangeOf(file, expires.span), newText: next }], d, days === EXPIRY_EXTENSIONS[0]));
        }
      }
    }
  }
  // A policy block without a `default` (it is deny): make the default explicit.
  if (ast) {
    for (const d of ast.declarations) {
      if (d.kind !== 'Policy' || d.recovered || d.defaultAction || d.span.end < input.start || d.span.start > input.end) continue;
      for (const verdict of ['deny', 'allow'] as const) {
        const action = edit(`Add 'default ${verdict}' to this ${d.direction} policy`, [{ range: rangeOf(file, { start: d.directionSpan.end, end: d.directionSpan.end }), newText: ` default ${verdict}` }]);
        out.push(verdict === 'deny' ? action : { ...action, kind: CodeActionKind.RefactorRewrite });
      }
    }
  }
  return out;
}

function ruleAt(declarations: readonly Declaration[], offset: number): { rule: RuleAst; policy: PolicyDecl } | undefined {
  for (const d of declarations) {
    if (d.kind !== 'Policy') continue;
    const rule = d.rules.find((r) => r.span.start <= offset && offset <= r.span.end);
    if (rule) return { rule, policy: d };
  }
  return undefined;
}

function ruleLabel(rule: RuleAst, policy: PolicyDecl): string {
  return rule.name ? rule.name.name : `${policy.direction}/${rule.priority.value}`;
}

/** An edit deleting the whole lines a span covers, with their line break. */
function deleteLines(file: SourceFile, span: Span): TextEdit {
  const start = file.text.lastIndexOf('\n', span.start - 1) + 1;
  const nl = file.text.indexOf('\n', span.end);
  const end = nl < 0 ? file.text.length : nl + 1;
  return { range: rangeOf(file, { start, end }), newText: '' };
}
