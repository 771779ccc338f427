// Golden files: each case in test/cases (a .seg file, or a folder of them checked together) is
// run through `segc check` in process, and its human output (no colour) must equal
// test/baselines/NAME.txt. Accept intended changes with `vitest -u` and review the diff.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

const CASES = join(import.meta.dirname, '../../cases');
const BASELINES = join(import.meta.dirname, '../../baselines');

/** Every file below test/cases, by path relative to it. */
function readCaseFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(CASES, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(CASES);
  return files;
}

const caseFiles = readCaseFiles();
const caseNames = readdirSync(CASES)
  .filter((name) => name.endsWith('.seg') || statSync(join(CASES, name)).isDirectory())
  .sort();

describe('golden cases', () => {
  it.each(caseNames)('%s prints its baseline', async (name) => {
    const io = createMemoryIo(caseFiles);
    const code = await run(['check', '--no-color', name], io);
    const out = io.out();
    await expect(out).toMatchFileSnapshot(join(BASELINES, name.replace(/\.seg$/, '') + '.txt'));
    expect(io.err()).toBe('');
    // The exit code agrees with what the report shows: 1 exactly when it shows an error.
    expect(code).toBe(/^error\[SEG\d{4}\]/m.test(out) ? 1 : 0);
    // A case named after a code triggers that code.
    const named = /^seg(\d{4})-/.exec(name);
    if (named) expect(out).toContain(`[SEG${named[1]}]`);
  });
});
