/**
 * The xDS resource cache: every resource version is encoded to protobuf bytes exactly once, and those bytes
 * (as a google.protobuf.Any and as a Delta `Resource`) are what every stream sends.
 *
 * Resources live in views: streams that must see the same configuration (same proxy flavour and zone) share a
 * view and so share bytes. Within a view each resource has its own version, so an endpoint change touches one
 * ClusterLoadAssignment and wakes only the streams subscribed to it. Views share encodings too: an input object
 * already encoded for any view (the publisher's translation memo hands the same object to every view whose
 * resource depends on the same things) is not encoded again; the other view gets the same bytes (`any`, `delta`)
 * and the same version, unless it already holds equal bytes under its own version, which it keeps.
 *
 * Ownership: only `apply` and `dropView` mutate the cache, synchronously; listeners run after a batch is committed
 * (or, inside `batch`, after every apply of it) and see a consistent view (every Cluster's dependents, e.g. its ClusterLoadAssignment, are present). The cache
 * knows nothing of readiness: a view exists once the pipeline has built it, and the pipeline builds views only
 * once it serves. A view's first `apply` announces every kind (even an empty one) so its streams get a first answer.
 */
import { encodeResource, type ResourceInput } from './encode';
import { encodeDeltaResource } from './wire';
import { KIND_ORDER, type ResourceKind, type ResourceRef } from './resource-types';

export type { ResourceInput } from './encode';

export interface CachedResource {
  readonly kind: ResourceKind;
  readonly name: string;
  /** Opaque, compared for equality only; carries the process prefix so a restart never reuses one. */
  readonly version: string;
  /** The resource as google.protobuf.Any bytes. */
  readonly any: Buffer;
  /** The resource as envoy.service.discovery.v3.Resource bytes (name, version, Any). */
  readonly delta: Buffer;
  /** Resources a client must be sent again after it receives this one (a changed Cluster's endpoints). */
  readonly dependents: readonly ResourceRef[];
  /** The input it was encoded from: the same input object again is known unchanged without encoding it. */
  readonly input: ResourceInput;
}

/**
 * One kind's part of a batch, its inputs typed by the kind. With `replace`, resources of that kind absent from
 * `upsert` are removed.
 */
export type KindUpdate = {
  readonly [K in ResourceKind]: {
    readonly kind: K;
    readonly upsert?: readonly ResourceInput<K>[];
    readonly remove?: readonly string[];
    readonly replace?: boolean;
  };
}[ResourceKind];

export interface CacheChange {
  readonly view: string;
  readonly kind: ResourceKind;
  /** Names whose version changed or that were removed. */
  readonly names: readonly string[];
}

export interface ApplyResult {
  readonly changes: readonly CacheChange[];
  /** Resources rejected by validation, with a path-prefixed reason; they keep their previous version. */
  readonly rejected: readonly string[];
}

type ViewStore = Map<ResourceKind, Map<string, CachedResource>>;

export type CacheListener = (changes: readonly CacheChange[]) => void;

/** A process-unique version prefix: time plus randomness, so a restarted Herald never repeats one. */
export function newVersionPrefix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

export class XdsCache {
  private readonly views = new Map<string, ViewStore>();
  private readonly listeners = new Set<CacheListener>();
  private seq = 0;
  private readonly empty: ReadonlyMap<string, CachedResource> = new Map();
  /** Encodings by input object, shared by every view (entries go with their input). */
  private readonly encoded = new WeakMap<ResourceInput, CachedResource>();
  /** Inputs that failed validation, with the reason: the same input fails in every view without a re-check. */
  private readonly refused = new WeakMap<ResourceInput, string>();
  private readonly share: boolean;
  /** Resources encoded (for benchmarks and tests: sharing means fewer). */
  encodings = 0;

  /** @param o.shareEncodings false: each view encodes every input itself (for benchmarks). */
  constructor(readonly prefix: string = newVersionPrefix(), o: { shareEncodings?: boolean } = {}) {
    this.share = o.shareEncodings !== false;
  }

  hasView(view: string): boolean {
    return this.views.has(view);
  }

  viewNames(): string[] {
    return [...this.views.keys()];
  }

  /** The resources of one kind in a view. The returned map is live but must not be mutated by callers. */
  resources(view: string, kind: ResourceKind): ReadonlyMap<string, CachedResource> {
    return this.views.get(view)?.get(kind) ?? this.empty;
  }

  /** A new version string, unique in this process. */
  nextVersion(): string {
    return `${this.prefix}-${++this.seq}`;
  }

