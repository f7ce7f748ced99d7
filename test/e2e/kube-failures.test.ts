/**
 * The lab's failure switches against the real control plane: a readiness failure makes the pod
 * NotReady and its endpoint `ready: false`; status and delay switches change what the backend
 * answers (HTTP and gRPC) without touching readiness; killPod() crashes the backend, which the lab
 * kubelet reports and restarts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { waitFor } from '../../lab/src/kube';
import { EchoClient, whoami } from '../../lab/src/backend/grpc';
import type { Pod } from '../../lab/src/kubelet/types';
import { httpGet, isReady, kubectlApply, podEndpoint, startLab, waitDeploymentReady, webApp, type Lab } from '../../lab/src/harness';

let lab: Lab;
let victim: string;
let bystander: string;

before(async () => {
  lab = await startLab({}, { restartBackoffMs: 500 });
  await kubectlApply(lab.cp, webApp('flaky', { replicas: 2 }));
  const pods = await waitDeploymentReady(lab.cp, 'flaky', 2);
  [victim, bystander] = pods.map((p) => p.metadata.name).sort() as [string, string];
  await waitFor('two ready endpoints', async () => (await podEndpoint(lab.cp, 'flaky', victim))?.conditions.ready && (await podEndpoint(lab.cp, 'flaky', bystander))?.conditions.ready, {
    timeoutMs: 10_000,
  });
});

after(async () => {
  await lab?.stop();
});

const getPod = (name: string) => lab.cp.client.get<Pod>(`/api/v1/namespaces/default/pods/${name}`);

test('readiness failure: pod NotReady, endpoint ready:false serving:false; reset brings it back', async () => {
  await lab.kubelet.setFailure(victim, { failReadiness: true });
  await waitFor('victim NotReady', async () => !isReady(await getPod(victim)), { timeoutMs: 5_000, intervalMs: 50 });
  const e = await waitFor('endpoint not ready', async () => {
    const ep = await podEndpoint(lab.cp, 'flaky', victim);
    return ep && !ep.conditions.ready ? ep : undefined;
  }, { timeoutMs: 5_000, intervalMs: 50 });
  assert.deepEqual(e.conditions, { ready: false, serving: false, terminating: false });
  assert.equal((await podEndpoint(lab.cp, 'flaky', bystander))?.conditions.ready, true, 'the other pod stays ready');
  const pod = await getPod(victim);
  assert.equal(pod.status?.phase, 'Running');
  assert.equal(pod.status?.containerStatuses?.[0]?.ready, false);
  // The backend still serves ordinary requests; only its readiness endpoint fails.
  assert.equal((await httpGet(pod.status?.podIP as string, 8080, '/')).status, 200);
  assert.equal((await httpGet(pod.status?.podIP as string, 8080, '/healthz')).status, 503);

  await lab.kubelet.setFailure(victim, 'reset');
  await waitFor('endpoint ready again', async () => (await podEndpoint(lab.cp, 'flaky', victim))?.conditions.ready === true, { timeoutMs: 5_000, intervalMs: 50 });
  assert.ok(isReady(await getPod(victim)));
});

test('status switch: HTTP answers the status, gRPC UNAVAILABLE, readiness untouched', async () => {
  const ip = lab.kubelet.pod(victim)?.ip as string;
  await lab.kubelet.setFailure(victim, { status: 503 });
  const r = await httpGet(ip, 8080, '/api');
  assert.equal(r.status, 503);
  assert.equal(r.pod, victim);
  assert.equal((await httpGet(ip, 8080, '/healthz')).status, 200);
  const client = new EchoClient(`${ip}:9090`, grpc.credentials.createInsecure());
  try {
    await assert.rejects(whoami(client), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    await lab.kubelet.setFailure(victim, { status: null });
    assert.equal((await whoami(client)).pod, victim);
  } finally {
    client.close();
  }
  assert.equal((await httpGet(ip, 8080, '/api')).status, 200);
  assert.ok(isReady(await getPod(victim)), 'the pod stayed Ready throughout');
});

test('delay switch through the control endpoint: answers wait, /__lab/state shows it', async () => {
  const ip = lab.kubelet.pod(victim)?.ip as string;
  const set = await fetch(`http://${ip}:8080/__lab/delay?ms=600`, { method: 'POST' });
  assert.equal(set.status, 200);
  const state = JSON.parse((await httpGet(ip, 8080, '/__lab/state')).body) as { delayMs: number; status: number | null; failReadiness: boolean };
  assert.deepEqual([state.delayMs, state.status, state.failReadiness], [600, null, false]);
  const t0 = Date.now();
  assert.equal((await httpGet(ip, 8080, '/slow')).status, 200);
  assert.ok(Date.now() - t0 >= 550, `answered after ${Date.now() - t0} ms`);
  const t1 = Date.now();
  assert.equal((await httpGet(ip, 8080, '/healthz')).status, 200);
  assert.ok(Date.now() - t1 < 500, 'the readiness endpoint is never delayed');
  assert.equal((await fetch(`http://${ip}:8080/__lab/reset`, { method: 'POST' })).status, 200);
  assert.equal((await fetch(`http://${ip}:8080/__lab/status?code=99`, { method: 'POST' })).status, 400);
});

test('killPod: SIGKILL without warning, NotReady, restarted on the same IP', async () => {
  const before = lab.kubelet.pod(victim);
  assert.ok(before?.ip && before.pid);
  await lab.kubelet.killPod(victim);
  await assert.rejects(httpGet(before.ip, 8080, '/'), 'the backend is gone at once');
  const crashed = await waitFor('victim NotReady after the crash', async () => {
    const p = await getPod(victim);
    return !isReady(p) ? p : undefined;
  }, { timeoutMs: 5_000, intervalMs: 50 });
  assert.equal(crashed.metadata.deletionTimestamp, undefined, 'a crash is not a deletion');
  const restarted = await waitFor('victim Ready again with restartCount 1', async () => {
    const p = await getPod(victim);
    return isReady(p) && p.status?.containerStatuses?.[0]?.restartCount === 1 ? p : undefined;
  }, { timeoutMs: 10_000, intervalMs: 50 });
  const last = restarted.status?.containerStatuses?.[0]?.lastState as { terminated?: { exitCode: number } };
  assert.equal(last.terminated?.exitCode, 137);
  assert.equal(restarted.status?.podIP, before.ip);
  assert.notEqual(lab.kubelet.pod(victim)?.pid, before.pid);
  assert.equal((await httpGet(before.ip, 8080, '/')).pod, victim);
  await waitFor('endpoint ready again', async () => (await podEndpoint(lab.cp, 'flaky', victim))?.conditions.ready === true, { timeoutMs: 5_000 });
});
