// `segc deploy`: checks and compiles the policy (errors refuse it: exit 1; rule-analysis
// findings are printed, and block only with --strict), then hands the bundle to the runtime's
// deploy (runtime/deploy.ts) and prints what is now in force, in words or as JSON. `--dry-run`
// prints the semantic difference from what is deployed and touches nothing.
import { join } from 'node:path';
import type { Command } from 'commander';
import { Code } from '../../compiler/diagnostics.ts';
import type { PacketTestIr } from '../../compiler/packet-tests.ts';
import type { ReportSources } from '../../compiler/report/location.ts';
import type { ProgramIr } from '../../compiler/ir.ts';
import { formatHuman } from '../../compiler/report/human.ts';
import type { DeployStep } from '../deploy.ts';
import type { DatapathSettings } from '../state.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { parseConfirmWindow, parseDenyIncrease, parseShare, parseStepTime, parseSteps, type CompiledPolicy, type DeployCommandOptions } from './deploy-input.ts';
import { deployJson, formatDeployResult } from './deploy-output.ts';
import { lockTimeoutOf, runDeploy } from './deploy-run.ts';
import { colorOption, noColorOption, useColor, wholeNumber } from './options.ts';
import { EXPIRY_WINDOW_HELP, expiryOptionsOf, parseExpiryWindow } from './clock.ts';
import { addInputLimitOptions, inputLimitsOf, resolveInputFiles, testFilesOf, type InputLimitOptions } from './inputs.ts';
import type { CliIo } from './io.ts';


const EXAMPLES = `
Examples:
  $ sudo segc deploy web.seg --iface eth0
  $ sudo segc deploy policies/ --iface eth0 --iface eth1 --name web
  $ sudo segc deploy web.seg --iface eth0 --dry-run     what would change, touching nothing
  $ sudo segc deploy web.seg --iface eth0 --audit       denies pass, counted as would-deny
  $ sudo segc deploy web.seg --iface eth0               (again, without --audit: enforce)
  $ sudo segc deploy web.seg --iface eth0 --log-denies --event-rate 20
  $ sudo segc deploy web.seg --iface eth0 --test        only if every test block's expectation holds
  $ sudo segc deploy web.seg --iface eth0 --confirm 2m  rolled back in 2 minutes unless 'segc confirm'
  $ sudo segc deploy web.seg --iface eth0 --keep 'tcp 22' --keep 'tcp 9464'
  $ sudo segc deploy web.seg --iface eth0 --canary 10%  10% of new flows meet the new policy
  $ sudo segc deploy web.seg --iface eth0 --canary-steps 5,10,25,50,100 --step-time 5m --max-deny-increase 1

A redeploy fills the policy slot not in force and switches every interface to it with one
map write; a failed deploy leaves the previous policy enforcing. A rule past its 'expires' date
refuses the deploy unless --allow-expired (SEGC_NOW=YYYY-MM-DD sets "today").
The lock-out guard refuses a policy that would deny the SSH connection the command runs under
(SSH_CONNECTION), an established SSH session, or a --keep flow; --confirm or --allow-lockout
deploy it anyway. A canary (--canary, --canary-steps) installs the policy beside the one in
force: a hash of each new flow (the same both ways) picks its policy, established sessions keep
theirs; 'segc canary --set', 'segc promote' and 'segc rollback' move it (docs/deploy.md). Filters and pinned maps
(/sys/fs/bpf/segc/NAME) stay after segc exits; 'segc undeploy' removes them.

Audit, events and SYN protection are set by each deploy (the switch writes them with the
slot): a redeploy without --audit enforces again. Event limits are token buckets per CPU:
100 events/s per rule (burst 200) and 2000/s for all rules (burst 4000) unless given; every
event not sent is counted ('segc stats'). 'segc monitor' prints the events.`;

