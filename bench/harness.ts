/**
 * The server and client sides of the stream benchmarks: Herald's XdsCache + Publisher + XdsServer wired as in
 * src/main.ts (without sources: the benchmark hands the Publisher a Mesh), a bare grpc-js ADS server for raw
 * baselines, and a handle on the forked load client (bench/ads-load.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { encodeDiscoveryResponse } from '../src/xds/wire';
import type { XdsCache } from '../src/xds/cache';
import type { XdsServer } from '../src/xds/server';
import type { Publisher } from '../src/pipeline/publisher';
import { createCore, type CoreOptions } from '../src/main';
import type { ViewRegistry } from '../src/pipeline/views';
import type { Mesh } from '../src/model/types';
import { quietTelemetry } from './common';

export interface BenchServer {
  readonly cache: XdsCache;
  readonly publisher: Publisher;
  readonly xds: XdsServer;
  readonly views: ViewRegistry;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts serving `mesh` on 127.0.0.1 (a free port). */
export async function startServer(mesh: Mesh, views?: CoreOptions['views']): Promise<BenchServer> {
  // Fan-out and memory connect their streams at once: admission (measured by hostile.ts) is not what they measure.
  const xdsOptions = { ackTimeoutMs: 60_000, admission: { newStreamsPerSecond: 0, maxStreams: 0 } };
  const core = createCore({ defaultEgress: '127.0.0.1:15001', xds: xdsOptions, ...(views ? { views } : {}), telemetry: quietTelemetry() });
  const { cache, publisher, xds } = core;
  const port = await xds.listen('127.0.0.1', 0);
  publisher.update(mesh);
  publisher.startServing();
  return {
    cache,
    publisher,
    xds,
    port,
    views: core.views,
    close: async () => {
      core.views.stop();
      await xds.close();
    },
  };
}

/**
 * The raw baseline: a bare grpc-js server on the SotW ADS method, no Herald. It answers each type's first request
 * with an empty DiscoveryResponse, reports ACKs, and can write one pre-encoded buffer to every stream.
 */
export class RawServer {
  readonly streams = new Set<grpc.ServerDuplexStream<Buffer, Buffer>>();
  /** Called for every ACK (a request carrying a response nonce). */
  onAck: (() => void) | undefined;
  port = 0;
  private readonly server = new grpc.Server({ 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000 });

  async listen(): Promise<this> {
    const identity = (b: Buffer) => b;
    const path = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
    const method = { path, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
    this.server.addService({ StreamAggregatedResources: method } as unknown as grpc.ServiceDefinition, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.accept(call),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    return this;
  }

  /** Writes the same bytes to every stream. */
  broadcast(bytes: Buffer): void {
    for (const call of this.streams) call.write(bytes);
  }

  async close(): Promise<void> {
    this.server.forceShutdown();
  }

  private accept(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    this.streams.add(call);
    const done = () => this.streams.delete(call);
    call.on('data', (b: Buffer) => {
      // DiscoveryRequest: type_url = 4, response_nonce = 5.
      const r = protobuf.Reader.create(b);
      let typeUrl = '';
      let nonce = '';
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag >>> 3 === 4) typeUrl = r.string();
        else if (tag >>> 3 === 5) nonce = r.string();
        else r.skipType(tag & 7);
      }
      if (nonce === '') call.write(encodeDiscoveryResponse({ versionInfo: '0', resources: [], typeUrl, nonce: '0' }));
      else this.onAck?.();
    });
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('cancelled', done);
    call.on('error', done);
  }
}

export function startRawServer(): Promise<RawServer> {
  return new RawServer().listen();
}

type Reply =
  | { type: 'connected'; ms: number; streams: number; failed: number }
  | { type: 'armed'; id: number }
  | { type: 'receipts'; id: number; times: number[]; bytes: number; cpuUs: number }
  | { type: 'closed' }
  | { type: 'error'; message: string };

export interface Receipts {
  /** Epoch milliseconds (sub-ms resolution) at which each stream received the response. */
  readonly times: number[];
  readonly bytes: number;
  /** The load client's CPU from `arm` to the last receipt, µs. */
  readonly cpuUs: number;
}

/** The forked load client. Every method waits for the child's reply. */
export class LoadClient {
  private readonly child: ChildProcess;
  private readonly waiting: Array<{ match: (r: Reply) => boolean; resolve: (r: Reply) => void }> = [];
  readonly errors: string[] = [];

  constructor() {
    this.child = fork(path.join(__dirname, 'ads-load.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (r: Reply) => {
      if (r.type === 'error') {
        this.errors.push(r.message);
        process.stderr.write(`load client: ${r.message}\n`);
      }
      const i = this.waiting.findIndex((w) => w.match(r));
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(r);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private expect<T extends Reply>(match: (r: Reply) => r is T, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = {
        match,
        resolve: (r: Reply) => {
          clearTimeout(timer);
          resolve(r as T);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`load client: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(entry);
    });
  }

  /** Opens `n` streams; resolves once each holds its first CDS and EDS response (and ACKed them). */
  async connect(port: number, protocol: 'sotw' | 'delta', n: number, groups: number, first = 0, zonePrefix?: string): Promise<{ ms: number; failed: number }> {
    const done = this.expect((r): r is Extract<Reply, { type: 'connected' }> => r.type === 'connected', 120_000, 'connected');
    this.child.send({ cmd: 'connect', port, protocol, n, groups, first, ...(zonePrefix !== undefined ? { zonePrefix } : {}) });
    const r = await done;
    return { ms: r.ms, failed: r.failed };
  }

  /**
   * Arms receipt collection for the next `count` EDS responses; resolves when armed, with a promise of the
   * receipts (wrapped: an async function returning a bare promise would wait for it).
   */
  async arm(id: number, count: number, timeoutMs = 60_000): Promise<{ receipts: Promise<Receipts> }> {
    const armed = this.expect((r): r is Extract<Reply, { type: 'armed' }> => r.type === 'armed' && r.id === id, 10_000, 'armed');
    const receipts = this.expect((r): r is Extract<Reply, { type: 'receipts' }> => r.type === 'receipts' && r.id === id, timeoutMs, `receipts #${id}`);
    receipts.catch(() => undefined);
    this.child.send({ cmd: 'arm', id, count });
    await armed;
    return { receipts: receipts.then((r) => ({ times: r.times, bytes: r.bytes, cpuUs: r.cpuUs })) };
  }

  /** Closes every stream and ends the child. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    const closed = this.expect((r): r is Extract<Reply, { type: 'closed' }> => r.type === 'closed', 10_000, 'closed').catch(() => undefined);
    this.child.send({ cmd: 'close' });
    await closed;
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
