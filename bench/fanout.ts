/**
 * Fan-out: one endpoint change reaching N real ADS streams.
 *
 * The server (XdsCache + Publisher + XdsServer) runs in this process; the N streams run in a forked child
 * (bench/ads-load.ts), each on its own HTTP/2 connection, subscribed to CDS (wildcard) and to EDS for one
 * service, ACKing every response. For each change the benchmark calls `publisher.update()` and measures, in
 * this process: update()'s synchronous time (which includes writing every response, since the cache wakes the
 * streams synchronously), the time to the last stream's ACK, each stream's ACK latency, this process's CPU
 * (process.cpuUsage) per response, and the bytes sent; the child reports when each response arrived.
 *
 * Baseline, in the same run and on the same streams: the server encodes each response per stream with
 * protobufjs (the resource message and the DiscoveryResponse envelope), as go-control-plane's SnapshotCache does,
 * instead of framing the bytes the cache encoded once. It is implemented here by wrapping the codec factories of
 * src/xds/codec.ts before the XdsServer is built; src/ is not changed. The two modes alternate change by change.
 * A floor is measured too: a bare grpc-js server writing one pre-encoded buffer to every stream (reference.md's
 * "raw grpc-js fan-out"), with the same client, N and payload.
 */
import * as codecModule from '../src/xds/codec';
import type { Codec } from '../src/xds/codec';
import type { CachedResource } from '../src/xds/cache';
import type { Outgoing } from '../src/xds/stream-state';
import { messageType } from '../src/xds/protos';
import { RESOURCE_TYPES } from '../src/xds/resource-types';
import { translateEndpoints } from '../src/translate/endpoints';
import { parseViewKey } from '../src/translate/view';
import type * as protobuf from 'protobufjs';
import { cpuSince, fixed, gc, kb, meshOf, ms, note, printTable, ratio, reweighted, runBench, service, sleep, stats, type BenchArgs, type BenchResult, type Mesh, type Service, type Stats } from './common';
import { LoadClient, startRawServer, startServer, type BenchServer } from './harness';
import { XdsCache } from '../src/xds/cache';
import { encodeDiscoveryResponse, type ResponseFrame } from '../src/xds/wire';

// ------------------------------------------------------------------------------------- the switchable codec

type Mode = 'once' | 'per-stream';
/** A row's server: Herald encoding once, Herald encoding per stream (baseline), or bare grpc-js (floor). */
type RowMode = Mode | 'raw grpc-js';

/** What every response the server encodes goes through; `mode` picks the real codec or the baseline. */
const encoding = {
  mode: 'once' as Mode,
  responses: 0,
  bytes: 0,
  /** Wall time inside encode(), ms (the server is single-threaded, so this is CPU time too). */
  encodeMs: 0,
  /** When set, the next response is encoded both ways and the bytes compared. */
  verify: false,
  identical: [] as boolean[],
};

const messageCache = new WeakMap<CachedResource, protobuf.Message>();

/** The resource as a protobufjs message, decoded once per cached version (what a Go server holds as a struct). */
function messageOf(r: CachedResource): protobuf.Message {
  let m = messageCache.get(r);
  if (!m) {
    const any = messageType('google.protobuf.Any').decode(r.any) as unknown as { value: Uint8Array };
    m = messageType(RESOURCE_TYPES[r.kind].message).decode(any.value);
    messageCache.set(r, m);
  }
  return m;
}

/** protobufjs's built-in google.protobuf.Any keeps the proto field name `type_url` (keepCase does not apply). */
const ANY_URL_FIELD = messageType('google.protobuf.Any').fields.typeUrl ? 'typeUrl' : 'type_url';

