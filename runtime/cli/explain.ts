// `segc explain` (file mode): compiles the policy, runs one packet through the reference
// interpreter and prints the verdict, the log flag and the rule that decided (or the
// default), in words or as the JSON of cli.md. A policy with errors is reported instead (exit 1).
import { Option, type Command } from 'commander';
import { hasErrors } from '../../compiler/diagnostics.ts';
import type { Direction } from '../../compiler/ir.ts';
import { parsePacket } from '../../compiler/packet.ts';
import { formatHuman } from '../../compiler/report/human.ts';
import { formatExplanation, toExplainJson } from '../../compiler/report/explanation.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { colorOption, noColorOption, useColor } from './options.ts';
import { resolveInputFiles } from './inputs.ts';
import type { CliIo } from './io.ts';

export interface ExplainOptions {
  readonly packet: string;
  readonly direction: Direction;
  readonly json?: boolean;
  readonly color?: boolean;
  /** A deployment name (or true: `default`) to explain against instead of files. */
  readonly deployed?: string | true;
}


const EXAMPLES = `
Examples:
  $ segc explain web.seg --packet 'tcp 10.0.0.1:40000 -> 10.0.1.5:443'
  $ segc explain policies/ --direction egress --packet 'udp [2001:db8::1]:5353 -> [2001:db8::2]:53'
  $ segc explain web.seg --json --packet 'icmp 10.0.0.1 -> 10.0.0.2 type echo-request'

PACKET is PROTO SRC[:PORT] -> DST[:PORT] [type T [code C]]; IPv6 addresses go in brackets when
a port follows. A tcp, udp or sctp packet without ports stands for a later IP fragment.
A direction that no policy block names is unfiltered: explain allows its packets, and so does
the data path, which opens their sessions so that the replies pass (docs/language.md).`;

export function register(program: Command, io: CliIo): void {
  program
    .command('explain')
    .summary('show which rule decides a packet')
    .description('Explain the verdict a policy gives one packet: the deciding rule, or the default.')
    .argument('[paths...]', 'policy files, or folders (every *.seg below them)')
    .option('--deployed [name]', 'explain against a deployment in force (default: default) and confirm with its loaded program')
    .requiredOption('--packet <packet>', "the packet, e.g. 'tcp 10.0.0.1:40000 -> 10.0.1.5:443'")
    .addOption(new Option('--direction <direction>', 'the hook the packet crosses').choices(['ingress', 'egress']).default('ingress'))
    .option('--json', 'print the answer as JSON')
    .addOption(colorOption('the output even when it is not a terminal'))
    .addOption(noColorOption())
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], options: ExplainOptions, command: Command) => {
      recordOutcome(command, await explain(paths, options, io));
    });
}

export async function explain(paths: readonly string[], options: ExplainOptions, io: CliIo): Promise<Outcome> {
  const parsed = parsePacket(options.packet);
  if (!parsed.ok) throw new CliError('usage', `--packet: ${parsed.error}`);
  if (options.deployed !== undefined) {
    const { explainDeployed } = await import('./explain-deployed.ts');
    return explainDeployed(options.deployed === true ? 'default' : options.deployed, parsed.packet, options, io);
  }
  if (paths.length === 0) throw new CliError('usage', 'name the policy files to explain against, or --deployed', "e.g. segc explain web.seg --packet 'tcp 10.0.0.1:40000 -> 10.0.1.5:443'");
  const files = resolveInputFiles(paths, io);
  const { compile, evaluate } = await import('../../compiler/program.ts');
  const compilation = compile(files, io.host);
  if (compilation.ir === undefined || hasErrors(compilation.diagnostics)) {
    const errors = compilation.diagnostics.filter((d) => d.severity === 'error');
    io.stderr.write(formatHuman(errors, compilation.sources, { color: useColor(io, 'stderr', options.color) }));
    return 'findings';
  }
  const direction = compilation.ir[options.direction];
  const decision = evaluate(direction, parsed.packet);
  if (options.json === true) io.stdout.write(JSON.stringify(toExplainJson(decision, options.direction, compilation.sources)) + '\n');
  else io.stdout.write(formatExplanation(parsed.packet, direction, decision, compilation.sources, useColor(io, 'stdout', options.color)));
  return 'ok';
}