export function register(program: Command, io: CliIo): void {
  const command = program
    .command('deploy')
    .summary('enforce a policy on network interfaces')
    .description('Check, compile and load a policy, attach it to ingress and egress of each interface, and switch to it atomically.')
    .argument('<paths...>', 'policy files, or folders (every *.seg below them, sorted)')
    .requiredOption('--iface <interface>', 'an interface to enforce on (repeat for several)', collect, [])
    .option('--name <name>', 'the deployment name (several may coexist on different interfaces)', 'default')
    .option('--dry-run', 'show what would change against what is deployed; change nothing')
    .option('--json', 'print the result as JSON')
    .option('--strict', 'refuse the policy when the rule analysis finds anything (warnings too)')
    .option('--max-rules <n>', 'rules per policy slot the data path is sized for (default 65536; a change resizes the running data path in place, sessions kept)', wholeNumber)
    .option('--sessions <n>', 'session table capacity (default 262144, rounded up to a power of two of 4-way buckets; 128 bytes of kernel memory each; keep the concurrent flows below 60 % of it (status warns past that); a change resizes it in place, sessions kept where their buckets have room)', wholeNumber)
    .option('--fragments <n>', 'fragmented datagrams tracked at once (default 4096; a change resizes it in place)', wholeNumber)
    .option('--analysis-budget <ms>', 'time the rule analysis may take (default 1000, 10000 with --strict)', wholeNumber)
    .option('--audit', 'audit mode: denies pass and are counted as would-deny (and sent as events)')
    .option('--log-denies', 'send an event for every denied packet, not only for log rules')
    .option('--no-syn-protection', 'under session table pressure, let SYNs open sessions anyway (they then evict sessions of their buckets, established ones included)')
    .option('--pressure <percent>', 'session table fill where SYN protection starts (default 75)', wholeNumber)
    .option('--event-rate <n>', "events per second of each rule, per CPU (default 100)", wholeNumber)
    .option('--event-burst <n>', "events a rule may send at once (default 200)", wholeNumber)
    .option('--event-global-rate <n>', 'events per second of all rules, per CPU (default 2000)', wholeNumber)
    .option('--event-global-burst <n>', 'events all rules may send at once (default 4000)', wholeNumber)
    .option('--event-buffer <KiB>', 'event ring buffer size, a power of two (default 256; a change replaces the ring in place)', wholeNumber)
    .option('--test', "run the policy's test blocks (and X.test.seg files) first; refuse the deploy if one fails")
    .option('--allow-expired', "deploy even when a rule is past its 'expires' date")
    .option('--expiry-window <days>', EXPIRY_WINDOW_HELP, parseExpiryWindow)
    .option('--confirm <duration>', "commit-confirmed: roll back by itself after DURATION (90s, 2m, 1h) unless 'segc confirm' comes first", parseConfirmWindow)
    .option('--keep <flow>', "a management flow the policy must not deny: 'tcp 22', 'egress udp 53', 'tcp 22 from 10.0.0.0/8' or a packet (repeat)", collect, [])
    .option('--allow-lockout', 'deploy even when the policy would deny a management flow (SSH_CONNECTION, SSH sessions, --keep)')
    .option('--canary <share>', "run the policy as a canary beside the one in force, judging this share of NEW flows (10%, 12.5%); 'segc promote' or 'segc rollback' ends it", parseShare)
    .option('--canary-steps <percents>', 'a staged canary: these shares in turn (5,10,25,50,100), each after its health gate passed; promoted after the last, rolled back at the first failed gate', parseSteps)
    .option('--step-time <duration>', 'how long each canary step runs before its gate (default 5m)', parseStepTime)
    .option('--max-deny-increase <points>', "the gate: the canary's deny rate of new flows may exceed the baseline's by this many percentage points (default 1)", parseDenyIncrease)
    .option('--min-flows <n>', 'packets the canary must classify in a step before its gate is judged; fewer hold the step (default 10)', wholeNumber)
    .addOption(colorOption('the output even when it is not a terminal'))
    .addOption(noColorOption());
  addInputLimitOptions(command)
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], options: DeployCommandOptions, command: Command) => {
      recordOutcome(command, await deployCommand(paths, options, io));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}


/**
 * Compiles for deploy: errors are printed and refuse the policy (undefined); analysis
 * findings are printed to stderr and refuse it only with `strict`.
 */
