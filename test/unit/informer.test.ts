/**
 * The informer over a fake apiserver (test/support/fake-kube.ts): paginated lists, resume from resourceVersion,
 * bookmarks, the 410 relist diff (only real differences, no flaps), backoff on errors, and the watchdog on a
 * silent watch (mocked timers: the watchdog fires at the watch timeout plus 30 s).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Informer, informerMetrics, type Change, type InformerOptions } from '../../src/sources/kubernetes/informer';
import { FakeKube, kubeError } from '../support/fake-kube';
import { testTelemetry } from '../support/telemetry';

/** Compact form: the `v` label; a `skip` label drops the object. */
interface Lite {
  readonly v: string;
}

/** An object of the fake's `nodes` resource carrying the labels the transform reads. */
const obj = (name: string, v: string, extra: Record<string, string> = {}) => ({ kind: 'Node', metadata: { name, labels: { v, ...extra } } });

interface Batch {
  readonly relist: boolean;
  readonly changes: string[];
}

const fmt = (c: Change<Lite>) => `${c.type} ${c.key}${c.old ? ` ${c.old.v}` : ''}${c.obj ? `→${c.obj.v}` : ''}`;

function informer(kube: FakeKube, o: Partial<InformerOptions<Lite>> = {}) {
  const batches: Batch[] = [];
  const errors: unknown[] = [];
  const telemetry = testTelemetry();
  const inf = new Informer<Lite>(kube, {
    name: `test-${Math.random().toString(36).slice(2, 8)}`,
    path: '/api/v1/nodes',
    transform: (raw) => (raw.metadata.labels?.skip ? undefined : { v: raw.metadata.labels?.v ?? '' }),
    equal: (a, b) => a.v === b.v,
    onChanges: (changes, meta) => batches.push({ relist: meta.relist, changes: changes.map(fmt) }),
    backoffMinMs: 20,
    backoffMaxMs: 2_000,
    onError: (err) => errors.push(err),
    telemetry,
    ...o,
  });
  return { inf, batches, errors, metrics: informerMetrics(telemetry.metrics) };
}

async function started(kube: FakeKube, inf: Informer<Lite>, watches = 1): Promise<void> {
  inf.start();
  await inf.synced();
  await kube.until(`watch #${watches}`, () => kube.callsOf('watch').length >= watches && kube.watching() > 0);
}

test('informer: a list of 5 in pages of 2 follows the continue tokens and delivers one batch, then watches from its resourceVersion', async () => {
  const kube = new FakeKube();
  for (const n of ['a', 'b', 'c', 'd', 'e']) kube.put(obj(n, '1'));
  const { inf, batches } = informer(kube, { pageSize: 2 });
  try {
    await started(kube, inf);
    assert.deepEqual(
      kube.callsOf('list').map((c) => [c.query.limit, c.query.continue]),
      [
        [2, undefined],
        [2, 'page-1'],
        [2, 'page-2'],
      ],
    );
    assert.deepEqual(batches, [{ relist: true, changes: ['ADDED a→1', 'ADDED b→1', 'ADDED c→1', 'ADDED d→1', 'ADDED e→1'] }]);
    assert.equal(inf.hasSynced, true);
    const w = kube.callsOf('watch')[0]!;
    assert.equal(w.query.resourceVersion, kube.resourceVersion);
    assert.equal(w.query.allowWatchBookmarks, true);
  } finally {
    await inf.stop();
  }
});

test('informer: an expired continue token restarts the list once, from scratch, without duplicates', async () => {
  const kube = new FakeKube();
  for (const n of ['a', 'b', 'c', 'd', 'e']) kube.put(obj(n, '1'));
  kube.failNext('list', kubeError(410, 'Expired'), (_p, q) => q.continue !== undefined);
  const { inf, batches, errors } = informer(kube, { pageSize: 2 });
  try {
    await started(kube, inf);
    assert.deepEqual(
      kube.callsOf('list').map((c) => c.query.continue ?? '-'),
      ['-', 'page-1', '-', 'page-2', 'page-3'],
    );
    assert.equal(batches.length, 1);
    assert.equal(batches[0]!.changes.length, 5);
    assert.equal(errors.length, 0, 'a restarted list is not an error of the loop');
  } finally {
    await inf.stop();
  }
});

test('informer: a watch that ends resumes from the last resourceVersion it saw, without relisting; events in the gap arrive', async () => {
  const kube = new FakeKube();
  kube.put(obj('a', '1'));
  const { inf, batches } = informer(kube);
  try {
    await started(kube, inf);
    const rvB = kube.put(obj('b', '1'));
    await kube.settled();
    kube.closeWatches();
    kube.put(obj('c', '1')); // between the two watches
    await kube.until('the second watch', () => kube.callsOf('watch').length >= 2);
    await kube.settled();
    assert.equal(kube.callsOf('watch')[1]!.query.resourceVersion, rvB);
    assert.equal(kube.callsOf('list').length, 1, 'no relist');
    assert.equal(inf.lists, 1);
    assert.deepEqual(batches.slice(1), [
      { relist: false, changes: ['ADDED b→1'] },
      { relist: false, changes: ['ADDED c→1'] },
    ]);
  } finally {
    await inf.stop();
  }
});

