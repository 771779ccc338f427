// `segc test --kernel`: expectations run through the compiled program under BPF_PROG_TEST_RUN
// agree with the reference interpreter on random policies with generated expectations, and a
// deliberately wrong expectation fails with a clear report.
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../compiler/evaluate.ts';
import { DIRECTIONS } from '../../compiler/ir.ts';
import { formatPacket } from '../../compiler/packet.ts';
import { runTests, type ExpectationIr } from '../../compiler/packet-tests.ts';
import { createNodeIo } from '../../runtime/cli/io.ts';
import { run } from '../../runtime/cli/main.ts';
import { runExpectationsInKernel } from '../../runtime/test-kernel.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { randomPacket, randomProgram } from '../support/random-policy.ts';

describe.skipIf(!KERNEL_AVAILABLE)('packet tests in the kernel', () => {
  const dir = mkdtempSync(join(tmpdir(), `segc-h11-ktest-${process.pid}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('agree with the reference interpreter on random policies with generated expectations', () => {
    let checked = 0;
    fc.assert(
      fc.property(randomProgram({ maxRules: 12 }), fc.array(randomPacket, { minLength: 40, maxLength: 40 }), fc.nat(), (ir, packets, seed) => {
        const expectations: ExpectationIr[] = packets.map((packet, i) => {
          const direction = DIRECTIONS[(i + seed) % 2]!;
          const decision = evaluate(ir[direction], packet);
          // Alternate the kinds of expectation: a verdict, the deciding rule, or the default.
          const expected = i % 3 === 0 ? { kind: 'verdict' as const, verdict: decision.verdict } : decision.rule ? { kind: 'rule' as const, name: decision.rule.name } : { kind: 'default' as const };
          return { test: 'generated', expected, packet, packetText: formatPacket(packet), direction, span: { file: 'g.seg', start: 0, end: 0 } };
        });
        const reference = runTests(ir, [{ title: 'generated', span: { file: 'g.seg', start: 0, end: 0 }, expectations }]);
        expect(reference.failed).toBe(0);
        const kernel = runExpectationsInKernel(ir, expectations);
        kernel.forEach((k, i) => {
          const r = reference.results[i]!;
          expect({ verdict: k.verdict, rule: k.rule }, `${r.expectation.direction} ${r.expectation.packetText}`).toEqual({ verdict: r.actual.verdict, rule: r.actual.rule?.name ?? null });
        });
        checked += kernel.length;
      }),
      { numRuns: 12, endOnFailure: true },
    );
    expect(checked).toBe(480);
  }, 120_000);

  it('fails a deliberately wrong expectation with the packet, both verdicts and the deciding rule', async () => {
    writeFileSync(
      join(dir, 'web.seg'),
      'policy ingress default deny {\n  100 ssh: allow tcp from 10.20.0.0/16 to any port 22\n}\ntest "ssh" {\n  expect allow tcp 10.20.1.5 -> 10.0.1.7:22\n  expect allow tcp 192.0.2.1 -> 10.0.1.7:22\n}\n',
    );
    const io = createNodeIo(dir);
    let out = '';
    const code = await run(['test', '--kernel', 'web.seg'], { ...io, stdout: { write: (t: string) => void (out += t) } });
    expect(code).toBe(1);
    expect(out).toBe(
      'FAIL  ssh  web.seg:6\n  expect allow tcp 192.0.2.1 -> 10.0.1.7:22 ingress\n  expected allow, got deny by the default (web.seg:1)\n2 expectations in 1 test (reference interpreter and kernel): 1 passed, 1 failed\n',
    );
  });
});
