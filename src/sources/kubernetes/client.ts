/**
 * Herald's Kubernetes API client over plain HTTPS, read-only: get, list (one page) and newline-delimited watch
 * streams. TLS material and authentication come from a `KubeAuth` asked before every request (connect.ts builds
 * one from a kubeconfig through client-node, so client certificates, exec plugins and rotating token files work
 * as in kubectl). It is not Herald's informer; it keeps no state beyond its agents.
 *
 * The product only reads. The lab's writer (lab/src/kube/writer.ts) extends this class with write verbs through
 * the protected `send`.
 */
import { createHash } from 'node:crypto';
import https from 'node:https';
import { URL } from 'node:url';

/** TLS options of one request (those of https.Agent that a kubeconfig can set). */
export interface KubeTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** false for `insecure-skip-tls-verify: true`. */
  rejectUnauthorized?: boolean;
  /** `tls-server-name`. */
  servername?: string;
}

/** Where the apiserver is and how to authenticate to it. */
export interface KubeAuth {
  /** https://host:port of the apiserver. */
  readonly server: string;
  /**
   * TLS options and headers (Authorization, Impersonate-User) for the next request. Called before every request
   * and watch; may re-read files or run an exec plugin (implementations cache). A rejection fails that request.
   */
  options(): Promise<{ tls: KubeTls; headers: Record<string, string> }>;
}

/** A fixed bearer token and CA (the lab's control plane, tests). */
export interface KubeCredentials {
  /** https://host:port of the apiserver. */
  server: string;
  /** Bearer token. */
  token: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  caPem: string;
}

export function tokenAuth(c: KubeCredentials): KubeAuth {
  const fixed = { tls: { ca: c.caPem }, headers: { authorization: `Bearer ${c.token}` } };
  return { server: c.server, options: async () => fixed };
}

/** An error answer of the apiserver (HTTP status ≥ 400, or an ERROR event on a watch). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    /** metav1.Status reason, e.g. "NotFound", "Conflict", "Expired", "Gone"; "" when absent. */
    readonly reason: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Content type of the body; default application/json (use application/merge-patch+json for PATCH). */
  contentType?: string;
  signal?: AbortSignal;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
}

export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

/** The part of every Kubernetes object the lab reads generically. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    creationTimestamp?: string;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
    finalizers?: string[];
  };
  [key: string]: unknown;
}

export interface KubeList<T = KubeObject> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

function toQuery(q: Query | undefined): string {
  if (!q) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

function statusError(status: number, text: string): KubeApiError {
  let body: unknown = text;
  let reason = '';
  let message = `HTTP ${status}: ${text.slice(0, 300)}`;
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string };
    body = parsed;
    reason = parsed.reason ?? '';
    if (parsed.message) message = `HTTP ${status} ${reason}: ${parsed.message}`;
  } catch {
    /* not JSON */
  }
  return new KubeApiError(status, reason, message, body);
}

/** At most this many agents (one per distinct TLS material: a rotated client certificate gets a new one). */
const MAX_AGENTS = 8;
/** Longer than the longest watch (informer.ts: 60–120 s) plus a request timeout. */
const AGENT_RETIRE_MS = 180_000;

export class KubeClient {
  readonly server: URL;
  private readonly auth: KubeAuth;
  /** Agents by a hash of their TLS options, oldest first. */
  private readonly agents = new Map<string, https.Agent>();

  constructor(auth: KubeAuth | KubeCredentials) {
    this.auth = 'options' in auth ? auth : tokenAuth(auth);
    this.server = new URL(this.auth.server);
    if (this.server.protocol !== 'https:') throw new Error(`apiserver ${this.auth.server}: only https:// is supported`);
  }

