/**
 * The publisher turns each new Mesh into cache updates for every live view. It diffs the new mesh against the
 * last one: a service whose only change is its endpoints takes the fast path (its ClusterLoadAssignment alone,
 * in every view); anything else (services added or removed, policy changed) re-translates the view, and the
 * cache keeps the version of every resource whose bytes did not change.
 *
 * Ownership: the publisher owns `mesh`; it is replaced, never edited. Serving starts (cache.markReady) only when
 * the owner calls `markSynced`.
 */
import { log } from '../log/log';
import { counter, histogram } from '../admin/metrics';
import type { NodeInfo } from '../xds/codec';
import type { XdsCache } from '../xds/cache';
import type { ViewProvider } from '../xds/server';
import type { Mesh } from '../model/types';
import type { ClusterPolicy } from '../model/policy';
import { TranslationMemo, translateEndpointUpdate, translateMesh } from '../translate/index';
import { NODE_META, parseViewKey, viewFromNode, viewKey } from '../translate/view';

const mPublishes = counter('herald_publishes_total', 'Mesh updates published, by path (endpoints or full)');
const mRejected = counter('herald_resources_rejected_total', 'Generated resources rejected by validation');
const mTranslateMs = histogram('herald_translate_ms', 'Time to translate and cache one mesh update across all views');

export interface PublisherOptions {
  /** The egress listener address of sidecars that do not say (node metadata HERALD_EGRESS). */
  readonly defaultEgress: string;
  readonly policy?: ClusterPolicy;
}

const EMPTY: Mesh = { services: new Map() };

/** Node metadata keys a proxy may set in its bootstrap to shape its view. */
export const NODE_META_EGRESS = NODE_META.egress;
export const NODE_META_FLAVOR = NODE_META.flavor;

export class Publisher implements ViewProvider {
  private mesh: Mesh = EMPTY;
  private readonly memo = new TranslationMemo();

  constructor(
    private readonly cache: XdsCache,
    private readonly options: PublisherOptions,
  ) {}

  get current(): Mesh {
    return this.mesh;
  }

  /** The view key of a connecting proxy (translate/view.ts viewFromNode); bad node metadata is logged, not fatal. */
  viewFor(node: NodeInfo): string {
    const { view, problems } = viewFromNode(node, this.options.defaultEgress);
    if (problems.length > 0) log('warn', 'proxy node metadata partly ignored', { node: node.id, problems });
    return viewKey(view);
  }

  ensureView(key: string): void {
    if (this.cache.hasView(key)) return;
    this.applyFull(key, this.mesh);
  }

  /** Publishes a new mesh to every view. */
  update(next: Mesh): void {
    const started = performance.now();
    const prev = this.mesh;
    const structural = prev.services.size !== next.services.size || [...next.services].some(([name, s]) => {
      const old = prev.services.get(name);
      return !old || (old !== s && old.policy !== s.policy && JSON.stringify(old.policy) !== JSON.stringify(s.policy));
    });
    const views = this.cache.viewNames();
    if (structural) {
      for (const key of views) this.applyFull(key, next);
      mPublishes.inc({ path: 'full' });
    } else {
      const changed = [...next.services.values()].filter((s) => prev.services.get(s.name)!.endpoints !== s.endpoints);
      if (changed.length === 0) return void (this.mesh = next);
      for (const key of views) this.report(key, this.cache.apply(key, translateEndpointUpdate(changed, parseViewKey(key), this.options.policy, this.memo)).rejected);
      mPublishes.inc({ path: 'endpoints' });
    }
    // Only now: had a view failed above, the next update diffs against what every view really has.
    this.mesh = next;
    mTranslateMs.observe(performance.now() - started);
  }

  /** Every source has synced once: start serving. */
  markSynced(): void {
    this.cache.markReady();
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
