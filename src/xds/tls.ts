/**
 * xDS over TLS: the server certificate and key (and, for mTLS, the CA bundle client certificates must chain to)
 * read from files and re-read when they change, as cert-manager rotates a mounted Secret.
 *
 * Contract: a `FileCertificates` holds the current set (`context()`, what tls.createSecureContext takes) and tells
 * `onChange` listeners of each new one (the xDS server installs it for new connections). It re-reads the files every `reloadIntervalMs` (and at once when a watched file changes); a new set is
 * used only if it parses as a matching key and certificate (`tls.createSecureContext` accepts it), else the last
 * good set stays in use and the failure is logged and counted (`herald_xds_tls_reloads_total{outcome="failed"}`).
 * With a CA bundle, a client must present a certificate chaining to it (the TLS handshake fails otherwise: no
 * certificate, or one from another CA, never reaches the xDS handler).
 */
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { createHash } from 'node:crypto';
import type { Metrics } from '../admin/metrics';
import type { Logger } from '../log/log';
import type { Telemetry } from '../telemetry';

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function tlsMetrics(m: Metrics) {
  return {
    reloads: m.counter('herald_xds_tls_reloads_total', 'TLS certificate (re)loads for the xDS server by outcome (loaded, failed)', ['outcome']),
  };
}

export interface XdsTlsOptions {
  /** PEM certificate chain of the server (cert-manager: tls.crt). */
  readonly certFile: string;
  /** PEM private key (cert-manager: tls.key). */
  readonly keyFile: string;
  /** PEM CA bundle client certificates must chain to (cert-manager: ca.crt); absent: TLS without client certificates. */
  readonly clientCaFile?: string;
  /** With a CA bundle: check that a client's certificate identity matches the node it claims (identity.ts). Default true. */
  readonly verifyNodeIdentity?: boolean;
  /** SPIFFE trust domain a client URI SAN must carry; '' or absent accepts any. */
  readonly trustDomain?: string;
  /** How often the files are re-read (ms). Default 10 s. */
  readonly reloadIntervalMs?: number;
}

interface Loaded {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  readonly digest: string;
}

/** What tls.createSecureContext takes for one loaded set. */
export interface TlsContext {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/** The certificate files, re-read as they change; listeners are told only about sets that load. */
export class FileCertificates {
  private current: Loaded;
  private readonly listeners = new Set<(context: TlsContext) => void>();
  private timer: NodeJS.Timeout | undefined;
  private readonly watchers: fs.FSWatcher[] = [];
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly m: ReturnType<typeof tlsMetrics>;
  private readonly log: Logger;

  /** Reads the files once; throws with the file's name if they cannot be used (start-up must fail loudly). */
  constructor(
    private readonly o: XdsTlsOptions,
    telemetry: Telemetry,
  ) {
    this.m = tlsMetrics(telemetry.metrics);
    this.log = telemetry.log;
    const first = this.read();
    if ('error' in first) throw new Error(`xds.tls: ${first.error}`);
    this.current = first;
    this.m.reloads.inc({ outcome: 'loaded' });
    const interval = o.reloadIntervalMs ?? 10_000;
    this.timer = setInterval(() => this.reload(), interval);
    this.timer.unref();
    // Secret volumes swap a symlinked directory: watch the directories, debounce through reload().
    for (const dir of new Set([o.certFile, o.keyFile, o.clientCaFile].filter((f): f is string => !!f).map((f) => f.replace(/\/[^/]*$/, '') || '/'))) {
      try {
        const w = fs.watch(dir, { persistent: false }, () => this.soon());
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        // Polling alone still picks the change up.
      }
    }
  }

  get digest(): string {
    return this.current.digest;
  }

  /** A watched directory changed: re-read once things settle (a Secret update is several file events). */
  private soon(): void {
    if (this.closed || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.reload();
    }, 100);
    this.debounce.unref();
  }

  /** Re-reads the files; a loadable, different set replaces the current one and is handed to the listeners. */
  reload(): void {
    if (this.closed) return;
    const next = this.read();
    if ('error' in next) {
      this.m.reloads.inc({ outcome: 'failed' });
      this.log.write('error', 'xds tls reload failed; the previous certificate stays in use', { error: next.error });
      return;
    }
    if (next.digest === this.current.digest) return;
    this.current = next;
    this.m.reloads.inc({ outcome: 'loaded' });
    this.log.write('info', 'xds tls certificate reloaded', { cert: this.o.certFile, digest: next.digest.slice(0, 16) });
    this.notify();
  }

  close(): void {
    this.closed = true;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.watchers) w.close();
  }

  /** The current set. */
  context(): TlsContext {
    const { cert, key, ca } = this.current;
    return ca ? { cert, key, ca } : { cert, key };
  }

  /** Calls `listener` with every new set that loads; returns the unsubscribe. */
  onChange(listener: (context: TlsContext) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    const context = this.context();
    for (const l of this.listeners) l(context);
  }

  private read(): Loaded | { error: string } {
    const file = (f: string): Buffer | string => {
      try {
        return fs.readFileSync(f);
      } catch (err) {
        return `cannot read ${f}: ${(err as Error).message}`;
      }
    };
    const cert = file(this.o.certFile);
    if (typeof cert === 'string') return { error: cert };
    const key = file(this.o.keyFile);
    if (typeof key === 'string') return { error: key };
    let ca: Buffer | undefined;
    if (this.o.clientCaFile) {
      const c = file(this.o.clientCaFile);
      if (typeof c === 'string') return { error: c };
      ca = c;
    }
    try {
      // Throws on a key that does not match the certificate, or unparsable PEM (e.g. a file half-written).
      tls.createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
    } catch (err) {
      return { error: `${this.o.certFile} / ${this.o.keyFile}${ca ? ` / ${this.o.clientCaFile}` : ''}: ${(err as Error).message}` };
    }
    const digest = createHash('sha256').update(cert).update(key).update(ca ?? '').digest('hex');
    return { cert, key, ca, digest };
  }
}
