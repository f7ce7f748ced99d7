/**
 * Real Envoy through Herald, a large scale-down: most hosts of a cluster DRAINING at once.
 * - DRAINING hosts are excluded from load balancing, so they do not push the cluster into panic routing
 *   (which would send requests to every host, DRAINING ones included): lb_healthy_panic stays 0 and the
 *   DRAINING hosts get no request.
 * - How soon after an update the last request reaches a newly DRAINING host, with Envoy's default
 *   update_merge_window (1 s) and with Herald's (0). Measured: EDS DRAINING is not merged either way, even a
 *   second update 250 ms after the first (a host turning DRAINING leaves the load-balancing set, which is not a
 *   mergeable health change); the window delays health-check flips only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, type Backend } from '../support/backends';
import { startTestEnvoy } from '../support/envoy';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { sleep, waitFor } from '../support/wait';

const checks = { healthCheck: { intervalMs: 500, noTrafficIntervalMs: 500, timeoutMs: 1000 } };

test('6 of 10 hosts DRAINING: no panic routing, no request to a DRAINING host, applied at once', async (t) => {
  const backends: Backend[] = await Promise.all(Array.from({ length: 10 }, (_, i) => startBackend(`b${i}`)));
  const spec = (drainFrom: number, window: number | undefined): ServiceSpec[] =>
    ['merged', 'prompt'].map((name) => ({
      name,
      policy: { ...checks, ...(name === 'merged' ? { updateMergeWindowMs: 1000 } : window === undefined ? {} : { updateMergeWindowMs: window }) },
      endpoints: backends.map((b, i) => ({ address: '127.0.0.1', port: b.port, health: i >= drainFrom ? 'DRAINING' : 'HEALTHY' })),
    }));
  const h = await startTestHerald(spec(10, undefined));
  const envoy = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'delta', nodeId: 'panic-1' });
  t.after(async () => {
    await envoy.stop();
    await h.stop();
    await Promise.all(backends.map((b) => b.close()));
  });
  for (const c of ['merged', 'prompt']) {
    await waitFor(`${c}: 10 hosts checked healthy`, async () => [...(await envoy.hosts(`${c}.default`)).values()].filter((s) => !s.healthStatus.failed_active_health_check).length === 10);
  }
  await sleep(1200); // let any merged health update reach the load balancer
  const panicBefore = { merged: await envoy.stat('cluster.merged.default.lb_healthy_panic'), prompt: await envoy.stat('cluster.prompt.default.lb_healthy_panic') };

  // Continuous traffic to both clusters; record when each request started and who answered.
  const seen: Array<{ cluster: string; at: number; backend: string }> = [];
  let running = true;
  const loops = ['merged', 'prompt'].map(async (cluster) => {
    while (running) {
      const at = Date.now();
      const r = await envoy.get(cluster);
      seen.push({ cluster, at, backend: r.backend ?? `status ${r.status}` });
    }
  });
  await sleep(300);
  h.writeServices(spec(5, undefined));
  await sleep(250);
  // The update under test: b4 joins the DRAINING hosts a moment after the first batch did.
  const pushedAt = Date.now();
  h.writeServices(spec(4, undefined));
  await sleep(2000);
  running = false;
  await Promise.all(loops);

  const draining = new Set([backends[4]!.name]);
  const lag: Record<string, number> = {};
  for (const c of ['merged', 'prompt']) {
    const hits = seen.filter((s) => s.cluster === c && draining.has(s.backend) && s.at >= pushedAt);
    lag[c] = hits.length ? Math.max(...hits.map((s) => s.at)) - pushedAt : 0;
    const after = seen.filter((s) => s.cluster === c && s.at >= pushedAt + 1500);
    assert.ok(after.length > 20);
    const allDraining = new Set(backends.slice(4).map((b) => b.name));
    assert.ok(after.every((s) => !allDraining.has(s.backend)), `${c}: no request reaches a DRAINING host once the updates applied`);
    assert.ok(seen.filter((s) => s.cluster === c).every((s) => !s.backend.startsWith('status')), `${c}: every request succeeded`);
  }
  const panics = { merged: (await envoy.stat('cluster.merged.default.lb_healthy_panic'))! - panicBefore.merged!, prompt: (await envoy.stat('cluster.prompt.default.lb_healthy_panic'))! - panicBefore.prompt! };
  t.diagnostic(`last request to b4 after its DRAINING update (250 ms after the previous one): merge window 1 s ${lag.merged} ms, Herald's default ${lag.prompt} ms; lb_healthy_panic ${JSON.stringify(panics)}`);
  assert.deepEqual(panics, { merged: 0, prompt: 0 }, '60% DRAINING does not trigger panic routing');
  for (const c of ['merged', 'prompt']) assert.ok(lag[c]! < 500, `${c}: DRAINING applies at once (last hit ${lag[c]} ms after the push)`);
});
