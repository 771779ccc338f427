// Runtime: the in-kernel canary's operations. `deployCanary` installs a new policy in the slot
// not in force and sets seg_config's canary members, so that a share of new flows is judged by
// it (bpf/lib/canary.h) while the policy in force keeps the rest and every established session;
// `setCanaryShare` moves the share, `promoteCanary` makes it the policy in force (one config
// write: active slot flipped, canary cleared), `rollbackCanary` drops it (one write: canary
// cleared). A staged canary's detached watcher (`runCanaryStages`, started like the confirm
// watcher: its own session, outliving the deploying shell) steps the share up and judges a
// health gate on the per-role counters between two steps, promoting at the end or rolling
// back when a gate fails.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DatapathSettings } from './state.ts';
import { readState, writeState, type DeploymentRecord } from './state.ts';
import { readConfig, writeConfig } from './datapath/config.ts';
import { installPolicy, slotGeneration } from './datapath/slots.ts';
import { readCanaryCounts, resetCanaryCounts, type CanaryCounts, type CanaryRoleCounts } from './datapath/canary-stats.ts';
import type { Datapath } from './datapath/datapath.ts';
import { CANARY_FORMAT, CANARY_VERSION, CanaryRecordError, formatShare, logCanary, readCanary, removeCanary, writeCanary, type CanaryRecord, type CanaryStages } from './canary-record.ts';
import { readPending, segcCommand, startDetached } from './confirm.ts';
import { DEFAULT_DEPLOYMENT, DeployError, lockHost, openPinnedDatapath, planDeploy, releaseDatapath, requireRoot, type DeployOptions } from './deploy.ts';
import { stateDirOf } from './state.ts';

export interface CanaryRequest {
  readonly bundleText: string;
  readonly interfaces: readonly string[];
  readonly options: DeployOptions & {
    /** Share of new flows in basis points (1..10000). */
    readonly shareBp: number;
    /** Stages to run by themselves (the first step's share is `shareBp`). */
    readonly stages?: Omit<CanaryStages, 'index'>;
    /** The segc command line the stage watcher runs (default: this one's). */
    readonly command?: readonly string[];
  };
}

export interface CanaryResult {
  readonly canary: CanaryRecord;
  readonly baseline: DeploymentRecord;
}

function stateDirOfOptions(options: { readonly stateDir?: string | undefined }): string {
  return options.stateDir ?? stateDirOf();
}

function checkShare(bp: number): void {
  if (!Number.isInteger(bp) || bp < 0 || bp > 10_000) throw new DeployError('plan', 2, `a canary share of ${bp / 100}% is not possible`, 'give 0% to 100% (to two decimals)');
}

/** Starts a canary beside the policy in force (see the top of the file). */
export function deployCanary(request: CanaryRequest): CanaryResult {
  requireRoot();
  const lock = lockHost(request.options);
  try {
    return deployCanaryLocked(request);
  } finally {
    lock.release();
  }
}

