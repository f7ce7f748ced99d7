/**
 * The registry source reading RegistryHost resources directly (watch, not poll): VM changes reach the model as
 * fast as pod changes. It maps hosts exactly as the HTTP source does (protocol.ts parseRegistryAnswer: zone,
 * region, clamped weights, canary, per-host skips with reasons) for the configured services, and expires a host
 * on its own clock at last check-in + TTL (a timer armed at the earliest expiry), so a host whose replicas are
 * all gone still leaves on time; the sweeper's DELETE that follows changes nothing, so expiry is seen once.
 *
 * Ownership: the source owns its timer and snapshot; the cache (shared or its own) owns the watch.
 */
import { limited } from '../../log/log';
import { counter } from '../../admin/metrics';
import { compareEndpoints } from '../../model/types';
import type { Source, SourceService, SourceSink } from '../source';
import { formatCheckIn, parseRegistryAnswer } from './protocol';
import type { RegistryHostCache } from './kube-backend';

export interface KubeRegistrySourceOptions {
  readonly name: string;
  readonly services: readonly string[];
  readonly ttlSeconds: number;
  readonly cache: RegistryHostCache;
  /** Whether this source starts and stops the cache (false when another owner shares it). */
  readonly ownsCache: boolean;
}

const mSkipped = counter('herald_registry_hosts_skipped_total', 'Registry hosts skipped as malformed, by source');
const mNoted = counter('herald_registry_hosts_adjusted_total', 'Registry hosts kept with a value adjusted (a weight clamped), by source');

export class KubeRegistrySource implements Source {
  readonly name: string;
  private sink: SourceSink | undefined;
  private results = new Map<string, SourceService>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly o: KubeRegistrySourceOptions) {
    this.name = o.name;
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.unsubscribe = this.o.cache.onChange((relist) => this.rebuild(relist));
    if (this.o.ownsCache) void this.o.cache.start();
    if (this.o.cache.synced) this.rebuild(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    if (this.o.ownsCache) await this.o.cache.stop();
  }

  /** Recomputes every configured service from the cache; emits when anything changed, and after every (re)list. */
  private rebuild(fullRead: boolean): void {
    if (this.stopped || !this.sink || !this.o.cache.synced) return;
    const now = Date.now();
    const ttlMs = this.o.ttlSeconds * 1000;
    const wanted = new Set(this.o.services);
    const byService = new Map<string, unknown[]>();
    let nextExpiry = Infinity;
    for (const h of this.o.cache.all()) {
      if (!wanted.has(h.service)) continue;
      let list = byService.get(h.service);
      if (!list) byService.set(h.service, (list = []));
      list.push({ ip_address: h.ip, port: h.port, last_check_in: formatCheckIn(h.lastCheckIn), tags: h.tags });
      const expiry = h.lastCheckIn + ttlMs;
      if (expiry > now) nextExpiry = Math.min(nextExpiry, expiry);
    }
    const next = new Map<string, SourceService>();
    let changed = false;
    for (const service of this.o.services) {
      const parsed = parseRegistryAnswer({ hosts: byService.get(service) ?? [] }, service, { ttlMs, now, source: this.name });
      if (!parsed.ok) continue; // cannot happen: the shape is ours
      if (parsed.skipped.length > 0) {
        mSkipped.inc({ source: this.name }, parsed.skipped.length);
        limited(`registry-skip:${this.name}:${service}`, 'warn', 'registry hosts skipped', { source: this.name, service, skipped: parsed.skipped.length, problems: parsed.skipped.slice(0, 5) });
      }
      if (parsed.notes.length > 0) {
        mNoted.inc({ source: this.name }, parsed.notes.length);
        limited(`registry-note:${this.name}:${service}`, 'warn', 'registry hosts adjusted', { source: this.name, service, notes: parsed.notes.slice(0, 5) });
      }
      if (parsed.endpoints.length === 0) {
        if (this.results.has(service)) changed = true;
        continue;
      }
      const endpoints = parsed.endpoints.sort(compareEndpoints);
      const prev = this.results.get(service);
      if (prev && JSON.stringify(prev.endpoints) === JSON.stringify(endpoints)) next.set(service, prev);
      else {
        next.set(service, { endpoints });
        changed = true;
      }
    }
    this.results = next;
    clearTimeout(this.timer);
    if (nextExpiry !== Infinity) {
      // +5 ms: past the boundary (expiry is strictly "older than the TTL").
      this.timer = setTimeout(() => this.rebuild(false), Math.min(nextExpiry - now + 5, 2 ** 31 - 1));
      this.timer.unref();
    }
    if (changed || fullRead) this.sink.update(this.name, new Map(this.results), true, { fullRead });
  }
}
