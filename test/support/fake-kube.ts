/**
 * A fake Kubernetes apiserver behind the product's `KubeApi` seam (get = list, watch), for unit tests of the
 * informer and the Kubernetes source. It keeps a store of objects per resource (pods, nodes, endpointslices) with
 * a resourceVersion counter and an event history, and answers like the apiserver does:
 *   - lists are paginated (`limit`, `continue`); a continue token can be expired (410 on the next page);
 *   - a watch replays the history after its `resourceVersion`, then delivers live events in order, awaiting each;
 *     a watch from a compacted resourceVersion is refused with 410 Gone; label selectors (`key`, `key=value`) turn
 *     a relabel out of (into) the selection into DELETED (ADDED), as the apiserver does;
 *   - scripted trouble: the next list/watch fails (`failNext`), open watches get an ERROR 410 (`expireWatches`),
 *     end normally (`closeWatches`), go silent without closing (`stallWatches`: a half-open connection), or get a
 *     BOOKMARK (`bookmark`).
 * Every call is recorded in `calls` (with its query and time), so tests can assert pagination, resume points and
 * backoff.
 *
 * Ownership: the test owns the fake and is its only writer; objects handed in and out are copies. For unit tests
 * only: proofs against the real apiserver live in test/e2e.
 */
import { performance } from 'node:perf_hooks';
import { KubeApiError } from '../../src/sources/kubernetes/client';
import type { KubeApi } from '../../src/sources/kubernetes/informer';

type Query = Record<string, string | number | boolean | undefined>;
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
type OnEvent = (e: { type: EventType; object: any }) => void | Promise<void>;

export interface FakeCall {
  readonly op: 'list' | 'watch';
  readonly path: string;
  readonly query: Query;
  /** performance.now() when the call arrived. */
  readonly at: number;
}

interface HistoryEntry {
  readonly rv: number;
  readonly resource: string;
  readonly before: any | undefined;
  readonly after: any | undefined;
}

const RESOURCE_OF_KIND: Record<string, string> = { Pod: 'pods', Node: 'nodes', EndpointSlice: 'endpointslices', Service: 'services' };

/** An apiserver error, as the product's client raises it (status 410 for Gone/Expired). */
export function kubeError(status: number, reason = '', message = `HTTP ${status} ${reason}`): KubeApiError {
  return new KubeApiError(status, reason, message);
}

function parsePath(path: string): { resource: string; namespace: string } {
  const m = /^\/apis?\/.*?(?:\/namespaces\/([^/]+))?\/([a-z]+)$/.exec(path);
  if (!m) throw new Error(`fake-kube: unsupported path ${path}`);
  return { resource: m[2]!, namespace: m[1] ?? '' };
}

function matchesSelector(obj: any, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels: Record<string, string> = obj?.metadata?.labels ?? {};
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return v === undefined ? k! in labels : labels[k!] === v;
  });
}

const keyOf = (resource: string, obj: any) => `${resource}|${obj.metadata.namespace ?? ''}|${obj.metadata.name}`;
const clone = <T>(x: T): T => structuredClone(x);

class OpenWatch {
  private chain: Promise<void> = Promise.resolve();
  done = false;
  stalled = false;

  constructor(
    readonly path: string,
    readonly resource: string,
    readonly namespace: string,
    readonly selector: string | undefined,
    private readonly onEvent: OnEvent,
    private readonly finish: (err?: unknown) => void,
    private readonly kube: FakeKube,
  ) {}

  matches(obj: any): boolean {
    return !this.namespace || obj.metadata.namespace === this.namespace;
  }

  /** Queues an event; delivered in order, each awaited, unless the watch is stalled or over. */
  send(type: EventType, object: any): void {
    if (this.done || this.stalled) return;
    this.kube.pending++;
    const copy = clone(object);
    this.chain = this.chain.then(async () => {
      try {
        if (!this.done && !this.stalled) await this.onEvent({ type, object: copy });
      } catch (err) {
        this.end(err);
      } finally {
        this.kube.pending--;
      }
    });
  }

  /** Ends the watch once what was queued before is delivered (an error, like the client, rejects it). */
  endAfterQueued(err?: unknown): void {
    this.chain = this.chain.then(() => this.end(err));
  }

  end(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.kube.forget(this);
    this.finish(err);
  }
}

export class FakeKube implements KubeApi {
  private rv = 100;
  private readonly objects = new Map<string, any>();
  private readonly history: HistoryEntry[] = [];
  private compactedBelow = 0;
  private readonly failures: Array<{ op: 'list' | 'watch'; match: ((path: string, query: Query) => boolean) | undefined; error: unknown }> = [];
  /** When true, every new watch ends normally at once, without events (a misbehaving proxy in between). */
  endWatchesAtOnce = false;
  private readonly watches = new Set<OpenWatch>();
  private readonly pages = new Map<string, { items: any[]; rv: string }>();
  private tokens = 0;
  private listing = 0;
  /** Events queued to watches and not yet delivered. */
  pending = 0;
  readonly calls: FakeCall[] = [];

