/**
 * Real Envoy through Herald, zone-aware routing: a proxy in zone a sends a zone-aware service's traffic to zone
 * a only, while zone a is healthy; when one of its two hosts fails its health checks part of the traffic
 * spills to the other zones (priority 0 at 50% health × overprovisioning 1.4 keeps ~70%); when both fail,
 * all of it; when they recover, it comes back. A proxy in zone d, where the service has no endpoints, spreads
 * over every zone (one priority, no gap). Health checks every 300 ms keep it quick.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, type Backend } from '../support/backends';
import { startTestEnvoy, type TestEnvoy } from '../support/envoy';
import { startTestHerald } from '../support/herald';
import { sleep, waitFor } from '../support/wait';

const checks = { healthCheck: { intervalMs: 300, noTrafficIntervalMs: 300, timeoutMs: 1000, unhealthyThreshold: 1, healthyThreshold: 1 } };

async function spread(envoy: TestEnvoy, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await envoy.get('web');
    assert.equal(r.status, 200);
    counts.set(r.backend!, (counts.get(r.backend!) ?? 0) + 1);
  }
  return counts;
}

const share = (counts: Map<string, number>, names: string[]) => names.reduce((s, n) => s + (counts.get(n) ?? 0), 0);

test('zone-aware: in-zone while healthy, spill-over on failure, back on recovery; no local zone → everywhere', async (t) => {
  const zones: Record<string, string> = { a1: 'a', a2: 'a', b1: 'b', b2: 'b', c1: 'c' };
  const backends = new Map<string, Backend>();
  let i = 1;
  for (const name of Object.keys(zones)) backends.set(name, await startBackend(name, `127.0.3.${i++}`));
  const endpoints = [...backends].map(([name, b], j) => ({ address: `127.0.3.${j + 1}`, port: b.port, zone: zones[name]! }));
  const h = await startTestHerald([{ name: 'web', policy: { ...checks, zoneAware: true }, endpoints }]);
  const inA = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'sotw', nodeId: 'zone-a', zone: 'a' });
  const inD = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'delta', nodeId: 'zone-d', zone: 'd' });
  t.after(async () => {
    await inA.stop();
    await inD.stop();
    await h.stop();
    await Promise.all([...backends.values()].map((b) => b.close()));
  });
  const allHealthy = async (e: TestEnvoy) => [...(await e.hosts('web.default')).values()].every((s) => !s.healthStatus.failed_active_health_check);
  await waitFor('every host healthy in both proxies', async () => (await allHealthy(inA)) && (await allHealthy(inD)));

  // Priorities as Envoy holds them: zone a at 0, the rest at 1 for the zone-a proxy; all 0 for zone d.
  const prio = async (e: TestEnvoy) => Object.fromEntries([...(await e.hosts('web.default')).values()].map((s) => [s.zone, s.priority]));
  assert.deepEqual(await prio(inA), { a: 0, b: 1, c: 1 });
  assert.deepEqual(await prio(inD), { a: 0, b: 0, c: 0 });

  // Healthy zone a: everything stays in zone a.
  let counts = await spread(inA, 40);
  assert.equal(share(counts, ['a1', 'a2']), 40, `in-zone only: ${JSON.stringify([...counts])}`);
  assert.ok((counts.get('a1') ?? 0) > 0 && (counts.get('a2') ?? 0) > 0);

  // The zone-d proxy has no local endpoints: every zone gets traffic.
  counts = await spread(inD, 50);
  assert.deepEqual([...counts.keys()].sort(), ['a1', 'a2', 'b1', 'b2', 'c1'], 'no zone preference without local endpoints');

  // One of zone a's two hosts fails: 50% healthy × 1.4 = 70% stays in zone a, the rest spills over.
  backends.get('a1')!.setHealthy(false);
  await waitFor('a1 unhealthy', async () => (await inA.hosts('web.default')).get(`127.0.3.1:${backends.get('a1')!.port}`)?.healthStatus.failed_active_health_check === true, 3_000, 20);
  await sleep(1100); // the load balancer sees health changes up to update_merge_window (1 s) later
  counts = await spread(inA, 200);
  const partialInZone = share(counts, ['a2']);
  assert.equal(counts.get('a1') ?? 0, 0, 'the failed host gets nothing');
  assert.ok(partialInZone >= 110 && partialInZone <= 170, `about 70% stays in zone (${partialInZone}/200)`);

  // Both fail: everything spills to zones b and c, without a failed request.
  let started = Date.now();
  backends.get('a2')!.setHealthy(false);
  await waitFor('10 requests in a row out of zone a', async () => share(await spread(inA, 10), ['b1', 'b2', 'c1']) === 10, 5_000, 10);
  const spillMs = Date.now() - started;
  counts = await spread(inA, 40);
  assert.equal(share(counts, ['b1', 'b2', 'c1']), 40, `all spilled over: ${JSON.stringify([...counts])}`);
  assert.equal(await inA.stat('cluster.web.default.lb_healthy_panic'), 0, 'spill-over is not panic: the other priority is healthy');

  // Recovery: back in zone.
  started = Date.now();
  backends.get('a1')!.setHealthy(true);
  backends.get('a2')!.setHealthy(true);
  await waitFor('10 requests in a row in zone a', async () => share(await spread(inA, 10), ['a1', 'a2']) === 10, 5_000, 10);
  const backMs = Date.now() - started;
  counts = await spread(inA, 40);
  assert.equal(share(counts, ['a1', 'a2']), 40, `back in zone: ${JSON.stringify([...counts])}`);
  t.diagnostic(`one of two in-zone hosts down: ${partialInZone}/200 stayed in zone; zone a down → all traffic out of zone ${spillMs} ms; recovered → all back in zone ${backMs} ms (health checks every 300 ms)`);
});
