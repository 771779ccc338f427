// `segc diff` through run(argv, io): two files, --old/--new sets, formats, --exit-code, and
// --git / --merge-base in a temporary git repository with includes, a rename, a deleted file
// and a revision where a file does not parse.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryIo, createNodeIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

const A = 'policy ingress default deny {\n  100 ssh: allow tcp from 10.20.0.0/16 to any port 22\n}\n';
const B = 'policy ingress default deny {\n  100 ssh: allow tcp from 10.20.0.0/17 to any port 22\n}\n';
const B_RELAID = '# the same policy\npolicy ingress {\n  7 office-ssh: allow tcp from 10.20.0.0/16 to any port 22\n}\n';

async function segc(files: Record<string, string>, ...argv: string[]) {
  const io = createMemoryIo(files);
  const code = await run(['diff', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

describe('segc diff on files', () => {
  it('prints each region with an example packet and the deciding rules on both sides', async () => {
    const r = await segc({ 'a.seg': A, 'b.seg': B }, 'a.seg', 'b.seg');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        'ingress allow -> deny: tcp 10.20.128.1:40000 -> 198.51.100.20:22',
        '  before  rule ssh (a.seg:2) allows',
        '  after   the default (b.seg:1) denies',
        '  packets tcp from 10.20.128.0/17 to any port 22',
        '1 region change verdict: ingress 1 allow -> deny, 0 deny -> allow; egress 0 allow -> deny, 0 deny -> allow',
        '',
      ].join('\n'),
    );
  });

  it('says there is no change in meaning when only the text changed, and --exit-code tells the two apart', async () => {
    const same = await segc({ 'a.seg': A, 'b.seg': B_RELAID }, '--exit-code', 'a.seg', 'b.seg');
    expect(same.code).toBe(0);
    expect(same.out).toMatch(/^no change in meaning: no packet changes verdict/);
    expect((await segc({ 'a.seg': A, 'b.seg': B }, '--exit-code', 'a.seg', 'b.seg')).code).toBe(1);
  });

  it('compares sets of files with --old and --new, as JSON and as Markdown', async () => {
    const files = { 'common.seg': 'set office = 10.20.0.0/16\n', 'a.seg': A.replace('10.20.0.0/16', 'office'), 'b.seg': 'policy ingress {\n  100 ssh: allow tcp from office to any port { 22, 2222 }\n}\n' };
    const json = await segc(files, '--old', 'a.seg', '--old', 'common.seg', '--new', 'b.seg', '--new', 'common.seg', '--format', 'json');
    const parsed = JSON.parse(json.out) as { regionCount: number; regions: { change: string; example: string; after: { rule: { location: string } } }[] };
    expect(parsed.regionCount).toBe(1);
    expect(parsed.regions[0]).toMatchObject({ change: 'deny -> allow', example: 'tcp 10.20.0.1:40000 -> 198.51.100.20:2222', after: { rule: { location: 'b.seg:2' } } });
    const md = await segc(files, '--old', 'a.seg', '--old', 'common.seg', '--new', 'b.seg', '--new', 'common.seg', '--format', 'markdown');
    expect(md.out).toContain('### segc: 1 region of packets change verdict');
    expect(md.out).toContain('| ingress | deny → allow | `tcp 10.20.0.1:40000 -> 198.51.100.20:2222` | the default (a.seg:1) | rule ssh (b.seg:2) |');
  });

  it('is a usage error without two sides', async () => {
    expect((await segc({ 'a.seg': A }, 'a.seg')).code).toBe(2);
  });
});

describe('segc diff --git', () => {
  const dir = mkdtempSync(join(tmpdir(), `segc-h11-diff-${process.pid}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=t@segc.invalid', '-c', 'user.name=t', ...args], { cwd: dir, encoding: 'utf8' }).trim();
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  const segcIn = async (...argv: string[]) => {
    const io = createNodeIo(dir);
    let out = '';
    let err = '';
    const captured = { ...io, stdout: { write: (t: string) => void (out += t) }, stderr: { write: (t: string) => void (err += t) } };
    const code = await run(['diff', ...argv], captured);
    return { code, out, err };
  };

  it('reads each revision with its includes, through renames and a deleted file, against the work tree', async () => {
    git('init', '-q', '-b', 'main');
    write('policies/web.seg', 'include "../shared/office.seg"\npolicy ingress default deny {\n  100 ssh: allow tcp from office to any port 22\n}\n');
    write('shared/office.seg', 'set office = 10.20.0.0/16\n');
    write('policies/old.seg', 'policy egress default allow {\n  100 no-mail: deny tcp from any to any port 25\n}\n');
    git('add', '.');
    git('commit', '-qm', 'one');
    // Rev two: the included set narrows (the text of web.seg is unchanged), old.seg is
    // deleted, and web.seg is renamed.
    write('shared/office.seg', 'set office = 10.20.0.0/17\n');
    rmSync(join(dir, 'policies/old.seg'));
    renameSync(join(dir, 'policies/web.seg'), join(dir, 'policies/hosts-web.seg'));
    git('add', '-A');
    git('commit', '-qm', 'two');
    const r = await segcIn('--git', 'HEAD~1', 'HEAD', 'policies');
    expect(r.err).toBe('');
    expect(r.out).toContain('ingress allow -> deny: tcp 10.20.128.1:40000 -> 198.51.100.20:22\n  before  rule ssh (HEAD~1:policies/web.seg:3) allows\n  after   the default (HEAD:policies/hosts-web.seg:2) denies');
    // old.seg held the only egress block: without it egress has no policy block, so it is
    // unfiltered (docs/language.md): its default stays allow, and only mail, denied by old.seg's
    // rule, changes.
    expect(r.out).not.toMatch(/^default egress/m);
    expect(r.out).toContain('egress deny -> allow: tcp 192.0.2.7:40000 -> 198.51.100.20:25\n  before  rule no-mail (HEAD~1:policies/old.seg:2) denies\n  after   no policy block (unfiltered) allows');
    // The work tree equals HEAD: no change in meaning.
    expect((await segcIn('--git', 'HEAD', 'policies')).out).toMatch(/^no change in meaning/);
    // The merge base of main and HEAD is HEAD itself here.
    expect((await segcIn('--merge-base', 'main', 'policies')).out).toMatch(/^no change in meaning/);
  });

  it('names the revision and the file when a revision does not parse', async () => {
    write('policies/hosts-web.seg', 'include "../shared/office.seg"\npolicy ingress default deny {\n  100 ssh: allow tcp from office to any port 22 22\n}\n');
    git('commit', '-qam', 'broken');
    const r = await segcIn('--git', 'HEAD~1', 'HEAD', 'policies');
    expect(r.code).toBe(1);
    expect(r.err).toContain('--> HEAD:policies/hosts-web.seg:3:');
    expect(r.err).toContain(`error: revision HEAD (${git('rev-parse', '--short=7', 'HEAD')}) does not compile (first error in HEAD:policies/hosts-web.seg); no diff`);
    const bad = await segcIn('--git', 'no-such-rev');
    expect([bad.code, bad.err]).toEqual([2, "error: 'no-such-rev' is not a revision of this repository\nhint: name a commit, branch or tag (git log shows them)\n"]);
  });
});
