// Runtime: deploys a compiled bundle to this host and removes it again. `deploy` reads as plan
// (everything that can be checked before a change) -> apply (load or adopt the pinned data path,
// fill the inactive slot, switch with one config write, attach) -> verify (the kernel holds
// what was meant) -> commit (the record) or roll back (undo, in reverse, only what this run did).
// Enforcement lives in the kernel: pinned maps and programs under /sys/fs/bpf/segc/<name>/ and
// clsact filters; no segc process stays behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SEG_CFG_LOG_DENIES, SEG_CFG_NO_SYN_PROTECTION, SEG_CHUNK_RULES, SEG_MAX_CHUNKS, SEG_SLOTS, SEG_MAPS, SegMap, type MapName } from './datapath/abi.ts';
import { bundleImage, parseBundle, type Bundle } from '../compiler/bundle.ts';
import type { PolicyImage } from '../compiler/entries.ts';
import { BpfError, isBpfError } from './errors.ts';
import { BPFFS_ROOT, ensureBpffs, makePinDir, removePinDir, unpin } from './bpffs.ts';
import { bpf_map_get_info_by_fd, bpf_obj_get, bpf_obj_pin, bpf_object__find_program_by_name, bpf_program__set_log_buf, bpf_prog_get_fd_by_id, bpf_prog_get_info_by_fd, close, if_indextoname, libbpf_set_print, type BpfObject } from './libbpf.ts';
import { closeDatapath, DEFAULT_FRAGMENTS, DEFAULT_OBJECT_PATH, DEFAULT_RULES_PER_SLOT, DEFAULT_SESSIONS, loadDatapath } from './loader.ts';
import { installPolicy, slotGeneration } from './datapath/slots.ts';
import { readConfig, writeConfig, type DatapathConfig } from './datapath/config.ts';
import { type Datapath } from './datapath/datapath.ts';
import { readDatapathInfo } from './datapath/info.ts';
import { catchUpUpgrade, loadUpgrade, objectHash, planUpgrade, repinUpgrade, type LoadedUpgrade, type UpgradePlan } from './upgrade.ts';
import { canaryPath, removeCanary } from './canary-record.ts';
import { armConfirmation, clearPending, ConfirmRecordError, readPending, type PendingConfirmation } from './confirm.ts';
import { formatDuration } from './duration.ts';
import { acquireLock, LockBusyError, StateDirError, type DeployLock } from './lock.ts';
import { readAllStates, readState, removeState, stateDirOf, sweepTemporaryRecords, writeState, isDeploymentName, isRecordError, type AttachmentRecord, type DatapathSettings, type DeploymentRecord, type InterfaceRecord, type PinsRecord, type StateFile } from './state.ts';
import { attachTc, detachTc, ensureClsact, interfaceIndex, queryTc, queryTcProgram, removeClsact, TC_DIRECTIONS, type TcDirection } from './tc.ts';

/** Pin directories of every deployment live below this bpffs folder. */
export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/segc';

export const DEFAULT_DEPLOYMENT = 'default';

/** Rules a policy slot can hold: both directions at their limit. */
export const MAX_RULES_PER_SLOT = 2 * SEG_MAX_CHUNKS * SEG_CHUNK_RULES;

/** Session table capacity bound (the table is preallocated: 512 MiB at this size, 128 bytes a session). */
export const MAX_SESSIONS = 1 << 22;
/** Fragmented datagrams tracked at once (seg_fragments): at most about 400 MiB. */
export const MAX_FRAGMENTS = 1 << 22;

/** Program pin names inside a deployment's pin directory. */
export const PROGRAM_PINS = { ingress: 'prog_ingress', egress: 'prog_egress' } as const;

/**
 * The steps a test can make fail (`failAt`, or SEGC_TEST_FAIL_AT for the binary). `crash`
 * kills the process after the new policy is installed but before the switch; `upgrade` fails
 * an upgrade in place after the new maps are made and filled, before anything is attached;
 * `switched` kills it right after the switch, before attach, verify and the record;
 * `crash-switched` after the switch and the attach, before the record is written (the window
 * docs/deploy.md describes: the kernel is ahead of the record, and `status` says so). `vanish`
 * is no failure: it deletes the last interface after the verify, as an operator or a container
 * runtime may while a deploy runs, so that a test sees the deploy report it.
 */
export const DEPLOY_STEPS = ['load', 'pin', 'upgrade', 'install', 'crash', 'switch', 'switched', 'attach', 'verify', 'crash-switched', 'vanish', 'record'] as const;
export type DeployStep = (typeof DEPLOY_STEPS)[number];

/** Why a deploy did not happen: `exitCode` 1 when the policy was refused, 2 for the environment. */
export class DeployError extends Error {
  readonly step: DeployStep | 'plan' | 'lock';
  readonly exitCode: 1 | 2;
  readonly hint: string | undefined;
  /** The verifier log of a rejected program, when that is what happened. */
  readonly log: string | undefined;

  constructor(step: DeployError['step'], exitCode: 1 | 2, message: string, hint?: string, log?: string) {
    super(message);
    this.name = 'DeployError';
    this.step = step;
    this.exitCode = exitCode;
    this.hint = hint;
    this.log = log;
  }
}

export interface HostOptions {
  /** Default /sys/fs/bpf/segc. */
  readonly pinRoot?: string;
  /** Default SEGC_STATE_DIR or /var/lib/segc. */
  readonly stateDir?: string;
  readonly lockTimeoutMs?: number;
}

export interface DeployOptions extends HostOptions {
  readonly name?: string;
  readonly objectPath?: string;
  /** Capacities of the data path (a redeploy that changes one upgrades the data path in place). */
  readonly rulesPerSlot?: number;
  readonly sessions?: number;
  readonly fragments?: number;
  /** The `.seg` texts, kept in the record so that `--dry-run` can compare meanings later. */
  readonly sources?: Readonly<Record<string, string>>;
  /** Audit, events and SYN protection (written with the switch; absent: the defaults, enforcing). */
  readonly settings?: DatapathSettings;
  /** Bytes of the event ring buffer (a power of two). */
  readonly eventBufferBytes?: number;
  /** Commit-confirmed: roll back by itself after `windowMs` unless `segc confirm` comes first. */
  readonly confirm?: { readonly windowMs: number; readonly command?: readonly string[] };
  /** Replace a deploy that waits for confirmation (rollback and its expiry do) instead of refusing. */
  readonly cancelPending?: boolean;
  /** A running canary does not refuse this deploy (the canary's own start, promote and rollback). */
  readonly canaryEnds?: boolean;
  /** Tests only: fail (or crash) at this step. */
  readonly failAt?: DeployStep;
  readonly now?: () => Date;
}

