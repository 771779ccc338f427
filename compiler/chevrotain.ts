// chevrotain, loaded from the single-file build its package ships. The package's entry point
// is some forty ES modules, 40-70 ms to load, while its bundle (lib/chevrotain.mjs: the same
// version and API, no imports) loads in about 13 ms, and `segc check` must start fast enough
// for a pre-commit hook. The package's `exports` hide the bundle, so its URL is derived from
// the entry point's; where that fails, the entry point is used.
import type * as ChevrotainApi from 'chevrotain';

async function loadChevrotain(): Promise<{ api: typeof ChevrotainApi; from: 'bundle' | 'entry point' }> {
  const entry = import.meta.resolve?.('chevrotain');
  const bundle = entry?.replace(/\/lib\/src\/api\.js$/, '/lib/chevrotain.mjs');
  if (bundle !== undefined && bundle !== entry) {
    try {
      return { api: (await import(bundle)) as typeof ChevrotainApi, from: 'bundle' };
    } catch {
      // Not the layout this chevrotain version has: use the entry point.
    }
  }
  return { api: await import('chevrotain'), from: 'entry point' };
}

const { api: chevrotain, from } = await loadChevrotain();

/** Which build of chevrotain was loaded (a test checks that it is the bundle). */
export const chevrotainLoadedFrom = from;

export const {
  createSyntaxDiagramsCode,
  createToken,
  createTokenInstance,
  CstParser,
  EOF,
  generateCstDts,
  Lexer,
  MismatchedTokenException,
} = chevrotain;
