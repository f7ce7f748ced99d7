/**
 * Writes one pod's status to the apiserver, as a JSON merge patch of pods/status carrying the pod's
 * UID (so a new pod with the same name is never touched). Requests are coalesced: at most one patch
 * is in flight, and the next one carries the newest state. Network errors (e.g. an apiserver restart)
 * are retried with backoff; 404, and 422 on metadata.uid (pod gone, or replaced by one with the same
 * name), close the reporter for good; other
 * 4xx answers (an invalid status) are logged and not retried.
 *
 * Owned by one PodWorker; `build` is called right before each patch.
 */
import { KubeApiError } from '../../../src/sources/kubernetes/client';
import type { LabKubeClient } from '../kube/writer';
import { sleep } from '../kube/wait';
import type { PodStatus } from './types';

export class StatusReporter {
  private dirty = false;
  private closed = false;
  private running: Promise<void> | undefined;
  private readonly timers = new AbortController();

  constructor(
    private readonly client: LabKubeClient,
    private readonly path: string,
    private readonly uid: string,
    private readonly build: () => PodStatus,
    private readonly log: (msg: string) => void,
  ) {}

  /** Asks for the current state to be written soon. */
  request(): void {
    this.dirty = true;
    this.kick();
  }

  /** Writes the current state and resolves when every requested write is done (or given up). */
  async flush(): Promise<void> {
    this.request();
    while (this.running) await this.running;
  }

  close(): void {
    this.closed = true;
    this.timers.abort();
  }

  private kick(): void {
    if (this.running || this.closed || !this.dirty) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      this.kick();
    });
  }

  private async loop(): Promise<void> {
    let backoff = 200;
    while (this.dirty && !this.closed) {
      this.dirty = false;
      try {
        await this.client.mergePatch(this.path, { metadata: { uid: this.uid }, status: this.build() });
        backoff = 200;
      } catch (err) {
        const replaced = err instanceof KubeApiError && err.status === 422 && err.message.includes('metadata.uid');
        if (err instanceof KubeApiError && (err.status === 404 || err.status === 409 || replaced)) {
          this.closed = true;
          return;
        }
        if (err instanceof KubeApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
          this.log(`status patch rejected (not retried): ${err.message}`);
          continue;
        }
        this.log(`status patch failed (will retry): ${(err as Error).message}`);
        this.dirty = true;
        await sleep(backoff, this.timers.signal);
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
  }
}
