/**
 * One version and one encoding per (protocol, view, kind, content): streams of a view that are due the same
 * resources (the same cached objects, in the same order, and the same removals) get the same version string and
 * the very same encoded bytes; only the nonce, framed around them per stream, differs. A fan-out of one endpoint
 * change to N streams thus encodes once, and N streams' responses differ by a few bytes.
 *
 * Ownership: the XdsServer owns one SharedResponses; each stream reads its view's slots. A slot remembers only the
 * latest content: a stream due something else mints a new version and takes the slot over (state that repeats
 * across streams is what fan-out produces; anything else costs what it did before: one encode per stream).
 *
 * Cost: recognising the shared content is O(resources) pointer comparisons (O(1) for the shared full-state lists
 * of stream-state.ts); nothing is allocated for a hit.
 */
import type { CachedResource } from './cache';
import type { ResourceKind } from './resource-types';
import type { ResponseParts } from './wire';

/** The latest response content of one (protocol, view, kind), with its encoding once built. */
export interface SharedSlot {
  version: string;
  resources: readonly CachedResource[];
  removed: readonly string[];
  /** The encoded response without its nonce, for `version`; built by the first stream that sends it. */
  parts: ResponseParts | undefined;
}

export type ViewSlots = Record<ResourceKind, SharedSlot>;

export class SharedResponses {
  private readonly views = new Map<string, ViewSlots>();

  constructor(private readonly mint: () => string) {}

  /** The slots of one protocol's streams of a view (created on first use, kept until `drop`). */
  slots(protocol: string, view: string): ViewSlots {
    const key = `${protocol}\u0000${view}`;
    let s = this.views.get(key);
    if (!s) {
      const slot = (): SharedSlot => ({ version: '', resources: [], removed: [], parts: undefined });
      this.views.set(key, (s = { listener: slot(), route: slot(), cluster: slot(), endpoint: slot() } as ViewSlots));
    }
    return s;
  }

  /** Forgets a view's slots (no stream of it is left). */
  drop(protocol: string, view: string): void {
    this.views.delete(`${protocol}\u0000${view}`);
  }

  /**
   * The version for `resources`/`removed` of a slot: the slot's if it holds the same content and the stream was
   * not sent that very version last (`previous`); otherwise a fresh one, which the slot then holds.
   */
  static version(slot: SharedSlot, mint: () => string, resources: readonly CachedResource[], removed: readonly string[], previous: string): string {
    if (slot.version !== '' && slot.version !== previous && sameList(slot.resources, resources) && sameList(slot.removed, removed)) return slot.version;
    slot.version = mint();
    slot.resources = resources;
    slot.removed = removed;
    slot.parts = undefined;
    return slot.version;
  }

  /** A StreamState `nextVersion` for the streams of these slots. */
  versionFor(slots: ViewSlots): (kind: ResourceKind, resources: readonly CachedResource[], removed: readonly string[], previous: string) => string {
    return (kind, resources, removed, previous) => SharedResponses.version(slots[kind], this.mint, resources, removed, previous);
  }
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
