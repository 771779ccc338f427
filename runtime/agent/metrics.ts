// Agent: the Prometheus metrics. One scrape takes one snapshot of every deployment through the
// reader, folds it into totals that never go backwards (continuity.ts), and the prom-client
// metrics' collect callbacks copy those into the registry. Every metric is in docs/metrics.md.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { SegReason, SegStat } from '../datapath/abi.ts';
import { MonotonicTotals, RuleTotals, type Epoch } from './continuity.ts';
import { halfOpenCount, REASON_VALUES, STATE_VALUES, TCP_STATES, reasonLabel, stateLabel, statSlot } from './names.ts';
import type { BundleRule } from '../../compiler/bundle.ts';
import type { DeploymentSnapshot, HostSnapshot, RuleHits } from './reader.ts';

/** Which rules get a series: the N busiest that were hit (default), every rule hit, or none. */
export type RuleMetricsMode = { readonly kind: 'top'; readonly limit: number } | { readonly kind: 'hit' } | { readonly kind: 'none' };

export const DEFAULT_RULE_METRICS: RuleMetricsMode = { kind: 'top', limit: 500 };

export function parseRuleMetricsMode(text: string): RuleMetricsMode | undefined {
  if (text === 'hit' || text === 'none') return { kind: text };
  const m = /^top:(\d+)$/.exec(text);
  return m && Number(m[1]) >= 1 ? { kind: 'top', limit: Number(m[1]) } : undefined;
}

/** What the hot reloader reports per watched deployment (reload.ts). */
export interface ReloadReport {
  readonly name: string;
  readonly successes: number;
  readonly failures: number;
  /** Unix seconds of the last successful reload, or 0. */
  readonly lastSuccessSeconds: number;
  /** Policy hash of the watched files as they are now, or undefined when they do not compile. */
  readonly watchedHash: string | undefined;
}

/** Where a scrape's snapshot comes from: the DeploymentReader (tests pass their own). */
export interface SnapshotSource {
  snapshot(): HostSnapshot;
}

export interface ReloadSource {
  reports(): readonly ReloadReport[];
}

export interface AgentMetricsOptions {
  readonly ruleMetrics?: RuleMetricsMode;
  readonly reloads?: ReloadSource;
  /** A scrape within this many ms of the last collection's start gets its text (0: never; `segc agent` defaults to DEFAULT_SCRAPE_MAX_AGE_MS). */
  readonly maxAgeMs?: number;
  /** The clock of `maxAgeMs`, in ms (tests pass their own). */
  readonly now?: () => number;
  /** Called as each collection's text is ready, with its start by `now` (the agent plans its census refreshes from it). */
  readonly onCollection?: (startedAt: number) => void;
}

/**
 * How long a burst may go on being served one collection, in `maxAgeMs` windows from its
 * start: the freshest text a steady stream of scrapes (each within `maxAgeMs` of the one
 * before) can be served is this many windows old (2 s at the default 500 ms).
 */
export const BURST_WINDOWS = 4;

/** A collection and the scrapes it serves: when it started and when it last served one (by the metrics' clock). */
interface Collection {
  readonly startedAt: number;
  servedAt: number;
  done: boolean;
  /** prom-client's text of the other metrics, and the rule series already as UTF-8 bytes. */
  readonly parts: Promise<{ readonly prom: string; readonly rules: Buffer }>;
  /** Its text and its bytes, each made once, when a client first asks for it (`scrape`, `scrapeBody`). */
  text: Promise<string> | undefined;
  body: Promise<Buffer> | undefined;
}

/** `segc agent`'s default for `--scrape-max-age`: well below any scrape interval, longer than a burst of clients takes to arrive. */
export const DEFAULT_SCRAPE_MAX_AGE_MS = 500;

// prom-client's parts the agent uses, file by file: its index also loads the Pushgateway (node:https,
// so TLS and OpenSSL's tables) and the cluster aggregator (node:cluster), neither of which the
// agent uses, for some 4 MiB of RSS.
const requirePart = createRequire(import.meta.url);
const Registry = requirePart('prom-client/lib/registry') as typeof PromClient.Registry;
const Counter = requirePart('prom-client/lib/counter') as typeof PromClient.Counter;
const Gauge = requirePart('prom-client/lib/gauge') as typeof PromClient.Gauge;
const collectDefaultMetrics = requirePart('prom-client/lib/defaultMetrics') as typeof PromClient.collectDefaultMetrics;
type Counter = PromClient.Counter;
type Gauge = PromClient.Gauge;

