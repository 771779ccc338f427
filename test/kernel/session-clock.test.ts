import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { flushSessions, readSessions } from '../../runtime/datapath/sessions.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { programIr } from '../support/ir-builder.ts';
import { deployIr, KERNEL_AVAILABLE, setFlags } from '../support/datapath-harness.ts';

// The session clock (bpf/lib/session.h seg_now_ns) is the coarse clock read through a per-CPU
// cache keyed by jiffies: its time base must still be CLOCK_MONOTONIC (process.hrtime), so that
// last-seen times mean what docs/datapath.md says, and a session hit must never move a session's
// last-seen time backwards. The cache lags by a tick or two (at most 10 ms each); one second of
// slack is far beyond that and far below any other time base (jiffies start 300 s before zero).
const SLACK_NS = 1_000_000_000n;

describe.skipIf(!KERNEL_AVAILABLE)('the session clock', () => {
  let dp: Datapath;

  beforeAll(() => {
    dp = loadDatapath({ sessions: 64, rulesPerSlot: 64 });
  });
  afterAll(() => {
    if (dp) closeDatapath(dp);
  });

  it('stamps a new session and a session hit with CLOCK_MONOTONIC time', () => {
    setFlags(dp, 0);
    flushSessions(dp);
    deployIr(dp, programIr({ ingress: { default: 'allow', rules: [] }, egress: { default: 'allow', rules: [] } }));
    const flow = { proto: 17, src: '10.0.0.1', dst: '10.0.0.9', srcPort: 5000, dstPort: 53 };
    const before = process.hrtime.bigint();
    runFrame(dp, 'egress', buildFrame(flow));
    const opened = readSessions(dp)[0]?.lastSeenNs ?? 0n;
    const after = process.hrtime.bigint();
    expect(opened).toBeGreaterThan(before - SLACK_NS);
    expect(opened).toBeLessThan(after + SLACK_NS);

    runFrame(dp, 'ingress', buildFrame({ ...flow, src: flow.dst, dst: flow.src, srcPort: 53, dstPort: 5000 }));
    const hit = readSessions(dp)[0];
    expect(hit?.packets).toBe(2n);
    expect(hit?.lastSeenNs).toBeGreaterThanOrEqual(opened);
    expect(hit?.lastSeenNs).toBeLessThan(process.hrtime.bigint() + SLACK_NS);
  });
});
