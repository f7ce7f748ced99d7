/**
 * Herald's metrics, on prom-client: a `Metrics` object owns one prom-client Registry (never prom-client's global
 * register), so two Heralds in one process (tests) or a future per-instance wiring never share series. prom-client
 * renders the text exposition format with spec-correct escaping of HELP text and label values.
 *
 * Counters and gauges are prom-client's; histograms are Herald's own series (observed on every ACK: ~20 ns
 * instead of prom-client's ~430 ns per labelled observation) registered in the same Registry and rendered by it.
 *
 * Conventions (Prometheus): base units (seconds, bytes), `_total` for counters, `_seconds` for durations.
 * Label names are declared with each metric; a call with an undeclared label throws (a programming error, caught
 * by the tests), so every call site states its labels up front.
 *
 * Ownership: each Herald instance creates one `Metrics` (startHerald) and hands it to its stages; the only
 * process-wide registry holds the process metrics (CPU, memory, GC, event loop: facts of the process, collected
 * once), which an instance shows after its own. Each metric has one writer module, the one that declares it: that module exports a
 * `xxxMetrics(m: Metrics)` factory returning its handles, which its stages call with the Metrics they are given.
 * The registry only reads the metrics when scraped. Declaring a name twice in one Metrics returns the first
 * declaration, so a factory called by several objects of one instance (every Guard, every Informer) shares the
 * series, and a test reads a production series by declaring it again in the instance it started.
 */
import * as client from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

export interface Counter {
  inc(labels?: Labels, by?: number): void;
  /** The current value of one series (tests and the admin API; O(series)). */
  get(labels?: Labels): number;
  /** A pre-bound series for a hot path. */
  labels(labels: Labels): { inc(by?: number): void };
}

export interface Gauge {
  set(value: number, labels?: Labels): void;
  get(labels?: Labels): number;
  labels(labels: Labels): { set(value: number): void };
  /** Drops one series (e.g. a view that no longer exists). */
  remove(labels: Labels): void;
}

export interface HistogramSummary {
  /** Upper bounds in seconds, then +Inf. */
  readonly buckets: ReadonlyArray<{ readonly le: number | '+Inf'; readonly count: number }>;
  readonly count: number;
  readonly sum: number;
}

export interface Histogram {
  /** @param seconds the observed duration (or other base-unit value) */
  observe(seconds: number, labels?: Labels): void;
  labels(labels: Labels): { observe(seconds: number): void };
  /** Cumulative buckets summed over every series whose labels include `match` (the admin API's summaries). */
  summary(match?: Labels): HistogramSummary;
}

/** Default histogram buckets, seconds: 1 ms … 10 s. */
export const SECONDS_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Fine buckets for convergence, seconds: 1 ms … 30 s. */
export const CONVERGENCE_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];


/**
 * `labels` with its keys in sorted order (the same object when they already are): prom-client prints a series'
 * labels in the order of the object that created it, and sorted output is stable for people and tests.
 */
function sorted(labels: Labels): Labels {
  const keys = Object.keys(labels);
  let ordered = true;
  for (let i = 1; i < keys.length && ordered; i++) if (keys[i - 1]! > keys[i]!) ordered = false;
  if (ordered) return labels;
  const out: Record<string, string> = {};
  for (const k of keys.sort()) out[k] = labels[k]!;
  return out;
}

function matches(have: Record<string, string | number>, want: Labels): boolean {
  for (const k of Object.keys(want)) if (String(have[k]) !== want[k]) return false;
  return true;
}

function exact(have: Record<string, string | number>, want: Labels): boolean {
  return Object.keys(have).length === Object.keys(want).length && matches(have, want);
}

/** One registry and the metrics declared in it. */
let processMetrics: client.Registry | undefined;

/**
 * Process and Node.js metrics describe the process, not a Herald instance, and prom-client's collector starts an
 * event-loop monitor and a GC observer that cannot be stopped: one collector per process, read by every instance
 * that shows them (two Heralds in one process show the same process figures, as they should).
 */
function processRegistry(): client.Registry {
  if (!processMetrics) {
    processMetrics = new client.Registry();
    client.collectDefaultMetrics({ register: processMetrics, eventLoopMonitoringPrecision: 10 });
  }
  return processMetrics;
}

export class Metrics {
  readonly registry = new client.Registry();
  private readonly declared = new Map<string, Counter | Gauge | Histogram>();
  /** The process-wide registry of process metrics, once collectProcessMetrics ran. */
  private process: client.Registry | undefined;

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The registry in the Prometheus text format, then the process metrics when collected. */
  async render(): Promise<string> {
    const own = await this.registry.metrics();
    return this.process ? own + (await this.process.metrics()) : own;
  }

  /** Whether a metric of this name is served (Herald's own or a process metric). */
  serves(name: string): boolean {
    return this.declared.has(name) || this.registry.getSingleMetric(name) !== undefined || this.process?.getSingleMetric(name) !== undefined;
  }

  /**
   * Process and Node.js metrics (CPU, memory, GC, handles, event-loop lag from perf_hooks monitorEventLoopDelay)
   * (rendered after this registry's), and `herald_build_info` into it. Once; Herald's start calls it, the CLI and
   * unit tests do not.
   */
  collectProcessMetrics(version: string): void {
    if (this.process) return;
    this.process = processRegistry();
    this.gauge('herald_build_info', 'Herald build: version and Node.js version (always 1)', ['version', 'node']).set(1, { version, node: process.version });
  }

