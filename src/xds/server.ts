/**
 * The ADS gRPC server: StreamAggregatedResources (SotW) and DeltaAggregatedResources (Delta). Both are one
 * `AdsStream` differing only by codec and protocol traits, served by grpc-server.ts (gRPC on node:http2).
 * Responses are pre-encoded bytes from the cache: streams due the same content write the same buffer around
 * their own nonce (wire.ts frameChunks); a small response is laid out whole per stream instead (frameBuffer).
 *
 * Ownership: the server owns the set of live streams; each AdsStream owns its StreamState. Cache changes arrive
 * synchronously from XdsCache.apply and wake only the streams whose subscription they touch.
 *
 * Bounds (limits.ts): a request is size- and name-checked before it is decoded; a stream whose transport does
 * not take its writes stops being written to (changes coalesce in its StreamState, as while awaiting an ACK) and
 * is closed when its buffered bytes pass a budget or its writes stay blocked too long; new streams are admitted
 * at a rate and up to a total. With TLS and a client CA (tls.ts), the certificate's identity must match the node
 * it claims (identity.ts), else PERMISSION_DENIED.
 */
import * as fs from 'node:fs';
import type { Metrics } from '../admin/metrics';
import type { Logger } from '../log/log';
import type { Telemetry } from '../telemetry';
import type { CacheChange, XdsCache } from './cache';
import { deltaCodec, sotwCodec, type Codec, type NodeInfo } from './codec';
import { KIND_ORDER, RESOURCE_TYPES, type ResourceKind } from './resource-types';
import { DELTA, KIND_BIT, SOTW, StreamState, type ProtocolTraits, type TypeSnapshot, type TypeSummary } from './stream-state';
import type { ViewResolver } from './view-resolver';
import { DEFAULT_ADMISSION, DEFAULT_STREAM_LIMITS, TokenBucket, type AdmissionLimits, type StreamLimits } from './limits';
import { FileCertificates, type TlsContext, type XdsTlsOptions } from './tls';
import { certIdentity, identityProblem, nodeClaim } from './identity';
import type { Convergence, StreamConvergence } from '../pipeline/convergence';
import { SharedResponses, type ViewSlots } from './shared-responses';
import { frameBuffer, frameChunks, type ResponseFrame } from './wire';
import { GrpcServer, MESSAGE_PREFIX, SMALL_MESSAGE, Status, statusName, type CallHandler, type GrpcCall, type StatusCode } from './grpc-server';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

/**
 * This module's metrics, declared in `m` (the same handles for every caller on one Metrics); `buffered` reads
 * the bytes buffered gauge's value (the server's, kept as a plain number on the write path).
 */
export function xdsServerMetrics(m: Metrics, buffered?: () => number) {
  return {
    streams: m.gauge('herald_xds_streams', 'Connected xDS streams by protocol', ['protocol']),
    proxies: m.gauge('herald_xds_proxies', 'Connected xDS streams by protocol and view (views are bounded by views.maxViews)', ['protocol', 'view']),
    requests: m.counter('herald_xds_requests_total', 'xDS requests by protocol, type and outcome (ack, nack, subscribe, ignored)', ['protocol', 'type', 'outcome']),
    responses: m.counter('herald_xds_responses_total', 'xDS responses sent (pushes) by protocol and type', ['protocol', 'type']),
    responseBytes: m.counter('herald_xds_response_bytes_total', 'Bytes of xDS responses sent, by protocol and type', ['protocol', 'type']),
    ackLatency: m.histogram('herald_xds_ack_latency_seconds', 'Time from sending a response to its ACK or NACK, by type', ['type']),
    overdue: m.gauge('herald_xds_responses_awaiting_ack_overdue', 'Responses unacknowledged for longer than the ACK timeout'),
    badRequests: m.counter('herald_xds_bad_requests_total', 'Malformed or invalid xDS requests by reason', ['reason']),
    streamsClosed: m.counter('herald_xds_streams_closed_total', 'xDS streams Herald closed for not reading, by reason (blocked, buffer)', ['reason']),
    bufferedBytes: m.gauge('herald_xds_buffered_bytes', 'Bytes written to xDS streams and not yet taken by the transport', [], buffered),
    blocked: m.gauge('herald_xds_streams_blocked', 'xDS streams whose transport is not taking writes (backpressure)'),
    refused: m.counter('herald_xds_streams_refused_total', 'New xDS streams refused with UNAVAILABLE by reason (rate, max-streams)', ['reason']),
    identity: m.counter('herald_xds_identity_denied_total', 'xDS streams refused with PERMISSION_DENIED: the client certificate does not match the node', ['reason']),
    aged: m.counter('herald_xds_streams_aged_total', 'xDS streams ended (status OK) at their maximum age, so proxies reconnect and rebalance'),
  };
}

