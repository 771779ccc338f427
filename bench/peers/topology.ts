// Peer benchmark: the test bed. Builds the sender/sink binary and the bench's own TC program
// with the system compilers, makes two namespaces joined by a veth pair (names carry this
// process's id), and runs one bounded traffic window: the sender's frames and time, the UDP
// layer's counts at the receiver. Everything it makes is deleted by name in `close`.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsSandbox, type VethPair } from '../../test/support/netns.ts';

export type TrafficKind = 'single' | 'new';

export const SINK_PORT = 5001;
export const SENDER_ADDRESS = '10.77.0.1';
export const RECEIVER_ADDRESS = '10.77.0.2';
/** New-flow mode's sources (traffic.c): 10.128.0.0/9, never the link's own addresses. */
export const NEW_FLOW_SOURCES = '10.128.0.0/9';

export interface Binaries {
  readonly traffic: string;
  readonly tcPass: string;
}

/** Compiles traffic.c (cc) and tc-pass.bpf.c (clang) into `buildDir`. */
export function buildBinaries(buildDir: string): Binaries {
  mkdirSync(buildDir, { recursive: true });
  const here = import.meta.dirname;
  const traffic = join(buildDir, 'traffic');
  const tcPass = join(buildDir, 'tc-pass.bpf.o');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', traffic, join(here, 'traffic.c')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const archInclude = `/usr/include/${execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim()}-linux-gnu`;
  execFileSync('clang', ['-g', '-O2', '-Wall', '-Werror', '-target', 'bpf', `-I${archInclude}`, '-c', join(here, 'tc-pass.bpf.c'), '-o', tcPass], { stdio: ['ignore', 'inherit', 'inherit'] });
  return { traffic, tcPass };
}

/** One window's figures. */
export interface Window {
  /** Frames the sender sent. */
  readonly sent: number;
  /** Nanoseconds the sender took for them (CLOCK_MONOTONIC). */
  readonly ns: number;
  /** The sender thread's CPU time for them, the receive path's softirq work included (traffic.c). */
  readonly cpuNs: number;
  /** Datagrams that reached the receiver's UDP layer (delivered, or dropped at the full buffer). */
  readonly delivered: number;
}

export interface WindowLimits {
  readonly count: number;
  readonly seconds: number;
}

export class PeerBed {
  readonly sandbox: NetnsSandbox;
  readonly sender: string;
  readonly receiver: string;
  readonly link: VethPair;
  readonly #binaries: Binaries;
  readonly #receiverMac: string;
  readonly #senderCpu: number;
  #sink: ChildProcess | undefined;
  /** The next new-flow index, so that no window repeats another's flows. */
  #nextFlow = 0;

  constructor(binaries: Binaries, options: { readonly senderCpu: number; readonly sinkCpu: number; readonly drain: boolean }) {
    this.#binaries = binaries;
    this.#senderCpu = options.senderCpu;
    this.sandbox = new NetnsSandbox('peer');
    this.sender = this.sandbox.createNetns('send');
    this.receiver = this.sandbox.createNetns('recv');
    this.link = this.sandbox.createVethPair(this.sender, this.receiver, { a: { ipv4: `${SENDER_ADDRESS}/16` }, b: { ipv4: `${RECEIVER_ADDRESS}/16` } });
    // New-flow sources are not on the link: no reverse-path check may drop them.
    for (const key of ['net.ipv4.conf.all.rp_filter', `net.ipv4.conf.${this.link.b.name}.rp_filter`]) this.sandbox.exec(this.receiver, 'sysctl', ['-qw', `${key}=0`]);
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(this.sandbox.exec(this.receiver, 'ip', ['-o', 'link', 'show', 'dev', this.link.b.name]))?.[1];
    if (!mac) throw new Error(`no MAC address on ${this.link.b.name}`);
    this.#receiverMac = mac;
    this.#sink = this.sandbox.spawn(this.receiver, binaries.traffic, ['sink', String(SINK_PORT), String(options.sinkCpu), options.drain ? 'drain' : 'hold']);
  }

  /** Waits for the sink's socket. */
  async ready(): Promise<void> {
    const sink = this.#sink;
    if (!sink?.stdout) throw new Error('the sink did not start');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the sink did not bind its port in 5 s')), 5_000);
      sink.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      sink.once('exit', (code) => reject(new Error(`the sink exited (${code})`)));
    });
  }

  /** The receiver's UDP counters that say a datagram reached the UDP layer, summed. */
  #udpArrivals(): number {
    const lines = this.sandbox.exec(this.receiver, 'cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Udp:'));
    const names = (lines[0] ?? '').split(/\s+/);
    const values = (lines[1] ?? '').split(/\s+/).map(Number);
    const at = (name: string) => values[names.indexOf(name)] ?? 0;
    // InErrors includes RcvbufErrors: the datagrams a full buffer (the `hold` sink) dropped.
    return at('InDatagrams') + at('InErrors');
  }

  /** Sends one bounded window of `kind` traffic and reports it. */
  window(kind: TrafficKind, limits: WindowLimits): Window {
    const before = this.#udpArrivals();
    const args = ['send', this.link.a.name, this.#receiverMac, SENDER_ADDRESS, RECEIVER_ADDRESS, String(SINK_PORT), kind, String(limits.count), String(limits.seconds), String(this.#senderCpu), String(this.#nextFlow)];
    const out = this.sandbox.exec(this.sender, this.#binaries.traffic, args, (limits.seconds + 10) * 1000);
    const m = /sent (\d+) ns (\d+) cpu (\d+)/.exec(out);
    if (!m) throw new Error(`the sender said: ${out}`);
    const sent = Number(m[1]);
    if (kind === 'new') this.#nextFlow += sent;
    return { sent, ns: Number(m[2]), cpuNs: Number(m[3]), delivered: this.#udpArrivals() - before };
  }

  close(): void {
    this.#sink?.kill('SIGTERM');
    this.#sink = undefined;
    this.sandbox.cleanup();
  }
}