const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** The baseline: every response encoded for its stream alone, resources included, with protobufjs. */
function perStreamEncoder(protocol: 'sotw' | 'delta'): (out: Outgoing) => Buffer {
  const sotw = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const delta = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  return (out) => {
    const desc = RESOURCE_TYPES[out.kind];
    const type = messageType(desc.message);
    const any = (r: CachedResource) => ({ [ANY_URL_FIELD]: desc.typeUrl, value: type.encode(messageOf(r)).finish() });
    if (protocol === 'sotw') {
      return asBuffer(sotw.encode({ versionInfo: out.version, resources: out.resources.map(any), typeUrl: desc.typeUrl, nonce: out.nonce }).finish());
    }
    return asBuffer(
      delta
        .encode({
          systemVersionInfo: out.version,
          resources: out.resources.map((r) => ({ name: r.name, version: r.version, resource: any(r) })),
          removedResources: out.removed,
          typeUrl: desc.typeUrl,
          nonce: out.nonce,
        })
        .finish(),
    );
  };
}

function switchable(real: Codec): Codec {
  const baseline = perStreamEncoder(real.protocol);
  return {
    protocol: real.protocol,
    decode: (bytes) => real.decode(bytes),
    countNames: (bytes) => real.countNames(bytes),
    // The server writes frames (laid out by its gRPC serializer): in per-stream mode, the baseline's bytes whole.
    frame: (out, shared) => {
      const started = performance.now();
      let frame: ResponseFrame;
      let bytes: Buffer | undefined;
      if (encoding.mode === 'per-stream') {
        bytes = baseline(out);
        frame = { parts: { head: bytes, tail: Buffer.alloc(0) }, nonce: '', length: bytes.length };
      } else frame = real.frame(out, shared);
      encoding.encodeMs += performance.now() - started;
      encoding.responses++;
      encoding.bytes += frame.length;
      if (encoding.verify) {
        encoding.verify = false;
        encoding.identical.push(real.encode(out).equals(bytes ?? baseline(out)));
      }
      return frame;
    },
    encode: (out, shared) => (encoding.mode === 'per-stream' ? baseline(out) : real.encode(out, shared)),
  };
}

let installed = false;

/** Wraps src/xds/codec.ts's factories; XdsServers built afterwards encode through `encoding`. */
function installSwitchableCodec(): void {
  if (installed) return;
  installed = true;
  const mod = codecModule as unknown as { sotwCodec: () => Codec; deltaCodec: () => Codec };
  const sotw = mod.sotwCodec;
  const delta = mod.deltaCodec;
  mod.sotwCodec = () => switchable(sotw());
  mod.deltaCodec = () => switchable(delta());
}

// -------------------------------------------------------------------------------------------- scenarios

/** Services in the mesh (CDS wildcard carries all of them); the changes touch svc-0. */
const SERVICES = 20;
/** The larger mesh of one scenario: what a CDS wildcard of 1,000 clusters costs an endpoint change. */
const BIG_MESH = 1000;
const LARGE_ENDPOINTS = 1000;

interface Payload {
  readonly name: string;
  readonly endpoints: number;
}

/** Encoded ClusterLoadAssignment size of a service as a default sidecar sees it. */
function claBytes(s: Service): number {
  const type = messageType(RESOURCE_TYPES.endpoint.message);
  return type.encode(type.fromObject(translateEndpoints(s, parseViewKey('envoy||127.0.0.1:15001')).message)).finish().length;
}

/** The endpoint count whose ClusterLoadAssignment is closest to 1 KB. */
function endpointsForOneKb(): number {
  let best = 1;
  for (let n = 1; n <= 40; n++) if (Math.abs(claBytes(service(0, n)) - 1024) < Math.abs(claBytes(service(0, best)) - 1024)) best = n;
  return best;
}

export interface ChangeFigures {
  readonly syncMs: number;
  readonly lastAckMs: number;
  readonly ackMs: number[];
  readonly receiptMs: number[];
  readonly cpuUs: number;
  readonly syncCpuUs: number;
  readonly encodeMs: number;
  readonly responses: number;
  readonly bytes: number;
  readonly nacks: number;
  readonly clientCpuUs: number;
}