  /** Destroys the agents' sockets, those of in-flight requests and watches included (they end with an error). */
  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  /**
   * The agent for these TLS options. When they change (a rotated client certificate, a new CA file), a new agent
   * is made; an agent pushed out of the MAX_AGENTS most recent is destroyed only after AGENT_RETIRE_MS, so the
   * watches it serves end at their timeout and resume through a current one first.
   */
  private agentFor(tls: KubeTls): https.Agent {
    const h = createHash('sha256');
    for (const v of [tls.ca, tls.cert, tls.key, tls.servername]) h.update(v === undefined ? '\0' : `${v.length}:`).update(v ?? '');
    h.update(String(tls.rejectUnauthorized !== false));
    const key = h.digest('hex');
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new https.Agent({ ...tls, keepAlive: true, maxSockets: 64 });
      this.agents.set(key, agent);
      if (this.agents.size > MAX_AGENTS) {
        const oldest = this.agents.keys().next().value!;
        const evicted = this.agents.get(oldest)!;
        this.agents.delete(oldest);
        // Its watches end at their timeout (at most 120 s) and resume through a current agent; then its sockets go.
        setTimeout(() => evicted.destroy(), AGENT_RETIRE_MS).unref();
      }
    }
    return agent;
  }

  private async open(method: string, path: string, opts: RequestOptions, accept: string) {
    const payload = opts.body === undefined ? undefined : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    const { tls, headers: authHeaders } = await this.auth.options();
    const headers: Record<string, string> = { ...authHeaders, accept };
    if (payload) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const req = https.request({
      agent: this.agentFor(tls),
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port,
      method,
      path: path + toQuery(opts.query),
      headers,
      signal: opts.signal,
    });
    return { req, payload };
  }

  /**
   * One request; resolves with the parsed JSON body (or the text when it is not JSON), rejects with a
   * KubeApiError for HTTP ≥ 400 and with the socket error when the apiserver cannot be reached (or the
   * credentials cannot be had). The product issues only GET; the lab's writer uses the other verbs.
   */
  protected async send<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const { req, payload } = await this.open(method, path, opts, 'application/json');
    return new Promise<T>((resolve, reject) => {
      req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 400) return reject(statusError(status, text));
          try {
            resolve(JSON.parse(text) as T);
          } catch {
            resolve(text as T);
          }
        });
      });
      req.end(payload);
    });
  }

  /** GET; `timeoutMs` bounds the whole request (default 30 s). */
  get<T = unknown>(path: string, query?: Query, signal?: AbortSignal, timeoutMs?: number): Promise<T> {
    return this.send<T>('GET', path, { query, signal, timeoutMs });
  }

  /** One page of a collection (pass `limit` and `continue` in `query` to paginate). */
  list<T = KubeObject>(path: string, query?: Query, signal?: AbortSignal): Promise<KubeList<T>> {
    return this.get<KubeList<T>>(path, query, signal);
  }

  /**
   * Runs one watch request (`watch=true` is added to `query`) and calls `onEvent` for each event in
   * order, awaiting it before the next. Resolves when the server ends the stream (the caller resumes
   * from the last resourceVersion it saw) or `signal` aborts; rejects with a KubeApiError on an HTTP
   * error or an ERROR event (410 Gone carries status 410), or with the socket error.
   */
  async watch<T = KubeObject>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void | Promise<void>, signal?: AbortSignal): Promise<void> {
    const { req } = await this.open('GET', path, { query: { ...query, watch: true }, signal }, 'application/json');
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        if (err && !signal?.aborted) reject(err);
        else resolve();
      };
      req.on('error', (err) => finish(err));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => finish(statusError(status, Buffer.concat(chunks).toString('utf8'))));
          return;
        }
        let buffered = '';
        let chain = Promise.resolve();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            chain = chain.then(async () => {
              if (settled) return;
              const event = JSON.parse(line) as { type: string; object: unknown };
              if (event.type === 'ERROR') {
                const st = event.object as { code?: number; reason?: string; message?: string };
                req.destroy();
                finish(new KubeApiError(st.code ?? 500, st.reason ?? '', `watch ${path}: ${st.message ?? 'error event'}`, st));
                return;
              }
              await onEvent(event as WatchEvent<T>);
            }).catch((err) => {
              req.destroy();
              finish(err);
            });
          }
        });
        res.on('error', (err) => void chain.then(() => finish(err)));
        res.on('end', () => void chain.then(() => finish()));
        res.on('close', () => void chain.then(() => finish(res.complete ? undefined : new Error(`watch ${path}: connection closed`))));
      });
      req.end();
    });
  }
}
