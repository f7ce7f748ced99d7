/**
 * Pod deletion as the kubelet honours it, against the real apiserver and EndpointSlice controller:
 * deletionTimestamp for the grace period, the endpoint `terminating: true, serving: true` meanwhile,
 * the preStop hook, SIGTERM and a backend that keeps answering until it exits, then the pod's removal;
 * and SIGKILL when the grace period ends first.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ListWatch, waitFor, sleep } from '../src/kube';
import type { Pod } from '../src/kubelet/types';
import { httpGet, kubectlApply, podEndpoint, startLab, waitDeploymentReady, webApp, type Lab } from '../src/harness';

let lab: Lab;
/** Last state of every pod seen by a watch, including the final status written before removal. */
const lastSeen = new Map<string, Pod>();
const removedAt = new Map<string, number>();
let podWatch: ListWatch<Pod>;

before(async () => {
  lab = await startLab();
  podWatch = new ListWatch<Pod>(lab.cp.client, '/api/v1/namespaces/default/pods', (type, pod) => {
    if (type === 'DELETED') removedAt.set(pod.metadata.name, Date.now());
    else lastSeen.set(pod.metadata.name, pod);
  });
  await podWatch.start();
});

after(async () => {
  await podWatch?.stop();
  await lab?.stop();
});

/** Polls the backend every 50 ms until it refuses connections; returns the answers' times and bodies. */
async function pollUntilGone(ip: string, port: number, limitMs: number): Promise<{ answers: Array<{ at: number; terminating: boolean; pod: string | null }>; goneAt: number }> {
  const answers: Array<{ at: number; terminating: boolean; pod: string | null }> = [];
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    try {
      const r = await httpGet(ip, port, '/during-termination', 1_000);
      answers.push({ at: Date.now(), terminating: (JSON.parse(r.body) as { terminating: boolean }).terminating, pod: r.pod });
    } catch {
      return { answers, goneAt: Date.now() };
    }
    await sleep(50);
  }
  throw new Error(`backend ${ip} still answering after ${limitMs} ms`);
}

test('deletion: preStop, drain while terminating+serving, then removal within the grace period', async (t) => {
  // preStop `sleep 1` (exec form), then SIGTERM; the backend keeps serving for 2 s before it exits.
  await kubectlApply(lab.cp, webApp('drain', { replicas: 2, drainMs: 2_000, terminationGracePeriodSeconds: 10, preStop: '{ exec: { command: ["/bin/sh", "-c", "sleep 1"] } }' }));
  const [victim] = await waitDeploymentReady(lab.cp, 'drain', 2);
  assert.ok(victim);
  const name = victim.metadata.name;
  const ip = victim.status?.podIP as string;
  await waitFor('a ready endpoint for the victim', async () => (await podEndpoint(lab.cp, 'drain', name))?.conditions.ready === true, { timeoutMs: 10_000 });

  const deletedAt = Date.now();
  const r = await lab.cp.kubectl(['delete', 'pod', name, '--wait=false']);
  assert.equal(r.code, 0, r.stderr);
  const polling = pollUntilGone(ip, 8080, 15_000);

  const marked = await lab.cp.client.get<Pod>(`/api/v1/namespaces/default/pods/${name}`);
  assert.ok(marked.metadata.deletionTimestamp, 'deletionTimestamp is set at once');
  assert.equal(marked.metadata.deletionGracePeriodSeconds, 10);

  const terminatingEndpoint = await waitFor('the endpoint marked terminating', async () => {
    const e = await podEndpoint(lab.cp, 'drain', name);
    return e?.conditions.terminating ? e : undefined;
  }, { timeoutMs: 5_000, intervalMs: 50 });
  assert.deepEqual(terminatingEndpoint.conditions, { ready: false, serving: true, terminating: true });
  assert.deepEqual(terminatingEndpoint.addresses, [ip]);

  const { answers, goneAt } = await polling;
  t.diagnostic(`backend answered ${answers.length} requests for ${goneAt - deletedAt} ms after the delete`);
  assert.ok(answers.every((a) => a.pod === name), 'every answer came from the victim');
  // preStop (1 s) + drain (2 s): the backend serves for about 3 s, and says it is terminating after SIGTERM.
  assert.ok(goneAt - deletedAt >= 2_800, `served until ${goneAt - deletedAt} ms after the delete`);
  assert.ok(answers.some((a) => a.terminating), 'answers after SIGTERM say terminating');
  assert.ok(answers.some((a) => !a.terminating && a.at - deletedAt < 900), 'answers during preStop do not say terminating yet');
  const lastAnswer = answers.at(-1)?.at ?? 0;
  assert.ok(lastAnswer - deletedAt >= 2_500, `last answer ${lastAnswer - deletedAt} ms after the delete`);

  // The kubelet removes the pod once the process is gone: after it stopped answering, before the grace period ended.
  await waitFor('the pod removed', () => removedAt.has(name), { timeoutMs: 10_000, intervalMs: 50 });
  const removed = removedAt.get(name) as number;
  assert.ok(removed >= goneAt - 100, 'removed after the backend exited');
  assert.ok(removed - deletedAt < 10_000, `removed ${removed - deletedAt} ms after the delete, within the 10 s grace period`);
  const final = lastSeen.get(name);
  assert.equal(final?.status?.phase, 'Succeeded', 'the kubelet reported the terminal phase before removal');
  assert.deepEqual(final?.status?.containerStatuses?.[0]?.state, {
    terminated: { ...(final?.status?.containerStatuses?.[0]?.state as { terminated: object }).terminated, exitCode: 0, reason: 'Completed' },
  });
  await waitFor('the endpoint gone from the slice', async () => (await podEndpoint(lab.cp, 'drain', name)) === undefined, { timeoutMs: 5_000 });
});

