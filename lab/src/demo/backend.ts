/**
 * Plain HTTP backends on loopback (the demo's, and tests'): each answers every path with its own name (body and
 * x-backend header), so a caller can tell which endpoint served a request. `?delayMs=N` delays the answer.
 *
 * The health path (default /healthz) can be made to fail (503) or to answer slowly, so tests can drive Envoy's
 * active health checks; with no options a backend behaves exactly as before (every path 200 at once).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BackendOptions {
  /** The path whose answer `setHealthy` and `healthDelayMs` control (default /healthz). */
  readonly healthPath?: string;
  /** Delay every health-path answer by this much (e.g. to make a new host's first health check slow). */
  readonly healthDelayMs?: number;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  /** Requests received, by path. */
  readonly hits: Map<string, number>;
  /** Requests received and not yet answered. */
  readonly inflight: number;
  /** false: the health path answers 503 from now on; true: 200 again. */
  setHealthy(healthy: boolean): void;
  /** Changes the health-path delay for requests arriving from now on. */
  setHealthDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startBackend(name: string, host = '127.0.0.1', port = 0, options: BackendOptions = {}): Promise<Backend> {
  const hits = new Map<string, number>();
  const healthPath = options.healthPath ?? '/healthz';
  let healthy = true;
  let healthDelayMs = options.healthDelayMs ?? 0;
  let inflight = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const isHealth = path === healthPath;
    const delay = isHealth ? healthDelayMs : Number(url.searchParams.get('delayMs') ?? 0);
    const status = isHealth && !healthy ? 503 : 200;
    inflight++;
    setTimeout(() => {
      inflight--;
      res.writeHead(status, { 'x-backend': name, 'content-type': 'text/plain' });
      res.end(name);
    }, delay);
  });
  await new Promise<void>((r) => server.listen(port, host, r));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    hits,
    get inflight() {
      return inflight;
    },
    setHealthy: (h) => {
      healthy = h;
    },
    setHealthDelay: (ms) => {
      healthDelayMs = ms;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
