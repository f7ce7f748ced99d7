/**
 * The intake: what happens between the sources and the publisher. Each source's snapshot passes its guard, the
 * guarded snapshots are merged into one Mesh, and the batcher decides when it is published. Serving starts when
 * every source has synced once.
 *
 * Ownership: the intake owns the per-source snapshots, the guards, the merger and the batcher. It is the
 * SourceSink every source writes to.
 */
import { log } from '../log/log';
import { Merger } from '../model/merge';
import type { Mesh } from '../model/types';
import type { PolicyOverrides } from '../model/policy';
import type { SourceSink, SourceSnapshot, UpdateMeta } from '../sources/source';
import { Batcher, type BatcherOptions } from './batcher';
import { Guard, type GuardOptions } from './guard';

export interface IntakeOptions {
  /** Source names in precedence order, with each one's guard settings. */
  readonly sources: ReadonlyArray<{ readonly name: string; readonly guard: GuardOptions }>;
  readonly batching: BatcherOptions;
  /** Per-service policy overrides from the policy file. */
  readonly policies?: ReadonlyMap<string, PolicyOverrides>;
  readonly publish: (mesh: Mesh) => void;
  /** Called once, after the first publish that follows every source's first sync. */
  readonly onSynced: () => void;
}

export class Intake implements SourceSink {
  private readonly snapshots = new Map<string, SourceSnapshot>();
  private readonly synced = new Set<string>();
  private readonly guards = new Map<string, Guard>();
  private readonly merger: Merger;
  private readonly batcher: Batcher;
  private announced = false;
  private merged: Mesh = { services: new Map() };

  constructor(private readonly o: IntakeOptions) {
    this.merger = new Merger(o.sources.map((s) => s.name), o.policies);
    this.batcher = new Batcher(o.batching, (mesh) => {
      o.publish(mesh);
      if (!this.announced && this.synced.size === o.sources.length) {
        this.announced = true;
        log('info', 'every source synced; serving', { sources: o.sources.map((s) => s.name) });
        o.onSynced();
      }
    });
    for (const s of o.sources) {
      const size = (service: string) => this.merged.services.get(service)?.endpoints.filter((e) => e.health !== 'DRAINING').length;
      this.guards.set(s.name, new Guard(s.name, s.guard, () => this.reguard(s.name), size));
    }
  }

  update(source: string, snapshot: SourceSnapshot, synced: boolean, meta?: UpdateMeta): void {
    const guard = this.guards.get(source);
    if (!guard) return log('error', 'update from an unknown source ignored', { source });
    this.snapshots.set(source, guard.filter(snapshot, meta));
    if (synced) this.synced.add(source);
    this.push();
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
    this.snapshots.set(source, this.guards.get(source)!.current());
    this.push();
  }

  private push(): void {
    this.merged = this.merger.merge(this.snapshots);
    this.batcher.offer(this.merged);
    // Until every source has synced nothing is served, so there is nothing to coalesce for: publish at once.
    if (!this.announced && this.synced.size === this.o.sources.length) this.batcher.flush('sync');
  }
}
