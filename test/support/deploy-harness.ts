// Test support for deploy tests: the segc process run from source inside a namespace, small
// Node servers and clients run through nsenter (TCP and UDP echo, bounded in time), and the
// clean-up of a deployment by name.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetnsSandbox, VethPair } from './netns.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEGC = join(ROOT, 'test', 'support', 'segc-source.ts');
const NETNS_DIR = '/var/run/netns';

export interface SegcRun {
  /** Exit code; null when a signal ended the process. */
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SegcEnv {
  readonly stateDir: string;
  readonly env?: Readonly<Record<string, string>>;
  /** The checkout whose segc runs (default: this one); upgrade tests run an older commit's. */
  readonly root?: string;
}

function segcArgv(netns: string | null, args: readonly string[], options: SegcEnv): string[] {
  const command = [process.execPath, '--no-warnings', options.root === undefined ? SEGC : join(options.root, 'test', 'support', 'segc-source.ts'), ...args];
  return netns === null ? command : ['nsenter', `--net=${NETNS_DIR}/${netns}`, '--', ...command];
}

function segcEnv(options: SegcEnv): NodeJS.ProcessEnv {
  return { ...withoutSsh(process.env), NO_COLOR: '1', SEGC_STATE_DIR: options.stateDir, ...options.env };
}

/** Runs `segc ARGS` in `netns` (bounded to 60 s), as a real process from the sources. */
export function segc(netns: string | null, args: readonly string[], options: SegcEnv): SegcRun {
  const argv = segcArgv(netns, args, options);
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 60_000, env: segcEnv(options) });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `segc ARGS` as `segc` runs it, without blocking the event loop (streams are read meanwhile). */
export function segcAsync(netns: string | null, args: readonly string[], options: SegcEnv): Promise<SegcRun> {
  const argv = segcArgv(netns, args, options);
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env: segcEnv(options) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * The environment without SSH_CONNECTION / SSH_CLIENT: a test run from an SSH session would
 * otherwise have deploy's lock-out guard judge the runner's own connection against the test
 * policies (tests of the guard set them explicitly).
 */
export function withoutSsh(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SSH_CONNECTION: _connection, SSH_CLIENT: _client, ...rest } = env;
  return rest;
}

/** A folder of policy files for one test file, removed by `remove()`. */
export interface PolicyDir {
  readonly dir: string;
  write(name: string, text: string): string;
  remove(): void;
}

export function createPolicyDir(): PolicyDir {
  const dir = mkdtempSync(join(tmpdir(), 'segct-'));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Removes what a deployment named `name` may have left: its pins (the filters go with the namespaces). */
export function removeDeploymentPins(name: string): void {
  if (!name.startsWith('segct-')) throw new Error(`refusing to remove pins of ${name}: test deployments start with segct-`);
  const dir = join('/sys/fs/bpf/segc', name);
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

/** What a deploy test set up, for {@link tearDownDeployTest}; anything may be missing if set-up failed. */
export interface DeployTestParts {
  /** The namespace segc runs in, and the deployments it made there. */
  readonly host: string | undefined;
  readonly names: readonly string[];
  readonly stateDir: string | undefined;
  readonly servers: readonly ChildProcess[];
  readonly policies: PolicyDir | undefined;
  /** Removes the test's namespaces (NetnsSandbox.cleanup). */
  readonly sandbox: { cleanup(): void };
}

/**
 * The end of a deploy test: undeploys through segc (filters and pins, as a user would), then,
 * whatever failed, kills the servers and removes the pins, the state, the policy files and the
 * namespaces, all by name.
 */
export function tearDownDeployTest(t: DeployTestParts): void {
  try {
    if (t.host !== undefined && t.stateDir !== undefined) for (const name of t.names) segc(t.host, ['undeploy', '--name', name], { stateDir: t.stateDir });
  } finally {
    for (const s of t.servers) s.kill('SIGKILL');
    for (const name of t.names) removeDeploymentPins(name);
    if (t.stateDir !== undefined) rmSync(t.stateDir, { recursive: true, force: true });
    t.policies?.remove();
    t.sandbox.cleanup();
  }
}

const ECHO_SERVER = `
const net = require('node:net');
const dgram = require('node:dgram');
for (const port of JSON.parse(process.argv[1])) net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); }).listen({ port, host: '::' });
for (const port of JSON.parse(process.argv[2])) { const u = dgram.createSocket({ type: 'udp6' }); u.on('message', (m, r) => u.send(m, r.port, r.address)); u.bind(port, '::'); }
setTimeout(() => process.exit(0), Number(process.argv[3]));
console.log('listening');
`;

/** TCP and UDP echo servers in `netns` on every address (IPv4 and IPv6); kill the process after. */
export async function startEchoServers(netns: string, tcpPorts: readonly number[], udpPorts: readonly number[], lifetimeMs = 300_000): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', process.execPath, '-e', ECHO_SERVER, JSON.stringify(tcpPorts), JSON.stringify(udpPorts), String(lifetimeMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo servers did not start in 10 s')), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`echo servers exited with ${code}`)));
  });
  return child;
}

