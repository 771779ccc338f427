// Runtime: the deployment record on the host. One JSON file per deployment name under
// /var/lib/segc/<name>/deployment.json holds what `status` prints and what `rollback` needs:
// the deployment in force (files, policy hash, generation, slot, interfaces, program ids, pin
// paths, the bundle itself) and the one before it. Written atomically (a temporary file
// renamed over the old one), so a crash leaves either the old record or the new one.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** Where records live unless SEGC_STATE_DIR (or an option) says otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/segc';

export const RECORD_FORMAT = 'segc-deployment';
export const RECORD_VERSION = 1;

/** A deployment name: also a directory name under bpffs and the state folder. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isDeploymentName(name: string): boolean {
  return NAME_PATTERN.test(name) && !name.includes('..');
}

export type TcDirectionName = 'ingress' | 'egress';

export interface AttachmentRecord {
  readonly iface: string;
  readonly ifindex: number;
  readonly direction: TcDirectionName;
  readonly progId: number;
}

export interface InterfaceRecord {
  readonly iface: string;
  readonly ifindex: number;
  /** segc added the clsact qdisc (so undeploy may remove it when nothing else uses it). */
  readonly createdClsact: boolean;
}

export interface PinsRecord {
  readonly dir: string;
  readonly programs: { readonly ingress: string; readonly egress: string };
  /** Map name -> pin path. */
  readonly maps: Readonly<Record<string, string>>;
}

/** One policy as deployed: enough to show it, and to deploy it again (rollback). */
export interface DeploymentRecord {
  readonly name: string;
  readonly policyHash: string;
  /** The data path generation of this policy (sessions of other generations are re-checked). */
  readonly generation: number;
  /** The policy slot (0 or 1) that holds it. */
  readonly slot: number;
  readonly deployedAt: string;
  readonly files: readonly string[];
  readonly interfaces: readonly InterfaceRecord[];
  readonly attachments: readonly AttachmentRecord[];
  readonly pins: PinsRecord;
  /** Capacities the data path was loaded with (fixed for the life of its pinned maps). */
  readonly rulesPerSlot: number;
  readonly sessions: number;
  /** Fragment table capacity; absent in records written before it existed (the default then). */
  readonly fragments?: number;
  /** The compiled bundle's text (compiler/bundle.ts), as installed. */
  readonly bundle: string;
  /** The `.seg` texts it was compiled from (for `deploy --dry-run` to compare meanings). */
  readonly sources: Readonly<Record<string, string>>;
  /** The data path settings it was deployed with (absent in records of older segc: defaults). */
  readonly settings?: DatapathSettings;
  /** When the deployment went into audit mode (kept across audit redeploys), or absent. */
  readonly auditSince?: string;
  /**
   * The data path in force: its version (runtime/datapath/version.ts) and the sha256 of the
   * classifier object. Absent in records of segc before data-path versions (version 1).
   */
  readonly datapath?: { readonly version: number; readonly object: string };
}

/** What `segc deploy` sets in the data path besides the policy (docs/deploy.md). */
export interface DatapathSettings {
  /** The whole policy in audit mode: denies pass, counted as would-deny. */
  readonly audit?: boolean;
  /** An event for every denied packet, not only log rules'. */
  readonly logDenies?: boolean;
  /** Under table pressure, SYNs open no session (default true). */
  readonly synProtection?: boolean;
  /** Session table fill (percent) where SYN protection starts; absent: the default (75). */
  readonly pressurePct?: number;
  /** Event token buckets (per CPU); absent fields: the data path's defaults. */
  readonly events?: { readonly rate?: number; readonly burst?: number; readonly globalRate?: number; readonly globalBurst?: number };
}

export interface StateFile {
  readonly format: typeof RECORD_FORMAT;
  readonly version: typeof RECORD_VERSION;
  readonly current: DeploymentRecord;
  /** What was in force before `current` (rollback target), or null. */
  readonly previous: DeploymentRecord | null;
}

export function stateDirOf(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env['SEGC_STATE_DIR'] ?? DEFAULT_STATE_DIR;
}

export function recordPath(stateDir: string, name: string): string {
  if (!isDeploymentName(name)) throw new RangeError(`'${name}' is not a deployment name`);
  return join(stateDir, name, 'deployment.json');
}

/** The record of `name`, or undefined when there is none. A damaged record is an error. */
export function readState(stateDir: string, name: string): StateFile | undefined {
  let text: string;
  try {
    text = readFileSync(recordPath(stateDir, name), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const state = JSON.parse(text) as StateFile;
  if (state.format !== RECORD_FORMAT || state.version !== RECORD_VERSION) {
    throw new Error(`${recordPath(stateDir, name)} is not a segc deployment record of version ${RECORD_VERSION}`);
  }
  return state;
}

/** Replaces the record of `state.current.name` in one step. */
export function writeState(stateDir: string, state: StateFile): void {
  const path = recordPath(stateDir, state.current.name);
  mkdirSync(join(stateDir, state.current.name), { recursive: true, mode: 0o700 });
  writeFileAtomic.sync(path, JSON.stringify(state) + '\n', { mode: 0o600 });
}

export function removeState(stateDir: string, name: string): boolean {
  const dir = join(stateDir, name);
  recordPath(stateDir, name);
  try {
    readdirSync(dir);
  } catch {
    return false;
  }
  rmSync(dir, { recursive: true, force: true });
  return true;
}

/** Names of every recorded deployment, sorted. */
export function listDeployments(stateDir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(stateDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  return entries.filter((n) => isDeploymentName(n) && readState(stateDir, n) !== undefined).sort();
}
