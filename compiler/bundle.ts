// Stage: bundle. Takes the IR, its emitted image and the sources; returns the text of a
// compiled bundle (JSON: map contents, the metadata a loader needs, rule table) and a source
// map v3 from each rule and emitted entry line of the bundle back to its span in the `.seg`
// files. Line-oriented on purpose: every rule and entry origin sits on its own line, so that
// the source map can point each one at the rule that put it there.
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SourceMapGenerator } from 'source-map';
import { hashProgram } from './hash.ts';
import type { ProgramIr } from './ir.ts';
import type { MapImage, PolicyImage } from './entries.ts';
import { positionOf, type SourceFile } from './source.ts';

export const BUNDLE_FORMAT = 'segc-bundle';
export const BUNDLE_VERSION = 1;

/** Bytes as stored in a bundle: raw deflate (level 1: fast, and the tables repeat a lot), base64. */
export interface PackedBytes {
  readonly encoding: 'deflate-raw+base64';
  readonly length: number;
  readonly data: string;
}

export interface BundleMap extends Omit<MapImage, 'keys' | 'values'> {
  readonly keys: PackedBytes | null;
  readonly values: PackedBytes;
}

export interface BundleRule {
  readonly id: number;
  readonly name: string;
  readonly direction: 'ingress' | 'egress';
  readonly priority: number;
  readonly action: 'allow' | 'deny';
  readonly log: boolean;
  /** `deny audit` (absent in bundles written before audit existed). */
  readonly audit?: boolean;
  readonly file: string;
  /** 1-based line of the rule in its file. */
  readonly line: number;
}

export interface Bundle {
  readonly format: typeof BUNDLE_FORMAT;
  readonly version: typeof BUNDLE_VERSION;
  readonly policyHash: string;
  /**
   * A number derived from the policy hash (48 bits, decimal). Deploy starts a host's generation
   * counter from it, so that two policies never share a generation by accident.
   */
  readonly generationSeed: string;
  readonly files: readonly string[];
  readonly defaults: { readonly ingress: 'allow' | 'deny'; readonly egress: 'allow' | 'deny' };
  readonly ruleCount: number;
  readonly stats: PolicyImage['stats'];
  readonly meta: PackedBytes;
  readonly maps: readonly BundleMap[];
  readonly rules: readonly BundleRule[];
  /** Where emitted entries came from: `[map, entry, rule ids]`. */
  readonly origins: readonly (readonly [string, number, readonly number[]])[];
  readonly sourceMap: string | null;
}

export interface BundleOutput {
  readonly text: string;
  readonly sourceMap: string;
}

export interface BundleOptions {
  /** File name of the bundle as the source map names it (`file`), and of its map. */
  readonly bundleFile: string;
  readonly sourceMapFile: string;
  /** Store the `.seg` texts in the source map (`sourcesContent`). Default true. */
  readonly includeSources?: boolean;
}

export function packBytes(bytes: Uint8Array): PackedBytes {
  return { encoding: 'deflate-raw+base64', length: bytes.length, data: deflateRawSync(bytes, { level: 1 }).toString('base64') };
}

export function unpackBytes(packed: PackedBytes): Uint8Array {
  const out = new Uint8Array(inflateRawSync(Buffer.from(packed.data, 'base64')));
  if (out.length !== packed.length) throw new Error(`packed bytes hold ${out.length} bytes, expected ${packed.length}`);
  return out;
}

export function bundle(ir: ProgramIr, image: PolicyImage, sources: ReadonlyMap<string, SourceFile>, options: BundleOptions): BundleOutput {
  const lineOf = (file: string, offset: number) => {
    const source = sources.get(file);
    return source ? positionOf(source, offset) : { line: 1, column: 1 };
  };
  const rules: BundleRule[] = ir.rules.map((r) => ({
    id: r.id,
    name: r.name,
    direction: r.direction,
    priority: r.priority,
    action: r.action,
    log: r.log,
    ...(r.audit ? { audit: true } : {}),
    file: r.span.file,
    line: lineOf(r.span.file, r.span.start).line,
  }));
  const policyHash = hashProgram(ir);
  const head = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    policyHash,
    generationSeed: bundleGenerationSeed(policyHash),
    files: ir.files,
    defaults: { ingress: ir.ingress.defaultAction, egress: ir.egress.defaultAction },
    ruleCount: image.ruleCount,
    stats: image.stats,
    meta: packBytes(image.meta),
    sourceMap: options.sourceMapFile,
  };
  const maps: BundleMap[] = image.maps.map((m) => ({ ...m, keys: m.keys ? packBytes(m.keys) : null, values: packBytes(m.values) }));

  // Lines: "{", head fields, "maps": [...], "rules": [ one per line ], "origins": [ one per line ], "}".
  const lines: string[] = ['{'];
  for (const [key, value] of Object.entries(head)) lines.push(`  ${JSON.stringify(key)}: ${JSON.stringify(value)},`);
  lines.push(`  "maps": ${JSON.stringify(maps)},`);
  const generator = new SourceMapGenerator({ file: options.bundleFile });
  const map = (line: number, ruleId: number) => {
    const rule = ir.rules[ruleId];
    if (!rule) return;
    const pos = lineOf(rule.span.file, rule.span.start);
    // source-map lines are 1-based, columns 0-based.
    generator.addMapping({ generated: { line, column: 2 }, original: { line: pos.line, column: pos.column - 1 }, source: rule.span.file, name: rule.name });
  };
  lines.push('  "rules": [');
  rules.forEach((r, i) => {
    lines.push(`    ${JSON.stringify(r)}${i + 1 < rules.length ? ',' : ''}`);
    map(lines.length, r.id);
  });
  lines.push('  ],');
  lines.push('  "origins": [');
  image.origins.forEach((o, i) => {
    lines.push(`    ${JSON.stringify([o.map, o.entry, o.rules])}${i + 1 < image.origins.length ? ',' : ''}`);
    // An entry several rules put there maps to the first of them (a mapping has one origin).
    const first = o.rules[0];
    if (first !== undefined) map(lines.length, first);
  });
  lines.push('  ]');
  lines.push('}');
  if (options.includeSources ?? true) for (const [file, source] of sources) generator.setSourceContent(file, source.text);
  return { text: lines.join('\n') + '\n', sourceMap: generator.toString() };
}

/** The bundle's generation seed: the first 48 bits of sha256(policy hash), in decimal. */
export function bundleGenerationSeed(policyHash: string): string {
  return BigInt('0x' + createHash('sha256').update(policyHash).digest('hex').slice(0, 12)).toString();
}

/** A bundle's tables back as an emitted image (what the loader installs). */
export function bundleImage(b: Bundle): PolicyImage {
  return {
    meta: unpackBytes(b.meta),
    maps: b.maps.map((m) => ({ ...m, keys: m.keys ? unpackBytes(m.keys) : null, values: unpackBytes(m.values) })),
    ruleCount: b.ruleCount,
    origins: b.origins.map(([map, entry, rules]) => ({ map, entry, rules })),
    stats: b.stats,
  };
}

/** Parses bundle text, checking its format and version. */
export function parseBundle(text: string): Bundle {
  const b = JSON.parse(text) as Bundle;
  if (b.format !== BUNDLE_FORMAT) throw new Error(`not a segc bundle (format ${String(b.format)})`);
  if (b.version !== BUNDLE_VERSION) throw new Error(`bundle version ${b.version}; this segc reads version ${BUNDLE_VERSION}`);
  return b;
}
