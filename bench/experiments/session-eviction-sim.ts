// Experiment (not in `make bench`): the eviction traffic of bench/experiments/session-table.ts
// (`--eviction`) over ideal hashing, for an exact LRU and set-associative tables (ways, bucket
// choices, reference bit), to tell a scheme's losses from its hash's and to try variants
// without building them. Prints the share of long-lived flows' packets that found their session.
//
//   node bench/experiments/session-eviction-sim.ts [--sessions N]
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { sessions: { type: 'string', default: '16384' } } });
const capacity = Number(args.sessions);

interface Scheme {
  readonly name: string;
  readonly ways: number;
  readonly choices: number;
  readonly ref: boolean;
}

/** A table over the traffic: `touch` returns whether the flow had a session, and opens one if not. */
type Table = (flow: number) => boolean;

function exactLru(): Table {
  const table = new Map<number, true>();
  return (flow) => {
    if (table.delete(flow)) {
      table.set(flow, true);
      return true;
    }
    table.set(flow, true);
    if (table.size > capacity) table.delete(table.keys().next().value!);
    return false;
  };
}

/** xorshift32, seeded: the same traffic and the same "hash" in every run. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function setAssociative(scheme: Scheme): Table {
  const buckets = Math.floor(capacity / scheme.ways);
  const rnd = random(7);
  const place = new Map<number, number[]>();
  const ways: { flow: number; stamp: number; ref: boolean }[][] = Array.from({ length: buckets }, () => []);
  let now = 0;
  return (flow) => {
    now++;
    let cands = place.get(flow);
    if (!cands) {
      cands = Array.from({ length: scheme.choices }, () => Math.floor(rnd() * buckets));
      place.set(flow, cands);
    }
    for (const b of cands) {
      const way = ways[b]!.find((w) => w.flow === flow);
      if (way) {
        way.stamp = now;
        way.ref = true;
        return true;
      }
    }
    const free = cands.find((b) => ways[b]!.length < scheme.ways);
    if (free !== undefined) {
      ways[free]!.push({ flow, stamp: now, ref: false });
      return false;
    }
    // The victim: unreferenced before referenced (with the bit), then the oldest.
    let best: { b: number; i: number; score: number } | undefined;
    for (const b of cands) {
      ways[b]!.forEach((w, i) => {
        const score = (scheme.ref && !w.ref ? 2 ** 40 : 0) + (now - w.stamp);
        if (!best || score > best.score) best = { b, i, score };
      });
    }
    ways[best!.b]![best!.i] = { flow, stamp: now, ref: false };
    return false;
  };
}

/** The traffic of session-table.ts --eviction: long-lived flows once an epoch, shuffled, beside capacity/4 one-packet flows. */
function hitShare(table: Table, load: number): number {
  const live = Math.floor(capacity * load), churn = Math.floor(capacity / 4);
  const every = Math.max(1, Math.floor(live / churn));
  const rnd = random(1);
  let hits = 0, asked = 0, next = 1e9;
  for (let epoch = 0; epoch < 4; epoch++) {
    const order = Array.from({ length: live }, (_, i) => i);
    for (let i = live - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    order.forEach((flow, j) => {
      const hit = table(flow);
      if (epoch >= 2) {
        asked++;
        if (hit) hits++;
      }
      if (j % every === 0) table(next++);
    });
  }
  return (100 * hits) / asked;
}

const schemes: Scheme[] = [
  { name: '4 ways', ways: 4, choices: 1, ref: false },
  { name: '4 ways, ref', ways: 4, choices: 1, ref: true },
  { name: '8 ways, ref', ways: 8, choices: 1, ref: true },
  { name: '2x4 ways', ways: 4, choices: 2, ref: false },
  { name: '2x4 ways, ref', ways: 4, choices: 2, ref: true },
];
process.stdout.write(`table ${capacity} sessions, ${Math.floor(capacity / 4)} one-packet flows an epoch; long-lived packets that found their session (epochs 3-4)\n`);
for (const load of [0.5, 0.75, 0.9, 1.0]) {
  const cells = [`exact LRU ${hitShare(exactLru(), load).toFixed(1)} %`, ...schemes.map((s) => `${s.name} ${hitShare(setAssociative(s), load).toFixed(1)} %`)];
  process.stdout.write(`  load ${load}: ${cells.join(', ')}\n`);
}
