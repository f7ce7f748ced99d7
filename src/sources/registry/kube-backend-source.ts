/**
 * The registry source reading RegistryHost resources directly (watch, not poll): VM changes reach the model as
 * fast as pod changes. It maps hosts exactly as the HTTP source does (protocol.ts parseRegistryAnswer: zone,
 * region, clamped weights, canary, per-host skips with reasons) for the configured services, and expires a host
 * on its own clock at last check-in + TTL (a timer armed at the earliest expiry), so a host whose replicas are
 * all gone still leaves on time; the sweeper's DELETE that follows changes nothing, so expiry is seen once.
 *
 * Ownership: the source owns its timer and snapshot; the cache (shared or its own) owns the watch.
 */
import type { Metrics } from '../../admin/metrics';
import type { Logger } from '../../log/log';
import type { Telemetry } from '../../telemetry';
import { compareEndpoints } from '../../model/types';
import type { Source, SourceService, SourceSink } from '../source';
import { formatCheckIn, parseRegistryAnswer } from './protocol';
import type { CachedHost, RegistryHostCache } from './kube-backend-hosts';
import type { Change } from '../kubernetes/informer';

export interface KubeRegistrySourceOptions {
  readonly name: string;
  readonly services: readonly string[];
  readonly ttlSeconds: number;
  readonly cache: RegistryHostCache;
  /** Whether this source starts and stops the cache (false when another owner shares it). */
  readonly ownsCache: boolean;
  /** The instance's metrics and logger. */
  readonly telemetry: Telemetry;
}

/** This module's metrics, declared in `m` (the same series as the HTTP registry source's; the same handles for every caller on one Metrics). */
export function registryHostsMetrics(m: Metrics) {
  return {
    skipped: m.counter('herald_registry_hosts_skipped_total', 'Registry hosts skipped as malformed, by source', ['source']),
    noted: m.counter('herald_registry_hosts_adjusted_total', 'Registry hosts kept with a value adjusted (a weight clamped), by source', ['source']),
  };
}

export class KubeRegistrySource implements Source {
  readonly name: string;
  private sink: SourceSink | undefined;
  private results = new Map<string, SourceService>();
  /** The cached hosts of each configured service, by resource name (kept from the cache's changes). */
  private readonly index = new Map<string, Map<string, CachedHost>>();
  private readonly wanted: ReadonlySet<string>;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  private readonly m: ReturnType<typeof registryHostsMetrics>;
  private readonly log: Logger;

  constructor(private readonly o: KubeRegistrySourceOptions) {
    this.m = registryHostsMetrics(o.telemetry.metrics);
    this.log = o.telemetry.log;
    this.name = o.name;
    this.wanted = new Set(o.services);
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.unsubscribe = this.o.cache.onChange((changes, relist) => (relist ? this.reindex() : this.apply(changes)));
    if (this.o.ownsCache) void this.o.cache.start();
    if (this.o.cache.synced) this.reindex();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    if (this.o.ownsCache) await this.o.cache.stop();
  }

  /** After a (re)list: the index from the whole cache, every service rebuilt, and an update emitted. */
  private reindex(): void {
    this.index.clear();
    for (const h of this.o.cache.all()) this.put(h);
    this.rebuild(this.o.services, true);
  }

  /** One watch event: only the services it touches are rebuilt. */
  private apply(changes: readonly Change<CachedHost>[]): void {
    const touched = new Set<string>();
    for (const c of changes) {
      if (c.old && this.wanted.has(c.old.service)) {
        // By resource name, as put() indexes (c.key is the informer's namespace/name).
        this.index.get(c.old.service)?.delete(c.old.name);
        touched.add(c.old.service);
      }
      if (c.obj && this.wanted.has(c.obj.service)) {
        this.put(c.obj);
        touched.add(c.obj.service);
      }
    }
    if (touched.size > 0) this.rebuild(touched, false);
  }

  private put(h: CachedHost): void {
    if (!this.wanted.has(h.service)) return;
    let m = this.index.get(h.service);
    if (!m) this.index.set(h.service, (m = new Map()));
    m.set(h.name, h);
  }

  /**
   * Recomputes `services` from the index (expiring hosts past their TTL on this clock), keeps unchanged
   * services' objects, and emits when anything changed (always after a relist). Arms the expiry timer.
   */
  private rebuild(services: Iterable<string>, relist: boolean): void {
    if (this.stopped || !this.sink || !this.o.cache.synced) return;
    const now = Date.now();
    const ttlMs = this.o.ttlSeconds * 1000;
    let changed = false;
    let nextExpiry = Infinity;
    for (const service of services) {
      const hosts = [...(this.index.get(service)?.values() ?? [])];
      for (const h of hosts) if (h.lastCheckIn + ttlMs >= now) nextExpiry = Math.min(nextExpiry, h.lastCheckIn + ttlMs);
      const parsed = parseRegistryAnswer(
        { hosts: hosts.map((h) => ({ ip_address: h.ip, port: h.port, last_check_in: formatCheckIn(h.lastCheckIn), tags: h.tags })) },
        service,
        { ttlMs, now, source: this.name },
      );
      if (!parsed.ok) continue; // cannot happen: the shape is ours
      if (parsed.skipped.length > 0) {
        this.m.skipped.inc({ source: this.name }, parsed.skipped.length);
        this.log.limited(`registry-skip:${this.name}:${service}`, 'warn', 'registry hosts skipped', { source: this.name, service, skipped: parsed.skipped.length, problems: parsed.skipped.slice(0, 5) });
      }
      if (parsed.notes.length > 0) {
        this.m.noted.inc({ source: this.name }, parsed.notes.length);
        this.log.limited(`registry-note:${this.name}:${service}`, 'warn', 'registry hosts adjusted', { source: this.name, service, notes: parsed.notes.slice(0, 5) });
      }
      const prev = this.results.get(service);
      if (parsed.endpoints.length === 0) {
        if (prev) {
          this.results.delete(service);
          changed = true;
        }
        continue;
      }
      const endpoints = parsed.endpoints.sort(compareEndpoints);
      if (prev && JSON.stringify(prev.endpoints) === JSON.stringify(endpoints)) continue;
      this.results.set(service, { endpoints });
      changed = true;
    }
    // Later check-ins only move expiries later, so an armed timer stays valid (at worst early: it rebuilds and re-arms).
    if (nextExpiry < this.timerAt || this.timerAt <= now) this.arm(nextExpiry, now);
    if (changed || relist) this.sink.update(this.name, new Map(this.results), true, { fullRead: relist });
  }

  private arm(at: number, now: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    if (at === Infinity) return;
    // +5 ms: past the boundary (expiry is strictly "older than the TTL"). On firing, every service is rebuilt.
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      this.rebuild(this.o.services, false);
    }, Math.min(at - now + 5, 2 ** 31 - 1));
    this.timer.unref();
  }
}
