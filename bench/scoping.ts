/**
 * Scoped vs unscoped sidecars, and what a new app port costs with and without shared views. Prints figures; it
 * asserts nothing.
 *
 * Mesh: `--services` (1,000) services of namespace default × `--endpoints` (10). Sidecars: `--sidecars` (2,000)
 * Delta streams from a forked client (bench/scoping-load.ts), each calling `--calls` (10) distinct services drawn
 * with a Zipf skew (a few services are called by many sidecars, most by few). Each stream acts like Envoy: CDS
 * wildcard, then EDS for every cluster it got. Two phases, one Herald each:
 *   unscoped  no HERALD_EGRESS_SCOPE: every sidecar gets the whole mesh (one view)
 *   scoped    HERALD_EGRESS_SCOPE lists its 10 services (one view per distinct scope)
 * Per phase: server RSS once every stream holds its configuration; then endpoint changes to services of several
 * popularity ranks, each measured from publisher.update() until every stream that holds the service ACKed it:
 * server CPU, bytes of xDS responses sent (herald_xds_response_bytes_total), and the time for all ACKs.
 * Last, in-process: building the view of a sidecar with a new app port (an ingress) next to an existing view,
 * with views sharing translations and encodings (Herald) and without (every view translates and encodes alone).
 *
 * Run: `node --expose-gc dist/bench/scoping.js` (about 1 minute); `--sidecars 500` for a quicker look.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { createCore } from '../src/main';
import type { Metrics } from '../src/admin/metrics';
import { quietTelemetry } from './common';
import { viewKey, type ProxyView } from '../src/translate/view';
import type { Endpoint, Mesh, Service } from '../src/model/types';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const SERVICES = arg('services', 1000);
const ENDPOINTS = arg('endpoints', 10);
const SIDECARS = arg('sidecars', 2000);
const CALLS = arg('calls', 10);
const RANKS = [0, 3, 30, 300].filter((r) => r < SERVICES);

const id = (i: number) => `default/svc-${i}`;
function service(i: number, bump = 0): Service {
  const endpoints: Endpoint[] = Array.from({ length: ENDPOINTS }, (_, k) => ({
    address: `10.${(i >> 8) & 255}.${i & 255}.${k + 1}`,
    port: 8080,
    health: 'HEALTHY',
    zone: '',
    weight: k === 0 ? 1 + (bump % 100) : 1,
    source: 'bench',
    labels: {},
  }));
  return { name: id(i), endpoints, policy: {} };
}
const mesh: Mesh = { services: new Map(Array.from({ length: SERVICES }, (_, i) => [id(i), service(i)])) };

/** Deterministic Zipf(1) choice of `calls` distinct services per sidecar. */
function callsOf(): number[][] {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const weights = Array.from({ length: SERVICES }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cum: number[] = [];
  weights.reduce((acc, w, i) => (cum[i] = acc + w / total), 0);
  const pick = () => {
    const x = rnd();
    let lo = 0;
    let hi = SERVICES - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return Array.from({ length: SIDECARS }, () => {
    const s = new Set<number>();
    while (s.size < Math.min(CALLS, SERVICES)) s.add(pick());
    return [...s].sort((a, b) => a - b);
  });
}

/** Bytes of every xDS response sent so far (summed over the protocol and type series). */
const responseBytes = async (metrics: Metrics) => [...(await metrics.render()).matchAll(/^herald_xds_response_bytes_total(?:\{[^}]*\})? (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
const mb = (b: number) => (b / 2 ** 20).toFixed(0);

interface PhaseResult {
  readonly mode: string;
  readonly views: number;
  readonly connectMs: number;
  readonly clusters: number;
  readonly rssMb: string;
  readonly changes: Array<{ rank: number; streams: number; cpuMs: number; kb: number; allAcksMs: number }>;
}

async function phase(mode: 'unscoped' | 'scoped', calls: number[][]): Promise<PhaseResult> {
  // Streams connect at once: admission (bench/hostile.ts measures it) is not what this measures.
  const core = createCore({ defaultEgress: '127.0.0.1:15001', xds: { ackTimeoutMs: 600_000, admission: { newStreamsPerSecond: 0, maxStreams: 0 } }, views: { maxViews: 100_000, memoryBudgetBytes: 0, idleGraceMs: 600_000, defaultNamespace: 'default' }, telemetry: quietTelemetry('warn') });
  const port = await core.xds.listen('127.0.0.1', 0);
  let current = mesh;
  core.publisher.update(current);
  core.publisher.startServing();
  const child = fork(path.join(__dirname, 'scoping-load.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const reply = (type: string) => new Promise<any>((resolve) => child.on('message', (m: any) => m.type === type && resolve(m)));
  child.on('message', (m: any) => m.type === 'error' && process.stderr.write(`load client: ${m.message}\n`));
  const metas = calls.map((c) => ({ HERALD_NAMESPACE: 'default', ...(mode === 'scoped' ? { HERALD_EGRESS_SCOPE: c.map(id).join(',') } : {}) }));
  const connected = reply('connected');
  child.send({ cmd: 'connect', port, metas });
  const c = await connected;
  global.gc?.();
  const rss = process.memoryUsage.rss();
  const changes: PhaseResult['changes'] = [];
  for (const [n, rank] of RANKS.entries()) {
    const streams = mode === 'unscoped' ? SIDECARS : calls.filter((cs) => cs.includes(rank)).length;
    const next = new Map(current.services);
    next.set(id(rank), service(rank, n + 1));
    current = { services: next };
    let acks = 0;
    let resolveAll: () => void = () => undefined;
    const all = new Promise<void>((r) => (resolveAll = r));
    const off = core.xds.onAck((e) => {
      if (e.kind === 'endpoint' && ++acks === streams) resolveAll();
    });
    const bytes0 = await responseBytes(core.telemetry.metrics);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    core.publisher.update(current);
    if (streams === 0) resolveAll();
    await Promise.race([all, new Promise((r) => setTimeout(r, 60_000))]);
    const allAcksMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    off();
    changes.push({ rank, streams, cpuMs: (cpu.user + cpu.system) / 1000, kb: ((await responseBytes(core.telemetry.metrics)) - bytes0) / 1024, allAcksMs });
    await new Promise((r) => setTimeout(r, 200));
  }
  const views = core.views.views().length;
  const closed = reply('closed');
  child.send({ cmd: 'close' });
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  core.views.stop();
  await core.xds.close();
  return { mode, views, connectMs: c.ms, clusters: c.clusters, rssMb: mb(rss), changes };
}

/**
 * Builds one sidecar view, then five more that differ only by their app port (one at a time): the median time of
 * those five and the resources each encoded.
 */
function appPortCost(share: boolean): { baseMs: number; newPortMs: number; encodings: number } {
  const core = createCore({ defaultEgress: '127.0.0.1:15001', share, views: { maxViews: 1000 }, telemetry: quietTelemetry('warn') });
  core.publisher.update(mesh);
  core.publisher.startServing();
  const base: ProxyView = { flavor: 'envoy', zone: '', egress: '127.0.0.1:15001', namespace: 'default', ingress: { listen: '0.0.0.0:15006', appPort: 8080, healthPath: '/healthz' } };
  let t = performance.now();
  core.publisher.buildView(viewKey(base));
  const baseMs = performance.now() - t;
  const times: number[] = [];
  const e0 = core.cache.encodings;
  for (let port = 9090; port < 9095; port++) {
    global.gc?.();
    t = performance.now();
    core.publisher.buildView(viewKey({ ...base, ingress: { ...base.ingress!, appPort: port } }));
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { baseMs, newPortMs: times[2]!, encodings: (core.cache.encodings - e0) / 5 };
}

async function main(): Promise<void> {
  const calls = callsOf();
  const callers = new Map<number, number>();
  for (const cs of calls) for (const s of cs) callers.set(s, (callers.get(s) ?? 0) + 1);
  console.log(`scoping: ${SERVICES} services × ${ENDPOINTS} endpoints, ${SIDECARS} Delta sidecars × ${CALLS} called services (Zipf); callers of rank ${RANKS.join('/')}: ${RANKS.map((r) => callers.get(r) ?? 0).join('/')}`);
  const results: PhaseResult[] = [];
  for (const mode of ['scoped', 'unscoped'] as const) {
    const r = await phase(mode, calls);
    results.push(r);
    console.log(`\n${mode}: ${r.views} view(s), connect ${r.connectMs} ms, ${r.clusters} clusters held in all, server RSS ${r.rssMb} MB`);
    console.log('  rank  streams   CPU ms   sent KB   all ACKs ms');
    for (const ch of r.changes) console.log(`  ${String(ch.rank).padStart(4)}  ${String(ch.streams).padStart(7)}  ${ch.cpuMs.toFixed(1).padStart(7)}  ${ch.kb.toFixed(0).padStart(8)}  ${ch.allAcksMs.toFixed(0).padStart(12)}`);
  }
  const [scoped, unscoped] = results as [PhaseResult, PhaseResult];
  const sum = (r: PhaseResult, f: (c: PhaseResult['changes'][number]) => number) => r.changes.reduce((a, c) => a + f(c), 0);
  console.log(`\nratios unscoped/scoped over the ${RANKS.length} changes: CPU ${(sum(unscoped, (c) => c.cpuMs) / sum(scoped, (c) => c.cpuMs)).toFixed(1)}×, bytes ${(sum(unscoped, (c) => c.kb) / Math.max(1, sum(scoped, (c) => c.kb))).toFixed(1)}×, all-ACK time ${(sum(unscoped, (c) => c.allAcksMs) / sum(scoped, (c) => c.allAcksMs)).toFixed(1)}×; RSS ${unscoped.rssMb} vs ${scoped.rssMb} MB`);
  console.log('\nnew app port (a sidecar view differing from built ones only by its ingress app port):');
  for (const share of [true, false]) {
    const r = appPortCost(share);
    console.log(`  ${share ? 'shared views  ' : 'no sharing    '} first view ${r.baseMs.toFixed(0)} ms; a new port: median ${r.newPortMs.toFixed(1)} ms of 5, ${r.encodings} resources encoded each`);
  }
  process.exit(0);
}

void main();