function deployCanaryLocked(request: CanaryRequest): CanaryResult {
  const { options } = request;
  const name = options.name ?? DEFAULT_DEPLOYMENT;
  const stateDir = stateDirOfOptions(options);
  checkShare(options.shareBp);
  if (options.shareBp === 0) throw new DeployError('plan', 2, 'a canary of 0% judges nothing', "give a share above 0% (e.g. --canary 10%); 'segc canary --set 0%' pauses a running one");
  if (options.confirm) throw new DeployError('plan', 2, '--canary and --confirm do not go together', "a canary is its own trial: 'segc rollback' drops it, the staged gates roll it back by themselves");
  const state = readState(stateDir, name);
  if (!state) throw new DeployError('plan', 2, `deployment '${name}' has no policy in force to run a canary beside`, 'deploy it first without --canary');
  if (readCanaryOrRefuse(stateDir, name)) throw new DeployError('plan', 2, `deployment '${name}' runs a canary already; nothing was changed`, `end it first with 'segc promote --name ${name}' or 'segc rollback --name ${name}'`);
  if (readPending(stateDir, name)) throw new DeployError('plan', 2, `deployment '${name}' waits for 'segc confirm'; nothing was changed`, `confirm it or roll it back first`);
  const plan = planDeploy({ bundleText: request.bundleText, interfaces: request.interfaces, options: { ...options, name, stateDir } });
  const dp = plan.adopted;
  try {
    if (!dp) throw new DeployError('plan', 2, `deployment '${name}' has no data path loaded (after a reboot?)`, 'deploy it again without --canary first');
    if (plan.upgrade) throw new DeployError('plan', 2, `deployment '${name}' needs its data path replaced (${plan.upgrade.reasons.join(', ')}) before a canary can run beside it; nothing was changed`, 'deploy without --canary first (the upgrade keeps sessions), then start the canary');
    const running = state.current.interfaces.map((i) => i.iface).sort();
    if (JSON.stringify([...new Set(request.interfaces)].sort()) !== JSON.stringify(running)) {
      throw new DeployError('plan', 2, `a canary runs on the deployment's interfaces (${running.join(', ')}), not others; nothing was changed`, 'deploy without --canary to change the interfaces');
    }
    const config = readConfig(dp);
    const active = slotGeneration(dp, config.activeSlot);
    if (active === 0n) throw new DeployError('plan', 2, `deployment '${name}' has no policy in force`, 'deploy it first without --canary');
    const slot = 1 - config.activeSlot;
    const generation = Math.max(state.current.generation, Number(active), Number(slotGeneration(dp, slot))) + 1;
    const settings: DatapathSettings = { ...(state.current.settings ?? {}), audit: options.settings?.audit === true };
    const record: CanaryRecord = {
      format: CANARY_FORMAT,
      version: CANARY_VERSION,
      name,
      token: randomBytes(12).toString('hex'),
      generation,
      slot,
      baselineGeneration: Number(active),
      policyHash: plan.bundle.policyHash,
      files: plan.bundle.files,
      bundle: plan.bundleText,
      sources: options.sources ?? {},
      settings,
      shareBp: options.shareBp,
      startedAt: (options.now?.() ?? new Date()).toISOString(),
      stages: options.stages ? { ...options.stages, index: 0 } : null,
      watcher: null,
    };
    installPolicy(dp, plan.image, { slot, generation: BigInt(generation), audit: settings.audit === true });
    resetCanaryCounts(dp);
    // The record first: a canary in the kernel is never without one (a crash between the two
    // leaves a record the next promote or rollback settles).
    writeCanary(stateDir, record);
    try {
      writeConfig(dp, { ...config, canaryGeneration: BigInt(generation), canaryShare: options.shareBp });
    } catch (error) {
      removeCanary(stateDir, name);
      throw error;
    }
    logCanary(stateDir, name, `generation ${generation} started as a canary at ${formatShare(options.shareBp)} beside generation ${active}`);
    let started = record;
    if (record.stages) {
      const pid = startDetached(stateDir, options.command ?? segcCommand(), ['canary-watch', '--name', name, '--token', record.token]);
      started = { ...record, watcher: pid === undefined ? null : { pid } };
      writeCanary(stateDir, started);
      if (pid === undefined) logCanary(stateDir, name, 'the stage watcher could not start: move the canary by hand');
    }
    return { canary: started, baseline: state.current };
  } finally {
    if (dp) releaseDatapath(dp, true);
  }
}

/** The canary record, a damaged one being the operator's to look at (nothing changes). */
function readCanaryOrRefuse(stateDir: string, name: string): CanaryRecord | undefined {
  try {
    return readCanary(stateDir, name);
  } catch (error) {
    if (!(error instanceof CanaryRecordError)) throw error;
    throw new DeployError('plan', 2, `${error.message}; nothing was changed`, `look at it; remove it to forget the canary, then 'segc status --name ${name}' shows whether the kernel still runs one (a deploy clears it)`);
  }
}

/** The running canary of `name` with its data path open (closed by `use`'s end). */
function withCanary<T>(options: { readonly name?: string; readonly stateDir?: string | undefined; readonly lockTimeoutMs?: number }, use: (c: { stateDir: string; name: string; canary: CanaryRecord; dp: Datapath; pinDir: string }) => T): T {
  const name = options.name ?? DEFAULT_DEPLOYMENT;
  const stateDir = stateDirOfOptions(options);
  const lock = lockHost({ ...options, stateDir });
  try {
    const canary = readCanaryOrRefuse(stateDir, name);
    if (!canary) throw new DeployError('plan', 2, `deployment '${name}' runs no canary`, "start one with 'segc deploy --canary 10% ...'");
    const state = readState(stateDir, name);
    if (!state) throw new DeployError('plan', 2, `there is no deployment named '${name}'`, '`segc status` lists the deployments');
    const dp = openPinnedDatapath(state.current.pins.dir);
    try {
      return use({ stateDir, name, canary, dp, pinDir: state.current.pins.dir });
    } finally {
      releaseDatapath(dp, true);
    }
  } finally {
    lock.release();
  }
}

