// The command line's frame, in process: help, version, usage errors, typed failures and
// internal errors, each with its exit code (cli.md) and never a stack trace unless --debug.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CliError } from '../../../runtime/cli/command.ts';
import { useColor } from '../../../runtime/cli/options.ts';
import { createMemoryIo, type CliIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';
import { packageInfo } from '../../../runtime/cli/package-info.ts';

const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

describe('run', () => {
  it('prints help with examples and exits 0 for --help', async () => {
    const io = createMemoryIo({});
    expect(await run(['--help'], io)).toBe(0);
    expect(io.out()).toContain('Usage: segc');
    expect(io.out()).toContain('check');
    expect(io.out()).toContain('explain');
    expect(io.out()).toContain('Examples:');
  });

  it('prints the help of one command, with its examples', async () => {
    const io = createMemoryIo({});
    expect(await run(['check', '--help'], io)).toBe(0);
    expect(io.out()).toContain('Usage: segc check [options] <paths...>');
    expect(io.out()).toContain('--format <format>');
    expect(io.out()).toContain('$ segc check --format sarif');
    const help = createMemoryIo({});
    expect(await run(['help', 'explain'], help)).toBe(0);
    expect(help.out()).toContain('--packet <packet>');
  });

  it('prints the version of the package and the data-path version, and exits 0', async () => {
    const io = createMemoryIo({});
    expect(await run(['--version'], io)).toBe(0);
    expect(io.out()).toMatch(/^\d+\.\d+\.\d+ \(data path version \d+\)\n$/);
  });

  it('exits 2 with the help on stderr when no command is given', async () => {
    const io = createMemoryIo({});
    expect(await run([], io)).toBe(2);
    expect(io.err()).toContain('Usage: segc');
    expect(io.out()).toBe('');
  });

  it('exits 2 on an unknown command and suggests the closest one', async () => {
    const io = createMemoryIo({});
    expect(await run(['chek', 'a.seg'], io)).toBe(2);
    expect(io.err()).toContain("unknown command 'chek'");
    expect(io.err()).toContain('check');
  });

  it('exits 2 on an unknown option, a missing argument and a bad option value', async () => {
    for (const argv of [['check', '--frobnicate', 'a.seg'], ['check'], ['check', '--format', 'xml', 'a.seg'], ['check', '--analysis-budget', 'soon', 'a.seg']]) {
      const io = createMemoryIo({ 'a.seg': '' });
      expect(await run(argv, io), argv.join(' ')).toBe(2);
      expect(io.err(), argv.join(' ')).toMatch(/^error: /);
      expect(io.err()).not.toMatch(STACK_LINE);
    }
  });

  it('reports a usage error thrown by a command with its hint, without a stack trace, and exits 2', async () => {
    const io = createMemoryIo({});
    expect(await run(['check', 'missing.seg'], io)).toBe(2);
    expect(io.err()).toBe("error: no such file or folder: 'missing.seg'\nhint: check the path (relative paths start from the current folder)\n");
    expect(io.out()).toBe('');
  });

  it('turns an unexpected exception into "internal error", exit 2, with the stack only under --debug', async () => {
    const broken = (): CliIo => {
      const io = createMemoryIo({ 'a.seg': 'set a = 10.0.0.0/8\n' });
      return Object.assign(io, {
        host: {
          readFile: () => {
            throw new TypeError('disk on fire');
          },
          resolveInclude: io.host.resolveInclude,
        },
      });
    };
    const plain = broken() as ReturnType<typeof createMemoryIo>;
    expect(await run(['check', 'a.seg'], plain)).toBe(2);
    expect(plain.err()).toContain('internal error: disk on fire');
    expect(plain.err()).toContain('--debug');
    expect(plain.err()).not.toMatch(STACK_LINE);

    const debug = broken() as ReturnType<typeof createMemoryIo>;
    expect(await run(['--debug', 'check', 'a.seg'], debug)).toBe(2);
    expect(debug.err()).toContain('TypeError: disk on fire');
    expect(debug.err()).toMatch(STACK_LINE);
  });
});

describe('CliError', () => {
  it('carries its kind and hint', () => {
    const e = new CliError('environment', 'bpffs is not mounted', 'mount -t bpf bpf /sys/fs/bpf');
    expect(e).toBeInstanceOf(Error);
    expect([e.kind, e.message, e.hint]).toEqual(['environment', 'bpffs is not mounted', 'mount -t bpf bpf /sys/fs/bpf']);
  });
});

describe('useColor', () => {
  it('colours a terminal unless NO_COLOR is set or the terminal is dumb', () => {
    expect(useColor(createMemoryIo({}, { isTTY: true }), 'stdout', undefined)).toBe(true);
    expect(useColor(createMemoryIo({}, { isTTY: true, env: { NO_COLOR: '1' } }), 'stdout', undefined)).toBe(false);
    expect(useColor(createMemoryIo({}, { isTTY: true, env: { TERM: 'dumb' } }), 'stdout', undefined)).toBe(false);
    expect(useColor(createMemoryIo({}, { isTTY: false }), 'stdout', undefined)).toBe(false);
  });

  it('lets FORCE_COLOR turn colour on, and --color / --no-color decide over everything', () => {
    expect(useColor(createMemoryIo({}, { env: { FORCE_COLOR: '1' } }), 'stdout', undefined)).toBe(true);
    expect(useColor(createMemoryIo({}, { env: { FORCE_COLOR: '0' } }), 'stdout', undefined)).toBe(false);
    expect(useColor(createMemoryIo({}, { isTTY: true }), 'stdout', false)).toBe(false);
    expect(useColor(createMemoryIo({}, { env: { NO_COLOR: '1' } }), 'stdout', true)).toBe(true);
  });
});

describe('packageInfo', () => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string; homepage?: string };

  it('reads the version of the package.json above it', () => {
    expect(packageInfo().version).toBe(pkg.version);
  });

  it('points SARIF help at docs/diagnostics.md: on the home page when it is a GitHub repository, else the installed copy', () => {
    const { docsUri } = packageInfo();
    expect(docsUri.endsWith('/docs/diagnostics.md')).toBe(true);
    if (pkg.homepage?.startsWith('https://github.com/') === true) expect(docsUri.startsWith(pkg.homepage.replace(/#.*$/, ''))).toBe(true);
    else expect(existsSync(fileURLToPath(docsUri))).toBe(true);
  });
});