type Labels = Record<string, string>;

const RULE_PACKETS_HELP = 'Packets each rule decided (sessions included), labelled with the rule and its file:line; only rules that were hit, capped by --rule-metrics.';
const RULE_BYTES_HELP = 'Bytes each rule decided; the same series as segc_rule_packets_total.';
/** The rule counters' names and their HELP and TYPE lines, as the bytes every collection writes. */
const RULE_PACKETS_NAME = Buffer.from('segc_rule_packets_total');
const RULE_BYTES_NAME = Buffer.from('segc_rule_bytes_total');
const RULE_PACKETS_HEAD = Buffer.from(`# HELP segc_rule_packets_total ${RULE_PACKETS_HELP}\n# TYPE segc_rule_packets_total counter\n`);
const RULE_BYTES_HEAD = Buffer.from(`# HELP segc_rule_bytes_total ${RULE_BYTES_HELP}\n# TYPE segc_rule_bytes_total counter\n`);

/** A label value as the exposition format escapes it (backslash, newline, double quote). */
function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * A rule series' labels as the exposition format writes them: its key, and its text in every
 * scrape. Joined, not concatenated: a template literal makes a tree of a dozen string pieces
 * that V8 keeps as it is (a 10k-rule policy's keys were 117k objects, 3.6 MiB, for the
 * collector to mark at every full collection); a join makes one flat string.
 */
function ruleLabelText(deployment: string, r: BundleRule): string {
  return ['{deployment="', labelValue(deployment), '",direction="', labelValue(r.direction), '",rule="', labelValue(r.name), '",priority="', labelValue(String(r.priority)), '",action="', labelValue(r.action), '",location="', labelValue(`${r.file}:${r.line}`), '"}'].join('');
}
type Totals = MonotonicTotals<Labels>;

/** A policy's rule series keys (label texts) in its rules' order, and the `RuleTotals` index of each (-1: none yet). */
interface RuleKeys {
  readonly keys: readonly string[];
  readonly series: Int32Array;
}

function keyOf(labels: Labels): string {
  return JSON.stringify(labels);
}

/** Pushes the totals of `totals` into a prom-client counter (after a reset: collect rebuilds it). */
function fillCounter(counter: Counter, totals: Totals, keep: (labels: Labels, total: bigint) => boolean = () => true): void {
  counter.reset();
  for (const { labels, total } of totals.entries()) if (keep(labels, total)) counter.inc(labels, Number(total));
}

/** Default metrics prom-client names like counters but exports as gauges. */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

export class AgentMetrics {
  readonly registry = new Registry();
  readonly #reader: SnapshotSource;
  readonly #ruleMode: RuleMetricsMode;
  readonly #reloads: ReloadSource | undefined;
  #last: HostSnapshot = { deployments: [], unreadable: [], damaged: [], tookMs: 0 };
  readonly #packets: Totals = new MonotonicTotals();
  readonly #bytes: Totals = new MonotonicTotals();
  readonly #reasonPackets: Totals = new MonotonicTotals();
  readonly #reasonBytes: Totals = new MonotonicTotals();
  readonly #events: Totals = new MonotonicTotals();
  readonly #evicted: Totals = new MonotonicTotals();
  readonly #switches: Totals = new MonotonicTotals();
  /** Rule series, keyed by their label text (`{deployment="web",...}`), rendered by `#renderRules`. */
  readonly #rules = new RuleTotals();
  /** The generation last seen in force per deployment, to count switches. */
  readonly #seenGeneration = new Map<string, { maps: number; generation: number; switches: number }>();
  #scrapeErrors = 0;
  /** The rule series this scrape exports (`#rules` indices, chosen once per scrape, for packets and bytes alike), in their order. */
  #ruleSeries: readonly number[] = [];
  /** The rule totals' version `#ruleSeries` was chosen at, and its text once rendered (UTF-8). */
  #rulesVersion = -1;
  #rulesText: Buffer | undefined;
  /** Scratch columns of `#exportedRules` (a deployment's series and their packets), kept between collections. */
  #candidates = new Int32Array(0);
  #candidatePackets = new Float64Array(0);

  constructor(reader: SnapshotSource, options: AgentMetricsOptions = {}) {
    this.#reader = reader;
    this.#maxAgeMs = options.maxAgeMs ?? 0;
    this.#now = options.now ?? (() => performance.now());
    this.#onCollection = options.onCollection;
    this.#ruleMode = options.ruleMetrics ?? DEFAULT_RULE_METRICS;
    this.#reloads = options.reloads;
    collectDefaultMetrics({ register: this.registry });
    // prom-client's gauges of the same counts under a `_total` name, which promtool's lint
    // rejects for a non-counter ("should not have _total suffix"); the per-type gauges
    // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources stay.
    for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    this.#registerTraffic();
    this.#registerSessions();
    this.#registerPolicy();
    this.#registerAgent();
  }

