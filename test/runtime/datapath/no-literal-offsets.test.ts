import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Kernel map keys and values are decoded by runtime/datapath/codec.ts, by the layouts generated
// from the object's BTF; a reader that indexes bytes by a literal offset breaks silently when a
// layout changes. Frames on the wire are another matter: runtime/packet-bytes.ts builds them
// by the network's own formats.
const ALLOWED = new Set(['runtime/datapath/codec.ts', 'runtime/datapath/abi.ts', 'runtime/packet-bytes.ts']);

const PATTERNS: readonly [RegExp, string][] = [
  [/\.(get|set)(Big)?(Uint|Int)(8|16|32|64)\(\s*\d/, 'a DataView access at a literal offset'],
  [/\b(key|value|raw|meta|bytes|buf|k|v|values|keys)\[\d+\]/, 'a byte of a key or value at a literal index'],
  [/\?\.offset\s*\?\?\s*\d/, 'a layout offset with a literal fallback'],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every line of runtime/ (outside the codec) that decodes by a literal offset. */
export function literalOffsetReads(files: readonly string[], read: (path: string) => string): string[] {
  const found: string[] = [];
  for (const file of files) {
    if (ALLOWED.has(file)) continue;
    read(file)
      .split('\n')
      .forEach((line, i) => {
        for (const [pattern, what] of PATTERNS) if (pattern.test(line)) found.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
      });
  }
  return found;
}

describe('readers of kernel maps', () => {
  it('no module of runtime/ decodes a key or value by a literal offset (runtime/datapath/codec.ts does, by the BTF layouts)', () => {
    expect(literalOffsetReads(sources('runtime'), (p) => readFileSync(p, 'utf8'))).toEqual([]);
  });

  it('the check finds each way of doing it', () => {
    const text = ['const a = k.getUint16(32, true);', 'const b = value[37];', "const c = f.fields.state?.offset ?? 38;", 'const d = decode(SEG_SESSION, value);'].join('\n');
    expect(literalOffsetReads(['runtime/x.ts'], () => text)).toHaveLength(3);
  });
});