export interface DeployRequest {
  readonly bundleText: string;
  readonly interfaces: readonly string[];
  readonly options?: DeployOptions;
}

export interface DeployPlan {
  readonly name: string;
  readonly pinDir: string;
  readonly stateDir: string;
  readonly bundle: Bundle;
  readonly bundleText: string;
  readonly image: PolicyImage;
  readonly interfaces: readonly { readonly iface: string; readonly ifindex: number }[];
  readonly state: StateFile | undefined;
  /** Interfaces the deployment runs on now (from its record; from the kernel when the record is damaged). */
  readonly running: readonly InterfaceRecord[];
  /** Found while planning, reported with the result (a damaged record replaced). */
  readonly warnings: readonly string[];
  /** The pinned data path of a running deployment, adopted; undefined: load a fresh one. */
  readonly adopted: Datapath | undefined;
  /** Replace the adopted data path in place (newer version, other object, new sizes). */
  readonly upgrade: UpgradePlan | undefined;
  /** sha256 of the classifier object this deploy loads (or finds running). */
  readonly objectHash: string;
  readonly rulesPerSlot: number;
  readonly sessions: number;
  readonly fragments: number;
  readonly options: DeployOptions;
}

/** What apply did, in order, with how to undo each. */
interface Applied {
  readonly plan: DeployPlan;
  readonly dp: Datapath;
  /** The upgrade's new data path, when this run replaced the adopted one. */
  readonly upgraded: LoadedUpgrade | undefined;
  readonly slot: number;
  readonly generation: number;
  readonly interfaces: InterfaceRecord[];
  readonly attachments: AttachmentRecord[];
  readonly undo: { readonly what: string; readonly run: () => void }[];
  readonly timings: DeployTimings;
}

export interface DeployTimings {
  loadMs: number;
  installMs: number;
  /** The one config write that switches every interface. */
  switchMs: number;
  attachMs: number;
}

export interface DeployResult {
  readonly record: DeploymentRecord;
  readonly previous: DeploymentRecord | null;
  /** True when this run loaded the data path (first deployment, or after a reboot). */
  readonly loaded: boolean;
  /** The running data path was replaced in place: why, and what was carried over. */
  readonly upgrade?: { readonly from: number; readonly to: number; readonly reasons: readonly string[]; readonly reused: readonly string[]; readonly migrated: Readonly<Record<string, number>>; readonly unplacedSessions: number };
  /** Interfaces the previous deployment had and this one dropped (detached). */
  readonly detached: readonly string[];
  /** What went wrong after the switch without undoing it (a dropped interface not detached). */
  readonly warnings: readonly string[];
  readonly timings: DeployTimings;
  /** With `confirm`: what waits for `segc confirm`, and until when. */
  readonly pending: PendingConfirmation | null;
}

function pinRootOf(options: HostOptions): string {
  return options.pinRoot ?? DEFAULT_PIN_ROOT;
}

function stateDirOfOptions(options: HostOptions): string {
  return options.stateDir ?? stateDirOf();
}

function checkName(name: string): void {
  if (!isDeploymentName(name)) {
    throw new DeployError('plan', 2, `'${name}' is not a deployment name`, 'use letters, digits, dots, dashes and underscores (at most 64), starting with a letter or digit');
  }
}

function failpoint(options: DeployOptions, step: DeployStep): void {
  if (options.failAt !== step) return;
  // Kill -9 ourselves: nothing after this line runs, no finally, no undo.
  if (step === 'crash' || step === 'switched' || step === 'crash-switched') process.kill(process.pid, 'SIGKILL');
  if (step === 'vanish') {
    const last = (options as DeployOptions & { readonly vanishIface?: string }).vanishIface;
    if (last !== undefined) execFileSync('ip', ['link', 'del', last], { stdio: 'ignore' });
    return;
  }
  throw new DeployError(step, 2, `injected failure at step '${step}' (a test asked for it)`);
}

/** Deploys `request.bundleText` on the named interfaces, holding the host's deploy lock. */
export function deploy(request: DeployRequest): DeployResult {
  const options = request.options ?? {};
  // libbpf's own stderr chatter (a missing filter chain while querying); failures come back
  // as BpfErrors with the verifier log attached.
  libbpf_set_print(null);
  const lock = lockHost(options);
  try {
    return deployLocked(request);
  } finally {
    lock.release();
  }
}

/** `deploy` for a caller that already holds the host's lock (the expiry of a confirmation). */
export function deployLocked(request: DeployRequest): DeployResult {
  libbpf_set_print(null);
  const plan = planDeploy(request);
  // apply undoes its own steps when one fails; from here on, this function does.
  const applied = applyDeploy(plan);
  const options = plan.options;
  try {
    verifyDeploy(applied);
    failpoint(options, 'crash-switched');
    failpoint({ ...options, vanishIface: plan.interfaces.at(-1)?.iface } as DeployOptions, 'vanish');
    return commitDeploy(applied);
  } catch (error) {
    // Before the record is written the deploy has not happened: undo, then say what holds.
    const failures = rollBackDeploy(applied);
    throw withRollbackOutcome(error, failures, plan);
  }
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new DeployError('plan', 2, 'changing deployments needs root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN); nothing was changed', 'run it again with sudo');
  }
}

/**
 * A failure after apply, told with what the rollback achieved: the previous policy back in
 * force, or (when undoing failed) that the kernel may hold the new one.
 */
function withRollbackOutcome(error: unknown, failures: readonly string[], plan: DeployPlan): unknown {
  if (!(error instanceof DeployError)) return error;
  if (failures.length === 0) {
    if (/stays in force|nothing was changed|was put back/.test(error.message)) return error;
    const outcome = plan.state !== undefined || plan.adopted !== undefined ? 'the previous policy stays in force' : 'nothing was changed';
    return new DeployError(error.step, error.exitCode, `${error.message}; ${outcome}`, error.hint, error.log);
  }
  const outcome = `putting the previous policy back failed (${failures.join('; ')}): the new policy may be in force; segc status shows what the kernel holds`;
  return new DeployError(error.step, error.exitCode, `${error.message}; ${outcome}`, 'deploy again (or undeploy) to bring the kernel and the record together', error.log);
}

/**
 * Takes the host's deploy lock; first of all, checks for root (the lock and the kernel need it).
 * The holder then removes temporary record files a killed writer left behind.
 */
