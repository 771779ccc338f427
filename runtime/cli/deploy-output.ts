// What `segc deploy` and `segc rollback` print once a deployment stands: the result in words or
// as JSON (the shape docs/deploy.md describes).
import type { DeployResult } from '../deploy.ts';
import type { DeploymentRecord } from '../state.ts';

export function deployJson(result: DeployResult): unknown {
  const r = result.record;
  return {
    name: r.name,
    policyHash: r.policyHash,
    generation: r.generation,
    deployedAt: r.deployedAt,
    files: r.files,
    audit: r.settings?.audit === true,
    auditSince: r.auditSince ?? null,
    settings: r.settings ?? {},
    loaded: result.loaded,
    ...(result.upgrade ? { upgrade: result.upgrade } : {}),
    previous: result.previous === null ? null : { policyHash: result.previous.policyHash, generation: result.previous.generation },
    attachments: r.attachments.map((a) => ({ iface: a.iface, direction: a.direction, progId: a.progId })),
    detached: result.detached,
    pins: { dir: r.pins.dir, programs: r.pins.programs },
    timings: result.timings,
    warnings: result.warnings,
    confirmation: result.pending === null ? null : { generation: result.pending.generation, deadline: result.pending.deadline, rollbackTo: result.pending.rollbackTo, watcherPid: result.pending.watcher?.pid ?? null },
  };
}

export function formatDeployResult(result: DeployResult, verb: string): string {
  const r = result.record;
  const rules = ruleCountOf(r);
  const lines = [
    `${verb} '${r.name}': ${rules} rules, generation ${r.generation} (${r.policyHash.slice(0, 19)}) on ${r.interfaces.map((i) => i.iface).join(', ')}`,
    `  files      ${r.files.join(', ')}`,
    ...(r.settings?.audit === true ? [`  mode       audit since ${r.auditSince ?? r.deployedAt}: denies pass, counted as would-deny`] : []),
    `  switched   in ${result.timings.switchMs.toFixed(3)} ms (one config write)${result.loaded ? '; data path loaded and pinned at ' + r.pins.dir : ''}`,
  ];
  if (result.upgrade) {
    const u = result.upgrade;
    const moved = Object.entries(u.migrated).map(([m, n]) => `${n} ${m.replace(/^seg_/, '')}`);
    lines.push(`  upgraded   data path in place, version ${u.from} -> ${u.to} (${u.reasons.join('; ')}): new programs attached${moved.length > 0 ? `, migrated ${moved.join(', ')}` : ''}; ${u.reused.length} maps kept as they were`);
  }
  if (result.previous) lines.push(`  replaced   generation ${result.previous.generation} (${result.previous.policyHash.slice(0, 19)})`);
  if (result.detached.length > 0) lines.push(`  detached   ${result.detached.join(', ')}`);
  for (const w of result.warnings) lines.push(`  warning    ${w}`);
  const p = result.pending;
  if (p !== null) {
    const back = p.rollbackTo === null ? 'the deployment is removed' : `generation ${p.rollbackTo}'s policy is put back`;
    lines.push(`  confirm    by ${p.deadline} (${Math.round(p.windowMs / 1000)} s): run 'segc confirm --name ${r.name}', from a new session to prove you can still get in; otherwise ${back}`);
    if (p.watcher === null) lines.push('  warning    the rollback watcher did not start: only the next segc command (or the agent) will roll back');
  }
  return lines.join('\n') + '\n';
}

function ruleCountOf(record: DeploymentRecord): number {
  return (JSON.parse(record.bundle) as { ruleCount: number }).ruleCount;
}
