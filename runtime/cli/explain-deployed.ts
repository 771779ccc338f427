// `segc explain --deployed [NAME] --packet ...`: explains a packet against the policy a
// deployment has in force (recompiled from the sources its record keeps), then confirms the
// answer by running the packet's frame through the deployment's loaded program
// (BPF_PROG_TEST_RUN). A session the test run opened is removed again; the counters keep it.
import { evaluate } from '../../compiler/evaluate.ts';
import { hashProgram } from '../../compiler/hash.ts';
import type { Packet } from '../../compiler/packet.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import type { Direction } from '../../compiler/ir.ts';
import { formatExplanation, toExplainJson } from '../../compiler/report/explanation.ts';
import { CliError, type Outcome } from './command.ts';
import { useColor } from './options.ts';
import type { CliIo } from './io.ts';

export interface KernelConfirmation {
  readonly verdict: 'allow' | 'deny';
  /** The rule the kernel named, or null for the default (or a session). */
  readonly rule: string | null;
  readonly agrees: boolean;
}

/** The options of `segc explain` that `--deployed` reads. */
export interface DeployedExplainOptions {
  readonly direction: Direction;
  readonly json?: boolean;
  readonly color?: boolean;
}

export async function explainDeployed(name: string, packet: Packet, options: DeployedExplainOptions, io: CliIo): Promise<Outcome> {
  const { openDeployment } = await import('./deployment.ts');
  const { compile } = await import('../../compiler/program.ts');
  const { runFrame } = await import('../datapath/test-run.ts');
  const { deleteSession, readSessions } = await import('../datapath/sessions.ts');
  const { buildFrame } = await import('../packet-bytes.ts');
  return openDeployment(io, name, (dp, state, ruleName) => {
    const compilation = compile(state.current.files, createMemoryHost(state.current.sources));
    if (compilation.ir === undefined) throw new CliError('environment', `the recorded sources of '${name}' no longer compile`, 'deploy the policy again');
    if (hashProgram(compilation.ir) !== state.current.policyHash) throw new CliError('environment', `the recorded sources of '${name}' do not give the deployed policy (hash differs)`, 'deploy the policy again');
    const direction = compilation.ir[options.direction];
    const decision = evaluate(direction, packet);

    // The kernel's answer for the same packet, as the first packet of a flow.
    const tcp = packet.proto === 6 && packet.dstPort !== undefined;
    const frame = buildFrame(packet, tcp ? { tcpFlags: 'syn' } : {});
    const keysBefore = new Set(readSessions(dp).map((s) => Buffer.from(s.key).toString('hex')));
    const kernel = runFrame(dp, options.direction, frame);
    for (const s of readSessions(dp)) {
      if (!keysBefore.has(Buffer.from(s.key).toString('hex'))) deleteSession(dp, s.key);
    }
    const wantRule = decision.rule?.id ?? null;
    const confirmation: KernelConfirmation = {
      verdict: kernel.verdict,
      rule: kernel.rule === null ? null : ruleName(kernel.rule),
      agrees: kernel.verdict === decision.verdict && (kernel.rule === wantRule || kernel.rule === null),
    };
    if (options.json === true) {
      io.stdout.write(JSON.stringify({ ...toExplainJson(decision, options.direction, compilation.sources), deployment: name, generation: state.current.generation, kernel: confirmation }) + '\n');
    } else {
      io.stdout.write(formatExplanation(packet, direction, decision, compilation.sources, useColor(io, 'stdout', options.color)));
      io.stdout.write(
        `kernel     ${confirmation.verdict}${confirmation.rule === null ? '' : ` by ${confirmation.rule}`}: ${confirmation.agrees ? 'the loaded program agrees' : 'DISAGREES with the policy (report this as a bug)'} (deployment '${name}', generation ${state.current.generation})\n`,
      );
    }
    if (!confirmation.agrees) throw new Error(`the loaded program of '${name}' gives ${kernel.verdict} (rule ${kernel.rule ?? 'none'}) where the policy gives ${decision.verdict} (rule ${wantRule ?? 'none'})`);
    return 'ok';
  });
}