export interface FanoutRow {
  readonly protocol: 'sotw' | 'delta';
  readonly n: number;
  readonly groups: number;
  /** Services in the mesh: the CDS wildcard each stream holds. */
  readonly services: number;
  readonly receivers: number;
  readonly payload: string;
  readonly claBytes: number;
  readonly mode: RowMode;
  readonly changes: number;
  readonly connectMs: number;
  readonly syncMs: Stats;
  readonly lastAckMs: Stats;
  readonly ackMs: Stats;
  readonly receiptMs: Stats;
  /** Server CPU per response (update, encode, write, ACK decode), µs: median over changes. */
  readonly cpuPerResponseUs: number;
  readonly encodePerResponseUs: number;
  readonly bytesPerChange: number;
  readonly nacks: number;
  readonly clientCpuPerResponseUs: number;
  readonly identical: boolean | undefined;
}

class Scenario {
  private seq = 0;
  private weight = 1;
  mesh: Mesh;

  constructor(
    private readonly server: BenchServer,
    private readonly load: LoadClient,
    mesh: Mesh,
    readonly receivers: number,
  ) {
    this.mesh = mesh;
  }

  /** The mesh with svc-0 replaced: its endpoints (`count` of them) with one weight changed. */
  next(count: number): Mesh {
    const base = this.mesh.services.get('svc-0')!;
    const s = base.endpoints.length === count ? reweighted(base, this.seq % count, 2 + (this.weight++ % 100)) : service(0, count);
    const services = new Map(this.mesh.services);
    services.set(s.name, s);
    return { services };
  }

  /** Publishes `next` and waits until every receiving stream ACKed it and the client reported the receipts. */
  async change(next: Mesh, mode: Mode): Promise<ChangeFigures> {
    encoding.mode = mode;
    const fig = await measureChange(this.load, ++this.seq, this.receivers, {
      onAck: (ack) =>
        this.server.xds.onAck((e) => {
          if (e.kind === 'endpoint') ack(e.nack !== undefined);
        }),
      counters: () => ({ responses: encoding.responses, bytes: encoding.bytes, encodeMs: encoding.encodeMs }),
      trigger: () => this.server.publisher.update(next),
    });
    this.mesh = next;
    return fig;
  }
}

interface Counters {
  readonly responses: number;
  readonly bytes: number;
  readonly encodeMs: number;
}

/**
 * One change: arms the load client, runs `trigger` (which sends the responses), waits for `receivers` ACKs
 * (reported through `onAck`, in this process) and the client's receipts. CPU is this process's, from the
 * trigger to the last ACK.
 */
async function measureChange(
  load: LoadClient,
  id: number,
  receivers: number,
  hooks: { onAck: (ack: (nack: boolean) => void) => () => void; counters: () => Counters; trigger: () => void },
): Promise<ChangeFigures> {
  gc();
  const { receipts } = await load.arm(id, receivers);
  const ackAt: number[] = [];
  let nacks = 0;
  let done!: () => void;
  const allAcked = new Promise<void>((r) => (done = r));
  const off = hooks.onAck((nack) => {
    ackAt.push(performance.now());
    if (nack) nacks++;
    if (ackAt.length === receivers) done();
  });
  const before = hooks.counters();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const e0 = performance.timeOrigin + t0;
  hooks.trigger();
  const syncMs = performance.now() - t0;
  const syncCpuUs = cpuSince(cpu0);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      allAcked,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`change ${id}: ${ackAt.length}/${receivers} ACKs after 60 s`)), 60_000))),
    ]);
  } finally {
    clearTimeout(timer);
    off();
  }
  const cpuUs = cpuSince(cpu0);
  const after = hooks.counters();
  const r = await receipts;
  return {
    syncMs,
    lastAckMs: ackAt[ackAt.length - 1]! - t0,
    ackMs: ackAt.map((t) => t - t0),
    receiptMs: r.times.map((t) => t - e0),
    cpuUs,
    syncCpuUs,
    encodeMs: after.encodeMs - before.encodeMs,
    responses: after.responses - before.responses,
    bytes: after.bytes - before.bytes,
    nacks,
    clientCpuUs: r.cpuUs,
  };
}

