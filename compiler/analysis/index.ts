// Rule analysis: takes the IR of a compilation without errors; returns the diagnostics of the
// overlap analysis (shadowed, redundant, conflict, generalization: SEG5001-SEG5004) and of
// unused declarations (SEG2101, SEG2102). Exact over the whole header space (see space.ts for
// the model and findings.ts for the definitions); every finding is proved by sets, never by the
// text of the rules. Over its time budget it stops and says what it did not analyse (SEG5005).
import { Code, makeDiagnostic, sortDiagnostics, type Diagnostic } from '../diagnostics.ts';
import { DIRECTIONS, type ProgramIr } from '../ir.ts';
import { createBudget, type MemoryCeiling } from './budget.ts';
import { buildMeasure } from './coverage.ts';
import { diagnoseFinding } from './diagnose.ts';
import { findRuleFindings, type DirectionContext, type RuleFinding } from './findings.ts';
import { buildOverlapIndex } from './overlap-index.ts';
import { buildSpace } from './space.ts';
import { analyzeUnused } from './unused.ts';

export type { RuleFinding, FindingCategory } from './findings.ts';

export interface AnalysisOptions {
  /** Stop after this many milliseconds (SEG5005 then says what was left); default 10 000. */
  readonly budgetMs?: number;
  /**
   * At most this many `related` entries per diagnostic (default 8); conflict and
   * generalization also stop looking after this many rules (and say "at least").
   */
  readonly maxRelated?: number;
  /** Tuning: walks split pieces that meet more rules than this (default 32; tests use small values). */
  readonly splitAbove?: number;
  /** The clock, in milliseconds (default `performance.now`); tests pass a fake one. */
  readonly now?: () => number;
  /** Stop, as over the time, once the host's memory measure passes this ceiling (compile's memory budget). */
  readonly memory?: MemoryCeiling & { readonly label: string };
}

export interface AnalysisStats {
  /** Rules analysed (all of them when complete). */
  readonly rules: number;
  /** Rule boxes in the packet space (at most six per rule). */
  readonly boxes: number;
  /** Units of work (box subtractions) spent. */
  readonly work: number;
  readonly elapsedMs: number;
}

export interface AnalysisResult {
  /** Sorted (file, offset, code). */
  readonly diagnostics: Diagnostic[];
  /** False when the budget ran out (a SEG5005 diagnostic says what was not analysed). */
  readonly complete: boolean;
  /** The overlap findings behind the SEG500x diagnostics, by direction then priority. */
  readonly findings: RuleFinding[];
  readonly stats: AnalysisStats;
}

export const DEFAULT_ANALYSIS_BUDGET_MS = 10_000;

export function analyze(ir: ProgramIr, options: AnalysisOptions = {}): AnalysisResult {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const budgetMs = options.budgetMs ?? DEFAULT_ANALYSIS_BUDGET_MS;
  const budget = createBudget(budgetMs, now, options.memory);
  const maxRelated = options.maxRelated ?? 8;
  const diagnostics = analyzeUnused(ir);
  const findings: RuleFinding[] = [];
  let analysed = 0;
  let boxes = 0;
  const unanalysed: string[] = [];
  let firstUnanalysed: Diagnostic['span'] | null = null;

  for (const name of DIRECTIONS) {
    const direction = ir[name];
    const rules = direction.rules;
    if (rules.length === 0) continue;
    let stoppedAt = budget.exhausted ? 0 : -1;
    if (stoppedAt < 0) {
      const space = buildSpace(rules, options.splitAbove);
      boxes += space.ruleBoxes.reduce((n, r) => n + r.length, 0);
      const ctx: DirectionContext = { direction, space, index: buildOverlapIndex(space), measure: buildMeasure(space), reaching: [], moreReaching: [], maxRelated };
      for (let r = 0; r < rules.length; r++) {
        const found = budget.exhausted ? null : findRuleFindings(ctx, r, budget);
        if (found === null) {
          stoppedAt = r;
          break;
        }
        analysed++;
        for (const f of found) {
          findings.push(f);
          diagnostics.push(diagnoseFinding(f, direction, maxRelated));
        }
      }
    }
    if (stoppedAt >= 0) {
      const first = rules[stoppedAt];
      if (first && firstUnanalysed === null) firstUnanalysed = first.span;
      const count = rules.length - stoppedAt;
      unanalysed.push(stoppedAt === 0 ? `all ${count} rule${count === 1 ? '' : 's'} of ${name}` : `${count} rules of ${name} from '${first?.name}' on`);
    }
  }

  if (firstUnanalysed !== null) {
    const memory = budget.cause === 'memory' && options.memory !== undefined;
    const spentBudget = memory && options.memory ? options.memory.label : `${budgetMs} ms`;
    diagnostics.push(makeDiagnostic(Code.AnalysisIncomplete, firstUnanalysed, { budget: spentBudget, what: unanalysed.join(' and '), option: memory ? '--compile-memory' : '--analysis-budget' }));
  }
  return {
    diagnostics: sortDiagnostics(diagnostics),
    complete: firstUnanalysed === null,
    findings,
    stats: { rules: analysed, boxes, work: budget.spent, elapsedMs: now() - started },
  };
}
