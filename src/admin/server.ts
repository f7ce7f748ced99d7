/**
 * The loopback admin HTTP API: /healthz (the process answers), /readyz (every source synced and serving),
 * /proxies (per-stream xDS state), /status (per-proxy SYNCED/STALE/NACK/NOT SENT, see status.ts), /config
 * (what one proxy was sent, decoded: ?proxy=<stream id or node id>[&type=CDS,EDS][&name=a,b]), /services (the
 * published model), /holds (updates the guard is holding), /metrics (Prometheus text), and /ui (the dashboard,
 * static files that read this JSON API only).
 * Read-only: it changes nothing in Herald.
 *
 * DNS rebinding: a browser tricked into calling the admin port sends the attacker's name as Host. Only requests
 * whose Host (without port) is localhost, 127.0.0.1, [::1], the address the server is bound to (unless 0.0.0.0
 * or ::), or a configured name are answered; others get 403, a log line (rate-limited) and a metric. A request
 * without a Host header (HTTP/1.0, the kubelet's probes send one) is answered.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics';
import type { Logger } from '../log/log';
import type { Telemetry } from '../telemetry';
import type { ProxyInfo, ProxySummary } from '../xds/server';
import type { Mesh } from '../model/types';
import type { ConfigFilter, ProxyConfig } from './proxy-config';
import { proxyStatus } from './status';
import { uiAsset } from './ui';
import type { ConvergenceReport, MeshEvent } from '../pipeline/convergence';
import type { SourceHealth } from '../pipeline/intake';

export interface AdminState {
  ready(): boolean;
  /** One page of the streams (XdsServer.proxyPage). */
  proxies(query: { readonly proxy?: string; readonly after: number; readonly limit: number }): { proxies: ProxyInfo[]; next?: number };
  /** The proxies' sync summaries (for /status). */
  summaries(): ProxySummary[];
  mesh(): Mesh;
  /** Services the guard is holding, per source. */
  holds(): Record<string, Array<{ service: string; since: number }>>;
  /** What one proxy (stream id or node id) was sent; one entry per matching stream. */
  config(proxy: string, filter: ConfigFilter): ProxyConfig[];
  /** Recent changes with their last-ACK times, and the convergence histograms. */
  convergence(limit?: number): ConvergenceReport;
  /** Recent drains, removals, additions, holds (newest first). */
  events(limit?: number): ReadonlyArray<MeshEvent & { at: number; observedAt?: number; source?: string }>;
  /** Each source's health. */
  sources(): SourceHealth[];
}

const PATHS = ['/healthz', '/readyz', '/proxies', '/status', '/config', '/services', '/holds', '/events', '/convergence', '/sources', '/metrics', '/ui/'];

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function adminMetrics(m: Metrics) {
  return {
    hostRefused: m.counter('herald_admin_host_refused_total', 'Admin requests refused with 403 for a Host header not allowed (DNS rebinding)'),
  };
}

export interface AdminOptions {
  /** Host names (or IPs) answered besides loopback and the bound address, e.g. the pod IP or a Service name. */
  readonly allowedHosts?: readonly string[];
  /**
   * Probe mode: only /healthz, /readyz and /metrics, for any Host (the kubelet and Prometheus use the pod IP).
   * For a listener beyond the pod while the full API stays on loopback.
   */
  readonly probesOnly?: boolean;
  /** The instance's metrics (what /metrics renders) and logger. */
  readonly telemetry: Telemetry;
}

const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Streams per /proxies page unless ?limit= says otherwise: a stream's entry lists its subscriptions, so a page of
 * sidecars that each subscribe to 1,000 clusters costs the event loop about 20 ms (bench/admin.ts).
 */
const PROXIES_PAGE = 100;

/** `?limit=N` (1..1000), else undefined. */
function limit(url: URL): number | undefined {
  const n = Number(url.searchParams.get('limit') ?? '');
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1000) : undefined;
}

