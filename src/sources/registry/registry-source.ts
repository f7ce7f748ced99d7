/**
 * The registry source: polls a legacy discovery service (GET /v1/registration/<service>) for a configured set of
 * services, every `intervalMs` plus jitter of up to the same amount (as Envoy's v1 SDS did), backing off
 * exponentially on errors.
 *
 * What counts as an answer: only a 200 with a JSON object holding a `hosts` list. A 404 (the original answers
 * 404 only for a wrong URL: an unknown service is a 200 with no hosts), any other status, a non-JSON body or a
 * wrong shape is an error of the source: the service keeps its last good hosts, the error is logged
 * (rate-limited) and counted in `herald_registry_polls_total{outcome}`. A 500 is retried once at once within the
 * cycle (the original answers 500 when a GET sweeps an expired host, and the next GET succeeds). Kept hosts are
 * never held past their own TTL: while a service cannot be read, each kept host is dropped once its last
 * check-in is older than `ttlSeconds`, as the registry itself would have dropped it.
 *
 * One malformed host is skipped with a reason (service/host) and counted; the rest are kept.
 *
 * Ownership: the source owns its timer and per-service results; one poll cycle runs at a time.
 */
import type { Metrics } from '../../admin/metrics';
import type { Logger } from '../../log/log';
import type { Telemetry } from '../../telemetry';
import type { Source, SourceService, SourceSink } from '../source';
import { compareEndpoints } from '../../model/types';
import { parseRegistryAnswer } from './protocol';

export interface RegistrySourceOptions {
  readonly name: string;
  readonly url: string;
  readonly services: readonly string[];
  readonly intervalMs: number;
  readonly ttlSeconds: number;
  readonly timeoutMs?: number;
  /** The instance's metrics and logger. */
  readonly telemetry: Telemetry;
}

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function registrySourceMetrics(m: Metrics) {
  return {
    polls: m.counter('herald_registry_polls_total', 'Registry requests by source and outcome (ok, error, not_found, garbage)', ['source', 'outcome']),
    skipped: m.counter('herald_registry_hosts_skipped_total', 'Registry hosts skipped as malformed, by source', ['source']),
    noted: m.counter('herald_registry_hosts_adjusted_total', 'Registry hosts kept with a value adjusted (a weight clamped), by source', ['source']),
    expiredKept: m.counter('herald_registry_kept_hosts_expired_total', 'Kept hosts dropped by their own TTL while the registry could not be read, by source', ['source']),
  };
}

interface Result extends SourceService {
  /** Last check-in (epoch ms) by address:port, for expiring kept hosts while the registry fails. */
  readonly checkIns: ReadonlyMap<string, number>;
}

/** A failed read: `status` is the HTTP status when there was one. */
class ReadError extends Error {
  constructor(
    message: string,
    readonly outcome: 'error' | 'not_found' | 'garbage',
    readonly status?: number,
  ) {
    super(message);
  }
}

export class RegistrySource implements Source {
  readonly name: string;
  private readonly results = new Map<string, SourceService>();
  /** Last check-ins of each service's kept hosts (updated on every good read, even an unchanged one). */
  private readonly checkIns = new Map<string, ReadonlyMap<string, number>>();
  private readonly fetched = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private cycle: Promise<void> | undefined;
  private readonly m: ReturnType<typeof registrySourceMetrics>;
  private readonly log: Logger;

  constructor(private readonly o: RegistrySourceOptions) {
    this.m = registrySourceMetrics(o.telemetry.metrics);
    this.log = o.telemetry.log;
    this.name = o.name;
  }

