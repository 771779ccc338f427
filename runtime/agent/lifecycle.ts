// Agent: its life. Starts the reader, the metrics and the reloader, serves GET /metrics over
// HTTP, reloads on SIGHUP and stops cleanly on SIGTERM / SIGINT. The agent only reads maps and
// runs deploys: enforcement never depends on it (killing it changes nothing in the kernel).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CliIo } from '../cli/io.ts';
import { describeExpiry } from '../cli/confirm.ts';
import { expireOverdue } from '../confirm-expire.ts';
import { listPending } from '../confirm.ts';
import { stateDirOf } from '../state.ts';
import { isLoopback, type AgentConfig } from './config.ts';
import { AgentMetrics } from './metrics.ts';
import { CensusRefresher } from './census-refresh.ts';
import { DeploymentReader } from './reader.ts';
import { PolicyReloader } from './reload.ts';

export interface RunningAgent {
  /** `http://host:port` it serves on. */
  readonly url: string;
  readonly metrics: AgentMetrics;
  readonly reloader: PolicyReloader;
  /** Resolves once `stop` has finished. */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

// node:http as CommonJS: an ES import of it reads every export of its namespace, and Node 24's
// http exports WebSocket, CloseEvent and MessageEvent as getters that load undici and http2
// (some 14 MiB of RSS for code the agent never runs).
const { createServer } = process.getBuiltinModule('node:http');

export async function startAgent(config: AgentConfig, io: CliIo, log: (line: string) => void): Promise<RunningAgent> {
  const reader = new DeploymentReader(stateDirOf(io.env), { censusMaxAgeMs: config.censusMaxAgeMs });
  const census = new CensusRefresher(reader, { maxAgeMs: config.censusMaxAgeMs, quietMs: config.scrapeMaxAgeMs });
  const reloader = new PolicyReloader(config.watch, io, log, config.debounceMs);
  const metrics = new AgentMetrics(reader, { ruleMetrics: config.ruleMetrics, reloads: reloader, maxAgeMs: config.scrapeMaxAgeMs, onCollection: (startedAt) => census.collected(startedAt) });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      metrics.scrapeBody().then(
        (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
        (error: unknown) => {
          log(`scrape failed: ${error instanceof Error ? error.message : String(error)}`);
          res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
        },
      );
    } else if (path === '/' || path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('segc agent: metrics at /metrics\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
    }
  });
  await listen(server, config.host, config.port);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log(`serving ${url}/metrics`);
  if (!isLoopback(config.host)) log(`listening on ${config.host}, not a loopback address: anyone who can reach this host on port ${address.port} can read the metrics`);
  // The first reloads (a watched file differing from what is deployed) before the signals.
  await reloader.start();
  for (const w of config.watch) log(`watching ${w.files.join(', ')} for '${w.name}' on ${w.interfaces.join(', ')}${w.confirmMs === undefined ? '' : ` (each reload rolled back after ${w.confirmMs / 1000} s unless 'segc confirm')`}`);
  const overdue = watchOverdue(io, log);

  let finish: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (finish = resolve));
  let stopping: Promise<void> | undefined;
  const onHup = () => {
    log('SIGHUP: reloading every watched deployment');
    void reloader.reloadAll();
  };
  const onStop = (signal: string) => () => {
    log(`${signal}: stopping`);
    void stop();
  };
  const onTerm = onStop('SIGTERM');
  const onInt = onStop('SIGINT');
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('SIGHUP', onHup);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      clearInterval(overdue);
      census.stop();
      await reloader.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      reader.close();
      finish();
    })();
    return stopping;
  };
  return { url, metrics, reloader, stopped, stop };
}

/**
 * Every second, a trial (deploy --confirm) past its deadline is rolled back: the agent is the
 * second line behind each trial's own watcher process, should that have been killed.
 */
function watchOverdue(io: CliIo, log: (line: string) => void): NodeJS.Timeout {
  const stateDir = stateDirOf(io.env);
  const timer = setInterval(() => {
    if (process.getuid?.() !== 0 || listPending(stateDir).length === 0) return;
    try {
      for (const r of expireOverdue({ stateDir })) log(describeExpiry(r));
    } catch (error) {
      log(`rolling back an unconfirmed deploy failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }, 1_000);
  timer.unref();
  return timer;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