/** Sets the running canary's share of new flows (sessions keep their policy). */
export function setCanaryShare(options: { readonly name?: string; readonly stateDir?: string | undefined; readonly shareBp: number; readonly keepStages?: boolean }): CanaryRecord {
  checkShare(options.shareBp);
  return withCanary(options, ({ stateDir, name, canary, dp }) => {
    const config = readConfig(dp);
    if (config.canaryGeneration !== BigInt(canary.generation)) throw new DeployError('plan', 2, `the kernel does not run the recorded canary (generation ${canary.generation})`, `'segc rollback --name ${name}' clears the record`);
    writeConfig(dp, { ...config, canaryShare: options.shareBp });
    // A share set by hand takes the stages over: the watcher stops at its next look.
    const next: CanaryRecord = { ...canary, shareBp: options.shareBp, ...(options.keepStages === true ? {} : { stages: null, token: randomBytes(12).toString('hex') }) };
    writeCanary(stateDir, next);
    logCanary(stateDir, name, `canary generation ${canary.generation} set to ${formatShare(options.shareBp)}${options.keepStages === true ? '' : ' (by hand)'}`);
    return next;
  });
}

export interface CanaryEnd {
  readonly canary: CanaryRecord;
  /** After a promote: the deployment's record with the canary in force. */
  readonly record?: DeploymentRecord;
}

/** Makes the canary the policy in force: one config write (active slot flipped, canary cleared). */
export function promoteCanary(options: { readonly name?: string; readonly stateDir?: string | undefined; readonly now?: () => Date; readonly why?: string }): CanaryEnd {
  return withCanary(options, ({ stateDir, name, canary, dp }) => {
    const config = readConfig(dp);
    if (config.canaryGeneration !== BigInt(canary.generation) || slotGeneration(dp, canary.slot) !== BigInt(canary.generation)) {
      throw new DeployError('plan', 2, `the kernel does not run the recorded canary (generation ${canary.generation}); nothing was changed`, `'segc rollback --name ${name}' clears the record`);
    }
    const state = readState(stateDir, name);
    if (!state) throw new DeployError('plan', 2, `there is no deployment named '${name}'`, '`segc status` lists the deployments');
    const record: DeploymentRecord = {
      ...state.current,
      policyHash: canary.policyHash,
      generation: canary.generation,
      slot: canary.slot,
      deployedAt: (options.now?.() ?? new Date()).toISOString(),
      files: canary.files,
      bundle: canary.bundle,
      sources: canary.sources,
      settings: { ...(state.current.settings ?? {}), audit: canary.settings.audit === true },
    };
    writeConfig(dp, { ...config, activeSlot: canary.slot, canaryGeneration: 0n, canaryShare: 0 });
    try {
      writeState(stateDir, { format: 'segc-deployment', version: 1, current: record, previous: state.current });
    } catch (error) {
      writeConfig(dp, config);
      throw error;
    }
    removeCanary(stateDir, name);
    logCanary(stateDir, name, `canary generation ${canary.generation} promoted: in force${options.why === undefined ? '' : ` (${options.why})`}`);
    return { canary, record };
  });
}

/** Drops the canary: one config write (canary cleared); its sessions are classified again by the policy in force. */
export function rollbackCanary(options: { readonly name?: string; readonly stateDir?: string | undefined; readonly why?: string }): CanaryEnd {
  return withCanary(options, ({ stateDir, name, canary, dp }) => {
    const config = readConfig(dp);
    writeConfig(dp, { ...config, canaryGeneration: 0n, canaryShare: 0 });
    removeCanary(stateDir, name);
    logCanary(stateDir, name, `canary generation ${canary.generation} rolled back${options.why === undefined ? '' : `: ${options.why}`}`);
    return { canary };
  });
}

/** The canary's counters, read from its deployment's pins. */
export function readCanaryState(stateDir: string, name: string): { readonly canary: CanaryRecord; readonly counts: CanaryCounts | undefined; readonly kernelShareBp: number | undefined } | undefined {
  const canary = readCanary(stateDir, name);
  if (!canary) return undefined;
  const state = readState(stateDir, name);
  if (!state) return { canary, counts: undefined, kernelShareBp: undefined };
  let dp: Datapath | undefined;
  try {
    dp = openPinnedDatapath(state.current.pins.dir);
    const config = readConfig(dp);
    return { canary, counts: readCanaryCounts(dp), kernelShareBp: config.canaryGeneration === BigInt(canary.generation) ? (config.canaryShare ?? 0) : undefined };
  } catch {
    return { canary, counts: undefined, kernelShareBp: undefined };
  } finally {
    if (dp) releaseDatapath(dp, true);
  }
}

