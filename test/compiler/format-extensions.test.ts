// `segc fmt` on segc's extensions: test blocks (aligned expectations, comments and blank lines
// kept, packets in canonical spacing) and `expires` tails (their own column); idempotent, and
// format's own re-parse proves the meaning is unchanged.
import { describe, expect, it } from 'vitest';
import { formatSource } from '../../compiler/format.ts';
import { createSourceFile } from '../../compiler/source.ts';

const fmt = (text: string) => formatSource(createSourceFile('a.seg', text)).text;

describe('fmt on test blocks and expiry dates', () => {
  it('aligns expectations, keeps comments and blank lines, and writes packets canonically', () => {
    const input = `policy ingress default deny {
  100 ssh: allow tcp from 10.20.0.0/16 to any port 22 "office" expires 2027-03-31
  200 web: allow tcp from any to any port 443
}
test   "office"   {
    expect allow tcp 10.20.1.5 : 40000  ->  10.0.1.7:22   ingress   # why
  expect rule ssh tcp 10.20.1.5 -> 10.0.1.7:22

  # unnamed rules by direction/priority
  expect rule ingress/200 tcp [2001:db8::1]:1 -> [2001:db8::2]:443
}
`;
    const out = fmt(input);
    expect(out).toBe(`policy ingress default deny {
  100 ssh: allow tcp from 10.20.0.0/16 to any port 22  "office" expires 2027-03-31
  200 web: allow tcp from any          to any port 443
}
test "office" {
  expect allow            tcp 10.20.1.5:40000 -> 10.0.1.7:22       ingress # why
  expect rule ssh         tcp 10.20.1.5 -> 10.0.1.7:22

  # unnamed rules by direction/priority
  expect rule ingress/200 tcp [2001:db8::1]:1 -> [2001:db8::2]:443
}
`);
    expect(fmt(out!)).toBe(out);
  });

  it('puts nosession and expires in one column of options, nosession first', () => {
    const input = `policy egress default deny {
  100 dns: allow udp from any to any port 53   nosession
  200 ntp: allow udp from any to any port 123 "time"   nosession   expires 2027-03-31
  300 web: allow tcp from any to any port 443 expires 2027-03-31
}
`;
    const out = fmt(input);
    expect(out).toBe(`policy egress default deny {
  100 dns: allow udp from any to any port 53         nosession
  200 ntp: allow udp from any to any port 123 "time" nosession expires 2027-03-31
  300 web: allow tcp from any to any port 443        expires 2027-03-31
}
`);
    expect(fmt(out!)).toBe(out);
  });

  it('refuses a test block with a syntax error', () => {
    const r = formatSource(createSourceFile('a.seg', 'test "t" {\n  expect maybe tcp 10.0.0.1 -> 10.0.0.2:22\n}\n'));
    expect(r.text).toBeUndefined();
    expect(r.diagnostics.length).toBeGreaterThan(0);
  });
});
