/**
 * Views that clients cannot multiply, over real gRPC: proxies stating zones Herald does not know share the no-zone
 * view; past the view limit a new view's stream ends with RESOURCE_EXHAUSTED while proxies of existing views are
 * still served.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AdsClient, typeUrl } from '../support/ads-client';
import { startTestHerald } from '../support/herald';
import { VIEW_DEFAULTS } from '../../src/pipeline/views';

const MESH = [{ name: 'alpha', endpoints: [{ address: '10.0.0.1', port: 80, zone: 'a' }] }];

test('200 proxies stating 200 unknown zones share one view; a proxy in a served zone gets its own', async (t) => {
  const h = await startTestHerald(MESH);
  const clients: AdsClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await h.stop();
  });
  for (let i = 0; i < 200; i++) {
    const c = new AdsClient(h.xdsPort, 'delta');
    clients.push(c);
    c.send({ node: { id: `liar-${i}`, locality: { zone: `zone-${i}` } }, typeUrl: typeUrl('cluster') });
  }
  const inZone = new AdsClient(h.xdsPort, 'delta');
  clients.push(inZone);
  inZone.send({ node: { id: 'honest', locality: { zone: 'a' } }, typeUrl: typeUrl('cluster') });
  await Promise.all(clients.map((c) => c.next('cluster')));
  assert.deepEqual(h.views.views().map((v) => v.split('|')[1]).sort(), ['', 'a']);
  const proxies = (await h.adminGet('/proxies')).proxies as Array<{ nodeId: string; view: string; zone: string }>;
  assert.equal(new Set(proxies.filter((p) => p.nodeId.startsWith('liar-')).map((p) => p.view)).size, 1);
  assert.equal(proxies.find((p) => p.nodeId === 'liar-7')!.zone, 'zone-7', '/proxies still shows what the node stated');
});

test('past the view limit a new view is refused with RESOURCE_EXHAUSTED; existing views keep serving', async (t) => {
  const h = await startTestHerald(MESH);
  const clients: AdsClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await h.stop();
  });
  const open = (i: number) => {
    const c = new AdsClient(h.xdsPort, 'sotw');
    clients.push(c);
    c.send({ node: { id: `app-${i}`, metadata: { fields: { HERALD_INGRESS: { stringValue: '0.0.0.0:15006' }, HERALD_APP_PORT: { stringValue: String(10000 + i) } } } }, typeUrl: typeUrl('cluster') });
    return c;
  };
  const first = Array.from({ length: VIEW_DEFAULTS.maxViews }, (_, i) => open(i));
  await Promise.all(first.map((c) => c.next('cluster')));
  const refused = open(VIEW_DEFAULTS.maxViews);
  const status = await refused.ended();
  assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(status.details, /at most 128 distinct views/);
  const again = open(3);
  const cds = await again.next('cluster');
  assert.ok(cds.resources.has('alpha.default'), 'a proxy of an existing view is served');
  const metrics = await (await fetch(`http://127.0.0.1:${h.adminPort}/metrics`)).text();
  assert.match(metrics, /herald_views_refused_total\{reason="max-views"\} [1-9]/);
});