/** A role's deny rate of new flows: (denied + would-deny) per classified packet, in percent; undefined without flows. */
export function denyRate(c: CanaryRoleCounts): number | undefined {
  if (c.flows === 0n) return undefined;
  return (Number(c.flowDeny + c.wouldDeny) / Number(c.flows)) * 100;
}

function minus(a: CanaryRoleCounts, b: CanaryRoleCounts): CanaryRoleCounts {
  return { allow: a.allow - b.allow, deny: a.deny - b.deny, flows: a.flows - b.flows, flowDeny: a.flowDeny - b.flowDeny, wouldDeny: a.wouldDeny - b.wouldDeny, sessionHits: a.sessionHits - b.sessionHits, revoked: a.revoked - b.revoked };
}

export type GateVerdict = { readonly kind: 'pass' | 'hold' | 'fail'; readonly why: string };

/**
 * The health gate of one step: the canary's deny rate over the step against the baseline's
 * since the canary began (the baseline may see no new flows at 100%).
 */
export function judgeGate(stages: CanaryStages, stepStart: CanaryCounts, now: CanaryCounts): GateVerdict {
  const step = minus(now.canary, stepStart.canary);
  const canaryRate = denyRate(step);
  const baselineRate = denyRate(now.baseline) ?? 0;
  if (step.flows < BigInt(stages.minFlows) || canaryRate === undefined) return { kind: 'hold', why: `the canary classified ${step.flows} packets this step (fewer than ${stages.minFlows}): held` };
  const increase = canaryRate - baselineRate;
  const figures = `deny rate ${canaryRate.toFixed(1)}% over ${step.flows} packets vs the baseline's ${baselineRate.toFixed(1)}% (+${increase.toFixed(1)} points; at most +${stages.maxDenyIncrease})`;
  return increase > stages.maxDenyIncrease ? { kind: 'fail', why: figures } : { kind: 'pass', why: figures };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The stage watcher (`segc canary-watch`): steps the share up after each passed gate, promotes
 * after the last, rolls back at the first failed one. Stops as soon as its token leaves the
 * record (promoted, rolled back or set by hand meanwhile).
 */
export async function runCanaryStages(request: { readonly name: string; readonly token: string; readonly stateDir?: string | undefined }): Promise<'promoted' | 'rolled-back' | 'stopped'> {
  const stateDir = stateDirOfOptions(request);
  const name = request.name;
  const mine = (): CanaryRecord | undefined => {
    try {
      const c = readCanary(stateDir, name);
      return c && c.token === request.token && c.stages ? c : undefined;
    } catch {
      return undefined;
    }
  };
  const counts = (): CanaryCounts | undefined => readCanaryState(stateDir, name)?.counts;
  for (;;) {
    const c = mine();
    if (!c?.stages) return 'stopped';
    const start = counts();
    const until = Date.now() + c.stages.stepMs;
    while (Date.now() < until) {
      await sleep(Math.min(250, until - Date.now()));
      if (!mine()) return 'stopped';
    }
    const end = counts();
    const now = mine();
    if (!now?.stages || !start || !end) return 'stopped';
    const stages = now.stages;
    const verdict = judgeGate(stages, start, end);
    const at = `step ${stages.index + 1}/${stages.steps.length} (${formatShare(now.shareBp)})`;
    if (verdict.kind === 'hold') {
      logCanary(stateDir, name, `${at}: ${verdict.why}`);
      continue;
    }
    if (verdict.kind === 'fail') {
      rollbackCanary({ name, stateDir, why: `gate failed at ${at}: ${verdict.why}` });
      return 'rolled-back';
    }
    logCanary(stateDir, name, `${at}: gate passed: ${verdict.why}`);
    if (stages.index + 1 >= stages.steps.length) {
      promoteCanary({ name, stateDir, why: `every step passed its gate` });
      return 'promoted';
    }
    const next = stages.steps[stages.index + 1] ?? 100;
    const record = setCanaryShare({ name, stateDir, shareBp: Math.round(next * 100), keepStages: true });
    writeCanary(stateDir, { ...record, stages: { ...stages, index: stages.index + 1 } });
  }
}

/** Whether the watcher of `canary` runs (a recycled pid does not count: its command line names the token). */
export function canaryWatcherRuns(canary: CanaryRecord): boolean {
  const pid = canary.watcher?.pid;
  if (pid === undefined) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(canary.token);
  } catch {
    return false;
  }
}
