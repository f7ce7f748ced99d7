/**
 * The publisher turns each published Mesh into cache updates for every view. It diffs the new mesh against the
 * last one: a service whose only change is its endpoints takes the fast path (its ClusterLoadAssignment alone,
 * in every view); anything else (services added or removed, policy changed) re-translates the view, and the
 * cache keeps the version of every resource whose bytes did not change.
 *
 * Serving: until `startServing` (every source has synced once) no view is built, so the cache holds none and the
 * xDS server serves nothing. From then on a view is built when the view registry first wants it.
 *
 * Ownership: the publisher owns the published mesh (`current`: replaced, never edited) and whether Herald serves.
 * It is the only writer of the cache. It tells the view registry the zones the served endpoints are in.
 */
import { log } from '../log/log';
import { counter, histogram } from '../admin/metrics';
import type { XdsCache } from '../xds/cache';
import type { Mesh, Service } from '../model/types';
import type { ClusterPolicy } from '../model/policy';
import { TranslationMemo, translateEndpointUpdate, translateMesh } from '../translate/index';
import { parseViewKey } from '../translate/view';

const mPublishes = counter('herald_publishes_total', 'Mesh updates published, by path (endpoints or full)');
const mRejected = counter('herald_resources_rejected_total', 'Generated resources rejected by validation');
const mTranslateMs = histogram('herald_translate_ms', 'Time to translate and cache one mesh update across all views');

export interface PublisherOptions {
  readonly policy?: ClusterPolicy;
  /** Told the zones of the served endpoints after each publish (the view registry's topology). */
  readonly onZones?: (zones: ReadonlySet<string>) => void;
}

/** Label sets built once (the metrics registry remembers the keys of frozen ones). */
const FULL = Object.freeze({ path: 'full' });
const ENDPOINTS = Object.freeze({ path: 'endpoints' });

const EMPTY: Mesh = { services: new Map() };

export class Publisher {
  private mesh: Mesh = EMPTY;
  private isServing = false;
  private readonly memo = new TranslationMemo();
  /** Views wanted before serving began: built by startServing. */
  private readonly wanted = new Set<string>();
  /** The zones of the published endpoints. */
  private zones = new Set<string>();

  constructor(
    private readonly cache: XdsCache,
    private readonly options: PublisherOptions = {},
  ) {}

  /** The mesh last published (what the views were built from). */
  get current(): Mesh {
    return this.mesh;
  }

  /** True once every source has synced and views are built: /readyz. */
  get serving(): boolean {
    return this.isServing;
  }

  /** Builds a view from the published mesh (once serving; before, it is remembered and built by startServing). */
  buildView(key: string): void {
    if (!this.isServing) return void this.wanted.add(key);
    if (this.cache.hasView(key)) return;
    this.applyFull(key, this.mesh);
  }

  /** Forgets a view no proxy reads any more. */
  dropView(key: string): void {
    this.wanted.delete(key);
    this.cache.dropView(key);
  }

  /**
   * Publishes a new mesh to every built view. The cache tells the xDS server once, after the last view: every view
   * is translated and encoded before any stream is written.
   */
  update(next: Mesh): void {
    this.cache.batch(() => this.publish(next));
  }

  private publish(next: Mesh): void {
    const started = performance.now();
    const prev = this.mesh;
    const structural = prev.services.size !== next.services.size || [...next.services].some(([name, s]) => {
      const old = prev.services.get(name);
      return !old || (old !== s && old.policy !== s.policy && JSON.stringify(old.policy) !== JSON.stringify(s.policy));
    });
    const views = this.cache.viewNames();
    let zonesBefore = this.zones.size;
    if (structural) {
      for (const key of views) this.applyFull(key, next);
      mPublishes.inc(FULL);
      this.zones = zonesOf(next.services.values());
      zonesBefore = -1;
    } else {
      const changed = [...next.services.values()].filter((s) => prev.services.get(s.name)!.endpoints !== s.endpoints);
      if (changed.length === 0) return void (this.mesh = next);
      for (const key of views) this.report(key, this.cache.apply(key, translateEndpointUpdate(changed, parseViewKey(key), this.options.policy, this.memo)).rejected);
      mPublishes.inc(ENDPOINTS);
      // Zones only grow on the fast path (a zone whose last endpoint left is forgotten at the next full publish).
      for (const z of zonesOf(changed)) this.zones.add(z);
    }
    // Only now: had a view failed above, the next update diffs against what every view really has.
    this.mesh = next;
    if (this.zones.size !== zonesBefore) this.options.onZones?.(this.zones);
    mTranslateMs.observe(performance.now() - started);
  }

  /** Every source has synced once: build the wanted views, and every later one on demand. */
  startServing(): void {
    if (this.isServing) return;
    this.isServing = true;
    for (const key of this.wanted) this.buildView(key);
    this.wanted.clear();
  }

  private applyFull(key: string, mesh: Mesh): void {
    this.report(key, this.cache.apply(key, translateMesh(mesh, parseViewKey(key), this.options.policy, this.memo)).rejected);
  }

  private report(view: string, rejected: readonly string[]): void {
    for (const reason of rejected) {
      mRejected.inc();
      log('error', 'generated resource rejected; the previous version stays served', { view, reason });
    }
  }
}

function zonesOf(services: Iterable<Service>): Set<string> {
  const zones = new Set<string>();
  for (const s of services) for (const e of s.endpoints) if (e.zone !== '') zones.add(e.zone);
  return zones;
}
