// Rule expiry: dates are calendar days, a rule is in force through its date, and the check
// reports expired rules as errors and rules within the window as warnings, for a given today.
import { describe, expect, it } from 'vitest';
import { Code } from '../../compiler/diagnostics.ts';
import { parseIsoDate, formatIsoDate, checkExpiry } from '../../compiler/expiry.ts';
import { hashProgram } from '../../compiler/hash.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';

const policy = `policy ingress {
  100 vendor: allow tcp from 192.0.2.0/24 to any port 22 "vendor" expires 2027-03-31
  200         allow tcp from any to any port 443 expires 2027-04-30
  300 web:    allow tcp from any to any port 80
}
`;

function codesOn(today: string, windowDays = 14): string[] {
  const c = compile(['p.seg'], createMemoryHost({ 'p.seg': policy }), { expiry: { today: parseIsoDate(today)!, windowDays } });
  return c.diagnostics.map((d) => `${d.code} ${d.message}`);
}

describe('expiry dates', () => {
  it('reads real calendar days only', () => {
    expect(parseIsoDate('2027-03-31')).toBe(Date.UTC(2027, 2, 31) / 86_400_000);
    expect(parseIsoDate('2027-02-29')).toBeUndefined();
    expect(parseIsoDate('2028-02-29')).toBeDefined();
    expect(parseIsoDate('2027-3-31')).toBeUndefined();
    expect(formatIsoDate(parseIsoDate('2027-03-31')!)).toBe('2027-03-31');
  });

  it('keeps the rule in force through its date, warns within the window and errs after', () => {
    expect(codesOn('2027-03-01')).toEqual([]);
    expect(codesOn('2027-03-17')).toEqual([`${Code.RuleExpiresSoon} rule 'vendor' expires on 2027-03-31, in 14 days`]);
    expect(codesOn('2027-03-31')).toEqual([`${Code.RuleExpiresSoon} rule 'vendor' expires on 2027-03-31, in 0 days`]);
    expect(codesOn('2027-04-01')).toEqual([`${Code.RuleExpired} rule 'vendor' expired on 2027-03-31`]);
    expect(codesOn('2027-05-01')).toEqual([`${Code.RuleExpired} rule 'vendor' expired on 2027-03-31`, `${Code.RuleExpired} rule ingress/200 expired on 2027-04-30`]);
    expect(codesOn('2027-03-01', 60)).toHaveLength(2);
  });

  it('changes not what a rule matches, only the hash', () => {
    const plain = compile(['p.seg'], createMemoryHost({ 'p.seg': 'policy ingress {\n  100 web: allow tcp from any to any port 80\n}\n' })).ir!;
    const dated = compile(['p.seg'], createMemoryHost({ 'p.seg': 'policy ingress {\n  100 web: allow tcp from any to any port 80 expires 2030-01-01\n}\n' })).ir!;
    expect(hashProgram(dated)).not.toBe(hashProgram(plain));
    expect(checkExpiry(plain, { today: 0, windowDays: 14 })).toEqual([]);
    expect({ ...dated.rules[0], expires: undefined, span: null }).toEqual({ ...plain.rules[0], expires: undefined, span: null });
  });

  it('reports a date that is no calendar day', () => {
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': 'policy ingress {\n  100 allow tcp from any to any expires 2027-13-01\n}\n' }));
    expect(c.diagnostics.map((d) => d.code)).toEqual([Code.InvalidDate]);
    expect(c.ir).toBeUndefined();
  });
});
