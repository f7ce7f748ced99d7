/**
 * A minimal Prometheus-style metrics registry: counters, gauges and summaries-by-histogram keyed by name and
 * labels, rendered in the text exposition format at /metrics. Single-threaded; any module may increment.
 */
type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly series: Map<string, { labels: Labels; value: number; buckets?: number[]; sum?: number; count?: number }>;
}

const families = new Map<string, Family>();
/** Histogram buckets in milliseconds. */
const BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

function family(name: string, help: string, type: Family['type']): Family {
  let f = families.get(name);
  if (!f) families.set(name, (f = { help, type, series: new Map() }));
  return f;
}

/** Keys of label objects seen before: callers on hot paths pass the same (frozen) label object every time. */
const keys = new WeakMap<Labels, string>();

function key(labels: Labels): string {
  if (Object.isFrozen(labels)) {
    let k = keys.get(labels);
    if (k === undefined) keys.set(labels, (k = keyOf(labels)));
    return k;
  }
  return keyOf(labels);
}

function keyOf(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

export interface Counter {
  inc(labels?: Labels, by?: number): void;
  get(labels?: Labels): number;
}

export function counter(name: string, help: string): Counter {
  const f = family(name, help, 'counter');
  return {
    inc(labels = {}, by = 1) {
      const k = key(labels);
      const s = f.series.get(k);
      if (s) s.value += by;
      else f.series.set(k, { labels, value: by });
    },
    get(labels = {}) {
      return f.series.get(key(labels))?.value ?? 0;
    },
  };
}

export interface Gauge {
  set(value: number, labels?: Labels): void;
  get(labels?: Labels): number;
}

export function gauge(name: string, help: string): Gauge {
  const f = family(name, help, 'gauge');
  return {
    set(value, labels = {}) {
      f.series.set(key(labels), { labels, value });
    },
    get(labels = {}) {
      return f.series.get(key(labels))?.value ?? 0;
    },
  };
}

export interface Histogram {
  observe(ms: number, labels?: Labels): void;
}

export function histogram(name: string, help: string): Histogram {
  const f = family(name, help, 'histogram');
  return {
    observe(ms, labels = {}) {
      const k = key(labels);
      let s = f.series.get(k);
      if (!s) f.series.set(k, (s = { labels, value: 0, buckets: BUCKETS_MS.map(() => 0), sum: 0, count: 0 }));
      BUCKETS_MS.forEach((b, i) => {
        if (ms <= b) s!.buckets![i]!++;
      });
      s.sum! += ms;
      s.count!++;
    },
  };
}

function fmt(labels: Labels, extra: Labels = {}): string {
  const all: Record<string, string> = { ...labels, ...extra };
  const parts = Object.keys(all)
    .sort((a, b) => (a === 'le' ? 1 : b === 'le' ? -1 : a < b ? -1 : 1))
    .map((k) => `${k}=${JSON.stringify(all[k])}`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** The registry in Prometheus text format. */
export function renderMetrics(): string {
  const lines: string[] = [];
  for (const [name, f] of [...families].sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
    for (const s of f.series.values()) {
      if (f.type === 'histogram') {
        BUCKETS_MS.forEach((b, i) => lines.push(`${name}_bucket${fmt(s.labels, { le: String(b) })} ${s.buckets![i]}`));
        lines.push(`${name}_bucket${fmt(s.labels, { le: '+Inf' })} ${s.count}`);
        lines.push(`${name}_sum${fmt(s.labels)} ${s.sum}`, `${name}_count${fmt(s.labels)} ${s.count}`);
      } else {
        lines.push(`${name}${fmt(s.labels)} ${s.value}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}
