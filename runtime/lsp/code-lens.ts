// Code lenses: over each `test` block, "run" (its expectations against the reference
// interpreter, as `segc test` runs them); over each policy block, its number of rules and of
// analysis findings. The run is the `segc.runTests` command, executed by the server.
import type { CodeLens } from 'vscode-languageserver';
import { hasErrors } from '../../compiler/diagnostics.ts';
import { runTests } from '../../compiler/program.ts';
import { positionOf } from '../../compiler/source.ts';
import { snapshotDiagnostics } from './diagnostics.ts';
import type { DocumentSnapshot } from './snapshot.ts';
import { rangeOf, spanContains } from './positions.ts';

export const RUN_TESTS_COMMAND = 'segc.runTests';
export const POLICY_SUMMARY_COMMAND = 'segc.policySummary';

/** What counts as a finding of the rule analysis (SEG5005, the budget note, does not). */
const FINDING_CATEGORIES: ReadonlySet<string> = new Set(['shadowed', 'redundant', 'conflict', 'generalization']);

export function codeLenses(snapshot: DocumentSnapshot, path: string): CodeLens[] {
  const ast = snapshot.compilation.asts.get(path);
  const file = snapshot.compilation.sources.get(path);
  if (!ast || !file) return [];
  const diagnostics = snapshotDiagnostics(snapshot);
  const out: CodeLens[] = [];
  for (const d of ast.declarations) {
    const range = rangeOf(file, { start: d.span.start, end: d.span.start });
    if (d.kind === 'Test') {
      out.push({ range, command: { title: `▶ run ${d.expectations.length} expectation${d.expectations.length === 1 ? '' : 's'}`, command: RUN_TESTS_COMMAND, arguments: [file.path, d.title] } });
    } else if (d.kind === 'Policy') {
      const findings = diagnostics.filter((x) => FINDING_CATEGORIES.has(x.category) && spanContains(d.span, x.span)).length;
      const pending = snapshot.analysis === undefined && snapshot.compilation.ir !== undefined ? ' (analysing)' : '';
      const title = `${d.rules.length} rule${d.rules.length === 1 ? '' : 's'} · ${findings} finding${findings === 1 ? '' : 's'}${pending}`;
      out.push({ range, command: { title, command: POLICY_SUMMARY_COMMAND, arguments: [file.path, d.direction] } });
    }
  }
  return out;
}

export interface TestRunSummary {
  readonly passed: number;
  readonly failed: number;
  /** One line per failed expectation: where it is, what was expected and what decided. */
  readonly failures: readonly string[];
  /** Set when the tests could not run (the policy has errors). */
  readonly error?: string;
}

/** Runs the expectations of one test block (by title) of a file of the snapshot's compilation. */
export function runTestBlock(snapshot: DocumentSnapshot, path: string, title: string): TestRunSummary {
  const ir = snapshot.compilation.ir;
  if (ir === undefined || hasErrors(snapshot.compilation.diagnostics)) return { passed: 0, failed: 0, failures: [], error: 'the policy or its tests have errors; no test ran' };
  const tests = snapshot.compilation.tests.filter((t) => t.title === title && t.span.file === path);
  const run = runTests(ir, tests);
  const failures = run.results
    .filter((r) => !r.passed)
    .map((r) => {
      const file = snapshot.compilation.sources.get(r.expectation.span.file);
      const line = file ? positionOf(file, r.expectation.span.start).line : 0;
      const by = r.actual.rule ? `rule ${r.actual.rule.name}` : 'the default';
      return `line ${line}: ${r.expectation.packetText} (${r.expectation.direction}): ${r.actual.verdict} by ${by}`;
    });
  return { passed: run.passed, failed: run.failed, failures };
}