/** A stream lives its maximum age times a factor drawn uniformly from [1 - MAX_AGE_JITTER, 1 + MAX_AGE_JITTER]. */
export const MAX_AGE_JITTER = 0.2;

export interface XdsServerOptions {
  /** A response unacknowledged for this long is logged and counted (the stream is left open). */
  readonly ackTimeoutMs?: number;
  /** Per-stream bounds; missing fields take limits.ts DEFAULT_STREAM_LIMITS. */
  readonly limits?: Partial<StreamLimits>;
  /** Admission of new streams; missing fields take limits.ts DEFAULT_ADMISSION. */
  readonly admission?: Partial<AdmissionLimits>;
  /** Serve xDS over TLS (mTLS with `clientCaFile`); absent: plaintext. */
  readonly tls?: XdsTlsOptions;
  /**
   * Each stream is ended with status OK after this long (±MAX_AGE_JITTER, drawn per stream), counted from its
   * start; the proxy reconnects at once through its xDS cluster's load balancer, so streams spread again over
   * every live replica after one returns. 0 or absent: streams live as long as the proxy keeps them.
   */
  readonly maxStreamAgeMs?: number;
  /** Follows published changes to each stream's ACK (convergence metrics). */
  readonly convergence?: Convergence;
  /** The instance's metrics and logger (the server's streams and its TLS certificates write there too). */
  readonly telemetry: Telemetry;
}

/** A stream's identity and every kind's sync summary: what /status shows of each proxy. */
export interface ProxySummary {
  readonly streamId: number;
  readonly nodeId: string;
  readonly cluster: string;
  readonly zone: string;
  readonly userAgent: string;
  readonly protocol: 'sotw' | 'delta';
  readonly view: string;
  readonly peer: string;
  readonly connectedAt: string;
  /** With mTLS: the certificate's SPIFFE URI or DNS SANs the node was checked against. */
  readonly identity?: string;
  /** Bytes written and not yet taken by the transport. */
  readonly bufferedBytes: number;
  /** Keyed by type URL. */
  readonly types: Partial<Record<string, TypeSummary>>;
}

/** What /proxies shows for one stream: the summary with every kind's subscription too, O(names subscribed). */
export interface ProxyInfo extends ProxySummary {
  readonly types: Partial<Record<string, TypeSnapshot>>;
}

/** Observers of acknowledgements, for convergence measurement (the lab and benchmarks). */
export type AckListener = (event: { nodeId: string; kind: string; version: string; nack?: string; at: number }) => void;

let streamSeq = 0;

const PROTOCOL_LABELS = { sotw: Object.freeze({ protocol: 'sotw' }), delta: Object.freeze({ protocol: 'delta' }) };

type Bound = { inc(by?: number): void };
/**
 * The hot path's metric series, bound once per server (a handful: protocols × types × outcomes), so a response or
 * an ACK increments plain numbers (admin/metrics.ts `labels`).
 */
class HotSeries {
  private readonly requests: Record<string, Record<string, Record<string, Bound>>> = {};
  private readonly responses: Record<string, Record<string, { count: Bound; bytes: Bound }>> = {};
  private readonly ackLatency: Record<string, { observe(seconds: number): void }> = {};

  constructor(private readonly m: ReturnType<typeof xdsServerMetrics>) {}

  request(protocol: 'sotw' | 'delta', outcome: string, type: string): Bound {
    const byType = ((this.requests[protocol] ??= {})[outcome] ??= {});
    return (byType[type] ??= this.m.requests.labels({ protocol, type, outcome }));
  }

  response(protocol: 'sotw' | 'delta', type: string): { count: Bound; bytes: Bound } {
    const byType = (this.responses[protocol] ??= {});
    return (byType[type] ??= { count: this.m.responses.labels({ protocol, type }), bytes: this.m.responseBytes.labels({ protocol, type }) });
  }

  ack(type: string): { observe(seconds: number): void } {
    return (this.ackLatency[type] ??= this.m.ackLatency.labels({ type }));
  }
}

