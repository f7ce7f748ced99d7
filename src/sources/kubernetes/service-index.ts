/**
 * The talk's indexer: objects (pods, EndpointSlices) bucketed by the service they belong to, so one change yields
 * one update of its service, with all of the service's members at hand.
 *
 * Ownership: one index per informer consumer; `apply` is the only mutator.
 */
import type { Change } from './informer';

export class ServiceIndex<T extends { readonly service: string }> {
  private readonly byService = new Map<string, Set<string>>();
  private readonly store = new Map<string, T>();

  /** Applies informer changes; returns the services they touched (old and new service of a relabelled object). */
  apply(changes: readonly Change<T>[]): Set<string> {
    const dirty = new Set<string>();
    for (const c of changes) {
      if (c.old) {
        this.byService.get(c.old.service)?.delete(c.key);
        dirty.add(c.old.service);
      }
      if (c.obj) {
        let set = this.byService.get(c.obj.service);
        if (!set) this.byService.set(c.obj.service, (set = new Set()));
        set.add(c.key);
        this.store.set(c.key, c.obj);
        dirty.add(c.obj.service);
      } else this.store.delete(c.key);
    }
    for (const s of dirty) if (this.byService.get(s)?.size === 0) this.byService.delete(s);
    return dirty;
  }

  /** The service's members (any order). */
  members(service: string): T[] {
    return [...(this.byService.get(service) ?? [])].map((k) => this.store.get(k)!);
  }

  has(service: string): boolean {
    return (this.byService.get(service)?.size ?? 0) > 0;
  }

  values(): IterableIterator<T> {
    return this.store.values();
  }
}
