/**
 * Herald's own registry server, speaking the legacy v1 API (see protocol.ts) so VM hosts can register with
 * Herald directly. Durable (SQLite); writes need `Authorization: Bearer <token>`; reads are open, as they were.
 * Bad input answers 400 with `{"error": ...}` and changes nothing.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { log } from '../../log/log';
import { counter } from '../../admin/metrics';
import { canonicalIp, isIpLiteral } from '../../config/validate';
import { formatCheckIn } from './protocol';
import { RegistryStore } from './store';

export interface RegistryServerOptions {
  readonly db: string;
  /** Bearer token for writes; '' refuses every write. */
  readonly token: string;
  readonly ttlSeconds: number;
  readonly env?: string;
}

const mRequests = counter('herald_registry_server_requests_total', 'Registry API requests by method and status', ['method', 'status']);
const SERVICE = /^[A-Za-z0-9_.-]{1,253}$/;
const MAX_BODY = 64 * 1024;

export class RegistryServer {
  private readonly store: RegistryStore;
  private readonly server: http.Server;

  constructor(private readonly o: RegistryServerOptions) {
    this.store = new RegistryStore(o.db);
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    this.store.close();
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (!this.o.token) return false;
    const given = Buffer.from(String(req.headers.authorization ?? ''));
    const want = Buffer.from(`Bearer ${this.o.token}`);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body?: unknown) => {
      mRequests.inc({ method: req.method ?? '', status: String(status) });
      if (body === undefined) {
        res.writeHead(status);
        return void res.end();
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const url = new URL(req.url ?? '/', 'http://registry');
      let parts: string[];
      try {
        parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      } catch {
        return send(400, { error: 'malformed percent-encoding in the path' });
      }
      const [v1, area, service, ip] = parts;
      if (v1 !== 'v1' || (area !== 'registration' && area !== 'loadbalancing') || !service || parts.length > 4) return send(404, { error: 'no such path' });
      if (!SERVICE.test(service)) return send(400, { error: `bad service name ${JSON.stringify(service)}` });
      if (req.method === 'GET' && area === 'registration' && !ip) {
        const now = Date.now();
        const hosts = this.store.list(service, now, this.o.ttlSeconds * 1000).map((h) => ({
          service: h.service,
          ip_address: h.ip,
          port: h.port,
          revision: h.revision,
          service_repo_name: h.serviceRepoName,
          last_check_in: formatCheckIn(h.lastCheckIn),
          tags: h.tags,
        }));
        return send(200, { service, env: this.o.env ?? 'production', hosts });
      }
      if (req.method !== 'POST' && req.method !== 'DELETE') return send(405, { error: 'method not allowed' });
      if (!this.authorized(req)) return send(401, { error: 'writes need Authorization: Bearer <token>' });
      if (req.method === 'DELETE') {
        if (area !== 'registration' || !ip) return send(404, { error: 'no such path' });
        return this.store.remove(service, isIpLiteral(ip) ? canonicalIp(ip) : ip) ? send(200, {}) : send(404, {});
      }
      const form = await readForm(req);
      if (typeof form === 'string') return send(400, { error: form });
      if (area === 'loadbalancing') {
        const w = form.get('load_balancing_weight') ?? '';
        if (!/^\d+$/.test(w) || Number(w) < 1 || Number(w) > 100) return send(400, { error: 'load_balancing_weight must be an integer from 1 to 100' });
        return this.store.setWeight(service, ip && isIpLiteral(ip) ? canonicalIp(ip) : ip, Number(w)) > 0 ? send(204) : send(404, {});
      }
      if (ip) return send(404, { error: 'no such path' });
      const problem = validateRegistration(form);
      if (problem) return send(400, { error: problem });
      this.store.upsert({
        service,
        ip: canonicalIp(form.get('ip')!),
        port: Number(form.get('port')),
        revision: form.get('revision')!,
        serviceRepoName: form.get('service_repo_name') ?? '',
        lastCheckIn: Date.now(),
        tags: JSON.parse(form.get('tags')!),
      });
      return send(200, {});
    } catch (err) {
      log('error', 'registry request failed', { error: (err as Error).message });
      return send(500, { error: 'internal error' });
    }
  }
}

function validateRegistration(form: URLSearchParams): string | undefined {
  const ip = form.get('ip');
  if (!ip || !isIpLiteral(ip)) return 'ip must be an IP address';
  const port = form.get('port') ?? '';
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) return 'port must be an integer from 1 to 65535';
  if (!form.get('revision')) return 'revision is required';
  let tags: unknown;
  try {
    tags = JSON.parse(form.get('tags') ?? '');
  } catch {
    return 'tags must be a JSON object';
  }
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) return 'tags must be a JSON object';
  for (const k of ['az', 'region', 'instance_id']) if (typeof (tags as Record<string, unknown>)[k] !== 'string') return `tags.${k} is required`;
  const w = (tags as Record<string, unknown>).load_balancing_weight;
  if (w !== undefined && (!Number.isInteger(Number(w)) || Number(w) < 1 || Number(w) > 100)) return 'tags.load_balancing_weight must be 1..100';
  return undefined;
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams | string> {
  return new Promise((resolve) => {
    const type = String(req.headers['content-type'] ?? '');
    if (!type.startsWith('application/x-www-form-urlencoded')) return resolve('body must be application/x-www-form-urlencoded');
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        resolve('body too large');
      } else chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', () => resolve('body unreadable'));
  });
}
