/**
 * Hostile clients: what attacks cost Herald and its honest proxies. The server (XdsCache + Publisher + XdsServer,
 * as src/main.ts wires them, default limits unless stated) runs in this process, with one honest SotW proxy that
 * ACKs everything; endpoints change every 0.3 s. The attackers run in a forked child (this file with
 * `--attacker <kind>`), so their CPU is not the server's. Figures, not pass/fail:
 *
 * - stall vs names: one Delta request carrying N initial_resource_versions (10k, 50k = the default limit, 60k, 150k; raised limits so it is
 *   served), and 150k under the default limits (refused before decoding): the longest event-loop stall the server
 *   saw (every stream stalls that long).
 * - under attack, for each of: none (baseline), 20 non-reading streams (HTTP/2, never read; reconnect when reset),
 *   huge requests (60k- and 150k-name Delta requests in a loop, default limits), a storm of 5,000 connecting
 *   streams (retrying with backoff on UNAVAILABLE): server RSS at start and end, event-loop delay p99 (perf_hooks
 *   monitorEventLoopDelay), and the honest proxy's publish→ACK latency p50/p99.
 *
 *   node dist/bench/hostile.js [--quick] [--seconds S] [--storm N] [--phases baseline,nonreading,huge,storm]
 *
 * `--phases nonreading --seconds 300` is the 5-minute flatness run of 20 non-reading streams.
 */
import { fork } from 'node:child_process';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { fixed, gc, meshOf, ms, note, printTable, quietTelemetry, reportResult, reweighted, service, sleep, stats, type Mesh } from './common';
import type { XdsServer, XdsServerOptions } from '../src/xds/server';
import type { Publisher } from '../src/pipeline/publisher';
import { createCore } from '../src/main';
import { messageType } from '../src/xds/protos';
import { RESOURCE_TYPES } from '../src/xds/resource-types';
import { walkFields } from '../src/xds/wire';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
const CDS = RESOURCE_TYPES.cluster.typeUrl;
const EDS = RESOURCE_TYPES.endpoint.typeUrl;
const SERVICES = 20;
const ENDPOINTS = 200;

function arg(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function encode(protocol: 'sotw' | 'delta', fields: Record<string, unknown>): Buffer {
  const type = messageType(protocol === 'sotw' ? 'envoy.service.discovery.v3.DiscoveryRequest' : 'envoy.service.discovery.v3.DeltaDiscoveryRequest');
  return Buffer.from(type.encode(type.fromObject(fields)).finish());
}

/** type_url and nonce of a (Delta)DiscoveryResponse, read from the top-level fields only. */
function envelope(b: Buffer): { typeUrl: string; nonce: string } {
  let typeUrl = '';
  let nonce = '';
  walkFields(b, (no, wire, _v, s, e) => {
    if (wire !== 2) return;
    if (no === 4) typeUrl = b.toString('utf8', s, e);
    else if (no === 5) nonce = b.toString('utf8', s, e);
  });
  return { typeUrl, nonce };
}

function bidi(port: number, method: 'StreamAggregatedResources' | 'DeltaAggregatedResources', client?: grpc.Client) {
  const c = client ?? new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const id = (b: Buffer) => b;
  return { client: c, call: c.makeBidiStreamRequest(`${ADS}/${method}`, id, id) };
}

// ------------------------------------------------------------------------------------------------ attackers

/** Streams that never read: raw HTTP/2, paused; a reset stream is replaced at once (as an attacker would). */
function nonReading(port: number, n: number): void {
  const open = (i: number) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 65535 } });
    session.on('error', () => {});
    const stream = session.request({ ':method': 'POST', ':path': `${ADS}/StreamAggregatedResources`, 'content-type': 'application/grpc', te: 'trailers' });
    stream.pause();
    stream.on('error', () => {});
    const frame = (b: Buffer) => Buffer.concat([Buffer.from([0, (b.length >>> 24) & 255, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]), b]);
    stream.write(frame(encode('sotw', { node: { id: `stuck-${i}`, cluster: 'attacker' }, typeUrl: CDS })));
    stream.write(frame(encode('sotw', { typeUrl: EDS, resourceNames: Array.from({ length: SERVICES }, (_, s) => `svc-${s}`) })));
    // The old trick: ACK by guessing sequential nonces (now random per stream, so these are ignored).
    let guess = 0;
    const t = setInterval(() => stream.write(frame(encode('sotw', { typeUrl: EDS, responseNonce: String(++guess), resourceNames: [] }))), 300);
    stream.on('close', () => {
      clearInterval(t);
      session.destroy();
      setTimeout(() => open(i), 100);
    });
  };
  for (let i = 0; i < n; i++) open(i);
}

