// What `sessions`, `stats` and `explain --deployed` share: a deployment's record and its pinned
// data path, opened for the length of one callback, with rule ids named from the bundle.
import type { Bundle } from '../../compiler/bundle.ts';
import type { Datapath } from '../datapath/datapath.ts';
import type { StateFile } from '../state.ts';
import { CliError, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

/** `rule-name (file:line)` of a rule id, from the bundle's rule table. */
export function ruleNamer(bundle: Bundle): (id: number) => string {
  const byId = new Map(bundle.rules.map((r) => [r.id, r]));
  return (id) => {
    const r = byId.get(id);
    return r === undefined ? `rule #${id}` : `${r.name} (${r.file}:${r.line})`;
  };
}

export async function openDeployment(io: CliIo, name: string, fn: (dp: Datapath, state: StateFile, ruleName: (id: number) => string, bundle: Bundle) => Outcome): Promise<Outcome> {
  const { readState, stateDirOf } = await import('../state.ts');
  const { openPinnedDatapath, releaseDatapath } = await import('../deploy.ts');
  const { parseBundle } = await import('../../compiler/bundle.ts');
  const { isBpfError } = await import('../errors.ts');
  const state = readState(stateDirOf(io.env), name);
  if (!state) throw new CliError('usage', `there is no deployment named '${name}'`, '`segc status` lists the deployments');
  let dp: Datapath;
  try {
    dp = openPinnedDatapath(state.current.pins.dir);
  } catch (error) {
    if (isBpfError(error, 'EPERM', 'EACCES')) throw new CliError('environment', `cannot open the pins of '${name}': ${(error as Error).message}`, 'run as root (sudo)');
    if (isBpfError(error, 'ENOENT')) throw new CliError('environment', `the pins of '${name}' are gone from ${state.current.pins.dir} (a reboot?)`, 'deploy again to restore enforcement');
    throw error;
  }
  try {
    const bundle = parseBundle(state.current.bundle);
    return fn(dp, state, ruleNamer(bundle), bundle);
  } finally {
    releaseDatapath(dp, true);
  }
}