test('grace period shorter than the drain: SIGKILL at its end, exit code 137', async (t) => {
  await kubectlApply(lab.cp, webApp('stubborn', { replicas: 1, drainMs: 60_000, terminationGracePeriodSeconds: 2, preStop: '{ sleep: { seconds: 1 } }' }));
  const [pod] = await waitDeploymentReady(lab.cp, 'stubborn', 1);
  assert.ok(pod);
  const name = pod.metadata.name;
  const deletedAt = Date.now();
  await lab.cp.client.delete(`/api/v1/namespaces/default/pods/${name}`);
  const { goneAt } = await pollUntilGone(pod.status?.podIP as string, 8080, 10_000);
  t.diagnostic(`backend killed ${goneAt - deletedAt} ms after the delete`);
  assert.ok(goneAt - deletedAt >= 1_800 && goneAt - deletedAt < 4_000, `killed at ${goneAt - deletedAt} ms, expected about 2000`);
  await waitFor('the pod removed', () => removedAt.has(name), { timeoutMs: 5_000, intervalMs: 50 });
  const final = lastSeen.get(name);
  assert.equal(final?.status?.phase, 'Failed');
  const state = final?.status?.containerStatuses?.[0]?.state as { terminated?: { exitCode: number; reason: string } };
  assert.equal(state.terminated?.exitCode, 137);
  assert.equal(state.terminated?.reason, 'Error');
});

test('preStop httpGet is called on the pod before SIGTERM', async () => {
  await kubectlApply(lab.cp, webApp('hooked', { replicas: 1, drainMs: 1_500, terminationGracePeriodSeconds: 10, preStop: '{ httpGet: { path: /prestop, port: http } }' }));
  const [pod] = await waitDeploymentReady(lab.cp, 'hooked', 1);
  assert.ok(pod);
  const ip = pod.status?.podIP as string;
  await lab.cp.client.delete(`/api/v1/namespaces/default/pods/${pod.metadata.name}`);
  const state = await waitFor('the preStop request on the backend', async () => {
    const s = JSON.parse((await httpGet(ip, 8080, '/__lab/state')).body) as { hits: Record<string, number>; terminating: boolean };
    return s.hits['/prestop'] === 1 ? s : undefined;
  }, { timeoutMs: 5_000, intervalMs: 50 });
  assert.ok(state);
  await waitFor('the pod removed', () => removedAt.has(pod.metadata.name), { timeoutMs: 10_000, intervalMs: 50 });
});
