/**
 * The publisher turns each published Mesh into cache updates for every view. It diffs the new mesh against the
 * last one: a service whose only change is its endpoints takes the fast path (its ClusterLoadAssignment alone,
 * in every view whose scope includes it; translated once per effective zone and shared, see translate/view.ts);
 * anything else (services added or removed, policy changed) re-translates the view, and the
 * cache keeps the version of every resource whose bytes did not change.
 *
 * Serving: until `startServing` (every source has synced once) no view is built, so the cache holds none and the
 * xDS server serves nothing. From then on a view is built when the view registry first wants it.
 *
 * Ownership: the publisher owns the published mesh (`current`: replaced, never edited) and whether Herald serves.
 * It is the only writer of the cache. It tells the view registry the zones the served endpoints are in.
 */
import type { Metrics } from '../admin/metrics';
import type { Logger } from '../log/log';
import type { Telemetry } from '../telemetry';
import type { XdsCache } from '../xds/cache';
import type { Mesh, Service } from '../model/types';
import type { ClusterPolicy } from '../model/policy';
import { TranslationMemo, translateEndpointUpdate, translateMesh, type TranslateOptions } from '../translate/index';
import { parseViewKey, type ProxyView } from '../translate/view';
import { classify, type Convergence, type EventLog } from './convergence';

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function publisherMetrics(m: Metrics) {
  return {
    publishes: m.counter('herald_publishes_total', 'Mesh updates published, by path (endpoints or full)', ['path']),
    rejected: m.counter('herald_resources_rejected_total', 'Generated resources rejected by validation'),
    translate: m.histogram('herald_translate_seconds', 'Time to translate and cache one mesh update across all views, by path (endpoints or full)', ['path']),
  };
}

export interface PublisherOptions {
  readonly policy?: ClusterPolicy;
  /** The cluster domain of `<name>.<namespace>.svc.<domain>` (default cluster.local). */
  readonly clusterDomain?: string;
  /** false: views share no translation (every view translates every resource itself; for benchmarks). */
  readonly shareTranslations?: boolean;
  /** Told the zones of the served endpoints after each publish (the view registry's topology). */
  readonly onZones?: (zones: ReadonlySet<string>) => void;
  /** Follows each published change to the proxies' ACKs (begin/end around the cache writes). */
  readonly convergence?: Convergence;
  /** Told what each publish changed (drains, removals, additions). */
  readonly events?: EventLog;
  /** The instance's metrics and logger. */
  readonly telemetry: Telemetry;
}

/** What the intake says about a publish. */
export interface PublishMeta {
  /** Epoch ms: when a source observed the earliest input this publish carries. Absent: now. */
  readonly observedAt?: number;
}

/** Label sets built once (the metrics registry remembers the keys of frozen ones). */
const FULL = Object.freeze({ path: 'full' });
const ENDPOINTS = Object.freeze({ path: 'endpoints' });

const EMPTY: Mesh = { services: new Map() };

export class Publisher {
  private mesh: Mesh = EMPTY;
  private isServing = false;
  private readonly memo: TranslationMemo;
  private readonly translate: TranslateOptions;
  /** Views wanted and not built yet: before serving began (built by startServing), or whose build threw. */
  private readonly wanted = new Set<string>();
  /** The zones of the published endpoints. */
  private zones = new Set<string>();

  private readonly m: ReturnType<typeof publisherMetrics>;
  private readonly log: Logger;