/** The Any bytes Herald's cache would hold for `s` in a default sidecar view. */
function cachedAny(s: Service): Buffer {
  const cache = new XdsCache();
  cache.apply('bench', [{ kind: 'endpoint', upsert: [translateEndpoints(s, parseViewKey('envoy||127.0.0.1:15001'))] }]);
  return cache.resources('bench', 'endpoint').get(s.name)!.any;
}

/**
 * The raw grpc-js floor, in the same run: a bare grpc-js server writes one pre-encoded DiscoveryResponse (the
 * same ClusterLoadAssignment bytes) to every stream and counts ACKs, as in reference.md's measurement.
 */
async function runRawScenario(n: number, payloads: readonly Payload[], changes: number): Promise<FanoutRow[]> {
  const server = await startRawServer();
  const load = new LoadClient();
  const rows: FanoutRow[] = [];
  let seq = 0;
  try {
    const { ms: connectMs, failed } = await load.connect(server.port, 'sotw', n, 1);
    if (failed > 0) throw new Error(`${failed} of ${n} streams failed`);
    await sleep(300);
    for (const p of payloads) {
      const any = cachedAny(service(0, p.endpoints));
      const counters = { responses: 0, bytes: 0, encodeMs: 0 };
      const count = p.endpoints < 100 ? changes * 2 : changes;
      const figs: ChangeFigures[] = [];
      for (let k = -2; k < count; k++) {
        const id = ++seq;
        const fig = await measureChange(load, id, n, {
          onAck: (ack) => {
            server.onAck = () => ack(false);
            return () => (server.onAck = undefined);
          },
          counters: () => ({ ...counters }),
          trigger: () => {
            const t = performance.now();
            const bytes = encodeDiscoveryResponse({ versionInfo: `raw-${id}`, resources: [any], typeUrl: RESOURCE_TYPES.endpoint.typeUrl, nonce: `raw-${id}` });
            counters.encodeMs += performance.now() - t;
            server.broadcast(bytes);
            counters.responses += server.streams.size;
            counters.bytes += bytes.length * server.streams.size;
          },
        });
        if (k >= 0) figs.push(fig);
      }
      rows.push(summarize({ protocol: 'sotw', n, groups: 1, services: 1, receivers: n, payload: p.name, claBytes: claBytes(service(0, p.endpoints)), mode: 'raw grpc-js', connectMs, identical: undefined }, figs));
    }
  } finally {
    await load.close();
    await server.close();
  }
  return rows;
}

function summarize(base: Omit<FanoutRow, 'syncMs' | 'lastAckMs' | 'ackMs' | 'receiptMs' | 'cpuPerResponseUs' | 'encodePerResponseUs' | 'bytesPerChange' | 'nacks' | 'clientCpuPerResponseUs' | 'changes'>, figs: ChangeFigures[]): FanoutRow {
  const per = (f: (c: ChangeFigures) => number) => stats(figs.map(f)).p50;
  return {
    ...base,
    changes: figs.length,
    syncMs: stats(figs.map((f) => f.syncMs)),
    lastAckMs: stats(figs.map((f) => f.lastAckMs)),
    ackMs: stats(figs.flatMap((f) => f.ackMs)),
    receiptMs: stats(figs.flatMap((f) => f.receiptMs)),
    cpuPerResponseUs: per((f) => f.cpuUs / f.responses),
    encodePerResponseUs: per((f) => (f.encodeMs * 1000) / f.responses),
    bytesPerChange: per((f) => f.bytes),
    nacks: figs.reduce((s, f) => s + f.nacks, 0),
    clientCpuPerResponseUs: per((f) => f.clientCpuUs / f.responses),
  };
}

