/**
 * Pod watches served by etcd (apiserver --watch-cache=false): a watch resumed from its last
 * resourceVersion after restartApiserver() replays exactly what it missed, in order, and goes on
 * live; after compactEtcd() the same resume answers 410 Gone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError, startControlPlane, waitFor, type ControlPlane, type WatchEvent } from '../src/kube';
import type { Pod } from '../src/kubelet/types';

let cp: ControlPlane;

before(async () => {
  cp = await startControlPlane({ controllers: [], watchCache: false });
});

after(async () => {
  await cp?.stop();
});

const podBody = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'lab' }] } });
const listRV = async () => (await cp.client.get<{ metadata: { resourceVersion: string } }>('/api/v1/namespaces/default/pods')).metadata.resourceVersion;

/** Runs a raw watch from `rv` in the background, recording events; the promise settles when it ends. */
function rawWatch(rv: string) {
  const events: Array<{ type: string; name: string; rv: string }> = [];
  const abort = new AbortController();
  const done = cp.client
    .watch<Pod>('/api/v1/namespaces/default/pods', { resourceVersion: rv }, (e: WatchEvent<Pod>) => {
      events.push({ type: e.type, name: e.object.metadata.name, rv: e.object.metadata.resourceVersion ?? '' });
    }, abort.signal)
    .then(() => undefined, (err: unknown) => err);
  return { events, done, abort: () => abort.abort() };
}

let resumeFrom = '';

test('after restartApiserver, a watch from the last resourceVersion replays what it missed, then goes on live', async () => {
  resumeFrom = await listRV();
  await cp.client.post('/api/v1/namespaces/default/pods', podBody('missed'));
  await cp.client.mergePatch('/api/v1/namespaces/default/pods/missed', { metadata: { labels: { v: '2' } } });
  await cp.client.delete('/api/v1/namespaces/default/pods/missed');

  await cp.restartApiserver();

  const w = rawWatch(resumeFrom);
  try {
    await waitFor('the replayed DELETED', () => w.events.some((e) => e.name === 'missed' && e.type === 'DELETED'), { timeoutMs: 5_000, intervalMs: 20 });
    const replay = w.events.filter((e) => e.name === 'missed');
    assert.equal(replay[0]?.type, 'ADDED');
    assert.equal(replay.at(-1)?.type, 'DELETED');
    assert.ok(replay.slice(1, -1).every((e) => e.type === 'MODIFIED') && replay.length >= 3, JSON.stringify(replay));
    await cp.client.post('/api/v1/namespaces/default/pods', podBody('live'));
    await waitFor('the live ADDED', () => w.events.some((e) => e.name === 'live' && e.type === 'ADDED'), { timeoutMs: 5_000, intervalMs: 20 });
  } finally {
    w.abort();
  }
});

test('after compactEtcd, resuming from an older resourceVersion answers 410 Gone', async () => {
  assert.ok(resumeFrom, 'set by the previous test');
  const revision = await cp.compactEtcd();
  assert.ok(revision > Number(resumeFrom));
  const w = rawWatch(resumeFrom);
  const err = await w.done;
  assert.ok(err instanceof KubeApiError, `the watch failed with an API error (got ${String(err)})`);
  assert.equal(err.status, 410);
  assert.equal(err.reason, 'Expired');
  // A relist gives a resourceVersion the compacted history can serve.
  const fresh = rawWatch(await listRV());
  try {
    await cp.client.delete('/api/v1/namespaces/default/pods/live');
    await waitFor('DELETED live on the fresh watch', () => fresh.events.some((e) => e.name === 'live' && e.type === 'DELETED'), { timeoutMs: 5_000, intervalMs: 20 });
  } finally {
    fresh.abort();
  }
});
