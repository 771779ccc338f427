// `segc agent`: the optional long-running agent. Serves Prometheus metrics of every deployment
// on this host (runtime/agent/), and with --watch or a config file redeploys policy files when
// they change. It never sits on the packet path: stopping it changes nothing in enforcement.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { wholeNumber } from './options.ts';
import { parseConfirmWindow } from './deploy-input.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface AgentOptions {
  readonly listen?: string;
  readonly config?: string;
  readonly ruleMetrics?: string;
  readonly watch?: string[];
  readonly name?: string;
  readonly iface?: string[];
  readonly strict?: boolean;
  readonly debounce?: number;
  readonly scrapeMaxAge?: number;
  readonly censusMaxAge?: number;
  readonly confirm?: number;
}

const EXAMPLES = `
Examples:
  $ sudo segc agent                                     metrics of every deployment on 127.0.0.1:9464
  $ sudo segc agent --listen 0.0.0.0:9464               reachable from the network (printed at start)
  $ sudo segc agent --watch /etc/segc/web.seg --iface eth0 --name web
  $ sudo segc agent --config /etc/segc/agent.json

With --watch (or the config file's "deployments"), a change to a watched file or to anything
it includes is checked and deployed exactly as 'segc deploy' would; a policy that does not
check leaves the deployed one enforcing (logged, counted in segc_reloads_total) and is tried
again on the next change. A folder mounted from a Kubernetes ConfigMap is followed through the
kubelet's atomic '..data' swaps (ops/kubernetes). SIGHUP deploys every watched deployment
again; SIGTERM stops.
Concurrent scrapes share one read of the maps: a scrape that arrives while one is being
collected, or within --scrape-max-age ms of the last scrape it served (for up to four such
windows from its start), gets its text. The session gauges come
from a census of the session table taken ahead of the scrapes, at most --census-max-age ms old
(segc_sessions_census_age_seconds says how old).
Config file: {"listen": "127.0.0.1:9464", "ruleMetrics": "top:500", "debounceMs": 300, "scrapeMaxAgeMs": 500, "censusMaxAgeMs": 5000,
  "deployments": [{"name": "web", "files": ["web.seg"], "interfaces": ["eth0"], "strict": false, "confirm": "2m",
                   "keep": ["tcp 22"]}]}
"keep" lists management flows a reload must not deny (as deploy --keep); listening beyond
loopback adds the metrics port to it.
A deployment with "confirm" (or --confirm) reloads commit-confirmed: each new policy is rolled
back after that time unless 'segc confirm --name NAME' comes first; while it waits, further
reloads are refused (logged). The agent also rolls back any trial whose watcher has died.
Metrics: docs/metrics.md; alerts, dashboard and systemd units: ops/.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('agent')
    .summary('serve Prometheus metrics and redeploy policy files when they change')
    .description('Run the segc agent: /metrics for every deployment on this host, and hot reload of watched policy files.')
    .option('--listen <address:port>', 'where to serve /metrics (default 127.0.0.1:9464)')
    .option('--config <file>', 'a JSON config file (listen, ruleMetrics, debounceMs, deployments)')
    .option('--rule-metrics <mode>', 'per-rule series: top:N (the N busiest hit rules per deployment, default top:500), hit (every hit rule) or none')
    .option('--watch <file>', 'a policy file or folder to redeploy on change (repeat for several; needs --iface)', collect, [])
    .option('--name <name>', 'the deployment --watch keeps in step', 'default')
    .option('--iface <interface>', 'an interface the watched policy is deployed on (repeat)', collect, [])
    .option('--strict', 'refuse a watched policy when the rule analysis finds anything')
    .option('--debounce <ms>', 'wait this long after the last change before reloading (default 300)', wholeNumber)
    .option('--scrape-max-age <ms>', 'serve a scrape the last collection\'s text when the scrape before it came at most this long ago, up to 4 times this after the collection started (default 500; 0: read the maps for every scrape after a collection ended)', milliseconds)
    .option('--census-max-age <ms>', 'the session gauges may come from a census of the table taken this long ago, ahead of the scrape (default 5000; 0: a census in every collection)', milliseconds)
    .option('--confirm <duration>', "each reload of --watch is commit-confirmed: rolled back after DURATION unless 'segc confirm'", parseConfirmWindow)
    .addHelpText('after', EXAMPLES)
    .action(async (options: AgentOptions, command: Command) => {
      recordOutcome(command, await agentCommand(options, io));
    });
}

/** A whole number of milliseconds, 0 included. */
function milliseconds(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError('expected a whole number of milliseconds (0 or more)');
  return Number(text);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export async function agentCommand(options: AgentOptions, io: CliIo): Promise<Outcome> {
  const { agentConfig, AgentConfigError } = await import('../agent/config.ts');
  const { startAgent } = await import('../agent/lifecycle.ts');
  let file: { path: string; text: string } | undefined;
  if (options.config !== undefined) {
    try {
      file = { path: options.config, text: readFileSync(options.config, 'utf8') };
    } catch (error) {
      throw new CliError('usage', `cannot read the config file ${options.config}: ${(error as Error).message}`);
    }
  }
  let config;
  try {
    config = agentConfig({ listen: options.listen, ruleMetrics: options.ruleMetrics, debounce: options.debounce, scrapeMaxAge: options.scrapeMaxAge, censusMaxAge: options.censusMaxAge, watch: options.watch, name: options.name, iface: options.iface, strict: options.strict, confirm: options.confirm }, io.cwd, file);
  } catch (error) {
    if (error instanceof AgentConfigError) throw new CliError('usage', error.message, 'segc agent --help shows the options and the config file');
    throw error;
  }
  const log = (line: string) => io.stderr.write(`segc agent: ${line}\n`);
  let agent;
  try {
    agent = await startAgent(config, io, log);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new CliError('environment', `cannot listen on ${config.host}:${config.port}: ${code}`, 'choose another address with --listen');
    throw error;
  }
  await agent.stopped;
  return 'ok';
}