export function lockHost(options: HostOptions): DeployLock {
  requireRoot();
  let lock: DeployLock;
  try {
    lock = acquireLock(stateDirOfOptions(options), { timeoutMs: options.lockTimeoutMs });
  } catch (error) {
    if (error instanceof LockBusyError) throw new DeployError('lock', 2, error.message, 'wait for it to finish, then run the command again');
    if (error instanceof StateDirError) throw new DeployError('lock', 2, `${error.message}; nothing was changed`, error.hint);
    throw error;
  }
  sweepTemporaryRecords(stateDirOfOptions(options));
  return lock;
}

/** Everything that can be known before a change: the policy fits, the interfaces exist, who owns them. */
export function planDeploy(request: DeployRequest): DeployPlan {
  const options = request.options ?? {};
  const name = options.name ?? DEFAULT_DEPLOYMENT;
  checkName(name);
  if (request.interfaces.length === 0) throw new DeployError('plan', 2, 'no interface to deploy on', 'name one or more with --iface');
  const stateDir = stateDirOfOptions(options);
  const pinDir = join(pinRootOf(options), name);
  const bundle = parseBundle(request.bundleText);
  const image = bundleImage(bundle);

  const interfaces = [...new Set(request.interfaces)].map((iface) => {
    try {
      return { iface, ifindex: interfaceIndex(iface) };
    } catch (error) {
      if (isBpfError(error, 'ENODEV', 'ENXIO')) {
        throw new DeployError('plan', 2, `there is no interface '${iface}' in this network namespace; nothing was changed`, "list the interfaces with 'ip link' (or run segc inside the right namespace with nsenter --net=...)");
      }
      throw error;
    }
  });
  const warnings: string[] = [];
  const others = readAllStates(stateDir);
  for (const { current: other } of others.states) {
    if (other.name === name) continue;
    const used = other.interfaces.filter((i) => interfaces.some((n) => n.ifindex === i.ifindex && n.iface === i.iface));
    if (used.length > 0) {
      throw new DeployError('plan', 2, `interface '${used[0]?.iface}' carries deployment '${other.name}'; one interface takes one deployment`, `undeploy it first (segc undeploy --name ${other.name}) or deploy with --name ${other.name}`);
    }
  }
  // A damaged record of another deployment does not stop this one; its programs, found by its
  // pins, still keep it off that deployment's interfaces.
  for (const damaged of others.damaged) {
    if (damaged.deployment === name) continue;
    const busy = interfacesOfPinned(join(pinRootOf(options), damaged.deployment), interfaces);
    if (busy !== undefined) throw new DeployError('plan', 2, `interface '${busy}' carries deployment '${damaged.deployment}', whose record is damaged (${damaged.path}); one interface takes one deployment`, damaged.hint);
  }

  // Bounds before anything is sized: the per-CPU hit counters of an absurd --max-rules would
  // take the host's memory (the kernel allocates them at load).
  if (options.rulesPerSlot !== undefined && (options.rulesPerSlot < 1 || options.rulesPerSlot > MAX_RULES_PER_SLOT)) {
    throw new DeployError('plan', 2, `--max-rules ${options.rulesPerSlot} is out of range`, `the data path holds at most ${MAX_RULES_PER_SLOT} rules per policy (${SEG_MAX_CHUNKS * SEG_CHUNK_RULES} per direction)`);
  }
  if (options.sessions !== undefined && (options.sessions < 1 || options.sessions > MAX_SESSIONS)) {
    throw new DeployError('plan', 2, `--sessions ${options.sessions} is out of range`, `give 1 to ${MAX_SESSIONS}`);
  }
  if (options.fragments !== undefined && (options.fragments < 1 || options.fragments > MAX_FRAGMENTS)) {
    throw new DeployError('plan', 2, `--fragments ${options.fragments} is out of range`, `give 1 to ${MAX_FRAGMENTS}`);
  }
  checkSettings(options.settings ?? {});
  if (options.eventBufferBytes !== undefined && (options.eventBufferBytes < 4096 || (options.eventBufferBytes & (options.eventBufferBytes - 1)) !== 0 || options.eventBufferBytes > 1 << 30)) {
    throw new DeployError('plan', 2, `an event buffer of ${options.eventBufferBytes} bytes is not possible`, 'give a power of two from 4 KiB to 1 GiB');
  }
  let state: StateFile | undefined;
  let recordDamaged = false;
  try {
    state = readState(stateDir, name);
  } catch (error) {
    if (!isRecordError(error)) throw error;
    // Deploying again is the repair: the new record replaces the damaged one; what it held
    // (the rollback target) is lost, and the interfaces in use are read from the kernel.
    recordDamaged = true;
    warnings.push(`${error.message}; it was replaced by this deployment's record (there is no previous policy to roll back to)`);
  }
  const pending = readPendingForPlan(stateDir, name);
  if (pending && options.cancelPending !== true) {
    throw new DeployError(
      'plan',
      2,
      `deployment '${name}' has generation ${pending.generation} waiting for confirmation until ${pending.deadline}; nothing was changed`,
      `keep it with 'segc confirm --name ${name}' or cancel it with 'segc rollback --name ${name}', then deploy again`,
    );
  }
  if (existsSync(canaryPath(stateDir, name)) && options.canaryEnds !== true) {
    throw new DeployError('plan', 2, `deployment '${name}' runs a canary; nothing was changed`, `end it first: 'segc promote --name ${name}' makes it the policy in force, 'segc rollback --name ${name}' drops it`);
  }
  const objectPath = options.objectPath ?? DEFAULT_OBJECT_PATH;
  if (!existsSync(objectPath)) throw new DeployError('plan', 2, `the data path object ${objectPath} is missing; nothing was changed`, "build it with 'make bpf' (or reinstall segc)");
  const hash = objectHash(objectPath);
  const adopted = existsSync(join(pinDir, SegMap.config)) ? openPinnedDatapath(pinDir) : undefined;
  let upgrade: UpgradePlan | undefined;
  try {
    if (adopted && isOlderDatapath(adopted)) {
      throw new DeployError('plan', 2, `deployment '${name}' runs a data path of an older segc (without the fragment, event, audit and SYN maps); nothing was changed`, `undeploy it (segc undeploy --name ${name}), then deploy again`);
    }
    if (adopted) {
      upgrade = planUpgrade(adopted, {
        objectHash: hash,
        recordedObjectHash: state?.current.datapath?.object,
        ...(options.sessions === undefined ? {} : { sessions: options.sessions }),
        ...(options.fragments === undefined ? {} : { fragments: options.fragments }),
        ...(options.rulesPerSlot === undefined ? {} : { rulesPerSlot: options.rulesPerSlot }),
        ...(options.eventBufferBytes === undefined ? {} : { eventBufferBytes: options.eventBufferBytes }),
      });
      if (upgrade && upgrade.from > upgrade.to) {
        throw new DeployError(
          'plan',
          2,
          `deployment '${name}' runs data-path version ${upgrade.from}, newer than this segc's (${upgrade.to}); nothing was changed (segc never downgrades a data path)`,
          `deploy it with a segc of data-path version ${upgrade.from} or later, or undeploy it first (segc undeploy --name ${name})`,
        );
      }
    }
    const rulesPerSlot = upgrade?.capacities.rulesPerSlot ?? adopted?.rulesPerSlot ?? options.rulesPerSlot ?? DEFAULT_RULES_PER_SLOT;
    const sessions = upgrade?.capacities.sessions ?? (adopted ? (state?.current.sessions ?? DEFAULT_SESSIONS) : (options.sessions ?? DEFAULT_SESSIONS));
    const fragments = upgrade?.capacities.fragments ?? (adopted ? (state?.current.fragments ?? DEFAULT_FRAGMENTS) : (options.fragments ?? DEFAULT_FRAGMENTS));
    if (image.ruleCount > rulesPerSlot) {
      throw new DeployError(
        'plan',
        1,
        `the policy has ${image.ruleCount} rules; this deployment's data path holds at most ${rulesPerSlot} per slot; nothing was changed`,
        `deploy with --max-rules ${image.ruleCount} or more${adopted ? ' (the data path is resized in place, sessions kept)' : ''}`,
      );
    }
    const running = state?.current.interfaces ?? (recordDamaged && adopted ? interfacesRunning(adopted) : []);
    return { name, pinDir, stateDir, bundle, bundleText: request.bundleText, image, interfaces, state, running, adopted, upgrade, objectHash: hash, rulesPerSlot, sessions, fragments, options, warnings };
  } catch (error) {
    if (adopted) releaseDatapath(adopted, true);
    throw error;
  }
}

