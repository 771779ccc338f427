// Runtime: the deployment record on the host. One JSON file per deployment name under
// /var/lib/segc/<name>/deployment.json holds what `status` prints and what `rollback` needs:
// the deployment in force (files, policy hash, generation, slot, interfaces, program ids, pin
// paths, the bundle itself) and the one before it. Written atomically (a temporary file,
// created without following links, renamed over the old one), so a crash leaves either the old
// record or the new one. Records are untrusted on read: a damaged one is a RecordError naming
// its file and the repair, and every reader of the folder carries on with the others.
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

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
  return join(stateDir, name, RECORD_FILE);
}

const RECORD_FILE = 'deployment.json';
/** Temporary files of a record write: `deployment.json.<anything>` (ours and write-file-atomic's). */
const TEMP_PREFIX = `${RECORD_FILE}.`;
/** A record holds two bundles and their sources: far below this, even at 2 x 65 536 rules. */
export const MAX_RECORD_BYTES = 256 << 20;

/**
 * A record that exists but cannot be used: unreadable, not JSON, not a record of this version,
 * a symbolic link. Names the deployment, the file and how to repair it; never a stack trace.
 */
export class RecordError extends Error {
  readonly deployment: string;
  readonly path: string;
  readonly hint: string;
  constructor(deployment: string, path: string, why: string) {
    super(`the deployment record of '${deployment}' is damaged: ${path}: ${why}`);
    this.name = 'RecordError';
    this.deployment = deployment;
    this.path = path;
    this.hint = `deploy '${deployment}' again to rewrite its record (segc deploy --name ${deployment} ...), or remove the deployment with segc undeploy --name ${deployment}; other deployments are not affected`;
  }
}

export function isRecordError(error: unknown): error is RecordError {
  return error instanceof RecordError;
}

/** The record of `name`, or undefined when there is none. A damaged record is a RecordError. */
export function readState(stateDir: string, name: string): StateFile | undefined {
  const path = recordPath(stateDir, name);
  const parsed = readStateJson(path, (why) => new RecordError(name, path, why));
  if (parsed === undefined) return undefined;
  const why = checkStateFile(parsed, name);
  if (why !== undefined) throw new RecordError(name, path, why);
  return parsed as StateFile;
}

/**
 * A JSON file of the state folder (a deployment record, a pending confirmation, a canary), read
 * as untrusted: never through a symbolic link, only from a regular file of bounded size.
 * Undefined when there is none; anything else wrong is `damaged(why)`, thrown.
 */
