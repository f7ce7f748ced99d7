/**
 * Hybrid discovery against the real kube-apiserver and the lab kubelet, through to a connected xDS client:
 * scale-up, scale-down with DRAINING before removal, readiness flapping, malformed pods, relist after 410,
 * EndpointSlice modes, a VM → pod migration through the registry, and a 200-pod burst batched into a few pushes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/config';
import { startHerald, type Running } from '../../src/main';
import { EdsWatch, percentile } from '../support/eds-watch';
import { freePort } from '../support/ports';
import { sleep, waitFor } from '../support/wait';
import { kubectlApply, listPods, startLab, waitDeploymentReady, webApp, type Lab } from '../../lab/src/harness';

const TOKEN = 'registry-token';
let lab: Lab;
let herald: Running;
let eds: EdsWatch;
let registryPort: number;

const healthOf = (eps: ReadonlyMap<string, { health: string }>) => [...eps.values()].map((e) => e.health);
const metric = async (re: RegExp) => {
  const text = await (await fetch(`http://127.0.0.1:${herald.adminPort}/metrics`)).text();
  return Number(text.match(re)?.[1] ?? 0);
};

before(async () => {
  lab = await startLab();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-discovery-'));
  fs.writeFileSync(path.join(dir, 'token'), TOKEN);
  registryPort = await freePort();
  const config = parseConfig(
    stringify({
      xds: { port: 0 },
      admin: { port: 0 },
      registry: { port: registryPort, db: 'registry.sqlite', tokenFile: 'token' },
      batching: { delayMs: 100, maxDelayMs: 1000 },
      sources: [
        {
          kind: 'kubernetes',
          name: 'k8s',
          kubeconfig: lab.cp.kubeconfigPath,
          serviceLabel: 'app',
          portName: 'http',
          discovery: 'pods',
          discoveryOverrides: { 'slices-term': 'endpointslices-terminating', 'slices-ready': 'endpointslices-ready' },
        },
        { kind: 'registry', name: 'vms', url: `http://127.0.0.1:${registryPort}`, services: ['legacy'], intervalMs: 200, guard: { holdSeconds: 3 } },
      ],
    }),
    dir,
  );
  herald = await startHerald(config);
  // Resource names of the services of namespace default (`<name>.default`); EdsWatch keys by resource name.
  eds = new EdsWatch(herald.xdsPort, ['web', 'slices-term', 'slices-ready', 'legacy', 'burst'].map((n) => `${n}.default`));
});

after(async () => {
  eds?.close();
  await herald?.stop();
  await lab?.stop();
});

test('an empty cluster counts as synced: Herald serves before any pod exists', async () => {
  await waitFor('Herald /readyz', async () => (await fetch(`http://127.0.0.1:${herald.adminPort}/readyz`)).status === 200, 10_000);
});

test('scale-up: ready pods become HEALTHY endpoints in their node zone', async () => {
  await kubectlApply(lab.cp, webApp('web', { replicas: 3, terminationGracePeriodSeconds: 5, drainMs: 1000 }));
  const pods = await waitDeploymentReady(lab.cp, 'web', 3);
  const u = await eds.until('web.default', (eps) => eps.size === 3 && healthOf(eps).every((h) => h === 'HEALTHY'));
  for (const p of pods) {
    const e = u.endpoints.get(`${p.status!.podIP}:8080`);
    assert.ok(e, `pod ${p.metadata.name} is an endpoint`);
    assert.match(e.zone, /^lab-zone-[abc]$/);
  }
  assert.equal((await (await fetch(`http://127.0.0.1:${herald.adminPort}/readyz`)).status), 200);
});

test('scale-down: DRAINING the moment a pod is deleted, removal only once it is gone', async (t) => {
  await lab.cp.kubectl(['scale', 'deployment/web', '--replicas=10']);
  await waitDeploymentReady(lab.cp, 'web', 10);
  await eds.until('web.default', (eps) => eps.size === 10 && healthOf(eps).every((h) => h === 'HEALTHY'));
  const latencies: number[] = [];
  for (const pod of (await listPods(lab.cp, 'app=web')).slice(0, 10)) {
    const key = `${pod.status!.podIP}:8080`;
    const from = eds.updates('web.default').length;
    const t0 = Date.now();
    await lab.cp.client.delete(`/api/v1/namespaces/default/pods/${pod.metadata.name}`);
    const draining = await eds.until('web.default', (eps) => eps.get(key)?.health === 'DRAINING', 10_000, from);
    latencies.push(draining.at - t0);
    const stillThere = await lab.cp.client.get<any>(`/api/v1/namespaces/default/pods/${pod.metadata.name}`).catch(() => undefined);
    assert.ok(stillThere?.metadata?.deletionTimestamp, 'DRAINING arrived while the pod still existed (terminating)');
    const removed = await eds.until('web.default', (eps) => !eps.has(key), 15_000, from);
    assert.ok(removed.at > draining.at, 'removal comes after DRAINING');
    t.diagnostic(`${pod.metadata.name}: DRAINING after ${draining.at - t0} ms, removed after ${removed.at - t0} ms`);
  }
  t.diagnostic(`delete call → DRAINING at the xDS client: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms over ${latencies.length}`);
  await lab.cp.kubectl(['scale', 'deployment/web', '--replicas=6']);
  await waitDeploymentReady(lab.cp, 'web', 6);
  await eds.until('web.default', (eps) => eps.size === 6 && healthOf(eps).every((h) => h === 'HEALTHY'), 20_000, eds.updates('web.default').length - 1);
});

test('readiness flapping: NotReady keeps the endpoint as UNHEALTHY, Ready makes it HEALTHY again', async () => {
  const [pod] = (await listPods(lab.cp, 'app=web')).filter((p) => !p.metadata.deletionTimestamp && p.status?.podIP);
  const key = `${pod!.status!.podIP}:8080`;
  await eds.until('web.default', (eps) => eps.get(key)?.health === 'HEALTHY');
  await lab.kubelet.setFailure(pod!.metadata.name, { failReadiness: true });
  await eds.until('web.default', (eps) => eps.get(key)?.health === 'UNHEALTHY');
  await lab.kubelet.setFailure(pod!.metadata.name, 'reset');
  await eds.until('web.default', (eps) => eps.get(key)?.health === 'HEALTHY');
});

test('a pod without an IP and a pod with an unparsable port annotation are left out, counted, and harm nothing', async () => {
  const before = await metric(/herald_kube_pods_skipped_total\{reason="malformed"\} (\d+)/);
  const noIp = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-no-ip', labels: { app: 'web' } }, spec: { nodeName: 'no-such-node', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] } };
  const bad = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-bad-port', labels: { app: 'web' }, annotations: { 'herald.io/port': 'nonsense' } }, spec: { containers: [{ name: 'backend', image: 'herald-lab-backend', ports: [{ name: 'http', containerPort: 8080 }] }] } };
  await lab.cp.client.post('/api/v1/namespaces/default/pods', noIp);
  await lab.cp.client.post('/api/v1/namespaces/default/pods', bad);
  await waitFor('the malformed pod to be counted', async () => (await metric(/herald_kube_pods_skipped_total\{reason="malformed"\} (\d+)/)) > before, 15_000);
  assert.ok((await metric(/herald_kube_pods_skipped_total\{reason="no-ip"\} (\d+)/)) > 0);
  const eps = eds.latest('web.default');
  assert.equal(eps.size, 6, 'neither pod entered the mesh');
  for (const name of ['web-no-ip', 'web-bad-port']) await lab.cp.client.delete(`/api/v1/namespaces/default/pods/${name}`, undefined, { gracePeriodSeconds: 0 });
});

test('apiserver restart and etcd compaction: the informer relists after 410 without flapping endpoints', async () => {
  const relistsBefore = await metric(/herald_kube_relists_total\{informer="pods",reason="gone"\} (\d+)/);
  const from = eds.updates('web.default').length;
  const steady = new Set(eds.latest('web.default').keys());
  await lab.cp.restartApiserver();
  await lab.cp.compactEtcd();
  await lab.cp.kubectl(['scale', 'deployment/web', '--replicas=7']);
  await waitDeploymentReady(lab.cp, 'web', 7);
  await eds.until('web.default', (eps) => eps.size === 7, 30_000, from);
  assert.ok((await metric(/herald_kube_relists_total\{informer="pods",reason="gone"\} (\d+)/)) > relistsBefore, 'a relist after 410 Gone happened');
  for (const u of eds.updates('web.default').slice(from)) {
    for (const k of steady) assert.equal(u.endpoints.get(k)?.health, 'HEALTHY', `endpoint ${k} never flapped`);
  }
});

test('EndpointSlice modes: terminating shows DRAINING, ready-only drops the endpoint at once', async (t) => {
  await kubectlApply(lab.cp, webApp('slices-term', { replicas: 2, terminationGracePeriodSeconds: 5, drainMs: 1000 }));
  await kubectlApply(lab.cp, webApp('slices-ready', { replicas: 2, terminationGracePeriodSeconds: 5, drainMs: 1000 }));
  for (const name of ['slices-term', 'slices-ready']) {
    await waitDeploymentReady(lab.cp, name, 2);
    await eds.until(`${name}.default`, (eps) => eps.size === 2 && healthOf(eps).every((h) => h === 'HEALTHY'));
    const [pod] = await listPods(lab.cp, `app=${name}`);
    const key = `${pod!.status!.podIP}:8080`;
    const from = eds.updates(`${name}.default`).length;
    await lab.cp.client.delete(`/api/v1/namespaces/default/pods/${pod!.metadata.name}`);
    const next = await eds.until(`${name}.default`, (eps) => eps.get(key)?.health !== 'HEALTHY', 10_000, from);
    const seen = next.endpoints.get(key)?.health ?? 'removed';
    t.diagnostic(`${name}: the deleted pod's endpoint went to ${seen}`);
    assert.equal(seen, name === 'slices-term' ? 'DRAINING' : 'removed');
  }
});

test('VM → pod migration: registry hosts and pods serve one service, hosts leave one by one', async () => {
  const register = (ip: string) =>
    fetch(`http://127.0.0.1:${registryPort}/v1/registration/legacy`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${TOKEN}` },
      body: new URLSearchParams({ ip, port: '8080', revision: 'vm', tags: JSON.stringify({ az: 'lab-zone-a', region: 'lab', instance_id: ip }) }),
    });
  for (const ip of ['127.3.1.1', '127.3.1.2']) assert.equal((await register(ip)).status, 200);
  await eds.until('legacy.default', (eps) => eps.size === 2);
  await kubectlApply(lab.cp, webApp('legacy', { replicas: 2, terminationGracePeriodSeconds: 5 }));
  await waitDeploymentReady(lab.cp, 'legacy', 2);
  await eds.until('legacy.default', (eps) => eps.size === 4 && healthOf(eps).every((h) => h === 'HEALTHY'));
  const services = (await (await fetch(`http://127.0.0.1:${herald.adminPort}/services`)).json()) as any;
  const legacy = services.services.find((s: any) => s.name === 'default/legacy');
  assert.deepEqual([...new Set(legacy.endpoints.map((e: any) => e.source))].sort(), ['k8s', 'vms']);
  const del = (ip: string) => fetch(`http://127.0.0.1:${registryPort}/v1/registration/legacy/${ip}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
  await del('127.3.1.1');
  await eds.until('legacy.default', (eps) => eps.size === 3 && !eps.has('127.3.1.1:8080'));
  await del('127.3.1.2');
  // The last VM host empties the registry's view of the service: the guard holds that until its timeout (3 s here).
  const done = await eds.until('legacy.default', (eps) => eps.size === 2 && [...eps.keys()].every((k) => k.startsWith('127.1.')), 15_000);
  assert.ok(done);
});

test('a 200-pod burst reaches proxies in a handful of pushes, not 200', async (t) => {
  await lab.cp.client.post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'burst-node', labels: { 'topology.kubernetes.io/zone': 'burst-zone' } } });
  const N = 200;
  const names = Array.from({ length: N }, (_, i) => `burst-${i}`);
  const from = eds.updates('burst.default').length;
  const started = Date.now();
  const pool = async <T>(items: T[], fn: (x: T) => Promise<unknown>, width = 16) => {
    const queue = [...items];
    await Promise.all(Array.from({ length: width }, async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
    }));
  };
  // Play the kubelet for a node the lab kubelet does not run: create each pod bound to it, then report it Running
  // and Ready with an IP, as a kubelet's status update would.
  await pool(names, async (name) => {
    await lab.cp.client.post('/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: 'burst' } },
      spec: { nodeName: 'burst-node', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] },
    });
  });
  await pool(names, async (name) => {
    const i = Number(name.split('-')[1]);
    const now = new Date().toISOString();
    await lab.cp.client.request('PATCH', `/api/v1/namespaces/default/pods/${name}/status`, {
      contentType: 'application/merge-patch+json',
      body: { status: { phase: 'Running', podIP: `127.4.${Math.floor(i / 250)}.${(i % 250) + 1}`, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } },
    });
  });
  const done = await eds.until('burst.default', (eps) => eps.size === N && healthOf(eps).every((h) => h === 'HEALTHY'), 30_000, from);
  const pushes = eds.updates('burst.default').slice(from).filter((u) => u.at <= done.at).length;
  t.diagnostic(`${N} pods created and made ready in ${done.at - started} ms; the proxy received ${pushes} EDS updates for the service`);
  assert.ok(pushes <= 20, `a handful of pushes (got ${pushes})`);
  await lab.cp.client.delete('/api/v1/namespaces/default/pods', undefined, { labelSelector: 'app=burst', gracePeriodSeconds: 0 });
});
