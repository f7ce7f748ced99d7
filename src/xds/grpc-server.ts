/**
 * A gRPC server for bidirectional-streaming methods on node:http2 directly (gRPC over HTTP/2, the protocol in
 * grpc/grpc's doc/PROTOCOL-HTTP2.md): length-prefixed messages in DATA frames, the status in trailers.
 *
 * Why not grpc-js: on the fan-out path a response is one encoded buffer that every due stream writes. grpc-js
 * copies each message into a frame of its own per stream and runs several layers of per-message work; here a
 * large response is written as the shared bytes themselves (HTTP/2 writev, no copy) behind a 5-byte prefix. The
 * bench's HTTP/2 floor, the same server shape as the grpc-js floor, answers 2,000 proxies × 1,000 endpoints in
 * about a third of its time (bench/results.md).
 *
 * What it does and bounds:
 * - A stream whose :path is not a registered method gets UNIMPLEMENTED, a content-type other than
 *   application/grpc[+proto|;…] HTTP 415, a compressed message (flag 1; Herald advertises identity only)
 *   UNIMPLEMENTED; none reaches a handler.
 * - A message is delivered whole, however it was split into DATA frames, and only up to `maxMessageBytes`: a
 *   longer declared length is reported (`oversize`) before any of its body is kept, so a request costs at most
 *   that much memory while it arrives.
 * - Status: trailers after the response headers, or a trailers-only response when nothing was sent yet.
 * - Keepalive: every connection is pinged after `keepaliveTimeMs` without one, and closed when a ping is not
 *   answered within `keepaliveTimeoutMs` (a proxy gone without a FIN frees its streams).
 * - HTTP/2 itself is bounded by Node's session settings (header list size, invalid frames, rejected streams,
 *   outstanding pings, nghttp2's flood protection) and `maxStreamsPerConnection` (SETTINGS_MAX_CONCURRENT_STREAMS);
 *   stream counts in all are bounded by the caller (admission).
 *
 * Ownership: the server owns its HTTP/2 server and the sessions; each GrpcCall owns its HTTP/2 stream.
 */
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import type * as tls from 'node:tls';

/** gRPC status codes (grpc/grpc doc/statuscodes.md). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];
const STATUS_NAMES = Object.fromEntries(Object.entries(Status).map(([k, v]) => [v, k])) as Record<number, string>;
export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

/** How long a stream whose status was queued may stay open before it is reset. */
const LINGER_MS = 1000;

/**
 * Messages at or under this many bytes are best laid out whole behind their prefix and written as one buffer
 * (writeMessage); larger ones as their chunks, corked into one writev (write): copying a large shared response per
 * stream costs more than the writev.
 */
export const SMALL_MESSAGE = 4096;

/** The message prefix's size: one flag byte (compressed or not) and the length, big-endian. */
export const MESSAGE_PREFIX = 5;

const { HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_PATH, HTTP2_HEADER_METHOD, NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;
const RESPONSE_HEADERS = Object.freeze({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', 'grpc-accept-encoding': 'identity' });

/**
 * grpc-message is percent-encoded (PROTOCOL-HTTP2.md: every byte outside 0x20–0x7E, and '%'), so any detail a
 * handler writes survives as one header value.
 */
export function encodeGrpcMessage(details: string): string {
  return details.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c)).slice(0, 8192);
}

/** What a method's handler is told about its call (set as `call.handler` when the call is handed over). */
export interface CallHandler {
  /** One whole request message. */
  message(body: Buffer): void;
  /** A request declared `length` bytes, over the limit: nothing more is read; the handler ends the call. */
  oversize(length: number): void;
  /** The client half-closed. */
  end(): void;
  /** The stream is gone, for any reason (once). */
  gone(): void;
  /** Writes are taken again after a write returned false. */
  drained(): void;
}

/** The GrpcCall of an HTTP/2 stream: the stream's listeners are shared functions that find their call here. */
const CALL = Symbol('grpc call');
type CallStream = http2.ServerHttp2Stream & { [CALL]: GrpcCall };
function onStreamData(this: CallStream, chunk: Buffer): void {
  this[CALL].onData(chunk);
}
function onStreamEnd(this: CallStream): void {
  this[CALL].handler?.end();
}
function onStreamClose(this: CallStream): void {
  this[CALL].handler?.gone();
}
function onStreamDrain(this: CallStream): void {
  this[CALL].handler?.drained();
}
function onStreamWantTrailers(this: CallStream): void {
  this[CALL].sendTrailers();
}
function ignore(): void {}
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });

