/**
 * The batcher decides when the intake publishes: an update waits `delayMs` for more to come, but never longer
 * than `maxDelayMs` after the first one pending. Updates that take traffic away (an endpoint turning DRAINING or
 * UNHEALTHY, or removed: see takesTrafficAway) go out at once, together with anything pending: those are the ones
 * that cause failed requests when late.
 *
 * Ownership: the batcher owns only its timer and whether something is pending; it holds no mesh. The intake owns
 * the latest merged mesh and publishes it when the batcher calls `flush` (synchronously from `offer` on the fast
 * lane, or from the timer). An error thrown by `flush` is the intake's to log; the batcher stays usable.
 */
import type { Metrics } from '../admin/metrics';
import type { Telemetry } from '../telemetry';
import { endpointKey, type Mesh, type Service } from '../model/types';

export interface BatcherOptions {
  readonly delayMs: number;
  readonly maxDelayMs: number;
}

/** The batcher's metrics, declared in `m` (the same handles for every batcher of one instance). */
export function batcherMetrics(m: Metrics) {
  return {
    flushes: m.counter('herald_batcher_flushes_total', 'Mesh publishes by lane (fast, delay, max-delay)', ['lane']),
    offers: m.counter('herald_batcher_updates_total', 'Mesh updates offered to the batcher'),
    delay: m.histogram('herald_batcher_delay_seconds', 'Debounce: from the first pending update to its publish, by lane (fast, delay, max-delay, sync)', ['lane']),
  };
}

export class Batcher {
  private pending = false;
  private firstPendingAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly m: ReturnType<typeof batcherMetrics>;

  /** @param publish publishes the owner's latest state; called once per flush */
  constructor(
    private readonly o: BatcherOptions,
    private readonly publish: (lane: string) => void,
    telemetry: Telemetry,
    private readonly now: () => number = Date.now,
  ) {
    this.m = batcherMetrics(telemetry.metrics);
  }

  /** A new state is waiting; `urgent` when it takes traffic away. */
  offer(urgent: boolean): void {
    this.m.offers.inc();
    if (!this.pending) this.firstPendingAt = this.now();
    this.pending = true;
    if (this.o.delayMs <= 0 || urgent) return this.flush('fast');
    clearTimeout(this.timer);
    const maxWait = this.firstPendingAt + this.o.maxDelayMs - this.now();
    const wait = Math.max(0, Math.min(this.o.delayMs, maxWait));
    this.timer = setTimeout(() => this.flush(wait < this.o.delayMs ? 'max-delay' : 'delay'), wait);
  }

  /** Publishes now if anything is pending. */
  flush(lane = 'explicit'): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending) return;
    this.pending = false;
    this.m.flushes.inc({ lane });
    this.m.delay.observe(Math.max(0, this.now() - this.firstPendingAt) / 1000, { lane });
    this.publish(lane);
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