class AdsStream implements CallHandler {
  readonly id = ++streamSeq;
  /** Epoch ms (a number, not a Date: one object less per stream). */
  readonly connectedAt = Date.now();
  node: NodeInfo | undefined;
  view: string | undefined;
  state: StreamState | undefined;
  private closed = false;
  /** The view's shared versions and encodings (shared-responses.ts), set with the view. */
  private slots: ViewSlots | undefined;
  /** Bytes handed to call.write whose write callback has not fired yet. */
  bufferedBytes = 0;
  private pendingWrites = 0;
  /** When the transport last made progress (a write completed, or writes became outstanding). */
  lastProgress = 0;
  /** True between a write() that returned false and the 'drain' that follows: nothing is written meanwhile. */
  blocked = false;
  identity: string | undefined;
  /** The number of the last cache batch that found this stream due (XdsServer.onCacheChange). */
  dueIn = 0;
  /** This stream's part of convergence tracking (from register to close). */
  conv: StreamConvergence | undefined;
  /** The max-age timer (XdsServer.limitAge), if any. */
  ageTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: XdsServer,
    private readonly call: GrpcCall,
    readonly codec: Codec,
    private readonly traits: ProtocolTraits,
  ) {}

  get peer(): string {
    return this.call.peer;
  }

  // CallHandler: what the transport reports.
  message(bytes: Buffer): void {
    try {
      this.onData(bytes);
    } catch (err) {
      this.server.log.write('error', 'xds stream failed', { stream: this.id, error: (err as Error).stack });
      this.fail(Status.INTERNAL, 'internal error', 'internal');
    }
  }

  end(): void {
    this.close();
    this.call.end(Status.OK);
  }

  gone(): void {
    this.server.callEnded(this);
    this.close();
  }

  /** The transport takes writes again: what coalesced meanwhile is sent. */
  drained(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.server.countBlocked(-1);
    this.pump();
  }

  /** A request declared longer than the limit: refused before any of it is kept (grpc-server.ts). */
  oversize(length: number): void {
    const max = this.server.limits.maxRequestBytes;
    this.fail(Status.RESOURCE_EXHAUSTED, `request of ${length} bytes exceeds the limit of ${max} (xds.limits.maxRequestBytes)`, 'too-large');
  }

  onData(bytes: Buffer): void {
    if (this.closed) return;
    const limits = this.server.limits;
    // Every name costs at least two bytes on the wire (its tag and length): a request shorter than twice the
    // limit cannot pass it, and is not walked for the count (an ACK never is).
    const names = bytes.length > 2 * limits.maxNamesPerRequest ? this.codec.countNames(bytes) : 0;
    if (names > limits.maxNamesPerRequest) {
      return this.fail(Status.RESOURCE_EXHAUSTED, `request names ${names} resources, more than the limit of ${limits.maxNamesPerRequest} (xds.limits.maxNamesPerRequest)`, 'too-many-names');
    }
    const decoded = this.codec.decode(bytes);
    if ('error' in decoded) return this.fail(Status.INVALID_ARGUMENT, decoded.error, 'malformed');
    const { request } = decoded;
    if (!this.state) {
      const node = decoded.node;
      if (!node || node.id === '') {
        return this.fail(Status.INVALID_ARGUMENT, 'the first request of a stream must carry node.id', 'no-node');
      }
      if (this.server.verifyIdentity && !this.checkIdentity(node)) return;
      this.node = node;
      const resolved = this.server.views.resolve(node);
      if ('refused' in resolved) return this.fail(Status.RESOURCE_EXHAUSTED, resolved.refused, 'no-view');
      const cache = this.server.cache;
      const view = (this.view = resolved.view);
      const slots = (this.slots = this.server.shared.slots(this.traits.name, view));
      this.state = new StreamState(this.traits, (kind) => cache.resources(view, kind), this.server.shared.versionFor(slots));
      this.server.register(this);
      this.server.log.write('info', 'xds stream opened', { stream: this.id, node: node.id, protocol: this.traits.name, view, peer: this.peer });
    }
    if (!request.typeUrl) {
      return this.fail(Status.INVALID_ARGUMENT, 'request without type_url', 'no-type-url');
    }
    const outcome = this.state.handleRequest(request);
    const type = 'kind' in outcome && outcome.kind ? RESOURCE_TYPES[outcome.kind].short : 'unknown';
    if ('ignored' in outcome) {
      this.server.hot.request(this.traits.name, 'ignored', type).inc();
      this.server.log.limited(`ignored:${this.id}:${type}`, 'warn', 'xds request ignored', { stream: this.id, node: this.node?.id, reason: outcome.ignored.slice(0, 300) });
    } else if (outcome.nack) {
      this.server.hot.request(this.traits.name, 'nack', type).inc();
      this.observeAck(outcome.kind, outcome.nack.version, outcome.sentAt, outcome.nack.message);
      this.server.log.write('warn', 'xds NACK', { stream: this.id, node: this.node?.id, type, version: outcome.nack.version, error: outcome.nack.message });
    } else if (outcome.ack) {
      this.server.hot.request(this.traits.name, 'ack', type).inc();
      this.observeAck(outcome.kind, outcome.ack, outcome.sentAt);
    } else {
      this.server.hot.request(this.traits.name, 'subscribe', type).inc();
    }
    this.pump();
  }

  /**
   * Sends whatever is due, in make-before-break order. While the transport is not taking writes (write() said
   * false, until 'drain') nothing is built: the kinds stay dirty in StreamState and coalesce into the next
   * response, exactly as changes do while a response awaits its ACK.
   */
  pump(): void {
    if (this.closed || !this.state || this.blocked) return;
    // Served once the cache holds the view: the pipeline builds views only after every source has synced.
    const ready = this.server.cache.hasView(this.view!);
    for (const kind of KIND_ORDER) {
      // Read at each kind: sending one marks the kinds it depends on (CDS → EDS) dirty.
      if ((this.state.dirtyKinds & KIND_BIT[kind]) === 0) continue;
      const out = this.state.nextResponse(kind, ready);
      const type = RESOURCE_TYPES[kind].short;
      if (!out) {
        if (ready && !this.state.awaitingAck(kind)) this.conv?.unneeded(type);
        continue;
      }
      this.conv?.sent(type, out.version);
      const frame = this.codec.frame(out, this.slots?.[kind]);
      if (!this.write(frame)) return;
      const series = this.server.hot.response(this.traits.name, type);
      series.count.inc();
      series.bytes.inc(frame.length);
      if (this.server.log.enabled('debug')) this.server.log.write('debug', 'xds response', { stream: this.id, type, version: out.version, resources: out.resources.length, removed: out.removed.length });
      if (this.blocked) return;
    }
  }

  /** Writes one response, accounting its bytes until the transport takes them; false if the stream was closed for it. */
  private write(frame: ResponseFrame): boolean {
    const len = frame.length;
    if (this.pendingWrites === 0) this.lastProgress = performance.now();
    this.pendingWrites++;
    this.bufferedBytes += len;
    this.server.addBuffered(len);
    const taken = () => {
      // No callback comes for a write dropped with its stream: close() settles those.
      if (this.closed) return;
      this.pendingWrites--;
      this.bufferedBytes -= len;
      this.server.addBuffered(-len);
      this.lastProgress = performance.now();
    };
    const ok = len <= SMALL_MESSAGE ? this.call.writeMessage(frameBuffer(frame, MESSAGE_PREFIX), taken) : this.call.write(frameChunks(frame), len, taken);
    const budget = this.server.limits.maxBufferedBytes;
    // One response is always let through, however large (a big mesh's SotW CDS to a healthy proxy); the budget
    // bounds what piles up behind it.
    if (this.bufferedBytes > budget && this.pendingWrites > 1) {
      this.abandon('buffer', `${this.bufferedBytes} bytes buffered for a client that is not reading, over the budget of ${budget} (xds.limits.maxBufferedBytes)`);
      return false;
    }
    if (!ok && !this.blocked) {
      this.blocked = true;
      this.server.countBlocked(+1);
    }
    return true;
  }

  /** Whether writes are outstanding and none has completed for `ms`. */
  stalledFor(ms: number, now: number): boolean {
    return this.pendingWrites > 0 && now - this.lastProgress > ms;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.blocked) {
      this.blocked = false;
      this.server.countBlocked(-1);
    }
    this.server.addBuffered(-this.bufferedBytes);
    this.bufferedBytes = 0;
    this.pendingWrites = 0;
    this.server.unregister(this);
    this.conv?.close();
    if (this.state) this.server.log.write('info', 'xds stream closed', { stream: this.id, node: this.node?.id });
  }

  /** Ends the stream with a status; other streams are unaffected. */
  fail(code: StatusCode, details: string, reason: string, metric = this.server.m.badRequests): void {
    metric.inc({ reason });
    this.server.log.limited(`bad:${reason}`, 'warn', 'xds stream rejected', { stream: this.id, node: this.node?.id, peer: this.peer, code: statusName(code), details });
    if (this.closed) return;
    this.close();
    this.call.end(code, details);
  }

  /**
   * Closes a stream whose client is not reading: a status cannot reach it (it would queue behind the unread
   * data), so the HTTP/2 stream is reset, which frees what the transport buffered for it.
   */
  abandon(reason: 'blocked' | 'buffer', details: string): void {
    if (this.closed) return;
    this.server.m.streamsClosed.inc({ reason });
    this.server.log.write('warn', 'xds stream closed: client not reading', { stream: this.id, node: this.node?.id, peer: this.peer, reason, details, bufferedBytes: this.bufferedBytes });
    this.close();
    this.call.reset();
  }

  /** With mTLS: the client certificate must back the node's claim; false (stream failed) when it does not. */
  private checkIdentity(node: NodeInfo): boolean {
    const cert = this.call.peerCertificate;
    const id = certIdentity(cert);
    this.identity = [...id.uris, ...id.dns.map((d) => `DNS:${d}`)].join(', ');
    const problem = cert ? identityProblem(id, nodeClaim(node), this.server.trustDomain) : 'no verified client certificate';
    if (!problem) return true;
    this.node = node;
    this.fail(Status.PERMISSION_DENIED, `node ${JSON.stringify(node.id)}: ${problem}`, 'identity', this.server.m.identity);
    return false;
  }

  /** An ACK or NACK of the response of `kind` built at `sentAt` (the state machine reports only the one awaiting it). */
  private observeAck(kind: ResourceKind, version: string, sentAt: number | undefined, nack?: string): void {
    const at = Date.now();
    const type = RESOURCE_TYPES[kind].short;
    if (sentAt !== undefined) this.server.hot.ack(type).observe((at - sentAt) / 1000);
    this.conv?.answered(type, version, at, nack);
    if (this.server.hasAckListeners) this.server.notifyAck({ nodeId: this.node?.id ?? '', kind, version, at, ...(nack !== undefined ? { nack } : {}) });
  }

  info(): ProxyInfo {
    return { ...this.identityFields(), types: byTypeUrl(this.state?.snapshot()) };
  }

  summary(): ProxySummary {
    return { ...this.identityFields(), types: byTypeUrl(this.state?.summary()) };
  }

  private identityFields(): Omit<ProxySummary, 'types'> {
    return {
      streamId: this.id,
      nodeId: this.node?.id ?? '',
      cluster: this.node?.cluster ?? '',
      zone: this.node?.zone ?? '',
      userAgent: this.node?.userAgent ?? '',
      protocol: this.traits.name,
      view: this.view ?? '',
      peer: this.peer,
      connectedAt: new Date(this.connectedAt).toISOString(),
      ...(this.identity !== undefined ? { identity: this.identity } : {}),
      bufferedBytes: this.bufferedBytes,
    };
  }
}

