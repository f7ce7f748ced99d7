/**
 * The batcher coalesces bursts of mesh updates (a 200-pod scale-up) into a few publishes: an update waits
 * `delayMs` for more to come, but never longer than `maxDelayMs` after the first one pending. Updates that take
 * traffic away (an endpoint turning DRAINING or UNHEALTHY, or removed) go out at once, together with anything
 * pending: those are the ones that cause failed requests when late.
 *
 * Ownership: the batcher owns the pending mesh and its timer; `publish` is called synchronously from `offer` (fast
 * lane) or from the timer.
 */
import { counter } from '../admin/metrics';
import { log } from '../log/log';
import { endpointKey, type Mesh, type Service } from '../model/types';

export interface BatcherOptions {
  readonly delayMs: number;
  readonly maxDelayMs: number;
}

const mFlushes = counter('herald_batcher_flushes_total', 'Mesh publishes by lane (fast, delay, max-delay)');
const mOffers = counter('herald_batcher_updates_total', 'Mesh updates offered to the batcher');

export class Batcher {
  private published: Mesh = { services: new Map() };
  private pending: Mesh | undefined;
  private firstPendingAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: BatcherOptions,
    private readonly publish: (mesh: Mesh) => void,
    private readonly now: () => number = Date.now,
  ) {}

  offer(mesh: Mesh): void {
    mOffers.inc();
    if (this.pending === undefined) this.firstPendingAt = this.now();
    this.pending = mesh;
    if (this.o.delayMs <= 0 || takesTrafficAway(this.published, mesh)) return this.flush('fast');
    clearTimeout(this.timer);
    const maxWait = this.firstPendingAt + this.o.maxDelayMs - this.now();
    const wait = Math.max(0, Math.min(this.o.delayMs, maxWait));
    this.timer = setTimeout(() => {
      try {
        this.flush(wait < this.o.delayMs ? 'max-delay' : 'delay');
      } catch (err) {
        log('error', 'publishing a batch failed', { error: (err as Error).stack });
      }
    }, wait);
  }

  /** Publishes whatever is pending now. */
  flush(lane = 'explicit'): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const mesh = this.pending;
    if (!mesh) return;
    this.pending = undefined;
    this.published = mesh;
    mFlushes.inc({ lane });
    this.publish(mesh);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** Whether `next` removes an endpoint or service, or turns an endpoint away from HEALTHY/UNKNOWN. */
export function takesTrafficAway(prev: Mesh, next: Mesh): boolean {
  for (const [name, before] of prev.services) {
    const after = next.services.get(name);
    if (!after) {
      if (before.endpoints.length > 0) return true;
      continue;
    }
    if (after === before) continue;
    if (serviceTakesTrafficAway(before, after)) return true;
  }
  return false;
}

function serviceTakesTrafficAway(before: Service, after: Service): boolean {
  const now = new Map(after.endpoints.map((e) => [endpointKey(e), e.health]));
  for (const e of before.endpoints) {
    const h = now.get(endpointKey(e));
    if (h === undefined) return true;
    const routable = (x: string) => x === 'HEALTHY' || x === 'UNKNOWN';
    if (routable(e.health) && !routable(h)) return true;
  }
  return false;
}
