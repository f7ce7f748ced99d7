/**
 * Pod watches from Node.js (@kubernetes/client-node's Watch, and the lab's ListWatch) against the
 * real apiserver with its watch cache on, as clusters run it: events arrive in order, a restart of
 * the apiserver ends every watch, and resuming from the last resourceVersion after the restart answers
 * 410 Gone (the new watch cache starts at a newer revision), so a client must relist.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { ListWatch, startControlPlane, waitFor, type ControlPlane } from '../src/kube';
import type { Pod } from '../src/kubelet/types';

let cp: ControlPlane;

before(async () => {
  cp = await startControlPlane({ controllers: [] });
});

after(async () => {
  await cp?.stop();
});

interface Seen {
  type: string;
  name?: string;
  rv?: string;
  code?: number;
  reason?: string;
}

/** A client-node watch on pods of `default`, recording every event. */
async function openWatch(kc: KubeConfig, resourceVersion: string) {
  const events: Seen[] = [];
  let resolveEnded!: (err: unknown) => void;
  const ended = new Promise<unknown>((r) => (resolveEnded = r));
  const ctl = await new Watch(kc).watch(
    '/api/v1/namespaces/default/pods',
    { resourceVersion, allowWatchBookmarks: true },
    (type, obj: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string }) => {
      events.push({ type, name: obj.metadata?.name, rv: obj.metadata?.resourceVersion, code: obj.code, reason: obj.reason });
    },
    (err) => resolveEnded(err ?? 'ended'),
  );
  return { events, ended, abort: () => ctl.abort() };
}

const podBody = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { test: 'watch' } }, spec: { containers: [{ name: 'c', image: 'lab' }] } });
const listRV = async () => (await cp.client.get<{ metadata: { resourceVersion: string } }>('/api/v1/namespaces/default/pods')).metadata.resourceVersion;
const changes = (events: Seen[], name: string) => events.filter((e) => e.name === name && e.type !== 'BOOKMARK');

test('ADDED, MODIFIED, DELETED arrive in order with increasing resourceVersions', async () => {
  const w = await openWatch(cp.kubeConfig(), await listRV());
  try {
    await cp.client.post('/api/v1/namespaces/default/pods', podBody('ordered'));
    await cp.client.mergePatch('/api/v1/namespaces/default/pods/ordered', { metadata: { labels: { step: 'two' } } });
    await cp.client.delete('/api/v1/namespaces/default/pods/ordered');
    const seen = await waitFor('the DELETED event', () => {
      const evs = changes(w.events, 'ordered');
      return evs.at(-1)?.type === 'DELETED' ? evs : undefined;
    }, { timeoutMs: 5_000, intervalMs: 20 });
    assert.equal(seen[0]?.type, 'ADDED');
    assert.ok(seen.slice(1, -1).every((e) => e.type === 'MODIFIED'), JSON.stringify(seen));
    assert.ok(seen.length >= 3, 'at least one MODIFIED (the label; deletion of an unbound pod may add one)');
    const rvs = seen.map((e) => Number(e.rv));
    assert.deepEqual(rvs, [...rvs].sort((a, b) => a - b));
    assert.equal(new Set(rvs).size, rvs.length);
  } finally {
    w.abort();
  }
});

test('restartApiserver ends the watch; resuming from the last resourceVersion answers 410; a relist resumes', async (t) => {
  const kc = cp.kubeConfig();
  const w = await openWatch(kc, await listRV());
  await cp.client.post('/api/v1/namespaces/default/pods', podBody('before-restart'));
  await waitFor('ADDED before-restart', () => changes(w.events, 'before-restart').length === 1, { timeoutMs: 5_000, intervalMs: 20 });
  const lastRV = changes(w.events, 'before-restart')[0]?.rv as string;

  const t0 = Date.now();
  await cp.restartApiserver();
  t.diagnostic(`apiserver restarted in ${Date.now() - t0} ms`);
  await Promise.race([w.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('the watch did not end')), 5_000))]);

  const resumed = await openWatch(kc, lastRV);
  const err = await waitFor('an answer to the resumed watch', () => resumed.events[0], { timeoutMs: 5_000, intervalMs: 20 });
  resumed.abort();
  assert.deepEqual([err.type, err.code, err.reason], ['ERROR', 410, 'Expired'], 'the restarted watch cache cannot serve the old resourceVersion');

  // What a client does on 410: list again, then watch from the list's resourceVersion.
  const list = await cp.client.get<{ metadata: { resourceVersion: string }; items: Pod[] }>('/api/v1/namespaces/default/pods');
  assert.deepEqual(list.items.map((p) => p.metadata.name), ['before-restart']);
  const fresh = await openWatch(kc, list.metadata.resourceVersion);
  try {
    await cp.client.post('/api/v1/namespaces/default/pods', podBody('after-restart'));
    await waitFor('ADDED after-restart', () => changes(fresh.events, 'after-restart')[0]?.type === 'ADDED', { timeoutMs: 5_000, intervalMs: 20 });
    assert.equal(changes(fresh.events, 'before-restart').length, 0, 'no replay of what the list already had');
  } finally {
    fresh.abort();
    await cp.client.delete('/api/v1/namespaces/default/pods/before-restart');
    await cp.client.delete('/api/v1/namespaces/default/pods/after-restart');
  }
});

test('the lab ListWatch rides through a restart: relists on 410 and delivers what changed', async () => {
  const names = new Set<string>();
  const lw = new ListWatch<Pod>(cp.client, '/api/v1/namespaces/default/pods', (type, pod) => {
    if (type === 'DELETED') names.delete(pod.metadata.name);
    else names.add(pod.metadata.name);
  });
  await lw.start();
  try {
    await cp.client.post('/api/v1/namespaces/default/pods', podBody('lw-one'));
    await waitFor('lw-one seen', () => names.has('lw-one'), { timeoutMs: 5_000, intervalMs: 20 });
    await cp.restartApiserver();
    await cp.client.post('/api/v1/namespaces/default/pods', podBody('lw-two'));
    await cp.client.delete('/api/v1/namespaces/default/pods/lw-one');
    await waitFor('lw-two added and lw-one deleted', () => names.has('lw-two') && !names.has('lw-one'), { timeoutMs: 15_000, intervalMs: 20 });
    assert.ok(lw.lists >= 2, `relisted after the restart (lists: ${lw.lists})`);
  } finally {
    await lw.stop();
  }
});
