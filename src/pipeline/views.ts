/**
 * The view registry decides which view a connecting proxy reads, and which views exist at all. A view is
 * derived only from validated, bounded inputs (translate/view.ts `viewFromNode`), so a client cannot multiply
 * views at will:
 *   - a zone Herald does not know (no endpoint of the served mesh is in it, no source's topology has it, e.g. the
 *     Kubernetes nodes' zones, and it is not in the configured list) maps to the no-zone view, not to a view of its
 *     own. A proxy keeps the view it connected with: one that connected before its zone was known stays in the
 *     no-zone view until it reconnects;
 *   - a namespace must be an RFC 1123 label and a scope at most 64 well-formed entries (translate/view.ts,
 *     model/scope.ts); each distinct (namespace, scope) is a view like any other and counts against maxViews;
 *   - at most `maxViews` views exist; a proxy that would need one more is refused (the server ends its stream
 *     with RESOURCE_EXHAUSTED), as is any new view while the process is above its memory budget;
 *   - a view without streams is dropped after `idleGraceMs`, or at once while above the memory budget.
 *
 * Ownership: the registry owns the set of wanted views and their stream counts. It never touches the cache or
 * the server: it asks its owner to `build` a new view (asynchronously, after `resolve` returns, so that no
 * translation runs inside a stream's request handler) and to `drop` an idle one. The publisher builds views into
 * the cache; streams of a view wait until the cache has it.
 */
import type { Metrics } from '../admin/metrics';
import type { Logger } from '../log/log';
import type { Telemetry } from '../telemetry';
import type { NodeInfo } from '../xds/codec';
import type { ViewResolution, ViewResolver } from '../xds/view-resolver';
import { viewFromNode, viewKey, type ViewDefaults } from '../translate/view';

export interface ViewRegistryOptions {
  /** The egress listener of sidecars that do not say (node metadata HERALD_EGRESS). */
  readonly defaultEgress: string;
  /** The namespace of proxies that do not say (node metadata HERALD_NAMESPACE); default '' (none). */
  readonly defaultNamespace?: string;
  /** The scope of proxies that declare none and whose namespace has no default: `mesh` (default) or `namespace`. */
  readonly defaultScope?: 'mesh' | 'namespace';
  /** Per-namespace default scopes (the policy file's `namespaces.<ns>.egress`). */
  readonly namespaceScopes?: ReadonlyMap<string, string>;
  /** Most views that may exist at once. */
  readonly maxViews: number;
  /** Zones always known, besides those of the served endpoints. */
  readonly zones: readonly string[];
  /** How long a view without streams is kept (a reconnecting proxy finds it warm). */
  readonly idleGraceMs: number;
  /** Above this resident set size, idle views are dropped at once and no new view is made. 0: no budget. */
  readonly memoryBudgetBytes: number;
}

export const VIEW_DEFAULTS = { maxViews: 128, idleGraceMs: 60_000, memoryBudgetBytes: 2 * 1024 ** 3 } as const;

export interface ViewOwner {
  /** Called (from a later turn of the event loop) when a view is wanted for the first time. */
  build(view: string): void;
  /** Called when a view is no longer wanted. */
  drop(view: string): void;
}

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function viewMetrics(m: Metrics) {
  return {
    views: m.gauge('herald_views', 'Views that exist (each is one translated and encoded configuration)'),
    refused: m.counter('herald_views_refused_total', 'Streams refused because no view could be made for them, by reason', ['reason']),
    metaProblems: m.counter('herald_views_node_metadata_problems_total', 'Proxies whose node metadata was partly ignored (bad egress, ingress, namespace or egress scope)'),
    zoneUnknown: m.counter('herald_views_zone_unknown_total', 'Proxies that stated a zone Herald does not know (served the no-zone view)'),
  };
}

export class ViewRegistry implements ViewResolver {
  private readonly streams = new Map<string, number>();
  private readonly idleSince = new Map<string, NodeJS.Timeout>();
  private knownZones: ReadonlySet<string>;
  private readonly configuredZones: ReadonlySet<string>;
  private readonly zonesFrom = new Map<string, ReadonlySet<string>>();
  private stopped = false;

  private readonly m: ReturnType<typeof viewMetrics>;
  private readonly log: Logger;

