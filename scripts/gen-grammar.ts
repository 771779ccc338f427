// Writes the grammar artefacts generated from the parser: compiler/cst.d.ts (the CST types,
// chevrotain's generateCstDts) and grammar/railroad.html (syntax diagrams, self-contained).
// Run it after changing compiler/parser.ts: `node scripts/gen-grammar.ts`; a test fails while
// the checked-in copies are stale.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCstDts, renderRailroad } from '../compiler/grammar-artifacts.ts';

/** A file of the installed chevrotain package, by its path inside the package. */
export function readChevrotainFile(path: string): string {
  // The package's exports hide its folder; walk up from its entry point to its package.json.
  let dir = dirname(fileURLToPath(import.meta.resolve('chevrotain')));
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== 'chevrotain') {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the chevrotain package folder');
    dir = parent;
  }
  return readFileSync(join(dir, path), 'utf8');
}

if (import.meta.main) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  writeFileSync(`${root}compiler/cst.d.ts`, renderCstDts());
  writeFileSync(`${root}grammar/railroad.html`, renderRailroad(readChevrotainFile));
  console.log('wrote compiler/cst.d.ts and grammar/railroad.html');
}
