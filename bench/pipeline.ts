/**
 * The endpoint fast path and the batcher, without streams.
 *
 * A mesh of 1,000 services × 10 endpoints is published into 3 views (two sidecar zones, one proxyless gRPC
 * view). Timed: `publisher.update()` for a one-service endpoint change (the fast path), for a structural change
 * (a service added: every view re-translated, unchanged bytes keep their versions), and a full rebuild from
 * scratch (a new cache, the 3 views built); the fast path is split into translate / cache.apply / the rest, and
 * measured at several mesh sizes to show what grows with the mesh.
 *
 * The 200-pod burst goes through the real Intake (guard → merge → batcher, Herald's default batching of 100 ms /
 * 1,000 ms): 200 pods added at 10 ms spacing, then the same 200 turned DRAINING at 10 ms spacing (fast lane).
 */
import { XdsCache } from '../src/xds/cache';
import { Publisher } from '../src/pipeline/publisher';
import { Intake } from '../src/pipeline/intake';
import { translateEndpointUpdate } from '../src/translate/index';
import { parseViewKey, viewKey } from '../src/translate/view';
import type { SourceService, SourceSnapshot } from '../src/sources/source';
import { endpoint, fixed, gc, meshOf, ms, note, printTable, quietTelemetry, ratio, reweighted, runBench, service, sleep, sortEndpoints, stats, withService, type BenchArgs, type BenchResult, type Mesh, type Stats } from './common';

const VIEWS = [
  viewKey({ flavor: 'envoy', zone: 'zone-a', egress: '127.0.0.1:15001' }),
  viewKey({ flavor: 'envoy', zone: 'zone-b', egress: '127.0.0.1:15001' }),
  viewKey({ flavor: 'grpc', zone: 'zone-a', egress: '' }),
];
const ENDPOINTS = 10;
const OPTIONS = { telemetry: quietTelemetry() };

function bigMesh(services: number): Mesh {
  return meshOf(Array.from({ length: services }, (_, i) => service(i, ENDPOINTS)));
}

/** A fresh cache and publisher holding `mesh` in the 3 views; returns the time that took. */
function build(mesh: Mesh): { cache: XdsCache; publisher: Publisher; ms: number } {
  const cache = new XdsCache();
  const publisher = new Publisher(cache, OPTIONS);
  publisher.startServing();
  const t0 = performance.now();
  publisher.update(mesh);
  for (const v of VIEWS) publisher.buildView(v);
  const took = performance.now() - t0;
  return { cache, publisher, ms: took };
}