async function runScenario(protocol: 'sotw' | 'delta', n: number, groups: number, payloads: readonly Payload[], changes: number, services = SERVICES): Promise<FanoutRow[]> {
  const small = payloads[0]!.endpoints;
  const mesh = meshOf(Array.from({ length: services }, (_, i) => service(i, small)));
  const server = await startServer(mesh);
  const load = new LoadClient();
  const rows: FanoutRow[] = [];
  try {
    const responsesBefore = encoding.responses;
    const { ms: connectMs, failed } = await load.connect(server.port, protocol, n, groups);
    if (failed > 0) throw new Error(`${failed} of ${n} streams failed`);
    await sleep(300); // the ACKs of the first responses may still be on their way
    if (encoding.responses === responsesBefore) throw new Error('the benchmark codec wrapper is not in effect (src/xds/codec.ts exports changed?)');
    const receivers = Math.ceil(n / groups);
    const sc = new Scenario(server, load, mesh, receivers);
    for (const p of payloads) {
      // Warm-up: reach the payload's size, then one change in each mode.
      await sc.change(sc.next(p.endpoints), 'once');
      await sc.change(sc.next(p.endpoints), 'per-stream');
      await sc.change(sc.next(p.endpoints), 'once');
      const figs: Record<Mode, ChangeFigures[]> = { once: [], 'per-stream': [] };
      const identical: Partial<Record<Mode, boolean>> = {};
      // Small changes are cheap: twice as many samples steady their p99.
      const count = p.endpoints < 100 ? changes * 2 : changes;
      for (let k = 0; k < count; k++) {
        const order: Mode[] = k % 2 === 0 ? ['once', 'per-stream'] : ['per-stream', 'once'];
        for (const mode of order) {
          const verify = k === 0;
          encoding.verify = verify;
          const before = encoding.identical.length;
          figs[mode].push(await sc.change(sc.next(p.endpoints), mode));
          if (verify && encoding.identical.length > before) identical[mode] = encoding.identical[before];
        }
      }
      const size = claBytes(sc.mesh.services.get('svc-0')!);
      for (const mode of ['once', 'per-stream'] as const) {
        rows.push(summarize({ protocol, n, groups, services, receivers, payload: p.name, claBytes: size, mode, connectMs, identical: identical[mode] }, figs[mode]));
      }
    }
  } finally {
    await load.close();
    await server.close();
  }
  return rows;
}

// ------------------------------------------------------------------------------------------------ reporting

/** reference.md, "Performance figures measured on this machine kind". */
export const REFERENCE = {
  ack1000x1k: { p50: 43, p99: 67 },
  ack1000x30k: { p50: 125, p99: 173 },
  cpuPerMessageUs: 40,
  encodeOnceUs: 93,
  encodePerClientUs: 392,
} as const;

function label(r: FanoutRow): string {
  const subs = r.groups === 1 ? 'all' : `1/${r.groups}`;
  return `${r.protocol} N=${r.n} ${subs} ${r.payload}${r.services > SERVICES ? ` S=${r.services}` : ''}`;
}