const TCP_CLIENT = `
const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.setTimeout(Number(process.argv[3]), () => process.exit(3));
s.on('connect', () => s.write('segc-probe'));
s.on('data', (d) => process.exit(String(d) === 'segc-probe' ? 0 : 4));
s.on('error', () => process.exit(2));
setTimeout(() => process.exit(3), Number(process.argv[3]));
`;

/** True when a TCP connection from `netns` to host:port opens and echoes data within `timeoutMs`. */
export function tcpEchoes(netns: string, host: string, port: number, timeoutMs = 1_500): boolean {
  const r = spawnSync('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', process.execPath, '-e', TCP_CLIENT, host, String(port), String(timeoutMs)], { timeout: timeoutMs + 10_000 });
  return r.status === 0;
}

const UDP_CLIENT = `
const u = require('node:dgram').createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
u.on('message', (m) => process.exit(String(m) === 'segc-probe' ? 0 : 4));
u.send('segc-probe', Number(process.argv[2]), process.argv[1]);
setTimeout(() => process.exit(3), Number(process.argv[3]));
`;

/** True when a UDP datagram from `netns` to host:port comes back within `timeoutMs`. */
export function udpEchoes(netns: string, host: string, port: number, timeoutMs = 1_000): boolean {
  const r = spawnSync('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', process.execPath, '-e', UDP_CLIENT, host, String(port), String(timeoutMs)], { timeout: timeoutMs + 10_000 });
  return r.status === 0;
}

/** True when one ICMP echo from `netns` to `host` is answered (needs `ping`). */
export function pings(netns: string, host: string): boolean {
  const r = spawnSync('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', 'ping', '-c', '1', '-W', '1', host], { timeout: 10_000 });
  return r.status === 0;
}

export const HAVE_PING = spawnSync('ping', ['-V'], { timeout: 5_000 }).status === 0;

const UDP_STREAM = `
const u = require('node:dgram').createSocket('udp4');
let seq = 0;
u.on('message', (m) => process.stdout.write(String(m) + '\\n'));
const timer = setInterval(() => u.send(String(seq++), Number(process.argv[2]), process.argv[1]), Number(process.argv[4]));
// The end waits 300 ms for the last echoes, whether the duration ran out or the test stopped it.
const end = () => { clearInterval(timer); setTimeout(() => { process.stderr.write('sent ' + seq + '\\n'); process.exit(0); }, 300); };
setTimeout(end, Number(process.argv[3]));
process.once('SIGTERM', end);
`;

/** A stream of numbered UDP datagrams from `netns` to an echo server; `echoed()` lists what came back so far. */
export interface UdpStream {
  echoed(): number[];
  /** Resolves when the stream ends, with how many datagrams it sent. */
  readonly done: Promise<number>;
  /** Ends the stream now (a UDP stream still collects echoes for 300 ms); `done` resolves. */
  stop(): void;
}