  /**
   * One scrape: the text of a collection (a snapshot of every deployment, folded into the
   * totals, rendered in the text format). Single-flight: a collection starts on the next turn
   * of the event loop, and every scrape that arrives before it ends gets the same text, so N
   * clients cost one walk of the maps, not N. A collection blocks the event loop while it reads
   * and while it renders, so requests that reach the socket meanwhile would only be read after
   * it ended: the collection lets the loop read requests between its steps and twice after its
   * text is ready (a new connection is accepted in one turn, its request read in the next), so
   * they join it. The clients of a burst still arrive over longer than a collection takes, and
   * over longer still while the agent writes their answers (the bench's 50 clients of 3 MiB
   * each arrived over 0.5-1.3 s): a scrape that comes within `maxAgeMs` of the last scrape
   * served a collection's text is served it too, while that collection is at most
   * BURST_WINDOWS times `maxAgeMs` old. With `maxAgeMs` 0 a scrape that arrives after a
   * collection ended starts a new one, so a client that changes something and then scrapes
   * always sees it.
   */
  scrape(): Promise<string> {
    const collection = this.#collection();
    collection.text ??= collection.parts.then(({ prom, rules }) => prom + rules.toString('utf8'));
    return collection.text;
  }

  /**
   * `scrape`'s text as UTF-8 bytes, encoded once per collection for all the clients it serves:
   * written as a string, each response had Node encode the whole text again into a buffer of
   * three bytes a character (for a 3 MiB text, 50 clients took 2.1-3 s of the agent's CPU to
   * write, against 0.1-0.6 s from one buffer; docs/performance.md's sixth round).
   */
  scrapeBody(): Promise<Buffer> {
    const collection = this.#collection();
    collection.body ??= collection.parts.then(({ prom, rules }) => Buffer.concat([Buffer.from(prom, 'utf8'), rules]));
    return collection.body;
  }