/** Huge Delta requests in a loop: each on a new stream, as soon as the previous one is answered or refused. */
function huge(port: number, sizes: number[]): void {
  const requests = sizes.map((n) => {
    const initial: Record<string, string> = {};
    for (let i = 0; i < n; i++) initial[`ghost-cluster-${i}`] = 'v1';
    return encode('delta', { node: { id: `huge-${n}`, cluster: 'attacker' }, typeUrl: CDS, initialResourceVersions: initial });
  });
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 });
  let k = 0;
  const once = () => {
    const { call } = bidi(port, 'DeltaAggregatedResources', client);
    let done = false;
    const next = () => {
      if (done) return;
      done = true;
      call.cancel();
      setTimeout(once, 50);
    };
    call.on('data', next);
    call.on('status', next);
    call.on('error', next);
    call.write(requests[k++ % requests.length]!);
  };
  once();
}

/** One request of N names, for the stall figure; reports when answered or refused. */
function single(port: number, n: number): void {
  const initial: Record<string, string> = {};
  for (let i = 0; i < n; i++) initial[`ghost-cluster-${i}`] = 'v1';
  const bytes = encode('delta', { node: { id: `single-${n}`, cluster: 'attacker' }, typeUrl: CDS, initialResourceVersions: initial });
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 });
  const { call } = bidi(port, 'DeltaAggregatedResources', client);
  let reported = false;
  const report = (outcome: string) => {
    if (reported) return;
    reported = true;
    process.send?.({ type: 'single', outcome, bytes: bytes.length });
  };
  call.on('data', () => report('served'));
  call.on('status', (s: grpc.StatusObject) => report(grpc.status[s.code]));
  call.on('error', () => {});
  process.send?.({ type: 'ready' });
  process.on('message', (m: { type: string }) => m.type === 'go' && call.write(bytes));
}

/**
 * A storm of `n` streams connecting at once over 100 HTTP/2 connections; a refused stream retries after a
 * jittered backoff (0.5–1.5 s, doubling to 8 s), as Envoy does. Reports when every stream has its first CDS.
 */
