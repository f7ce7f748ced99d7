/**
 * List-then-watch of one resource collection for the lab (the lab kubelet, test helpers), as whole objects:
 * a thin adapter over Herald's own Informer (src/sources/kubernetes/informer.ts), so the lab rides through
 * apiserver restarts, 410 Gone and stalls with the same code Herald does. A relist's differences to the store
 * are delivered as ADDED/MODIFIED/DELETED; a MODIFIED is delivered when the resourceVersion changed.
 *
 * Ownership: the store belongs to the Informer; get()/items() return the stored objects, which callers must not
 * modify. The handler runs synchronously for each change, in order; an exception in it is reported to onError.
 */
import type { KubeClient, KubeObject } from '../../../src/sources/kubernetes/client';
import { Informer } from '../../../src/sources/kubernetes/informer';
import { labTelemetry } from '../telemetry';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Called for errors the loop recovers from (for logs); default: ignored. */
  onError?: (err: unknown) => void;
}

export const objectKey = (o: KubeObject): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

export class ListWatch<T extends KubeObject = KubeObject> {
  private readonly informer: Informer<T>;

  constructor(
    client: KubeClient,
    /** Collection path, e.g. /api/v1/pods or /apis/discovery.k8s.io/v1/namespaces/default/endpointslices. */
    path: string,
    handler: (type: ChangeType, obj: T) => void,
    opts: ListWatchOptions = {},
  ) {
    this.informer = new Informer<T>(client, {
      name: `lab:${path}`,
      path,
      ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
      ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}),
      transform: (raw) => raw as T,
      equal: (a, b) => a.metadata.resourceVersion === b.metadata.resourceVersion,
      backoffMaxMs: 4_000,
      telemetry: labTelemetry(),
      ...(opts.onError ? { onError: opts.onError } : {}),
      onChanges: (changes) => {
        for (const c of changes) {
          try {
            handler(c.type, (c.obj ?? c.old)!);
          } catch (err) {
            opts.onError?.(err);
          }
        }
      },
    });
  }

  /** Number of (re)lists done; 1 after start(). */
  get lists(): number {
    return this.informer.lists;
  }

  /** Lists once (delivering every object as ADDED), then watches in the background. */
  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced();
  }

  /** Ends the watch; no handler call happens after the returned promise resolves. */
  stop(): Promise<void> {
    return this.informer.stop();
  }

  get resourceVersion(): string {
    return this.informer.resourceVersion;
  }

  get(key: string): T | undefined {
    return this.informer.get(key);
  }

  items(): T[] {
    return [...this.informer.values()];
  }
}
