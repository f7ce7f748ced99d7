/**
 * The registry source: polls a legacy discovery service (GET /v1/registration/<service>) for a configured set of
 * services, every `intervalMs` plus jitter of up to the same amount (as Envoy's v1 SDS did), backing off
 * exponentially on errors. A failed or garbled answer keeps that service's last good endpoints; an answer with
 * fewer hosts is applied (the guard downstream decides whether it is believable).
 *
 * Ownership: the source owns its timer and per-service results; one poll cycle runs at a time.
 */
import { limited, log } from '../../log/log';
import { counter } from '../../admin/metrics';
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
}

const mPolls = counter('herald_registry_polls_total', 'Registry requests by source and outcome (ok, error, garbage)', ['source', 'outcome']);
const mSkipped = counter('herald_registry_hosts_skipped_total', 'Registry hosts skipped as malformed, by source', ['source']);

export class RegistrySource implements Source {
  readonly name: string;
  private readonly results = new Map<string, SourceService>();
  private readonly fetched = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private cycle: Promise<void> | undefined;

  constructor(private readonly o: RegistrySourceOptions) {
    this.name = o.name;
  }

  async start(sink: SourceSink): Promise<void> {
    const loop = async () => {
      if (this.stopped) return;
      this.cycle = this.poll(sink).catch((err: Error) => {
        // The pipeline downstream runs inside sink.update: a failure there must not end the polling.
        this.failures = Math.min(this.failures + 1, 8);
        log('error', 'registry poll failed', { source: this.name, error: err.stack });
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
        continue;
      }
      this.fetched.add(service);
      const prev = this.results.get(service);
      if (prev && JSON.stringify(prev.endpoints) === JSON.stringify(got.endpoints)) continue;
      if (got.endpoints.length === 0) this.results.delete(service);
      else this.results.set(service, got);
      changed = true;
      observedAt ??= Date.now();
    }
    this.failures = errors > 0 ? Math.min(this.failures + 1, 8) : 0;
    const synced = this.fetched.size === this.o.services.length;
    if (errors > 0) sink.error?.(this.name, `${errors} of ${this.o.services.length} services could not be read from ${this.o.url}`);
    if (changed || errors === 0) sink.update(this.name, new Map(this.results), synced, { fullRead: errors === 0, ...(observedAt !== undefined ? { observedAt } : {}) });
  }

  /** One service's endpoints, or undefined when the registry could not be read (the last good state stays). */
  private async fetchService(service: string): Promise<SourceService | undefined> {
    const url = `${this.o.url}/v1/registration/${encodeURIComponent(service)}`;
    let body: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000), headers: { accept: 'application/json' } });
      const text = await res.text();
      if (res.status === 404) body = { hosts: [] };
      else if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
      else {
        try {
          body = JSON.parse(text);
        } catch {
          mPolls.inc({ source: this.name, outcome: 'garbage' });
          limited(`registry-garbage:${this.name}:${service}`, 'warn', 'registry answer is not JSON; keeping the last good hosts', { source: this.name, service, body: text.slice(0, 200) });
          return undefined;
        }
      }
    } catch (err) {
      mPolls.inc({ source: this.name, outcome: 'error' });
      limited(`registry-error:${this.name}:${service}`, 'warn', 'registry unreachable; keeping the last good hosts', { source: this.name, service, error: (err as Error).message });
      return undefined;
    }
    const parsed = parseRegistryAnswer(body, service, { ttlMs: this.o.ttlSeconds * 1000, now: Date.now(), source: this.name });
    if (!parsed.ok) {
      mPolls.inc({ source: this.name, outcome: 'garbage' });
      limited(`registry-garbage:${this.name}:${service}`, 'warn', 'registry answer malformed; keeping the last good hosts', { source: this.name, service, problem: parsed.problem });
      return undefined;
    }
    mPolls.inc({ source: this.name, outcome: 'ok' });
    if (parsed.skipped.length > 0) {
      mSkipped.inc({ source: this.name }, parsed.skipped.length);
      limited(`registry-skip:${this.name}:${service}`, 'warn', 'registry hosts skipped', { source: this.name, service, problems: parsed.skipped.slice(0, 5) });
    }
    if (parsed.expired > 0) log('debug', 'registry hosts expired by TTL', { source: this.name, service, expired: parsed.expired });
    return { endpoints: parsed.endpoints.sort(compareEndpoints) };
  }
}