  constructor(
    private readonly cache: XdsCache,
    private readonly options: PublisherOptions,
  ) {
    this.m = publisherMetrics(options.telemetry.metrics);
    this.log = options.telemetry.log;
    this.memo = new TranslationMemo({ share: options.shareTranslations !== false });
    this.translate = { ...(options.policy ? { policy: options.policy } : {}), ...(options.clusterDomain ? { clusterDomain: options.clusterDomain } : {}) };
  }

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
    if (this.cache.hasView(key)) return void this.wanted.delete(key);
    // A view whose build throws is tried again at the next publish (its streams wait, served nothing, meanwhile).
    this.wanted.add(key);
    this.applyFull(key, this.mesh);
    this.wanted.delete(key);
  }

  /** Forgets a view no proxy reads any more. */
  dropView(key: string): void {
    this.wanted.delete(key);
    this.views.delete(key);
    this.cache.dropView(key);
  }

  /**
   * Publishes a new mesh to every built view. The cache tells the xDS server once, after the last view: every view
   * is translated and encoded before any stream is written. The convergence tracker's change stays open until then,
   * so the streams woken by it are the ones that carry it.
   */
  update(next: Mesh, meta: PublishMeta = {}): void {
    try {
      this.cache.batch(() => this.publish(next, meta));
    } finally {
      this.options.convergence?.end();
    }
  }

  private publish(next: Mesh, meta: PublishMeta): void {
    const started = performance.now();
    const prev = this.mesh;
    const structural = prev.services.size !== next.services.size || [...next.services].some(([name, s]) => {
      const old = prev.services.get(name);
      return !old || (old !== s && old.policy !== s.policy && JSON.stringify(old.policy) !== JSON.stringify(s.policy));
    });
    const views = this.cache.viewNames();
    let zonesBefore = this.zones.size;
    if (structural) {
      this.beginChange(prev, next, true, meta);
      this.memo.newEpoch();
      for (const key of views) this.applyFull(key, next);
      this.m.publishes.inc(FULL);
      this.zones = zonesOf(next.services.values());
      zonesBefore = -1;
    } else {
      const changed = [...next.services.values()].filter((s) => prev.services.get(s.name)!.endpoints !== s.endpoints);
      if (changed.length === 0) return void (this.mesh = next);
      this.beginChange(prev, next, false, meta);
      for (const key of views) {
        const batch = translateEndpointUpdate(changed, this.parsed(key), this.translate, this.memo);
        if (batch.length > 0) this.report(key, this.cache.apply(key, batch).rejected);
      }
      this.m.publishes.inc(ENDPOINTS);
      // Zones only grow on the fast path (a zone whose last endpoint left is forgotten at the next full publish).
      for (const z of zonesOf(changed)) this.zones.add(z);
    }
    // Only now: had a view failed above, the next update diffs against what every view really has.
    this.mesh = next;
    if (this.zones.size !== zonesBefore) this.options.onZones?.(this.zones);
    if (this.isServing) this.retryWanted();
    this.m.translate.observe((performance.now() - started) / 1000, { path: structural ? 'full' : 'endpoints' });
  }

  /** Tells the convergence tracker and the event log what this publish changes (if they are wired). */
  private beginChange(prev: Mesh, next: Mesh, structural: boolean, meta: PublishMeta): void {
    const { convergence, events } = this.options;
    if (!convergence && !events) return;
    const observedAt = meta.observedAt ?? Date.now();
    const change = classify(prev, next, structural);
    for (const e of change.events) events?.record(e, { observedAt });
    // Before serving no proxy can be sent anything: only the events are kept.
    if (this.isServing) convergence?.begin({ kind: change.kind, services: change.services, observedAt });
  }

  /** Every source has synced once: build the wanted views, and every later one on demand. */
  startServing(): void {
    if (this.isServing) return;
    this.isServing = true;
    this.retryWanted();
  }

  /** Builds every wanted view; one that throws stays wanted (logged) and the others are still built. */
  private retryWanted(): void {
    for (const key of [...this.wanted]) {
      try {
        this.buildView(key);
      } catch (err) {
        this.log.write('error', 'building a view failed; it is tried again at the next publish', { view: key, error: (err as Error).stack });
      }
    }
  }

  private applyFull(key: string, mesh: Mesh): void {
    this.report(key, this.cache.apply(key, translateMesh(mesh, this.parsed(key), this.translate, this.memo)).rejected);
  }

  private readonly views = new Map<string, ProxyView>();

  /** The view of a key, parsed once while the view exists. */
  private parsed(key: string): ProxyView {
    let v = this.views.get(key);
    if (!v) this.views.set(key, (v = parseViewKey(key)));
    return v;
  }

  private report(view: string, rejected: readonly string[]): void {
    for (const reason of rejected) {
      this.m.rejected.inc();
      this.log.write('error', 'generated resource rejected; the previous version stays served', { view, reason });
    }
  }
}

function zonesOf(services: Iterable<Service>): Set<string> {
  const zones = new Set<string>();
  for (const s of services) for (const e of s.endpoints) if (e.zone !== '') zones.add(e.zone);
  return zones;
}
