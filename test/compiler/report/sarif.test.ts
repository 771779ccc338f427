// The SARIF reporter: a SARIF 2.1.0 log of the shape GitHub code scanning accepts, checked with
// the @types/sarif types and structurally (the properties GitHub reads, in their valid forms).
import type * as Sarif from 'sarif';
import { describe, expect, it } from 'vitest';
import { Code, makeDiagnostic, type Diagnostic } from '../../../compiler/diagnostics.ts';
import { formatSarif, SARIF_SCHEMA, toSarifLog, type SarifOptions } from '../../../compiler/report/sarif.ts';
import { createSourceFile } from '../../../compiler/source.ts';

const web = createSourceFile('policies/web.seg', 'set office = 10.20.1.0/16\nset office = 10.30.0.0/16\n');
const outside = createSourceFile('/etc/segc/common.seg', 'ports web = { 80, 443 }\n');
const sources = new Map([
  [web.path, web],
  [outside.path, outside],
]);
const at = (file: typeof web, needle: string, from = 0) => {
  const start = file.text.indexOf(needle, from);
  return { file: file.path, start, end: start + needle.length };
};
const options: SarifOptions = {
  toolVersion: '1.2.3',
  informationUri: 'https://example.org/segc',
  docsUri: 'https://example.org/segc/docs/diagnostics.md',
  baseDir: '/repo',
};

const diagnostics: Diagnostic[] = [
  makeDiagnostic(Code.HostBitsSet, at(web, '10.20.1.0/16'), { text: '10.20.1.0/16', network: '10.20.0.0/16' }),
  makeDiagnostic(Code.DuplicateDeclaration, at(web, 'office', 10), { name: 'office' }, { related: [{ span: at(web, 'office'), message: 'first declared here' }] }),
  makeDiagnostic(Code.UnusedPorts, at(outside, 'web'), { name: 'web' }),
  makeDiagnostic(Code.Conflict, at(web, 'set office'), { rule: 'a', other: 'b' }, { witness: { proto: 'tcp', src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 22 } }),
];

