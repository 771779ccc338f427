// The rule analysis on `.seg` text through the front end (compile()), and the ClassBench
// importer's two outputs (text and IR) agreeing with each other through it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../../compiler/analysis/index.ts';
import { compile } from '../../../compiler/program.ts';
import { createMemoryHost, positionOf, createSourceFile } from '../../../compiler/source.ts';
import type { ProgramIr } from '../../../compiler/ir.ts';
import { classBenchToIr, classBenchToSeg, readClassBenchRules } from '../../support/classbench.ts';
import { CORPUS } from '../../support/corpus.ts';

function compileText(text: string): ProgramIr {
  const c = compile(['policy.seg'], createMemoryHost({ 'policy.seg': text }));
  expect(c.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  if (!c.ir) throw new Error('no IR');
  return c.ir;
}

/** `code line` for each diagnostic, and `line` of each related span. */
function located(text: string, ir: ProgramIr): string[] {
  const file = createSourceFile('policy.seg', text);
  const line = (offset: number) => positionOf(file, offset).line;
  return analyze(ir).diagnostics.map((d) => `${d.code} ${line(d.span.start)}` + (d.related.length ? ` <- ${d.related.map((r) => line(r.span.start)).join(',')}` : ''));
}

describe('analysis of .seg text', () => {
  const text = [
    'set office = { 10.20.0.0/16, 2001:db8:20::/48 }',
    'set unused_hosts = { 10.9.9.9 }',
    'ports web = { 80, 443 }',
    'ports never = 8080',
    '',
    'policy ingress default deny {',
    '  50  lab-host:  allow tcp from 10.20.5.1 to any port 22',
    '  100 block-lab: deny any from 10.20.5.0/24 to any',
    '  200 lab-ssh:   allow tcp from 10.20.5.0/24 to any port 22',
    '  300 office:    allow tcp from office to any port web',
    '  400 telnet:    deny tcp from any to any port 23',
    '  500 v4-web:    allow tcp from any4 to any port { 80, 443 }',
    '  600 all-web:   deny tcp from any to any port 1-1024',
    '}',
    '',
  ].join('\n');

  it('reports each finding on its rule line, with the related rules’ lines', () => {
    expect(located(text, compileText(text))).toEqual([
      'SEG2101 2',
      'SEG2102 4',
      'SEG5004 8 <- 7',
      'SEG5001 9 <- 8',
      'SEG5003 10 <- 8',
      'SEG5002 11 <- 13',
      'SEG5003 12 <- 8',
      'SEG5002 13 <- 6',
    ]);
  });

  // The examples of docs/diagnostics.md, with the findings the text promises.
  it.each([
    [['policy ingress default allow {', '  100 deny  tcp from 10.0.0.0/9 to any port 22', '  200 deny  tcp from 10.128.0.0/9 to any port 22', '  300 allow tcp from 10.0.0.0/8 to any port 22', '}'], ['SEG5001 4 <- 2,3']],
    [['policy ingress default deny {', '  100 deny tcp from any to any port 23', '}'], ['SEG5002 2 <- 1']],
    [['policy ingress default allow {', '  100 allow tcp from 10.20.0.0/16 to any port 22', '  200 deny  tcp from any to 10.0.2.0/24', '}'], ['SEG5003 3 <- 2']],
    [['policy ingress default allow {', '  100 allow tcp from 10.20.0.0/16 to any port 22', '  200 deny  tcp from any to any port 22', '}'], ['SEG5004 3 <- 2']],
  ])('gives the documented finding for %j', (lines, expected) => {
    const source = lines.join('\n') + '\n';
    expect(located(source, compileText(source))).toEqual(expected);
  });

  it('reports nothing for a clean policy', () => {
    const clean = ['policy ingress default deny {', '  100 allow tcp from any to 10.0.1.0/24 port { 80, 443 }', '  200 allow icmp from any to any icmp echo-request', '}', ''].join('\n');
    expect(analyze(compileText(clean)).diagnostics).toEqual([]);
  });
});

describe('the ClassBench importer', () => {
  it.each(['classbench-hs1/rules/fw1_100', 'classbench-neurocuts/acl1_1k'])('builds from %s the IR the front end gives for its .seg text', (path) => {
    const rules = readClassBenchRules(readFileSync(`${CORPUS}/${path}`, 'utf8'));
    const text = classBenchToSeg(rules, { file: 'cb.seg', defaultAction: 'allow' });
    const c = compile(['cb.seg'], createMemoryHost({ 'cb.seg': text }));
    expect(c.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const direct = classBenchToIr(rules, { file: 'cb.seg', defaultAction: 'allow' });
    expect(c.ir?.rules).toEqual(direct.ir.rules);
    expect(c.ir?.ingress.defaultAction).toBe('allow');
  });
});