  /** The collection a scrape arriving now is served: the one in flight, the last one while its burst goes on, or a new one. */
  #collection(): Collection {
    const now = this.#now();
    const last = this.#recent;
    if (last && (!last.done || (this.#maxAgeMs > 0 && now - last.servedAt <= this.#maxAgeMs && now - last.startedAt <= BURST_WINDOWS * this.#maxAgeMs))) {
      last.servedAt = now;
      return last;
    }
    const parts = (async () => {
      await nextTurn();
      this.refresh();
      await nextTurn();
      const rendered = { prom: await this.registry.metrics(), rules: this.#renderRules() };
      await nextTurn();
      await nextTurn();
      this.#onCollection?.(now);
      return rendered;
    })();
    const collection: Collection = { startedAt: now, servedAt: now, done: false, parts, text: undefined, body: undefined };
    // A failed collection serves no one after it: the next request starts another.
    parts.then(
      () => (collection.done = true),
      () => {
        collection.done = true;
        if (this.#recent === collection) this.#recent = undefined;
      },
    );
    this.#recent = collection;
    return collection;
  }

  /** The last collection (in flight or done). */
  #recent: Collection | undefined;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #onCollection: ((startedAt: number) => void) | undefined;

  /** Collections made so far (one per single-flight scrape; tests read it). */
  get collections(): number {
    return this.#collections;
  }

  #collections = 0;

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Reads every deployment now and folds the counters into the totals. */
  refresh(): HostSnapshot {
    this.#collections++;
    const snapshot = this.#reader.snapshot();
    this.#scrapeErrors += snapshot.unreadable.length;
    for (const d of snapshot.deployments) this.#fold(d);
    this.#last = snapshot;
    // No rule total changed since the last collection (a quiet policy, most of a big one's
    // rules): the same series, in the same order, and the same text.
    const version = this.#rules.version;
    if (version !== this.#rulesVersion) {
      this.#rulesVersion = version;
      this.#ruleSeries = this.#exportedRules();
      this.#rulesText = undefined;
    }
    return snapshot;
  }

  #fold(d: DeploymentSnapshot): void {
    const epoch: Epoch = { maps: d.mapsId, generation: 0 };
    const deployment = d.name;
    d.stats.forEach((c, index) => {
      const slot = statSlot(index);
      if (slot.kind === 'total') return;
      if (slot.kind === 'verdict') {
        const labels = { deployment, direction: slot.direction, verdict: slot.verdict };
        this.#packets.observe(keyOf(labels), labels, epoch, c.packets);
        this.#bytes.observe(keyOf(labels), labels, epoch, c.bytes);
      } else if (slot.kind === 'reason') {
        const labels = { deployment, reason: reasonLabel(slot.reason) };
        this.#reasonPackets.observe(keyOf(labels), labels, epoch, c.packets);
        this.#reasonBytes.observe(keyOf(labels), labels, epoch, c.bytes);
      } else {
        const labels = { deployment, event: slot.event };
        this.#events.observe(keyOf(labels), labels, epoch, c.packets);
      }
    });
    // Evictions are not counted by the kernel: every session that left the table other than by
    // expiry, close or revocation, and is not in it now, was evicted (LRU) or flushed.
    // The counters read with the census (the agent's census may be a few seconds older than the
    // snapshot's counters): both sides of the difference from one moment.
    const atCensus = d.census?.stats ?? d.stats;
    const stat = (i: number) => atCensus[i]?.packets ?? 0n;
    const left = stat(SegStat.SEG_STAT_SESSION_NEW) - stat(SegStat.SEG_STAT_SESSION_EXPIRED) - stat(SegStat.SEG_STAT_SESSION_CLOSED) - stat(SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_SESSION_REVOKED) - BigInt(d.sessions.entries);
    this.#evicted.observe(keyOf({ deployment }), { deployment }, epoch, left > 0n ? left : 0n);
    // Policy switches seen by the agent (deploys, rollbacks, reloads, whoever made them).
    const seen = this.#seenGeneration.get(deployment);
    if (!seen) this.#seenGeneration.set(deployment, { maps: d.mapsId, generation: d.activeGeneration, switches: 0 });
    else if (seen.maps !== d.mapsId || seen.generation !== d.activeGeneration) {
      seen.switches++;
      seen.maps = d.mapsId;
      seen.generation = d.activeGeneration;
    }
    this.#switches.observe(keyOf({ deployment }), { deployment }, { maps: 0, generation: 0 }, BigInt(this.#seenGeneration.get(deployment)?.switches ?? 0));
    if (this.#ruleMode.kind === 'none') return;
    // The standby slot first: its final counts close its epoch before the policy in force opens the next.
    for (const hits of [d.standby, d.inForce]) if (hits) this.#foldRules(deployment, d.mapsId, hits);
  }

  #foldRules(deployment: string, maps: number, hits: RuleHits): void {
    const epoch: Epoch = { maps, generation: hits.generation };
    const { keys, series } = this.#ruleKeys(deployment, hits.rules);
    const totals = this.#rules;
    for (let i = 0; i < keys.length; i++) {
      const id = hits.rules[i]?.id ?? i;
      const key = keys[i] as string;
      const packets = hits.packets[id] ?? 0;
      let at = series[i] as number;
      if (at < 0) at = series[i] = totals.indexOf(key);
      // A rule never hit gets no series (a 10k-rule policy would otherwise export 10k zeros).
      if (packets === 0 && at < 0) continue;
      series[i] = totals.record(at, key, deployment, epoch, packets, hits.bytes[id] ?? 0);
    }
  }

  /**
   * The series keys of a policy's rules, in the rules' order: each is the series' label text as
   * the exposition format writes it, made once per parsed policy (the reader keeps the same
   * rules array while the record does not change), so a scrape neither builds 10k label objects
   * nor formats the exported series' labels again; and each key's series in `#rules` once it
   * has one (-1 before), so a scrape does not look 10k keys up by their text either.
   */
  #ruleKeys(deployment: string, rules: readonly BundleRule[]): RuleKeys {
    const byDeployment = this.#ruleKeyCache.get(rules) ?? new Map<string, RuleKeys>();
    this.#ruleKeyCache.set(rules, byDeployment);
    let made = byDeployment.get(deployment);
    if (!made) {
      made = { keys: rules.map((r) => ruleLabelText(deployment, r)), series: new Int32Array(rules.length).fill(-1) };
      byDeployment.set(deployment, made);
    }
    return made;
  }

  readonly #ruleKeyCache = new WeakMap<readonly BundleRule[], Map<string, RuleKeys>>();

  /**
   * The rule series to export (`#rules` indices): the busiest `limit` per deployment in `top`
   * mode. Per deployment (in the order of their first series), its series that were hit are
   * gathered into scratch columns kept between collections: the lists, map and typed arrays
   * made afresh each time were 240 KiB of garbage a 10k-rule collection.
   */
  #exportedRules(): number[] {
    const totals = this.#rules;
    const n = totals.size;
    if (this.#candidates.length < n) {
      this.#candidates = new Int32Array(Math.max(64, n * 2));
      this.#candidatePackets = new Float64Array(this.#candidates.length);
    }
    const candidates = this.#candidates;
    const owners: string[] = [];
    for (let at = 0; at < n; at++) if (!owners.includes(totals.owner(at))) owners.push(totals.owner(at));
    const mode = this.#ruleMode;
    const chosen: number[] = [];
    for (const owner of owners) {
      let count = 0;
      for (let at = 0; at < n; at++) if (totals.owner(at) === owner && totals.packets(at) !== 0) candidates[count++] = at;
      if (mode.kind === 'top' && count > mode.limit) {
        const packets = this.#candidatePackets.subarray(0, count);
        for (let x = 0; x < count; x++) packets[x] = totals.packets(candidates[x] as number);
        for (const x of busiestPositions(packets, (x) => totals.key(candidates[x] as number), mode.limit)) chosen.push(candidates[x] as number);
      } else for (let x = 0; x < count; x++) chosen.push(candidates[x] as number);
    }
    return chosen;
  }

