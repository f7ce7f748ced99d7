/**
 * The publisher over a real XdsCache (wrapped only to record the batches it is given): views are built only once
 * serving; the endpoint fast path sends one ClusterLoadAssignment per changed service per view; anything else
 * re-translates every view; a rejected resource keeps its previous version; the served zones are reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Publisher, publisherMetrics } from '../../src/pipeline/publisher';
import { XdsCache, type ApplyResult, type KindUpdate } from '../../src/xds/cache';
import { testTelemetry } from '../support/telemetry';
import { viewKey } from '../../src/translate/view';
import type { Endpoint, Mesh, Service } from '../../src/model/types';

/** A real cache that remembers what each apply was handed: `view: kind[names]` per kind. */
class RecordingCache extends XdsCache {
  readonly batches: string[][] = [];
  override apply(view: string, batch: readonly KindUpdate[]): ApplyResult {
    this.batches.push(batch.map((u) => `${view === SIDECAR ? 'sidecar' : view === GRPC ? 'grpc' : view}: ${u.kind}${u.replace ? '*' : ''}[${(u.upsert ?? []).map((r) => r.name).join(',')}]`));
    return super.apply(view, batch);
  }
  take(): string[][] {
    return this.batches.splice(0);
  }
}

const SIDECAR = viewKey({ flavor: 'envoy', zone: '', egress: '127.0.0.1:15001' });
const GRPC = viewKey({ flavor: 'grpc', zone: '', egress: '' });

const ep = (n: number, zone = '', weight = 1): Endpoint => ({ address: `10.0.0.${n}`, port: 8080, health: 'HEALTHY', zone, weight, source: 's', labels: {} });
const service = (name: string, endpoints: Endpoint[], policy: Service['policy'] = {}): Service => ({ name, endpoints, policy });
const meshOf = (...services: Service[]): Mesh => ({ services: new Map(services.map((s) => [s.name, s])) });

function serving(zones: Array<ReadonlySet<string>> = []) {
  const cache = new RecordingCache('t');
  const telemetry = testTelemetry();
  const p = new Publisher(cache, { onZones: (z) => zones.push(new Set(z)), telemetry });
  return { cache, p, metrics: publisherMetrics(telemetry.metrics) };
}

test('publisher: no view is built before startServing; wanted views are built then, later ones at once', () => {
  const { cache, p } = serving();
  p.buildView(SIDECAR);
  p.update(meshOf(service('web', [ep(1)])));
  assert.equal(p.serving, false);
  assert.deepEqual(cache.viewNames(), []);
  assert.deepEqual(cache.take(), [], 'the cache saw nothing');
  p.startServing();
  assert.equal(p.serving, true);
  assert.deepEqual(cache.viewNames(), [SIDECAR]);
  assert.deepEqual(cache.take(), [['sidecar: endpoint*[web]', 'sidecar: cluster*[web]', 'sidecar: route*[egress]', 'sidecar: listener*[egress]']]);
  assert.ok(cache.resources(SIDECAR, 'endpoint').has('web'), 'built from the mesh published before serving');
  p.buildView(GRPC);
  assert.deepEqual(cache.viewNames(), [SIDECAR, GRPC]);
  p.buildView(GRPC);
  assert.equal(cache.take().length, 1, 'an existing view is not rebuilt');
  p.dropView(GRPC);
  assert.deepEqual(cache.viewNames(), [SIDECAR]);
});

interface PathCase {
  readonly next: (web: Service, api: Service) => Mesh;
  readonly batches: string[][];
  readonly path: 'endpoints' | 'full' | 'none';
}

