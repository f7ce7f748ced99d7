/**
 * The view registry: views come only from bounded inputs, at most maxViews exist, idle ones are dropped after a
 * grace period (at once above the memory budget), and views are built outside the caller's turn.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewRegistry, type ViewRegistryOptions } from '../../src/pipeline/views';
import type { NodeInfo } from '../../src/xds/codec';
import { testTelemetry } from '../support/telemetry';

const node = (id: string, zone = '', metadata: Record<string, unknown> = {}): NodeInfo => ({ id, cluster: 'c', zone, region: '', userAgent: 'envoy', metadata });
const turn = () => new Promise((r) => setImmediate(r));

function registry(o: Partial<ViewRegistryOptions> = {}, rss = () => 0) {
  const built: string[] = [];
  const dropped: string[] = [];
  const r = new ViewRegistry(
    { defaultEgress: '127.0.0.1:15001', maxViews: 3, zones: [], idleGraceMs: 30, memoryBudgetBytes: 1000, ...o },
    { build: (v) => built.push(v), drop: (v) => dropped.push(v) },
    testTelemetry(),
    rss,
  );
  return { r, built, dropped };
}

const cases: Record<string, { zones?: string[]; served?: string[]; topology?: string[]; stated: string; viewZone: string }> = {
  'no zone stays no zone': { stated: '', viewZone: '' },
  'a zone of the served endpoints is kept': { served: ['a'], stated: 'a', viewZone: 'a' },
  "a zone of a source's topology (its nodes) is kept before any endpoint is in it": { served: ['a'], topology: ['b'], stated: 'b', viewZone: 'b' },
  'a configured zone is kept before any endpoint is in it': { zones: ['b'], stated: 'b', viewZone: 'b' },
  'an unknown zone maps to the no-zone view': { served: ['a'], stated: 'zone-from-a-liar', viewZone: '' },
};

for (const [name, c] of Object.entries(cases)) {
  test(`views: ${name}`, () => {
    const { r } = registry({ zones: c.zones ?? [] });
    r.setZones('endpoints', new Set(c.served ?? []));
    r.setZones('topology', new Set(c.topology ?? []));
    const res = r.resolve(node('n', c.stated));
    assert.ok('view' in res);
    assert.equal(res.view.split('|')[1], c.viewZone);
    r.stop();
  });
}

test('views: 800 distinct stated zones make one view, built once, after resolve returns', async () => {
  const { r, built } = registry();
  r.setZones('endpoints', new Set(['a']));
  const keys = new Set<string>();
  for (let i = 0; i < 800; i++) {
    const res = r.resolve(node(`n${i}`, `zone-${i}`));
    assert.ok('view' in res, `stream ${i} refused`);
    keys.add(res.view);
  }
  assert.equal(keys.size, 1);
  assert.deepEqual(built, [], 'nothing is translated inside resolve');
  await turn();
  assert.equal(built.length, 1);
  r.stop();
});

test('views: past maxViews a new view is refused; an existing one is still served', () => {
  const { r } = registry({ maxViews: 2 });
  const ingress = (port: number) => ({ HERALD_INGRESS: '0.0.0.0:15006', HERALD_APP_PORT: port });
  assert.ok('view' in r.resolve(node('a', '', ingress(8001))));
  assert.ok('view' in r.resolve(node('b', '', ingress(8002))));
  const third = r.resolve(node('c', '', ingress(8003)));
  assert.ok('refused' in third && /at most 2/.test(third.refused));
  assert.ok('view' in r.resolve(node('d', '', ingress(8001))), 'a proxy of an existing view is served');
  r.stop();
});

test('views: an idle view is dropped after the grace period, unless a stream comes back', async () => {
  const { r, dropped } = registry({ idleGraceMs: 30 });
  const a = r.resolve(node('a'));
  assert.ok('view' in a);
  r.release(a.view);
  await new Promise((res) => setTimeout(res, 10));
  assert.ok('view' in r.resolve(node('a2')), 'reconnect within the grace period');
  await new Promise((res) => setTimeout(res, 60));
  assert.deepEqual(dropped, [], 'in use again: kept');
  r.release(a.view);
  await new Promise((res) => setTimeout(res, 60));
  assert.deepEqual(dropped, [a.view]);
  assert.deepEqual(r.views(), []);
  r.stop();
});

test('views: above the memory budget idle views go at once and no new view is made', () => {
  let rss = 0;
  const { r, dropped } = registry({ memoryBudgetBytes: 1000, maxViews: 10 }, () => rss);
  const ingress = (port: number) => ({ HERALD_INGRESS: '0.0.0.0:15006', HERALD_APP_PORT: port });
  const a = r.resolve(node('a', '', ingress(8001)));
  const b = r.resolve(node('b', '', ingress(8002)));
  assert.ok('view' in a && 'view' in b);
  r.release(a.view);
  rss = 2000;
  const c = r.resolve(node('c', '', ingress(8003)));
  assert.ok('refused' in c && /memory/.test(c.refused));
  assert.deepEqual(dropped, [a.view], 'the idle view went at once');
  r.release(b.view);
  assert.deepEqual(dropped, [a.view, b.view], 'released above budget: dropped at once');
  r.stop();
});
