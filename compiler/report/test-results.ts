// Reporter of packet-test runs (`segc test`): human text, JSON and JUnit XML (for CI systems).
// Only formats: each failure with its packet, the expected and actual outcome and the deciding
// rule's file:line; with coverage, the rules no expectation reaches and the share that do.
import type { ExpectedIr, ExpectationResult, TestRun } from '../packet-tests.ts';
import type { Decision } from '../evaluate.ts';
import type { DirectionIr, ProgramIr } from '../ir.ts';
import { locate, locationText, type ReportSources } from './location.ts';

/** The kernel's outcome of an expectation (`--kernel`), when it ran. */
export interface KernelResult {
  readonly verdict: 'allow' | 'deny';
  readonly rule: string | null;
  /** It agrees with the expectation and with the reference interpreter. */
  readonly agrees: boolean;
}

export interface TestReportInput {
  readonly ir: ProgramIr;
  readonly run: TestRun;
  readonly sources: ReportSources;
  /** Per result (same order), when --kernel ran them. */
  readonly kernel?: readonly KernelResult[];
  readonly coverage?: boolean;
}

function at(span: { file: string; start: number; end: number }, sources: ReportSources): string {
  const l = locate(span, sources);
  return `${l.file}:${l.line}`;
}

function describeDecision(d: Decision, direction: DirectionIr, sources: ReportSources): string {
  if (d.rule) return `${d.verdict} by rule ${d.rule.name} (${at(d.rule.span, sources)})`;
  return `${d.verdict} by the default${direction.defaultSpan ? ` (${at(direction.defaultSpan, sources)})` : ''}`;
}

/** `allow`, `deny`, `the default` or `rule NAME`. */
function describeExpected(expected: ExpectedIr): string {
  return expected.kind === 'verdict' ? expected.verdict : expected.kind === 'default' ? 'the default' : `rule ${expected.name}`;
}

/** Whether a result failed, in the kernel or in the interpreter. */
export function resultFailed(r: ExpectationResult, kernel: KernelResult | undefined): boolean {
  return !r.passed || (kernel !== undefined && !kernel.agrees);
}

function expectationText(r: ExpectationResult): string {
  const e = r.expectation;
  const x = e.expected;
  return `expect ${x.kind === 'verdict' ? x.verdict : x.kind === 'default' ? 'default' : `rule ${x.name}`} ${e.packetText} ${e.direction}`;
}

function failureMessage(r: ExpectationResult, input: TestReportInput, kernel: KernelResult | undefined): string {
  const direction = input.ir[r.expectation.direction];
  const parts: string[] = [];
  if (!r.passed) parts.push(`expected ${describeExpected(r.expectation.expected)}, got ${describeDecision(r.actual, direction, input.sources)}`);
  if (kernel && !kernel.agrees) parts.push(`the kernel decided ${kernel.verdict} by ${kernel.rule === null ? 'the default' : `rule ${kernel.rule}`}, the reference interpreter ${describeDecision(r.actual, direction, input.sources)}`);
  return parts.join('; ');
}

function counts(input: TestReportInput): { total: number; failed: number; tests: number } {
  const failed = input.run.results.filter((r, i) => resultFailed(r, input.kernel?.[i])).length;
  const tests = new Set(input.run.results.map((r) => `${r.expectation.test}\u0000${r.expectation.span.file}`)).size;
  return { total: input.run.results.length, failed, tests };
}

function coverageLines(input: TestReportInput): string[] {
  const { reached, unreached } = input.run.coverage;
  const total = reached.length + unreached.length;
  const share = total === 0 ? 100 : Math.round((reached.length / total) * 1000) / 10;
  const lines = [`coverage: ${reached.length} of ${total} rules decide some expectation (${share}%)`];
  for (const r of unreached) lines.push(`  not reached  ${r.direction} rule ${r.name}  ${at(r.span, input.sources)}`);
  for (const d of ['ingress', 'egress'] as const) {
    if (!input.run.coverage.defaults[d]) lines.push(`  not reached  ${d} default (${input.ir[d].defaultAction})`);
  }
  return lines;
}

export function formatTestHuman(input: TestReportInput): string {
  const lines: string[] = [];
  input.run.results.forEach((r, i) => {
    const kernel = input.kernel?.[i];
    if (!resultFailed(r, kernel)) return;
    lines.push(`FAIL  ${r.expectation.test}  ${at(r.expectation.span, input.sources)}`);
    lines.push(`  ${expectationText(r)}`);
    lines.push(`  ${failureMessage(r, input, kernel)}`);
  });
  const { total, failed, tests } = counts(input);
  // A loop: a policy of 100k rules no expectation reaches has 100k coverage lines.
  if (input.coverage === true) for (const line of coverageLines(input)) lines.push(line);
  const where = input.kernel ? ' (reference interpreter and kernel)' : '';
  lines.push(total === 0 ? 'no expectations found (write test blocks: docs/language.md, "Packet tests")' : `${total} expectation${total === 1 ? '' : 's'} in ${tests} test${tests === 1 ? '' : 's'}${where}: ${total - failed} passed, ${failed} failed`);
  return lines.join('\n') + '\n';
}

export function testJson(input: TestReportInput): unknown {
  const { total, failed } = counts(input);
  const { reached, unreached, defaults } = input.run.coverage;
  return {
    passed: total - failed,
    failed,
    expectations: input.run.results.map((r, i) => {
      const kernel = input.kernel?.[i];
      const l = locate(r.expectation.span, input.sources);
      return {
        test: r.expectation.test,
        location: locationText(l.file, l.line),
        file: l.file,
        line: l.line,
        direction: r.expectation.direction,
        packet: r.expectation.packetText,
        expected: r.expectation.expected,
        actual: { verdict: r.actual.verdict, rule: r.actual.rule ? { name: r.actual.rule.name, location: at(r.actual.rule.span, input.sources) } : null },
        passed: !resultFailed(r, kernel),
        ...(kernel ? { kernel } : {}),
      };
    }),
    ...(input.coverage === true ? { coverage: { reached: reached.map((r) => r.name), unreached: unreached.map((r) => ({ direction: r.direction, name: r.name, location: at(r.span, input.sources) })), defaults } } : {}),
  };
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JUnit XML: a testsuite per test block, a testcase per expectation (the shape CI tools read). */
export function formatTestJunit(input: TestReportInput): string {
  const suites = new Map<string, { title: string; file: string; cases: string[]; failures: number }>();
  input.run.results.forEach((r, i) => {
    const kernel = input.kernel?.[i];
    const l = locate(r.expectation.span, input.sources);
    const key = `${r.expectation.test}\u0000${l.file}`;
    let s = suites.get(key);
    if (!s) suites.set(key, (s = { title: r.expectation.test, file: l.file, cases: [], failures: 0 }));
    const name = xml(expectationText(r));
    const head = `    <testcase classname="${xml(r.expectation.test)}" name="${name}" file="${xml(l.file)}" line="${l.line}"`;
    if (resultFailed(r, kernel)) {
      s.failures++;
      const message = xml(failureMessage(r, input, kernel));
      s.cases.push(`${head}>\n      <failure message="${message}" type="expectation">${message}</failure>\n    </testcase>`);
    } else s.cases.push(`${head}/>`);
  });
  const { total, failed } = counts(input);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="segc test" tests="${total}" failures="${failed}">`];
  for (const s of suites.values()) {
    out.push(`  <testsuite name="${xml(s.title)}" file="${xml(s.file)}" tests="${s.cases.length}" failures="${s.failures}" errors="0" skipped="0">`);
    for (const c of s.cases) out.push(c);
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
