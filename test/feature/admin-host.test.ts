/**
 * The admin API answers only Hosts it knows (DNS rebinding): loopback names, the bound address and
 * admin.allowedHosts; anything else gets 403, counted. The probes listener serves only health and metrics, to
 * any Host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { AdsClient, typeUrl } from '../support/ads-client';
import { startTestHerald } from '../support/herald';

function get(port: number, path: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, setHost: host === undefined, headers: host === undefined ? {} : { host } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('admin: Host header check against DNS rebinding; the probes listener serves health and metrics only', async (t) => {
  const h = await startTestHerald([{ name: 'web', endpoints: [{ address: '10.0.0.1', port: 80 }] }], {
    config: { admin: { address: '127.0.0.1', port: 0, allowedHosts: ['herald-admin.internal'] }, probes: { address: '127.0.0.1', port: 0 } },
  });
  t.after(() => h.stop());
  const cases: Record<string, [string | undefined, number]> = {
    'localhost with port': [`localhost:${h.adminPort}`, 200],
    '127.0.0.1': ['127.0.0.1', 200],
    '[::1] with port': [`[::1]:${h.adminPort}`, 200],
    'a configured name': ['Herald-Admin.Internal:80', 200],
    'an attacker name (rebinding)': ['evil.example', 403],
    'an attacker name with port': [`evil.example:${h.adminPort}`, 403],
    'a lookalike': ['localhost.evil.example', 403],
  };
  for (const [name, [host, status]] of Object.entries(cases)) {
    assert.equal((await get(h.adminPort, '/proxies', host)).status, status, name);
  }
  const metrics = (await get(h.adminPort, '/metrics', 'localhost')).body;
  assert.match(metrics, /herald_admin_host_refused_total 3/);

  assert.ok(h.probesPort);
  assert.equal((await get(h.probesPort!, '/readyz', '10.1.2.3:18003')).status, 200, 'the kubelet probes by pod IP');
  assert.equal((await get(h.probesPort!, '/healthz', 'anything')).status, 200);
  assert.equal((await get(h.probesPort!, '/metrics', '10.1.2.3')).status, 200);
  for (const p of ['/proxies', '/services', '/holds']) assert.equal((await get(h.probesPort!, p, 'localhost')).status, 404, `${p} not on the probes listener`);
});

test('admin /proxies comes in pages (?limit=, then ?after= the page\'s next) and filters by ?proxy=; a bad cursor is 400', async (t) => {
  const h = await startTestHerald([{ name: 'web', endpoints: [{ address: '10.0.0.1', port: 80 }] }]);
  const clients = Array.from({ length: 5 }, () => new AdsClient(h.xdsPort, 'sotw'));
  t.after(async () => {
    for (const c of clients) c.close();
    await h.stop();
  });
  clients.forEach((c, i) => c.send({ node: { id: `p${i}`, cluster: 'test' }, typeUrl: typeUrl('cluster') }));
  await Promise.all(clients.map((c) => c.next('cluster')));

  const seen: string[] = [];
  let after = 0;
  for (let page = 0; page < 5; page++) {
    const body = await h.adminGet(`/proxies?limit=2${after ? `&after=${after}` : ''}`);
    seen.push(...body.proxies.map((p: { nodeId: string }) => p.nodeId));
    assert.ok(body.proxies.length <= 2);
    if (body.next === undefined) break;
    assert.equal(body.next, body.proxies.at(-1).streamId, 'the cursor is the last stream of the page');
    after = body.next;
  }
  assert.deepEqual(seen, ['p0', 'p1', 'p2', 'p3', 'p4'], 'every stream once, in the order they connected');
  assert.equal((await h.adminGet('/proxies')).proxies.length, 5, 'the default page (100) holds them all');
  const one = (await h.adminGet('/proxies?proxy=p3')).proxies;
  assert.deepEqual(one.map((p: { nodeId: string }) => p.nodeId), ['p3']);
  assert.deepEqual((await h.adminGet(`/proxies?proxy=${one[0].streamId}`)).proxies.map((p: { nodeId: string }) => p.nodeId), ['p3'], 'by stream id too');
  assert.equal((await get(h.adminPort, '/proxies?after=soon')).status, 400);
});