  async start(sink: SourceSink): Promise<void> {
    const loop = async () => {
      if (this.stopped) return;
      this.cycle = this.poll(sink).catch((err: Error) => {
        // The pipeline downstream runs inside sink.update: a failure there must not end the polling.
        this.failures = Math.min(this.failures + 1, 8);
        this.log.write('error', 'registry poll failed', { source: this.name, error: err.stack });
      });
      await this.cycle;
      if (this.stopped) return;
      const base = this.failures === 0 ? this.o.intervalMs : Math.max(this.o.intervalMs, Math.min(this.o.intervalMs * 2 ** this.failures, 60_000));
      this.timer = setTimeout(loop, base + Math.random() * base);
      this.timer.unref();
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.cycle;
  }

  private async poll(sink: SourceSink): Promise<void> {
    let errors = 0;
    let changed = false;
    /** When the first changed answer arrived: what this update observed. */
    let observedAt: number | undefined;
    for (const service of this.o.services) {
      const got = await this.fetchService(service);
      if (got === undefined) {
        errors++;
        if (this.expireKept(service)) changed = true;
        continue;
      }
      this.fetched.add(service);
      this.checkIns.set(service, got.checkIns);
      const prev = this.results.get(service);
      if (prev && JSON.stringify(prev.endpoints) === JSON.stringify(got.endpoints)) continue;
      if (got.endpoints.length === 0) this.results.delete(service);
      else this.results.set(service, { endpoints: got.endpoints });
      changed = true;
      observedAt ??= Date.now();
    }
    this.failures = errors > 0 ? Math.min(this.failures + 1, 8) : 0;
    const synced = this.fetched.size === this.o.services.length;
    if (errors > 0) sink.error?.(this.name, `${errors} of ${this.o.services.length} services could not be read from ${this.o.url}`);
    if (changed || errors === 0) sink.update(this.name, new Map(this.results), synced, { fullRead: errors === 0, ...(observedAt !== undefined ? { observedAt } : {}) });
  }

  /** Drops the kept hosts of an unreadable service whose own TTL has passed; true when any was dropped. */
  private expireKept(service: string): boolean {
    const prev = this.results.get(service);
    if (!prev) return false;
    const now = Date.now();
    const ttlMs = this.o.ttlSeconds * 1000;
    const checkIns = this.checkIns.get(service);
    const live = prev.endpoints.filter((e) => {
      const at = checkIns?.get(`${e.address}:${e.port}`);
      return at === undefined || now - at <= ttlMs;
    });
    if (live.length === prev.endpoints.length) return false;
    this.m.expiredKept.inc({ source: this.name }, prev.endpoints.length - live.length);
    this.log.write('info', 'registry unreadable; kept hosts past their TTL dropped', { source: this.name, service, dropped: prev.endpoints.length - live.length });
    if (live.length === 0) this.results.delete(service);
    else this.results.set(service, { endpoints: live });
    return true;
  }

  /** One service's endpoints, or undefined when the registry could not be read (the last good state stays). */
  private async fetchService(service: string): Promise<Result | undefined> {
    let body: unknown;
    try {
      try {
        body = await this.read(service);
      } catch (err) {
        // The original answers 500 when a GET sweeps an expired host; the sweep is done, so the next GET answers.
        if (!(err instanceof ReadError && err.status !== undefined && err.status >= 500)) throw err;
        this.m.polls.inc({ source: this.name, outcome: 'error' });
        body = await this.read(service);
      }
    } catch (err) {
      const outcome = err instanceof ReadError ? err.outcome : 'error';
      this.m.polls.inc({ source: this.name, outcome });
      this.log.limited(`registry-${outcome}:${this.name}:${service}`, 'warn', 'registry could not be read; keeping the last good hosts', {
        source: this.name,
        service,
        outcome,
        error: (err as Error).message,
      });
      return undefined;
    }
    const parsed = parseRegistryAnswer(body, service, { ttlMs: this.o.ttlSeconds * 1000, now: Date.now(), source: this.name });
    if (!parsed.ok) {
      this.m.polls.inc({ source: this.name, outcome: 'garbage' });
      this.log.limited(`registry-garbage:${this.name}:${service}`, 'warn', 'registry answer malformed; keeping the last good hosts', { source: this.name, service, problem: parsed.problem });
      return undefined;
    }
    this.m.polls.inc({ source: this.name, outcome: 'ok' });
    if (parsed.skipped.length > 0) {
      this.m.skipped.inc({ source: this.name }, parsed.skipped.length);
      this.log.limited(`registry-skip:${this.name}:${service}`, 'warn', 'registry hosts skipped', { source: this.name, service, skipped: parsed.skipped.length, problems: parsed.skipped.slice(0, 5) });
    }
    if (parsed.notes.length > 0) {
      this.m.noted.inc({ source: this.name }, parsed.notes.length);
      this.log.limited(`registry-note:${this.name}:${service}`, 'warn', 'registry hosts adjusted', { source: this.name, service, adjusted: parsed.notes.length, notes: parsed.notes.slice(0, 5) });
    }
    if (parsed.expired > 0) this.log.write('debug', 'registry hosts expired by TTL', { source: this.name, service, expired: parsed.expired });
    return { endpoints: parsed.endpoints.sort(compareEndpoints), checkIns: parsed.checkIns };
  }

  /** One GET: the parsed JSON of a 200, or a ReadError saying what was wrong. */
  private async read(service: string): Promise<unknown> {
    const url = `${this.o.url}/v1/registration/${encodeURIComponent(service)}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000), headers: { accept: 'application/json' } });
      text = await res.text();
    } catch (err) {
      throw new ReadError(`unreachable: ${(err as Error).message}`, 'error');
    }
    if (res.status === 404) throw new ReadError(`HTTP 404 (a wrong URL: the registry answers an unknown service with 200 and no hosts): ${text.slice(0, 100)}`, 'not_found', 404);
    if (res.status !== 200) throw new ReadError(`HTTP ${res.status}: ${text.slice(0, 200)}`, 'error', res.status);
    try {
      return JSON.parse(text);
    } catch {
      throw new ReadError(`answer is not JSON: ${JSON.stringify(text.slice(0, 100))}`, 'garbage', 200);
    }
  }
}
