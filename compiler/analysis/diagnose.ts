// Rule analysis, reporting: turns findings into diagnostics (codes SEG5001-SEG5004) with the
// related rules' spans, capped so large policies stay readable, and the witness.
import { assertNever, Code, makeDiagnostic, type Diagnostic, type RelatedInfo } from '../diagnostics.ts';
import type { DirectionIr, RuleIr } from '../ir.ts';
import type { RuleFinding } from './findings.ts';
import { witnessOf } from './witness.ts';

const quote = (r: RuleIr) => `'${r.name}'`;
const verdictText = (r: RuleIr) => `${r.audit ? 'deny audit' : r.action}${r.log ? ' log' : ''}`;

/**
 * `'a'`, `'a' and 'b'`, `'a', 'b' and 3 more rules` (at most `shown` names); `at least` when
 * the list is known to be incomplete.
 */
function listRules(rules: readonly RuleIr[], shown = 3, complete = true): string {
  const names = rules.slice(0, shown).map(quote);
  const more = rules.length - names.length;
  if (!complete) return `${names.join(', ')} and at least ${Math.max(1, more)} more rule${more > 1 ? 's' : ''}`;
  if (more > 0) return `${names.join(', ')} and ${more} more rule${more === 1 ? '' : 's'}`;
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

export function diagnoseFinding(f: RuleFinding, direction: DirectionIr, maxRelated: number): Diagnostic {
  const R = quote(f.rule);
  const relate = (message: (s: RuleIr) => string): RelatedInfo[] => f.related.slice(0, maxRelated).map((s) => ({ span: s.span, message: message(s) }));
  const witness = f.witness ? { witness: witnessOf(f.witness) } : {};
  switch (f.category) {
    case 'shadowed': {
      const blockers = f.related.filter((s) => s.action !== f.rule.action);
      return makeDiagnostic(
        Code.Shadowed,
        f.rule.span,
        { rule: R, action: f.rule.action, coverers: listRules(f.related), blockers: listRules(blockers) },
        { related: relate((s) => `${quote(s)} (${verdictText(s)}) takes packets of ${R} first`), ...witness },
      );
    }
    case 'redundant': {
      const dflt = `the default ${direction.defaultAction}`;
      let reason: string;
      if (f.related.length > 0 && f.related[0] && f.related[0].priority < f.rule.priority) {
        reason = `earlier rules of the same action (${listRules(f.related)}) take every packet it matches`;
      } else if (f.related.length === 0) {
        reason = `${dflt} gives the same verdict to every packet it decides`;
      } else {
        reason = `${listRules(f.related)} below it${f.viaDefault ? ` and ${dflt}` : ''} give the same verdict to every packet it decides`;
      }
      const related = relate((s) => `${quote(s)} (${verdictText(s)}) ${s.priority < f.rule.priority ? `takes packets of ${R} first` : 'gives the same verdict'}`);
      if (f.viaDefault && direction.defaultSpan) related.push({ span: direction.defaultSpan, message: `${dflt} gives the same verdict` });
      return makeDiagnostic(Code.Redundant, f.rule.span, { rule: R, reason }, { related });
    }
    case 'conflict':
      return makeDiagnostic(
        Code.Conflict,
        f.rule.span,
        { rule: R, other: listRules(f.related, 1, f.relatedComplete) },
        { related: relate((s) => `${quote(s)} (${verdictText(s)}) decides part of the overlap first`), ...witness },
      );
    case 'generalization':
      return makeDiagnostic(
        Code.Generalization,
        f.rule.span,
        { rule: R, other: listRules(f.related, 1, f.relatedComplete) },
        { related: relate((s) => `${quote(s)} (${verdictText(s)}) is an exception inside ${R}`), ...witness },
      );
    default:
      return assertNever(f.category);
  }
}