function printRows(rows: readonly FanoutRow[]): void {
  printTable(
    'Fan-out: publisher.update() → every subscribed stream ACKs (server clock); receipt = client clock',
    ['scenario', 'CLA', 'mode', 'rcv', 'update()', 'last ACK p50', 'p99', 'ACK p50', 'ACK p99', 'receipt p50', 'CPU/resp', 'encode/resp', 'sent/change', 'client CPU/resp', 'NACK'],
    rows.map((r) => [
      label(r),
      kb(r.claBytes),
      r.mode + (r.identical === false ? ' (bytes differ!)' : ''),
      String(r.receivers),
      `${ms(r.syncMs.p50)} ms`,
      `${ms(r.lastAckMs.p50)} ms`,
      `${ms(r.lastAckMs.p99)} ms`,
      `${ms(r.ackMs.p50)} ms`,
      `${ms(r.ackMs.p99)} ms`,
      `${ms(r.receiptMs.p50)} ms`,
      `${fixed(r.cpuPerResponseUs)} µs`,
      `${fixed(r.encodePerResponseUs)} µs`,
      kb(r.bytesPerChange),
      `${fixed(r.clientCpuPerResponseUs)} µs`,
      String(r.nacks),
    ]),
  );
  note('update(): synchronous time of publisher.update(), which translates, encodes and writes every response.');
  note('last ACK: p50/p99 over changes of the time to the last ACK; ACK p50/p99: every stream of every change.');
  note('CPU/resp: this process\'s CPU from update() to the last ACK, divided by the responses; encode/resp: inside codec.encode.');
}

function pairs(rows: readonly FanoutRow[]): Array<{ once: FanoutRow; per: FanoutRow }> {
  const out: Array<{ once: FanoutRow; per: FanoutRow }> = [];
  for (const once of rows.filter((r) => r.mode === 'once')) {
    const per = rows.find((r) => r.mode === 'per-stream' && label(r) === label(once));
    if (per) out.push({ once, per });
  }
  return out;
}

function printRatios(rows: readonly FanoutRow[]): void {
  printTable(
    'Fan-out ratios: per-stream encoding (baseline) ÷ encode-once (Herald)',
    ['scenario', 'CPU/resp', 'encode/resp', 'update()', 'last ACK p50', 'ACK p99'],
    pairs(rows).map(({ once, per }) => [
      label(once),
      `${fixed(per.cpuPerResponseUs, 0)} / ${fixed(once.cpuPerResponseUs, 0)} µs = ${ratio(per.cpuPerResponseUs, once.cpuPerResponseUs)}`,
      ratio(per.encodePerResponseUs, once.encodePerResponseUs),
      ratio(per.syncMs.p50, once.syncMs.p50),
      ratio(per.lastAckMs.p50, once.lastAckMs.p50),
      ratio(per.ackMs.p99, once.ackMs.p99),
    ]),
  );
  const raws = rows.filter((r) => r.mode === 'raw grpc-js');
  if (raws.length === 0) return;
  printTable(
    'Herald (encode once) ÷ raw grpc-js floor (one pre-encoded buffer written to every stream), same N and payload',
    ['scenario', 'CPU/resp', 'ACK p50', 'ACK p99', 'last ACK p50'],
    rows
      .filter((r) => r.mode === 'once' && r.groups === 1)
      .flatMap((once) => {
        const raw = raws.find((r) => r.n === once.n && r.payload === once.payload);
        if (!raw) return [];
        return [
          [
            label(once),
            `${fixed(once.cpuPerResponseUs, 0)} / ${fixed(raw.cpuPerResponseUs, 0)} µs = ${ratio(once.cpuPerResponseUs, raw.cpuPerResponseUs)}`,
            `${ms(once.ackMs.p50)} / ${ms(raw.ackMs.p50)} ms = ${ratio(once.ackMs.p50, raw.ackMs.p50)}`,
            `${ms(once.ackMs.p99)} / ${ms(raw.ackMs.p99)} ms = ${ratio(once.ackMs.p99, raw.ackMs.p99)}`,
            ratio(once.lastAckMs.p50, raw.lastAckMs.p50),
          ],
        ];
      }),
  );
}

function find(rows: readonly FanoutRow[], protocol: string, n: number, payload: string, mode: RowMode, groups = 1, services = SERVICES): FanoutRow | undefined {
  return rows.find((r) => r.protocol === protocol && r.n === n && r.payload === payload && r.mode === mode && r.groups === groups && (mode === 'raw grpc-js' || r.services === services));
}

