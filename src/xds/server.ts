/**
 * The ADS gRPC server: StreamAggregatedResources (SotW) and DeltaAggregatedResources (Delta). Both are one
 * `AdsStream` differing only by codec and protocol traits. Responses are pre-encoded bytes from the cache;
 * the gRPC serializer is the identity.
 *
 * Ownership: the server owns the set of live streams; each AdsStream owns its StreamState. Cache changes arrive
 * synchronously from XdsCache.apply and wake only the streams whose subscription they touch.
 */
import * as grpc from '@grpc/grpc-js';
import { log, limited } from '../log/log';
import { counter, gauge, histogram } from '../admin/metrics';
import type { CacheChange, XdsCache } from './cache';
import { deltaCodec, sotwCodec, type Codec, type NodeInfo } from './codec';
import { KIND_ORDER, RESOURCE_TYPES, type ResourceKind } from './resource-types';
import { DELTA, SOTW, StreamState, type ProtocolTraits, type TypeSnapshot } from './stream-state';
import type { ViewResolver } from './view-resolver';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

const mStreams = gauge('herald_xds_streams', 'Connected xDS streams by protocol');
const mRequests = counter('herald_xds_requests_total', 'xDS requests by protocol, type and outcome (ack, nack, subscribe, ignored)');
const mResponses = counter('herald_xds_responses_total', 'xDS responses sent by protocol and type');
const mResponseBytes = counter('herald_xds_response_bytes_total', 'Bytes of xDS responses sent');
const mAckLatency = histogram('herald_xds_ack_latency_ms', 'Time from sending a response to its ACK or NACK');
const mOverdue = gauge('herald_xds_responses_awaiting_ack_overdue', 'Responses unacknowledged for longer than the ACK timeout');
const mBadRequests = counter('herald_xds_bad_requests_total', 'Malformed or invalid xDS requests by reason');

export interface XdsServerOptions {
  /** A response unacknowledged for this long is logged and counted (the stream is left open). */
  readonly ackTimeoutMs?: number;
}

/** What /proxies shows for one stream. */
export interface ProxyInfo {
  readonly streamId: number;
  readonly nodeId: string;
  readonly cluster: string;
  readonly zone: string;
  readonly userAgent: string;
  readonly protocol: 'sotw' | 'delta';
  readonly view: string;
  readonly peer: string;
  readonly connectedAt: string;
  readonly types: Partial<Record<string, TypeSnapshot>>;
}

/** Observers of acknowledgements, for convergence measurement (the lab and benchmarks). */
export type AckListener = (event: { nodeId: string; kind: string; version: string; nack?: string; at: number }) => void;

let streamSeq = 0;

class AdsStream {
  readonly id = ++streamSeq;
  readonly connectedAt = new Date();
  node: NodeInfo | undefined;
  view: string | undefined;
  state: StreamState | undefined;
  private closed = false;
  private readonly sentAt = new Map<string, number>();

  constructor(
    private readonly server: XdsServer,
    private readonly call: grpc.ServerDuplexStream<Buffer, Buffer>,
    readonly codec: Codec,
    private readonly traits: ProtocolTraits,
  ) {}

  get peer(): string {
    return this.call.getPeer();
  }

