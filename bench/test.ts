// Benchmark: `segc test` of 10,000 expectations against a 10k-rule ClassBench-derived policy:
// the policy's text with a test block of one expectation per rule (a packet inside the rule,
// expecting the rule the reference interpreter names), compiled from text and run. Prints the
// compile (parse, resolve, lower, tests) and run times.
// Run: node bench/test.ts [set]   (a path under the corpus; default classbench-hs1/rules/acl1_10K)
import { readFileSync } from 'node:fs';
import { evaluate } from '../compiler/evaluate.ts';
import { formatPacket, type Packet } from '../compiler/packet.ts';
import { runTests } from '../compiler/packet-tests.ts';
import { compile } from '../compiler/program.ts';
import type { RuleIr } from '../compiler/ir.ts';
import { createMemoryHost } from '../compiler/source.ts';
import { classBenchToIr, classBenchToSeg, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { benchArgs, exitIfDryRun } from './dry-run.ts';

const path = benchArgs()[0] ?? 'classbench-hs1/rules/acl1_10K';
exitIfDryRun([`${CORPUS}/${path}`]);
const rules = readClassBenchRules(readFileSync(`${CORPUS}/${path}`, 'utf8'));
const text = classBenchToSeg(rules);
const { ir } = classBenchToIr(rules);

/** A packet inside the rule: the first address of each side, the lowest ports, tcp when allowed. */
function packetIn(r: RuleIr): Packet | undefined {
  const src = r.src.v4[0];
  const dst = r.dst.v4[0];
  if (src === undefined || dst === undefined) return undefined;
  const proto = r.protocols === null ? 6 : (r.protocols[0] ?? 6);
  const p: { -readonly [K in keyof Packet]: Packet[K] } = { proto, src: src.split('/')[0]!, dst: dst.split('/')[0]! };
  if ([6, 17, 132].includes(proto)) {
    p.srcPort = r.srcPorts?.[0]?.[0] ?? 40000;
    p.dstPort = r.dstPorts?.[0]?.[0] ?? 80;
  }
  return p;
}

const lines: string[] = [];
for (let i = 0; lines.length < 10_000; i++) {
  const r = ir.ingress.rules[i % ir.ingress.rules.length]!;
  const p = packetIn(r);
  // ICMP rules would need a type; the other rules give plenty of packets.
  if (!p || p.proto === 1 || p.proto === 58) continue;
  const d = evaluate(ir.ingress, p);
  lines.push(`  expect ${d.rule ? `rule ${d.rule.name}` : 'default'} ${formatPacket(p)} ingress`);
}
const source = `${text}\ntest "generated" {\n${lines.join('\n')}\n}\n`;

const t0 = performance.now();
const c = compile(['policy.seg'], createMemoryHost({ 'policy.seg': source }));
const t1 = performance.now();
if (!c.ir) throw new Error(`the generated policy does not compile: ${c.diagnostics[0]?.message}`);
const result = runTests(c.ir, c.tests);
const t2 = performance.now();
console.log(
  `${path.padEnd(32)} ${c.ir.rules.length} rules, ${result.results.length} expectations: compile ${(t1 - t0).toFixed(0)} ms, run ${(t2 - t1).toFixed(0)} ms ` +
    `(${(((t2 - t1) * 1000) / result.results.length).toFixed(1)} us each); ${result.passed} passed, ${result.failed} failed; coverage ${result.coverage.reached.length}/${c.ir.rules.length} rules`,
);
