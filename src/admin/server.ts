/**
 * The loopback admin HTTP API: /healthz (the process answers), /readyz (every source synced and serving),
 * /proxies (per-stream xDS state), /status (per-proxy SYNCED/STALE/NACK/NOT SENT, see status.ts), /config
 * (what one proxy was sent, decoded: ?proxy=<stream id or node id>[&type=CDS,EDS][&name=a,b]), /services (the
 * published model), /holds (updates the guard is holding), /metrics (Prometheus text), and /ui (the dashboard,
 * static files that read this JSON API only).
 * Read-only: it changes nothing in Herald.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { log } from '../log/log';
import { renderMetrics } from './metrics';
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

export class AdminServer {
  private readonly server: http.Server;

  constructor(private readonly state: AdminState) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  listen(address: string, port: number): Promise<number> {
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
