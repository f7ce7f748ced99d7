/**
 * Herald's own registry server: a drop-in for the original legacy discovery service (lyft/discovery), answering
 * every request shape of its API as it does (see protocol.ts for the API and registry-replay.test.ts for the
 * recorded answers): status codes, bodies (`{}` where it answers `{}`), field names, `last_check_in` with
 * microseconds, `env`, `/v1/registration/repo/<repo>`, `/healthcheck`, urlencoded and multipart forms, any
 * service name without a `/`.
 *
 * Where Herald is deliberately stricter, it is a setting with the original's behaviour available:
 *  - `auth: 'token'` (default): writes (POST, DELETE) need `Authorization: Bearer <token>` (401 otherwise);
 *    `auth: 'none'` accepts every write, as the original does.
 *  - `ipv6: false` (default, as the original): only IPv4 hosts; `ipv6: true` also accepts IPv6 literals.
 *  - IPv6 zone ids (`fe80::1%eth0`) are refused with 400 always (they mean nothing to a proxy elsewhere).
 * Beyond the original (it has no bounds): a body past 64 KiB answers 413, a path past 4 KiB 414, a service past
 * `maxHostsPerService` hosts refuses new ones with 400; where the original crashes with a 500 (a port that is no
 * integer, a GET or POST with an ip in the path, a DELETE without one) Herald answers 400 or 405. Every refusal
 * says why in the `x-herald-reason` header and a rate-limited log line, and is counted; bodies stay the
 * original's.
 *
 * Ownership: the server owns its HTTP listener; the backend owns the hosts. Requests run concurrently; each
 * backend call is one complete operation.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { Metrics } from '../../admin/metrics';
import type { Logger } from '../../log/log';
import type { Telemetry } from '../../telemetry';
import { canonicalIp, ipLiteralProblem } from '../../config/validate';
import { formatCheckIn } from './protocol';
import { readForm, type Form } from './form';
import { RegistryStore, type RegistryBackend, type StoredHost } from './store';

export type RegistryAuth = 'token' | 'none';

export interface RegistryServerOptions {
  /** SQLite file of the embedded backend; ignored when `backend` is given. */
  readonly db?: string;
  /** Another backend (kube-backend.ts); the server closes it on close(). */
  readonly backend?: RegistryBackend;
  /** `token` (default): writes need the bearer token ('' refuses every write). `none`: the original's open writes. */
  readonly auth?: RegistryAuth;
  readonly token: string;
  readonly ttlSeconds: number;
  /** The `env` field of GET answers (the original's APPLICATION_ENV); default $APPLICATION_ENV or `development`. */
  readonly env?: string;
  /** Accept IPv6 hosts (the original accepts IPv4 only). Default false. */
  readonly ipv6?: boolean;
  /** `last_check_in` as the original's in-memory backend writes it (`naive`, default) or its DynamoDB one (`aware`). */
  readonly checkInFormat?: 'naive' | 'aware';
  /** Bound on hosts per service (default 10,000); a registration past it is refused with 400. */
  readonly maxHostsPerService?: number;
  /** The metrics and logger of the Herald (or the `herald registry` command) it serves in. */
  readonly telemetry: Telemetry;
}

/** The largest request body read (a registration is a few hundred bytes); past it: 413. */
export const MAX_BODY_BYTES = 64 * 1024;
const MAX_PATH = 4096;
const MESSAGE_405 = { message: 'The method is not allowed for the requested URL.' };
const PAGE_404 =
  '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n' +
  '<p>The requested URL was not found on the server.  If you entered the URL manually please check your spelling and try again.</p>\n';

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function registryServerMetrics(m: Metrics) {
  return {
    requests: m.counter('herald_registry_server_requests_total', 'Registry API requests by route, method and status', ['route', 'method', 'status']),
    refused: m.counter('herald_registry_server_refused_total', 'Registry API requests refused, by route and status (the reason is in the log line and x-herald-reason)', ['route', 'status']),
  };
}

/** Precise now (epoch ms with microseconds), as the original stamps `datetime.utcnow()`. */
export function nowPrecise(): number {
  return performance.timeOrigin + performance.now();
}

type Route =
  | { kind: 'healthcheck' }
  | { kind: 'repo'; repo: string }
  | { kind: 'registration'; service: string; ip?: string }
  | { kind: 'loadbalancing'; service: string; ip?: string };