/**
 * One call: the server side of one HTTP/2 stream, reporting to its `handler`. No closure or emitter per call:
 * thousands of idle proxy streams each hold one.
 */
export class GrpcCall {
  handler: CallHandler | undefined;
  private headersSent = false;
  private statusSent = false;
  private trailers: http2.OutgoingHttpHeaders | undefined;
  /** Received bytes not yet making a whole message (made when a message spans chunks). */
  private chunks: Buffer[] | undefined;
  private have = 0;
  /** Length of the message being read, or -1 while reading a prefix. */
  private bodyLength = -1;
  private reading = true;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    readonly peer: string,
    private readonly maxMessageBytes: number,
  ) {
    (stream as CallStream)[CALL] = this;
    stream.on('data', onStreamData);
    stream.once('end', onStreamEnd);
    stream.once('close', onStreamClose);
    // Emitted only after a write returned false: costs nothing while writes are taken.
    stream.on('drain', onStreamDrain);
    // A stream error (a reset by the peer, a session torn down) always ends in 'close'.
    stream.on('error', ignore);
  }

  /** The verified client certificate (TLS with client certificates), else undefined. */
  get peerCertificate(): tls.PeerCertificate | undefined {
    const socket = this.stream.session?.socket as tls.TLSSocket | undefined;
    if (!socket || typeof socket.getPeerCertificate !== 'function') return undefined;
    const cert = socket.getPeerCertificate();
    return cert && Object.keys(cert).length > 0 ? cert : undefined;
  }

  /** Whether the stream is gone or its status was sent: nothing more can be written. */
  get done(): boolean {
    return this.statusSent || this.stream.destroyed || this.stream.closed;
  }

  /** @internal the stream's data */
  onData(chunk: Buffer): void {
    if (!this.reading) return;
    (this.chunks ??= []).push(chunk);
    this.have += chunk.length;
    while (this.reading) {
      if (this.bodyLength < 0) {
        if (this.have < 5) return;
        const prefix = this.take(5);
        const length = prefix.readUInt32BE(1);
        if (prefix[0] !== 0) {
          this.stopReading();
          this.end(Status.UNIMPLEMENTED, 'compressed messages are not supported (grpc-accept-encoding: identity)');
          return;
        }
        if (length > this.maxMessageBytes) {
          this.stopReading();
          this.handler?.oversize(length);
          return;
        }
        this.bodyLength = length;
      }
      if (this.have < this.bodyLength) return;
      const body = this.take(this.bodyLength);
      this.bodyLength = -1;
      this.handler?.message(body);
    }
  }

  /** The next `n` received bytes (a view of one chunk when it holds them all, else one copy). */
  private take(n: number): Buffer {
    const chunks = this.chunks!;
    const first = chunks[0];
    if (first && first.length >= n) {
      this.have -= n;
      if (first.length === n) chunks.shift();
      else chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let pos = 0;
    while (pos < n) {
      const c = chunks[0]!;
      const k = Math.min(c.length, n - pos);
      c.copy(out, pos, 0, k);
      pos += k;
      if (k === c.length) chunks.shift();
      else chunks[0] = c.subarray(k);
    }
    this.have -= n;
    return out;
  }

  private stopReading(): void {
    this.reading = false;
    this.chunks = undefined;
    this.have = 0;
  }

  private respond(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    this.stream.once('wantTrailers', onStreamWantTrailers);
  }

  /** @internal the stream's last DATA frame is out: the status follows */
  sendTrailers(): void {
    if (!this.stream.destroyed) this.stream.sendTrailers(this.trailers ?? OK_TRAILERS);
  }

  /**
   * Writes one message laid out in `out` after MESSAGE_PREFIX bytes left for its prefix (filled here); `cb` runs
   * once the transport took it. Returns false when the stream's buffer is past its high-water mark: the handler
   * hears `drained` once it is taken again.
   */
  writeMessage(out: Buffer, cb: () => void): boolean {
    if (this.done) return false;
    this.respond();
    out[0] = 0;
    out.writeUInt32BE(out.length - MESSAGE_PREFIX, 1);
    return this.stream.write(out, cb);
  }

  /** As writeMessage, for a message of `length` bytes made of `chunks` in order (corked into one writev). */
  write(chunks: readonly Buffer[], length: number, cb: () => void): boolean {
    if (this.done) return false;
    this.respond();
    const s = this.stream;
    const prefix = Buffer.allocUnsafe(MESSAGE_PREFIX);
    prefix[0] = 0;
    prefix.writeUInt32BE(length, 1);
    s.cork();
    s.write(prefix);
    let ok = true;
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      if (c.length === 0 && i < chunks.length - 1) continue;
      ok = i === chunks.length - 1 ? s.write(c, cb) : s.write(c);
    }
    s.uncork();
    return ok;
  }

  /** Ends the call with a status (once; later calls do nothing). */
  end(code: StatusCode, details = ''): void {
    if (this.done) return;
    this.statusSent = true;
    const status: http2.OutgoingHttpHeaders = { 'grpc-status': String(code) };
    if (details) status['grpc-message'] = encodeGrpcMessage(details);
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond({ ...RESPONSE_HEADERS, ...status }, { endStream: true });
    } else {
      this.trailers = status;
      this.stream.end();
    }
    this.stopReading();
    // A reset now could overtake the status (nghttp2 may send RST_STREAM before queued frames): the client gets
    // LINGER_MS to read it and close its side. A client that does not read never gets it; the reset frees what is
    // queued for it.
    const timer = setTimeout(() => this.closeAfterStatus(), LINGER_MS);
    timer.unref();
    this.stream.once('close', () => clearTimeout(timer));
  }

  /**
   * The status was queued LINGER_MS ago; a client that has not half-closed would keep the stream (and what it
   * holds) open, so it is closed with RST_STREAM NO_ERROR, as PROTOCOL-HTTP2.md allows, or CANCEL if what was
   * queued before the status was never taken.
   */
  private closeAfterStatus(): void {
    this.stopReading();
    if (!this.stream.closed && !this.stream.destroyed) this.stream.close(this.stream.writableFinished ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
  }

  /** Resets the stream (RST_STREAM CANCEL), dropping whatever is still queued for it. */
  reset(): void {
    this.statusSent = true;
    this.stopReading();
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }
}