function storm(port: number, n: number): void {
  // A local subchannel pool per client: 100 connections (grpc-js would share one among them all otherwise).
  const clients = Array.from({ length: 100 }, () => new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  const started = performance.now();
  let served = 0;
  let refusals = 0;
  const open = (i: number, attempt: number) => {
    const { call } = bidi(port, 'StreamAggregatedResources', clients[i % clients.length]);
    let got = false;
    call.on('data', (b: Buffer) => {
      const env = envelope(b);
      call.write(encode('sotw', { typeUrl: env.typeUrl, responseNonce: env.nonce }));
      if (got) return;
      got = true;
      if (++served === n) process.send?.({ type: 'storm', seconds: (performance.now() - started) / 1000, refusals });
    });
    call.on('status', (s: grpc.StatusObject) => {
      if (got) return;
      if (s.code === grpc.status.UNAVAILABLE) refusals++;
      const backoff = Math.min(8000, 500 * 2 ** attempt) * (0.5 + Math.random());
      setTimeout(() => open(i, attempt + 1), backoff);
    });
    call.on('error', () => {});
    call.write(encode('sotw', { node: { id: `storm-${i}`, cluster: 'storm' }, typeUrl: CDS }));
  };
  for (let i = 0; i < n; i++) open(i, 0);
}

// ------------------------------------------------------------------------------------------------- server side

interface Phase {
  readonly attack: string;
  readonly seconds: number;
  readonly rssStartMb: number;
  readonly rssEndMb: number;
  readonly rssMaxMb: number;
  readonly loopP99Ms: number;
  readonly loopMaxMs: number;
  readonly honestP50: number;
  readonly honestP99: number;
  readonly honestN: number;
  readonly extra: string;
}

interface Server {
  readonly xds: XdsServer;
  readonly publisher: Publisher;
  readonly port: number;
  mesh: Mesh;
  close(): Promise<void>;
}

async function startServer(options: Omit<XdsServerOptions, 'telemetry'> = {}): Promise<Server> {
  const { publisher, views, xds } = createCore({ defaultEgress: '127.0.0.1:15001', xds: { ackTimeoutMs: 60_000, ...options }, telemetry: quietTelemetry() });
  const port = await xds.listen('127.0.0.1', 0);
  const mesh = meshOf(Array.from({ length: SERVICES }, (_, s) => service(s, ENDPOINTS)));
  publisher.update(mesh);
  publisher.startServing();
  return {
    xds,
    publisher,
    port,
    mesh,
    close: async () => {
      views.stop();
      await xds.close();
    },
  };
}

/** The honest proxy: SotW, CDS wildcard + EDS for every service, every response ACKed at once. */
function honest(port: number): { close(): void } {
  const { client, call } = bidi(port, 'StreamAggregatedResources');
  const names = Array.from({ length: SERVICES }, (_, s) => `svc-${s}`);
  call.on('data', (b: Buffer) => {
    const env = envelope(b);
    call.write(encode('sotw', { typeUrl: env.typeUrl, responseNonce: env.nonce, ...(env.typeUrl === EDS ? { resourceNames: names } : {}) }));
  });
  call.on('error', () => {});
  call.write(encode('sotw', { node: { id: 'honest', cluster: 'honest' }, typeUrl: CDS }));
  call.write(encode('sotw', { typeUrl: EDS, resourceNames: names }));
  return {
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

function attacker(kind: string, port: number, extra: string[] = []) {
  const child = fork(__filename, ['--attacker', kind, '--port', String(port), ...extra], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages: any[] = [];
  const waiters: Array<() => void> = [];
  child.on('message', (m) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    async wait(type: string, timeoutMs: number): Promise<any> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = messages.find((x) => x.type === type);
        if (m) return m;
        if (Date.now() > deadline) return undefined;
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.max(10, deadline - Date.now()));
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
    stop: () => child.kill('SIGKILL'),
  };
}

const rssMb = () => process.memoryUsage().rss / (1 << 20);

/** Runs churn (one service's endpoints every 0.3 s) for `seconds` with the honest proxy, while `attack` runs. */
async function phase(name: string, seconds: number, attack: (s: Server) => { stop(): void; extra?(): Promise<string> } | undefined): Promise<Phase> {
  const s = await startServer();
  const h = honest(s.port);
  await sleep(500);
  gc();
  const rssStart = rssMb();
  const lat: number[] = [];
  let pending: number | undefined;
  s.xds.onAck((e) => {
    if (e.nodeId !== 'honest' || e.kind !== 'endpoint' || pending === undefined) return;
    lat.push(e.at - pending);
    pending = undefined;
  });
  const a = attack(s);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let rssMax = rssStart;
  let i = 0;
  const churn = setInterval(() => {
    const svc = s.mesh.services.get(`svc-${i % SERVICES}`)!;
    s.mesh = { services: new Map(s.mesh.services).set(svc.name, reweighted(svc, i % ENDPOINTS, 2 + (i % 7))) };
    pending ??= Date.now();
    i++;
    s.publisher.update(s.mesh);
    rssMax = Math.max(rssMax, rssMb());
  }, 300);
  const started = performance.now();
  let extra = '';
  if (a?.extra) extra = await a.extra();
  const left = seconds * 1000 - (performance.now() - started);
  if (left > 0) await sleep(left);
  clearInterval(churn);
  loop.disable();
  const rssEnd = rssMb();
  a?.stop();
  h.close();
  await s.close();
  const st = stats(lat);
  return {
    attack: name,
    seconds: (performance.now() - started) / 1000,
    rssStartMb: rssStart,
    rssEndMb: rssEnd,
    rssMaxMb: Math.max(rssMax, rssEnd),
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
    honestP50: st.p50,
    honestP99: st.p99,
    honestN: st.n,
    extra,
  };
}

/** The longest event-loop stall while one request of `names` names is handled. */
async function stallFor(names: number, raised: boolean): Promise<{ names: number; limits: string; stallMs: number; outcome: string; mb: number }> {
  const s = await startServer(raised ? { limits: { maxNamesPerRequest: 1_000_000, maxRequestBytes: 64 << 20 } } : {});
  // The view is built for the first stream that needs it: the honest proxy pays that, not the measured request.
  const h = honest(s.port);
  const a = attacker('single', s.port, ['--names', String(names)]);
  await a.wait('ready', 30_000);
  await sleep(300);
  await sleep(200);
  gc(); // the previous run's garbage is not this request's cost
  await sleep(50);
  let last = performance.now();
  let worst = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 2);
  a.child.send({ type: 'go' });
  const r = await a.wait('single', 60_000);
  await sleep(100);
  clearInterval(tick);
  a.stop();
  h.close();
  await s.close();
  return { names, limits: raised ? 'raised' : 'default', stallMs: worst, outcome: r?.outcome ?? 'timeout', mb: (r?.bytes ?? 0) / 1e6 };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const seconds = Number(arg('--seconds') ?? (quick ? 10 : 60));
  const stormN = Number(arg('--storm') ?? 5000);
  const wanted = new Set((arg('--phases') ?? 'baseline,nonreading,huge,storm').split(','));

  const stalls = [];
  await stallFor(5_000, true); // warm-up: JIT and first-use costs are not the request's
  for (const n of [10_000, 50_000, 60_000, 150_000]) stalls.push(await stallFor(n, true));
  stalls.push(await stallFor(150_000, false));
  printTable(
    'Hostile clients: one Delta request of N names — longest event-loop stall (every stream waits that long)',
    ['names', 'request', 'limits', 'outcome', 'stall ms'],
    stalls.map((r) => [String(r.names), `${fixed(r.mb)} MB`, r.limits, r.outcome, ms(r.stallMs, 0)]),
  );

  const phases: Phase[] = [];
  if (wanted.has('baseline')) phases.push(await phase('none (baseline)', seconds, () => undefined));
  if (wanted.has('nonreading')) {
    phases.push(
      await phase('20 non-reading streams', seconds, (s) => {
        const a = attacker('nonreading', s.port, ['--n', '20']);
        return { stop: a.stop };
      }),
    );
  }
  if (wanted.has('huge')) {
    phases.push(
      await phase('huge requests (60k, 150k names)', seconds, (s) => {
        const a = attacker('huge', s.port);
        return { stop: a.stop };
      }),
    );
  }
  if (wanted.has('storm')) phases.push(
    await phase(`storm of ${stormN} streams`, seconds, (s) => {
      const a = attacker('storm', s.port, ['--n', String(stormN)]);
      return {
        stop: a.stop,
        extra: async () => {
          const r = await a.wait('storm', 600_000);
          return r ? `all ${stormN} served in ${fixed(r.seconds)} s, ${r.refusals} UNAVAILABLE on the way` : 'not all served';
        },
      };
    }),
  );
  printTable(
    `Hostile clients: ${SERVICES} services × ${ENDPOINTS} endpoints, one endpoint change every 0.3 s, default limits`,
    ['attack', 'seconds', 'RSS start MB', 'RSS end MB', 'RSS max MB', 'loop p99 ms', 'loop max ms', 'honest p50 ms', 'honest p99 ms', 'ACKs'],
    phases.map((p) => [
      p.attack,
      fixed(p.seconds, 0),
      fixed(p.rssStartMb, 0),
      fixed(p.rssEndMb, 0),
      fixed(p.rssMaxMb, 0),
      ms(p.loopP99Ms),
      ms(p.loopMaxMs),
      ms(p.honestP50),
      ms(p.honestP99),
      String(p.honestN),
    ]),
  );
  for (const p of phases) if (p.extra) note(`${p.attack}: ${p.extra}`);
  note('honest = publish → the honest proxy\'s EDS ACK, on the server clock; loop = perf_hooks monitorEventLoopDelay');
  note(`load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs (stalls scale with it)`);
  const base = wanted.has('baseline') ? phases[0] : undefined;
  const summary: Array<[string, string, string, string]> = [
    ...stalls.map((r): [string, string, string, string] => [`stall, ${r.names / 1000}k-name request (${r.limits} limits)`, `${ms(r.stallMs, 0)} ms`, r.outcome, '']),
    ...(base ? phases.slice(1) : []).map((p): [string, string, string, string] => [
      `honest p99 under ${p.attack}`,
      `${ms(p.honestP99)} ms`,
      `baseline ${ms(base!.honestP99)} ms`,
      base!.honestP99 > 0 ? `${(p.honestP99 / base!.honestP99).toFixed(2)}×` : '-',
    ]),
    ...phases.map((p): [string, string, string, string] => [`RSS under ${p.attack}`, `${fixed(p.rssStartMb, 0)} → ${fixed(p.rssEndMb, 0)} MB`, `max ${fixed(p.rssMaxMb, 0)} MB`, '']),
    ...phases.map((p): [string, string, string, string] => [`event-loop p99 under ${p.attack}`, `${ms(p.loopP99Ms)} ms`, `max ${ms(p.loopMaxMs)} ms`, '']),
  ];
  await reportResult({ bench: 'hostile', summary, data: { stalls, phases, loadavg: os.loadavg() } });
}

const role = arg('--attacker');
if (role) {
  const port = Number(arg('--port'));
  if (role === 'nonreading') nonReading(port, Number(arg('--n') ?? 20));
  else if (role === 'huge') huge(port, [60_000, 150_000]);
  else if (role === 'single') single(port, Number(arg('--names')));
  else if (role === 'storm') storm(port, Number(arg('--n') ?? 5000));
} else {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
