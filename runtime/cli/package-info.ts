// Facts about the installed segc package that reports print: its version, its home page and
// where its diagnostics documentation lives. Read once from the package's package.json.
import { pathToFileURL } from 'node:url';
import { DATAPATH_VERSION } from '../datapath/version.ts';
import { packageRoot } from '../package-root.ts';

export interface PackageInfo {
  readonly version: string;
  /** The project's home page; the installed package's folder when package.json names none. */
  readonly informationUri: string;
  /** docs/diagnostics.md as an absolute URI (anchors `#seg3003` are appended). */
  readonly docsUri: string;
}

let cached: PackageInfo | undefined;

/**
 * What `segc --version` prints: the package's version and the data-path version it carries
 * (`0.1.0 (data path version 1)`), so an operator can tell which deployments it can adopt.
 */
export function versionText(): string {
  return `${packageInfo().version} (data path version ${DATAPATH_VERSION})`;
}

export function packageInfo(): PackageInfo {
  cached ??= readPackageInfo();
  return cached;
}

function readPackageInfo(): PackageInfo {
  const root = packageRoot();
  if (root) return packageInfoOf(root.json, root.dir);
  return { version: '0.0.0', informationUri: 'https://www.npmjs.com/package/segc', docsUri: 'https://www.npmjs.com/package/segc' };
}

function packageInfoOf(json: Readonly<Record<string, unknown>>, root: string): PackageInfo {
  const version = typeof json['version'] === 'string' ? json['version'] : '0.0.0';
  const homepage = typeof json['homepage'] === 'string' ? json['homepage'].replace(/#.*$/, '').replace(/\/$/, '') : undefined;
  const local = pathToFileURL(root).href;
  if (homepage !== undefined && /^https:\/\/github\.com\/[^/]+\/[^/]+$/.test(homepage)) {
    return { version, informationUri: homepage, docsUri: `${homepage}/blob/main/docs/diagnostics.md` };
  }
  // Without a published home page, the docs shipped with this installation are the truth.
  return { version, informationUri: homepage ?? local, docsUri: `${local}/docs/diagnostics.md` };
}