  /** Listeners are called synchronously after each committed batch that changed something. */
  subscribe(listener: CacheListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Applies a batch to one view atomically. Each resource is checked and encoded by `encodeResource` (the strict
   * schema walk and its kind's validators); a resource that fails keeps its previous version (or stays absent). If the result would break consistency (a resource whose
   * dependents are missing), that resource is rejected too. Returns what changed and what was rejected.
   */
  apply(view: string, batch: readonly KindUpdate[]): ApplyResult {
    const created = !this.views.has(view);
    const current: ViewStore = this.views.get(view) ?? new Map();
    // Copy-on-write per kind: an endpoint-only batch copies the endpoint map and nothing else.
    const staged: ViewStore = new Map(current);
    const writable = (kind: ResourceKind): Map<string, CachedResource> => {
      let m = staged.get(kind);
      if (m === undefined || m === current.get(kind)) staged.set(kind, (m = new Map(m ?? [])));
      return m;
    };
    const rejected: string[] = [];
    const touched: Array<[ResourceKind, string]> = [];
    let removedAny = false;

    for (const update of batch) {
      const store = writable(update.kind);
      const keep = new Set<string>();
      for (const input of (update.upsert ?? []) as readonly ResourceInput[]) {
        keep.add(input.name);
        const prev = store.get(input.name);
        if (prev?.input === input) continue;
        const shared = this.share ? this.encoded.get(input) : undefined;
        if (shared && shared.kind === update.kind) {
          if (prev && prev.any.equals(shared.any) && sameRefs(prev.dependents, shared.dependents)) store.set(input.name, { ...prev, input });
          else {
            store.set(input.name, shared);
            touched.push([update.kind, input.name]);
          }
          continue;
        }
        const refused = this.share ? this.refused.get(input) : undefined;
        if (refused !== undefined) {
          rejected.push(refused);
          continue;
        }
        this.encodings++;
        const encoded = encodeResource(update.kind, input);
        if (typeof encoded === 'string') {
          rejected.push(encoded);
          if (this.share) this.refused.set(input, encoded);
          continue;
        }
        if (prev && prev.any.equals(encoded.any) && sameRefs(prev.dependents, encoded.dependents)) {
          const same = { ...prev, input }; // same version; remember the input so it is not encoded again
          store.set(input.name, same);
          if (this.share) this.encoded.set(input, same);
          continue;
        }
        const version = this.nextVersion();
        const res: CachedResource = {
          kind: update.kind,
          name: input.name,
          version,
          any: encoded.any,
          delta: encodeDeltaResource(input.name, version, encoded.any),
          dependents: encoded.dependents,
          input,
        };
        store.set(input.name, res);
        if (this.share) this.encoded.set(input, res);
        touched.push([update.kind, input.name]);
      }
      const removals = update.replace ? [...store.keys()].filter((n) => !keep.has(n)) : (update.remove ?? []);
      for (const name of removals) {
        if (store.delete(name)) {
          touched.push([update.kind, name]);
          removedAny = true;
        }
      }
    }

    // Consistency: a resource whose dependents are absent is rolled back to its previous state (or left out).
    const has = (r: ResourceRef) => staged.get(r.kind)?.has(r.name) ?? false;
    const suspects: CachedResource[] = [];
    if (removedAny) {
      for (const kind of KIND_ORDER) for (const res of staged.get(kind)?.values() ?? []) if (res.dependents.length) suspects.push(res);
    } else {
      for (const [kind, name] of touched) {
        const res = staged.get(kind)?.get(name);
        if (res && res.dependents.length) suspects.push(res);
      }
    }
    for (const res of suspects) {
      const missing = res.dependents.filter((d) => !has(d));
      if (missing.length === 0) continue;
      rejected.push(`${res.kind}[${res.name}]: depends on missing ${missing.map((m) => `${m.kind}[${m.name}]`).join(', ')}`);
      const prev = current.get(res.kind)?.get(res.name);
      if (prev && prev.dependents.every(has)) writable(res.kind).set(res.name, prev);
      else writable(res.kind).delete(res.name);
      touched.push([res.kind, res.name]);
    }

    this.views.set(view, staged);
    const byKind = new Map<ResourceKind, Set<string>>();
    for (const [kind, name] of touched) {
      if (staged.get(kind)?.get(name) === current.get(kind)?.get(name)) continue;
      let s = byKind.get(kind);
      if (!s) byKind.set(kind, (s = new Set()));
      s.add(name);
    }
    const changes: CacheChange[] = created
      ? KIND_ORDER.map((kind) => ({ view, kind, names: [] }))
      : KIND_ORDER.filter((k) => byKind.has(k)).map((kind) => ({ view, kind, names: [...byKind.get(kind)!] }));
    if (changes.length > 0) this.emit(changes);
    return { changes, rejected };
  }

  /** Removes a view no stream uses any more. */
  dropView(view: string): void {
    this.views.delete(view);
  }

  /**
   * Runs `fn` (which may `apply` to several views) and tells the listeners of all its changes at once, after it
   * returns (or throws): a publish reaches the streams only once every view is translated and encoded. Nested
   * batches join the outermost.
   */
  batch<T>(fn: () => T): T {
    if (this.held) return fn();
    const held: CacheChange[] = (this.held = []);
    try {
      return fn();
    } finally {
      this.held = undefined;
      if (held.length > 0) this.emit(held);
    }
  }

  /** Changes of the batch in progress (see `batch`), told when it ends. */
  private held: CacheChange[] | undefined;

  private emit(changes: readonly CacheChange[]): void {
    if (this.held) {
      for (const c of changes) this.held.push(c);
      return;
    }
    for (const l of this.listeners) l(changes);
  }
}

function sameRefs(a: readonly ResourceRef[], b: readonly ResourceRef[]): boolean {
  return a.length === b.length && a.every((r, i) => r.kind === b[i]!.kind && r.name === b[i]!.name);
}
