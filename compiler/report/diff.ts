// Reporter of the semantic diff (compiler/diff.ts): human text, JSON and Markdown (for a pull
// request comment). Only formats: the regions, their example packets and the deciding rules'
// file:line on each side, at most `maxRegions` of them (the rest counted, never dropped silently).
import type { DecidingRule, DiffBox, DiffRegion, PolicyDiff } from '../diff.ts';
import { formatPacket, protocolName } from '../packet.ts';
import { locate, type ReportSources } from './location.ts';

/** One side of the diff as the report names it. */
export interface DiffSideReport {
  /** Prefixed to file names (`HEAD~1:web.seg:3`); empty for files on disk. */
  readonly label: string;
  readonly sources: ReportSources;
}

export interface DiffReportOptions {
  readonly before: DiffSideReport;
  readonly after: DiffSideReport;
  /** Regions printed (default 20); the others are counted. */
  readonly maxRegions?: number;
  /** Boxes described per region (default 3). */
  readonly maxBoxes?: number;
}

export const DEFAULT_MAX_REGIONS = 20;

/** A box in the language's words: `tcp from 10.20.128.0/17 to any port 22` (whole fields left out). */
export function describeBox(b: DiffBox): string {
  const list = (r: DiffBox['a'], name: (n: number) => string = String) => {
    const items = r.map(([lo, hi]) => (lo === hi ? name(lo) : `${lo}-${hi}`));
    return items.length === 1 ? (items[0] as string) : `{ ${items.join(', ')} }`;
  };
  const whole = (r: DiffBox['a'], max: number) => r.length === 1 && r[0]?.[0] === 0 && r[0]?.[1] === max;
  const addrs = (a: readonly string[]) => (a.length === 1 && a[0]?.endsWith('/0') ? 'any' : a.length <= 3 ? a.join(', ') : `${a.slice(0, 3).join(', ')}, ... (${a.length} prefixes)`);
  const icmp = b.kind.startsWith('icmp');
  const proto = icmp ? (b.kind === 'icmp4' ? 'icmp' : 'icmpv6') : whole(b.protocols, 255) ? 'any' : list(b.protocols, protocolName);
  const ports = b.kind.startsWith('ports');
  let text = `${proto} from ${addrs(b.src)}`;
  if (ports && !whole(b.a, 65535)) text += ` port ${list(b.a)}`;
  text += ` to ${addrs(b.dst)}`;
  if (ports && !whole(b.b, 65535)) text += ` port ${list(b.b)}`;
  if (icmp && !whole(b.a, 255)) text += ` type ${list(b.a)}`;
  if (icmp && !whole(b.b, 255)) text += ` code ${list(b.b)}`;
  if (b.kind.startsWith('bare')) text += ' (no ports or ICMP header: other protocols, later fragments)';
  return text;
}


function where(span: { file: string; start: number; end: number } | null, side: DiffSideReport): string | null {
  if (span === null) return null;
  const at = locate(span, side.sources);
  return `${side.label === '' ? '' : `${side.label}:`}${at.file}:${at.line}`;
}

function describeDeciding(d: DecidingRule, side: DiffSideReport): string {
  if (d.rule) return `rule ${d.rule.name} (${where(d.rule.span, side)})`;
  const at = where(d.defaultSpan, side);
  if (at !== null) return `the default (${at})`;
  return d.declared ? 'the default (not stated: deny)' : 'no policy block (unfiltered)';
}

export function diffJson(diff: PolicyDiff, options: DiffReportOptions): unknown {
  const max = options.maxRegions ?? Infinity;
  const side = (d: DecidingRule, s: DiffSideReport) => ({
    verdict: d.verdict,
    rule: d.rule ? { name: d.rule.name, priority: d.rule.priority, location: where(d.rule.span, s) } : null,
    default: d.rule ? null : { location: where(d.defaultSpan, s), declared: d.declared },
  });
  return {
    changed: diff.regions.length > 0,
    regionCount: diff.regions.length,
    regions: diff.regions.slice(0, max).map((r) => ({
      direction: r.direction,
      change: `${r.before.verdict} -> ${r.after.verdict}`,
      example: formatPacket(r.example),
      before: side(r.before, options.before),
      after: side(r.after, options.after),
      boxes: r.boxes,
    })),
    rules: diff.rules,
    defaults: diff.defaults,
  };
}

