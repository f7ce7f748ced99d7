/**
 * A Deployment applied with the built kubectl reaches Ready through the lab kubelet, the real
 * EndpointSlice controller publishes its pods (loopback IPs, zones of the lab nodes), and every
 * backend answers HTTP and gRPC naming its pod.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { waitFor } from '../../lab/src/kube';
import { EchoClient, whoami } from '../../lab/src/backend/grpc';
import { httpGet, isReady, kubectlApply, listPods, sliceEndpoints, startLab, waitDeploymentReady, webApp, type EndpointSlice, type Lab } from '../../lab/src/harness';

let lab: Lab;

before(async () => {
  lab = await startLab();
});

after(async () => {
  await lab?.stop();
});

test('the lab nodes are registered Ready with zone labels', async (t) => {
  t.diagnostic(`control plane ready in ${lab.cp.startupMs} ms`);
  const r = await lab.cp.kubectl(['get', 'nodes', '-L', 'topology.kubernetes.io/zone', '--no-headers']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => l.split(/\s+/));
  assert.deepEqual(
    rows.map((c) => [c[0], c[1], c.at(-1)]),
    [
      ['lab-node-a', 'Ready', 'lab-zone-a'],
      ['lab-node-b', 'Ready', 'lab-zone-b'],
      ['lab-node-c', 'Ready', 'lab-zone-c'],
    ],
  );
});

test('kubectl apply: the Deployment becomes Ready through the lab kubelet', async (t) => {
  const started = Date.now();
  await kubectlApply(lab.cp, webApp('web', { replicas: 3 }));
  const pods = await waitDeploymentReady(lab.cp, 'web', 3);
  t.diagnostic(`3 replicas ready ${Date.now() - started} ms after kubectl apply`);
  assert.equal(pods.length, 3);
  const nodes = new Map(lab.kubelet.nodes.map((n) => [n.name, n]));
  for (const p of pods) {
    const node = nodes.get(p.spec.nodeName ?? '');
    assert.ok(node, `${p.metadata.name} is bound to a lab node (got ${p.spec.nodeName})`);
    assert.equal(p.status?.phase, 'Running');
    assert.match(p.status?.podIP ?? '', /^127\.1\.\d+\.\d+$/);
    assert.deepEqual(p.status?.podIPs, [{ ip: p.status?.podIP }]);
    assert.equal(p.status?.hostIP, node.address);
    const types = Object.fromEntries((p.status?.conditions ?? []).map((c) => [c.type, c.status]));
    assert.deepEqual(types, { PodReadyToStartContainers: 'True', Initialized: 'True', Ready: 'True', ContainersReady: 'True', PodScheduled: 'True' });
    const cs = p.status?.containerStatuses?.[0];
    assert.equal(cs?.name, 'backend');
    assert.equal(cs?.ready, true);
    assert.equal(cs?.started, true);
    assert.ok('running' in (cs?.state ?? {}));
  }
  // The self-binding scheduler spreads one owner's replicas over the nodes, hence over the zones.
  assert.deepEqual(pods.map((p) => p.spec.nodeName).sort(), ['lab-node-a', 'lab-node-b', 'lab-node-c']);
});

test('the real EndpointSlice controller publishes the pods with their zones', async () => {
  const pods = (await listPods(lab.cp, 'app=web')).filter(isReady);
  const zoneOf = new Map(lab.kubelet.nodes.map((n) => [n.name, n.zone]));
  const endpoints = await waitFor(
    'three ready endpoints in the slices of web',
    async () => {
      const eps = await sliceEndpoints(lab.cp, 'web');
      return eps.length === 3 && eps.every((e) => e.conditions.ready) ? eps : undefined;
    },
    { timeoutMs: 15_000 },
  );
  const byPod = new Map(endpoints.map((e) => [e.targetRef?.name, e]));
  for (const p of pods) {
    const e = byPod.get(p.metadata.name);
    assert.ok(e, `endpoint for ${p.metadata.name}`);
    assert.deepEqual(e.addresses, [p.status?.podIP]);
    assert.deepEqual(e.conditions, { ready: true, serving: true, terminating: false });
    assert.equal(e.targetRef?.uid, p.metadata.uid);
    assert.equal(e.nodeName, p.spec.nodeName);
    assert.equal(e.zone, zoneOf.get(p.spec.nodeName ?? ''));
  }
  const list = await lab.cp.client.get<{ items: EndpointSlice[] }>('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
    labelSelector: 'kubernetes.io/service-name=web',
  });
  const slice = list.items[0];
  assert.equal(slice?.addressType, 'IPv4');
  assert.equal(slice?.metadata.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  assert.deepEqual(
    (slice?.ports ?? []).map((p) => [p.name, p.port]).sort(),
    [
      ['grpc', 9090],
      ['http', 8080],
    ],
  );
});

test('every backend answers HTTP and gRPC on its pod IP, naming its pod', async () => {
  const pods = lab.kubelet.pods('default');
  assert.equal(pods.length, 3);
  for (const p of pods) {
    const ip = p.ip as string;
    const r = await httpGet(ip, p.httpPort, '/hello');
    assert.equal(r.status, 200);
    assert.equal(r.pod, p.name);
    const body = JSON.parse(r.body) as { pod: string; node: string; ip: string; path: string };
    assert.deepEqual([body.pod, body.node, body.ip, body.path], [p.name, p.node, ip, '/hello']);
    const client = new EchoClient(`${ip}:${p.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const reply = await whoami(client);
      assert.equal(reply.pod, p.name);
      assert.equal(reply.ip, ip);
    } finally {
      client.close();
    }
  }
});

test('scaling down removes pods through graceful termination and the slices follow', async () => {
  const r = await lab.cp.kubectl(['scale', 'deployment/web', '--replicas=1']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor('one pod and one endpoint left', async () => (await listPods(lab.cp, 'app=web')).length === 1 && (await sliceEndpoints(lab.cp, 'web')).length === 1, {
    timeoutMs: 20_000,
  });
  await waitFor('the kubelet runs one pod', () => lab.kubelet.pods('default').length === 1, { timeoutMs: 5_000 });
});