function summaryRows(rows: readonly FanoutRow[]): Array<[string, string, string, string]> {
  const out: Array<[string, string, string, string]> = [];
  const nMax = Math.max(...rows.map((r) => r.n));
  for (const protocol of ['sotw', 'delta']) {
    const once = find(rows, protocol, nMax, '1KB', 'once');
    const per = find(rows, protocol, nMax, '1KB', 'per-stream');
    const bigOnce = find(rows, protocol, nMax, '1000ep', 'once');
    const bigPer = find(rows, protocol, nMax, '1000ep', 'per-stream');
    const raw = find(rows, 'sotw', nMax, '1KB', 'raw grpc-js');
    const ref = nMax === 1000;
    if (once) {
      out.push([
        `fan-out ${protocol} ${nMax}×${kb(once.claBytes)}: ACK p50/p99 (per stream)`,
        `${ms(once.ackMs.p50)}/${ms(once.ackMs.p99)} ms`,
        ref ? `ref floor ${REFERENCE.ack1000x1k.p50}/${REFERENCE.ack1000x1k.p99} ms` : '-',
        ref ? `${ratio(once.ackMs.p50, REFERENCE.ack1000x1k.p50)} / ${ratio(once.ackMs.p99, REFERENCE.ack1000x1k.p99)}` : '-',
      ]);
      out.push([
        `fan-out ${protocol} ${nMax}×${kb(once.claBytes)}: last ACK p50/p99 (over changes)`,
        `${ms(once.lastAckMs.p50)}/${ms(once.lastAckMs.p99)} ms`,
        per ? `per-stream ${ms(per.lastAckMs.p50)}/${ms(per.lastAckMs.p99)} ms` : '-',
        per ? ratio(per.lastAckMs.p50, once.lastAckMs.p50) : '-',
      ]);
      out.push([`fan-out ${protocol} ${nMax}×${kb(once.claBytes)}: server CPU/response`, `${fixed(once.cpuPerResponseUs)} µs`, `ref raw grpc-js ${REFERENCE.cpuPerMessageUs} µs`, ratio(once.cpuPerResponseUs, REFERENCE.cpuPerMessageUs)]);
      if (raw) {
        out.push([
          `fan-out ${protocol} ${nMax}×${kb(once.claBytes)}: vs raw grpc-js in this run`,
          `CPU ${fixed(once.cpuPerResponseUs, 0)} µs, ACK ${ms(once.ackMs.p50)}/${ms(once.ackMs.p99)} ms`,
          `raw ${fixed(raw.cpuPerResponseUs, 0)} µs, ${ms(raw.ackMs.p50)}/${ms(raw.ackMs.p99)} ms`,
          `${ratio(once.cpuPerResponseUs, raw.cpuPerResponseUs)} CPU, ${ratio(once.ackMs.p50, raw.ackMs.p50)} p50`,
        ]);
      }
      if (per) {
        out.push([
          `fan-out ${protocol} ${nMax}×${kb(once.claBytes)}: per-stream ÷ once CPU/resp`,
          `${fixed(per.cpuPerResponseUs, 0)} / ${fixed(once.cpuPerResponseUs, 0)} µs`,
          `ref ${REFERENCE.encodePerClientUs}/${REFERENCE.encodeOnceUs} µs = ${ratio(REFERENCE.encodePerClientUs, REFERENCE.encodeOnceUs)}`,
          ratio(per.cpuPerResponseUs, once.cpuPerResponseUs),
        ]);
      }
    }
    const wide = find(rows, protocol, nMax, '1KB', 'once', 1, BIG_MESH);
    if (once && wide) {
      out.push([
        `fan-out ${protocol} ${nMax}×1 KB, CDS wildcard of ${BIG_MESH} vs ${SERVICES} clusters: CPU/resp`,
        `${fixed(wide.cpuPerResponseUs, 0)} µs (last ACK ${ms(wide.lastAckMs.p50)} ms)`,
        `${fixed(once.cpuPerResponseUs, 0)} µs (${ms(once.lastAckMs.p50)} ms)`,
        ratio(wide.cpuPerResponseUs, once.cpuPerResponseUs),
      ]);
    }
    if (bigOnce) {
      out.push([
        `fan-out ${protocol} ${nMax}×${kb(bigOnce.claBytes)} (1,000 ep): ACK p50/p99`,
        `${ms(bigOnce.ackMs.p50)}/${ms(bigOnce.ackMs.p99)} ms`,
        ref ? `ref 1000×30 KB ${REFERENCE.ack1000x30k.p50}/${REFERENCE.ack1000x30k.p99} ms` : '-',
        ref ? `${ratio(bigOnce.ackMs.p50, REFERENCE.ack1000x30k.p50)} / ${ratio(bigOnce.ackMs.p99, REFERENCE.ack1000x30k.p99)}` : '-',
      ]);
      if (bigPer) {
        out.push([
          `fan-out ${protocol} ${nMax}×1,000 ep: per-stream ÷ once CPU/resp`,
          `${fixed(bigPer.cpuPerResponseUs, 0)} / ${fixed(bigOnce.cpuPerResponseUs, 0)} µs`,
          'same run',
          ratio(bigPer.cpuPerResponseUs, bigOnce.cpuPerResponseUs),
        ]);
      }
    }
  }
  return out;
}

