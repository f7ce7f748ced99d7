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
import { limited, log } from '../log/log';
import { counter, renderMetrics } from './metrics';
import type { ProxyInfo } from '../xds/server';
import type { Mesh } from '../model/types';
import type { ConfigFilter, ProxyConfig } from './proxy-config';
import { proxyStatus } from './status';
import { uiAsset } from './ui';

export interface AdminState {
  ready(): boolean;
  proxies(): ProxyInfo[];
  mesh(): Mesh;
  /** Services the guard is holding, per source. */
  holds(): Record<string, Array<{ service: string; since: number }>>;
  /** What one proxy (stream id or node id) was sent; one entry per matching stream. */
  config(proxy: string, filter: ConfigFilter): ProxyConfig[];
}

const PATHS = ['/healthz', '/readyz', '/proxies', '/status', '/config', '/services', '/holds', '/metrics', '/ui/'];

const mHostRefused = counter('herald_admin_host_refused_total', 'Admin requests refused with 403 for a Host header not allowed (DNS rebinding)');

export interface AdminOptions {
  /** Host names (or IPs) answered besides loopback and the bound address, e.g. the pod IP or a Service name. */
  readonly allowedHosts?: readonly string[];
  /**
   * Probe mode: only /healthz, /readyz and /metrics, for any Host (the kubelet and Prometheus use the pod IP).
   * For a listener beyond the pod while the full API stays on loopback.
   */
  readonly probesOnly?: boolean;
}

const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

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

  constructor(
    private readonly state: AdminState,
    options: AdminOptions = {},
  ) {
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
        mHostRefused.inc();
        limited('admin:host', 'warn', 'admin request refused: Host not allowed', { host: host.slice(0, 200), peer: req.socket.remoteAddress, allowed: [...this.allowed] });
        return json(403, { error: `Host ${JSON.stringify(host.slice(0, 200))} is not allowed (admin.allowedHosts)` });
      }
      if (req.method !== 'GET') return json(405, { error: 'read-only API: use GET' });
      switch (url.pathname) {
        case '/healthz':
          return json(200, { ok: true });
        case '/readyz':
          return this.state.ready() ? json(200, { ready: true }) : json(503, { ready: false, reason: 'sources not synced yet' });
        case '/proxies':
          return json(200, { proxies: this.state.proxies() });
        case '/services':
          return json(200, { services: [...this.state.mesh().services.values()] });
        case '/holds':
          return json(200, { holds: this.state.holds() });
        case '/status':
          return json(200, { ready: this.state.ready(), proxies: this.state.proxies().map(proxyStatus) });
        case '/config': {
          const proxy = url.searchParams.get('proxy') ?? '';
          if (!proxy) return json(400, { error: 'give ?proxy=<stream id or node id>' });
          const list = (k: string) => (url.searchParams.get(k) ?? '').split(',').filter((x) => x !== '');
          const found = this.state.config(proxy, { types: list('type'), names: list('name') });
          return found.length === 0 ? json(404, { error: `no connected proxy ${JSON.stringify(proxy)}` }) : json(200, { streams: found });
        }
        case '/metrics':
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          return void res.end(renderMetrics());
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
      log('error', 'admin request failed', { path: url.pathname, error: (err as Error).message });
      json(500, { error: 'internal error' });
    }
  }
}