export interface GrpcServerOptions {
  /** Longest request message accepted (bytes); a longer one is reported by its call's `oversize` event. */
  readonly maxMessageBytes: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  /** Streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); HTTP/2 refuses those past it. */
  readonly maxStreamsPerConnection: number;
  /** TLS: what tls.createSecureContext takes, and whether client certificates are required. Absent: plaintext. */
  readonly tls?: { readonly context: tls.SecureContextOptions; readonly requireClientCertificate: boolean };
  /** Errors of the listener or of a connection (logged by the caller; the server keeps serving). */
  readonly onError: (what: string, err: Error) => void;
}

interface SessionState {
  lastPing: number;
  awaitingSince: number;
}

export class GrpcServer {
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly handlers = new Map<string, (call: GrpcCall) => void>();
  private readonly sessions = new Map<http2.ServerHttp2Session, SessionState>();
  private readonly keepalive: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly o: GrpcServerOptions) {
    const options: http2.ServerOptions = {
      // In MB. Node's default (10) refuses new streams on a connection whose buffered output passes it, which a
      // proxy's own large responses do; what a stream may buffer is bounded by the caller instead (per stream, and
      // the number of streams by admission).
      maxSessionMemory: 1 << 20,
      settings: { enablePush: false, maxConcurrentStreams: o.maxStreamsPerConnection },
    };
    this.server = o.tls
      ? http2.createSecureServer({ ...options, ...o.tls.context, requestCert: o.tls.requireClientCertificate, rejectUnauthorized: o.tls.requireClientCertificate })
      : http2.createServer(options);
    this.server.on('session', (session) => this.onSession(session));
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
    this.server.on('sessionError', (err) => o.onError('xds connection error', err));
    this.server.on('tlsClientError', (err: Error) => o.onError('xds tls handshake failed', err));
    const tick = Math.max(100, Math.min(o.keepaliveTimeMs, o.keepaliveTimeoutMs) / 2);
    this.keepalive = setInterval(() => this.sweepKeepalive(), tick);
    this.keepalive.unref();
  }

  /** Registers a handler for `path` ("/package.Service/Method"). */
  handle(path: string, handler: (call: GrpcCall) => void): void {
    this.handlers.set(path, handler);
  }

  /** Replaces the TLS certificate, key and CA for new connections (a rotated Secret). */
  setSecureContext(context: tls.SecureContextOptions): void {
    (this.server as http2.Http2SecureServer).setSecureContext(context);
  }

  listen(host: string, port: number, backlog: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog }, () => {
        this.server.off('error', reject);
        this.server.on('error', (err) => this.o.onError('xds listener error', err));
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops listening and closes every connection at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    this.server.close();
    for (const session of this.sessions.keys()) session.destroy();
    this.sessions.clear();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    if (this.closed) return void session.destroy();
    this.sessions.set(session, { lastPing: performance.now(), awaitingSince: 0 });
    session.on('error', () => undefined);
    session.once('close', () => this.sessions.delete(session));
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (headers[HTTP2_HEADER_METHOD] !== 'POST' || typeof contentType !== 'string' || !/^application\/grpc([+;]|$)/.test(contentType)) {
      stream.on('error', ignore);
      stream.respond({ [HTTP2_HEADER_STATUS]: 415, 'content-type': 'text/plain' }, { endStream: true });
      return;
    }
    const handler = this.handlers.get(String(headers[HTTP2_HEADER_PATH]));
    const encoding = headers['grpc-encoding'];
    const status = !handler
      ? { code: Status.UNIMPLEMENTED, details: `unknown method ${String(headers[HTTP2_HEADER_PATH]).slice(0, 200)}` }
      : encoding !== undefined && encoding !== 'identity'
        ? { code: Status.UNIMPLEMENTED, details: `grpc-encoding ${String(encoding).slice(0, 50)} is not supported (identity only)` }
        : undefined;
    const socket = stream.session?.socket;
    const peer = socket ? (socket.remoteFamily === 'IPv6' ? `[${socket.remoteAddress}]:${socket.remotePort}` : `${socket.remoteAddress}:${socket.remotePort}`) : 'unknown';
    const call = new GrpcCall(stream, peer, this.o.maxMessageBytes);
    if (status) return call.end(status.code, status.details);
    handler!(call);
  }

  /** Pings connections quiet for keepaliveTimeMs; closes those that left a ping unanswered for keepaliveTimeoutMs. */
  private sweepKeepalive(): void {
    const now = performance.now();
    for (const [session, st] of this.sessions) {
      if (session.destroyed || session.closed) continue;
      if (st.awaitingSince > 0) {
        if (now - st.awaitingSince > this.o.keepaliveTimeoutMs) session.destroy();
        continue;
      }
      if (now - st.lastPing < this.o.keepaliveTimeMs) continue;
      st.awaitingSince = now;
      try {
        session.ping((err) => {
          st.awaitingSince = 0;
          st.lastPing = performance.now();
          if (err && !session.destroyed) session.destroy();
        });
      } catch {
        session.destroy();
      }
    }
  }
}