export async function runFanout(args: BenchArgs): Promise<BenchResult> {
  installSwitchableCodec();
  const smallCount = endpointsForOneKb();
  const payloads: Payload[] = [
    { name: '1KB', endpoints: smallCount },
    { name: '1000ep', endpoints: LARGE_ENDPOINTS },
  ];
  const rows: FanoutRow[] = [];
  const nMax = Math.max(...args.n);
  process.stdout.write(
    `\nFan-out: ${SERVICES} services, changes to svc-0 (${smallCount} endpoints ≈ 1 KB, then ${LARGE_ENDPOINTS}); ` +
      `${args.changes * 2} (1 KB) / ${args.changes} (${LARGE_ENDPOINTS} endpoints) measured changes per mode, modes alternating\n`,
  );
  for (const protocol of args.protocols) {
    // [N, groups, services, payloads]: every stream on the changed service; 1 stream in 20 on it; and a
    // 1,000-service mesh (each stream's CDS wildcard holds 1,000 clusters), 1 KB changes only.
    const scenarios: Array<[number, number, number, Payload[]]> = [
      ...args.n.map((n): [number, number, number, Payload[]] => [n, 1, SERVICES, payloads]),
      [nMax, SERVICES, SERVICES, payloads],
      [nMax, 1, BIG_MESH, payloads.slice(0, 1)],
    ];
    for (const [n, groups, services, ps] of scenarios) {
      const started = performance.now();
      const got = await runScenario(protocol, n, groups, ps, args.changes, services);
      rows.push(...got);
      const who = groups === 1 ? 'all on svc-0' : `1/${groups} on svc-0`;
      process.stdout.write(`   ${protocol} N=${n} ${who}, ${services} services: connected in ${ms(got[0]!.connectMs, 0)} ms, done in ${ms((performance.now() - started) / 1000)} s\n`);
    }
  }
  {
    const started = performance.now();
    const got = await runRawScenario(nMax, payloads, args.changes);
    rows.push(...got);
    process.stdout.write(`   raw grpc-js N=${nMax}: connected in ${ms(got[0]!.connectMs, 0)} ms, done in ${ms((performance.now() - started) / 1000)} s\n`);
  }
  printRows(rows);
  printRatios(rows);
  const bad = rows.filter((r) => r.identical === false);
  if (bad.length > 0) note(`WARNING: baseline bytes differ from encode-once bytes in ${bad.map(label).join(', ')}`);
  else note('Baseline check: the per-stream encoding produced byte-identical responses to the encode-once path.');
  return { bench: 'fanout', summary: summaryRows(rows), data: rows };
}

if (require.main === module) runBench(runFanout);
