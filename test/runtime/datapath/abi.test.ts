import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { abiOf, fingerprintOf, generateAbi, OUTPUTS, readBtf } from '../../../scripts/gen-abi.ts';
import { ABI_FINGERPRINT, ABI_STRUCTS, SEG_MAPS } from '../../../runtime/datapath/abi.ts';
import { DATAPATH_VERSION, VERSION_FINGERPRINTS } from '../../../runtime/datapath/version.ts';

const OBJECT = 'bpf/build/segc.bpf.o';

function hasBpftool(): boolean {
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = existsSync(OBJECT) && hasBpftool();

describe.skipIf(!available)('the generated kernel contract against the BTF of bpf/build/segc.bpf.o', () => {
  it('runtime/datapath/abi.ts and compiler/policy-abi.ts are what scripts/gen-abi.ts makes of the built object (run make bpf when this fails)', () => {
    const fresh = generateAbi(OBJECT);
    expect(readFileSync(OUTPUTS.runtime, 'utf8')).toBe(fresh.runtime);
    expect(readFileSync(OUTPUTS.policy, 'utf8')).toBe(fresh.policy);
  });

  it('the layouts are the ones DATAPATH_VERSION names: a layout change bumps the version (and brings its migration)', () => {
    expect(fingerprintOf(abiOf(readBtf(OBJECT)))).toBe(ABI_FINGERPRINT);
    expect(VERSION_FINGERPRINTS[DATAPATH_VERSION], `DATAPATH_VERSION ${DATAPATH_VERSION} records another fingerprint: bump it, record ${ABI_FINGERPRINT} and write the migration`).toBe(ABI_FINGERPRINT);
  });
});

describe('the generated kernel contract', () => {
  it('every map names a key and value layout the contract has (or a scalar)', () => {
    for (const m of Object.values(SEG_MAPS)) {
      for (const side of [m.key, m.value]) {
        if (side === 'u32' || side === 'none') continue;
        expect(Object.keys(ABI_STRUCTS), `${m.name}: ${side}`).toContain(side);
      }
    }
  });

  it('every layout has members in order, inside the struct, without overlap', () => {
    for (const layout of Object.values(ABI_STRUCTS)) {
      let end = 0;
      for (const [name, f] of Object.entries(layout.fields)) {
        expect(f.offset, `${layout.name}.${name}`).toBeGreaterThanOrEqual(end);
        end = f.offset + f.size;
      }
      expect(end).toBeLessThanOrEqual(layout.size);
    }
  });
});