/** Loads or adopts the data path, fills the inactive slot, switches to it, attaches. */
export function applyDeploy(plan: DeployPlan): Applied {
  const { options } = plan;
  const undo: Applied['undo'] = [];
  const timings: DeployTimings = { loadMs: 0, installMs: 0, switchMs: 0, attachMs: 0 };
  let dp = plan.adopted;
  let upgraded: LoadedUpgrade | undefined;
  const partial = (slot: number, generation: number): Applied => ({ plan, dp: dp as Datapath, upgraded, slot, generation, interfaces: [], attachments: [], undo, timings });
  try {
    if (!dp) {
      const started = performance.now();
      dp = loadFresh(plan);
      pinFresh(plan, dp, undo);
      timings.loadMs = performance.now() - started;
    }
    // What is in force: the running data path's config and slots (an upgrade's new maps may
    // not hold them).
    const running = dp;
    const config = readConfig(running);
    const activeGeneration = slotGeneration(running, config.activeSlot);
    const slot = activeGeneration === 0n ? config.activeSlot : 1 - config.activeSlot;
    const generation = Math.max(plan.state?.current.generation ?? 0, Number(activeGeneration), Number(slotGeneration(running, 1 - config.activeSlot))) + 1;
    if (plan.upgrade && plan.adopted) {
      const started = performance.now();
      upgraded = upgradeFresh(plan, plan.upgrade, plan.adopted);
      dp = upgraded.dp;
      timings.loadMs = performance.now() - started;
      failpoint(options, 'upgrade');
    }
    const loaded = dp;
    const applied = partial(slot, generation);

    let started = performance.now();
    failpoint(options, 'install');
    try {
      installPolicy(loaded, plan.image, { slot, generation: BigInt(generation), audit: options.settings?.audit === true });
    } catch (error) {
      throw describeInstallFailure(error);
    }
    timings.installMs = performance.now() - started;
    failpoint(options, 'crash');

    if (options.confirm) armForConfirmation(plan, generation, options.confirm, undo);
    failpoint(options, 'switch');
    started = performance.now();
    // The settings go with the slot in the same one write.
    writeConfig(loaded, configWith(config, slot, options.settings ?? {}));
    timings.switchMs = performance.now() - started;
    if (activeGeneration !== 0n && (!upgraded || upgraded.reused.has(SegMap.config))) undo.push({ what: `switch back to slot ${config.activeSlot}`, run: () => writeConfig(loaded, config) });
    failpoint(options, 'switched');

    started = performance.now();
    attachAll(applied, loaded);
    if (upgraded && plan.upgrade && plan.adopted) finishUpgrade(plan, plan.upgrade, plan.adopted, upgraded, undo);
    timings.attachMs = performance.now() - started;
    return applied;
  } catch (error) {
    if (dp) {
      const failures = rollBackDeploy(partial(-1, 0));
      throw withRollbackOutcome(error, failures, plan);
    }
    throw error;
  }
}

/** The pending confirmation, a damaged record being the operator's to look at (nothing changes). */
function readPendingForPlan(stateDir: string, name: string): PendingConfirmation | undefined {
  try {
    return readPending(stateDir, name);
  } catch (error) {
    if (!(error instanceof ConfirmRecordError)) throw error;
    throw new DeployError('plan', 2, `${error.message}; nothing was changed`, `look at it; remove it to forget the trial (then 'segc rollback --name ${name}' if the trial's policy must go)`);
  }
}

/**
 * Before the switch: the pending confirmation and its watcher, so that from the switch on a
 * deploy killed at any point is rolled back at the deadline. Undone (record removed, watcher
 * stopped) when this deploy fails.
 */
function armForConfirmation(plan: DeployPlan, generation: number, confirm: NonNullable<DeployOptions['confirm']>, undo: Applied['undo']): void {
  const pending = armConfirmation({
    stateDir: plan.stateDir,
    name: plan.name,
    generation,
    policyHash: plan.bundle.policyHash,
    rollbackTo: plan.state?.current.generation ?? null,
    windowMs: confirm.windowMs,
    now: plan.options.now?.() ?? new Date(),
    ...(confirm.command === undefined ? {} : { command: confirm.command }),
  });
  undo.push({ what: `remove the pending confirmation (${formatDuration(pending.windowMs)})`, run: () => void clearPending(plan.stateDir, plan.name) });
}

/** Event limits accepted by `settings` (the data path's token bucket arithmetic holds up to this rate). */
export const MAX_EVENT_RATE = 1_000_000;