  /** The two rule counters in the exposition format, as UTF-8 bytes, their label texts as made once (`#ruleKeys`). */
  #renderRules(): Buffer {
    this.#rulesText ??= this.#renderRuleBlocks();
    return this.#rulesText;
  }

  /**
   * Written straight into one buffer of the exact size: the lines, their join and the whole
   * text's flattening and encoding for the response were some 530 KiB of garbage a 10k-rule
   * collection (top:500), the most of anything it made.
   */
  #renderRuleBlocks(): Buffer {
    const totals = this.#rules;
    const series = this.#ruleSeries;
    const packets = series.map((at) => String(totals.packets(at)));
    const bytes = series.map((at) => String(totals.bytes(at)));
    let size = RULE_PACKETS_HEAD.length + RULE_BYTES_HEAD.length + series.length * (RULE_PACKETS_NAME.length + RULE_BYTES_NAME.length + 4);
    for (let i = 0; i < series.length; i++) size += 2 * Buffer.byteLength(totals.key(series[i] as number)) + (packets[i] as string).length + (bytes[i] as string).length;
    const out = Buffer.allocUnsafeSlow(size);
    let pos = 0;
    const block = (head: Buffer, name: Buffer, values: readonly string[]) => {
      pos += head.copy(out, pos);
      for (let i = 0; i < series.length; i++) {
        pos += name.copy(out, pos);
        pos += out.write(totals.key(series[i] as number), pos, 'utf8');
        out[pos++] = 0x20;
        pos += out.write(values[i] as string, pos, 'latin1');
        out[pos++] = 0x0a;
      }
    };
    block(RULE_PACKETS_HEAD, RULE_PACKETS_NAME, packets);
    block(RULE_BYTES_HEAD, RULE_BYTES_NAME, bytes);
    if (pos !== size) throw new Error(`internal: the rule series took ${pos} bytes, ${size} counted`);
    return out;
  }

  /** What the metrics' collect callbacks read (their `this` is the metric). */
  #view() {
    return {
      last: () => this.#last,
      reports: () => this.#reloads?.reports() ?? [],
      scrapeErrors: () => this.#scrapeErrors,
      packets: this.#packets,
      bytes: this.#bytes,
      reasonPackets: this.#reasonPackets,
      reasonBytes: this.#reasonBytes,
      events: this.#events,
      evicted: this.#evicted,
      switches: this.#switches,
    };
  }

  #registerTraffic(): void {
    const registers = [this.registry];
    const self = this.#view();
    new Counter({ name: 'segc_packets_total', help: 'Packets the classifier decided, by deployment, hook direction and verdict.', labelNames: ['deployment', 'direction', 'verdict'], registers, collect() { fillCounter(this, self.packets); } });
    new Counter({ name: 'segc_bytes_total', help: 'Bytes (skb length) of the packets the classifier decided, by deployment, hook direction and verdict.', labelNames: ['deployment', 'direction', 'verdict'], registers, collect() { fillCounter(this, self.bytes); } });
    new Counter({ name: 'segc_reason_packets_total', help: 'Packets by the reason of their verdict (rule, default, session, each parse failure, non_ip, neighbor_discovery, ...).', labelNames: ['deployment', 'reason'], registers, collect() { fillCounter(this, self.reasonPackets); } });
    new Counter({ name: 'segc_reason_bytes_total', help: 'Bytes by the reason of their verdict.', labelNames: ['deployment', 'reason'], registers, collect() { fillCounter(this, self.reasonBytes); } });
    new Counter({ name: 'segc_datapath_events_total', help: 'Data path events other than verdicts and reasons (session_hit, session_miss, session_new, session_table_full, ...).', labelNames: ['deployment', 'event'], registers, collect() { fillCounter(this, self.events); } });
    // segc_rule_packets_total and segc_rule_bytes_total: rendered by #renderRules, not prom-client.
  }

  /** A gauge set afresh at each scrape from every deployment of the last snapshot. */
  #deploymentGauge() {
    const registers = [this.registry];
    const self = { last: () => this.#last };
    return (name: string, help: string, labelNames: string[], fill: (g: Gauge, d: DeploymentSnapshot) => void) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const d of self.last().deployments) fill(this, d);
        },
      });
  }

  /**
   * The canary (deploy --canary): its share, both generations, and the per-role counters the
   * data path keeps while it runs (they start at zero with each canary: a reset, as after a
   * restart, for rate()).
   */
  #registerCanary(): void {
    const registers = [this.registry];
    const gauge = this.#deploymentGauge();
    gauge('segc_canary_share_ratio', 'The share of new flows the running canary judges (0 to 1); absent without a canary.', ['deployment'], (g, d) => {
      if (d.canary) g.set({ deployment: d.name }, d.canary.shareBp / 10_000);
    });
    gauge('segc_canary_generation', 'The policy generation of each role while a canary runs (role "baseline": the policy in force; "canary").', ['deployment', 'role'], (g, d) => {
      if (!d.canary) return;
      g.set({ deployment: d.name, role: 'baseline' }, d.canary.baselineGeneration);
      g.set({ deployment: d.name, role: 'canary' }, d.canary.generation);
    });
    const last = () => this.#last;
    new Counter({
      name: 'segc_canary_packets_total',
      help: 'While a canary runs, packets by role and generation: allow, deny (as they left), flows (classified by the role\'s rules), flow_deny, would_deny, session_hit, revoked.',
      labelNames: ['deployment', 'role', 'generation', 'counter'],
      registers,
      collect() {
        this.reset();
        for (const d of last().deployments) {
          if (!d.canary) continue;
          for (const [role, generation, c] of [['baseline', d.canary.baselineGeneration, d.canary.counts.baseline], ['canary', d.canary.generation, d.canary.counts.canary]] as const) {
            const values = { allow: c.allow, deny: c.deny, flows: c.flows, flow_deny: c.flowDeny, would_deny: c.wouldDeny, session_hit: c.sessionHits, revoked: c.revoked };
            for (const [counter, v] of Object.entries(values)) this.inc({ deployment: d.name, role, generation: String(generation), counter }, Number(v));
          }
        }
      },
    });
  }

  #registerSessions(): void {
    const registers = [this.registry];
    const self = this.#view();
    const eventCounter = (name: string, help: string, stat: number) =>
      new Counter({
        name,
        help,
        labelNames: ['deployment'],
        registers,
        collect() {
          this.reset();
          for (const { labels, total } of self.events.entries()) if (labels['event'] === statSlotEvent(stat)) this.inc({ deployment: labels['deployment'] ?? '' }, Number(total));
        },
      });
    eventCounter('segc_sessions_created_total', 'Sessions opened (the first allowed packet of a flow).', SegStat.SEG_STAT_SESSION_NEW);
    eventCounter('segc_sessions_expired_total', 'Sessions removed because their state timed out.', SegStat.SEG_STAT_SESSION_EXPIRED);
    eventCounter('segc_sessions_closed_total', 'TCP sessions removed at their end (FIN both ways, or RST).', SegStat.SEG_STAT_SESSION_CLOSED);
    eventCounter('segc_session_insert_failures_total', 'Allowed flows the session table could not take (the packet still passed).', SegStat.SEG_STAT_SESSION_TABLE_FULL);
    this.#registerCanary();
    new Counter({ name: 'segc_sessions_evicted_total', help: 'Sessions that left the table other than by expiry, close or revocation (LRU evictions, flushes); derived, see docs/metrics.md.', labelNames: ['deployment'], registers, collect() { fillCounter(this, self.evicted); } });
    const gauge = this.#deploymentGauge();
    gauge('segc_sessions', 'Sessions in the table now.', ['deployment'], (g, d) => g.set({ deployment: d.name }, d.sessions.entries));
    gauge('segc_sessions_census_age_seconds', 'How old the session census behind the session gauges is (seconds; the agent refreshes it ahead of the scrapes, --census-max-age).', ['deployment'], (g, d) => {
      if (d.census) g.set({ deployment: d.name }, d.census.ageMs / 1000);
    });
    gauge('segc_sessions_capacity', 'Capacity of the session table (entries).', ['deployment'], (g, d) => g.set({ deployment: d.name }, d.sessions.capacity));
    gauge('segc_sessions_utilization_ratio', 'Sessions in the table over its capacity (map pressure), 0 to 1.', ['deployment'], (g, d) => g.set({ deployment: d.name }, d.sessions.capacity === 0 ? 0 : d.sessions.entries / d.sessions.capacity));
    gauge('segc_sessions_by_state', 'Sessions in the table by state (TCP states, udp, icmp, other).', ['deployment', 'state'], (g, d) => {
      for (const s of STATE_VALUES) g.set({ deployment: d.name, state: stateLabel(s) }, d.sessions.byState[s] ?? 0);
    });
    gauge('segc_tcp_sessions', 'TCP sessions in the table by state.', ['deployment', 'state'], (g, d) => {
      for (const s of TCP_STATES) g.set({ deployment: d.name, state: stateLabel(s).replace(/^tcp_/, '') }, d.sessions.byState[s] ?? 0);
    });
    gauge('segc_sessions_half_open', 'TCP sessions whose handshake has not finished (syn_sent + syn_recv): the SYN-flood signature.', ['deployment'], (g, d) => {
      g.set({ deployment: d.name }, halfOpenCount(d.sessions.byState));
    });
  }

  #registerPolicy(): void {
    const registers = [this.registry];
    const self = this.#view();
    const gauge = this.#deploymentGauge();
    gauge('segc_policy_info', 'The policy in force (value 1): its hash and generation as recorded by the last deploy.', ['deployment', 'policy_hash', 'generation'], (g, d) => g.set({ deployment: d.name, policy_hash: d.record.policyHash, generation: String(d.record.generation) }, 1));
    gauge('segc_policy_generation', 'Generation of the policy in force in the kernel (the active slot).', ['deployment'], (g, d) => g.set({ deployment: d.name }, d.activeGeneration));
    gauge('segc_policy_in_force', '1 when the kernel enforces the generation the record names, 0 when not (a deploy died half-way: deploy again).', ['deployment'], (g, d) => g.set({ deployment: d.name }, d.activeGeneration === d.record.generation ? 1 : 0));
    gauge('segc_policy_rules', 'Rules of the recorded policy by direction.', ['deployment', 'direction'], (g, d) => {
      g.set({ deployment: d.name, direction: 'ingress' }, d.ruleCounts.ingress);
      g.set({ deployment: d.name, direction: 'egress' }, d.ruleCounts.egress);
    });
    gauge('segc_policy_last_switch_timestamp_seconds', 'When the policy in force was deployed (Unix seconds).', ['deployment'], (g, d) => g.set({ deployment: d.name }, Date.parse(d.record.deployedAt) / 1000));
    new Counter({ name: 'segc_policy_switches_total', help: 'Scrapes at which a new policy generation (or new maps) was in force since the one before; two switches between scrapes count once.', labelNames: ['deployment'], registers, collect() { fillCounter(this, self.switches); } });
    new Counter({
      name: 'segc_reloads_total',
      help: 'Hot reloads of watched policy files by result (success: deployed; failure: refused, the old policy still enforcing).',
      labelNames: ['deployment', 'result'],
      registers,
      collect() {
        this.reset();
        for (const r of self.reports() ?? []) {
          this.inc({ deployment: r.name, result: 'success' }, r.successes);
          this.inc({ deployment: r.name, result: 'failure' }, r.failures);
        }
      },
    });
    new Gauge({
      name: 'segc_reload_last_success_timestamp_seconds',
      help: 'When the watched files of a deployment were last deployed by the agent (Unix seconds, 0 = never).',
      labelNames: ['deployment'],
      registers,
      collect() {
        this.reset();
        for (const r of self.reports() ?? []) this.set({ deployment: r.name }, r.lastSuccessSeconds);
      },
    });
    new Gauge({
      name: 'segc_watch_in_sync',
      help: "1 when the watched files' policy hash equals the deployed one, 0 when not (not deployed yet, or refused).",
      labelNames: ['deployment'],
      registers,
      collect() {
        this.reset();
        const deployed = new Map(self.last().deployments.map((d) => [d.name, d.record.policyHash]));
        for (const r of self.reports() ?? []) this.set({ deployment: r.name }, r.watchedHash !== undefined && r.watchedHash === deployed.get(r.name) ? 1 : 0);
      },
    });
  }

  #registerAgent(): void {
    const registers = [this.registry];
    const self = this.#view();
    new Gauge({ name: 'segc_deployments', help: 'Deployments the agent reads (recorded on this host, pins readable).', registers, collect() { this.set(self.last().deployments.length); } });
    new Gauge({
      name: 'segc_deployment_record_errors',
      help: 'Deployments whose record is damaged (1 each; segc status names the file and the repair). The others are still read.',
      labelNames: ['deployment'],
      registers,
      collect() {
        this.reset();
        for (const d of self.last().damaged) this.set({ deployment: d.name }, 1);
      },
    });
    new Gauge({ name: 'segc_scrape_duration_seconds', help: 'Time the last scrape took to read every deployment.', registers, collect() { this.set(self.last().tookMs / 1000); } });
    const collections = () => this.#collections;
    new Counter({
      name: 'segc_scrape_collections_total',
      help: 'Reads of every deployment the agent made for scrapes; concurrent scrapes share one.',
      registers,
      collect() {
        this.reset();
        this.inc(collections());
      },
    });
    new Counter({
      name: 'segc_scrape_errors_total',
      help: 'Deployments whose pins could not be read during a scrape.',
      registers,
      collect() {
        this.reset();
        this.inc(self.scrapeErrors());
      },
    });
  }
}