  // ---------------------------------------------------------------------------------------------------------
  // The cluster's state (the test writes it).

  /** Creates or replaces an object (its `kind` says the resource); returns its new resourceVersion. */
  put(obj: any): string {
    const resource = RESOURCE_OF_KIND[obj.kind];
    if (!resource) throw new Error(`fake-kube: unknown kind ${obj.kind}`);
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    const key = keyOf(resource, stored);
    const before = this.objects.get(key);
    this.objects.set(key, stored);
    this.record({ rv: this.rv, resource, before, after: stored });
    return stored.metadata.resourceVersion;
  }

  /** Deletes an object; false if it did not exist. */
  remove(kind: string, namespace: string, name: string): boolean {
    const resource = RESOURCE_OF_KIND[kind]!;
    const key = keyOf(resource, { metadata: { namespace, name } });
    const before = this.objects.get(key);
    if (!before) return false;
    this.objects.delete(key);
    const gone = clone(before);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, resource, before, after: undefined });
    return true;
  }

  /** The history before the current resourceVersion is gone: a watch from an older one answers 410. */
  compact(): void {
    this.compactedBelow = this.rv;
    this.history.length = 0;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Scripted trouble.

  /** The next list or watch (one that `match`es, if given) fails with `error` (e.g. kubeError(500)). */
  failNext(op: 'list' | 'watch', error: unknown, match?: (path: string, query: Query) => boolean): void {
    this.failures.push({ op, match, error });
  }

  /** Every open watch (of paths containing `pathPart`) gets an ERROR event 410 Gone (its resourceVersion is too old), after what it was sent. */
  expireWatches(pathPart = ''): void {
    for (const w of this.open(pathPart)) w.endAfterQueued(kubeError(410, 'Expired', 'too old resource version'));
  }

  /** Every open watch (of paths containing `pathPart`) ends normally (the apiserver's timeout), after what it was sent. */
  closeWatches(pathPart = ''): void {
    for (const w of this.open(pathPart)) w.endAfterQueued();
  }

  /** Every open watch (of paths containing `pathPart`) goes silent without ending: a half-open connection. Later watches are fine. */
  stallWatches(pathPart = ''): void {
    for (const w of this.open(pathPart)) w.stalled = true;
  }

  /** Every open watch gets a BOOKMARK at the current resourceVersion. */
  bookmark(): void {
    for (const w of this.watches) w.send('BOOKMARK', { kind: 'Bookmark', metadata: { resourceVersion: String(this.rv) } });
  }

  /** The next page requested with a continue token answers 410 (the token expired). */
  expireContinueTokens(): void {
    this.pages.clear();
  }

  /** Open, live watches (of paths containing `pathPart`). */
  watching(pathPart = ''): number {
    return [...this.watches].filter((w) => !w.done && !w.stalled && w.path.includes(pathPart)).length;
  }

  /** Calls of one kind (to paths containing `pathPart`). */
  callsOf(op: 'list' | 'watch', pathPart = ''): FakeCall[] {
    return this.calls.filter((c) => c.op === op && c.path.includes(pathPart));
  }

  /**
   * Resolves once `cond` holds, polling every event-loop turn (so it also works with mocked timers); the error
   * names `what`. The deadline is real time.
   */
  async until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!cond()) {
      if (performance.now() > deadline) throw new Error(`fake-kube: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Resolves once every queued watch event is delivered and no list is in flight. */
  async settled(): Promise<void> {
    // A few turns first: an event just put may be one promise hop away from its queue.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    await this.until('watch deliveries and lists to settle', () => this.pending === 0 && this.listing === 0);
  }

  // ---------------------------------------------------------------------------------------------------------
  // KubeApi.

  async get<T = unknown>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T> {
    this.calls.push({ op: 'list', path, query: { ...query }, at: performance.now() });
    this.listing++;
    try {
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw new Error('aborted');
      const failure = this.takeFailure('list', path, query);
      if (failure) throw failure.error;
      const cont = query.continue === undefined ? undefined : String(query.continue);
      let snapshot: { items: any[]; rv: string };
      if (cont !== undefined) {
        const stored = this.pages.get(cont);
        if (!stored) throw kubeError(410, 'Expired', 'the provided continue parameter is too old');
        this.pages.delete(cont);
        snapshot = stored;
      } else {
        const { resource, namespace } = parsePath(path);
        const items = [...this.objects]
          .filter(([k, o]) => k.startsWith(`${resource}|`) && (!namespace || o.metadata.namespace === namespace) && matchesSelector(o, query.labelSelector as string | undefined))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([, o]) => o);
        snapshot = { items, rv: String(this.rv) };
      }
      const limit = typeof query.limit === 'number' && query.limit > 0 ? query.limit : Infinity;
      const page = snapshot.items.slice(0, limit);
      const rest = snapshot.items.slice(page.length);
      let token: string | undefined;
      if (rest.length > 0) this.pages.set((token = `page-${++this.tokens}`), { items: rest, rv: snapshot.rv });
      return clone({ kind: 'List', metadata: { resourceVersion: snapshot.rv, ...(token ? { continue: token } : {}) }, items: page }) as T;
    } finally {
      this.listing--;
    }
  }

  watch<T = unknown>(path: string, query: Query, onEvent: (e: { type: EventType; object: T }) => void | Promise<void>, signal?: AbortSignal): Promise<void> {
    this.calls.push({ op: 'watch', path, query: { ...query }, at: performance.now() });
    return new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const failure = this.takeFailure('watch', path, query);
        if (failure) return reject(failure.error);
        if (signal?.aborted || this.endWatchesAtOnce) return resolve();
        const from = Number(query.resourceVersion ?? 0);
        if (from < this.compactedBelow) return reject(kubeError(410, 'Expired', `too old resource version: ${from} (${this.compactedBelow})`));
        const { resource, namespace } = parsePath(path);
        const w = new OpenWatch(path, resource, namespace, query.labelSelector as string | undefined, onEvent as OnEvent, (err) => (err ? reject(err) : resolve()), this);
        this.watches.add(w);
        signal?.addEventListener('abort', () => w.end());
        for (const h of this.history) if (h.rv > from && h.resource === resource) this.deliver(w, h);
      });
    });
  }

  private open(pathPart: string): OpenWatch[] {
    return [...this.watches].filter((w) => w.path.includes(pathPart));
  }

  /** @internal the watch has ended */
  forget(w: OpenWatch): void {
    this.watches.delete(w);
  }

  private takeFailure(op: 'list' | 'watch', path: string, query: Query) {
    const i = this.failures.findIndex((f) => f.op === op && (f.match === undefined || f.match(path, query)));
    return i < 0 ? undefined : this.failures.splice(i, 1)[0];
  }

  private record(h: HistoryEntry): void {
    this.history.push(h);
    for (const w of this.watches) if (w.resource === h.resource) this.deliver(w, h);
  }

  /** One history entry as this watch sees it: a relabel out of its selector is a DELETED, into it an ADDED. */
  private deliver(w: OpenWatch, h: HistoryEntry): void {
    const obj = h.after ?? h.before;
    if (!w.matches(obj)) return;
    const was = h.before !== undefined && matchesSelector(h.before, w.selector);
    const is = h.after !== undefined && matchesSelector(h.after, w.selector);
    if (is) w.send(was ? 'MODIFIED' : 'ADDED', h.after);
    else if (was) w.send('DELETED', { ...h.before, metadata: { ...h.before.metadata, resourceVersion: String(h.rv) } });
  }
}

// -----------------------------------------------------------------------------------------------------------
// Object builders (the fields Herald reads, nothing more).

export interface PodSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  /** The service label's value (label `app`); null for no label. */
  readonly app?: string | null;
  readonly ip?: string;
  readonly ready?: boolean;
  readonly node?: string;
  readonly phase?: string;
  readonly deleting?: boolean;
  readonly created?: string;
  readonly hostNetwork?: boolean;
  /** Container ports: [name, port] or a bare port. Default [['http', 8080]]. */
  readonly ports?: ReadonlyArray<readonly [string, number] | number>;
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
}

export function pod(s: PodSpec): any {
  const labels: Record<string, string> = { ...(s.labels ?? {}) };
  if (s.app !== null) labels.app = s.app ?? 'web';
  return {
    kind: 'Pod',
    metadata: {
      name: s.name,
      namespace: s.namespace ?? 'default',
      uid: s.uid ?? `uid-${s.name}`,
      labels,
      annotations: s.annotations ?? {},
      creationTimestamp: s.created ?? '2026-01-01T00:00:00Z',
      ...(s.deleting ? { deletionTimestamp: '2026-01-01T01:00:00Z' } : {}),
    },
    spec: {
      nodeName: s.node ?? 'node-a',
      ...(s.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'app', ports: (s.ports ?? [['http', 8080]]).map((p) => (typeof p === 'number' ? { containerPort: p } : { name: p[0], containerPort: p[1] })) }],
    },
    status: {
      phase: s.phase ?? 'Running',
      ...(s.ip === '' ? {} : { podIP: s.ip ?? '10.1.0.1' }),
      conditions: [{ type: 'Ready', status: s.ready === false ? 'False' : 'True' }],
    },
  };
}

export function node(name: string, zone?: string): any {
  return { kind: 'Node', metadata: { name, labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} } };
}

export interface SliceEndpointSpec {
  readonly ip: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
  readonly zone?: string;
  readonly pod?: string;
}

export function slice(name: string, service: string, ports: ReadonlyArray<readonly [string, number]>, endpoints: readonly SliceEndpointSpec[], namespace = 'default'): any {
  return {
    kind: 'EndpointSlice',
    addressType: 'IPv4',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service } },
    ports: ports.map(([n, port]) => ({ name: n, port, protocol: 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      ...(e.zone ? { zone: e.zone } : {}),
      ...(e.pod ? { targetRef: { kind: 'Pod', namespace, name: e.pod } } : {}),
    })),
  };
}