/** The config that switches to `slot` with `settings` (flags this run does not own are kept). */
export function configWith(config: DatapathConfig, slot: number, settings: DatapathSettings): DatapathConfig {
  let flags = config.flags & ~(SEG_CFG_LOG_DENIES | SEG_CFG_NO_SYN_PROTECTION);
  if (settings.logDenies === true) flags |= SEG_CFG_LOG_DENIES;
  if (settings.synProtection === false) flags |= SEG_CFG_NO_SYN_PROTECTION;
  const e = settings.events ?? {};
  return {
    ...config,
    activeSlot: slot,
    flags,
    events: { rate: e.rate ?? 0, burst: e.burst ?? 0, globalRate: e.globalRate ?? 0, globalBurst: e.globalBurst ?? 0 },
    pressurePct: settings.pressurePct ?? 0,
  };
}

function checkSettings(settings: DatapathSettings): void {
  for (const [name, value] of Object.entries(settings.events ?? {})) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > MAX_EVENT_RATE)) {
      throw new DeployError('plan', 2, `the event ${name} ${value} is out of range`, `give 1 to ${MAX_EVENT_RATE}`);
    }
  }
  if (settings.pressurePct !== undefined && (!Number.isInteger(settings.pressurePct) || settings.pressurePct < 1 || settings.pressurePct > 100)) {
    throw new DeployError('plan', 2, `--pressure ${settings.pressurePct} is out of range`, 'give a percentage of the session table, 1 to 100');
  }
}

/** A buffer per program, so a rejection comes with the verifier's reasons. */
function withLogBuffers(obj: BpfObject): void {
  for (const name of ['seg_ingress', 'seg_egress']) bpf_program__set_log_buf(obj, bpf_object__find_program_by_name(obj, name), 4 << 20);
}

/** Loads the new data path beside the running one (nothing running changes); see upgrade.ts. */
function upgradeFresh(plan: DeployPlan, upgrade: UpgradePlan, adopted: Datapath): LoadedUpgrade {
  try {
    return loadUpgrade(adopted, upgrade, plan.options.objectPath ?? DEFAULT_OBJECT_PATH, withLogBuffers);
  } catch (error) {
    throw describeLoadFailure(error);
  }
}

/**
 * After the new programs are attached: copies what the old ones made meanwhile and points the
 * pins at the new data path (undone, with the attach, if a later step fails).
 */
function finishUpgrade(plan: DeployPlan, upgrade: UpgradePlan, adopted: Datapath, upgraded: LoadedUpgrade, undo: Applied['undo']): void {
  const caughtUp = catchUpUpgrade(adopted, upgraded, upgrade);
  const migrated = upgraded.migrated as Record<string, number>;
  for (const [name, n] of Object.entries(caughtUp)) migrated[name] = (migrated[name] ?? 0) + (n ?? 0);
  const restore = repinUpgrade(plan.pinDir, adopted, upgraded, PROGRAM_PINS);
  undo.push({ what: `put the old pins back in ${plan.pinDir}`, run: restore });
}

function loadFresh(plan: DeployPlan): Datapath {
  failpoint(plan.options, 'load');
  try {
    ensureBpffs();
  } catch (error) {
    throw new DeployError('load', 2, `bpffs is not mounted on /sys/fs/bpf and mounting it failed: ${error instanceof Error ? error.message : String(error)}`, 'mount it with: mount -t bpf bpf /sys/fs/bpf');
  }
  try {
    return loadDatapath({
      objectPath: plan.options.objectPath ?? DEFAULT_OBJECT_PATH,
      rulesPerSlot: plan.rulesPerSlot,
      sessions: plan.sessions,
      fragments: plan.fragments,
      ...(plan.options.eventBufferBytes === undefined ? {} : { eventBufferBytes: plan.options.eventBufferBytes }),
      prepare: withLogBuffers,
    });
  } catch (error) {
    throw describeLoadFailure(error);
  }
}

function describeLoadFailure(error: unknown): unknown {
  if (error instanceof BpfError && error.errno === 1) {
    return new DeployError('load', 2, `the kernel refused to load the classifier: ${error.message}`, 'run as root (CAP_BPF and CAP_SYS_ADMIN); `segc doctor` checks the host');
  }
  if (error instanceof BpfError && error.log) {
    return new DeployError('load', 2, `the verifier rejected the classifier: ${error.message}; nothing was changed`, 'this is a bug in segc or a kernel too old for it: run `segc doctor` and report the log', error.log);
  }
  return error;
}

/** Pins every map and both programs under the deployment's directory (removed again on failure). */
function pinFresh(plan: DeployPlan, dp: Datapath, undo: Applied['undo']): void {
  const existed = existsSync(plan.pinDir);
  try {
    makePinDir(plan.pinDir);
  } catch (error) {
    // A read-only or missing bpffs (a container's /sys): the host's to fix, not a bug.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && ['ENOENT', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'ENOSPC'].includes(code)) {
      throw new DeployError('pin', 2, `cannot make the pin folder ${plan.pinDir}: ${error instanceof Error ? error.message : String(error)}`, `bpffs must be mounted read-write on ${BPFFS_ROOT} (mount -t bpf bpf ${BPFFS_ROOT}); segc doctor checks the host`);
    }
    throw error;
  }
  if (!existed) undo.push({ what: `remove ${plan.pinDir}`, run: () => void removePinDir(plan.pinDir) });
  failpoint(plan.options, 'pin');
  const pins: [number, string][] = [...Object.entries(dp.maps).map(([name, fd]): [number, string] => [fd, name]), [dp.programs.ingress, PROGRAM_PINS.ingress], [dp.programs.egress, PROGRAM_PINS.egress]];
  for (const [fd, name] of pins) {
    const path = join(plan.pinDir, name);
    bpf_obj_pin(fd, path);
    // Each pin on its own: the directory may have been there before this run.
    if (existed) undo.push({ what: `unpin ${path}`, run: () => void unpin(path) });
  }
}

function describeInstallFailure(error: unknown): unknown {
  if (isBpfError(error, 'E2BIG', 'ENOSPC', 'ENOMEM')) {
    return new DeployError('install', 1, `the policy does not fit in the kernel's maps (${(error as BpfError).message}); the previous policy stays in force`, 'reduce the policy, or raise the memory lock limit (ulimit -l) on older kernels');
  }
  return error;
}

