// Facts about the installed segc package that reports print: its version, its home page and
// where its diagnostics documentation lives. Read once from the package.json above this file.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface PackageInfo {
  readonly version: string;
  /** The project's home page; the installed package's folder when package.json names none. */
  readonly informationUri: string;
  /** docs/diagnostics.md as an absolute URI (anchors `#seg3003` are appended). */
  readonly docsUri: string;
}

let cached: PackageInfo | undefined;

export function packageInfo(): PackageInfo {
  cached ??= readPackageInfo();
  return cached;
}

function readPackageInfo(): PackageInfo {
  // From runtime/cli/ in a checkout and from dist/runtime/cli/ when built, the package.json
  // sits a different number of folders up: look upwards for the one named segc.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const json = tryReadJson(join(dir, 'package.json'));
    if (json !== undefined && json['name'] === 'segc') return packageInfoOf(json, dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return { version: '0.0.0', informationUri: 'https://www.npmjs.com/package/segc', docsUri: 'https://www.npmjs.com/package/segc' };
}

function packageInfoOf(json: Record<string, unknown>, root: string): PackageInfo {
  const version = typeof json['version'] === 'string' ? json['version'] : '0.0.0';
  const homepage = typeof json['homepage'] === 'string' ? json['homepage'].replace(/#.*$/, '').replace(/\/$/, '') : undefined;
  const local = pathToFileURL(root).href;
  if (homepage !== undefined && /^https:\/\/github\.com\/[^/]+\/[^/]+$/.test(homepage)) {
    return { version, informationUri: homepage, docsUri: `${homepage}/blob/main/docs/diagnostics.md` };
  }
  // Without a published home page, the docs shipped with this installation are the truth.
  return { version, informationUri: homepage ?? local, docsUri: `${local}/docs/diagnostics.md` };
}

function tryReadJson(path: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
