import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { emit } from '../../compiler/emit.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import { formatPacket, type Packet } from '../../compiler/packet.ts';
import type { ProgramIr } from '../../compiler/ir.ts';
import { SegMap } from '../../runtime/datapath/abi.ts';
import { createKernelModel, modelClassify } from '../support/kernel-model.ts';
import { programIr } from '../support/ir-builder.ts';
import { randomPacket, randomProgram } from '../support/random-policy.ts';

function expectAgreement(ir: ProgramIr, packets: readonly Packet[]): void {
  const model = createKernelModel(emit(ir));
  for (const packet of packets) {
    for (const [dir, direction] of [ir.ingress, ir.egress].entries()) {
      const want = evaluate(direction, packet);
      const got = modelClassify(model, dir as 0 | 1, packet);
      const wantRule = want.rule?.id ?? null;
      if (got.verdict !== want.verdict || got.rule !== wantRule) {
        throw new Error(
          `${direction.direction} ${formatPacket(packet)}: evaluate says ${want.verdict} by ${want.rule?.name ?? 'default'} (${wantRule}), the emitted tables say ${got.verdict} by rule ${got.rule}`,
        );
      }
    }
  }
}

describe('emit', () => {
  it('gives the same verdict and rule as the reference interpreter on random policies and packets', () => {
    fc.assert(
      fc.property(randomProgram(), fc.array(randomPacket, { minLength: 50, maxLength: 50 }), (ir, packets) => {
        expectAgreement(ir, packets);
      }),
      { numRuns: 150 },
    );
  });

  it('agrees with the interpreter on random policies spanning several bitmap chunks', () => {
    fc.assert(
      fc.property(randomProgram({ minRules: 1100, maxRules: 1200 }), fc.array(randomPacket, { minLength: 200, maxLength: 200 }), (ir, packets) => {
        fc.pre(ir.ingress.rules.length > 512 && ir.egress.rules.length > 512);
        expectAgreement(ir, packets);
      }),
      { numRuns: 4 },
    );
  });

  it('agrees with the interpreter when a direction has more rules than one bitmap chunk holds', () => {
    const rules = Array.from({ length: 1300 }, (_, i) => ({
      action: (i % 3 === 0 ? 'deny' : 'allow') as 'allow' | 'deny',
      proto: 'tcp' as const,
      from: `10.${(i >> 8) & 255}.${i & 255}.0/24`,
      dport: 1000 + (i % 700),
    }));
    const ir = programIr({ ingress: { default: 'deny', rules: [...rules, { action: 'allow', proto: 'udp' }] } });
    const packets: Packet[] = [];
    for (let i = 0; i < 1300; i += 7) {
      packets.push({ proto: 6, src: `10.${(i >> 8) & 255}.${i & 255}.9`, dst: '192.0.2.1', srcPort: 40000, dstPort: 1000 + (i % 700) });
      packets.push({ proto: 6, src: `10.${(i >> 8) & 255}.${i & 255}.9`, dst: '192.0.2.1', srcPort: 40000, dstPort: 1999 });
    }
    packets.push({ proto: 17, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 });
    expectAgreement(ir, packets);
    const image = emit(ir);
    expect(image.stats.ingress.chunks).toBe(3);
  });

  it('sizes the ICMP table to one entry when no rule tests an ICMP type', () => {
    const without = emit(programIr({ ingress: { rules: [{ action: 'allow', proto: 'icmp' }] } }));
    const withType = emit(programIr({ ingress: { rules: [{ action: 'allow', proto: 'icmp', icmp: { type: 'echo-request' } }] } }));
    const icmp = (image: ReturnType<typeof emit>) => image.maps.find((m) => m.name === SegMap.slotIcmp)?.maxEntries;
    expect(icmp(without)).toBe(1);
    expect(icmp(withType)).toBe(131072);
  });

  it('puts one trie entry per distinct prefix, plus /0 per direction, family and field', () => {
    const ir = programIr({
      ingress: { rules: [{ action: 'allow', from: '10.0.0.0/8' }, { action: 'deny', from: ['10.1.0.0/16', '10.0.0.0/8'] }] },
    });
    const image = emit(ir);
    // Per direction, family and field: /0 always; 10.0.0.0/8 for the source (the IR merged the
    // second rule's 10.1.0.0/16 into its 10.0.0.0/8).
    expect(image.stats.prefixEntries).toBe(2 * 2 * 2 + 1);
  });

  it('is deterministic: the same program gives the same bytes', () => {
    fc.assert(
      fc.property(randomProgram({ maxRules: 6 }), (ir) => {
        const a = emit(ir);
        const b = emit(ir);
        expect(Buffer.from(a.meta).equals(Buffer.from(b.meta))).toBe(true);
        for (const [i, m] of a.maps.entries()) expect(Buffer.from(m.values).equals(Buffer.from(b.maps[i]?.values ?? []))).toBe(true);
      }),
      { numRuns: 20 },
    );
  });
});
