/**
 * A small Kubernetes API client over plain HTTPS (Herald's informers, the lab harness, the lab kubelet, tests):
 * JSON requests and newline-delimited watch streams, authenticated with a bearer token and verified
 * against the control plane's CA. It is not Herald's informer; it keeps no state beyond its agent.
 */
import https from 'node:https';
import { URL } from 'node:url';

export interface KubeCredentials {
  /** https://host:port of the apiserver. */
  server: string;
  /** Bearer token. */
  token: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  caPem: string;
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

export class KubeClient {
  readonly server: URL;
  private readonly agent: https.Agent;
  private readonly token: string;

  constructor(readonly credentials: KubeCredentials) {
    this.server = new URL(credentials.server);
    this.token = credentials.token;
    this.agent = new https.Agent({ ca: credentials.caPem, keepAlive: true, maxSockets: 64 });
  }

  /** Destroys the agent's sockets, those of in-flight requests and watches included (they end with an error). */
  close(): void {
    this.agent.destroy();
  }

  private open(method: string, path: string, opts: RequestOptions, accept: string) {
    const payload = opts.body === undefined ? undefined : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept };
    if (payload) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const req = https.request({
      agent: this.agent,
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
   * KubeApiError for HTTP ≥ 400 and with the socket error when the apiserver cannot be reached.
   */
  request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { req, payload } = this.open(method, path, opts, 'application/json');
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

  get<T = unknown>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { query, signal });
  }

  post<T = unknown>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, { body, query });
  }

  put<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  /** JSON merge patch (RFC 7386): lists in the patch replace the lists of the object. */
  mergePatch<T = unknown>(path: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body: patch, contentType: 'application/merge-patch+json' });
  }

  delete<T = unknown>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, { body, query });
  }

  /**
   * Runs one watch request (`watch=true` is added to `query`) and calls `onEvent` for each event in
   * order, awaiting it before the next. Resolves when the server ends the stream (the caller resumes
   * from the last resourceVersion it saw) or `signal` aborts; rejects with a KubeApiError on an HTTP
   * error or an ERROR event (410 Gone carries status 410), or with the socket error.
   */
  watch<T = KubeObject>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void | Promise<void>, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const { req } = this.open('GET', path, { query: { ...query, watch: true }, signal }, 'application/json');
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