test('informer: a bookmark moves the resume point and delivers nothing', async () => {
  const kube = new FakeKube();
  kube.put(obj('a', '1'));
  const { inf, batches } = informer(kube);
  try {
    await started(kube, inf);
    // A change of another resource moves the apiserver's resourceVersion; the bookmark tells the watch.
    kube.put({ kind: 'Pod', metadata: { name: 'p', namespace: 'default' } });
    kube.bookmark();
    await kube.settled();
    assert.equal(inf.resourceVersion, kube.resourceVersion);
    kube.closeWatches();
    await kube.until('the second watch', () => kube.callsOf('watch').length >= 2);
    assert.equal(kube.callsOf('watch')[1]!.query.resourceVersion, kube.resourceVersion);
    assert.equal(batches.length, 1, 'only the list was delivered');
  } finally {
    await inf.stop();
  }
});

/**
 * The gap: `a` deleted, `b` really changed, `c` rewritten with an equal compact form, `d` untouched, `e` added,
 * `f` added and deleted again; then the history is compacted and the informer learns it by 410.
 */
const goneCases: Record<string, { readonly trigger: (kube: FakeKube) => void }> = {
  'an open watch gets ERROR 410 Gone': { trigger: (kube) => kube.expireWatches() },
  'the resume from a compacted resourceVersion is refused with 410': { trigger: (kube) => kube.closeWatches() },
};

for (const [name, c] of Object.entries(goneCases)) {
  test(`informer 410 relist diff: ${name}: objects gone in the gap are DELETED, unchanged ones emit nothing`, async () => {
    const kube = new FakeKube();
    for (const n of ['a', 'b', 'c', 'd']) kube.put(obj(n, '1'));
    const name = `gone-${Math.random().toString(36).slice(2, 8)}`;
    // A long backoff: the first relist after a 410 must not wait for it.
    const { inf, batches, metrics } = informer(kube, { name, backoffMinMs: 10_000, backoffMaxMs: 10_000 });
    try {
      await started(kube, inf);
      // The watch sees one event (so its normal end is not "ended at once"), then goes deaf.
      kube.put(obj('z', '1'));
      await kube.settled();
      kube.stallWatches();
      kube.remove('Node', '', 'a');
      kube.put(obj('b', '2'));
      kube.put(obj('c', '1', { unrelated: 'x' }));
      kube.put(obj('e', '1'));
      kube.put(obj('f', '1'));
      kube.remove('Node', '', 'f');
      kube.compact();
      const before = performance.now();
      c.trigger(kube);
      await kube.until('the relist', () => inf.lists === 2, 3_000);
      assert.ok(performance.now() - before < 3_000, 'relisted without backing off');
      // Exactly one delivery after the event before the stall: c, d and f never appear (no flap).
      assert.deepEqual(batches.slice(1), [
        { relist: false, changes: ['ADDED z→1'] },
        { relist: true, changes: ['MODIFIED b 1→2', 'ADDED e→1', 'DELETED a 1'] },
      ]);
      assert.equal(metrics.relists.get({ informer: name, reason: 'gone' }), 1);
      await kube.until('the watch after the relist', () => kube.watching() > 0);
      assert.equal(kube.callsOf('watch').at(-1)!.query.resourceVersion, kube.resourceVersion);
      assert.deepEqual([...inf.values()].length, 5);
    } finally {
      await inf.stop();
    }
  });
}

test('informer: list errors back off exponentially, then it recovers and syncs', async () => {
  const kube = new FakeKube();
  kube.put(obj('a', '1'));
  for (let i = 0; i < 4; i++) kube.failNext('list', kubeError(500, 'InternalError'));
  const { inf, errors } = informer(kube, { backoffMinMs: 40, backoffMaxMs: 10_000 });
  try {
    inf.start();
    await inf.synced();
    const at = kube.callsOf('list').map((c) => c.at);
    assert.equal(at.length, 5);
    assert.equal(errors.length, 4);
    // Delay after the n-th failure: uniform in [base/2, base], base = 40·2^(n-1). Lower bounds only (a busy
    // machine makes timers late, never early).
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    [20, 40, 80, 160].forEach((min, i) => assert.ok(gaps[i]! >= min - 2, `gap ${i + 1} is ${gaps[i]!.toFixed(1)} ms, expected ≥ ${min}: ${gaps.map((g) => g.toFixed(0)).join(', ')}`));
  } finally {
    await inf.stop();
  }
});

