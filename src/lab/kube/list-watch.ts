/**
 * List-then-watch of one resource collection for the lab (the lab kubelet, test helpers): keeps a
 * store of the objects and calls a handler for every change, in order. It survives apiserver
 * restarts: a watch that ends is resumed from the last resourceVersion seen (bookmarks included);
 * 410 Gone triggers a relist whose differences to the store are delivered as ADDED/MODIFIED/DELETED;
 * other errors are retried with backoff (250 ms doubling to 4 s).
 *
 * Ownership: the store belongs to the ListWatch; get()/items() return the stored objects, which
 * callers must not modify. The handler runs synchronously inside the event loop of the watch and must
 * not throw (an exception is reported to onError and the event is still applied to the store).
 */
import { KubeApiError, type KubeClient, type KubeList, type KubeObject, type Query } from './client';
import { sleep } from './wait';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Called for errors the loop recovers from (for logs); default: ignored. */
  onError?: (err: unknown) => void;
}

export const objectKey = (o: KubeObject): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

export class ListWatch<T extends KubeObject = KubeObject> {
  private readonly store = new Map<string, T>();
  private rv = '';
  private stopped = false;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  /** Number of (re)lists done; 1 after start(). */
  lists = 0;

  constructor(
    private readonly client: KubeClient,
    /** Collection path, e.g. /api/v1/pods or /apis/discovery.k8s.io/v1/namespaces/default/endpointslices. */
    private readonly path: string,
    private readonly handler: (type: ChangeType, obj: T) => void,
    private readonly opts: ListWatchOptions = {},
  ) {}

  /** Lists once (delivering every object as ADDED), then watches in the background. */
  async start(): Promise<void> {
    await this.relist();
    this.loop = this.run();
  }

  /** Ends the watch; no handler call happens after the returned promise resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
  }

  get resourceVersion(): string {
    return this.rv;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  items(): T[] {
    return [...this.store.values()];
  }

  private selectors(): Query {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private deliver(type: ChangeType, obj: T): void {
    const key = objectKey(obj);
    if (type === 'DELETED') this.store.delete(key);
    else this.store.set(key, obj);
    try {
      this.handler(type, obj);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page: KubeList<T> = await this.client.get<KubeList<T>>(this.path, { ...this.selectors(), limit: 500, continue: cont });
      for (const item of page.items) fresh.set(objectKey(item), item);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    if (this.stopped) return;
    for (const [key, old] of this.store) if (!fresh.has(key)) this.deliver('DELETED', old);
    for (const [key, obj] of fresh) {
      const old = this.store.get(key);
      if (!old) this.deliver('ADDED', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.deliver('MODIFIED', obj);
    }
    this.rv = rv;
    this.lists++;
  }

  private async run(): Promise<void> {
    let backoff = 250;
    let needList = false;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        this.abort = new AbortController();
        await this.client.watch<T>(
          this.path,
          { ...this.selectors(), resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds: 300 },
          (e) => {
            if (this.stopped) return;
            if (e.object.metadata.resourceVersion) this.rv = e.object.metadata.resourceVersion;
            if (e.type !== 'BOOKMARK') this.deliver(e.type, e.object);
          },
          this.abort.signal,
        );
        backoff = 250;
      } catch (err) {
        if (this.stopped) break;
        this.opts.onError?.(err);
        if (err instanceof KubeApiError && err.status === 410) {
          needList = true;
          continue;
        }
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 4_000);
      }
    }
  }
}
