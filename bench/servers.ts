/**
 * The processes of the side-by-side benchmarks (peers.ts, storm.ts, soak.ts): three xDS servers that take the
 * same "update cluster C to K endpoints" command, and the Go load client (tools/loadclient) that times them.
 *
 * - Herald: XdsCache + Publisher + XdsServer (bench/harness.ts startServer) in a forked Node process; an update
 *   is a new Mesh with service C rebuilt at K endpoints, handed to `publisher.update()`.
 * - go-control-plane: tools/peer-gcp (LinearCache); an update is the ClusterLoadAssignment handed to the cache.
 * - floor: a bare node:http2 ADS server in a forked Node process (SotW and Delta) that writes one pre-encoded
 *   response to every subscribed stream; the ClusterLoadAssignment bytes are Herald's own. `grpc-floor`: the same
 *   on grpc-js (not run by default; Herald served xDS through grpc-js until it had its own transport).
 *
 * Every server reports t0, the CLOCK_MONOTONIC ns just before the hand-over (Node: process.hrtime; Go:
 * clock_gettime), and its own CPU (getrusage) and RSS (/proc/self/status) on request, so the orchestrator
 * takes no part in what is measured. Run as `node dist/bench/servers.js --serve herald|floor|grpc-floor --clusters N
 * --endpoints E` it is the server child (IPC in: update | stats | quit; out: listening | updated | stats).
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http2 from 'node:http2';
import * as inspector from 'node:inspector';
import type { AddressInfo } from 'node:net';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { encodeAny, encodeDeltaResource, encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from '../src/xds/wire';
import { messageType } from '../src/xds/protos';
import { RESOURCE_TYPES } from '../src/xds/resource-types';
import { translateEndpoints } from '../src/translate/endpoints';
import { parseViewKey } from '../src/translate/view';
import { meshOf, service, type Mesh } from './common';
import { startServer } from './harness';

export const REPO = path.resolve(__dirname, '..', '..');
export type ServerKind = 'herald' | 'gcp' | 'floor' | 'grpc-floor';
export type Protocol = 'sotw' | 'delta';

export interface ServerStats {
  readonly cpuUs: number;
  readonly rssKb: number;
  readonly hwmKb: number;
  /** V8 heap in use (Node servers only; no GC forced), KB. */
  readonly heapKb?: number;
}

// ------------------------------------------------------------------------------------------------ build

/** Builds (or finds cached) tools/<name> with its build.sh; the binary's path, or an Error saying why not. */
export function goTool(name: 'loadclient' | 'peer-gcp'): string | Error {
  try {
    execFileSync('bash', [path.join(REPO, 'tools', name, 'build.sh')], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60_000 });
    return path.join(REPO, '.cache', name, 'bin', name);
  } catch (err) {
    return new Error(`could not build tools/${name}: ${(err as Error).message.split('\n')[0]}`);
  }
}

// --------------------------------------------------------------------------------- JSON-lines processes

type Msg = Record<string, any> & { type: string };

