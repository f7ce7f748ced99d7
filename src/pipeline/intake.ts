/**
 * The intake: what happens between the sources and the publisher. Each source's snapshot passes its guard, the
 * guarded snapshots are merged into one Mesh, and the batcher decides when that mesh is published. Serving starts
 * when every source has synced once.
 *
 * Ownership: the intake owns the per-source snapshots, the guards, the merger, the batcher and the latest merged
 * mesh (`latest`: what the sources say now, published or not; the publisher owns what was published). It is the
 * SourceSink every source writes to, and it never throws into a source: a failure of one of its stages is logged
 * here, naming the stage, and the previous state stays in force.
 */
import type { Metrics } from '../admin/metrics';
import type { Logger } from '../log/log';
import type { Telemetry } from '../telemetry';
import { Merger } from '../model/merge';
import type { Mesh } from '../model/types';
import type { PolicyOverrides } from '../model/policy';
import type { SourceSink, SourceSnapshot, UpdateMeta } from '../sources/source';
import { Batcher, takesTrafficAway, type BatcherOptions } from './batcher';
import { Guard, type GuardOptions } from './guard';
import type { EventLog } from './convergence';

export interface IntakeOptions {
  /** Source names in precedence order, with each one's guard settings. */
  readonly sources: ReadonlyArray<{ readonly name: string; readonly guard: GuardOptions }>;
  readonly batching: BatcherOptions;
  /** Per-service policy overrides from the policy file. */
  readonly policies?: ReadonlyMap<string, PolicyOverrides>;
  /** Hands a mesh downstream. May throw: the intake logs it and publishes the next state as usual. */
  readonly publish: (mesh: Mesh, meta: { readonly observedAt?: number }) => void;
  /** Called once, after the first publish that follows every source's first sync. */
  readonly onSynced: () => void;
  /** Called with the union of every source's topology zones (UpdateMeta.zones) when it changes. */
  readonly onZones?: (zones: ReadonlySet<string>) => void;
  /** Told when guard holds begin and end. */
  readonly events?: EventLog;
  /** The instance's metrics and logger (the intake's guards and batcher write there too). */
  readonly telemetry: Telemetry;
}

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function intakeMetrics(m: Metrics) {
  return {
    stageErrors: m.counter('herald_pipeline_errors_total', 'Failures inside the pipeline, by stage (guard, merge, publish)', ['stage']),
    queue: m.histogram('herald_pipeline_queue_seconds', 'From a source observing an input to its publish starting (guard, merge and batching delay)'),
  };
}

/** One source's health, for /sources. */
export interface SourceHealth {
  readonly name: string;
  readonly synced: boolean;
  /** Epoch ms of the last update, and of the observation it carried. */
  readonly lastUpdateAt?: number;
  readonly lastObservedAt?: number;
  readonly updates: number;
  readonly services: number;
  readonly lastError?: { readonly message: string; readonly at: number };
  readonly errors: number;
}

export class Intake implements SourceSink {
  private readonly snapshots = new Map<string, SourceSnapshot>();
  private readonly synced = new Set<string>();
  private readonly zones = new Map<string, ReadonlySet<string>>();
  private readonly guards = new Map<string, Guard>();
  private readonly merger: Merger;
  private readonly batcher: Batcher;
  private announced = false;
  private merged: Mesh = { services: new Map() };
  /** The earliest observation not published yet (epoch ms). */
  private oldestPending: number | undefined;
  private readonly health = new Map<string, { lastUpdateAt?: number; lastObservedAt?: number; updates: number; errors: number; lastError?: { message: string; at: number } }>();
  /** Holds seen at the last guard call, per source: holds starting and ending are logged as events. */
  private readonly heldBefore = new Map<string, Set<string>>();

  private readonly m: ReturnType<typeof intakeMetrics>;
  private readonly log: Logger;

  constructor(private readonly o: IntakeOptions) {
    this.m = intakeMetrics(o.telemetry.metrics);
    this.log = o.telemetry.log;
    this.merger = new Merger(o.sources.map((s) => s.name), o.policies);
    this.batcher = new Batcher(o.batching, () => this.publish(), o.telemetry);
    for (const s of o.sources) this.guards.set(s.name, new Guard(s.name, s.guard, () => this.reguard(s.name), o.telemetry));
  }

  /** The latest merged mesh (read-only). */
  get latest(): Mesh {
    return this.merged;
  }