/**
 * The keys of the `limit` busiest of `totals` (parallel to `keys`), busiest first, ties by key:
 * a bounded heap of the best `limit` so far, so a 10k-rule policy costs one comparison for most
 * rules instead of sorting them all. Totals are doubles (exact below 2^53 packets; only the choice
 * and order of the top N depend on them).
 */
export function busiest(keys: readonly string[], totals: readonly number[], limit: number): string[] {
  return Array.from(busiestPositions(Float64Array.from(totals), (x) => keys[x] as string, limit), (x) => keys[x] as string);
}

/**
 * `busiest` over positions 0..totals.length-1 (`keyOf` gives a position's key for ties), as
 * positions. Typed arrays and swaps by hand: the heap of numbers and destructuring swaps of the
 * version before made 1.6 MiB of garbage a 10k-rule collection.
 */
function busiestPositions(totals: Float64Array, keyOf: (x: number) => string, limit: number): Int32Array {
  const n = Math.min(limit, totals.length);
  const heap = new Int32Array(n);
  let size = 0;
  // `worse(a, b)`: a ranks below b.
  const worse = (a: number, b: number): boolean => {
    const ta = totals[a] as number;
    const tb = totals[b] as number;
    return ta < tb || (ta === tb && keyOf(a) > keyOf(b));
  };
  const up = (from: number) => {
    for (let i = from; i > 0; ) {
      const parent = (i - 1) >> 1;
      const hi = heap[i] as number;
      const hp = heap[parent] as number;
      if (!worse(hi, hp)) return;
      heap[i] = hp;
      heap[parent] = hi;
      i = parent;
    }
  };
  const down = (from: number) => {
    for (let i = from; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(heap[l] as number, heap[m] as number)) m = l;
      if (r < size && worse(heap[r] as number, heap[m] as number)) m = r;
      if (m === i) return;
      const hi = heap[i] as number;
      heap[i] = heap[m] as number;
      heap[m] = hi;
      i = m;
    }
  };
  for (let x = 0; x < totals.length; x++) {
    if (size < n) {
      heap[size] = x;
      up(size++);
    } else if (n > 0 && worse(heap[0] as number, x)) {
      heap[0] = x;
      down(0);
    }
  }
  // Busiest first: take the worst off the heap's top into the end, n times (a heap sort).
  for (let end = n - 1; end > 0; end--) {
    const top = heap[0] as number;
    heap[0] = heap[end] as number;
    heap[end] = top;
    size = end;
    down(0);
  }
  return heap;
}

/** Resolves after the event loop has polled for I/O once (requests waiting on the socket are read). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function statSlotEvent(stat: number): string {
  const slot = statSlot(stat);
  return slot.kind === 'event' ? slot.event : '';
}

/** Reason labels this build exports (for docs and tests). */
export const REASON_LABELS: readonly string[] = REASON_VALUES.map(reasonLabel);