export async function compileForDeploy(
  paths: readonly string[],
  options: InputLimitOptions & { readonly strict?: boolean; readonly color?: boolean; readonly analysisBudget?: number; readonly test?: boolean; readonly allowExpired?: boolean; readonly expiryWindow?: number },
  io: CliIo,
): Promise<CompiledPolicy | undefined> {
  // With --test, X.test.seg files beside the policy join it, as for `segc test`.
  const files = options.test === true ? testFilesOf(paths, io) : resolveInputFiles(paths, io);
  const [{ compile }, { emit, EmitLimitError }, { bundle }] = await Promise.all([
    import('../../compiler/program.ts'),
    import('../../compiler/emit.ts'),
    import('../../compiler/bundle.ts'),
  ]);
  // Advisory unless --strict, so a large policy does not wait on it: 1 s by default (the
  // report then says what it did not finish), check's full 10 s with --strict.
  const budgetMs = options.analysisBudget ?? (options.strict === true ? 10_000 : 1_000);
  const compilation = compile(files, io.host, { analysis: { budgetMs }, expiry: await expiryOptionsOf(io, options.expiryWindow), ...inputLimitsOf(options) });
  const color = useColor(io, 'stderr', options.color);
  // No IR means the front end found errors; the analysis's findings (even a shadowed rule,
  // an error for check) only advise here, unless --strict.
  if (compilation.ir === undefined) {
    io.stderr.write(formatHuman(compilation.diagnostics.filter((d) => d.severity === 'error'), compilation.sources, { color }));
    io.stderr.write('error: the policy has errors; nothing was deployed\n');
    return undefined;
  }
  const ir = compilation.ir;
  const expiry = compilation.diagnostics.filter((d) => d.code === Code.RuleExpired || d.code === Code.RuleExpiresSoon);
  if (expiry.length > 0) io.stderr.write(formatHuman(expiry, compilation.sources, { color }));
  if (options.allowExpired !== true && expiry.some((d) => d.code === Code.RuleExpired)) {
    io.stderr.write('error: the policy has rules past their expiry date; nothing was deployed\nhint: remove them, or deploy anyway with --allow-expired\n');
    return undefined;
  }
  if (options.test === true && !(await deployRunTests(ir, compilation, io))) return undefined;
  // SEG5102/SEG5103 (a `nosession` rule keeps its sessions) advise like the analysis' findings.
  const findings = [...(compilation.analysis?.diagnostics ?? []), ...(compilation.noSession?.diagnostics ?? [])].filter((d) => d.severity !== 'info' || options.strict === true);
  if (findings.length > 0) io.stderr.write(formatHuman(findings, compilation.sources, { color }));
  if (options.strict === true && findings.some((d) => d.severity !== 'info')) {
    io.stderr.write('error: --strict: the rule analysis found problems; nothing was deployed\n');
    return undefined;
  }
  let image;
  try {
    image = emit(ir, { origins: true, noSession: compilation.noSession?.ruleIds ?? [] });
  } catch (error) {
    if (error instanceof EmitLimitError) {
      io.stderr.write(`error: the policy does not fit the data path: ${error.message}; nothing was deployed\n`);
      return undefined;
    }
    throw error;
  }
  const out = bundle(ir, image, compilation.sources, { bundleFile: 'deployed.bundle.json', sourceMapFile: 'deployed.bundle.json.map', includeSources: false });
  const sources = Object.fromEntries([...compilation.sources].map(([path, file]) => [path, file.text]));
  return { ir, bundleText: out.text, sources, findings, sourceFiles: compilation.sources };
}

/** `--test`: runs the expectations (reference interpreter); prints the report; false when one fails. */
async function deployRunTests(ir: ProgramIr, compilation: { readonly tests: readonly PacketTestIr[]; readonly sources: ReportSources }, io: CliIo): Promise<boolean> {
  const [{ runTests }, { formatTestHuman }] = await Promise.all([import('../../compiler/program.ts'), import('../../compiler/report/test-results.ts')]);
  const run = runTests(ir, compilation.tests);
  io.stdout.write(formatTestHuman({ ir, run, sources: compilation.sources }));
  if (run.failed === 0) return true;
  io.stderr.write(`error: --test: ${run.failed} expectation${run.failed === 1 ? ' fails' : 's fail'}; nothing was deployed\n`);
  return false;
}

export async function deployCommand(paths: readonly string[], options: DeployCommandOptions, io: CliIo): Promise<Outcome> {
  const compiled = await compileForDeploy(paths, options, io);
  if (!compiled) return 'findings';
  const runtime = await import('../deploy.ts');
  const guard = await lockoutGuard(compiled, options, io);
  if (options.dryRun === true) {
    const { dryRun } = await import('./deploy-diff.ts');
    const outcome = await dryRun(compiled, options, io);
    return guard === 'refused' ? 'findings' : outcome;
  }
  if (guard === 'refused') return 'findings';
  const failAt = io.env['SEGC_TEST_FAIL_AT'] as DeployStep | undefined;
  const { settleOverdue } = await import('./confirm.ts');
  await settleOverdue(io, options.name);
  if (options.canary !== undefined || options.canarySteps !== undefined) {
    const { canaryDeployCommand } = await import('./canary.ts');
    return canaryDeployCommand(compiled, options, settingsOf(options), io);
  }
  const result = await runDeploy(io, () =>
    runtime.deploy({
      bundleText: compiled.bundleText,
      interfaces: options.iface,
      options: {
        name: options.name,
        rulesPerSlot: options.maxRules,
        sessions: options.sessions,
        fragments: options.fragments,
        sources: compiled.sources,
        failAt,
        stateDir: io.env['SEGC_STATE_DIR'],
        lockTimeoutMs: lockTimeoutOf(io),
        settings: settingsOf(options),
        ...(options.eventBuffer === undefined ? {} : { eventBufferBytes: options.eventBuffer * 1024 }),
        ...(options.confirm === undefined ? {} : { confirm: { windowMs: options.confirm } }),
      },
    }),
  );
  if (result === undefined) return 'findings';
  io.stdout.write(options.json === true ? JSON.stringify(deployJson(result)) + '\n' : formatDeployResult(result, 'deployed'));
  return 'ok';
}

