// Test support: where the shared corpus (ClassBench sets, Capirca samples, the FireHOL list)
// lives. CI clones the project with `shared/` beside the checkout, so it is found relative to
// this repository; SEGC_CORPUS overrides it.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function findCorpus(): string {
  const candidates = [process.env['SEGC_CORPUS'], join(REPO_ROOT, '..', 'shared', 'corpus'), '/work/shared/corpus'];
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(c)) return c;
  throw new Error(`the shared corpus is missing: expected ${join(REPO_ROOT, '..', 'shared', 'corpus')} (or set SEGC_CORPUS)`);
}

/** The corpus folder: holds classbench-hs1/, classbench-neurocuts/, classbench-partitionsort/, ... */
export const CORPUS = findCorpus();
