/**
 * Real Envoy through Herald, scale-down:
 * - a DRAINING endpoint gets no new requests while a slow request already on it completes;
 * - a DRAINING endpoint then removed from EDS is dropped at once;
 * - an endpoint removed from EDS while it still passes its health checks is dropped at once with
 *   ignore_health_on_host_removal (the default), and is kept, still serving, without it.
 * Health checks every 500 ms keep every host passing throughout: only EDS can take a host out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, type Backend } from '../support/backends';
import { startTestEnvoy } from '../support/envoy';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { sleep, waitFor } from '../support/wait';

const checks = { healthCheck: { intervalMs: 500, noTrafficIntervalMs: 500, timeoutMs: 1000 } };
const ep = (b: Backend, health = 'HEALTHY') => ({ address: '127.0.0.1', port: b.port, health });
const key = (b: Backend) => `127.0.0.1:${b.port}`;

test('DRAINING stops new requests and lets in-flight ones finish; removal drops a healthy host at once', async (t) => {
  const [a, b, c, d, e] = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => startBackend(n)));
  const all = [a!, b!, c!, d!, e!];
  const spec = (web: object[], sticky: object[]): ServiceSpec[] => [
    { name: 'web', policy: checks, endpoints: web as ServiceSpec['endpoints'] },
    { name: 'sticky', policy: { ...checks, ignoreHealthOnHostRemoval: false }, endpoints: sticky as ServiceSpec['endpoints'] },
  ];
  const h = await startTestHerald(spec([ep(a!), ep(b!), ep(c!)], [ep(d!), ep(e!)]));
  const envoy = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'sotw', nodeId: 'drain-1' });
  t.after(async () => {
    await envoy.stop();
    await h.stop();
    await Promise.all(all.map((x) => x.close()));
  });
  const healthyHosts = async (cluster: string) =>
    [...(await envoy.hosts(cluster))].filter(([, s]) => !s.healthStatus.failed_active_health_check && s.healthStatus.eds_health_status === 'HEALTHY').length;
  await waitFor('web: 3 healthy hosts', async () => (await healthyHosts('web.default')) === 3);
  await waitFor('sticky: 2 healthy hosts', async () => (await healthyHosts('sticky.default')) === 2);

  // Three slow requests, round robin: one lands on each web host, a among them.
  const slow = [0, 1, 2].map(() => envoy.get('web', '/slow?delayMs=3000'));
  await waitFor('a slow request in flight on a', () => a!.inflight > 0, 2_000, 10);

  // a goes DRAINING.
  let started = Date.now();
  h.writeServices(spec([ep(a!, 'DRAINING'), ep(b!), ep(c!)], [ep(d!), ep(e!)]));
  await waitFor('Envoy to see a DRAINING', async () => (await envoy.hosts('web.default')).get(key(a!))?.healthStatus.eds_health_status === 'DRAINING', 5_000, 10);
  const drainingMs = Date.now() - started;
  const aBefore = a!.hits.get('/') ?? 0;
  for (let i = 0; i < 30; i++) assert.equal((await envoy.get('web')).status, 200);
  assert.equal((a!.hits.get('/') ?? 0) - aBefore, 0, 'a DRAINING host gets no new requests');
  assert.ok((b!.hits.get('/') ?? 0) + (c!.hits.get('/') ?? 0) >= 30, 'b and c served them');
  assert.equal(a!.inflight, 1, 'the slow request on a is still in flight');
  const done = await Promise.all(slow);
  assert.deepEqual(done.map((r) => r.status), [200, 200, 200], 'in-flight requests complete, the one on the DRAINING host included');
  assert.ok(done.some((r) => r.backend === 'a'));

  // DRAINING, then removed: gone at once (a still passes its health checks).
  started = Date.now();
  h.writeServices(spec([ep(b!), ep(c!)], [ep(d!), ep(e!)]));
  await waitFor('a removed from Envoy', async () => !(await envoy.hosts('web.default')).has(key(a!)), 5_000, 10);
  const drainedRemovalMs = Date.now() - started;

  // HEALTHY and removed while still passing health checks: with ignore_health_on_host_removal, gone at once;
  // without it (sticky), kept and still routed to. Both edits in one write.
  started = Date.now();
  h.writeServices(spec([ep(c!)], [ep(e!)]));
  await waitFor('b removed from Envoy', async () => !(await envoy.hosts('web.default')).has(key(b!)), 5_000, 10);
  const healthyRemovalMs = Date.now() - started;
  await waitFor('Envoy to take d out of EDS (pending removal)', async () => (await envoy.hosts('sticky.default')).get(key(d!))?.healthStatus.pending_dynamic_removal === true, 5_000, 10);
  await sleep(2000); // four health-check intervals: d keeps passing them
  const stuck = (await envoy.hosts('sticky.default')).get(key(d!));
  assert.ok(stuck, 'without ignore_health_on_host_removal a removed host that passes health checks stays');
  assert.equal(stuck.healthStatus.pending_dynamic_removal, true, 'Envoy marks it pending removal');
  const dBefore = d!.hits.get('/') ?? 0;
  for (let i = 0; i < 10; i++) await envoy.get('sticky');
  const dServed = (d!.hits.get('/') ?? 0) - dBefore;
  assert.ok(dServed > 0, `and it still receives traffic (${dServed} of 10)`);
  const bBefore = b!.hits.get('/') ?? 0;
  for (let i = 0; i < 10; i++) assert.equal((await envoy.get('web')).backend, 'c');
  assert.equal((b!.hits.get('/') ?? 0) - bBefore, 0);

  // When the kept host finally fails a health check, Envoy drops it.
  d!.setHealthy(false);
  await waitFor('d to go once it fails a health check', async () => !(await envoy.hosts('sticky.default')).has(key(d!)), 5_000, 20);

  t.diagnostic(`file edit → Envoy sees DRAINING: ${drainingMs} ms; DRAINING host removed: ${drainedRemovalMs} ms; healthy host removed: ${healthyRemovalMs} ms; without the flag a removed healthy host stayed ≥ 2 s and served ${dServed}/10 requests`);
});
