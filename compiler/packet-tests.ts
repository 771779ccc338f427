// Packet tests (segc's extension, docs/language.md "Packet tests"): `test` blocks lowered to
// plain expectations (packets parsed, rule names looked up per direction), and the runner that
// checks them against the reference interpreter, with the coverage of the rules they reach.
import type { Direction, ExpectationAst, TestDecl } from './ast.ts';
import { Code, type DiagnosticCollector } from './diagnostics.ts';
import { evaluate, type Decision } from './evaluate.ts';
import type { ProgramIr, RuleIr, Verdict } from './ir.ts';
import { parsePacket, TEST_DEFAULT_SOURCE_PORT, type Packet } from './packet.ts';
import type { ResolvedProgram } from './resolve.ts';
import type { Span } from './source.ts';
import { closestSpelling } from './spelling.ts';

/** What an expectation says decides its packet. */
export type ExpectedIr =
  | { readonly kind: 'verdict'; readonly verdict: Verdict }
  | { readonly kind: 'default' }
  /** A rule by the name the IR gives it (`ssh-office`, or `ingress/300` when unnamed). */
  | { readonly kind: 'rule'; readonly name: string };

export interface ExpectationIr {
  readonly test: string;
  readonly expected: ExpectedIr;
  readonly packet: Packet;
  /** The packet as written in the test (canonical spacing). */
  readonly packetText: string;
  readonly direction: Direction;
  /** The whole `expect` line. */
  readonly span: Span;
}

export interface PacketTestIr {
  readonly title: string;
  readonly span: Span;
  readonly expectations: readonly ExpectationIr[];
}

/**
 * The test blocks of every file of the compilation, in file then text order. Reports packets
 * that do not parse (SEG3102) and rule names no rule of the direction has (SEG2201); an
 * expectation with such an error is left out. Recovered blocks and lines are skipped (their
 * syntax error is reported). Rule names come from the AST, so this runs before `lower`, whose
 * IR then exists only when the tests are well-formed too.
 *
 * The direction of an expectation is the one written; without one, it is that of the rule a
 * `rule` expectation names (`egress/300`, or a name only egress has), else ingress.
 */
export function lowerTests(resolved: ResolvedProgram, diagnostics: DiagnosticCollector): PacketTestIr[] {
  // Most policies have no tests: their rules' names are not gathered for nothing.
  if (!resolved.asts.some((a) => a.declarations.some((d) => d.kind === 'Test'))) return [];
  const names: Record<Direction, Set<string>> = { ingress: new Set(), egress: new Set() };
  for (const policy of resolved.policies) {
    for (const rule of policy.rules) {
      if (rule.name) names[policy.direction].add(rule.name.name);
      names[policy.direction].add(`${policy.direction}/${rule.priority.value}`);
    }
  }
  const out: PacketTestIr[] = [];
  for (const ast of resolved.asts) {
    for (const d of ast.declarations) {
      if (d.kind !== 'Test') continue;
      const test = lowerTest(d, names, diagnostics);
      if (test) out.push(test);
    }
  }
  return out;
}

function lowerTest(test: TestDecl, names: Readonly<Record<Direction, Set<string>>>, diagnostics: DiagnosticCollector): PacketTestIr | undefined {
  const expectations: ExpectationIr[] = [];
  for (const e of test.expectations) {
    if (e.recovered) continue;
    const lowered = lowerExpectation(test.title, e, names, diagnostics);
    if (lowered) expectations.push(lowered);
  }
  return test.recovered ? undefined : { title: test.title, span: test.span, expectations };
}

function lowerExpectation(title: string, e: ExpectationAst, names: Readonly<Record<Direction, Set<string>>>, diagnostics: DiagnosticCollector): ExpectationIr | undefined {
  const parsed = parsePacket(e.packet.text, { defaultSourcePort: TEST_DEFAULT_SOURCE_PORT });
  if (!parsed.ok) diagnostics.add(Code.InvalidTestPacket, e.packet.span, { error: parsed.error });
  const x = e.expected;
  let direction: Direction = e.direction?.direction ?? 'ingress';
  let expected: ExpectedIr;
  if (x.kind === 'rule') {
    const name = x.rule.name;
    if (e.direction === undefined) {
      const written = /^(ingress|egress)\//.exec(name)?.[1] as Direction | undefined;
      direction = written ?? (!names.ingress.has(name) && names.egress.has(name) ? 'egress' : 'ingress');
    }
    if (!names[direction].has(name)) {
      const candidates = [...names[direction]].filter((n) => !n.includes('/')).sort();
      const suggestion = closestSpelling(name, candidates);
      diagnostics.add(Code.UnknownRuleInTest, x.rule.span, suggestion === undefined ? { name, direction } : { name, direction, suggestion });
      return undefined;
    }
    expected = { kind: 'rule', name };
  } else expected = x.kind === 'default' ? { kind: 'default' } : { kind: 'verdict', verdict: x.verdict };
  if (!parsed.ok) return undefined;
  return { test: title, expected, packet: parsed.packet, packetText: e.packet.text, direction, span: e.span };
}

// ---- Running ------------------------------------------------------------------------------------

export interface ExpectationResult {
  readonly expectation: ExpectationIr;
  readonly passed: boolean;
  /** What the reference interpreter decided. */
  readonly actual: Decision;
}

export interface TestCoverage {
  /** Rules some expectation's packet is decided by, by IR id. */
  readonly reached: readonly RuleIr[];
  /** Rules no expectation's packet is decided by. */
  readonly unreached: readonly RuleIr[];
  /** Whether each direction's default decided some expectation. */
  readonly defaults: Readonly<Record<Direction, boolean>>;
}

export interface TestRun {
  readonly results: readonly ExpectationResult[];
  readonly passed: number;
  readonly failed: number;
  readonly coverage: TestCoverage;
}

/** Whether a decision is what the expectation says. */
export function expectationHolds(expected: ExpectedIr, decision: Decision): boolean {
  switch (expected.kind) {
    case 'verdict':
      return decision.verdict === expected.verdict;
    case 'default':
      return decision.rule === null;
    case 'rule':
      return decision.rule?.name === expected.name;
  }
}

/** Runs every expectation through the reference interpreter (evaluate.ts). */
export function runTests(ir: ProgramIr, tests: readonly PacketTestIr[]): TestRun {
  const results: ExpectationResult[] = [];
  const reached = new Set<number>();
  const defaults = { ingress: false, egress: false };
  for (const test of tests) {
    for (const e of test.expectations) {
      const actual = evaluate(ir[e.direction], e.packet);
      if (actual.rule) reached.add(actual.rule.id);
      else defaults[e.direction] = true;
      results.push({ expectation: e, passed: expectationHolds(e.expected, actual), actual });
    }
  }
  const passed = results.filter((r) => r.passed).length;
  return {
    results,
    passed,
    failed: results.length - passed,
    coverage: { reached: ir.rules.filter((r) => reached.has(r.id)), unreached: ir.rules.filter((r) => !reached.has(r.id)), defaults },
  };
}
