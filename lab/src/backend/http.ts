/**
 * The backend's HTTP server.
 *   GET /healthz (also /readyz)  readiness: 200 "ok", or 503 while the fail-readiness switch is on
 *   /__lab/...                   control endpoint (see handleControl), never delayed or failed
 *   anything else                200 JSON naming the pod that answered, header x-backend-pod; the
 *                                status and delay switches apply
 */
import http from 'node:http';
import type { BackendConfig } from './config';
import type { FailureSwitches } from './switches';
import type { Lifecycle } from './lifecycle';

/** The JSON body of an ordinary answer. */
export interface WhoamiBody {
  pod: string;
  namespace: string;
  node: string;
  ip: string;
  method: string;
  path: string;
  terminating: boolean;
}

function send(res: http.ServerResponse, cfg: BackendConfig, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-backend-pod': cfg.podName,
  });
  res.end(text);
}

/**
 * Control requests (POST):
 *   /__lab/fail-readiness, /__lab/pass-readiness   readiness endpoint answers 503 / 200
 *   /__lab/status?code=503                         ordinary requests answer that status (code=0 clears)
 *   /__lab/delay?ms=2000                           ordinary requests wait that long first
 *   /__lab/reset                                   all switches off
 * and GET /__lab/state (switches, terminating, in-flight count, and `hits`: ordinary requests answered
 * per path, readiness requests included). Each answers the switch state as JSON.
 */
function handleControl(url: URL, method: string, switches: FailureSwitches, lifecycle: Lifecycle, hits: Map<string, number>): { status: number; body: unknown } {
  const action = url.pathname.slice('/__lab/'.length);
  if (action === 'state') {
    return { status: 200, body: { ...switches.snapshot(), terminating: lifecycle.terminating, inFlight: lifecycle.active, hits: Object.fromEntries(hits) } };
  }
  if (method !== 'POST') return { status: 405, body: { error: 'use POST' } };
  try {
    switch (action) {
      case 'fail-readiness':
        switches.setFailReadiness(true);
        break;
      case 'pass-readiness':
        switches.setFailReadiness(false);
        break;
      case 'status': {
        const code = Number(url.searchParams.get('code') ?? '0');
        switches.setStatus(code === 0 ? null : code);
        break;
      }
      case 'delay':
        switches.setDelay(Number(url.searchParams.get('ms') ?? '0'));
        break;
      case 'reset':
        switches.reset();
        break;
      default:
        return { status: 404, body: { error: `unknown control ${action}` } };
    }
  } catch (err) {
    return { status: 400, body: { error: (err as Error).message } };
  }
  return { status: 200, body: switches.snapshot() };
}

export function createHttpServer(cfg: BackendConfig, switches: FailureSwitches, lifecycle: Lifecycle): http.Server {
  /** Requests per path (control requests excluded); owned by this server. */
  const hits = new Map<string, number>();
  return http.createServer((req, res) => {
    lifecycle.begin();
    res.once('close', () => lifecycle.end());
    const url = new URL(req.url ?? '/', 'http://backend');
    const method = req.method ?? 'GET';
    req.resume(); // bodies are ignored
    if (url.pathname.startsWith('/__lab/')) {
      const r = handleControl(url, method, switches, lifecycle, hits);
      return send(res, cfg, r.status, r.body);
    }
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const sw = switches.snapshot();
    if (url.pathname === '/healthz' || url.pathname === '/readyz') {
      return send(res, cfg, sw.failReadiness ? 503 : 200, sw.failReadiness ? 'not ready' : 'ok');
    }
    const answer = () => {
      const body: WhoamiBody = {
        pod: cfg.podName,
        namespace: cfg.namespace,
        node: cfg.nodeName,
        ip: cfg.ip,
        method,
        path: url.pathname,
        terminating: lifecycle.terminating,
      };
      send(res, cfg, sw.status ?? 200, body);
    };
    if (sw.delayMs > 0) setTimeout(answer, sw.delayMs);
    else answer();
  });
}