export function readStateJson(path: string, damaged: (why: string) => Error): unknown {
  const text = readStateText(path, damaged);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw damaged(text.trim() === '' ? 'the file is empty' : `it is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

function readStateText(path: string, damaged: (why: string) => Error): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw damaged('it is a symbolic link (records are never followed through links)');
    if (code === 'EACCES' || code === 'EPERM') throw error;
    throw damaged(`cannot open it (${code ?? String(error)})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw damaged('it is not a regular file');
    if (st.size > MAX_RECORD_BYTES) throw damaged(`it holds ${st.size} bytes, more than a record can (${MAX_RECORD_BYTES})`);
    const buffer = Buffer.alloc(st.size);
    let got = 0;
    while (got < buffer.length) {
      const n = readSync(fd, buffer, got, buffer.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buffer.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isStringArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Why `value` is not a state file of deployment `name`, or undefined when it is one. */
function checkStateFile(value: unknown, name: string): string | undefined {
  if (!isObject(value)) return `it holds ${value === null ? 'null' : typeof value}, not a record`;
  if (value['format'] !== RECORD_FORMAT || value['version'] !== RECORD_VERSION) return `it is not a segc deployment record of version ${RECORD_VERSION}`;
  const current = checkDeploymentRecord(value['current'], name);
  if (current !== undefined) return `its current deployment ${current}`;
  if (value['previous'] !== null) {
    const previous = checkDeploymentRecord(value['previous'], name);
    if (previous !== undefined) return `its previous deployment ${previous}`;
  }
  return undefined;
}

/** Why `r` is not a usable deployment record of `name` (every field a reader relies on). */
function checkDeploymentRecord(r: unknown, name: string): string | undefined {
  if (!isObject(r)) return 'is missing';
  if (r['name'] !== name) return `names '${String(r['name'])}', not '${name}'`;
  const strings = ['policyHash', 'deployedAt', 'bundle'] as const;
  for (const k of strings) if (typeof r[k] !== 'string') return `lacks '${k}'`;
  for (const k of ['generation', 'slot', 'rulesPerSlot', 'sessions'] as const) if (!isCount(r[k])) return `lacks '${k}'`;
  if (r['fragments'] !== undefined && !isCount(r['fragments'])) return "has a bad 'fragments'";
  if (!isStringArray(r['files'])) return "lacks 'files'";
  if (!Array.isArray(r['interfaces']) || !r['interfaces'].every((i) => isObject(i) && typeof i['iface'] === 'string' && isCount(i['ifindex']) && typeof i['createdClsact'] === 'boolean')) return "lacks 'interfaces'";
  if (!Array.isArray(r['attachments']) || !r['attachments'].every((a) => isObject(a) && typeof a['iface'] === 'string' && isCount(a['ifindex']) && (a['direction'] === 'ingress' || a['direction'] === 'egress') && isCount(a['progId']))) return "lacks 'attachments'";
  const pins = r['pins'];
  if (!isObject(pins) || typeof pins['dir'] !== 'string' || !isObject(pins['programs']) || typeof pins['programs']['ingress'] !== 'string' || typeof pins['programs']['egress'] !== 'string' || !isObject(pins['maps'])) return "lacks 'pins'";
  if (!isObject(r['sources'])) return "lacks 'sources'";
  if (r['settings'] !== undefined && !isObject(r['settings'])) return "has bad 'settings'";
  return undefined;
}

/**
 * Replaces the record of `state.current.name` in one step: a new file created exclusively and
 * without following links (O_EXCL | O_NOFOLLOW), synced, then renamed over the record (a
 * rename replaces a planted link itself, never its target).
 */
export function writeState(stateDir: string, state: StateFile): void {
  writeStateJson(recordPath(stateDir, state.current.name), state);
}

/**
 * Writes `value` as the JSON file `path` of a deployment folder atomically (a temporary file
 * created without following links, synced, renamed over the old one), as every state file is.
 */
export function writeStateJson(path: string, value: unknown): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!lstatSync(dir).isDirectory()) throw new Error(`${dir} is not a folder (a symbolic link?); segc writes records only into real folders`);
  const temp = `${path}.${process.pid}.${Date.now().toString(36)}`;
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const bytes = Buffer.from(JSON.stringify(value) + '\n', 'utf8');
    let put = 0;
    while (put < bytes.length) put += writeSync(fd, bytes, put, bytes.length - put);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  // The rename is durable once the folder is; some filesystems refuse fsync on a folder.
  try {
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best effort.
  }
}

/**
 * Removes temporary record files a killed write left behind (`deployment.json.<n>`). Only a
 * holder of the deploy lock calls this: no write can be under way then.
 */
export function sweepTemporaryRecords(stateDir: string): string[] {
  const removed: string[] = [];
  for (const name of deploymentDirs(stateDir)) {
    let entries: string[];
    try {
      entries = readdirSync(join(stateDir, name));
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.startsWith(TEMP_PREFIX)) continue;
      try {
        unlinkSync(join(stateDir, name, e));
        removed.push(join(stateDir, name, e));
      } catch {
        // Gone already, or not ours to remove.
      }
    }
  }
  return removed;
}

export function removeState(stateDir: string, name: string): boolean {
  const dir = join(stateDir, name);
  recordPath(stateDir, name);
  try {
    if (!lstatSync(dir).isDirectory()) {
      unlinkSync(dir);
      return true;
    }
  } catch {
    return false;
  }
  rmSync(dir, { recursive: true, force: true });
  return true;
}

function deploymentDirs(stateDir: string): string[] {
  try {
    return readdirSync(stateDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && isDeploymentName(e.name))
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** Names of every deployment with a record file (healthy or damaged), sorted. */
export function listDeployments(stateDir: string): string[] {
  return deploymentDirs(stateDir)
    .filter((n) => {
      try {
        lstatSync(recordPath(stateDir, n));
        return true;
      } catch (error) {
        // A record this user may not see (EACCES) is still there: reading it says so.
        return (error as NodeJS.ErrnoException).code !== 'ENOENT';
      }
    })
    .sort();
}

/** Every record of the folder: the healthy ones, and the damaged ones with why. */
export interface StateScan {
  readonly states: readonly StateFile[];
  readonly damaged: readonly RecordError[];
}

export function readAllStates(stateDir: string): StateScan {
  const states: StateFile[] = [];
  const damaged: RecordError[] = [];
  for (const name of listDeployments(stateDir)) {
    try {
      const state = readState(stateDir, name);
      if (state) states.push(state);
    } catch (error) {
      if (error instanceof RecordError) damaged.push(error);
      else throw error;
    }
  }
  return { states, damaged };
}
