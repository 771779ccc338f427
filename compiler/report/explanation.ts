// Reporter: one packet's explanation (`segc explain`): the verdict and the deciding rule or
// default in words, or as the JSON of cli.md. Only formats; the interpreter decided.
import type { Decision } from '../evaluate.ts';
import type { Direction, DirectionIr } from '../ir.ts';
import { formatPacket, type Packet } from '../packet.ts';
import { locate, locationText, type ReportSources } from './location.ts';

/** `explain --json`, exactly the shape of cli.md. */
export interface ExplainJson {
  readonly verdict: 'allow' | 'deny';
  readonly log: boolean;
  readonly direction: Direction;
  readonly rule: { readonly name: string; readonly priority: number; readonly location: string; readonly file: string; readonly line: number } | null;
}

export function toExplainJson(decision: Decision, direction: Direction, sources: ReportSources): ExplainJson {
  const rule = decision.rule;
  return {
    verdict: decision.verdict,
    log: decision.log,
    direction,
    rule: rule === null ? null : { name: rule.name, priority: rule.priority, location: locationText(rule.span.file, locate(rule.span, sources).line), file: rule.span.file, line: locate(rule.span, sources).line },
  };
}

/**
 *   packet     tcp 10.0.0.1:40000 -> 10.0.1.5:443 (ingress)
 *   verdict    allow, logged
 *   rule       public-web, priority 100, web.seg:14  "public web"
 */
export function formatExplanation(packet: Packet, direction: DirectionIr, decision: Decision, sources: ReportSources, color: boolean): string {
  const paint = (code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const verdict = paint(decision.verdict === 'allow' ? '1;32' : '1;31', decision.verdict);
  const lines = [
    `packet     ${formatPacket(packet)} (${direction.direction})`,
    `verdict    ${verdict}${decision.log ? ', logged' : ''}`,
  ];
  const rule = decision.rule;
  if (rule !== null) {
    const at = locate(rule.span, sources);
    const description = rule.description === null ? '' : `  ${JSON.stringify(rule.description)}`;
    lines.push(`rule       ${rule.name}, priority ${rule.priority}, ${at.file}:${at.line}${description}`);
  } else if (!direction.declared) {
    lines.push(`rule       no policy block for ${direction.direction}: unfiltered (allowed; the flow's replies pass as its session)`);
  } else if (direction.defaultSpan !== null) {
    const at = locate(direction.defaultSpan, sources);
    lines.push(`rule       default: no rule matched; the ${direction.direction} default is ${direction.defaultAction} (${at.file}:${at.line})`);
  } else {
    lines.push(`rule       default: no rule matched; no ${direction.direction} policy states a default, so it is ${direction.defaultAction}`);
  }
  return lines.join('\n') + '\n';
}