  onData(bytes: Buffer): void {
    if (this.closed) return;
    const decoded = this.codec.decode(bytes);
    if ('error' in decoded) return this.fail(grpc.status.INVALID_ARGUMENT, decoded.error, 'malformed');
    const { request } = decoded;
    if (!this.state) {
      const node = decoded.node;
      if (!node || node.id === '') {
        return this.fail(grpc.status.INVALID_ARGUMENT, 'the first request of a stream must carry node.id', 'no-node');
      }
      this.node = node;
      const resolved = this.server.views.resolve(node);
      if ('refused' in resolved) return this.fail(grpc.status.RESOURCE_EXHAUSTED, resolved.refused, 'no-view');
      const cache = this.server.cache;
      const view = (this.view = resolved.view);
      this.state = new StreamState(this.traits, (kind) => cache.resources(view, kind), () => cache.nextVersion());
      this.server.register(this);
      log('info', 'xds stream opened', { stream: this.id, node: node.id, protocol: this.traits.name, view, peer: this.peer });
    }
    if (!request.typeUrl) {
      return this.fail(grpc.status.INVALID_ARGUMENT, 'request without type_url', 'no-type-url');
    }
    const outcome = this.state.handleRequest(request);
    const labels = { protocol: this.traits.name, type: 'kind' in outcome && outcome.kind ? RESOURCE_TYPES[outcome.kind].short : 'unknown' };
    if ('ignored' in outcome) {
      mRequests.inc({ ...labels, outcome: 'ignored' });
      limited(`ignored:${this.id}:${labels.type}`, 'warn', 'xds request ignored', { stream: this.id, node: this.node?.id, reason: outcome.ignored.slice(0, 300) });
    } else if (outcome.nack) {
      mRequests.inc({ ...labels, outcome: 'nack' });
      this.observeAck(outcome.kind, outcome.nack.version, outcome.nack.message);
      log('warn', 'xds NACK', { stream: this.id, node: this.node?.id, type: labels.type, version: outcome.nack.version, error: outcome.nack.message });
    } else if (outcome.ack) {
      mRequests.inc({ ...labels, outcome: 'ack' });
      this.observeAck(outcome.kind, outcome.ack);
    } else {
      mRequests.inc({ ...labels, outcome: 'subscribe' });
    }
    this.pump();
  }