test('informer: repeated 410s back off like any other error (only the first relist is immediate)', async () => {
  const kube = new FakeKube();
  kube.put(obj('a', '1'));
  for (let i = 0; i < 3; i++) kube.failNext('watch', kubeError(410, 'Expired'));
  const { inf } = informer(kube, { backoffMinMs: 100, backoffMaxMs: 10_000 });
  try {
    inf.start();
    await kube.until('four lists', () => kube.callsOf('list').length >= 4, 5_000);
    const at = kube.callsOf('list').map((c) => c.at);
    // failures 2 and 3: delays in [100, 200] and [200, 400].
    assert.ok(at[2]! - at[1]! >= 98, `second relist after ${(at[2]! - at[1]!).toFixed(0)} ms`);
    assert.ok(at[3]! - at[2]! >= 198, `third relist after ${(at[3]! - at[2]!).toFixed(0)} ms`);
  } finally {
    await inf.stop();
  }
});

test('informer: a watch that ends at once without events backs off instead of spinning', async () => {
  const kube = new FakeKube();
  kube.put(obj('a', '1'));
  const { inf, errors } = informer(kube, { backoffMinMs: 50, backoffMaxMs: 10_000 });
  try {
    kube.endWatchesAtOnce = true;
    inf.start();
    await inf.synced();
    await new Promise((r) => setTimeout(r, 400));
    const watches = kube.callsOf('watch').length;
    // Delays ≥ 25, 50, 100, 200 ms: at most 5 watches fit in 400 ms.
    assert.ok(watches >= 2 && watches <= 6, `${watches} watches in 400 ms`);
    assert.match((errors[0] as Error).message, /watch ended at once without events/);
    assert.equal(kube.callsOf('list').length, 1, 'an empty watch is no reason to relist');
  } finally {
    await inf.stop();
  }
});

test('informer: the watchdog restarts a watch that went silent past its timeout, and the resume delivers what it missed', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const kube = new FakeKube();
  kube.put(obj('a', '1'));
  const { inf, batches } = informer(kube, { watchTimeoutSeconds: 1 });
  try {
    await started(kube, inf);
    assert.equal(kube.callsOf('watch')[0]!.query.timeoutSeconds, 1);
    kube.stallWatches();
    kube.put(obj('b', '1'));
    await kube.settled();
    t.mock.timers.tick(30_999);
    await kube.settled();
    assert.equal(kube.callsOf('watch').length, 1, 'the watchdog waits for the timeout plus 30 s');
    assert.equal(batches.length, 1);
    t.mock.timers.tick(2);
    await kube.until('the resumed watch', () => kube.callsOf('watch').length === 2);
    await kube.settled();
    assert.equal(kube.callsOf('watch')[1]!.query.resourceVersion, kube.callsOf('watch')[0]!.query.resourceVersion);
    assert.deepEqual(batches.slice(1), [{ relist: false, changes: ['ADDED b→1'] }]);
    assert.equal(kube.callsOf('list').length, 1);
  } finally {
    await inf.stop();
  }
});

test('informer: an object the transform drops is a DELETED; a change invisible in the compact form is not delivered', async () => {
  const kube = new FakeKube();
  kube.put(obj('a', '1'));
  const { inf, batches } = informer(kube);
  try {
    await started(kube, inf);
    kube.put(obj('a', '1', { unrelated: 'y' }));
    kube.put(obj('a', '1', { skip: 'yes' }));
    kube.put(obj('a', '1', { skip: 'yes', more: 'z' }));
    kube.put(obj('a', '2'));
    await kube.settled();
    assert.deepEqual(batches.slice(1), [
      { relist: false, changes: ['DELETED a 1'] },
      { relist: false, changes: ['ADDED a→2'] },
    ]);
  } finally {
    await inf.stop();
  }
});

test('informer: an exception in the consumer is logged and the informer goes on', async () => {
  const kube = new FakeKube();
  let calls = 0;
  const seen: string[] = [];
  const { inf } = informer(kube, {
    onChanges: (changes) => {
      calls++;
      if (calls === 2) throw new Error('consumer broke');
      seen.push(...changes.map(fmt));
    },
  });
  try {
    await started(kube, inf);
    kube.put(obj('a', '1'));
    kube.put(obj('b', '1'));
    await kube.settled();
    assert.deepEqual(seen, ['ADDED b→1']);
    assert.equal(kube.callsOf('watch').length, 1, 'the watch was not restarted');
    assert.equal(inf.get('a')?.v, '1', 'the store is the informer’s, whatever the consumer did');
  } finally {
    await inf.stop();
  }
});

test('informer: nothing is delivered after stop resolves', async () => {
  const kube = new FakeKube();
  const { inf, batches } = informer(kube);
  await started(kube, inf);
  await inf.stop();
  kube.put(obj('a', '1'));
  await kube.settled();
  assert.equal(batches.length, 1);
  assert.equal(kube.watching(), 0, 'the watch was aborted');
});

test('informer: stop right after the first sync resolves at once, and opens no watch', async () => {
  const kube = new FakeKube();
  kube.put(obj('a', '1'));
  const { inf } = informer(kube);
  inf.start();
  await inf.synced();
  const stopped = await Promise.race([inf.stop().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 2_000).unref())]);
  assert.equal(stopped, true, 'stop() resolved within 2 s (a watch opened after stop would run until its watchdog)');
  await kube.settled();
  assert.equal(kube.watching(), 0);
});
