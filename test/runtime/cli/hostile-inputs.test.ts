// Policies as an attacker writes them, compiled through the real file system: includes of a
// device, a FIFO, a secret, a huge file, a cycle through symbolic links, and a set of thousands
// of holes used by many rules. Each ends with a clear diagnostic within its budget, and no
// included file's content is ever printed.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeIo, type CliIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'segct-hostile-'));
  spawnSync('mkfifo', [join(dir, 'pipe.seg')]);
  // 100 MB, sparse: a regular file far over the size limit (it is never read).
  const fd = openSync(join(dir, 'huge.seg'), 'w');
  closeSync(fd);
  spawnSync('truncate', ['-s', '100M', join(dir, 'huge.seg')]);
  mkdirSync(join(dir, 'cycle'));
  symlinkSync('.', join(dir, 'cycle', 'again'));
  writeFileSync(join(dir, 'cycle', 'a.seg'), 'include "again/a.seg"\npolicy ingress default deny {\n}\n');
  writeFileSync(join(dir, 'secret.txt'), 'root:$6$Zq0Qm1Sx$hunter2hunter2hunter2:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n');
  writeFileSync(join(dir, 'words.txt'), 'hostname-of-some-machine\n');
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function segc(argv: readonly string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  let out = '';
  let err = '';
  const io: CliIo = { ...createNodeIo(dir), stdout: { write: (t) => void (out += t) }, stderr: { write: (t) => void (err += t) } };
  const started = performance.now();
  const code = await run([...argv, '--no-color'], io);
  return { code, out, err, ms: performance.now() - started };
}

function policyIncluding(name: string, target: string): string {
  writeFileSync(join(dir, name), `include "${target}"\npolicy ingress default deny {\n  100 ssh: allow tcp from any to any port 22\n}\n`);
  return name;
}

describe('hostile includes', () => {
  it('refuses a device without reading it (/dev/zero would never end)', async () => {
    const r = await segc(['check', policyIncluding('zero.seg', '/dev/zero')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/error\[SEG4003\]: cannot read '\/dev\/zero': it is a character device, not a regular file/);
  });

  it('refuses a FIFO without blocking on it', async () => {
    const r = await segc(['check', policyIncluding('fifo.seg', 'pipe.seg')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/SEG4003.*it is a FIFO, not a regular file/);
  });

  it('says a secret file is not a policy and never prints a line of it', async () => {
    for (const target of ['secret.txt', 'words.txt']) {
      const r = await segc(['check', policyIncluding(`inc-${target}.seg`, target)]);
      expect(r.code, target).toBe(1);
      expect(r.out, target).toMatch(new RegExp(`error\\[SEG4005\\]: '${target.replace('.', '\\.')}' is not a segc policy: .*; its content is not shown`));
      for (const line of readFileSync(join(dir, target), 'utf8').split('\n').filter((l) => l !== '')) {
        expect(r.out + r.err, target).not.toContain(line.slice(0, 12));
      }
      // The JSON and SARIF reports say the same, and leak nothing either.
      const json = await segc(['check', '--format', 'json', `inc-${target}.seg`]);
      expect(json.out).not.toContain('hunter2');
      expect(json.out).not.toContain('hostname-of');
    }
  });

  it.skipIf(!existsSync('/etc/shadow'))('includes /etc/shadow as a file that is not a policy, its content not shown', async () => {
    const r = await segc(['check', policyIncluding('shadow.seg', '/etc/shadow')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/SEG400[35].*'\/etc\/shadow'/);
    if (process.getuid?.() === 0) {
      for (const line of readFileSync('/etc/shadow', 'utf8').split('\n').filter((l) => l !== '')) expect(r.out).not.toContain(line.split(':')[1] === '*' ? line : line.slice(0, line.indexOf(':') + 2));
    }
  });

  it('refuses a 100 MB file by its size, and reads it when the limit is raised past it', async () => {
    const r = await segc(['check', policyIncluding('big.seg', 'huge.seg')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/SEG4003.*it holds 104857600 bytes, more than the 16777216 a policy file may/);
    expect(r.out).toMatch(/raise --max-include-size/);
    const small = await segc(['check', '--max-include-size', '1000', policyIncluding('small-limit.seg', 'words.txt')]);
    expect(small.out).toMatch(/SEG4005/);
  });

  it('ends a cycle of includes through symbolic links at the depth limit', async () => {
    const r = await segc(['check', 'cycle/a.seg']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/error\[SEG4004\]: includes nested more than 32 deep at 'cycle\/(again\/){33}a\.seg'/);
    const shallow = await segc(['check', '--max-include-depth', '3', 'cycle/a.seg']);
    expect(shallow.out).toMatch(/SEG4004.*more than 3 deep/);
  });

  it('checks a folder holding a FIFO named .seg without hanging on it', async () => {
    mkdirSync(join(dir, 'tree'));
    spawnSync('mkfifo', [join(dir, 'tree', 'stuck.seg')]);
    writeFileSync(join(dir, 'tree', 'ok.seg'), 'policy ingress default deny {\n  100 ssh: allow tcp from any to any port 22\n}\n');
    const r = await segc(['check', 'tree']);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/1 file checked/);
  });

  it('says a device named on the command line is not a policy file (not "no such file")', async () => {
    const r = await segc(['check', '/dev/null']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not a policy file: '\/dev\/null' is a device, FIFO or socket, not a regular file/);
    expect(r.err).not.toMatch(/no such file/);
  });
});

describe('an except-heavy policy (any except 5,000 IPv4 and 2,000 IPv6 hosts, used by 50 rules)', () => {
  const holes = [...Array.from({ length: 5000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${((i * 7) % 250) + 1}`), ...Array.from({ length: 2000 }, (_, i) => `2001:db8:${i.toString(16)}::${(((i * 13) % 65535) + 1).toString(16)}`)];
  const rules = Array.from({ length: 50 }, (_, i) => `  ${100 + i} r${i}: allow tcp from holes to any port ${1000 + i}`);
  const text = `set holes = any except {\n${holes.map((h) => `  ${h}`).join(',\n')}\n}\npolicy ingress default deny {\n${rules.join('\n')}\n}\n`;

  it('checks within its budget, and compiles', async () => {
    writeFileSync(join(dir, 'except.seg'), text);
    const checked = await segc(['check', 'except.seg']);
    expect(checked.code, checked.out).toBe(0);
    const compiled = await segc(['compile', 'except.seg', '-o', 'except.bundle.json']);
    expect(compiled.code, compiled.err).toBe(0);
    expect(compiled.out).toMatch(/50 rules/);
  }, 120_000);

  it('stops a compilation over its memory budget (the resident set) and says what was not done', () => {
    // In a process of its own, as users run segc: in this test's worker the resident set was
    // already grown by the tests before it, and a compile could reuse those pages (no growth).
    const c = spawnSync(process.execPath, [join(ROOT, 'bin', 'segc.js'), 'check', '--compile-memory', '1', 'except.seg', '--no-color'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    const r = { code: c.status, out: c.stdout, err: c.stderr };
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toMatch(/SEG(9002|5005)\]: (compilation|rule analysis) stopped after 1 MiB of memory: .* was not (done|analysed)/);
    expect(r.out).toMatch(/raise --compile-memory/);
    expect(r.err).not.toMatch(/heap out of memory|internal error/);
  }, 60_000);

  it('stops a compilation over its time budget and says what was not done', async () => {
    const r = await segc(['check', '--compile-budget', '1', 'except.seg']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/error\[SEG9002\]: compilation stopped after 1 ms: .* was not done/);
  }, 60_000);
});