/** Per-kind entries keyed by their type URL instead. */
function byTypeUrl<T>(perKind: Partial<Record<ResourceKind, T>> | undefined): Partial<Record<string, T>> {
  const out: Partial<Record<string, T>> = {};
  for (const kind of KIND_ORDER) if (perKind?.[kind]) out[RESOURCE_TYPES[kind].typeUrl] = perKind[kind];
  return out;
}

/** The accept backlog: the kernel's limit (Linux caps listen(2) there anyway), 4096 where it cannot be read. */
function listenBacklog(): number {
  try {
    const n = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : 4096;
  } catch {
    return 4096;
  }
}

export class XdsServer {
  /** One per listen(); built there, with the TLS certificates read then. */
  private readonly grpcServers: GrpcServer[] = [];
  private readonly streams = new Set<AdsStream>();
  private readonly byView = new Map<string, Set<AdsStream>>();
  private batchSeq = 0;
  private readonly ackListeners = new Set<AckListener>();
  private readonly convergence: Convergence | undefined;
  /** @internal one version and encoding per (protocol, view, kind, content), read by the streams */
  readonly shared: SharedResponses;
  private readonly unsubscribe: () => void;
  private readonly ackTimer: NodeJS.Timeout;
  private closed = false;
  /** Max-age timers of live calls; owned by limitAge (each removes its own when it fires or the call ends). */
  private readonly ageTimers = new Set<NodeJS.Timeout>();

