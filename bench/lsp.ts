// Benchmark of `segc lsp` (prints, never asserts): the time from a didChange to the published
// syntax/name diagnostics for each example and for a 10k-rule ClassBench policy (aim: < 50 ms
// on the 10k file), next to the compiler's own front end on the same text in this process
// (the paired baseline: what the server adds is the worker hand-off and the protocol). On the
// 10k files (ClassBench, and a generated policy whose every rule names a set), three kinds of change: a keystroke sent as an editor sends it (a range and its
// text: the server re-checks the lines it touched), a rule line broken by a keystroke and
// mended by the next, and the whole text. Then the full analysis
// of the 10k file after a change, a burst of changes (stale runs cancelled), and the server's
// RSS. Run: `node bench/lsp.ts` (runs `npm run build` first; `--no-build` skips it; `--dry`
// only checks that its inputs exist, as `make bench --dry` asks of every benchmark;
// `--baseline DIR` also runs the server of another built checkout, e.g. a worktree of main, in
// turns with this one on the 10k file, so that a noisy machine compares like with like).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compile } from '../compiler/program.ts';
import { createMemoryHost } from '../compiler/source.ts';
import { classBenchToSeg, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { startLspClient, type LspClient } from '../test/support/lsp-client.ts';
import { benchArgs, exitIfDryRun } from './dry-run.ts';
import { generateSyntaxPolicy } from './syntax.ts';
import { median } from './wall-times.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = 15;
const RUNS_10K = 9;
/** Keystrokes are cheap: more of them, for a steadier median. */
const KEYSTROKES_10K = 25;

const CLASSBENCH = join(CORPUS, 'classbench-hs1/rules/acl1_10K');

const args = benchArgs();
const baselineAt = args.indexOf('--baseline');
const BASELINE = baselineAt >= 0 ? args[baselineAt + 1] : undefined;
if (baselineAt >= 0 && BASELINE === undefined) throw new Error('usage: node bench/lsp.ts [--no-build] [--baseline DIR]');

exitIfDryRun([CLASSBENCH, join(ROOT, 'examples'), join(ROOT, 'bin/segc.js'), ...(BASELINE === undefined ? [] : [join(BASELINE, 'bin/segc.js')])]);

if (!process.argv.includes('--no-build')) {
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
}

/** The file changed on one rule line: a port, so the edit is what typing does. */
function edited(text: string, i: number): string {
  return text.replace(/port (\{ )?(\d+)/, (_, brace: string | undefined, p: string) => `port ${brace ?? ''}${(Number(p) + 1 + i) % 65536}`);
}

async function changeToPublish(client: LspClient, uri: string, text: string, version: number): Promise<number> {
  const waiting = client.waitForDiagnostics(uri, () => true, 120_000);
  const started = performance.now();
  client.change(uri, text, version);
  await waiting;
  return performance.now() - started;
}

function frontEndMs(path: string, text: string): number {
  const started = performance.now();
  compile([path], createMemoryHost({ [path]: text }));
  return performance.now() - started;
}

function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

const row = (label: string, server: number[], baseline: number[]) => {
  server.sort((a, b) => a - b);
  baseline.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(34)} ${median(server).toFixed(1).padStart(9)} ms ${(server[0] ?? 0).toFixed(1).padStart(9)} ms ${median(baseline).toFixed(1).padStart(12)} ms`);
};

console.log(`segc lsp: didChange -> published syntax/name diagnostics (analysis off; ${RUNS} changes each, medians; node ${process.version})`);
console.log(`  ${'file'.padEnd(34)} ${'median'.padStart(12)} ${'min'.padStart(12)} ${'front end alone'.padStart(15)}`);
{
  const client = await startLspClient({ initializationOptions: { analysis: false } });
  for (const name of readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.seg')).sort()) {
    const path = join(ROOT, 'examples', name);
    const uri = pathToFileURL(path).href;
    const text = readFileSync(path, 'utf8');
    const opened = client.waitForDiagnostics(uri, () => true, 60_000);
    client.open(uri, text);
    await opened;
    const server: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      server.push(await changeToPublish(client, uri, edited(text, i), i + 2));
      baseline.push(frontEndMs(path, edited(text, i)));
    }
    row(`examples/${name}`, server, baseline);
    client.close(uri);
  }
  await client.stop();
}

const text10k = classBenchToSeg(readClassBenchRules(readFileSync(CLASSBENCH, 'utf8')));
const path10k = join(ROOT, 'bench-results', 'lsp-acl1_10K.seg');
const uri10k = pathToFileURL(path10k).href;

/** A 10k-rule file, and where a keystroke types: the last digit of the first match of `at` past the middle. */
interface KeyFile {
  readonly label: string;
  readonly text: string;
  readonly path: string;
  readonly uri: string;
  readonly position: { readonly line: number; readonly character: number };
  /** Where a rule line breaks: the start of its third word (an `x` typed there, then taken away). */
  readonly word: { readonly line: number; readonly character: number };
}

function keyFile(label: string, text: string, name: string, at: RegExp): KeyFile {
  const m = new RegExp(at.source, 'g');
  m.lastIndex = text.length >> 1;
  const found = m.exec(text)!;
  const offset = found.index + found[0].length - 1;
  const before = text.slice(0, offset);
  const path = join(ROOT, 'bench-results', name);
  const line = before.split('\n').length - 1;
  const lineStart = before.lastIndexOf('\n') + 1;
  const word = text.indexOf(' ', text.indexOf(' ', lineStart + 2) + 1) + 1;
  return { label, text, path, uri: pathToFileURL(path).href, position: { line, character: offset - lineStart }, word: { line, character: word - lineStart } };
}

/** A keystroke over that digit (another digit: the rule stays valid), sent as a range. */
async function keystrokeToPublish(client: LspClient, file: KeyFile, version: number): Promise<number> {
  const waiting = client.waitForDiagnostics(file.uri, (p) => p.version === version, 120_000);
  const started = performance.now();
  const { line, character } = file.position;
  client.edit(file.uri, version, [{ range: { start: file.position, end: { line, character: character + 1 } }, text: String(version % 10) }]);
  await waiting;
  return performance.now() - started;
}

/** The rule line broken (an odd version types an `x` into it) or mended (an even one takes it away). */
async function breakMendToPublish(client: LspClient, file: KeyFile, version: number): Promise<number> {
  const waiting = client.waitForDiagnostics(file.uri, (p) => p.version === version, 120_000);
  const started = performance.now();
  const { line, character } = file.word;
  const range = version % 2 === 1 ? { start: file.word, end: file.word } : { start: file.word, end: { line, character: character + 1 } };
  client.edit(file.uri, version, [{ range, text: version % 2 === 1 ? 'x' : '' }]);
  await waiting;
  return performance.now() - started;
}

// ClassBench (literal addresses: a port's digit), and bench/syntax.ts's policy, where every rule
// names a set (a digit of the set's name: another of its 200 sets, so the rule stays valid).
const keyFiles = [
  keyFile('ClassBench acl1_10K', text10k, 'lsp-acl1_10K.seg', /port (\d+)/),
  keyFile('generated, every rule names a set (bench/syntax.ts)', generateSyntaxPolicy(10_000), 'lsp-sets-10k.seg', / to s1(\d)/),
];
for (const file of keyFiles) {
  const servers: { label: string; bin: string | undefined }[] = [{ label: 'this checkout', bin: undefined }, ...(BASELINE === undefined ? [] : [{ label: `baseline ${BASELINE}`, bin: join(BASELINE, 'bin/segc.js') }])];
  const clients: LspClient[] = [];
  for (const server of servers) {
    const client = await startLspClient({ initializationOptions: { analysis: false }, ...(server.bin === undefined ? {} : { bin: server.bin }) });
    const opened = client.waitForDiagnostics(file.uri, () => true, 120_000);
    client.open(file.uri, file.text);
    await opened;
    clients.push(client);
  }
  const keys = servers.map(() => [] as number[]);
  const broken = servers.map(() => [] as number[]);
  const full = servers.map(() => [] as number[]);
  const baseline: number[] = [];
  let version = 1;
  // The servers in turns, each change measured on one then the other.
  for (let i = 0; i < KEYSTROKES_10K; i++) {
    version++;
    for (let k = 0; k < clients.length; k++) keys[k]!.push(await keystrokeToPublish(clients[k]!, file, version));
  }
  // Broken and mended in turns, an even number of times: the text is as it was after them.
  if (version % 2 === 1) version++;
  for (let i = 0; i < KEYSTROKES_10K + 1; i++) {
    version++;
    for (let k = 0; k < clients.length; k++) broken[k]!.push(await breakMendToPublish(clients[k]!, file, version));
  }
  // Whole-text changes start from the original text again.
  for (let i = 0; i < RUNS_10K; i++) {
    version++;
    for (let k = 0; k < clients.length; k++) full[k]!.push(await changeToPublish(clients[k]!, file.uri, edited(file.text, i), version));
    baseline.push(frontEndMs(file.path, edited(file.text, i)));
  }
  console.log(`  ${file.label} (${file.text.split('\n').length} lines):`);
  for (let k = 0; k < servers.length; k++) {
    console.log(`   ${servers[k]!.label}:`);
    row('    a keystroke (incremental change)', keys[k]!, baseline);
    row('    a rule line broken, then mended', broken[k]!, baseline);
    row('    the whole text (full change)', full[k]!, baseline);
    console.log(`    server RSS after these changes: ${rssMB(clients[k]!.child.pid!).toFixed(0)} MB`);
  }
  for (const client of clients) await client.stop();
}
console.log('  (aim: under 50 ms on a 10k file)');

console.log('');
console.log('with the rule analysis on (default budget), acl1_10K:');
{
  const client = await startLspClient();
  const opened = client.waitForDiagnostics(uri10k, () => true, 120_000);
  const t0 = performance.now();
  client.open(uri10k, text10k);
  await opened;
  const front = performance.now() - t0;
  await client.waitForDiagnostics(uri10k, () => true, 120_000);
  const full = performance.now() - t0;
  console.log(`  didOpen -> syntax/names ${front.toFixed(0)} ms, -> analysis ${full.toFixed(0)} ms;  RSS ${rssMB(client.child.pid!).toFixed(0)} MB`);
  // A burst of five changes 20 ms apart: each makes the running analysis stale (its thread is
  // terminated) and the queued front phase is coalesced; only the last text is analysed.
  const before = client.published.length;
  const last = 104;
  const frontDone = client.waitForDiagnostics(uri10k, (p) => p.version === last, 120_000);
  const t1 = performance.now();
  for (let i = 0; i < 5; i++) {
    client.change(uri10k, edited(text10k, 100 + i), 100 + i);
    await new Promise((r) => setTimeout(r, 20));
  }
  await frontDone;
  const frontMs = performance.now() - t1;
  await client.waitForDiagnostics(uri10k, (p) => p.version === last, 120_000);
  const analysedMs = performance.now() - t1;
  const versions = client.published.slice(before).filter((p) => p.uri === uri10k).map((p) => p.version);
  console.log(`  burst of 5 changes 20 ms apart: last text's syntax/names after ${frontMs.toFixed(0)} ms, its analysis after ${analysedMs.toFixed(0)} ms;`);
  console.log(`  publications by version: ${versions.join(' ')} (stale analyses cancelled);  RSS ${rssMB(client.child.pid!).toFixed(0)} MB`);
  await client.stop();
}
