import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseAddress } from '../../compiler/cidr.ts';
import { CLASS_FIELD_COUNT, DIMENSION_COUNT, fieldAt, MATCH_FIELDS } from '../../compiler/match-fields.ts';
import { SEG_CLASS_FIELDS } from '../../compiler/policy-abi.ts';
import { packetFamily, type Packet } from '../../compiler/packet.ts';
import { randomPacket, randomProgram } from '../support/random-policy.ts';

/** The packet's value of a field as a number, or undefined when the packet lacks it. */
function valueOf(packet: Packet, key: (typeof MATCH_FIELDS)[number]['packet']): bigint | undefined {
  const v = packet[key];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return parseAddress(v)?.value;
  return BigInt(v);
}

describe('the match-field table', () => {
  it('has as many class fields as the classifier ANDs rows (SEG_CLASS_FIELDS, from the BTF)', () => {
    expect(CLASS_FIELD_COUNT).toBe(SEG_CLASS_FIELDS);
  });

  it('gives every analysis dimension of every packet shape at most one field', () => {
    for (const shape of ['ports', 'icmp', 'bare'] as const) {
      for (let d = 0; d < DIMENSION_COUNT; d++) {
        expect(MATCH_FIELDS.filter((f) => f.dimension === d && f.shapes.includes(shape)).length, `${shape} ${d}`).toBeLessThanOrEqual(1);
      }
      expect(fieldAt(shape, 0)?.name).toBe('protocol');
    }
  });

  it("each field's interval constraint says what its test decides, for random rules and packets", () => {
    fc.assert(
      fc.property(randomProgram({ maxRules: 6 }), fc.array(randomPacket, { minLength: 1, maxLength: 20 }), (ir, packets) => {
        for (const rule of ir.rules) {
          for (const packet of packets) {
            const family = packetFamily(packet);
            for (const field of MATCH_FIELDS) {
              const constraint = field.constraint(rule, family);
              const value = valueOf(packet, field.packet);
              const expected = constraint === null || (value !== undefined && constraint.some(([lo, hi]) => value >= lo && value <= hi));
              expect(field.matches(rule, packet, family), `${field.name}`).toBe(expected);
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