/** The original's routes (werkzeug string converters: one non-empty path segment each). */
function route(pathname: string): Route | undefined {
  if (pathname === '/healthcheck') return { kind: 'healthcheck' };
  const parts = pathname.split('/');
  if (parts[0] !== '' || parts[1] !== 'v1' || parts.slice(2).some((p) => p === '')) return undefined;
  const [, , area, a, b, ...more] = parts;
  if (more.length > 0 || !a) return undefined;
  if (area === 'registration') return { kind: 'registration', service: a, ...(b !== undefined ? { ip: b } : {}) };
  if (area === 'loadbalancing') return { kind: 'loadbalancing', service: a, ...(b !== undefined ? { ip: b } : {}) };
  return undefined;
}

/** Python's int() of text: optional sign, digits (underscores between them), surrounding whitespace. */
function pyInt(s: string): number | undefined {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(s);
  return m ? Number(`${m[1]}${m[2]!.replace(/_/g, '')}`) : undefined;
}

class Refusal {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly reason: string,
  ) {}
}

export class RegistryServer {
  private readonly backend: RegistryBackend;
  private readonly server: http.Server;
  private readonly env: string;
  private readonly auth: RegistryAuth;
  private readonly m: ReturnType<typeof registryServerMetrics>;
  private readonly log: Logger;

