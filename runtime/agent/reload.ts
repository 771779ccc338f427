// Agent: hot reload. Watches the policy files of each configured deployment and everything they
// include; after a change (debounced: editors write a file several times per save) or SIGHUP it
// checks the files and deploys them through the CLI's own deploy path (`deployCommand`, the
// same code as `segc deploy`), so the switch is atomic and a policy that does not check never
// enforces: the old one stays, the failure is logged and counted, and the next change retries.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { compileForDeploy, deployCommand } from '../cli/deploy.ts';
import type { CliIo } from '../cli/io.ts';
import { isRecordError, readState, stateDirOf } from '../state.ts';
import type { WatchedDeployment } from './config.ts';
import type { ReloadReport, ReloadSource } from './metrics.ts';

export type ReloadResult = 'deployed' | 'unchanged' | 'refused';

interface Target {
  readonly config: WatchedDeployment;
  successes: number;
  failures: number;
  lastSuccessSeconds: number;
  watchedHash: string | undefined;
  /** Absolute paths of the files the last compilation read (inputs and includes). */
  files: Set<string>;
  timer: NodeJS.Timeout | undefined;
  /** The reload in progress; the next one waits for it. */
  running: Promise<ReloadResult>;
}

/** An io whose output is captured (for the log line) and whose files are the real ones. */
function capturingIo(io: CliIo): { io: CliIo; output(): string } {
  let text = '';
  const writer = { write: (t: string) => void (text += t) };
  // SSH_CONNECTION in a daemon's environment is the long-gone session that started it: the
  // lock-out guard judges the session table and the keep list instead.
  const { SSH_CONNECTION: _connection, SSH_CLIENT: _client, ...env } = io.env;
  return { io: { ...io, stdout: writer, stderr: writer, stdoutIsTTY: false, stderrIsTTY: false, env: { ...env, NO_COLOR: '1' } }, output: () => text };
}

export class PolicyReloader implements ReloadSource {
  readonly #targets: Target[];
  readonly #io: CliIo;
  readonly #log: (line: string) => void;
  readonly #debounceMs: number;
  readonly #watchers = new Map<string, FSWatcher>();
  #stopped = false;

  constructor(deployments: readonly WatchedDeployment[], io: CliIo, log: (line: string) => void, debounceMs: number) {
    this.#targets = deployments.map((config) => ({ config, successes: 0, failures: 0, lastSuccessSeconds: 0, watchedHash: undefined, files: new Set(config.files), timer: undefined, running: Promise.resolve('unchanged') }));
    this.#io = io;
    this.#log = log;
    this.#debounceMs = debounceMs;
  }

  /** Checks each deployment once (deploying what differs from what is in force), then watches. */
  async start(): Promise<void> {
    for (const t of this.#targets) await this.reload(t.config.name, false);
    this.#rewatch();
  }

  reports(): readonly ReloadReport[] {
    return this.#targets.map((t) => ({ name: t.config.name, successes: t.successes, failures: t.failures, lastSuccessSeconds: t.lastSuccessSeconds, watchedHash: t.watchedHash }));
  }

  /** SIGHUP: every deployment, deployed again even when its files did not change. */
  async reloadAll(): Promise<void> {
    await Promise.all(this.#targets.map((t) => this.reload(t.config.name, true)));
  }

  /** Checks and (when `force` or the hash changed) deploys one deployment's files; serialised per deployment. */
  reload(name: string, force: boolean): Promise<ReloadResult> {
    const t = this.#targets.find((x) => x.config.name === name);
    if (!t) return Promise.reject(new Error(`'${name}' is not watched`));
    t.running = t.running.then(() => this.#reloadNow(t, force));
    return t.running;
  }

  async #reloadNow(t: Target, force: boolean): Promise<ReloadResult> {
    const { name, files, interfaces, strict, confirmMs, keep } = t.config;
    const check = capturingIo(this.#io);
    let result: ReloadResult;
    try {
      const compiled = await compileForDeploy(files, { strict }, check.io);
      if (compiled) t.files = new Set([...files, ...Object.keys(compiled.sources).map((p) => resolve(this.#io.cwd, p))]);
      t.watchedHash = compiled ? (JSON.parse(compiled.bundleText) as { policyHash: string }).policyHash : undefined;
      const deployed = deployedHash(stateDirOf(this.#io.env), name);
      if (!compiled) {
        result = 'refused';
        this.#log(`reload '${name}': the policy does not check; the deployed policy stays in force\n${indent(check.output())}`);
      } else if (!force && deployed === t.watchedHash) {
        result = 'unchanged';
      } else {
        const run = capturingIo(this.#io);
        const outcome = await deployCommand(files, { name, iface: [...interfaces], strict, color: false, keep: [...(keep ?? [])], ...(confirmMs === undefined ? {} : { confirm: confirmMs }) }, run.io);
        result = outcome === 'ok' ? 'deployed' : 'refused';
        this.#log(outcome === 'ok' ? `reload '${name}': ${run.output().split('\n')[0] ?? 'deployed'}` : `reload '${name}': deploy refused; the deployed policy stays in force\n${indent(run.output())}`);
      }
    } catch (error) {
      result = 'refused';
      this.#log(`reload '${name}': failed: ${error instanceof Error ? error.message : String(error)}; the deployed policy stays in force`);
    }
    if (result === 'deployed') {
      t.successes++;
      t.lastSuccessSeconds = Date.now() / 1000;
    } else if (result === 'refused') t.failures++;
    this.#rewatch();
    return result;
  }

  /**
   * Watches the folder of every file read (a file watch would lose an editor's save, which
   * replaces the file by renaming a new one over it) and reacts to the names it knows.
   */
  #rewatch(): void {
    if (this.#stopped) return;
    const dirs = new Set<string>();
    for (const t of this.#targets) for (const f of t.files) dirs.add(dirname(f));
    for (const [dir, w] of this.#watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, file) => this.#changed(dir, file === null ? undefined : String(file)));
        w.on('error', () => {
          w.close();
          this.#watchers.delete(dir);
        });
        this.#watchers.set(dir, w);
      } catch (error) {
        this.#log(`watch: cannot watch ${dir}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  #changed(dir: string, file: string | undefined): void {
    for (const t of this.#targets) {
      const hit = [...t.files].some((f) => dirname(f) === dir && (file === undefined || basename(f) === file)) || t.config.files.some((f) => f === dir);
      if (!hit) continue;
      if (t.timer) clearTimeout(t.timer);
      t.timer = setTimeout(() => {
        t.timer = undefined;
        if (!this.#stopped) void this.reload(t.config.name, false);
      }, this.#debounceMs);
    }
  }

  /** Stops watching and waits for a reload in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    for (const t of this.#targets) if (t.timer) clearTimeout(t.timer);
    await Promise.all(this.#targets.map((t) => t.running));
  }
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');
}

/** The policy hash in force by the record; a damaged record counts as none, so a reload rewrites it. */
function deployedHash(stateDir: string, name: string): string | undefined {
  try {
    return readState(stateDir, name)?.current.policyHash;
  } catch (error) {
    if (isRecordError(error)) return undefined;
    throw error;
  }
}