  /** Sends whatever is due, in make-before-break order. */
  pump(): void {
    if (this.closed || !this.state) return;
    // Served once the cache holds the view: the pipeline builds views only after every source has synced.
    const ready = this.server.cache.hasView(this.view!);
    for (const kind of KIND_ORDER) {
      const out = this.state.nextResponse(kind, ready);
      if (!out) continue;
      const bytes = this.codec.encode(out);
      this.sentAt.set(`${kind}/${out.version}`, Date.now());
      this.call.write(bytes);
      mResponses.inc({ protocol: this.traits.name, type: RESOURCE_TYPES[kind].short });
      mResponseBytes.inc({}, bytes.length);
      log('debug', 'xds response', { stream: this.id, type: RESOURCE_TYPES[kind].short, version: out.version, resources: out.resources.length, removed: out.removed.length });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.unregister(this);
    if (this.state) log('info', 'xds stream closed', { stream: this.id, node: this.node?.id });
  }

  /** Ends the stream with a status; other streams are unaffected. */
  fail(code: grpc.status, details: string, reason: string): void {
    mBadRequests.inc({ reason });
    limited(`bad:${reason}`, 'warn', 'xds stream rejected', { stream: this.id, node: this.node?.id, peer: this.peer, code: grpc.status[code], details });
    if (this.closed) return;
    this.close();
    this.call.emit('error', { code, details, metadata: new grpc.Metadata() });
  }

  private observeAck(kind: string, version: string, nack?: string): void {
    const key = `${kind}/${version}`;
    const at = Date.now();
    const sent = this.sentAt.get(key);
    if (sent !== undefined) mAckLatency.observe(at - sent, { type: kind });
    this.sentAt.delete(key);
    this.server.notifyAck({ nodeId: this.node?.id ?? '', kind, version, at, ...(nack !== undefined ? { nack } : {}) });
  }

  info(): ProxyInfo {
    return {
      streamId: this.id,
      nodeId: this.node?.id ?? '',
      cluster: this.node?.cluster ?? '',
      zone: this.node?.zone ?? '',
      userAgent: this.node?.userAgent ?? '',
      protocol: this.traits.name,
      view: this.view ?? '',
      peer: this.peer,
      connectedAt: this.connectedAt.toISOString(),
      types: Object.fromEntries(Object.entries(this.state?.snapshot() ?? {}).map(([k, v]) => [RESOURCE_TYPES[k as keyof typeof RESOURCE_TYPES].typeUrl, v])),
    };
  }
}

export class XdsServer {
  private readonly grpcServer: grpc.Server;
  private readonly streams = new Set<AdsStream>();
  private readonly byView = new Map<string, Set<AdsStream>>();
  private readonly ackListeners = new Set<AckListener>();
  private readonly unsubscribe: () => void;
  private readonly ackTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly cache: XdsCache,
    readonly views: ViewResolver,
    options: XdsServerOptions = {},
  ) {
    this.grpcServer = new grpc.Server({ 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000, 'grpc.max_receive_message_length': 16 << 20 });
    const identity = (b: Buffer) => b;
    const method = (name: string) => ({
      path: `${ADS}/${name}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    });
    const service = { StreamAggregatedResources: method('StreamAggregatedResources'), DeltaAggregatedResources: method('DeltaAggregatedResources') };
    const sotw = sotwCodec();
    const delta = deltaCodec();
    this.grpcServer.addService(service as unknown as grpc.ServiceDefinition, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.accept(call, sotw, SOTW),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.accept(call, delta, DELTA),
    });
    this.unsubscribe = cache.subscribe((changes) => this.onCacheChange(changes));
    const ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
    this.ackTimer = setInterval(() => this.checkOverdue(ackTimeoutMs), Math.max(1000, ackTimeoutMs / 2));
    this.ackTimer.unref();
  }

  /** Binds and starts serving; resolves with the bound port (useful with port 0). */
  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.grpcServer.bindAsync(`${address.includes(':') ? `[${address}]` : address}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      );
    });
  }

  /** Stops accepting, ends every stream, and closes the port. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.ackTimer);
    for (const s of [...this.streams]) s.close();
    // Streams are already closed above; nothing in flight is worth waiting for.
    this.grpcServer.forceShutdown();
  }

  proxies(): ProxyInfo[] {
    return [...this.streams].map((s) => s.info());
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

  /** Views with at least one live stream. */
  liveViews(): string[] {
    return [...this.byView.keys()];
  }

  /** @internal called by AdsStream */
  register(s: AdsStream): void {
    this.streams.add(s);
    let set = this.byView.get(s.view!);
    if (!set) this.byView.set(s.view!, (set = new Set()));
    set.add(s);
    this.countStream(s.codec.protocol, +1);
  }

  /** @internal called by AdsStream */
  unregister(s: AdsStream): void {
    if (!this.streams.delete(s)) return;
    const set = this.byView.get(s.view!);
    set?.delete(s);
    if (set && set.size === 0) this.byView.delete(s.view!);
    this.views.release(s.view!);
    this.countStream(s.codec.protocol, -1);
  }

  private readonly perProtocol = { sotw: 0, delta: 0 };

  private countStream(protocol: 'sotw' | 'delta', by: number): void {
    this.perProtocol[protocol] += by;
    mStreams.set(this.perProtocol[protocol], { protocol });
  }

  /** @internal */
  notifyAck(e: Parameters<AckListener>[0]): void {
    for (const l of this.ackListeners) l(e);
  }

  private accept(call: grpc.ServerDuplexStream<Buffer, Buffer>, codec: Codec, traits: ProtocolTraits): void {
    const stream = new AdsStream(this, call, codec, traits);
    call.on('data', (b: Buffer) => {
      try {
        stream.onData(b);
      } catch (err) {
        log('error', 'xds stream failed', { stream: stream.id, error: (err as Error).stack });
        stream.fail(grpc.status.INTERNAL, 'internal error', 'internal');
      }
    });
    call.on('end', () => {
      stream.close();
      call.end();
    });
    call.on('cancelled', () => stream.close());
    call.on('error', () => stream.close());
    call.on('close', () => stream.close());
  }

  private onCacheChange(changes: readonly CacheChange[]): void {
    const due = new Set<AdsStream>();
    for (const c of changes) {
      for (const s of this.byView.get(c.view) ?? []) {
        if (s.state && (c.names.length === 0 || s.state.interestedIn(c.kind, c.names))) {
          s.state.markDirty(c.kind);
          due.add(s);
        }
      }
    }
    for (const s of due) s.pump();
  }

  private checkOverdue(ms: number): void {
    let n = 0;
    for (const s of this.streams) {
      const kinds = s.state?.overdue(ms) ?? [];
      n += kinds.length;
      for (const k of kinds) limited(`overdue:${s.id}:${k}`, 'warn', 'xds response not acknowledged', { stream: s.id, node: s.node?.id, type: RESOURCE_TYPES[k].short, timeoutMs: ms }, 60_000);
    }
    mOverdue.set(n);
  }
}