/** The checks GitHub's SARIF upload applies that a type cannot express. */
function expectGithubShape(log: Sarif.Log): void {
  expect(log.version).toBe('2.1.0');
  expect(log.$schema).toBe(SARIF_SCHEMA);
  expect(log.runs).toHaveLength(1);
  for (const run of log.runs) {
    const driver = run.tool.driver;
    expect(driver.name).toBe('segc');
    const ruleIds = (driver.rules ?? []).map((r) => r.id);
    expect(new Set(ruleIds).size).toBe(ruleIds.length);
    for (const rule of driver.rules ?? []) {
      expect(rule.id).toMatch(/^SEG\d{4}$/);
      expect(rule.shortDescription?.text.length).toBeGreaterThan(0);
      expect(() => new URL(rule.helpUri ?? '')).not.toThrow();
      expect(['error', 'warning', 'note']).toContain(rule.defaultConfiguration?.level);
    }
    for (const result of run.results ?? []) {
      expect(ruleIds[result.ruleIndex ?? -1]).toBe(result.ruleId);
      expect(['error', 'warning', 'note']).toContain(result.level);
      expect(result.message.text?.length).toBeGreaterThan(0);
      for (const loc of [...(result.locations ?? []), ...(result.relatedLocations ?? [])]) {
        const phys = loc.physicalLocation;
        const region = phys?.region;
        expect(phys?.artifactLocation?.uri).toBeTruthy();
        expect(region?.startLine).toBeGreaterThanOrEqual(1);
        expect(region?.startColumn).toBeGreaterThanOrEqual(1);
        expect(region?.endLine).toBeGreaterThanOrEqual(region?.startLine ?? 1);
        if (phys?.artifactLocation?.uriBaseId !== undefined) {
          expect(run.originalUriBaseIds?.[phys.artifactLocation.uriBaseId]?.uri).toMatch(/^file:\/\/.*\/$/);
          expect(phys.artifactLocation.uri).not.toMatch(/^(\/|[a-z]+:)/);
        } else {
          expect(phys?.artifactLocation?.uri).toMatch(/^file:\/\//);
        }
      }
    }
  }
}

describe('toSarifLog', () => {
  const log = toSarifLog(diagnostics, sources, options);
  const run = log.runs[0] as Sarif.Run;

  it('has the shape GitHub code scanning accepts', () => {
    expectGithubShape(log);
  });

  it('describes the tool and one rule per code used, sorted, with a link to the code in the docs', () => {
    expect(run.tool.driver.version).toBe('1.2.3');
    expect(run.tool.driver.informationUri).toBe('https://example.org/segc');
    expect(run.tool.driver.rules?.map((r) => r.id)).toEqual(['SEG2003', 'SEG2102', 'SEG3003', 'SEG5003']);
    const rule = run.tool.driver.rules?.find((r) => r.id === 'SEG3003');
    expect(rule).toMatchObject({
      name: 'HostBitsSet',
      shortDescription: { text: 'Host bits set in a CIDR' },
      helpUri: 'https://example.org/segc/docs/diagnostics.md#seg3003',
      defaultConfiguration: { level: 'error' },
      properties: { tags: ['value'] },
    });
  });

  it('maps severities to SARIF levels: info becomes note', () => {
    expect(run.results?.map((r) => r.level)).toEqual(['error', 'error', 'note', 'warning']);
    expect(run.tool.driver.rules?.find((r) => r.id === 'SEG2102')?.defaultConfiguration?.level).toBe('note');
  });

  it('locates results by uri relative to the run folder and an exclusive end column', () => {
    const first = run.results?.[0];
    expect(first?.message.text).toBe("'10.20.1.0/16' has host bits set (hint: the network is 10.20.0.0/16)");
    expect(first?.locations?.[0]?.physicalLocation).toEqual({
      artifactLocation: { uri: 'policies/web.seg', uriBaseId: '%SRCROOT%' },
      region: { startLine: 1, startColumn: 14, endLine: 1, endColumn: 26 },
    });
    expect(run.originalUriBaseIds).toEqual({ '%SRCROOT%': { uri: 'file:///repo/' } });
  });

  it('gives files outside the run folder an absolute file uri', () => {
    expect(run.results?.[2]?.locations?.[0]?.physicalLocation?.artifactLocation).toEqual({ uri: 'file:///etc/segc/common.seg' });
  });

  it('lists related spans as related locations with their message', () => {
    expect(run.results?.[1]?.relatedLocations).toEqual([
      {
        id: 0,
        physicalLocation: { artifactLocation: { uri: 'policies/web.seg', uriBaseId: '%SRCROOT%' }, region: { startLine: 1, startColumn: 5, endLine: 1, endColumn: 11 } },
        message: { text: 'first declared here' },
      },
    ]);
  });

  it('keeps the witness packet in the result properties', () => {
    expect(run.results?.[3]?.properties).toEqual({
      witness: { proto: 'tcp', src: '10.0.0.1', srcPort: 1, dst: '10.0.0.2', dstPort: 22 },
      witnessText: 'tcp 10.0.0.1:1 -> 10.0.0.2:22',
    });
  });

  it('makes a path under the base folder relative and escapes characters a uri cannot hold', () => {
    const odd = createSourceFile('/repo/my policies/a#b.seg', 'set x = 1.2.3.4\n');
    const d = makeDiagnostic(Code.UnusedSet, { file: odd.path, start: 4, end: 5 }, { name: 'x' });
    const sarif = toSarifLog([d], new Map([[odd.path, odd]]), options);
    expect(sarif.runs[0]?.results?.[0]?.locations?.[0]?.physicalLocation?.artifactLocation).toEqual({ uri: 'my%20policies/a%23b.seg', uriBaseId: '%SRCROOT%' });
  });

  it('writes a log with no results and no rules when there is nothing to report', () => {
    const empty = toSarifLog([], sources, options);
    expectGithubShape(empty);
    expect(empty.runs[0]?.results).toEqual([]);
    expect(empty.runs[0]?.tool.driver.rules).toEqual([]);
  });
});

describe('formatSarif', () => {
  it('writes the log as JSON text that parses back to it', () => {
    expect(JSON.parse(formatSarif(diagnostics, sources, options))).toEqual(toSarifLog(diagnostics, sources, options));
  });
});