function attachAll(applied: Applied, dp: Datapath): void {
  const { plan, undo } = applied;
  const previous = new Map(plan.running.map((i) => [i.iface, i]));
  for (const { iface, ifindex } of plan.interfaces) {
    const createdClsact = ensureClsact(ifindex);
    if (createdClsact) undo.push({ what: `remove the clsact qdisc of ${iface}`, run: () => void removeClsact(ifindex) });
    applied.interfaces.push({ iface, ifindex, createdClsact: createdClsact || (previous.get(iface)?.createdClsact ?? false) });
    for (const direction of TC_DIRECTIONS) {
      const progFd = dp.programs[direction];
      const wanted = programId(progFd);
      const before = queryTc(ifindex, direction);
      if (before !== wanted) {
        attachTc(ifindex, direction, progFd);
        if (!createdClsact) {
          undo.push({
            what: `restore the ${direction} filter of ${iface}`,
            run: () => {
              if (before === undefined) detachTc(ifindex, direction);
              else reattachById(ifindex, direction, before);
            },
          });
        }
      }
      applied.attachments.push({ iface, ifindex, direction, progId: wanted });
      // After the first hook: a failure with part of the interfaces attached and the switch done.
      failpoint(plan.options, 'attach');
    }
  }
}

function reattachById(ifindex: number, direction: TcDirection, progId: number): void {
  const fd = bpf_prog_get_fd_by_id(progId);
  try {
    attachTc(ifindex, direction, fd);
  } finally {
    close(fd);
  }
}

function programId(fd: number): number {
  return bpf_prog_get_info_by_fd(fd).id;
}

/** Checks that the kernel holds what apply meant: the slot in force, its generation, every filter. */
export function verifyDeploy(applied: Applied): void {
  const { dp, slot, generation, plan } = applied;
  failpoint(plan.options, 'verify');
  const config = readConfig(dp);
  const problems: string[] = [];
  if (config.activeSlot !== slot) problems.push(`slot ${config.activeSlot} is active, not ${slot}`);
  if (slotGeneration(dp, slot) !== BigInt(generation)) problems.push(`slot ${slot} holds generation ${slotGeneration(dp, slot)}, not ${generation}`);
  for (const a of applied.attachments) {
    const got = queryTc(a.ifindex, a.direction);
    if (got !== a.progId) problems.push(`${a.iface} ${a.direction} runs program ${got ?? 'none'}, not ${a.progId}`);
  }
  if (problems.length > 0) throw new DeployError('verify', 2, `the kernel does not hold the deployment: ${problems.join('; ')}`, 'another tool may have changed the filters meanwhile; run the deploy again');
}