  /** The names of the metrics declared so far (Herald's own; not the process metrics). */
  names(): string[] {
    return [...this.declared.keys()];
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const known = this.declared.get(name);
    if (known) return known as Counter;
    // Bound series count in a plain number, added to prom-client's series when read (scrape, get): an
    // increment on a hot path (every response, every ACK) is one addition instead of a label hash and map update.
    const bound = new Map<string, { labels: Labels; n: number }>();
    const flush = () => {
      for (const b of bound.values()) {
        if (b.n === 0) continue;
        c.inc(b.labels, b.n);
        b.n = 0;
      }
    };
    const c = new client.Counter({ name, help: help || name, labelNames, registers: [this.registry], collect: flush });
    const values = () => (c as unknown as { hashMap: Record<string, { labels: Record<string, string>; value: number }> }).hashMap;
    const out: Counter = {
      inc: (labels, by = 1) => (labels ? c.inc(sorted(labels), by) : c.inc(by)),
      get: (labels = {}) => {
        flush();
        return Object.values(values()).find((v) => exact(v.labels, labels))?.value ?? 0;
      },
      labels: (labels) => {
        const ordered = sorted(labels);
        const key = JSON.stringify(ordered);
        let b = bound.get(key);
        if (!b) {
          // Validates the label names now, as an unbound inc would.
          c.labels(ordered);
          bound.set(key, (b = { labels: ordered, n: 0 }));
        }
        const series = b;
        return { inc: (by = 1) => void (series.n += by) };
      },
    };
    this.declared.set(name, out);
    return out;
  }

  /**
   * A gauge. With `read` (an unlabelled gauge whose value changes on a hot path, e.g. bytes buffered), the value
   * is read from it whenever the gauge is (scrape, get) instead of being set.
   */
  gauge(name: string, help: string, labelNames: readonly string[] = [], read?: () => number): Gauge {
    const known = this.declared.get(name);
    if (known) return known as Gauge;
    const collect = read ? () => g.set(read()) : undefined;
    const g: client.Gauge = new client.Gauge({ name, help: help || name, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
    const values = () => (g as unknown as { hashMap: Record<string, { labels: Record<string, string>; value: number }> }).hashMap;
    const out: Gauge = {
      set: (value, labels) => (labels ? g.set(sorted(labels), value) : g.set(value)),
      get: (labels = {}) => {
        collect?.();
        return Object.values(values()).find((v) => exact(v.labels, labels))?.value ?? 0;
      },
      labels: (labels) => {
        const child = g.labels(sorted(labels));
        return { set: (v) => child.set(v) };
      },
      remove: (labels) => g.remove(sorted(labels)),
    };
    this.declared.set(name, out);
    return out;
  }

  /**
   * A histogram. Observing is on hot paths (every ACK), so the series are Herald's own (an array of per-bucket
   * counts each, found by a label key; `labels()` binds one) and prom-client's registry renders them at scrape
   * time like any of its metrics (same format and escaping).
   */
  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets: readonly number[] = SECONDS_BUCKETS): Histogram {
    const known = this.declared.get(name);
    if (known) return known as Histogram;
    const h = new FastHistogram(name, help || name, labelNames, buckets);
    this.registry.registerMetric(h as unknown as client.Metric);
    const out: Histogram = {
      observe: (seconds, labels) => h.series(labels ?? {}).observe(seconds),
      labels: (labels) => {
        const series = h.series(labels);
        return { observe: (v) => series.observe(v) };
      },
      summary: (match = {}) => h.summary(match),
    };
    this.declared.set(name, out);
    return out;
  }
}

class HistogramSeries {
  /** Per bucket (not cumulative); the last slot counts values above every bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** A histogram prom-client's Registry can render: `name`, `help`, `type` and `get()` as its own metrics have. */
class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bySeries = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    // An unlabelled histogram is exported (all zero) before its first observation, as prom-client's are.
    if (labelNames.length === 0) this.series({});
  }

  series(labels: Labels): HistogramSeries {
    let key = '';
    for (const n of this.labelNames) key += (labels[n] ?? '') + '\u0000';
    let s = this.bySeries.get(key);
    if (!s) {
      for (const k of Object.keys(labels)) if (!this.labelNames.includes(k)) throw new Error(`${this.name}: label ${k} was not declared`);
      const own: Record<string, string> = {};
      for (const n of [...this.labelNames].sort()) if (labels[n] !== undefined) own[n] = labels[n]!;
      this.bySeries.set(key, (s = new HistogramSeries(own, this.bounds)));
    }
    return s;
  }

  summary(match: Labels): HistogramSummary {
    const perBucket = new Array<number>(this.bounds.length).fill(0);
    let count = 0;
    let sum = 0;
    for (const s of this.bySeries.values()) {
      if (!matches(s.labels, match)) continue;
      for (let i = 0; i < perBucket.length; i++) perBucket[i]! += s.counts[i]!;
      count += s.count;
      sum += s.sum;
    }
    let acc = 0;
    const buckets: Array<{ le: number | '+Inf'; count: number }> = this.bounds.map((le, i) => ({ le, count: (acc += perBucket[i]!) }));
    buckets.push({ le: '+Inf', count });
    return { buckets, count, sum };
  }

  /** The series in prom-client's export shape (what Registry.metrics() formats). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> }> {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const s of this.bySeries.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: (acc += s.counts[i]!) }));
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.bySeries.clear();
  }
}