  constructor(private readonly o: RegistryServerOptions) {
    this.m = registryServerMetrics(o.telemetry.metrics);
    this.log = o.telemetry.log;
    if (!o.backend && !o.db) throw new Error('registry server: needs a db file or a backend');
    this.backend = o.backend ?? new RegistryStore(o.db!);
    this.env = o.env ?? process.env.APPLICATION_ENV ?? 'development';
    this.auth = o.auth ?? 'token';
    this.server = http.createServer((req, res) => void this.handle(req, res));
    // Idle keep-alive connections outlive the clients' own idle timeouts (undici's is 4 s, the agents of VM hosts
    // usually less than a minute), so a client never reuses a socket the server is closing at that moment
    // (ECONNRESET on a heartbeat); a request must still arrive whole within requestTimeout.
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
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
    await this.backend.close();
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (this.auth === 'none') return true;
    if (!this.o.token) return false;
    const given = Buffer.from(String(req.headers.authorization ?? ''));
    const want = Buffer.from(`Bearer ${this.o.token}`);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  /** Why `ip` is not a host address this server stores, or undefined (the original: IPv4 dotted quads only). */
  private ipProblem(ip: string): string | undefined {
    const problem = ipLiteralProblem(ip);
    if (problem) return ip.includes('%') ? problem : 'is not an IPv4 address';
    if (isIPv4(ip)) return undefined;
    return this.o.ipv6 ? undefined : 'IPv6 hosts need the ipv6 setting (the original accepts IPv4 only)';
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let kind = 'none';
    const send = (status: number, body: unknown, o: { reason?: string; html?: boolean; allow?: string } = {}) => {
      this.m.requests.inc({ route: kind, method, status: String(status) });
      const headers: http.OutgoingHttpHeaders = {};
      if (o.reason) {
        // Labels and the log window key are bounded (route × status): the reason text carries client input.
        this.m.refused.inc({ route: kind, status: String(status) });
        headers['x-herald-reason'] = o.reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
        this.log.limited(`registry-refused:${kind}:${status}`, 'warn', 'registry request refused', { method, path: (req.url ?? '').slice(0, 200), status, reason: o.reason.slice(0, 300) });
      }
      if (o.allow) headers.allow = o.allow;
      if (status === 204 || method === 'HEAD') {
        res.writeHead(status, headers);
        return void res.end();
      }
      if (o.html) {
        headers['content-type'] = 'text/html; charset=utf-8';
        res.writeHead(status, headers);
        return void res.end(String(body));
      }
      headers['content-type'] = 'application/json';
      res.writeHead(status, headers);
      res.end(`${JSON.stringify(body)}\n`);
    };
    try {
      const raw = req.url ?? '/';
      if (raw.length > MAX_PATH) {
        req.resume();
        return send(414, {}, { reason: `path longer than ${MAX_PATH} bytes` });
      }
      const q = raw.indexOf('?');
      let pathname = q < 0 ? raw : raw.slice(0, q);
      try {
        pathname = decodeURIComponent(pathname);
      } catch {
        // A WSGI server passes undecodable escapes through as they are.
      }
      const r = route(pathname);
      if (!r) {
        req.resume();
        return send(404, PAGE_404, { html: true });
      }
      kind = r.kind;
      if (r.kind === 'healthcheck') {
        req.resume();
        if (method === 'GET' || method === 'HEAD') return send(200, 'OK', { html: true });
        if (method === 'OPTIONS') return send(200, '', { html: true, allow: 'HEAD, OPTIONS, GET' });
        return send(405, PAGE_404.replace(/404 Not Found/, '405 Method Not Allowed'), { html: true, allow: 'HEAD, OPTIONS, GET' });
      }
      const allowed = r.kind === 'repo' ? 'HEAD, OPTIONS, GET' : r.kind === 'loadbalancing' ? 'OPTIONS, POST' : r.ip === undefined ? 'HEAD, OPTIONS, GET, POST' : 'OPTIONS, DELETE';
      if (method === 'OPTIONS') {
        req.resume();
        return send(200, '', { html: true, allow: allowed });
      }
      // `/v1/registration/repo/<repo>` is the repo listing for GET; for other methods werkzeug falls through to
      // the <service>/<ip> rule (service "repo").
      const effective: Exclude<Route, { kind: 'healthcheck' }> = r.kind === 'registration' && r.service === 'repo' && r.ip !== undefined && (method === 'GET' || method === 'HEAD') ? { kind: 'repo', repo: r.ip } : r;
      const out = await this.dispatch(effective, method, req);
      if (out instanceof Refusal) return send(out.status, out.body, { reason: out.reason, ...(out.status === 405 ? { allow: allowed } : {}) });
      return send(out.status, out.body);
    } catch (err) {
      this.log.write('error', 'registry request failed', { method, path: (req.url ?? '').slice(0, 200), error: (err as Error).message });
      return send(500, {}, { reason: 'internal error' });
    }
  }

  private async dispatch(r: Exclude<Route, { kind: 'healthcheck' }>, method: string, req: http.IncomingMessage): Promise<{ status: number; body: unknown } | Refusal> {
    const ttlMs = this.o.ttlSeconds * 1000;
    const isRead = method === 'GET' || method === 'HEAD';
    if (r.kind === 'repo') {
      req.resume();
      if (!isRead) return new Refusal(405, MESSAGE_405, 'method not allowed');
      const hosts = await this.backend.listByRepo(r.repo, Date.now(), ttlMs);
      return { status: 200, body: { service_repo_name: r.repo, env: this.env, hosts: hosts.map((h) => this.wire(h)) } };
    }
    if (r.kind === 'registration' && r.ip === undefined && isRead) {
      req.resume();
      const hosts = await this.backend.list(r.service, Date.now(), ttlMs);
      return { status: 200, body: { service: r.service, env: this.env, hosts: hosts.map((h) => this.wire(h)) } };
    }
    const writes = r.kind === 'loadbalancing' ? method === 'POST' : r.ip === undefined ? method === 'POST' : method === 'DELETE';
    if (!writes) {
      req.resume();
      return new Refusal(405, MESSAGE_405, r.kind === 'registration' && r.ip === undefined ? 'method not allowed (DELETE needs /<service>/<ip>)' : 'method not allowed');
    }
    if (!this.authorized(req)) {
      req.resume();
      return new Refusal(401, { error: 'writes need Authorization: Bearer <token>' }, 'unauthorized: writes need the bearer token (auth: token)');
    }
    if (r.kind === 'registration' && method === 'DELETE') {
      req.resume();
      const ip = r.ip!;
      const problem = this.ipProblem(ip);
      if (problem) return new Refusal(400, {}, `ip ${JSON.stringify(ip.slice(0, 64))} ${problem}`);
      return (await this.backend.remove(r.service, canonicalIp(ip))) ? { status: 200, body: {} } : new Refusal(400, {}, 'no such host');
    }
    const read = await readForm(req, MAX_BODY_BYTES);
    if ('tooLarge' in read) {
      req.socket.setTimeout(5000, () => req.socket.destroy());
      return new Refusal(413, { error: `request body larger than ${MAX_BODY_BYTES} bytes` }, `body larger than ${MAX_BODY_BYTES} bytes`);
    }
    if ('problem' in read) return new Refusal(400, {}, read.problem);
    if (r.kind === 'loadbalancing') return this.loadBalancing(r.service, r.ip, read.form);
    return this.register(r.service, read.form, req);
  }

  private wire(h: StoredHost): Record<string, unknown> {
    return {
      service: h.service,
      ip_address: h.ip,
      port: h.port,
      revision: h.revision,
      service_repo_name: h.serviceRepoName,
      last_check_in: formatCheckIn(h.lastCheckIn, this.o.checkInFormat),
      tags: h.tags,
    };
  }

  private async loadBalancing(service: string, ip: string | undefined, form: Form): Promise<{ status: number; body: unknown } | Refusal> {
    const raw = form.get('load_balancing_weight');
    if (!raw) return new Refusal(400, { error: "Required parameter 'weight' is missing." }, 'load_balancing_weight is missing');
    const weight = pyInt(raw);
    if (!weight || weight < 1 || weight > 100) return new Refusal(400, { error: 'Invalid load_balancing_weight. Supply an integer between 1 and 100.' }, 'load_balancing_weight must be 1..100');
    if (ip !== undefined) {
      const key = this.ipProblem(ip) ? ip : canonicalIp(ip);
      if ((await this.backend.setWeight(service, key, weight)) === 0) return new Refusal(404, { error: 'Host not found' }, 'no such host');
    } else await this.backend.setWeight(service, undefined, weight);
    return { status: 204, body: '' };
  }

  /** POST /v1/registration/<service>: the original's checks, in its order, each answering 400 `{}`. */
  private async register(service: string, form: Form, req: http.IncomingMessage): Promise<{ status: number; body: unknown } | Refusal> {
    let ip = form.get('ip') ?? '';
    let noIp = 'ip is missing';
    if (!ip && form.get('auto_ip')) {
      // The original sits behind one proxy (ProxyFix, one hop): the last X-Forwarded-For entry, else the peer;
      // only 192.168.0.0/16 is taken.
      const xff = String(req.headers['x-forwarded-for'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const remote = (xff.at(-1) ?? req.socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.)/, '');
      const parts = remote.split('.');
      const octets = parts.map((p) => pyInt(p));
      if (parts.length === 4 && octets[0] === 192 && octets[1] === 168 && octets.slice(2).every((n) => n !== undefined && n >= 0 && n <= 255)) ip = remote;
      else noIp = `auto_ip: ${JSON.stringify(remote.slice(0, 64))} is not in 192.168.0.0/16`;
    }
    const portText = form.get('port');
    const port = portText === undefined ? -1 : pyInt(portText);
    if (port === undefined) return new Refusal(400, {}, `port ${JSON.stringify(portText!.slice(0, 20))} is not an integer`);
    let tags: unknown;
    try {
      tags = JSON.parse(form.get('tags') ?? '{}');
    } catch {
      return new Refusal(400, { error: 'Invalid json supplied in tags' }, 'tags is not JSON');
    }
    const revision = form.get('revision') ?? '';
    if (!ip) return new Refusal(400, {}, noIp);
    if (!port) return new Refusal(400, {}, 'port is missing');
    if (!revision) return new Refusal(400, {}, 'revision is missing');
    if (port <= 0 || port > 65535) return new Refusal(400, {}, `port ${port} is not 1..65535`);
    const problem = this.ipProblem(ip);
    if (problem) return new Refusal(400, {}, `ip ${JSON.stringify(ip.slice(0, 64))} ${problem}`);
    if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) return new Refusal(400, {}, 'tags is not a JSON object');
    for (const k of ['az', 'instance_id', 'region']) if (!(k in tags)) return new Refusal(400, {}, `tags.${k} is missing`);
    const address = canonicalIp(ip);
    const max = this.o.maxHostsPerService ?? 10_000;
    if ((await this.backend.count(service)) >= max && !(await this.backend.list(service, Date.now(), this.o.ttlSeconds * 1000)).some((h) => h.ip === address)) {
      return new Refusal(400, {}, `service has ${max} hosts (maxHostsPerService)`);
    }
    await this.backend.upsert({
      service,
      ip: address,
      port,
      revision,
      serviceRepoName: form.get('service_repo_name') ?? '',
      lastCheckIn: nowPrecise(),
      tags: tags as Record<string, unknown>,
    });
    return { status: 200, body: {} };
  }
}
