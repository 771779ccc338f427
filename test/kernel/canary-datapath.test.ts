// The canary under BPF_PROG_TEST_RUN, differentially: for random policies A (in force) and B
// (the canary), a random share and random packets, the kernel's verdict and rule are A's or B's
// (the reference interpreter's) as the flow hash computed in TypeScript (runtime/datapath/
// flow-hash.ts, one definition with bpf/lib/canary.h) dictates; with no canary, always A's.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emit } from '../../compiler/emit.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import { formatPacket } from '../../compiler/packet.ts';
import { SEG_CFG_CLASSIFY_ND, SEG_CFG_STATELESS, SegReason } from '../../runtime/datapath/abi.ts';
import { readConfig, writeConfig } from '../../runtime/datapath/config.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { flowHash, isCanaryFlow, murmur3, packetFlow } from '../../runtime/datapath/flow-hash.ts';
import { installPolicy } from '../../runtime/datapath/slots.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { DIRECTIONS, KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { randomPacket, randomProgram } from '../support/random-policy.ts';

describe('the flow hash', () => {
  it('is MurmurHash3 x86_32 (published test vectors)', () => {
    expect(murmur3(new Uint8Array(0), 0)).toBe(0);
    expect(murmur3(new Uint8Array(0), 1)).toBe(0x514e28b7);
    expect(murmur3(new Uint8Array([0x21, 0x43, 0x65, 0x87]), 0)).toBe(0xf55b516b);
  });

  it('is the same for both directions of a flow', () => {
    fc.assert(
      fc.property(randomPacket, (p) => {
        const back = { ...p, src: p.dst, dst: p.src, ...(p.srcPort === undefined ? {} : { srcPort: p.dstPort, dstPort: p.srcPort }) };
        expect(flowHash(packetFlow(back))).toBe(flowHash(packetFlow(p)));
      }),
    );
  });
});

describe.skipIf(!KERNEL_AVAILABLE)('the canary under BPF_PROG_TEST_RUN', () => {
  let dp: Datapath;
  let generation = 0n;
  beforeAll(() => {
    dp = loadDatapath({ sessions: 4096, rulesPerSlot: 16384 });
    writeConfig(dp, { ...readConfig(dp), flags: SEG_CFG_STATELESS | SEG_CFG_CLASSIFY_ND });
  });
  afterAll(() => {
    if (dp) closeDatapath(dp);
  });

  /** A in slot 0 (in force), B in slot 1 as the canary at `shareBp`. */
  const installBoth = (a: ReturnType<typeof emit>, b: ReturnType<typeof emit>, shareBp: number) => {
    writeConfig(dp, { ...readConfig(dp), activeSlot: 1, canaryGeneration: 0n, canaryShare: 0 });
    installPolicy(dp, a, { slot: 0, generation: (generation += 1n) });
    writeConfig(dp, { ...readConfig(dp), activeSlot: 0 });
    installPolicy(dp, b, { slot: 1, generation: (generation += 1n) });
    writeConfig(dp, { ...readConfig(dp), canaryGeneration: generation, canaryShare: shareBp });
  };

  it("decides every packet as A or B by the flow's hash, for random policies, shares and packets", () => {
    let canaryPackets = 0;
    fc.assert(
      fc.property(randomProgram(), randomProgram(), fc.oneof(fc.constantFrom(0, 10_000, 5_000), fc.integer({ min: 0, max: 10_000 })), fc.array(randomPacket, { minLength: 40, maxLength: 40 }), (a, b, share, packets) => {
        installBoth(emit(a), emit(b), share);
        for (const packet of packets) {
          const canary = isCanaryFlow(flowHash(packetFlow(packet)), share);
          if (canary) canaryPackets++;
          const frame = buildFrame(packet);
          for (const { dir, program } of DIRECTIONS) {
            const ir = canary ? b : a;
            const want = evaluate(dir === 0 ? ir.ingress : ir.egress, packet);
            const got = runFrame(dp, program, frame);
            if (got.reason === SegReason.SEG_REASON_NEIGHBOR_DISCOVERY) continue;
            const where = `${program} ${formatPacket(packet)} at ${share / 100}% (${canary ? 'canary' : 'baseline'})`;
            expect(got.verdict, where).toBe(want.verdict);
            expect(got.rule, where).toBe(want.rule?.id ?? null);
          }
        }
      }),
      { numRuns: 25 },
    );
    expect(canaryPackets).toBeGreaterThan(0);
  });

  it('leaves every packet to the policy in force when the canary share is 0 or no canary is set', () => {
    fc.assert(
      fc.property(randomProgram(), randomProgram(), fc.array(randomPacket, { minLength: 20, maxLength: 20 }), (a, b, packets) => {
        installBoth(emit(a), emit(b), 0);
        for (const packet of packets) {
          for (const { dir, program } of DIRECTIONS) {
            const got = runFrame(dp, program, buildFrame(packet));
            const want = evaluate(dir === 0 ? a.ingress : a.egress, packet);
            expect(got.verdict, formatPacket(packet)).toBe(want.verdict);
          }
        }
      }),
      { numRuns: 10 },
    );
  });
});