  constructor(
    private readonly o: ViewRegistryOptions,
    private readonly owner: ViewOwner,
    telemetry: Telemetry,
    private readonly rss: () => number = () => process.memoryUsage.rss(),
  ) {
    this.m = viewMetrics(telemetry.metrics);
    this.log = telemetry.log;
    this.configuredZones = new Set(o.zones);
    this.knownZones = this.configuredZones;
    this.defaults = {
      egress: o.defaultEgress,
      ...(o.defaultNamespace ? { namespace: o.defaultNamespace } : {}),
      ...(o.defaultScope ? { scope: o.defaultScope } : {}),
      ...(o.namespaceScopes ? { namespaceScopes: o.namespaceScopes } : {}),
    };
  }

  private readonly defaults: ViewDefaults;

  /**
   * Zones known from one origin: `endpoints` (the publisher, after each publish that changes them) or `topology`
   * (the sources' own knowledge, e.g. Kubernetes nodes). Known zones are the union with the configured list.
   */
  setZones(origin: 'endpoints' | 'topology', zones: ReadonlySet<string>): void {
    this.zonesFrom.set(origin, zones);
    const next = new Set(this.configuredZones);
    for (const set of this.zonesFrom.values()) for (const z of set) if (z !== '') next.add(z);
    this.knownZones = next;
  }

  /** Every view that exists or is being built. */
  views(): string[] {
    return [...this.streams.keys()];
  }

  resolve(node: NodeInfo): ViewResolution {
    const zone = node.zone === '' || this.knownZones.has(node.zone) ? node.zone : '';
    if (zone !== node.zone) {
      this.m.zoneUnknown.inc();
      this.log.limited('view:zone-unknown', 'warn', 'proxy states a zone Herald does not know; serving the no-zone view', { node: node.id, zone: node.zone.slice(0, 100) }, 60_000);
    }
    const { view, problems } = viewFromNode({ ...node, zone }, this.defaults);
    if (problems.length > 0) this.m.metaProblems.inc();
    if (problems.length > 0) this.log.limited(`view:meta:${node.id.slice(0, 200)}`, 'warn', 'proxy node metadata partly ignored', { node: node.id, problems }, 60_000);
    const key = viewKey(view);
    const count = this.streams.get(key);
    if (count !== undefined) {
      this.streams.set(key, count + 1);
      this.keep(key);
      return { view: key };
    }
    const overBudget = this.overBudget();
    if (overBudget) this.dropIdle();
    const refusal = overBudget ? 'memory' : this.streams.size >= this.o.maxViews ? 'max-views' : undefined;
    if (refusal) {
      this.m.refused.inc({ reason: refusal });
      this.log.limited(`view:refused:${refusal}`, 'warn', 'no view can be made for a new proxy; stream refused', { node: node.id, reason: refusal, views: this.streams.size, maxViews: this.o.maxViews }, 10_000);
      return { refused: refusal === 'memory' ? 'Herald is above its memory budget for views' : `Herald serves at most ${this.o.maxViews} distinct views` };
    }
    this.streams.set(key, 1);
    this.m.views.set(this.streams.size);
    setImmediate(() => {
      if (!this.streams.has(key)) return;
      try {
        this.owner.build(key);
      } catch (err) {
        this.log.write('error', 'building a view failed', { view: key, error: (err as Error).stack });
      }
    });
    return { view: key };
  }

  release(view: string): void {
    const count = this.streams.get(view);
    if (count === undefined || this.stopped) return;
    this.streams.set(view, count - 1);
    if (count > 1) return;
    if (this.overBudget()) return this.remove(view);
    const t = setTimeout(() => {
      this.idleSince.delete(view);
      if (this.streams.get(view) === 0) this.remove(view);
    }, this.o.idleGraceMs);
    t.unref();
    this.idleSince.set(view, t);
  }

  /** Stops the idle timers; releases after this (streams closing at shutdown) start none. */
  stop(): void {
    this.stopped = true;
    for (const t of this.idleSince.values()) clearTimeout(t);
    this.idleSince.clear();
  }

  private keep(view: string): void {
    const t = this.idleSince.get(view);
    if (t === undefined) return;
    clearTimeout(t);
    this.idleSince.delete(view);
  }

  private overBudget(): boolean {
    return this.o.memoryBudgetBytes > 0 && this.rss() > this.o.memoryBudgetBytes;
  }

  private dropIdle(): void {
    for (const [view, n] of this.streams) if (n === 0) this.remove(view);
  }

  private remove(view: string): void {
    this.keep(view);
    this.streams.delete(view);
    this.m.views.set(this.streams.size);
    this.owner.drop(view);
  }
}