const pathCases: Record<string, PathCase> = {
  'an endpoint change takes the fast path: one assignment per changed service per view': {
    next: (web, api) => meshOf(service('web', [ep(1), ep(2)], web.policy), api),
    batches: [['sidecar: endpoint[web]'], ['grpc: endpoint[web]']],
    path: 'endpoints',
  },
  'endpoint changes of two services go in one batch per view': {
    next: (web, api) => meshOf(service('api', [ep(4)], api.policy), service('web', [ep(3)], web.policy)),
    batches: [['sidecar: endpoint[api,web]'], ['grpc: endpoint[api,web]']],
    path: 'endpoints',
  },
  'a new policy object equal to the old one is still the fast path': {
    next: (_web, api) => meshOf(service('web', [ep(2)], { connectTimeoutMs: 100 }), api),
    batches: [['sidecar: endpoint[web]'], ['grpc: endpoint[web]']],
    path: 'endpoints',
  },
  'a service added re-translates every view': {
    next: (web, api) => meshOf(web, api, service('db', [ep(9)])),
    batches: [
      ['sidecar: endpoint*[api,db,web]', 'sidecar: cluster*[api,db,web]', 'sidecar: route*[egress]', 'sidecar: listener*[egress]'],
      ['grpc: endpoint*[api,db,web]', 'grpc: cluster*[api,db,web]', 'grpc: route*[api,db,web]', 'grpc: listener*[api,db,web]'],
    ],
    path: 'full',
  },
  'a service removed re-translates every view': {
    next: (web) => meshOf(web),
    batches: [
      ['sidecar: endpoint*[web]', 'sidecar: cluster*[web]', 'sidecar: route*[egress]', 'sidecar: listener*[egress]'],
      ['grpc: endpoint*[web]', 'grpc: cluster*[web]', 'grpc: route*[web]', 'grpc: listener*[web]'],
    ],
    path: 'full',
  },
  'a policy change re-translates every view': {
    next: (web, api) => meshOf(service('web', [...web.endpoints], { connectTimeoutMs: 250 }), api),
    batches: [
      ['sidecar: endpoint*[api,web]', 'sidecar: cluster*[api,web]', 'sidecar: route*[egress]', 'sidecar: listener*[egress]'],
      ['grpc: endpoint*[api,web]', 'grpc: cluster*[api,web]', 'grpc: route*[api,web]', 'grpc: listener*[api,web]'],
    ],
    path: 'full',
  },
  'the same services in a new mesh object: nothing is sent': {
    next: (web, api) => meshOf(web, api),
    batches: [],
    path: 'none',
  },
};

for (const [name, c] of Object.entries(pathCases)) {
  test(`publisher path: ${name}`, () => {
    const { cache, p, metrics } = serving();
    const publishes = metrics.publishes;
    const web = service('web', [ep(1)], { connectTimeoutMs: 100 });
    const api = service('api', [ep(5)]);
    p.update(meshOf(web, api));
    p.startServing();
    p.buildView(SIDECAR);
    p.buildView(GRPC);
    cache.take();
    const versions = (view: string) => Object.fromEntries([...cache.resources(view, 'cluster')].map(([n, r]) => [n, r.version]));
    const clustersBefore = versions(SIDECAR);
    const before = { endpoints: publishes.get({ path: 'endpoints' }), full: publishes.get({ path: 'full' }) };
    const next = c.next(web, api);
    p.update(next);
    assert.deepEqual(cache.take(), c.batches);
    assert.equal(p.current, next);
    assert.equal(publishes.get({ path: 'endpoints' }) - before.endpoints, c.path === 'endpoints' ? 1 : 0);
    assert.equal(publishes.get({ path: 'full' }) - before.full, c.path === 'full' ? 1 : 0);
    // Whatever the path, a cluster whose bytes did not change keeps its version.
    const after = versions(SIDECAR);
    if (next.services.get('api') === api) assert.equal(after.api, clustersBefore.api);
  });
}

test('publisher: a rejected resource keeps its previous version, is counted, and the next update flows', () => {
  const { cache, p, metrics } = serving();
  const rejected = metrics.rejected;
  const api = service('api', [ep(5)]);
  p.update(meshOf(service('web', [ep(1)]), api));
  p.startServing();
  p.buildView(SIDECAR);
  const good = cache.resources(SIDECAR, 'endpoint').get('web')!;
  const before = rejected.get();
  p.update(meshOf(service('web', [ep(1), ep(2, '', 1.5)]), api)); // a weight no uint32 holds
  assert.equal(rejected.get() - before, 1);
  assert.equal(cache.resources(SIDECAR, 'endpoint').get('web'), good, 'the previous assignment stays served');
  p.update(meshOf(service('web', [ep(1), ep(3)]), api));
  const now = cache.resources(SIDECAR, 'endpoint').get('web')!;
  assert.notEqual(now.version, good.version, 'the next valid update goes through');
  assert.equal(rejected.get() - before, 1);
});

test('publisher: the zones of the served endpoints are reported after a publish, only when they change', () => {
  const zones: Array<ReadonlySet<string>> = [];
  const { p } = serving(zones);
  const web = service('web', [ep(1, 'a'), ep(2, 'b'), ep(3)]);
  p.update(meshOf(web));
  p.startServing();
  p.buildView(SIDECAR);
  assert.deepEqual(zones.map((z) => [...z].sort()), [['a', 'b']]);
  p.update(meshOf(service('web', [ep(1, 'a'), ep(2, 'b'), ep(4, 'c')], web.policy)));
  assert.deepEqual(zones.map((z) => [...z].sort()), [['a', 'b'], ['a', 'b', 'c']], 'a new zone on the fast path');
  p.update(meshOf(service('web', [ep(1, 'a'), ep(4, 'c')], web.policy)));
  assert.equal(zones.length, 2, 'zones only grow on the fast path: nothing to report');
  p.update(meshOf(service('web', [ep(1, 'a')], { connectTimeoutMs: 100 })));
  assert.deepEqual([...zones.at(-1)!].sort(), ['a'], 'a full publish forgets zones without endpoints');
});
