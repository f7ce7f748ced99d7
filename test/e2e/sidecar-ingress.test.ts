/**
 * Real Envoy through Herald, the way in: the ingress listener forwards to the local app; a caller's active
 * health checks pass through the sidecar to the app (so they measure the app); and the example manifest's own
 * Envoy preStop command (deploy/example/web.yaml, run here verbatim) fails health checks at once and drains the
 * listeners gracefully: an in-flight request completes, responses carry `connection: close` and
 * `x-envoy-immediate-health-check-fail`, and the listeners close after the drain time.
 *
 * One Envoy plays both roles: it is the sidecar (ingress → app) and the caller (service `self`, whose only
 * endpoint is that ingress listener, actively health-checked).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startBackend } from '../support/backends';
import { httpRequest, startTestEnvoy } from '../support/envoy';
import { startTestHerald } from '../support/herald';
import { freePort } from '../support/ports';
import { repoRoot } from '../support/repo';
import { sleep, waitFor } from '../support/wait';

/** The Envoy sidecar container of the example Deployment, as written in the manifest. */
function exampleEnvoyContainer(): { args: string[]; preStop: string[]; drainSeconds: string } {
  const file = path.join(repoRoot(), 'deploy', 'example', 'web.yaml');
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS());
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const envoy = deployment.spec.template.spec.initContainers.find((c: any) => c.name === 'envoy');
  assert.equal(envoy.restartPolicy, 'Always', 'Envoy is a native sidecar');
  const drainSeconds = envoy.env.find((e: any) => e.name === 'DRAIN_SECONDS').value;
  return { args: envoy.args, preStop: envoy.lifecycle.preStop.exec.command, drainSeconds };
}

const healthy = (h: { healthStatus: any } | undefined) => !!h && !h.healthStatus.failed_active_health_check && h.healthStatus.eds_health_status === 'HEALTHY';