function time(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

interface FastPath {
  readonly services: number;
  readonly update: Stats;
  readonly translate: Stats;
  readonly apply: Stats;
}

/** One-service endpoint changes on a warmed publisher: update() as a whole, and its translate and apply parts. */
function fastPath(services: number, repeats: number): FastPath & { cache: XdsCache; publisher: Publisher; mesh: Mesh } {
  let mesh = bigMesh(services);
  const { cache, publisher } = build(mesh);
  const update: number[] = [];
  const translate: number[] = [];
  const apply: number[] = [];
  const views = VIEWS.map((v) => [v, parseViewKey(v)] as const);
  for (let k = 0; k < repeats + 10; k++) {
    const name = `svc-${(k * 7919) % services}`;
    const s = reweighted(mesh.services.get(name)!, k % ENDPOINTS, 2 + (k % 50));
    mesh = withService(mesh, s);
    const tu = time(() => publisher.update(mesh));
    // The same work by parts, on the same cache: translate for every view, then apply the batches.
    const s2 = reweighted(s, (k + 1) % ENDPOINTS, 60 + (k % 50));
    let batches: ReturnType<typeof translateEndpointUpdate>[] = [];
    const tt = time(() => (batches = views.map(([, v]) => translateEndpointUpdate([s2], v))));
    const ta = time(() => views.forEach(([key], i) => cache.apply(key, batches[i]!)));
    // Put the publisher back in step with the cache (same endpoints as s2, so it is an endpoint change).
    mesh = withService(mesh, s2);
    publisher.update(mesh);
    if (k >= 10) {
      update.push(tu);
      translate.push(tt);
      apply.push(ta);
    }
  }
  return { services, update: stats(update), translate: stats(translate), apply: stats(apply), cache, publisher, mesh };
}

interface Burst {
  readonly offers: number;
  readonly publishes: number;
  readonly latency: Stats;
  readonly intakeUpdateUs: Stats;
  readonly publishMs: Stats;
  readonly spanMs: number;
}

/** Offers `steps` snapshots at `spacingMs` through a real Intake; records when each offer reached a publish. */
async function burst(
  intake: Intake,
  publishedAt: number[],
  publishMs: number[],
  snapshots: readonly SourceSnapshot[],
  spacingMs: number,
  settleMs: number,
): Promise<Burst> {
  const firstPublish = publishedAt.length;
  const offeredAt: number[] = [];
  const intakeUs: number[] = [];
  const firstPublishMs = publishMs.length;
  const t0 = performance.now();
  for (let i = 0; i < snapshots.length; i++) {
    const due = t0 + i * spacingMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const at = performance.now();
    offeredAt.push(at);
    const pubBefore = publishMs.reduce((a, b) => a + b, 0);
    intake.update('k8s', snapshots[i]!, true);
    // intake.update's own cost: minus the publish it may have made synchronously (fast lane).
    intakeUs.push((performance.now() - at - (publishMs.reduce((a, b) => a + b, 0) - pubBefore)) * 1000);
  }
  await sleep(settleMs);
  const pubs = publishedAt.slice(firstPublish);
  const latency = offeredAt.map((at) => {
    const p = pubs.find((t) => t >= at);
    return p === undefined ? NaN : p - at;
  });
  return {
    offers: snapshots.length,
    publishes: pubs.length,
    latency: stats(latency),
    intakeUpdateUs: stats(intakeUs),
    publishMs: stats(publishMs.slice(firstPublishMs)),
    spanMs: (pubs[pubs.length - 1] ?? t0) - t0,
  };
}

async function runBursts(services: number): Promise<{ up: Burst; drain: Burst }> {
  const cache = new XdsCache();
  const publisher = new Publisher(cache, OPTIONS);
  publisher.startServing();
  const publishedAt: number[] = [];
  const publishMs: number[] = [];
  const intake = new Intake({
    sources: [{ name: 'k8s', guard: { maxRemovalFraction: 0.5, holdMs: 30_000, confirmByReread: true } }],
    batching: { delayMs: 100, maxDelayMs: 1000 },
    publish: (mesh) => {
      const t0 = performance.now();
      publisher.update(mesh);
      for (const v of VIEWS) publisher.buildView(v);
      const t1 = performance.now();
      publishMs.push(t1 - t0);
      publishedAt.push(t1);
    },
    onSynced: () => undefined,
    telemetry: OPTIONS.telemetry,
  });
  try {
    const base = new Map<string, SourceService>();
    for (let i = 0; i < services; i++) {
      const s = service(i, ENDPOINTS);
      base.set(s.name, { endpoints: s.endpoints, policy: s.policy });
    }
    intake.update('k8s', base, true);
    const web = base.get('svc-0')!;
    const added = Array.from({ length: 200 }, (_, i) => endpoint(0, ENDPOINTS + i));
    // Scale-up: pod i becomes ready (HEALTHY) at i × 10 ms. Other services keep their objects.
    const up: SourceSnapshot[] = added.map((_, i) => {
      const snap = new Map(base);
      snap.set('svc-0', { endpoints: sortEndpoints([...web.endpoints, ...added.slice(0, i + 1)]), policy: web.policy });
      return snap;
    });
    // Then the same 200 pods turn DRAINING one by one (a scale-down's first step): each takes traffic away.
    const down: SourceSnapshot[] = added.map((_, i) => {
      const snap = new Map(base);
      const eps = added.map((e, j) => (j <= i ? { ...e, health: 'DRAINING' as const } : e));
      snap.set('svc-0', { endpoints: sortEndpoints([...web.endpoints, ...eps]), policy: web.policy });
      return snap;
    });
    gc();
    const upResult = await burst(intake, publishedAt, publishMs, up, 10, 1200);
    gc();
    const drainResult = await burst(intake, publishedAt, publishMs, down, 10, 300);
    return { up: upResult, drain: drainResult };
  } finally {
    intake.stop();
  }
}

export async function runPipeline(args: BenchArgs): Promise<BenchResult> {
  const S = 1000;
  process.stdout.write(`\nPipeline: ${S} services × ${ENDPOINTS} endpoints in ${VIEWS.length} views (${VIEWS.join(', ')})\n`);

  // Full rebuild from scratch.
  const rebuilds: number[] = [];
  for (let i = 0; i < (args.quick ? 2 : 4); i++) {
    gc();
    rebuilds.push(build(bigMesh(S)).ms);
  }
  const rebuild = stats(rebuilds.slice(1));

  // The fast path at 1,000 services, then at other mesh sizes.
  gc();
  const repeats = args.quick ? 100 : 200;
  const main = fastPath(S, repeats);

  // Structural: a service added, on the same warmed publisher.
  let mesh = main.mesh;
  const structural: number[] = [];
  let reversioned = 0;
  const off = main.cache.subscribe((changes) => (reversioned += changes.reduce((n, c) => n + c.names.length, 0)));
  const adds = args.quick ? 3 : 6;
  for (let k = 0; k < adds; k++) {
    mesh = withService(mesh, service(S + k, ENDPOINTS));
    gc();
    structural.push(time(() => main.publisher.update(mesh)));
  }
  off();
  const structuralStats = stats(structural.slice(1));
  const perAdd = reversioned / adds;

  const sizes = args.quick ? [100, 5000] : [100, 3000, 10000];
  const scaling: FastPath[] = [];
  for (const size of sizes) {
    gc();
    const r = fastPath(size, 100);
    scaling.push({ services: r.services, update: r.update, translate: r.translate, apply: r.apply });
  }
  scaling.push({ services: main.services, update: main.update, translate: main.translate, apply: main.apply });
  scaling.sort((a, b) => a.services - b.services);

  const { up, drain } = await runBursts(S);

  const fast = main.update.p50;
  printTable(
    `publisher.update() on ${S} services × ${ENDPOINTS} endpoints × ${VIEWS.length} views`,
    ['change', 'p50', 'p99', 'max', 'samples', '÷ fast path'],
    [
      ['one service\'s endpoints (fast path)', `${ms(main.update.p50, 3)} ms`, `${ms(main.update.p99, 3)} ms`, `${ms(main.update.max, 3)} ms`, String(main.update.n), '1.00×'],
      ['a service added (structural)', `${ms(structuralStats.p50)} ms`, `${ms(structuralStats.p99)} ms`, `${ms(structuralStats.max)} ms`, String(structuralStats.n), ratio(structuralStats.p50, fast)],
      ['full rebuild from scratch (3 views)', `${ms(rebuild.p50)} ms`, `${ms(rebuild.p99)} ms`, `${ms(rebuild.max)} ms`, String(rebuild.n), ratio(rebuild.p50, fast)],
    ],
  );
  note(`a structural update re-versioned ${fixed(perAdd, 1)} resources per added service across ${VIEWS.length} views (the rest kept their versions).`);

  printTable(
    'Fast path by mesh size: update() and its parts (translate one service × 3 views; cache.apply × 3; the rest)',
    ['services', 'update p50', 'translate p50', 'apply p50', 'rest p50', 'update ÷ 100 svc'],
    scaling.map((r) => [
      String(r.services),
      `${ms(r.update.p50, 3)} ms`,
      `${ms(r.translate.p50, 3)} ms`,
      `${ms(r.apply.p50, 3)} ms`,
      `${ms(Math.max(0, r.update.p50 - r.translate.p50 - r.apply.p50), 3)} ms`,
      ratio(r.update.p50, scaling[0]!.update.p50),
    ]),
  );
  note('"rest" is update() minus its translate and apply parts: the publisher\'s diff of the whole mesh.');

  printTable(
    'Bursts through Intake → Batcher (delay 100 ms, max 1,000 ms) → Publisher, 1,000-service mesh',
    ['burst', 'offers', 'publishes', 'offers ÷ publishes', 'offer→publish p50', 'p99', 'max', 'intake.update p50', 'publish p50'],
    [
      ['200 pods ready, 10 ms apart', up, 'scale-up'] as const,
      ['same 200 DRAINING, 10 ms apart', drain, 'drain'] as const,
    ].map(([name, b]) => [
      name,
      String(b.offers),
      String(b.publishes),
      ratio(b.offers, b.publishes),
      `${ms(b.latency.p50)} ms`,
      `${ms(b.latency.p99)} ms`,
      `${ms(b.latency.max)} ms`,
      `${fixed(b.intakeUpdateUs.p50, 0)} µs`,
      `${ms(b.publishMs.p50, 2)} ms`,
    ]),
  );
  note('intake.update: guard + merge + batcher.offer, without the publish it may trigger; DRAINING takes the fast lane.');

  const at1000 = scaling.find((r) => r.services === S)!;
  const largest = scaling[scaling.length - 1]!;
  return {
    bench: 'pipeline',
    summary: [
      [`fast path: one service, ${S} svc × 3 views`, `${ms(fast, 3)} ms`, `structural ${ms(structuralStats.p50)} ms`, `${ratio(structuralStats.p50, fast)} faster`],
      [`fast path vs full rebuild (${S} svc × 3 views)`, `${ms(fast, 3)} ms`, `rebuild ${ms(rebuild.p50)} ms`, `${ratio(rebuild.p50, fast)} faster`],
      [`fast path growth ${scaling[0]!.services} → ${largest.services} services`, `${ms(largest.update.p50, 3)} ms`, `${ms(scaling[0]!.update.p50, 3)} ms`, ratio(largest.update.p50, scaling[0]!.update.p50)],
      [`fast path at ${S} svc: diff outside translate+apply`, `${ms(Math.max(0, at1000.update.p50 - at1000.translate.p50 - at1000.apply.p50), 3)} ms`, `of ${ms(at1000.update.p50, 3)} ms`, ratio(Math.max(0, at1000.update.p50 - at1000.translate.p50 - at1000.apply.p50), at1000.update.p50)],
      ['200-pod scale-up burst (10 ms apart): publishes', String(up.publishes), '200 offers', `${ratio(up.offers, up.publishes)} coalesced`],
      ['200 pods DRAINING (10 ms apart): publishes', String(drain.publishes), '200 offers (fast lane)', ratio(drain.offers, drain.publishes)],
    ],
    data: { services: S, endpoints: ENDPOINTS, views: VIEWS, fast: main.update, structural: structuralStats, reversionedPerAdd: perAdd, rebuild, scaling, bursts: { up, drain } },
  };
}

if (require.main === module) runBench(runPipeline);