  update(source: string, snapshot: SourceSnapshot, synced: boolean, meta?: UpdateMeta): void {
    const guard = this.guards.get(source);
    if (!guard) return this.log.write('error', 'update from an unknown source ignored', { source });
    const now = Date.now();
    const observedAt = meta?.observedAt ?? now;
    if (this.oldestPending === undefined || observedAt < this.oldestPending) this.oldestPending = observedAt;
    const h = this.healthOf(source);
    h.lastUpdateAt = now;
    h.lastObservedAt = observedAt;
    h.updates++;
    if (meta?.zones && !sameSet(meta.zones, this.zones.get(source))) {
      this.zones.set(source, meta.zones);
      const all = new Set<string>();
      for (const set of this.zones.values()) for (const z of set) all.add(z);
      this.o.onZones?.(all);
    }
    if (!this.stage('guard', source, () => this.snapshots.set(source, guard.filter(snapshot, meta, this.sizes())))) return;
    this.noteHolds(source);
    if (synced) this.synced.add(source);
    this.push(source);
  }

  /** Holds per source (for the admin API and tests). */
  holds(): Record<string, Array<{ service: string; since: number }>> {
    return Object.fromEntries([...this.guards].map(([name, g]) => [name, g.held()]));
  }

  /** A source could not read its input (SourceSink.error). */
  error(source: string, message: string): void {
    const h = this.healthOf(source);
    h.errors++;
    h.lastError = { message: message.slice(0, 500), at: Date.now() };
  }

  /** Each source's health: synced, last update, last error (copies). */
  sources(): SourceHealth[] {
    return this.o.sources.map(({ name }) => {
      const h = this.healthOf(name);
      return { name, synced: this.synced.has(name), updates: h.updates, errors: h.errors, services: this.snapshots.get(name)?.size ?? 0, ...(h.lastUpdateAt !== undefined ? { lastUpdateAt: h.lastUpdateAt, lastObservedAt: h.lastObservedAt! } : {}), ...(h.lastError ? { lastError: { ...h.lastError } } : {}) };
    });
  }

  stop(): void {
    this.batcher.stop();
    for (const g of this.guards.values()) g.stop();
  }

  private reguard(source: string): void {
    if (this.stage('guard', source, () => this.snapshots.set(source, this.guards.get(source)!.current(this.sizes())))) {
      this.noteHolds(source);
      this.push(source);
    }
  }

  private healthOf(source: string) {
    let h = this.health.get(source);
    if (!h) this.health.set(source, (h = { updates: 0, errors: 0 }));
    return h;
  }

  /** Logs holds that began or ended at this guard call (O(holds of the source)). */
  private noteHolds(source: string): void {
    const events = this.o.events;
    if (!events) return;
    const now = new Set(this.guards.get(source)!.held().map((x) => x.service));
    const before = this.heldBefore.get(source) ?? new Set<string>();
    for (const s of now) if (!before.has(s)) events.record({ kind: 'hold', service: s, endpoints: [], count: 0, detail: 'suspicious removal held by the guard' }, { source });
    for (const s of before) if (!now.has(s)) events.record({ kind: 'release', service: s, endpoints: [], count: 0, detail: 'hold released' }, { source });
    this.heldBefore.set(source, now);
  }

  /** Non-draining endpoints per service across every source, as of the latest merge (what a guard measures against). */
  private sizes(): (service: string) => number | undefined {
    const services = this.merged.services;
    return (service) => {
      const endpoints = services.get(service)?.endpoints;
      if (!endpoints) return undefined;
      let n = 0;
      for (const e of endpoints) if (e.health !== 'DRAINING') n++;
      return n;
    };
  }

  private push(source: string): void {
    const prev = this.merged;
    if (!this.stage('merge', source, () => (this.merged = this.merger.merge(this.snapshots)))) return;
    // Until every source has synced nothing is served, so there is nothing to coalesce for: publish at once.
    this.batcher.offer(takesTrafficAway(prev, this.merged));
    if (!this.announced && this.synced.size === this.o.sources.length) this.batcher.flush('sync');
  }

  private publish(): void {
    const observedAt = this.oldestPending;
    this.oldestPending = undefined;
    if (observedAt !== undefined) this.m.queue.observe(Math.max(0, Date.now() - observedAt) / 1000);
    if (!this.stage('publish', '', () => this.o.publish(this.merged, observedAt !== undefined ? { observedAt } : {}))) return;
    if (!this.announced && this.synced.size === this.o.sources.length) {
      this.announced = true;
      this.log.write('info', 'every source synced; serving', { sources: this.o.sources.map((s) => s.name) });
      this.o.onSynced();
    }
  }

  /** Runs one stage; a failure is logged as that stage's, counted, and reported as false. */
  private stage(stage: string, source: string, run: () => unknown): boolean {
    try {
      run();
      return true;
    } catch (err) {
      this.m.stageErrors.inc({ stage });
      this.log.write('error', `pipeline ${stage} failed; the previous state stays in force`, { stage, ...(source ? { source } : {}), error: (err as Error).stack });
      return false;
    }
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string> | undefined): boolean {
  if (!b || a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
