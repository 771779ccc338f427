// `make bench`'s list, run dry: every benchmark starts (its modules load, its arguments parse,
// its inputs exist, session-ab's A object builds) and exits at once, so a benchmark that cannot
// start fails here instead of in the middle of someone's `make bench`. No figures are measured.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

describe('make bench', () => {
  it('lists every benchmark under bench/ and leaves out only support modules', () => {
    const listed = spawnSync('scripts/bench.sh', ['--list'], { cwd: ROOT, encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    const files = readdirSync(join(ROOT, 'bench')).filter((f) => f.endsWith('.ts')).sort();
    const support = files.filter((f) => readFileSync(join(ROOT, 'bench', f), 'utf8').startsWith('// Benchmark support'));
    expect(support).toEqual(expect.arrayContaining(['dry-run.ts', 'wall-times.ts']));
    expect(listed.stdout.trim().split('\n')).toEqual(files.filter((f) => !support.includes(f)).map((f) => `bench/${f}`));
  });

  it('starts every benchmark of its list in a dry run, and each one exits 0', () => {
    const listed = spawnSync('scripts/bench.sh', ['--list'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim().split('\n');
    const dry = spawnSync('scripts/bench.sh', ['--dry'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(dry.status, `${dry.stdout}\n${dry.stderr}`).toBe(0);
    const summary = dry.stdout.slice(dry.stdout.indexOf('== summary'));
    for (const bench of listed) {
      expect(dry.stdout).toContain(`dry run: ${bench.slice('bench/'.length)} ready`);
      expect(summary).toMatch(new RegExp(`^${bench.replace('.', '\\.')}\\s+ok\\s`, 'm'));
    }
  }, 130_000);

  it('fails a dry run whose input is missing, naming it', () => {
    const r = spawnSync(process.execPath, ['bench/session-ab.ts', '/nonexistent/a.bpf.o', 'bpf/build/segc.bpf.o', '--dry'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('missing input /nonexistent/a.bpf.o');
  });

  it('answers session-ab without its two objects with a usage line, not a stack trace', () => {
    const r = spawnSync(process.execPath, ['bench/session-ab.ts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: node bench\/session-ab\.ts A\.bpf\.o B\.bpf\.o/);
    expect(r.stderr).not.toContain('    at ');
  });
});
