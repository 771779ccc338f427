// Where the installed segc package is: its root holds package.json, bpf/build/ and docs/.
// From runtime/ in a checkout and from dist/runtime/ when built, the root sits a different
// number of folders up, so look upwards for the package.json named segc.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageRoot {
  readonly dir: string;
  readonly json: Readonly<Record<string, unknown>>;
}

let cached: PackageRoot | undefined;

/** The segc package's folder and package.json; undefined when segc runs outside its package. */
export function packageRoot(): PackageRoot | undefined {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const json = tryReadJson(join(dir, 'package.json'));
    if (json !== undefined && json['name'] === 'segc') return (cached = { dir, json });
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function tryReadJson(path: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
