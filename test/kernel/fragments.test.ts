// Fragments under BPF_PROG_TEST_RUN (bpf/lib/fragments.h): later fragments of a datagram
// whose first fragment passed (by a session or a rule) pass too, in the direction it crossed;
// those of a datagram whose first was dropped, never seen or seen later are classified with
// ports absent. IPv4 and IPv6. docs/datapath.md has the table these cases make.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEG_CFG_STATELESS, SegReason, SegStat } from '../../runtime/datapath/abi.ts';
import type { Packet } from '../../compiler/packet.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { flushFragments, readFragmentKeys } from '../../runtime/datapath/fragments.ts';
import { flushSessions } from '../../runtime/datapath/sessions.ts';
import { readStats } from '../../runtime/datapath/counters.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { deployIr, KERNEL_AVAILABLE, setFlags } from '../support/datapath-harness.ts';
import { programIr } from '../support/ir-builder.ts';

const FAMILIES = [
  { family: 4, host: '10.0.0.1', peer: '10.0.0.9' },
  { family: 6, host: 'fd00::1', peer: 'fd00::9' },
] as const;

/** Ingress: default deny but DNS; egress: everything but port 9 (discard). */
const POLICY = programIr({
  ingress: { default: 'deny', rules: [{ name: 'dns', action: 'allow', proto: 'udp', dport: 53 }] },
  egress: { default: 'allow', rules: [{ name: 'no-discard', action: 'deny', proto: 'udp', dport: 9 }] },
});
const DNS_RULE = 0;

describe.skipIf(!KERNEL_AVAILABLE)('fragments in the kernel', () => {
  let dp: Datapath;

  beforeAll(() => {
    dp = loadDatapath({ sessions: 1024, rulesPerSlot: 1024, fragments: 64 });
  });
  afterAll(() => {
    if (dp) closeDatapath(dp);
  });
  beforeEach(() => {
    setFlags(dp, 0);
    flushSessions(dp);
    flushFragments(dp);
    deployIr(dp, POLICY);
  });

  for (const { family, host, peer } of FAMILIES) {
    const udp = (src: string, dst: string, sport: number, dport: number): Packet => ({ proto: 17, src, dst, srcPort: sport, dstPort: dport });
    const first = (p: Packet, id: number) => buildFrame(p, { fragment: { offset: 0, moreFragments: true, id } });
    const later = (p: Packet, id: number, offset = 185, more = false) => buildFrame({ proto: p.proto, src: p.src, dst: p.dst }, { fragment: { offset, moreFragments: more, id } });

    describe(`IPv${family}`, () => {
      it('passes every fragment of a reply to an allowed outbound flow (session), and no other datagram', () => {
        expect(runFrame(dp, 'egress', buildFrame(udp(host, peer, 40000, 5353)))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_DEFAULT });
        const reply = udp(peer, host, 5353, 40000);
        expect(runFrame(dp, 'ingress', first(reply, 7))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_SESSION });
        expect(runFrame(dp, 'ingress', later(reply, 7, 185, true))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_FRAGMENT });
        expect(runFrame(dp, 'ingress', later(reply, 7, 370))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_FRAGMENT });
        // Another datagram between the same hosts, whose first fragment never came: classified.
        expect(runFrame(dp, 'ingress', later(reply, 8))).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_DEFAULT });
        // The same datagram in the other direction is not the one that passed.
        expect(runFrame(dp, 'egress', later(reply, 7))).toMatchObject({ reason: SegReason.SEG_REASON_DEFAULT });
        expect(readFragmentKeys(dp)).toHaveLength(1);
      });

      it('passes the later fragments of a first fragment a rule allowed, with that rule', () => {
        const query = udp(peer, host, 40001, 53);
        expect(runFrame(dp, 'ingress', first(query, 9))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_RULE, rule: DNS_RULE });
        expect(runFrame(dp, 'ingress', later(query, 9))).toEqual(expect.objectContaining({ verdict: 'allow', reason: SegReason.SEG_REASON_FRAGMENT, rule: DNS_RULE }));
      });

      it('classifies the later fragments of a denied first fragment, and forgets a datagram whose first is denied', () => {
        const unsolicited = udp(peer, host, 40002, 7777);
        expect(runFrame(dp, 'ingress', first(unsolicited, 11))).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_DEFAULT });
        expect(runFrame(dp, 'ingress', later(unsolicited, 11))).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_DEFAULT });
        // Egress: the first fragment of id 12 passes, then a first fragment of the same id that
        // the policy denies replaces it: the later fragments are classified (allowed here by
        // the egress default, but not as FRAGMENT).
        expect(runFrame(dp, 'egress', first(udp(host, peer, 40003, 80), 12))).toMatchObject({ verdict: 'allow' });
        expect(runFrame(dp, 'egress', first(udp(host, peer, 40003, 9), 12))).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_RULE });
        expect(runFrame(dp, 'egress', later(udp(host, peer, 40003, 9), 12))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_DEFAULT });
        expect(readFragmentKeys(dp)).toHaveLength(0);
      });

      it('classifies a later fragment that comes before its first, and every fragment with sessions off', () => {
        const query = udp(peer, host, 40004, 53);
        expect(runFrame(dp, 'ingress', later(query, 13))).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_DEFAULT });
        setFlags(dp, SEG_CFG_STATELESS);
        expect(runFrame(dp, 'ingress', first(query, 14))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_RULE });
        expect(runFrame(dp, 'ingress', later(query, 14))).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_DEFAULT });
        expect(readFragmentKeys(dp)).toHaveLength(0);
      });
    });
  }

  it('counts the fragments it passes, and keeps the table within its size', () => {
    const counted = () => readStats(dp)[SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_FRAGMENT]?.packets ?? 0n;
    const before = counted();
    for (let id = 0; id < 200; id++) runFrame(dp, 'egress', buildFrame({ proto: 17, src: '10.0.0.1', dst: '10.0.0.9', srcPort: 40000, dstPort: 80 }, { fragment: { offset: 0, moreFragments: true, id } }));
    expect(readFragmentKeys(dp).length).toBeLessThanOrEqual(64);
    runFrame(dp, 'egress', buildFrame({ proto: 17, src: '10.0.0.1', dst: '10.0.0.9' }, { fragment: { offset: 185, moreFragments: false, id: 199 } }));
    expect(counted()).toBe(before + 1n);
  });
});