/**
 * The lock-out guard: asks the new policy about the host's management flows. Findings are
 * printed; they refuse the deploy unless --confirm (the rollback is the way back) or
 * --allow-lockout.
 */
async function lockoutGuard(compiled: CompiledPolicy, options: DeployCommandOptions, io: CliIo): Promise<'clear' | 'refused' | 'overridden'> {
  const [{ managementContext, KeepError }, { checkLockout }, { readState, stateDirOf, isRecordError }, { DEFAULT_PIN_ROOT }] = await Promise.all([
    import('../lockout.ts'),
    import('../../compiler/program.ts'),
    import('../state.ts'),
    import('../deploy.ts'),
  ]);
  let pinDir: string | undefined;
  try {
    pinDir = readState(stateDirOf(io.env), options.name)?.current.pins.dir;
  } catch (error) {
    if (!isRecordError(error)) throw error;
    // A damaged record does not stop the deploy (it replaces the record); the sessions of the
    // deployment are still asked, from where the deploy pins them.
    pinDir = join(DEFAULT_PIN_ROOT, options.name);
  }
  let context;
  try {
    context = await managementContext({ env: io.env, keep: options.keep ?? [], ...(pinDir === undefined ? {} : { pinDir }), audit: options.audit === true, interfaces: options.iface });
  } catch (error) {
    if (error instanceof KeepError) throw new CliError('usage', error.message, "write it as 'tcp 22', 'egress udp 53', 'tcp 22 from 10.0.0.0/8' or a packet 'tcp 10.0.0.2:50000 -> 10.0.0.1:22'");
    throw error;
  }
  const found = checkLockout(compiled.ir, context);
  if (found.length === 0) return 'clear';
  const escape = options.allowLockout === true ? 'allow-lockout' : options.confirm !== undefined ? 'confirm' : undefined;
  const shown = escape === undefined ? found : found.map((d) => ({ ...d, severity: 'warning' as const }));
  io.stderr.write(formatHuman(shown, compiled.sourceFiles, { color: useColor(io, 'stderr', options.color) }));
  const n = `${found.length} management flow${found.length === 1 ? '' : 's'}`;
  if (escape === 'allow-lockout') io.stderr.write(`warning: the policy denies ${n}; deploying anyway (--allow-lockout)\n`);
  else if (escape === 'confirm') io.stderr.write(`warning: the policy denies ${n}; deploying on trial (--confirm): it is rolled back unless 'segc confirm --name ${options.name}' comes in time\n`);
  else if (options.dryRun === true) io.stderr.write(`error: the policy denies ${n}: a deploy would be refused\nhint: allow them, or deploy with --confirm DURATION or --allow-lockout\n`);
  else io.stderr.write(`error: the policy denies ${n}; nothing was deployed\nhint: allow them, or deploy with --confirm DURATION (rolled back unless 'segc confirm') or --allow-lockout\n`);
  return escape === undefined ? 'refused' : 'overridden';
}

/** The data path settings the deploy options ask for. */
export function settingsOf(options: DeployCommandOptions): DatapathSettings {
  const events = { rate: options.eventRate, burst: options.eventBurst, globalRate: options.eventGlobalRate, globalBurst: options.eventGlobalBurst };
  return {
    audit: options.audit === true,
    logDenies: options.logDenies === true,
    synProtection: options.synProtection !== false,
    ...(options.pressure === undefined ? {} : { pressurePct: options.pressure }),
    events: Object.fromEntries(Object.entries(events).filter(([, v]) => v !== undefined)),
  };
}
