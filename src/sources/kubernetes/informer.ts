/**
 * Herald's informer: a paginated list, then a watch with bookmarks that resumes from the last resourceVersion;
 * on 410 Gone (or an expired continue token) it relists and diffs the relist against its store, so only real
 * differences are delivered (no endpoint flaps). Errors back off exponentially with jitter; a watch that goes
 * silent past its own timeout is aborted by a watchdog and resumed.
 *
 * Objects are transformed on arrival into the compact form the consumer needs (only the fields Herald uses are
 * kept). Deliveries are batched per list or per watch event and are always in order.
 *
 * Ownership: the store belongs to the informer. Values handed out are the stored compact objects; callers must
 * not modify them. `onChanges` runs synchronously; an exception in it is logged and does not stop the informer.
 */
import type { Metrics } from '../../admin/metrics';
import type { Logger } from '../../log/log';
import type { Telemetry } from '../../telemetry';
import { informerLagHistogram, observeInformerLag } from './lag';

/** The transport the informer needs: list (GET) and watch. ./client.ts's KubeClient satisfies it. */
export interface KubeApi {
  get<T = unknown>(path: string, query?: Record<string, string | number | boolean | undefined>, signal?: AbortSignal): Promise<T>;
  watch<T = unknown>(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (e: { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T }) => void | Promise<void>,
    signal?: AbortSignal,
  ): Promise<void>;
}

export interface RawObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export interface Change<C> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly key: string;
  readonly old?: C;
  readonly obj?: C;
}

export interface InformerOptions<C> {
  /** For logs and metrics, e.g. "pods". */
  readonly name: string;
  /** Collection path, e.g. /api/v1/pods or /api/v1/namespaces/prod/pods. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Keeps what the consumer needs; undefined drops the object (as if absent). Must not throw. */
  readonly transform: (raw: any) => C | undefined;
  /** Structural equality of compact objects; a MODIFIED whose compact form is equal is not delivered. */
  readonly equal: (a: C, b: C) => boolean;
  /** Called with each batch of changes. `relist` is true for a (re)list, false for a watch event. */
  readonly onChanges: (changes: readonly Change<C>[], meta: { relist: boolean; at: number }) => void;
  readonly pageSize?: number;
  /** Server-side watch timeout; the watchdog fires at this plus 30 s. Default 60–120 s, randomised. */
  readonly watchTimeoutSeconds?: number;
  readonly backoffMinMs?: number;
  /** Default 5 s: after an apiserver outage the informer is back within seconds of it. */
  readonly backoffMaxMs?: number;
  /** Called with every error the loop recovers from (after it is logged). */
  readonly onError?: (err: unknown) => void;
  /** Where the informer's metrics and log lines go (its owner's). */
  readonly telemetry: Telemetry;
}

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function informerMetrics(m: Metrics) {
  return {
    events: m.counter('herald_kube_watch_events_total', 'Watch events received, by informer and type', ['informer', 'type']),
    relists: m.counter('herald_kube_relists_total', 'Lists and relists performed, by informer and reason', ['informer', 'reason']),
    errors: m.counter('herald_kube_errors_total', 'List/watch errors, by informer', ['informer']),
    objects: m.gauge('herald_kube_objects', 'Objects in the informer store, by informer', ['informer']),
    lag: informerLagHistogram(m),
  };
}

export function statusOf(err: unknown): number | undefined {
  const e = err as { status?: number; code?: number };
  return typeof e?.status === 'number' ? e.status : undefined;
}

