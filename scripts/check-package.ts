// Pack-time check (`npm pack` runs it as `prepack`, after the build): the tarball must carry a
// data path object an installed host can load without clang, and the bundled CLI. Reads the
// object's ELF header and section table (no llvm tools: the check must say why, not crash) and
// exits 1 with what is wrong, so a broken package is never made.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATAPATH_VERSION } from '../runtime/datapath/version.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const EM_BPF = 247;
/** Sections the loader needs: the programs, the map definitions, the license and the BTF that describes the maps. */
const NEEDED_SECTIONS = ['tc', '.maps', 'license', '.BTF', '.BTF.ext'] as const;
/** Entry points the loader opens by name (runtime/loader.ts). */
const NEEDED_SYMBOLS = ['seg_ingress', 'seg_egress'] as const;

export interface ElfFacts {
  readonly machine: number;
  readonly sections: readonly string[];
  readonly strings: string;
}

/** Section names and the symbol string table of a little-endian ELF64 file. */
export function readElf(bytes: Buffer): ElfFacts | string {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
  if (bytes[4] !== 2 || bytes[5] !== 1) return 'not a little-endian 64-bit ELF file';
  const machine = bytes.readUInt16LE(18);
  const shoff = Number(bytes.readBigUInt64LE(40));
  const shentsize = bytes.readUInt16LE(58);
  const shnum = bytes.readUInt16LE(60);
  const shstrndx = bytes.readUInt16LE(62);
  if (shoff + shnum * shentsize > bytes.length || shstrndx >= shnum) return 'truncated section table';
  const header = (i: number) => {
    const at = shoff + i * shentsize;
    return { name: bytes.readUInt32LE(at), type: bytes.readUInt32LE(at + 4), offset: Number(bytes.readBigUInt64LE(at + 24)), size: Number(bytes.readBigUInt64LE(at + 32)) };
  };
  const names = header(shstrndx);
  const cString = (base: number, at: number) => {
    const start = base + at;
    const end = bytes.indexOf(0, start);
    return bytes.toString('latin1', start, end < 0 ? bytes.length : end);
  };
  const sections: string[] = [];
  let strings = '';
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const name = cString(names.offset, h.name);
    sections.push(name);
    // SHT_STRTAB (3) named .strtab holds the symbol names.
    if (h.type === 3 && name === '.strtab') strings = bytes.toString('latin1', h.offset, h.offset + h.size);
  }
  return { machine, sections, strings };
}

/** What is wrong with the package's built files; empty when it may be packed. */
export function checkPackage(root: string): string[] {
  const problems: string[] = [];
  const objectPath = join(root, 'bpf/build/segc.bpf.o');
  let bytes: Buffer;
  try {
    bytes = readFileSync(objectPath);
  } catch {
    return [`${objectPath} is missing: run 'make bpf' (the package carries the compiled data path)`];
  }
  const elf = readElf(bytes);
  if (typeof elf === 'string') return [`${objectPath}: ${elf}`];
  if (elf.machine !== EM_BPF) problems.push(`${objectPath}: machine ${elf.machine}, expected BPF (${EM_BPF})`);
  for (const s of NEEDED_SECTIONS) if (!elf.sections.includes(s)) problems.push(`${objectPath}: no ${s} section`);
  for (const s of NEEDED_SYMBOLS) if (!elf.strings.split('\0').includes(s)) problems.push(`${objectPath}: no ${s} program`);
  const objectTime = statSync(objectPath).mtimeMs;
  for (const source of ['bpf/segc.bpf.c', 'bpf/segc_abi.h']) {
    if (statSync(join(root, source)).mtimeMs > objectTime) problems.push(`${objectPath} is older than ${source}: run 'make bpf'`);
  }
  // The agent's session census program (runtime/session-census.ts) ships beside the classifier.
  for (const built of ['dist/cli/segc.js', 'dist/runtime/cli/main.js', 'bpf/build/segc_census.bpf.o']) {
    try {
      statSync(join(root, built));
    } catch {
      problems.push(`${built} is missing: run 'npm run build'`);
    }
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problems = checkPackage(ROOT);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`check-package: ${p}\n`);
    process.exit(1);
  }
  process.stdout.write(`check-package: bpf/build/segc.bpf.o (data path version ${DATAPATH_VERSION}) and the bundled CLI are ready\n`);
}