test('ingress forwards to the app, health checks pass through it, and the manifest preStop drains gracefully', async (t) => {
  const manifest = exampleEnvoyContainer();
  // The manifest's Envoy flags, minus the bootstrap path (the test writes its own) and with a 1 s drain.
  const drainSeconds = 1;
  const flags = manifest.args.filter((a, i, all) => a !== '-c' && all[i - 1] !== '-c').map((a) => a.replace('$(DRAIN_SECONDS)', String(drainSeconds)));
  assert.deepEqual(flags, ['--drain-time-s', '1', '--drain-strategy', 'immediate']);

  const app = await startBackend('app');
  const ingressPort = await freePort();
  const fastChecks = { healthCheck: { intervalMs: 300, noTrafficIntervalMs: 300, timeoutMs: 1000, unhealthyThreshold: 1, healthyThreshold: 1 } };
  const h = await startTestHerald([{ name: 'self', policy: fastChecks, endpoints: [{ address: '127.0.0.1', port: ingressPort }] }]);
  const envoy = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'delta', nodeId: 'sidecar-1', ingress: { port: ingressPort, appPort: app.port }, extraArgs: flags });
  t.after(async () => {
    await envoy.stop();
    await h.stop();
    await app.close();
  });

  // Config: the ingress listener and local_app, as Envoy holds them.
  const dump = await envoy.configDump();
  const listeners = dump.configs.find((c: any) => c['@type'].endsWith('.ListenersConfigDump')).dynamic_listeners;
  const ingress = listeners.find((l: any) => l.name === 'ingress').active_state.listener;
  assert.equal(ingress.traffic_direction, 'INBOUND');
  assert.equal(ingress.address.socket_address.port_value, ingressPort);
  const filters = ingress.filter_chains[0].filters[0].typed_config.http_filters;
  assert.deepEqual(filters.map((f: any) => f.name), ['envoy.filters.http.health_check', 'envoy.filters.http.router']);
  assert.equal(filters[0].typed_config.pass_through_mode, true);
  const clusters = dump.configs.find((c: any) => c['@type'].endsWith('.ClustersConfigDump')).dynamic_active_clusters;
  const localApp = clusters.find((c: any) => c.cluster.name === 'local_app').cluster;
  assert.equal(localApp.type, 'STATIC');
  assert.equal(localApp.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, app.port);

  // The ingress forwards any path and Host to the app.
  const direct = await httpRequest(ingressPort, '/orders/7', { host: 'anything' });
  assert.equal(direct.status, 200);
  assert.equal(direct.backend, 'app');
  assert.ok((app.hits.get('/orders/7') ?? 0) >= 1);

  // The caller's active health checks reach the app through the sidecar, and measure it.
  const self = `127.0.0.1:${ingressPort}`;
  await waitFor('self healthy by active health check', async () => healthy((await envoy.hosts('self.default')).get(self)), 10_000);
  const checksBefore = app.hits.get('/healthz') ?? 0;
  await sleep(1000);
  assert.ok((app.hits.get('/healthz') ?? 0) - checksBefore >= 2, 'health checks arrive at the app through the ingress');
  assert.equal((await envoy.get('self', '/via-egress')).backend, 'app', 'egress → self → ingress → app');

  let started = Date.now();
  app.setHealthy(false);
  await waitFor('self unhealthy once the app fails its health check', async () => (await envoy.hosts('self.default')).get(self)?.healthStatus.failed_active_health_check === true, 5_000, 20);
  const appDownMs = Date.now() - started;
  app.setHealthy(true);
  await waitFor('self healthy again', async () => healthy((await envoy.hosts('self.default')).get(self)), 5_000, 20);

  // Shutdown, exactly as the manifest does it. A slow request is in flight through egress → ingress → app.
  const inFlight = envoy.get('self', '/slow?delayMs=1500');
  await waitFor('the slow request to reach the app', () => app.inflight > 0, 3_000, 10);
  started = Date.now();
  const preStop = spawn(manifest.preStop[0]!, manifest.preStop.slice(1), {
    env: { ...process.env, ENVOY_ADMIN_PORT: new URL(envoy.adminUrl).port, DRAIN_SECONDS: String(drainSeconds) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let preStopOut = '';
  preStop.stdout.on('data', (c) => (preStopOut += c));
  preStop.stderr.on('data', (c) => (preStopOut += c));
  const preStopExit = new Promise<number | null>((r) => preStop.once('exit', (code) => r(code)));

  await waitFor('the health check to fail through the ingress', async () => (await httpRequest(ingressPort, '/healthz')).status === 503, 2_000, 10);
  const hcFailMs = Date.now() - started;
  const appChecks = app.hits.get('/healthz') ?? 0;
  const during = await httpRequest(ingressPort, '/during-drain');
  assert.equal(during.status, 200, 'normal requests are still served while draining');
  assert.equal(during.headers['x-envoy-immediate-health-check-fail'], 'true', 'every response tells callers to drop this host now');
  assert.equal(during.headers.connection, 'close', 'HTTP/1.1 connections are closed after the response');
  await waitFor('the caller to drop self at once', async () => (await envoy.hosts('self.default')).get(self)?.healthStatus.failed_active_health_check === true, 2_000, 10);
  const callerDroppedMs = Date.now() - started;
  assert.equal((await httpRequest(ingressPort, '/healthz')).status, 503);
  assert.equal(app.hits.get('/healthz') ?? 0, appChecks, 'a failing Envoy answers health checks itself, without asking the app');

  const slow = await inFlight;
  assert.equal(slow.status, 200, 'the in-flight request completes');
  assert.equal(slow.backend, 'app');

  assert.equal(await preStopExit, 0, `preStop failed: ${preStopOut}`);
  assert.deepEqual(preStopOut.trim().split('\n').map((l) => l.trim()), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'], 'both admin calls succeeded');
  await waitFor('the listeners to close after the drain time', async () => {
    try {
      await httpRequest(ingressPort, '/after');
      return false;
    } catch (err) {
      return /ECONNREFUSED/.test((err as Error).message);
    }
  }, 3_000, 20);
  const closedMs = Date.now() - started;
  assert.ok(closedMs >= drainSeconds * 1000 - 100, `listeners closed after the drain time (${closedMs} ms)`);
  t.diagnostic(`app failing → caller marks it unhealthy: ${appDownMs} ms; preStop → ingress health check 503: ${hcFailMs} ms; → caller drops host: ${callerDroppedMs} ms; → listeners closed: ${closedMs} ms (drain ${drainSeconds} s)`);
});