/** Writes the record (the deployment in force and the one before); then detaches dropped interfaces. */
export function commitDeploy(applied: Applied): DeployResult {
  const { plan } = applied;
  failpoint(plan.options, 'record');
  const record: DeploymentRecord = {
    name: plan.name,
    policyHash: plan.bundle.policyHash,
    generation: applied.generation,
    slot: applied.slot,
    deployedAt: (plan.options.now?.() ?? new Date()).toISOString(),
    files: plan.bundle.files,
    interfaces: applied.interfaces,
    attachments: applied.attachments,
    pins: pinsOf(plan.pinDir),
    rulesPerSlot: applied.dp.rulesPerSlot,
    sessions: plan.sessions,
    fragments: plan.fragments,
    datapath: { version: readDatapathInfo(applied.dp).version, object: plan.upgrade || !plan.adopted ? plan.objectHash : (plan.state?.current.datapath?.object ?? plan.objectHash) },
    bundle: plan.bundleText,
    sources: plan.options.sources ?? plan.state?.current.sources ?? {},
    settings: plan.options.settings ?? {},
    ...auditSinceOf(plan),
  };
  const previous = plan.state?.current ?? null;
  try {
    writeState(plan.stateDir, { format: 'segc-deployment', version: 1, current: record, previous });
  } catch (error) {
    throw new DeployError('record', 2, `cannot write the deployment record in ${plan.stateDir}: ${error instanceof Error ? error.message : String(error)}`, 'check that the folder is writable (or set SEGC_STATE_DIR)');
  }
  // The record is the commit point: from here the deployment stands and is reported as done;
  // nothing throws, leftovers are reported as warnings, not undone.
  applied.undo.length = 0;
  const detached: string[] = [];
  const warnings: string[] = [...plan.warnings];
  let pending: PendingConfirmation | null = null;
  try {
    // A rollback replaces the trial; a confirm deploy keeps what it armed.
    if (plan.options.cancelPending === true) clearPending(plan.stateDir, plan.name);
    else if (plan.options.confirm) pending = readPending(plan.stateDir, plan.name) ?? null;
  } catch (error) {
    warnings.push(`the pending confirmation: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const old of plan.running) {
    if (applied.interfaces.some((i) => i.iface === old.iface)) continue;
    try {
      detachOurs(old, applied.dp);
      // After an upgrade, a dropped interface still runs the old programs.
      if (applied.upgraded && plan.adopted) detachOurs(old, plan.adopted);
      detached.push(old.iface);
    } catch (error) {
      warnings.push(`could not detach from ${old.iface}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  warnings.push(...vanishedInterfaces(applied));
  try {
    releaseApplied(applied);
  } catch (error) {
    warnings.push(`could not close the data path's descriptors: ${error instanceof Error ? error.message : String(error)}`);
  }
  const upgraded = applied.upgraded;
  const upgrade =
    upgraded && plan.upgrade
      ? { upgrade: { from: plan.upgrade.from, to: plan.upgrade.to, reasons: plan.upgrade.reasons, reused: [...upgraded.reused].sort(), migrated: upgraded.migrated as Record<string, number>, unplacedSessions: upgraded.unplacedSessions } }
      : {};
  if (upgraded !== undefined && upgraded.unplacedSessions > 0) {
    warnings.push(`${upgraded.unplacedSessions} sessions of the old table found their two buckets of the new one full and were not kept (their flows are classified again on their next packet)`);
  }
  return { record, previous, loaded: plan.adopted === undefined || upgraded !== undefined, ...upgrade, detached, warnings, timings: applied.timings, pending };
}

/** An audit deployment keeps the time audit began across redeploys that stay in audit. */
function auditSinceOf(plan: DeployPlan): { auditSince?: string } {
  if (plan.options.settings?.audit !== true) return {};
  const before = plan.state?.current;
  if (before?.settings?.audit === true && before.auditSince !== undefined) return { auditSince: before.auditSince };
  return { auditSince: (plan.options.now?.() ?? new Date()).toISOString() };
}

/**
 * Interfaces attached by this deploy that are gone by the time it is recorded (removed while it
 * ran): the record keeps them, so that `status` shows them missing, and the deploy says so.
 */
function vanishedInterfaces(applied: Applied): string[] {
  const gone: string[] = [];
  for (const i of applied.interfaces) {
    let ifindex: number | undefined;
    try {
      ifindex = interfaceIndex(i.iface);
    } catch {
      ifindex = undefined;
    }
    if (ifindex !== i.ifindex) gone.push(`interface '${i.iface}' vanished after it was attached: the policy is not enforced there (segc status shows it missing)`);
  }
  return gone;
}

/** Undoes what apply did, newest first; every step is tried even when one fails. Returns what failed. */
export function rollBackDeploy(applied: Applied): string[] {
  const failures: string[] = [];
  for (const step of [...applied.undo].reverse()) {
    try {
      step.run();
    } catch (error) {
      failures.push(`${step.what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  applied.undo.length = 0;
  if (applied.dp !== undefined) releaseApplied(applied);
  return failures;
}

/** Closes what a run holds: the loaded or adopted data path, and an upgrade's both sides. */
function releaseApplied(applied: Applied): void {
  if (applied.upgraded) {
    closeDatapath(applied.upgraded.dp);
    if (applied.plan.adopted) releaseDatapath(applied.plan.adopted, true);
    return;
  }
  releaseDatapath(applied.dp, applied.plan.adopted !== undefined);
}

export function pinsOf(pinDir: string): PinsRecord {
  return {
    dir: pinDir,
    programs: { ingress: join(pinDir, PROGRAM_PINS.ingress), egress: join(pinDir, PROGRAM_PINS.egress) },
    maps: Object.fromEntries(Object.keys(SEG_MAPS).map((m) => [m, join(pinDir, m)])),
  };
}

/** Maps added to the data path after its first release (fragments, events, audit, SYN sources). */
const ADDED_MAPS: ReadonlySet<MapName> = new Set<MapName>([SegMap.fragments, SegMap.events, SegMap.eventBuckets, SegMap.ruleWouldDeny, SegMap.synSources]);

/** Whether the pinned data path predates the maps (and config layout) this segc needs. */
export function isOlderDatapath(dp: Datapath): boolean {
  return [...ADDED_MAPS].some((name) => dp.maps[name] === undefined);
}

/**
 * The data path of a running deployment from its pins: map and program fds, no libbpf object
 * (`obj` is null; release it with `releaseDatapath`, never `closeDatapath`).
 */
export function openPinnedDatapath(pinDir: string): Datapath {
  libbpf_set_print(null);
  const opened: number[] = [];
  try {
    const get = (name: string) => {
      const fd = bpf_obj_get(join(pinDir, name));
      opened.push(fd);
      return fd;
    };
    const maps: Partial<Record<MapName, number>> = {};
    for (const name of Object.keys(SEG_MAPS) as MapName[]) {
      // Maps a deployment by an older segc lacks are left out (undeploy must still work);
      // their readers then say the map is missing.
      if ((ADDED_MAPS.has(name) || name === SegMap.info || name === SegMap.canaryStats || name === SegMap.sessionMeta) && !existsSync(join(pinDir, name))) continue;
      maps[name] = get(name);
    }
    const programs = { ingress: get(PROGRAM_PINS.ingress), egress: get(PROGRAM_PINS.egress), parseOnly: -1 };
    const rulesPerSlot = bpf_map_get_info_by_fd(maps[SegMap.ruleHits] as number).maxEntries / SEG_SLOTS;
    return { obj: 0n as BpfObject, programs, maps, rulesPerSlot };
  } catch (error) {
    for (const fd of opened) close(fd);
    throw error;
  }
}

/** Closes a data path: the pinned one's fds, or a loaded object (its pins keep it alive). */
export function releaseDatapath(dp: Datapath, adopted: boolean): void {
  if (!adopted) {
    closeDatapath(dp);
    return;
  }
  for (const fd of [...Object.values(dp.maps), dp.programs.ingress, dp.programs.egress]) if (fd >= 0) close(fd);
}

function detachOurs(iface: InterfaceRecord, dp: Datapath): void {
  for (const direction of TC_DIRECTIONS) {
    try {
      if (iface.ifindex !== interfaceIndex(iface.iface)) continue;
      // Only our filter: another program at the slot is someone else's to remove.
      if (queryTc(iface.ifindex, direction) === programId(dp.programs[direction])) detachTc(iface.ifindex, direction);
    } catch (error) {
      // The interface is gone, and its filters with it.
      if (!isBpfError(error, 'ENODEV', 'ENXIO')) throw error;
    }
  }
}

/** The interfaces of this network namespace where a hook runs one of `dp`'s programs. */
function interfacesRunning(dp: Datapath): InterfaceRecord[] {
  const ours = new Set([programId(dp.programs.ingress), programId(dp.programs.egress)]);
  const found: InterfaceRecord[] = [];
  for (let ifindex = 1; ifindex < 1 << 16; ifindex++) {
    const iface = if_indextoname(ifindex);
    if (iface === undefined) continue;
    if (TC_DIRECTIONS.some((d) => ours.has(queryTc(ifindex, d) ?? -1))) found.push({ iface, ifindex, createdClsact: false });
  }
  return found;
}

export interface UndeployResult {
  readonly name: string;
  readonly detached: readonly string[];
  readonly unpinned: boolean;
}

/**
 * Detaches this deployment's filters and removes its pins and record; others are left alone.
 * Success means no filter of it is left attached in this namespace: with its pins gone, the
 * programs are found by the ids its record holds; with its record damaged or gone, by its pins.
 */
export function undeploy(options: HostOptions & { readonly name?: string }): UndeployResult {
  checkName(options.name ?? DEFAULT_DEPLOYMENT);
  const lock = lockHost(options);
  try {
    return undeployLocked(options);
  } finally {
    lock.release();
  }
}

/** `undeploy` for a caller that already holds the host's lock. */
export function undeployLocked(options: HostOptions & { readonly name?: string }): UndeployResult {
  const name = options.name ?? DEFAULT_DEPLOYMENT;
  checkName(name);
  const stateDir = stateDirOfOptions(options);
  const pinDir = join(pinRootOf(options), name);
  let state: StateFile | undefined;
  let damaged = false;
  try {
    state = readState(stateDir, name);
  } catch (error) {
    if (!isRecordError(error)) throw error;
    damaged = true;
  }
  const pinned = existsSync(join(pinDir, SegMap.config));
  if (!state && !pinned && !damaged) throw new DeployError('plan', 2, `there is no deployment named '${name}'`, "`segc status` lists the deployments");
  const detached: string[] = [];
  if (pinned) {
    const dp = openPinnedDatapath(pinDir);
    try {
      // Without a record (a first deploy that died before writing it, or a damaged one),
      // every interface of this namespace is looked at: removing the pins must not leave a
      // filter running.
      for (const iface of state?.current.interfaces ?? interfacesRunning(dp)) {
        detachOurs(iface, dp);
        detached.push(iface.iface);
      }
    } finally {
      releaseDatapath(dp, true);
    }
  } else if (state) {
    // The pins are gone (rm -rf of the bpffs folder) but the filters hold the programs alive:
    // the recorded program ids find them.
    detached.push(...detachRecorded(state.current));
  }
  const left = state && !pinned ? stillAttached(state.current) : [];
  if (left.length > 0) {
    throw new DeployError('plan', 2, `deployment '${name}' is still attached to ${left.join(', ')} and could not be detached; its record is kept`, 'remove the filters with tc filter del (see segc status), then undeploy again');
  }
  const unpinned = existsSync(pinDir) ? removePinDir(pinDir) : false;
  // A trial ends with the deployment (its watcher is stopped; the record goes with the folder).
  clearPending(stateDir, name);
  // So does a canary (its watcher stops when its record is gone).
  removeCanary(stateDir, name);
  removeState(stateDir, name);
  return { name, detached, unpinned };
}

/** Detaches every recorded attachment whose hook still runs the recorded program. */
function detachRecorded(record: DeploymentRecord): string[] {
  const detached = new Set<string>();
  for (const a of record.attachments) {
    try {
      if (interfaceIndex(a.iface) !== a.ifindex) continue;
      if (queryTc(a.ifindex, a.direction) === a.progId && detachTc(a.ifindex, a.direction)) detached.add(a.iface);
    } catch (error) {
      if (!isBpfError(error, 'ENODEV', 'ENXIO')) throw error;
    }
  }
  return [...detached];
}

function stillAttached(record: DeploymentRecord): string[] {
  return record.attachments.filter((a) => {
    try {
      return interfaceIndex(a.iface) === a.ifindex && queryTc(a.ifindex, a.direction) === a.progId;
    } catch {
      return false;
    }
  }).map((a) => `${a.iface}/${a.direction}`);
}

/** The first of `interfaces` where the pinned deployment at `pinDir` runs a program, if any. */
function interfacesOfPinned(pinDir: string, interfaces: readonly { readonly iface: string; readonly ifindex: number }[]): string | undefined {
  if (!existsSync(join(pinDir, SegMap.config))) return undefined;
  const dp = openPinnedDatapath(pinDir);
  try {
    const ours = new Set([programId(dp.programs.ingress), programId(dp.programs.egress)]);
    return interfaces.find((i) => TC_DIRECTIONS.some((d) => ours.has(queryTc(i.ifindex, d) ?? -1)))?.iface;
  } finally {
    releaseDatapath(dp, true);
  }
}

/** A segc classifier attached in this namespace that no record or pin accounts for. */
export interface UnrecordedFilter {
  readonly iface: string;
  readonly ifindex: number;
  readonly direction: TcDirection;
  readonly progId: number;
  readonly progName: string;
  readonly tag: string;
}

/** segc's program names (bpf/segc.bpf.c), as the kernel keeps them (15 characters at most). */
const SEGC_PROGRAM_NAMES: ReadonlySet<string> = new Set(['seg_ingress', 'seg_egress']);

/**
 * Filters at segc's tc slot running a segc program (by name) that no deployment on this host
 * claims, by its record or its pins: enforcement `status` would not otherwise show.
 */
export function findUnrecordedFilters(options: HostOptions): UnrecordedFilter[] {
  // libbpf's chatter about interfaces without a clsact qdisc; failures come back as errors.
  libbpf_set_print(null);
  const claimed = new Set<number>();
  const { states } = readAllStates(stateDirOfOptions(options));
  for (const s of states) for (const a of s.current.attachments) claimed.add(a.progId);
  const pinRoot = pinRootOf(options);
  let pinDirs: string[];
  try {
    pinDirs = readdirSync(pinRoot).map((d) => join(pinRoot, d));
  } catch {
    pinDirs = [];
  }
  for (const dir of pinDirs) {
    if (!existsSync(join(dir, SegMap.config))) continue;
    try {
      const dp = openPinnedDatapath(dir);
      try {
        claimed.add(programId(dp.programs.ingress));
        claimed.add(programId(dp.programs.egress));
      } finally {
        releaseDatapath(dp, true);
      }
    } catch {
      // Unreadable pins claim nothing; their filters show as unrecorded.
    }
  }
  const found: UnrecordedFilter[] = [];
  for (let ifindex = 1; ifindex < 1 << 16; ifindex++) {
    const iface = if_indextoname(ifindex);
    if (iface === undefined) continue;
    for (const direction of TC_DIRECTIONS) {
      let info;
      try {
        info = queryTcProgram(ifindex, direction);
      } catch {
        continue;
      }
      if (info === undefined || claimed.has(info.id) || !SEGC_PROGRAM_NAMES.has(info.name)) continue;
      found.push({ iface, ifindex, direction, progId: info.id, progName: info.name, tag: info.tag });
    }
  }
  return found;
}

/**
 * Deploys the previous deployment's bundle again (a new generation), on its interfaces. A
 * deploy waiting for confirmation is cancelled: its rollback target is the one put back.
 */
export function rollback(options: DeployOptions): DeployResult {
  const name = options.name ?? DEFAULT_DEPLOYMENT;
  checkName(name);
  requireRoot();
  const lock = lockHost(options);
  try {
    return rollbackLocked({ ...options, name });
  } finally {
    lock.release();
  }
}

/** `rollback` for a caller that already holds the host's lock. */
export function rollbackLocked(options: DeployOptions): DeployResult {
  const name = options.name ?? DEFAULT_DEPLOYMENT;
  const stateDir = stateDirOfOptions(options);
  const state = readState(stateDir, name);
  if (!state) throw new DeployError('plan', 2, `there is no deployment named '${name}'`, '`segc status` lists the deployments');
  const pending = readPending(stateDir, name);
  // A confirm deploy killed between its switch and its record left the record naming the
  // policy to go back to as the current one.
  const target = pending !== undefined && state.current.generation === pending.rollbackTo ? state.current : state.previous;
  if (!target) throw new DeployError('plan', 1, `deployment '${name}' has no previous policy to roll back to`, pending ? `it is a first deploy on trial: 'segc undeploy --name ${name}' removes it` : 'it has been deployed once only');
  return deployLocked({ bundleText: target.bundle, interfaces: target.interfaces.map((i) => i.iface), options: { ...options, name, sources: target.sources, settings: target.settings ?? {}, cancelPending: true } });
}