function regionLines(r: DiffRegion, options: DiffReportOptions, indent: string): string[] {
  const maxBoxes = options.maxBoxes ?? 3;
  const lines = [`${indent}${r.direction} ${r.before.verdict} -> ${r.after.verdict}: ${formatPacket(r.example)}`];
  lines.push(`${indent}  before  ${describeDeciding(r.before, options.before)} ${r.before.verdict === 'allow' ? 'allows' : 'denies'}`);
  lines.push(`${indent}  after   ${describeDeciding(r.after, options.after)} ${r.after.verdict === 'allow' ? 'allows' : 'denies'}`);
  r.boxes.slice(0, maxBoxes).forEach((b, i) => lines.push(`${indent}  ${i === 0 ? 'packets' : '       '} ${describeBox(b)}`));
  if (r.boxes.length > maxBoxes) lines.push(`${indent}          ... and ${r.boxes.length - maxBoxes} more boxes of this region`);
  return lines;
}

export function formatDiffHuman(diff: PolicyDiff, options: DiffReportOptions): string {
  const max = options.maxRegions ?? DEFAULT_MAX_REGIONS;
  if (diff.regions.length === 0) {
    const text = diff.rules.length > 0 ? `no change in meaning: no packet changes verdict (${diff.rules.length} rule${diff.rules.length === 1 ? '' : 's'} differ by name or text only)` : 'no change in meaning: no packet changes verdict';
    return text + '\n';
  }
  const lines: string[] = [];
  for (const d of diff.defaults) lines.push(`default ${d.direction}: ${d.before} -> ${d.after}`);
  for (const r of diff.regions.slice(0, max)) for (const line of regionLines(r, options, '')) lines.push(line);
  if (diff.regions.length > max) lines.push(`... and ${diff.regions.length - max} more regions (--max-regions N, or --format json, shows them)`);
  const counts = (dir: string, from: string) => diff.regions.filter((r) => r.direction === dir && r.before.verdict === from).length;
  lines.push(`${diff.regions.length} region${diff.regions.length === 1 ? '' : 's'} change verdict: ingress ${counts('ingress', 'allow')} allow -> deny, ${counts('ingress', 'deny')} deny -> allow; egress ${counts('egress', 'allow')} allow -> deny, ${counts('egress', 'deny')} deny -> allow`);
  return lines.join('\n') + '\n';
}

export function formatDiffMarkdown(diff: PolicyDiff, options: DiffReportOptions): string {
  const max = options.maxRegions ?? DEFAULT_MAX_REGIONS;
  const title = `### segc: ${diff.regions.length === 0 ? 'no change in meaning' : `${diff.regions.length} region${diff.regions.length === 1 ? '' : 's'} of packets change verdict`}`;
  if (diff.regions.length === 0) return `${title}\n\nNo packet changes verdict.\n`;
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [title, '', '| direction | change | example packet | before | after |', '|---|---|---|---|---|'];
  for (const r of diff.regions.slice(0, max)) {
    lines.push(`| ${r.direction} | ${r.before.verdict} → ${r.after.verdict} | \`${cell(formatPacket(r.example))}\` | ${cell(describeDeciding(r.before, options.before))} | ${cell(describeDeciding(r.after, options.after))} |`);
  }
  if (diff.regions.length > max) lines.push('', `… and ${diff.regions.length - max} more regions.`);
  if (diff.defaults.length > 0) lines.push('', ...diff.defaults.map((d) => `- default ${d.direction}: ${d.before} → ${d.after}`));
  return lines.join('\n') + '\n';
}
