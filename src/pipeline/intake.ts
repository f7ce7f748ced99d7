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
import { log } from '../log/log';
import { counter } from '../admin/metrics';
import { Merger } from '../model/merge';
import type { Mesh } from '../model/types';
import type { PolicyOverrides } from '../model/policy';
import type { SourceSink, SourceSnapshot, UpdateMeta } from '../sources/source';
import { Batcher, takesTrafficAway, type BatcherOptions } from './batcher';
import { Guard, type GuardOptions } from './guard';

export interface IntakeOptions {
  /** Source names in precedence order, with each one's guard settings. */
  readonly sources: ReadonlyArray<{ readonly name: string; readonly guard: GuardOptions }>;
  readonly batching: BatcherOptions;
  /** Per-service policy overrides from the policy file. */
  readonly policies?: ReadonlyMap<string, PolicyOverrides>;
  /** Hands a mesh downstream. May throw: the intake logs it and publishes the next state as usual. */
  readonly publish: (mesh: Mesh) => void;
  /** Called once, after the first publish that follows every source's first sync. */
  readonly onSynced: () => void;
  /** Called with the union of every source's topology zones (UpdateMeta.zones) when it changes. */
  readonly onZones?: (zones: ReadonlySet<string>) => void;
}

const mStageErrors = counter('herald_pipeline_errors_total', 'Failures inside the pipeline, by stage (guard, merge, publish)');

export class Intake implements SourceSink {
  private readonly snapshots = new Map<string, SourceSnapshot>();
  private readonly synced = new Set<string>();
  private readonly zones = new Map<string, ReadonlySet<string>>();
  private readonly guards = new Map<string, Guard>();
  private readonly merger: Merger;
  private readonly batcher: Batcher;
  private announced = false;
  private merged: Mesh = { services: new Map() };

  constructor(private readonly o: IntakeOptions) {
    this.merger = new Merger(o.sources.map((s) => s.name), o.policies);
    this.batcher = new Batcher(o.batching, () => this.publish());
    for (const s of o.sources) this.guards.set(s.name, new Guard(s.name, s.guard, () => this.reguard(s.name)));
  }

  /** The latest merged mesh (read-only). */
  get latest(): Mesh {
    return this.merged;
  }

  update(source: string, snapshot: SourceSnapshot, synced: boolean, meta?: UpdateMeta): void {
    const guard = this.guards.get(source);
    if (!guard) return log('error', 'update from an unknown source ignored', { source });
    if (meta?.zones && !sameSet(meta.zones, this.zones.get(source))) {
      this.zones.set(source, meta.zones);
      const all = new Set<string>();
      for (const set of this.zones.values()) for (const z of set) all.add(z);
      this.o.onZones?.(all);
    }
    if (!this.stage('guard', source, () => this.snapshots.set(source, guard.filter(snapshot, meta, this.sizes())))) return;
    if (synced) this.synced.add(source);
    this.push(source);
  }

  /** Holds per source (for the admin API and tests). */
  holds(): Record<string, Array<{ service: string; since: number }>> {
    return Object.fromEntries([...this.guards].map(([name, g]) => [name, g.held()]));
  }

  stop(): void {
    this.batcher.stop();
    for (const g of this.guards.values()) g.stop();
  }

  private reguard(source: string): void {
    if (this.stage('guard', source, () => this.snapshots.set(source, this.guards.get(source)!.current(this.sizes())))) this.push(source);
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
    if (!this.stage('publish', '', () => this.o.publish(this.merged))) return;
    if (!this.announced && this.synced.size === this.o.sources.length) {
      this.announced = true;
      log('info', 'every source synced; serving', { sources: this.o.sources.map((s) => s.name) });
      this.o.onSynced();
    }
  }

  /** Runs one stage; a failure is logged as that stage's, counted, and reported as false. */
  private stage(stage: string, source: string, run: () => unknown): boolean {
    try {
      run();
      return true;
    } catch (err) {
      mStageErrors.inc({ stage });
      log('error', `pipeline ${stage} failed; the previous state stays in force`, { stage, ...(source ? { source } : {}), error: (err as Error).stack });
      return false;
    }
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string> | undefined): boolean {
  if (!b || a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