/** Waits for messages from a child (JSON lines or IPC) that match a predicate, in arrival order. */
class Inbox {
  private readonly queue: Msg[] = [];
  private readonly waiting: Array<{ match: (m: Msg) => boolean; resolve: (m: Msg) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  private ended: Error | undefined;
  /** Called for every message nobody waits for and that `keep` does not hold (e.g. streaming results). */
  onOther: ((m: Msg) => void) | undefined;

  constructor(private readonly who: string) {}

  push(m: Msg): void {
    if (m.type === 'error') process.stderr.write(`${this.who}: ${String(m.message)}\n`);
    const i = this.waiting.findIndex((w) => w.match(m));
    if (i >= 0) {
      const w = this.waiting.splice(i, 1)[0]!;
      clearTimeout(w.timer);
      w.resolve(m);
    } else if (this.onOther) this.onOther(m);
    else this.queue.push(m);
  }

  end(reason: string): void {
    this.ended = new Error(`${this.who} ${reason}`);
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.ended);
    }
  }

  next(match: (m: Msg) => boolean, timeoutMs: number, what: string): Promise<Msg> {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.waiting.findIndex((w) => w.timer === timer);
        if (k >= 0) this.waiting.splice(k, 1);
        reject(new Error(`${this.who}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push({ match, resolve, reject, timer });
    });
  }
}

/** A spawned binary speaking JSON lines on stdout and taking commands on stdin. */
export class LineProcess {
  readonly inbox: Inbox;
  private readonly child: ChildProcess;

  constructor(binary: string, args: readonly string[], who: string) {
    this.inbox = new Inbox(who);
    this.child = spawn(binary, [...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.inbox.push(JSON.parse(line) as Msg);
      } catch {
        process.stderr.write(`${who}: ${line}\n`);
      }
    });
    this.child.on('exit', (code, signal) => this.inbox.end(`exited (${signal ?? code})`));
    this.child.stdin!.on('error', () => undefined);
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.send('quit');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------- servers

/** One server under test, whatever its kind. */
export interface ServerHandle {
  readonly kind: ServerKind;
  readonly port: number;
  /** Updates `cluster` to `endpoints` endpoints; resolves with the server's t0 (CLOCK_MONOTONIC ns). */
  update(id: number, cluster: string, endpoints: number): Promise<bigint>;
  /** How long the last update's synchronous part took (a Node server writes every stream in it), ms; NaN if not known. */
  readonly lastSyncMs: number;
  stats(): Promise<ServerStats>;
  close(): Promise<void>;
}

class GoServer implements ServerHandle {
  readonly kind = 'gcp' as const;
  /** go-control-plane's cache answers streams from goroutines: there is no synchronous part to time. */
  readonly lastSyncMs = NaN;
  constructor(
    private readonly proc: LineProcess,
    readonly port: number,
  ) {}
  async update(id: number, cluster: string, endpoints: number): Promise<bigint> {
    const reply = this.proc.inbox.next((m) => m.type === 'updated' && m.id === id, 60_000, `updated #${id}`);
    this.proc.send(`update ${id} ${cluster} ${endpoints}`);
    return BigInt((await reply).t0);
  }
  async stats(): Promise<ServerStats> {
    const reply = this.proc.inbox.next((m) => m.type === 'stats', 10_000, 'stats');
    this.proc.send('stats');
    const m = await reply;
    return { cpuUs: m.cpuUs, rssKb: m.rssKb, hwmKb: m.hwmKb };
  }
  close(): Promise<void> {
    return this.proc.close();
  }
}

class NodeServer implements ServerHandle {
  private readonly inbox: Inbox;
  private port_ = 0;
  lastSyncMs = NaN;
  constructor(
    readonly kind: 'herald' | 'floor' | 'grpc-floor',
    private readonly child: ChildProcess,
  ) {
    this.inbox = new Inbox(kind);
    child.on('message', (m: Msg) => this.inbox.push(m));
    child.on('exit', (code, signal) => this.inbox.end(`exited (${signal ?? code})`));
  }
  get port(): number {
    return this.port_;
  }
  async ready(): Promise<this> {
    this.port_ = (await this.inbox.next((m) => m.type === 'listening', 120_000, 'listening')).port;
    return this;
  }
  async update(id: number, cluster: string, endpoints: number): Promise<bigint> {
    const reply = this.inbox.next((m) => m.type === 'updated' && m.id === id, 60_000, `updated #${id}`);
    this.child.send({ cmd: 'update', id, cluster, endpoints });
    const m = await reply;
    this.lastSyncMs = Number(m.syncUs) / 1000;
    return BigInt(m.t0);
  }
  async stats(): Promise<ServerStats> {
    const reply = this.inbox.next((m) => m.type === 'stats', 10_000, 'stats');
    this.child.send({ cmd: 'stats' });
    const m = await reply;
    return { cpuUs: m.cpuUs, rssKb: m.rssKb, hwmKb: m.hwmKb, heapKb: m.heapKb };
  }
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.send({ cmd: 'quit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Starts a server of `kind` serving clusters svc-0 .. svc-(clusters-1) with `endpoints` endpoints each. */
export async function startServerProcess(kind: ServerKind, clusters: number, endpoints: number, peerBinary?: string, nodeArgs: readonly string[] = []): Promise<ServerHandle> {
  if (kind === 'gcp') {
    if (!peerBinary) throw new Error('no peer binary');
    const proc = new LineProcess(peerBinary, ['-clusters', String(clusters), '-endpoints', String(endpoints)], 'peer-gcp');
    const m = await proc.inbox.next((x) => x.type === 'listening', 60_000, 'listening');
    return new GoServer(proc, m.port);
  }
  const child = fork(__filename, ['--serve', kind, '--clusters', String(clusters), '--endpoints', String(endpoints)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // HERALD_BENCH_SERVER_ARGS: extra Node flags for the server process (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
    execArgv: [...nodeArgs, ...(process.env.HERALD_BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)],
  });
  return new NodeServer(kind, child).ready();
}

// ------------------------------------------------------------------------------------------ load client

export interface Dist {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface Connected {
  readonly streams: number;
  readonly ready: number;
  readonly failed: number;
  readonly ms: number;
  readonly readyMs: Dist;
  readonly cpuUs: number;
  readonly hwmKb: number;
  /** Connection attempts retried before a stream got its first configuration (as Envoy retries). */
  readonly reconnects: number;
}

export interface UpdateResult {
  readonly id: number;
  readonly cluster: string;
  readonly n: number;
  readonly recvMs: Dist;
  readonly ackMs: Dist;
  /** The client's CPU from `expect` to the last ACK, µs. */
  readonly cpuUs: number;
  /** EDS bytes the client received in that time. */
  readonly bytes: number;
}

export interface ClientOptions {
  readonly port: number;
  readonly protocol: Protocol;
  readonly n: number;
  /** G: EDS names svc-0 .. svc-(G-1). */
  readonly clusters: number;
  /** K: EDS names per stream. */
  readonly eds: number;
  readonly cds?: boolean;
  /** Streams connecting at a time; 0 = all at once. */
  readonly window?: number;
  /** More loadclient flags (e.g. -cpuprofile FILE). */
  readonly extra?: readonly string[];
}

/** tools/loadclient, started and connected. */
export class GoClient {
  private constructor(
    private readonly proc: LineProcess,
    readonly connected: Connected,
  ) {}

  static async start(binary: string, o: ClientOptions): Promise<GoClient> {
    const args = ['-addr', `127.0.0.1:${o.port}`, '-n', String(o.n), '-protocol', o.protocol, '-clusters', String(o.clusters), '-eds', String(o.eds)];
    args.push(`-cds=${o.cds ?? true}`, '-window', String(o.window ?? 200), ...(o.extra ?? []));
    const proc = new LineProcess(binary, args, 'loadclient');
    const m = await proc.inbox.next((x) => x.type === 'connected', 6 * 60_000, 'connected');
    return new GoClient(proc, m as unknown as Connected);
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Streaming results (soak): every `update` line nobody awaits goes here. */
  set onUpdate(f: ((u: UpdateResult) => void) | undefined) {
    this.proc.inbox.onOther = f ? (m) => (m.type === 'update' ? f(m as unknown as UpdateResult) : undefined) : undefined;
  }

  async expect(id: number, cluster: string, marker: number): Promise<void> {
    const armed = this.proc.inbox.next((m) => m.type === 'armed' && m.id === id, 10_000, `armed #${id}`);
    this.proc.send(`expect ${id} ${cluster} ${marker}`);
    await armed;
  }

  /** Tells the client when the server was handed update `id`; resolves when every subscriber ACKed it. */
  result(id: number, t0: bigint, timeoutMs = 120_000): Promise<UpdateResult> {
    const done = this.proc.inbox.next((m) => m.type === 'update' && m.id === id, timeoutMs, `update #${id}`);
    this.proc.send(`start ${id} ${t0}`);
    return done as unknown as Promise<UpdateResult>;
  }

  /** Sends `start` without waiting (soak: results stream through onUpdate). */
  start(id: number, t0: bigint): void {
    this.proc.send(`start ${id} ${t0}`);
  }

  async cpu(): Promise<{ cpuUs: number; rssKb: number; streamErrors: number }> {
    const reply = this.proc.inbox.next((m) => m.type === 'cpu', 10_000, 'cpu');
    this.proc.send('cpu');
    const m = await reply;
    return { cpuUs: m.cpuUs, rssKb: m.rssKb, streamErrors: m.streamErrors };
  }

  async pending(): Promise<unknown> {
    const reply = this.proc.inbox.next((m) => m.type === 'pending', 10_000, 'pending');
    this.proc.send('pending');
    return (await reply).open;
  }

  close(): Promise<void> {
    return this.proc.close();
  }
}

// ------------------------------------------------------------------------------------ the server children

function ownStats(): ServerStats {
  const cpu = process.cpuUsage();
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kbOf = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { cpuUs: cpu.user + cpu.system, rssKb: kbOf('VmRSS'), hwmKb: kbOf('VmHWM'), heapKb: Math.round(process.memoryUsage().heapUsed / 1024) };
}

/** The index of `svc-<i>`, or an Error. */
function clusterIndex(name: string, clusters: number): number {
  const m = /^svc-(\d+)$/.exec(name);
  const i = m ? Number(m[1]) : NaN;
  if (!Number.isInteger(i) || i >= clusters) throw new Error(`unknown cluster ${JSON.stringify(name)}`);
  return i;
}

type ChildCmd = { cmd: 'update'; id: number; cluster: string; endpoints: number } | { cmd: 'stats' } | { cmd: 'quit' };

/**
 * HERALD_BENCH_PROFILE=<file>: a V8 CPU profile of the updates only (from the third, past the warm-ups, to quit),
 * not of start-up and connecting.
 */
function updateProfiler(): { update(id: number): void; stop(): Promise<void> } {
  const file = process.env.HERALD_BENCH_PROFILE;
  if (!file) return { update: () => undefined, stop: async () => undefined };
  const session = new inspector.Session();
  session.connect();
  let started = false;
  return {
    update: (id) => {
      if (started || id < 3) return;
      started = true;
      session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: Number(process.env.HERALD_BENCH_PROFILE_US ?? 1000) }, () => session.post('Profiler.start')));
    },
    stop: () =>
      new Promise((resolve) => {
        if (!started) return resolve();
        session.post('Profiler.stop', (err, r) => {
          if (!err) fs.writeFileSync(file, JSON.stringify(r.profile));
          resolve();
        });
      }),
  };
}

async function serveHerald(clusters: number, endpoints: number): Promise<void> {
  let mesh: Mesh = meshOf(Array.from({ length: clusters }, (_, i) => service(i, endpoints)));
  const server = await startServer(mesh);
  const profiler = updateProfiler();
  process.send!({ type: 'listening', port: server.port });
  process.on('message', (m: ChildCmd) => {
    try {
      if (m.cmd === 'update') {
        profiler.update(m.id);
        const s = service(clusterIndex(m.cluster, clusters), m.endpoints);
        const services = new Map(mesh.services);
        services.set(s.name, s);
        const next: Mesh = { services };
        const t0 = process.hrtime.bigint();
        server.publisher.update(next);
        const syncUs = Number(process.hrtime.bigint() - t0) / 1000;
        mesh = next;
        process.send!({ type: 'updated', id: m.id, t0: String(t0), syncUs });
      } else if (m.cmd === 'stats') process.send!({ type: 'stats', ...ownStats() });
      else if (m.cmd === 'quit') void profiler.stop().then(() => server.close()).finally(() => process.exit(0));
    } catch (err) {
      process.send!({ type: 'error', message: (err as Error).message });
    }
  });
}

/** Herald's ClusterLoadAssignment bytes (as google.protobuf.Any) for a default sidecar view. */
function claAny(svc: number, endpoints: number): Buffer {
  const type = messageType(RESOURCE_TYPES.endpoint.message);
  const { message } = translateEndpoints(service(svc, endpoints), parseViewKey('envoy||127.0.0.1:15001'));
  return encodeAny(RESOURCE_TYPES.endpoint.typeUrl, type.encode(type.fromObject(message)).finish());
}

/**
 * The floors: the least a Node ADS server does, SotW and Delta. A stream's first request of a type is answered
 * with the current state of what it names (empty for CDS); an update encodes one response and writes that same
 * Buffer to every stream subscribed to the cluster. ACKs are read (type and nonce) and otherwise ignored. Two
 * transports under the same logic (FloorState): `floor`, node:http2 with the gRPC framing by hand (Herald's own
 * transport shape, src/xds/grpc-server.ts), and `grpc-floor`, a bare grpc-js server.
 */
class FloorState<Call> {
  private readonly EDS = RESOURCE_TYPES.endpoint.typeUrl;
  private readonly anys: Buffer[];
  private readonly versions: string[];
  private readonly subs: { sotw: Array<Set<Call>>; delta: Array<Set<Call>> };
  private seq = 0;

  constructor(
    private readonly clusters: number,
    endpoints: number,
    /** A message as the transport writes it (the HTTP/2 floor's gRPC prefix; grpc-js frames its own). */
    private readonly frame: (message: Buffer) => Buffer,
    private readonly write: (call: Call, framed: Buffer) => void,
  ) {
    this.anys = Array.from({ length: clusters }, (_, i) => claAny(i, endpoints));
    this.versions = this.anys.map(() => 'v0');
    this.subs = { sotw: this.anys.map(() => new Set<Call>()), delta: this.anys.map(() => new Set<Call>()) };
  }

  /** One stream's state: what it subscribed to, and which types it asked for already. */
  stream(call: Call, delta: boolean): { request: (b: Buffer) => void; done: () => void } {
    const mine: number[] = [];
    const seen = new Set<string>();
    const subs = delta ? this.subs.delta : this.subs.sotw;
    return {
      request: (b) => {
        // SotW DiscoveryRequest: resource_names = 3, type_url = 4, response_nonce = 5.
        // DeltaDiscoveryRequest: type_url = 2, resource_names_subscribe = 3, response_nonce = 6.
        const r = protobuf.Reader.create(b);
        let typeUrl = '';
        const names: string[] = [];
        while (r.pos < r.len) {
          const tag = r.uint32();
          const f = tag >>> 3;
          if ((f === 4 && !delta) || (f === 2 && delta && (tag & 7) === 2)) typeUrl = r.string();
          else if (f === 3) names.push(r.string());
          else r.skipType(tag & 7);
        }
        if (seen.has(typeUrl)) return; // an ACK
        seen.add(typeUrl);
        const idx = typeUrl === this.EDS ? names.map((n) => clusterIndex(n, this.clusters)) : [];
        for (const i of idx) {
          mine.push(i);
          subs[i]!.add(call);
        }
        if (delta) {
          const resources = idx.map((i) => encodeDeltaResource(`svc-${i}`, this.versions[i]!, this.anys[i]!));
          this.write(call, this.frame(encodeDeltaDiscoveryResponse({ systemVersionInfo: '', resources, typeUrl, removed: [], nonce: 'init' })));
        } else this.write(call, this.frame(encodeDiscoveryResponse({ versionInfo: 'v0', resources: idx.map((i) => this.anys[i]!), typeUrl, nonce: 'init' })));
      },
      done: () => {
        for (const i of mine) subs[i]!.delete(call);
      },
    };
  }

  /** The update command: one response per protocol, written to every subscriber; t0 just before encoding. */
  update(cluster: string, endpoints: number): bigint {
    const i = clusterIndex(cluster, this.clusters);
    const any = claAny(i, endpoints);
    const t0 = process.hrtime.bigint();
    const version = `v${++this.seq}`;
    this.anys[i] = any;
    this.versions[i] = version;
    // SotW: with one name per stream, the changed cluster alone is that stream's whole state.
    const sotw = this.frame(encodeDiscoveryResponse({ versionInfo: version, resources: [any], typeUrl: this.EDS, nonce: version }));
    const delta = this.frame(encodeDeltaDiscoveryResponse({ systemVersionInfo: '', resources: [encodeDeltaResource(cluster, version, any)], typeUrl: this.EDS, removed: [], nonce: version }));
    for (const call of this.subs.sotw[i]!) this.write(call, sotw);
    for (const call of this.subs.delta[i]!) this.write(call, delta);
    return t0;
  }
}

/** A floor's command loop (IPC): update, stats, quit. */
function floorCommands(state: FloorState<any>, quit: () => void): void {
  process.on('message', (m: ChildCmd) => {
    try {
      if (m.cmd === 'update') {
        const t0 = state.update(m.cluster, m.endpoints);
        process.send!({ type: 'updated', id: m.id, t0: String(t0), syncUs: Number(process.hrtime.bigint() - t0) / 1000 });
      } else if (m.cmd === 'stats') process.send!({ type: 'stats', ...ownStats() });
      else if (m.cmd === 'quit') {
        quit();
        process.exit(0);
      }
    } catch (err) {
      process.send!({ type: 'error', message: (err as Error).message });
    }
  });
}

/** The grpc-js floor. */
async function serveGrpcFloor(clusters: number, endpoints: number): Promise<void> {
  type Call = grpc.ServerDuplexStream<Buffer, Buffer>;
  const state = new FloorState<Call>(clusters, endpoints, (m) => m, (call, message) => call.write(message));
  const identity = (b: Buffer) => b;
  const method = (p: string) => ({ path: p, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity });
  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1 << 20 });
  const handler = (delta: boolean) => (call: Call) => {
    const s = state.stream(call, delta);
    call.on('data', s.request);
    call.on('end', () => {
      s.done();
      call.end();
    });
    call.on('cancelled', s.done);
    call.on('error', s.done);
  };
  const ads = '/envoy.service.discovery.v3.AggregatedDiscoveryService/';
  server.addService(
    { StreamAggregatedResources: method(`${ads}StreamAggregatedResources`), DeltaAggregatedResources: method(`${ads}DeltaAggregatedResources`) } as unknown as grpc.ServiceDefinition,
    { StreamAggregatedResources: handler(false), DeltaAggregatedResources: handler(true) },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  process.send!({ type: 'listening', port });
  floorCommands(state, () => server.forceShutdown());
}

/** The HTTP/2 floor: gRPC framing by hand (a 5-byte prefix per message), one framed Buffer written to every stream. */
async function serveFloor(clusters: number, endpoints: number): Promise<void> {
  const frame = (b: Buffer) => {
    const out = Buffer.allocUnsafe(5 + b.length);
    out[0] = 0;
    out.writeUInt32BE(b.length, 1);
    b.copy(out, 5);
    return out;
  };
  const state = new FloorState<http2.ServerHttp2Stream>(clusters, endpoints, frame, (call, framed) => call.write(framed));
  const server = http2.createServer();
  server.on('stream', (call, headers) => {
    const delta = String(headers[':path']).endsWith('DeltaAggregatedResources');
    call.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    call.on('wantTrailers', () => call.sendTrailers({ 'grpc-status': '0' }));
    const s = state.stream(call, delta);
    // Requests are small and whole in one DATA frame here; a message split across chunks is joined.
    let pending: Buffer = Buffer.alloc(0);
    call.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const len = pending.readUInt32BE(1);
        s.request(pending.subarray(5, 5 + len));
        pending = pending.subarray(5 + len);
      }
    });
    call.on('end', () => {
      s.done();
      call.end();
    });
    call.on('close', s.done);
    call.on('error', s.done);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  process.send!({ type: 'listening', port });
  floorCommands(state, () => server.close());
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const arg = (flag: string) => argv[argv.indexOf(flag) + 1];
  const kind = arg('--serve');
  const clusters = Number(arg('--clusters') ?? 1);
  const endpoints = Number(arg('--endpoints') ?? 20);
  process.on('disconnect', () => process.exit(0));
  (kind === 'herald' ? serveHerald(clusters, endpoints) : kind === 'floor' ? serveFloor(clusters, endpoints) : kind === 'grpc-floor' ? serveGrpcFloor(clusters, endpoints) : Promise.reject(new Error(`--serve herald|floor|grpc-floor, not ${kind}`))).catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