const keyOf = (o: RawObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

export class Informer<C> {
  private readonly store = new Map<string, C>();
  private rv = '';
  private stopped = false;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private syncedOnce = false;
  private syncWaiters: Array<() => void> = [];
  /** How many lists were done (1 after the first sync). */
  lists = 0;

  private readonly m: ReturnType<typeof informerMetrics>;
  private readonly log: Logger;

  constructor(
    private readonly api: KubeApi,
    private readonly o: InformerOptions<C>,
  ) {
    this.m = informerMetrics(o.telemetry.metrics);
    this.log = o.telemetry.log;
  }

  /** Starts listing and watching in the background. */
  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Resolves once the first list has been delivered. */
  synced(): Promise<void> {
    return this.syncedOnce ? Promise.resolve() : new Promise((r) => this.syncWaiters.push(r));
  }

  get hasSynced(): boolean {
    return this.syncedOnce;
  }

  /** Ends the watch; no delivery happens after the returned promise resolves. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
  }

  get(key: string): C | undefined {
    return this.store.get(key);
  }

  values(): IterableIterator<C> {
    return this.store.values();
  }

  get resourceVersion(): string {
    return this.rv;
  }

  private async run(): Promise<void> {
    let needList = true;
    let failures = 0;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist(this.lists === 0 ? 'initial' : 'gone');
          needList = false;
        }
        // stop() may have run while the list was awaited (e.g. right after the first sync): its abort hit the
        // list's controller, so a watch opened now would run until its watchdog.
        if (this.stopped) break;
        const started = Date.now();
        const events = await this.watchOnce();
        // A watch that ends at once without an event (a misbehaving proxy in between) counts as a failure, so the
        // loop backs off instead of spinning against the apiserver.
        if (events === 0 && Date.now() - started < 1000) throw new Error('watch ended at once without events');
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        this.m.errors.inc({ informer: this.o.name });
        this.o.onError?.(err);
        failures++;
        if (statusOf(err) === 410) {
          this.log.write('info', 'watch expired (410 Gone); relisting', { informer: this.o.name, resourceVersion: this.rv });
          needList = true;
          // The first relist is immediate; repeated 410s back off like any other error.
          if (failures === 1) continue;
        }
        const delay = this.backoff(failures);
        this.log.limited(`informer:${this.o.name}`, 'warn', 'list/watch failed; backing off', { informer: this.o.name, error: (err as Error).message, retryMs: delay, failures });
        await this.sleep(delay);
      }
    }
  }

  private backoff(failures: number): number {
    const min = this.o.backoffMinMs ?? 250;
    const max = this.o.backoffMaxMs ?? 5_000;
    const base = Math.min(max, min * 2 ** Math.min(failures - 1, 16));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort = new AbortController();
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private query(): Record<string, string | number | undefined> {
    return { labelSelector: this.o.labelSelector, fieldSelector: this.o.fieldSelector };
  }

  /** Paginated list; an expired continue token restarts the list from scratch once. */
  private async relist(reason: string): Promise<void> {
    this.m.relists.inc({ informer: this.o.name, reason });
    const fresh = new Map<string, C>();
    let cont: string | undefined;
    let rv = '';
    let restarted = false;
    // Not do/while: `continue` (the restart below) must start the next page, not test the loop condition.
    for (;;) {
      this.abort = new AbortController();
      let page: { metadata: { resourceVersion: string; continue?: string }; items: RawObject[] };
      try {
        page = await this.api.get(this.o.path, { ...this.query(), limit: this.o.pageSize ?? 500, continue: cont }, this.abort.signal);
      } catch (err) {
        if (statusOf(err) === 410 && cont && !restarted) {
          restarted = true;
          fresh.clear();
          cont = undefined;
          continue;
        }
        throw err;
      }
      for (const raw of page.items ?? []) {
        const c = this.o.transform(raw);
        if (c !== undefined) fresh.set(keyOf(raw), c);
      }
      rv = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
      if (!cont || this.stopped) break;
    }
    if (this.stopped) return;

    const changes: Change<C>[] = [];
    for (const [key, obj] of fresh) {
      const old = this.store.get(key);
      if (old === undefined) changes.push({ type: 'ADDED', key, obj });
      else if (!this.o.equal(old, obj)) changes.push({ type: 'MODIFIED', key, old, obj });
    }
    for (const [key, old] of this.store) if (!fresh.has(key)) changes.push({ type: 'DELETED', key, old });
    this.store.clear();
    for (const [k, v] of fresh) this.store.set(k, v);
    this.rv = rv;
    this.lists++;
    this.m.objects.set(this.store.size, { informer: this.o.name });
    // Synced before delivering, so the consumer sees `hasSynced` true in the delivery of the first list.
    const first = !this.syncedOnce;
    this.syncedOnce = true;
    this.deliver(changes, true);
    if (first) for (const w of this.syncWaiters.splice(0)) w();
  }

  /** One watch from the current resourceVersion until it ends; resolves with the number of events seen. */
  private async watchOnce(): Promise<number> {
    // Short server-side timeouts bound how long a half-open connection can hide events: the watchdog fires at
    // the timeout plus 30 s (at most 2.5 min of silence); bookmarks keep the resume cheap.
    const timeout = this.o.watchTimeoutSeconds ?? 60 + Math.floor(Math.random() * 60);
    let events = 0;
    this.abort = new AbortController();
    const abort = this.abort;
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        this.log.limited(`watchdog:${this.o.name}`, 'warn', 'watch silent past its timeout; restarting it', { informer: this.o.name, timeoutSeconds: timeout });
        abort.abort();
      }, (timeout + 30) * 1000);
    };
    arm();
    try {
      await this.api.watch<any>(
        this.o.path,
        { ...this.query(), resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds: timeout },
        (e) => {
          arm();
          events++;
          this.m.events.inc({ informer: this.o.name, type: e.type });
          observeInformerLag(this.m.lag, this.o.name, e.type, e.object, Date.now());
          const newRv = e.object?.metadata?.resourceVersion;
          if (e.type === 'BOOKMARK') {
            if (newRv) this.rv = newRv;
            return;
          }
          const key = keyOf(e.object);
          const old = this.store.get(key);
          let change: Change<C> | undefined;
          if (e.type === 'DELETED') {
            if (old !== undefined) {
              this.store.delete(key);
              change = { type: 'DELETED', key, old };
            }
          } else {
            const obj = this.o.transform(e.object);
            if (obj === undefined) {
              if (old !== undefined) {
                this.store.delete(key);
                change = { type: 'DELETED', key, old };
              }
            } else if (old === undefined) {
              this.store.set(key, obj);
              change = { type: 'ADDED', key, obj };
            } else if (!this.o.equal(old, obj)) {
              this.store.set(key, obj);
              change = { type: 'MODIFIED', key, old, obj };
            }
          }
          if (newRv) this.rv = newRv;
          this.m.objects.set(this.store.size, { informer: this.o.name });
          if (change) this.deliver([change], false);
        },
        abort.signal,
      );
    } finally {
      clearTimeout(watchdog);
    }
    return events;
  }

  private deliver(changes: readonly Change<C>[], relist: boolean): void {
    if (changes.length === 0 && !relist) return;
    try {
      this.o.onChanges(changes, { relist, at: Date.now() });
    } catch (err) {
      this.log.write('error', 'informer consumer failed', { informer: this.o.name, error: (err as Error).stack });
    }
  }
}
