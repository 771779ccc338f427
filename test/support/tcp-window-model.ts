// Test support: a plain reference model of the TCP sequence-window rule (docs/datapath.md, "TCP
// sequence windows"), written from the rule's statement rather than from bpf/lib/tcp_window.h:
// what a session knows of each endpoint, and whether a segment is the session's. The kernel
// test drives it segment by segment beside the real program under BPF_PROG_TEST_RUN.

/** What the session knows of one endpoint's sequence space. */
export interface EndpointModel {
  /** Heard from: `end` and `maxWindow` hold. */
  known: boolean;
  /** The sequence number after its furthest byte (SYN and FIN count one), mod 2^32. */
  end: number;
  /** The largest window it advertised, in bytes. */
  maxWindow: number;
  /** The window scale its SYN offered, or null. */
  offered: number | null;
  /** Its own window scale once the handshake was seen. */
  scale: number;
}

export type ModelState = 'syn-sent' | 'syn-recv' | 'established' | 'fin-wait' | 'closing';

export interface WindowModel {
  a: EndpointModel;
  b: EndpointModel;
  /** The handshake was seen: the scales are known. */
  scaled: boolean;
  state: ModelState;
  initiatorA: boolean;
  finA: boolean;
  finB: boolean;
}

export interface Segment {
  readonly fromA: boolean;
  readonly seq: number;
  readonly ack: number;
  readonly len: number;
  readonly syn: boolean;
  readonly ackFlag: boolean;
  readonly rst: boolean;
  readonly fin: boolean;
  /** The window field as sent. */
  readonly window: number;
  /** A SYN's window scale option, or null. */
  readonly wscale: number | null;
}

/** What the session does with a segment. */
export type Judgement = 'in' | 'outside' | 'reopen';

const MAX_SCALE = 14;
const unknown = (): EndpointModel => ({ known: false, end: 0, maxWindow: 0, offered: null, scale: 0 });

/** Signed distance from b to a on the 2^32 circle. */
function distance(a: number, b: number): number {
  return (a - b) | 0;
}

/** The session a segment opens: it knows the sender (and nothing else). */
export function openModel(seg: Segment): WindowModel {
  const model: WindowModel = {
    a: unknown(),
    b: unknown(),
    scaled: false,
    state: seg.syn && !seg.ackFlag ? 'syn-sent' : 'established',
    initiatorA: seg.fromA,
    finA: false,
    finB: false,
  };
  learn(model, seg);
  // A FIN that opens a session is remembered, the state stays as it opened (session.h).
  if (seg.fin && seg.fromA) model.finA = true;
  else if (seg.fin) model.finB = true;
  return model;
}

/** A session migrated from data-path version 2: established, nothing known. */
export function migratedModel(initiatorA: boolean): WindowModel {
  return { a: unknown(), b: unknown(), scaled: false, state: 'established', initiatorA, finA: false, finB: false };
}

function windowBytes(model: WindowModel, seg: Segment, sender: EndpointModel): number {
  const shift = seg.syn ? 0 : model.scaled ? sender.scale : MAX_SCALE;
  return seg.window * 2 ** shift;
}

function learn(model: WindowModel, seg: Segment): void {
  const sender = seg.fromA ? model.a : model.b;
  const end = (seg.seq + seg.len + (seg.syn ? 1 : 0) + (seg.fin ? 1 : 0)) >>> 0;
  const win = windowBytes(model, seg, sender);
  if (!sender.known || distance(end, sender.end) > 0) sender.end = end;
  if (!sender.known || win > sender.maxWindow) sender.maxWindow = win;
  sender.known = true;
  if (seg.syn) sender.offered = seg.wscale;
}

/** Either endpoint unknown, or the sequence number within the receiver's largest window of the sender's end. */
function inWindow(model: WindowModel, seg: Segment): boolean {
  const sender = seg.fromA ? model.a : model.b;
  const receiver = seg.fromA ? model.b : model.a;
  if (!sender.known || !receiver.known) return true;
  const w = receiver.maxWindow;
  return distance(seg.seq, sender.end) >= -w && distance(seg.seq, sender.end) <= w;
}

function trackFin(model: WindowModel, seg: Segment): void {
  if (seg.fromA) model.finA = true;
  else model.finB = true;
  model.state = model.finA && model.finB ? 'closing' : 'fin-wait';
}

/** The state machine of bpf/lib/session.h for a segment that is the session's. */
function track(model: WindowModel, seg: Segment): void {
  const fromInitiator = seg.fromA === model.initiatorA;
  if (seg.rst) return;
  if (seg.fin) {
    trackFin(model, seg);
    return;
  }
  if (model.state === 'syn-sent' && !fromInitiator && seg.syn && seg.ackFlag) model.state = 'syn-recv';
  else if (model.state === 'syn-recv' && fromInitiator && !seg.syn && seg.ackFlag) model.state = 'established';
}

/**
 * Judges a segment that found the session, and moves the model as the kernel moves the session
 * when the segment is the session's (an RST then ends the session: the caller drops the model).
 */
export function judge(model: WindowModel, seg: Segment): Judgement {
  const synchronized = model.state === 'established' || model.state === 'fin-wait' || model.state === 'closing';
  const fromInitiator = seg.fromA === model.initiatorA;
  const initiator = model.initiatorA ? model.a : model.b;
  const sender = seg.fromA ? model.a : model.b;
  let verdict: Judgement = 'in';
  if (seg.syn && !seg.ackFlag) {
    // RFC 5961 4: a SYN on a synchronized session is not a new connection, except after both FINs.
    if (model.state === 'closing') return 'reopen';
    if (synchronized) return 'outside';
    sender.known = false;
    learn(model, seg);
  } else if (seg.syn) {
    if (model.state === 'syn-sent' && !fromInitiator) {
      if (initiator.known && seg.ack !== initiator.end) return 'outside';
      sender.known = false;
      learn(model, seg);
      const both = model.a.offered !== null && model.b.offered !== null;
      model.a.scale = both ? Math.min(model.a.offered ?? 0, MAX_SCALE) : 0;
      model.b.scale = both ? Math.min(model.b.offered ?? 0, MAX_SCALE) : 0;
      model.scaled = true;
    } else {
      if (!inWindow(model, seg)) return 'outside';
      learn(model, seg);
    }
  } else if (seg.rst) {
    if (model.state === 'syn-sent' && !fromInitiator && initiator.known) verdict = seg.ackFlag && seg.ack === initiator.end ? 'in' : 'outside';
    else verdict = inWindow(model, seg) ? 'in' : 'outside';
    return verdict;
  } else if (inWindow(model, seg)) {
    learn(model, seg);
  }
  track(model, seg);
  return verdict;
}
