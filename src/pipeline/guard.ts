/**
 * The guard: a source update that would remove more than a set share of a service's endpoints at once, or empty
 * it, is held until it is confirmed, with a metric and a log line. Only the removals are held: the removed
 * endpoints stay as they were, while everything else in the update (new endpoints, DRAINING, UNHEALTHY) goes
 * through at once. Endpoints that were DRAINING are exempt: their removal is a normal scale-down. The share is measured
 * against the whole service as all sources serve it (the `sizes` its owner hands to each call), so a VM host leaving a service that pods
 * already serve is not suspicious, while a registry that suddenly answers nothing for a VM-only service is.
 *
 * A hold is released when the source's latest state still shows the reduction after `holdMs` (a timeout), or
 * earlier when the source re-reads its input fully (a relist) after the hold began and `confirmByReread` is on.
 * Sources whose reads can be wrong in the same way twice (a registry answering empty lists during an outage)
 * turn that off and rely on the timeout.
 *
 * Ownership: one Guard per source; it owns its accepted state and timers. `onRelease` is called (from a timer)
 * when a hold times out, so the owner can re-run the pipeline.
 */
import type { Metrics } from '../admin/metrics';
import type { Logger } from '../log/log';
import type { Telemetry } from '../telemetry';
import { compareEndpoints, endpointKey } from '../model/types';
import type { SourceService, SourceSnapshot, UpdateMeta } from '../sources/source';

export interface GuardOptions {
  /** Hold an update removing more than this share (0..1) of a service's non-draining endpoints. */
  readonly maxRemovalFraction: number;
  /** How long a suspicious update is held at most. 0 disables the guard. */
  readonly holdMs: number;
  readonly confirmByReread: boolean;
}

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function guardMetrics(m: Metrics) {
  return {
    held: m.counter('herald_guard_holds_total', 'Suspicious source updates held, by source and service', ['source', 'service']),
    released: m.counter('herald_guard_releases_total', 'Holds released, by source and reason (timeout, reread, recovered)', ['source', 'reason']),
    holding: m.gauge('herald_guard_held_services', 'Services currently held, by source', ['source']),
  };
}

/** Non-draining endpoints of a service across every source, if known. */
export type ServiceSizes = (service: string) => number | undefined;
const NO_SIZES: ServiceSizes = () => undefined;

interface Hold {
  readonly since: number;
  candidate: SourceService | undefined;
}

export class Guard {
  private accepted = new Map<string, SourceService>();
  private readonly holds = new Map<string, Hold>();
  private latest: SourceSnapshot = new Map();
  private timer: NodeJS.Timeout | undefined;
  private readonly m: ReturnType<typeof guardMetrics>;
  private readonly log: Logger;

  constructor(
    readonly source: string,
    private readonly o: GuardOptions,
    private readonly onRelease: () => void,
    telemetry: Telemetry,
    private readonly now: () => number = Date.now,
  ) {
    this.m = guardMetrics(telemetry.metrics);
    this.log = telemetry.log;
  }

  /** Services currently held, with when the hold began. */
  held(): Array<{ service: string; since: number }> {
    return [...this.holds].map(([service, h]) => ({ service, since: h.since }));
  }

  /**
   * The snapshot to apply in place of `snapshot`: held services keep their last accepted endpoints.
   * @param sizes the number of non-draining endpoints each service has now across every source, if known
   */
  filter(snapshot: SourceSnapshot, meta: UpdateMeta = {}, sizes: ServiceSizes = NO_SIZES): SourceSnapshot {
    this.latest = snapshot;
    return this.evaluate(meta.fullRead === true, sizes);
  }

  /** The state to apply now (after a hold timed out): the latest snapshot, filtered again. */
  current(sizes: ServiceSizes = NO_SIZES): SourceSnapshot {
    return this.evaluate(false, sizes);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private evaluate(reread: boolean, sizes: ServiceSizes): SourceSnapshot {
    if (this.o.holdMs <= 0) return (this.accepted = new Map(this.latest));
    const now = this.now();
    const out = new Map<string, SourceService>();
    const names = new Set([...this.accepted.keys(), ...this.latest.keys()]);
    for (const name of names) {
      const prev = this.accepted.get(name);
      const next = this.latest.get(name);
      const hold = this.holds.get(name);
      if (!prev || !this.suspicious(prev, next, () => sizes(name))) {
        if (hold) this.release(name, 'recovered');
        if (next) out.set(name, next);
        continue;
      }
      if (hold && now - hold.since >= this.o.holdMs) {
        this.release(name, 'timeout');
        if (next) out.set(name, next);
        continue;
      }
      if (hold && reread && this.o.confirmByReread) {
        this.release(name, 'reread');
        if (next) out.set(name, next);
        continue;
      }
      if (!hold) {
        this.holds.set(name, { since: now, candidate: next });
        this.m.held.inc({ source: this.source, service: name });
        this.log.write('warn', 'guard: holding a suspicious update', {
          source: this.source,
          service: name,
          before: prev.endpoints.length,
          after: next?.endpoints.length ?? 0,
          holdMs: this.o.holdMs,
        });
      } else hold.candidate = next;
      out.set(name, keepRemoved(prev, next));
    }
    this.accepted = out;
    this.m.holding.set(this.holds.size, { source: this.source });
    this.schedule();
    return out;
  }

  /** @param serviceSize read only when something was removed: it walks the service's endpoints */
  private suspicious(prev: SourceService, next: SourceService | undefined, serviceSize: () => number | undefined): boolean {
    if (prev === next) return false;
    const nextKeys = new Set((next?.endpoints ?? []).map(endpointKey));
    const live = prev.endpoints.filter((e) => e.health !== 'DRAINING');
    const removed = live.filter((e) => !nextKeys.has(endpointKey(e))).length;
    if (removed === 0) return false;
    const total = Math.max(live.length, serviceSize() ?? 0);
    // More than the share, or exactly the share when more than one endpoint goes at once: a registry answering
    // nothing for a service that is half VMs and half pods removes exactly half of it, and must be held too.
    const share = removed / total;
    return removed >= total || share > this.o.maxRemovalFraction || (removed > 1 && share >= this.o.maxRemovalFraction);
  }

  private release(name: string, reason: string): void {
    this.holds.delete(name);
    this.m.released.inc({ source: this.source, reason });
    this.log.write('info', 'guard: hold released', { source: this.source, service: name, reason });
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.holds.size === 0) return;
    const first = Math.min(...[...this.holds.values()].map((h) => h.since));
    this.timer = setTimeout(() => {
      try {
        this.onRelease();
      } catch (err) {
        this.log.write('error', 'guard: re-evaluating a hold failed', { source: this.source, error: (err as Error).stack });
      }
    }, Math.max(0, first + this.o.holdMs - this.now()) + 5);
    this.timer.unref();
  }
}

/** `next` plus the non-draining endpoints of `prev` that `next` lacks, as they were. */
function keepRemoved(prev: SourceService, next: SourceService | undefined): SourceService {
  const have = new Set((next?.endpoints ?? []).map(endpointKey));
  const kept = prev.endpoints.filter((e) => e.health !== 'DRAINING' && !have.has(endpointKey(e)));
  const policy = next ? next.policy : prev.policy;
  return { endpoints: [...(next?.endpoints ?? []), ...kept].sort(compareEndpoints), ...(policy ? { policy } : {}) };
}