export function startUdpStream(netns: string, host: string, port: number, durationMs: number, intervalMs = 5): UdpStream {
  const stream = runStream('udp', UDP_STREAM, netns, host, port, durationMs, intervalMs);
  return { echoed: () => stream.out().split('\n').filter((l) => l !== '').map(Number), done: stream.done, stop: stream.stop };
}

/** Runs a stream script inside `netns`; its stdout is what came back, its stderr ends with `sent N`. */
function runStream(label: string, script: string, netns: string, host: string, port: number, durationMs: number, intervalMs: number): { out(): string; done: Promise<number>; stop(): void } {
  const child = spawn('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', process.execPath, '-e', script, host, String(port), String(durationMs), String(intervalMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number>((resolve, reject) => {
    child.once('exit', () => {
      const m = /sent (\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`${label} stream failed: ${err}`));
    });
  });
  return { out: () => out, done, stop: () => child.kill('SIGTERM') };
}

const TCP_STREAM = `
const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
let seq = 0;
let timer;
s.on('connect', () => { timer = setInterval(() => s.write(seq++ + '\\n'), Number(process.argv[4])); });
s.on('data', (d) => process.stdout.write(d));
s.on('error', () => {});
const end = () => { clearInterval(timer); process.stderr.write('sent ' + seq + '\\n'); process.exit(0); };
setTimeout(end, Number(process.argv[3]));
process.on('SIGTERM', end);
`;

/** One long-lived TCP connection carrying a numbered line every `intervalMs`; `echoed()` lists the lines that came back. */
export function startTcpStream(netns: string, host: string, port: number, durationMs: number, intervalMs = 20): UdpStream {
  const stream = runStream('tcp', TCP_STREAM, netns, host, port, durationMs, intervalMs);
  // Only whole lines: the last one may still be arriving.
  return { echoed: () => stream.out().split('\n').slice(0, -1).map(Number), done: stream.done, stop: stream.stop };
}

/** A host namespace with two peers on their own links, echo servers on 22 and 23, and two policies. */
export interface TwoLinkHost {
  readonly host: string;
  readonly peer1: string;
  readonly peer2: string;
  readonly link1: VethPair;
  readonly link2: VethPair;
  readonly server: ChildProcess;
  readonly policies: PolicyDir;
  readonly stateDir: string;
  /** Policies that allow only TCP 22 (`ssh.seg`) and only TCP 23 (`telnet.seg`) inbound. */
  readonly ssh: string;
  readonly telnet: string;
}

/**
 * The two-deployment host several kernel tests share: links on 10.`subnet`.1.0/24 and
 * 10.`subnet`.2.0/24 (the host is .1, its peer .2), so that each test keeps its own addresses.
 */
export async function createTwoLinkHost(sandbox: NetnsSandbox, subnet: number): Promise<TwoLinkHost> {
  const host = sandbox.createNetns('host');
  const peer1 = sandbox.createNetns('p1');
  const peer2 = sandbox.createNetns('p2');
  const link1 = sandbox.createVethPair(host, peer1, { a: { ipv4: `10.${subnet}.1.1/24` }, b: { ipv4: `10.${subnet}.1.2/24` } });
  const link2 = sandbox.createVethPair(host, peer2, { a: { ipv4: `10.${subnet}.2.1/24` }, b: { ipv4: `10.${subnet}.2.2/24` } });
  const server = await startEchoServers(host, [22, 23], []);
  const policies = createPolicyDir();
  const stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
  const ssh = policies.write('ssh.seg', 'policy ingress default deny {\n  100 ssh: allow tcp from any to any port 22\n}\n');
  const telnet = policies.write('telnet.seg', 'policy ingress default deny {\n  100 telnet: allow tcp from any to any port 23\n}\n');
  return { host, peer1, peer2, link1, link2, server, policies, stateDir, ssh, telnet };
}