  readonly limits: StreamLimits;
  private readonly admission: AdmissionLimits;
  private readonly bucket: TokenBucket;
  private readonly tls: XdsTlsOptions | undefined;
  private certificates: FileCertificates | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  /** Calls accepted and not yet ended (a stream counts from its call, before its first request). */
  private open = 0;
  private buffered = 0;
  private blockedStreams = 0;

  /** @internal this instance's metrics, written by the server and its streams */
  readonly m: ReturnType<typeof xdsServerMetrics>;
  /** @internal the streams' per-response and per-ACK series, bound */
  readonly hot: HotSeries;
  /** @internal */
  readonly log: Logger;
  private readonly telemetry: Telemetry;

  constructor(
    readonly cache: XdsCache,
    readonly views: ViewResolver,
    private readonly options: XdsServerOptions,
  ) {
    this.telemetry = options.telemetry;
    this.m = xdsServerMetrics(options.telemetry.metrics, () => this.buffered);
    this.hot = new HotSeries(this.m);
    this.log = options.telemetry.log;
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...options.limits };
    this.admission = { ...DEFAULT_ADMISSION, ...options.admission };
    this.bucket = new TokenBucket(this.admission.newStreamsPerSecond, Math.max(1, this.admission.burst));
    this.tls = options.tls;
    this.convergence = options.convergence;
    this.shared = new SharedResponses(() => cache.nextVersion());
    this.unsubscribe = cache.subscribe((changes) => this.onCacheChange(changes));
    const ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
    this.ackTimer = setInterval(() => this.checkOverdue(ackTimeoutMs), Math.max(1000, ackTimeoutMs / 2));
    this.ackTimer.unref();
    const sweepMs = Math.max(100, Math.min(1000, this.limits.maxBlockedMs / 4));
    this.sweepTimer = setInterval(() => this.sweepBlocked(), sweepMs);
    this.sweepTimer.unref();
  }

  /** Whether streams must prove their node's identity (TLS with a client CA, unless turned off). */
  get verifyIdentity(): boolean {
    return !!this.tls?.clientCaFile && this.tls.verifyNodeIdentity !== false;
  }

  get trustDomain(): string {
    return this.tls?.trustDomain ?? '';
  }

  /**
   * Binds and starts serving; resolves with the bound port (useful with port 0). With `tls` the certificate
   * files are read now (a missing or mismatched key fails here, naming the file).
   *
   * The listening socket takes the kernel's largest accept backlog (net.core.somaxconn), not Node's default of
   * 511: a reconnect storm of thousands of proxies overflows that queue (each overflow a client retry after a SYN
   * timeout).
   */
  listen(address: string, port: number): Promise<number> {
    let tls: { context: TlsContext; requireClientCertificate: boolean } | undefined;
    if (this.tls) {
      const certificates = (this.certificates ??= new FileCertificates(this.tls, this.telemetry));
      tls = { context: certificates.context(), requireClientCertificate: !!this.tls.clientCaFile };
    }
    const server = new GrpcServer({
      maxMessageBytes: this.limits.maxRequestBytes,
      keepaliveTimeMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      maxStreamsPerConnection: this.admission.maxStreamsPerConnection,
      ...(tls ? { tls } : {}),
      onError: (what, err) => this.log.limited(what, 'warn', what, { error: err.message }),
    });
    if (tls) this.certificates!.onChange((context) => server.setSecureContext(context));
    const sotw = sotwCodec();
    const delta = deltaCodec();
    server.handle(`${ADS}/StreamAggregatedResources`, (call) => this.accept(call, sotw, SOTW));
    server.handle(`${ADS}/DeltaAggregatedResources`, (call) => this.accept(call, delta, DELTA));
    this.grpcServers.push(server);
    return server.listen(address, port, listenBacklog());
  }

  /** Stops accepting, ends every stream, and closes the port. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.ackTimer);
    clearInterval(this.sweepTimer);
    this.certificates?.close();
    for (const t of this.ageTimers) clearTimeout(t);
    for (const s of [...this.streams]) s.close();
    // Streams are already closed above; nothing in flight is worth waiting for.
    for (const server of this.grpcServers) server.close();
  }

  proxies(): ProxyInfo[] {
    return [...this.streams].map((s) => s.info());
  }

  /**
   * One page of /proxies: the streams of `proxy` (a stream id or node id) if given, else all, in stream id order
   * after `after`, at most `limit`; `next` is the cursor for the rest. A page costs O(streams) to find and O(its
   * streams' subscriptions) to build.
   */
  proxyPage(o: { readonly proxy?: string; readonly after: number; readonly limit: number }): { proxies: ProxyInfo[]; next?: number } {
    const proxies: ProxyInfo[] = [];
    // Streams are kept in the order they registered, which is their id order.
    for (const s of this.streams) {
      if (s.id <= o.after || (o.proxy !== undefined && String(s.id) !== o.proxy && s.node?.id !== o.proxy)) continue;
      if (proxies.length === o.limit) return { proxies, next: proxies[proxies.length - 1]!.streamId };
      proxies.push(s.info());
    }
    return { proxies };
  }

  /** Every stream's summary, without the subscriptions (what /status serves; cheap enough to poll). */
  summaries(): ProxySummary[] {
    return [...this.streams].map((s) => s.summary());
  }

  /**
   * What the streams of one proxy (by stream id or node id) were last sent: per kind, resource name → version, with
   * the view to read those resources from in the cache. Copies; for the admin API.
   */
  sent(proxy: string): Array<{ info: ProxyInfo; held: Record<ResourceKind, Map<string, string>> }> {
    const matches = [...this.streams].filter((s) => String(s.id) === proxy || s.node?.id === proxy);
    return matches.map((s) => ({
      info: s.info(),
      held: Object.fromEntries(KIND_ORDER.map((k) => [k, s.state?.heldVersions(k) ?? new Map()])) as Record<ResourceKind, Map<string, string>>,
    }));
  }

  onAck(listener: AckListener): () => void {
    this.ackListeners.add(listener);
    return () => this.ackListeners.delete(listener);
  }


  /** @internal called by AdsStream */
  register(s: AdsStream): void {
    this.streams.add(s);
    s.conv = this.convergence?.stream();
    let set = this.byView.get(s.view!);
    if (!set) this.byView.set(s.view!, (set = new Set()));
    set.add(s);
    this.countStream(s.codec.protocol, +1);
    this.countView(s.codec.protocol, s.view!, +1);
  }

  /** @internal called by AdsStream */
  unregister(s: AdsStream): void {
    if (!this.streams.delete(s)) return;
    const set = this.byView.get(s.view!);
    set?.delete(s);
    if (set && set.size === 0) {
      this.byView.delete(s.view!);
      this.shared.drop('sotw', s.view!);
      this.shared.drop('delta', s.view!);
    }
    this.views.release(s.view!);
    this.countStream(s.codec.protocol, -1);
    this.countView(s.codec.protocol, s.view!, -1);
  }

  private readonly perProtocol = { sotw: 0, delta: 0 };
  private readonly perView = new Map<string, number>();

  private countView(protocol: 'sotw' | 'delta', view: string, by: number): void {
    const key = `${protocol} ${view}`;
    const n = (this.perView.get(key) ?? 0) + by;
    if (n > 0) {
      this.perView.set(key, n);
      this.m.proxies.set(n, { protocol, view });
    } else {
      this.perView.delete(key);
      this.m.proxies.remove({ protocol, view });
    }
  }

  private countStream(protocol: 'sotw' | 'delta', by: number): void {
    this.perProtocol[protocol] += by;
    this.m.streams.set(this.perProtocol[protocol], PROTOCOL_LABELS[protocol]);
  }

  /** @internal called by AdsStream: bytes buffered for streams, all together (the gauge reads it when scraped). */
  addBuffered(by: number): void {
    this.buffered += by;
  }

  /** @internal called by AdsStream */
  countBlocked(by: number): void {
    this.blockedStreams += by;
    this.m.blocked.set(this.blockedStreams);
  }

  /** Bytes buffered for every stream (what /metrics shows as herald_xds_buffered_bytes). */
  bufferedBytes(): number {
    return this.buffered;
  }

  /** Closes streams whose writes have been outstanding without progress for longer than maxBlockedMs. */
  private sweepBlocked(): void {
    const now = performance.now();
    const ms = this.limits.maxBlockedMs;
    for (const s of [...this.streams]) {
      if (s.stalledFor(ms, now)) s.abandon('blocked', `no write taken by the transport for ${ms} ms (xds.limits.maxBlockedMs)`);
    }
  }

  /** Admission: past the rate or the total, a new stream ends at once with UNAVAILABLE (Envoy backs off and retries). */
  private admit(call: GrpcCall): boolean {
    const max = this.admission.maxStreams;
    const reason = max > 0 && this.open >= max ? 'max-streams' : !this.bucket.take() ? 'rate' : undefined;
    if (!reason) return true;
    this.m.refused.inc({ reason });
    const details =
      reason === 'rate'
        ? `too many new streams: admitting ${this.admission.newStreamsPerSecond}/s (admission.newStreamsPerSecond); retry with backoff`
        : `too many streams: ${this.open} open, the limit is ${max} (admission.maxStreams)`;
    this.log.limited(`refused:${reason}`, 'warn', 'xds stream refused', { reason, peer: call.peer, details });
    call.end(Status.UNAVAILABLE, details);
    return false;
  }

  /** @internal */
  get hasAckListeners(): boolean {
    return this.ackListeners.size > 0;
  }

  /** @internal */
  notifyAck(e: Parameters<AckListener>[0]): void {
    for (const l of this.ackListeners) l(e);
  }

  private accept(call: GrpcCall, codec: Codec, traits: ProtocolTraits): void {
    if (this.closed || !this.admit(call)) return;
    this.open++;
    const stream = new AdsStream(this, call, codec, traits);
    stream.ageTimer = this.limitAge(stream, call);
    call.handler = stream;
  }

  /** @internal called by AdsStream once its call is gone */
  callEnded(stream: AdsStream): void {
    this.open--;
    if (stream.ageTimer) {
      clearTimeout(stream.ageTimer);
      this.ageTimers.delete(stream.ageTimer);
      stream.ageTimer = undefined;
    }
  }

  /**
   * Ends the call with status OK once it reaches maxStreamAgeMs (jittered per stream, so streams that started
   * together, as after a replica's restart, do not all leave together). Envoy and gRPC clients reconnect at once
   * after a stream that delivered responses; the new stream is routed by the client's load balancer, which is how
   * streams spread again over replicas. Nothing when the option is 0 or absent; else the timer (the caller clears
   * it when the call closes first).
   */
  private limitAge(stream: AdsStream, call: GrpcCall): NodeJS.Timeout | undefined {
    const maxAgeMs = this.options.maxStreamAgeMs ?? 0;
    if (maxAgeMs <= 0) return undefined;
    const ms = Math.round(maxAgeMs * (1 - MAX_AGE_JITTER + 2 * MAX_AGE_JITTER * Math.random()));
    const timer = setTimeout(() => {
      this.ageTimers.delete(timer);
      if (this.closed || call.done) return;
      this.m.aged.inc();
      this.log.write('info', 'xds stream reached its maximum age', { stream: stream.id, node: stream.node?.id, ageMs: ms });
      stream.close();
      call.end(Status.OK);
    }, ms);
    timer.unref();
    this.ageTimers.add(timer);
    return timer;
  }

  /**
   * Wakes the streams a batch of changes concerns (each only for the names it subscribes to or holds). The
   * batch covers every view of one publish (XdsCache.batch), so every view is translated and encoded before any
   * stream is written; streams are then written round-robin across views, so no view waits for all the others.
   */
  private onCacheChange(changes: readonly CacheChange[]): void {
    const dueByView = new Map<string, AdsStream[]>();
    // A stream concerned by several changes of the batch is due once: it is marked with this batch's number.
    const batch = ++this.batchSeq;
    for (const c of changes) {
      const streams = this.byView.get(c.view);
      if (!streams) continue;
      let due = dueByView.get(c.view);
      const type = RESOURCE_TYPES[c.kind].short;
      for (const s of streams) {
        if (s.state && s.state.noteChange(c.kind, c.names)) {
          s.conv?.changed(type);
          if (s.dueIn === batch) continue;
          s.dueIn = batch;
          if (!due) dueByView.set(c.view, (due = []));
          due.push(s);
        }
      }
    }
    if (dueByView.size <= 1) {
      for (const due of dueByView.values()) for (const s of due) s.pump();
      return;
    }
    const iterators = [...dueByView.values()].map((d) => d.values());
    while (iterators.length > 0) {
      for (let i = 0; i < iterators.length; ) {
        const next = iterators[i]!.next();
        if (next.done) iterators.splice(i, 1);
        else {
          next.value.pump();
          i++;
        }
      }
    }
  }

  private checkOverdue(ms: number): void {
    let n = 0;
    for (const s of this.streams) {
      const kinds = s.state?.overdue(ms) ?? [];
      n += kinds.length;
      for (const k of kinds) this.log.limited(`overdue:${s.id}:${k}`, 'warn', 'xds response not acknowledged', { stream: s.id, node: s.node?.id, type: RESOURCE_TYPES[k].short, timeoutMs: ms }, 60_000);
    }
    this.m.overdue.set(n);
  }
}
