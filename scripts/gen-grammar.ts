// Writes the grammar artefacts generated from the parser: compiler/cst.d.ts (the CST types,
// chevrotain's generateCstDts) and grammar/railroad.html (syntax diagrams). Run it after
// changing compiler/parser.ts: `node scripts/gen-grammar.ts`; a test fails while they are stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderCstDts, renderRailroad } from '../compiler/grammar-artifacts.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
writeFileSync(`${root}compiler/cst.d.ts`, renderCstDts());
writeFileSync(`${root}grammar/railroad.html`, renderRailroad());
console.log('wrote compiler/cst.d.ts and grammar/railroad.html');
