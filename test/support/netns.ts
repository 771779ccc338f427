// Test support: throwaway network namespaces joined by veth pairs, for kernel tests that need
// interfaces and traffic. Names are unique per test run (`segct-<pid>-...`), every command is
// bounded in time, and `cleanup()` deletes by name all that the sandbox created.
//
// Commands run inside a namespace through `nsenter --net=/var/run/netns/NAME`, not
// `ip netns exec`, which remounts /sys and so hides the bpffs pins the runtime shares.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';

const COMMAND_TIMEOUT_MS = 10_000;
const NETNS_DIR = '/var/run/netns';

/** True when the process may create namespaces and load BPF programs. */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Runs a command (array form, no shell) with a time bound; returns its stdout. */
export function run(command: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): string {
  return execFileSync(command, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Polls `check` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface VethEnd {
  /** Interface name, at most 15 characters. */
  readonly name: string;
  /** The namespace it lives in. */
  readonly netns: string;
  /** `10.200.1.1/24`-style IPv4 and IPv6 addresses with prefix lengths. */
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface VethPair {
  readonly a: VethEnd;
  readonly b: VethEnd;
}

/**
 * Deletes `segct-<pid>-*` namespaces left behind by test processes that no longer run (a
 * crashed or killed run cannot clean up after itself). Namespaces of live processes stay.
 */
export function sweepStaleNamespaces(): string[] {
  const swept: string[] = [];
  for (const line of run('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = /^segct-(\d+)-/.exec(name);
    if (!match || isProcessAlive(Number(match[1]))) continue;
    try {
      run('ip', ['netns', 'delete', name]);
      swept.push(name);
    } catch {
      // Deleted meanwhile by someone else: nothing left to do.
    }
  }
  return swept;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A tap interface inside a namespace, with this process holding its queue: frames written to
 * it arrive in the namespace's stack exactly as from a wire (checksums unverified, so the
 * kernel checks every one of them), which makes it a judge of hand-built frames.
 */
export interface Tap {
  readonly name: string;
  readonly netns: string;
  readonly mac: string;
  /** Delivers one Ethernet frame to the namespace. */
  write(frame: Uint8Array): void;
}

/** TUNSETIFF and its flags (linux/if_tun.h): a tap without the packet-information prefix. */
const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;

/**
 * Namespaces and links of one test file. Create it in `beforeAll`, call `cleanup()` in
 * `afterAll`; everything it made is deleted by name, even after a failed test.
 */
export class NetnsSandbox {
  readonly prefix: string;
  readonly #namespaces: string[] = [];
  readonly #tapFds: number[] = [];
  #counter = 0;

  constructor(tag = 't') {
    this.prefix = `segct-${process.pid}-${tag}`;
  }

  /** A fresh interface name, `sg<pid><n>` (15 characters at most). */
  interfaceName(): string {
    const name = `sg${process.pid}${(this.#counter++).toString(36)}`;
    if (name.length > 15) throw new Error(`interface name ${name} is longer than 15 characters`);
    return name;
  }

  /** Creates the namespace `<prefix>-<suffix>` with its loopback up; returns its name. */
  createNetns(suffix: string): string {
    if (this.#namespaces.length === 0) sweepStaleNamespaces();
    const name = `${this.prefix}-${suffix}`;
    run('ip', ['netns', 'add', name]);
    this.#namespaces.push(name);
    this.exec(name, 'ip', ['link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * A veth pair between two namespaces of this sandbox, both ends up and addressed (IPv6
   * with `nodad`, so the address is usable at once).
   */
  createVethPair(netnsA: string, netnsB: string, addresses: { a?: { ipv4?: string; ipv6?: string }; b?: { ipv4?: string; ipv6?: string } } = {}): VethPair {
    const a: VethEnd = { name: this.interfaceName(), netns: netnsA, ...addresses.a };
    const b: VethEnd = { name: this.interfaceName(), netns: netnsB, ...addresses.b };
    // Created inside A, so nothing ever appears in the host's namespace.
    this.exec(netnsA, 'ip', ['link', 'add', a.name, 'type', 'veth', 'peer', 'name', b.name, 'netns', netnsB]);
    for (const end of [a, b]) {
      if (end.ipv4) this.exec(end.netns, 'ip', ['addr', 'add', end.ipv4, 'dev', end.name]);
      if (end.ipv6) this.exec(end.netns, 'ip', ['-6', 'addr', 'add', end.ipv6, 'dev', end.name, 'nodad']);
      this.exec(end.netns, 'ip', ['link', 'set', end.name, 'up']);
    }
    // A veth end reports its carrier through linkwatch, up to a second late; until then the
    // first packets (ARP, neighbour discovery) are lost and connections look unreachable.
    for (const end of [a, b]) this.#waitUntil(`carrier on ${end.name}`, () => /state UP/.test(this.exec(end.netns, 'ip', ['-o', 'link', 'show', 'dev', end.name])));
    return { a, b };
  }

  /** A synchronous bounded poll, for set-up steps that must finish before a test goes on. */
  #waitUntil(what: string, check: () => boolean, timeoutMs = 5_000, intervalMs = 25): void {
    const deadline = Date.now() + timeoutMs;
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      Atomics.wait(sleeper, 0, 0, intervalMs);
    }
  }

  /** Creates a tap interface in `netns`, addressed and up, with its queue held by this process. */
  async createTap(netns: string, addresses: { ipv4?: string; ipv6?: string } = {}): Promise<Tap> {
    const name = this.interfaceName();
    this.exec(netns, 'ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    if (addresses.ipv4) this.exec(netns, 'ip', ['addr', 'add', addresses.ipv4, 'dev', name]);
    if (addresses.ipv6) this.exec(netns, 'ip', ['-6', 'addr', 'add', addresses.ipv6, 'dev', name, 'nodad']);
    this.exec(netns, 'ip', ['link', 'set', name, 'up']);
    const { default: koffi } = await import('koffi');
    const ioctl = koffi.load('libc.so.6').func('ioctl', 'int', ['int', 'unsigned long', 'void *']) as (fd: number, request: number, arg: Uint8Array) => number;
    // struct ifreq: the name, then the flags. The tun file takes its namespace when opened
    // (TUNSETIFF looks the device up there), so open and attach both run inside.
    const ifreq = Buffer.alloc(40);
    ifreq.write(name, 0, 'ascii');
    ifreq.writeUInt16LE(IFF_TAP | IFF_NO_PI, 16);
    const { fd, ret } = await this.within(netns, () => {
      const tunFd = openSync('/dev/net/tun', 'r+');
      this.#tapFds.push(tunFd);
      return { fd: tunFd, ret: ioctl(tunFd, TUNSETIFF, ifreq) };
    });
    if (ret < 0) throw new Error(`TUNSETIFF on ${name} failed (errno ${koffi.errno()})`);
    // A tap reports operstate UNKNOWN; its carrier shows as LOWER_UP once the queue is held.
    this.#waitUntil(`carrier on ${name}`, () => /[<,]LOWER_UP[,>]/.test(this.exec(netns, 'ip', ['-o', 'link', 'show', 'dev', name])));
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(this.exec(netns, 'ip', ['-o', 'link', 'show', 'dev', name]))?.[1];
    if (!mac) throw new Error(`no MAC address on ${name}`);
    return { name, netns, mac, write: (frame) => void writeSync(fd, frame) };
  }

  /** The namespace's SNMP counters (`nstat`: UdpNoPorts, TcpInCsumErrors, ...). */
  counters(netns: string): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const line of this.exec(netns, 'nstat', ['-a', '-s', '-z']).split('\n')) {
      const [name, value] = line.trim().split(/\s+/);
      if (name && value && !name.startsWith('#')) out.set(name, Number(value));
    }
    return out;
  }

  /** Runs a command inside a namespace with a time bound; returns its stdout. */
  exec(netns: string, command: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): string {
    return run('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', command, ...args], timeoutMs);
  }

  /** Starts a long-running command inside a namespace (a server, say); the caller kills it. */
  spawn(netns: string, command: string, args: readonly string[]): ChildProcess {
    return spawn('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /**
   * Whether a TCP connection attempt from `netns` reaches `host:port`: a reply of any kind
   * (accepted, or refused with a RST because nothing listens) counts, silence until
   * `timeoutMs` does not. Needs no server and no tool beyond this Node binary.
   */
  tcpReachable(netns: string, host: string, port: number, timeoutMs = 1_000): boolean {
    const script = [
      "const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });",
      "s.on('connect', () => process.exit(0));",
      "s.on('error', (e) => process.exit(e.code === 'ECONNREFUSED' ? 0 : 2));",
      `setTimeout(() => process.exit(3), ${timeoutMs});`,
    ].join(' ');
    try {
      this.exec(netns, process.execPath, ['-e', script, host, String(port)], timeoutMs + COMMAND_TIMEOUT_MS);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Runs `fn` with this thread inside the namespace, for in-process netlink work (tc attach
   * through libbpf). `fn` must be synchronous: the thread goes back before anything else runs.
   */
  async within<T>(netns: string, fn: () => T): Promise<T> {
    const { setns, CLONE_NEWNET } = await import('../../runtime/libbpf.ts');
    const home = openSync('/proc/thread-self/ns/net', 'r');
    const target = openSync(`${NETNS_DIR}/${netns}`, 'r');
    try {
      setns(target, CLONE_NEWNET);
      try {
        return fn();
      } finally {
        setns(home, CLONE_NEWNET);
      }
    } finally {
      closeSync(target);
      closeSync(home);
    }
  }

  /** Names of the namespaces that exist now and belong to this sandbox. */
  listNetns(): string[] {
    return run('ip', ['netns', 'list'])
      .split('\n')
      .map((line) => line.split(' ')[0] ?? '')
      .filter((name) => name.startsWith(`${this.prefix}-`));
  }

  /** Deletes every namespace this sandbox created (their veth ends go with them). */
  cleanup(): void {
    const failures: string[] = [];
    for (const fd of this.#tapFds.splice(0)) closeSync(fd);
    for (const name of this.#namespaces.splice(0).reverse()) {
      try {
        run('ip', ['netns', 'delete', name]);
      } catch (error) {
        if (!/No such file|Invalid argument|does not exist/.test(String(error))) failures.push(`${name}: ${String(error)}`);
      }
    }
    if (failures.length > 0) throw new Error(`could not delete namespaces:\n${failures.join('\n')}`);
  }
}