/** The host part of a Host header, lowercased, without port or IPv6 brackets. */
export function hostOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly allowed = new Set(['localhost', '127.0.0.1', '::1']);
  private readonly probesOnly: boolean;
  private readonly metrics: Metrics;
  private readonly m: ReturnType<typeof adminMetrics>;
  private readonly log: Logger;

  constructor(
    private readonly state: AdminState,
    options: AdminOptions,
  ) {
    this.metrics = options.telemetry.metrics;
    this.m = adminMetrics(this.metrics);
    this.log = options.telemetry.log;
    for (const h of options.allowedHosts ?? []) this.allowed.add(hostOf(h));
    this.probesOnly = options.probesOnly === true;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  listen(address: string, port: number): Promise<number> {
    if (address !== '0.0.0.0' && address !== '::') this.allowed.add(hostOf(address.includes(':') ? `[${address}]` : address));
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    try {
      if (this.probesOnly && !PROBE_PATHS.has(url.pathname)) return json(404, { error: `no such path ${url.pathname}`, paths: [...PROBE_PATHS] });
      const host = req.headers.host;
      if (!this.probesOnly && host !== undefined && !this.allowed.has(hostOf(host))) {
        this.m.hostRefused.inc();
        this.log.limited('admin:host', 'warn', 'admin request refused: Host not allowed', { host: host.slice(0, 200), peer: req.socket.remoteAddress, allowed: [...this.allowed] });
        return json(403, { error: `Host ${JSON.stringify(host.slice(0, 200))} is not allowed (admin.allowedHosts)` });
      }
      if (req.method !== 'GET') return json(405, { error: 'read-only API: use GET' });
      switch (url.pathname) {
        case '/healthz':
          return json(200, { ok: true });
        case '/readyz':
          return this.state.ready() ? json(200, { ready: true }) : json(503, { ready: false, reason: 'sources not synced yet' });
        case '/proxies': {
          const after = Number(url.searchParams.get('after') ?? '0');
          if (!Number.isSafeInteger(after) || after < 0) return json(400, { error: '?after= takes the stream id a previous page gave as next' });
          const proxy = url.searchParams.get('proxy') || undefined;
          return json(200, this.state.proxies({ ...(proxy ? { proxy } : {}), after, limit: limit(url) ?? PROXIES_PAGE }));
        }
        case '/services':
          return json(200, { services: [...this.state.mesh().services.values()] });
        case '/holds':
          return json(200, { holds: this.state.holds() });
        case '/events': {
          const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
          return json(200, { events: this.state.events(limit(url)).map((e) => ({ ...e, at: iso(e.at), ...(e.observedAt !== undefined ? { observedAt: iso(e.observedAt) } : {}) })) });
        }
        case '/convergence':
          return json(200, this.state.convergence(limit(url)));
        case '/sources': {
          const iso = (ms: number) => new Date(ms).toISOString();
          return json(200, {
            sources: this.state.sources().map((s) => ({
              ...s,
              ...(s.lastUpdateAt !== undefined ? { lastUpdateAt: iso(s.lastUpdateAt), lastObservedAt: iso(s.lastObservedAt!) } : {}),
              ...(s.lastError ? { lastError: { message: s.lastError.message, at: iso(s.lastError.at) } } : {}),
            })),
          });
        }
        case '/status':
          return json(200, { ready: this.state.ready(), proxies: this.state.summaries().map(proxyStatus) });
        case '/config': {
          const proxy = url.searchParams.get('proxy') ?? '';
          if (!proxy) return json(400, { error: 'give ?proxy=<stream id or node id>' });
          const list = (k: string) => (url.searchParams.get(k) ?? '').split(',').filter((x) => x !== '');
          const found = this.state.config(proxy, { types: list('type'), names: list('name') });
          return found.length === 0 ? json(404, { error: `no connected proxy ${JSON.stringify(proxy)}` }) : json(200, { streams: found });
        }
        case '/metrics':
          return void this.metrics.render().then(
            (text) => {
              res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
              res.end(text);
            },
            (err: Error) => {
              this.log.write('error', 'metrics collection failed', { error: err.message });
              json(500, { error: 'metrics collection failed' });
            },
          );
        case '/ui':
          res.writeHead(301, { location: '/ui/' });
          return void res.end();
        default: {
          const asset = url.pathname.startsWith('/ui/') ? uiAsset(url.pathname.slice(4) || 'index.html') : undefined;
          if (asset) {
            res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
            return void res.end(asset.body);
          }
          return json(404, { error: `no such path ${url.pathname}`, paths: PATHS });
        }
      }
    } catch (err) {
      this.log.write('error', 'admin request failed', { path: url.pathname, error: (err as Error).message });
      json(500, { error: 'internal error' });
    }
  }
}
