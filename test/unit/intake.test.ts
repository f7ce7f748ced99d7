/**
 * The intake: guard → merge → batcher, in that order; serving gated on every source's first sync (then at once);
 * a failing publish is logged and counted and the next update still flows; the guard measures against the
 * service sizes of the latest merge (every source); holds go to the event log; each publish carries the earliest
 * observation it includes. Real Guard, Merger, Batcher, Publisher and XdsCache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Intake, intakeMetrics, type IntakeOptions } from '../../src/pipeline/intake';
import { Publisher } from '../../src/pipeline/publisher';
import { XdsCache } from '../../src/xds/cache';
import { viewKey } from '../../src/translate/view';
import { EventLog } from '../../src/pipeline/convergence';
import { capturingTelemetry, testTelemetry } from '../support/telemetry';
import type { Endpoint, Health, Mesh } from '../../src/model/types';
import type { SourceService, SourceSnapshot } from '../../src/sources/source';

const ep = (n: number, health: Health = 'HEALTHY', source = 's'): Endpoint => ({ address: `10.0.0.${n}`, port: 80, health, zone: '', weight: 1, source, labels: {} });
const svc = (...eps: Endpoint[]): SourceService => ({ endpoints: eps });
const snap = (entries: Record<string, SourceService>): SourceSnapshot => new Map(Object.entries(entries));
const range = (from: number, to: number, source = 's') => Array.from({ length: to - from + 1 }, (_, i) => ep(from + i, 'HEALTHY', source));
/** `service: address…` per service, in mesh order. */
const show = (m: Mesh) => [...m.services.values()].map((s) => `${s.name}: ${s.endpoints.map((e) => `${e.address.slice(7)}${e.health === 'HEALTHY' ? '' : `/${e.health}`}`).join(' ')}`);

const NO_GUARD = { maxRemovalFraction: 0.5, holdMs: 0, confirmByReread: false };
const GUARD = { maxRemovalFraction: 0.5, holdMs: 60_000, confirmByReread: false };

function intake(o: Partial<IntakeOptions> & { names?: string[]; guard?: typeof GUARD } = {}) {
  const events: string[] = [];
  const published: Mesh[] = [];
  const i = new Intake({
    sources: (o.names ?? ['a']).map((name) => ({ name, guard: o.guard ?? NO_GUARD })),
    batching: { delayMs: 10_000, maxDelayMs: 10_000 },
    publish: (m) => {
      published.push(m);
      events.push(`publish ${show(m).join('; ')}`);
    },
    onSynced: () => events.push('synced'),
    telemetry: testTelemetry(),
    ...o,
  });
  return { i, events, published };
}

test('intake: nothing is served until every source has synced; then the view is built at once, from every source', () => {
  const cache = new XdsCache('t');
  const telemetry = testTelemetry();
  const publisher = new Publisher(cache, { telemetry });
  const view = viewKey({ flavor: 'envoy', zone: '', egress: '127.0.0.1:15001' });
  const synced: number[] = [];
  const i = new Intake({
    sources: [
      { name: 'k8s', guard: NO_GUARD },
      { name: 'vms', guard: NO_GUARD },
    ],
    batching: { delayMs: 10_000, maxDelayMs: 10_000 },
    publish: (m) => publisher.update(m),
    onSynced: () => {
      synced.push(Date.now());
      publisher.startServing();
    },
    telemetry,
  });
  try {
    publisher.buildView(view); // a proxy connected early
    i.update('k8s', snap({ web: svc(ep(1, 'HEALTHY', 'k8s')) }), true);
    i.update('vms', snap({ legacy: svc(ep(9, 'HEALTHY', 'vms')) }), false);
    // Traffic taken away before the sync takes the fast lane to the publisher, which still serves nothing.
    i.update('k8s', snap({ web: svc(ep(1, 'DRAINING', 'k8s')) }), true);
    assert.equal(publisher.serving, false);
    assert.deepEqual(cache.viewNames(), [], 'no view before every source synced');
    assert.deepEqual(synced, []);
    i.update('vms', snap({ legacy: svc(ep(9, 'HEALTHY', 'vms')) }), true);
    assert.equal(publisher.serving, true, 'serving in the same call, without waiting for the batching delay');
    assert.deepEqual(cache.viewNames(), [view]);
    assert.deepEqual([...cache.resources(view, 'endpoint').keys()].sort(), ['legacy', 'web']);
    assert.equal(synced.length, 1);
    i.update('vms', snap({ legacy: svc(ep(9, 'HEALTHY', 'vms'), ep(10, 'HEALTHY', 'vms')) }), true);
    assert.equal(synced.length, 1, 'onSynced runs once');
  } finally {
    i.stop();
  }
});

test('intake: onSynced follows the first publish that includes every source; later updates are batched unless urgent', async () => {
  const { i, events } = intake({ names: ['a', 'b'], batching: { delayMs: 30, maxDelayMs: 1000 } });
  try {
    i.update('a', snap({ web: svc(ep(1), ep(2)) }), true);
    i.update('b', snap({ api: svc(ep(5)) }), true);
    assert.deepEqual(events, ['publish api: 5; web: 1 2', 'synced']);
    i.update('a', snap({ web: svc(ep(1), ep(2), ep(3)) }), true);
    assert.equal(events.length, 2, 'a new endpoint waits for the batching delay');
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(events.slice(2), ['publish api: 5; web: 1 2 3']);
    i.update('a', snap({ web: svc(ep(1, 'DRAINING'), ep(2), ep(3)) }), true);
    assert.deepEqual(events.slice(3), ['publish api: 5; web: 1/DRAINING 2 3'], 'DRAINING goes out in the same call');
  } finally {
    i.stop();
  }
});

test('intake: guard before merge before batcher — a held removal is not "traffic taken away", a small one is', () => {
  const { i, events, published } = intake({ guard: GUARD, batching: { delayMs: 10_000, maxDelayMs: 10_000 } });
  try {
    i.update('a', snap({ web: svc(...range(1, 4)) }), true);
    assert.equal(published.length, 1);
    // 3 of 4 removed: the guard holds them, so the merge still has 4 and the batcher sees nothing urgent.
    i.update('a', snap({ web: svc(ep(1)) }), true);
    assert.equal(published.length, 1, 'no fast-lane publish for a held removal');
    assert.deepEqual(show(i.latest), ['web: 1 2 3 4'], 'the merge saw the guarded snapshot');
    assert.deepEqual(i.holds().a!.map((h) => h.service), ['web']);
    // The source recovers to 4 minus one: the hold is released and the single removal is urgent.
    i.update('a', snap({ web: svc(...range(1, 3)) }), true);
    assert.deepEqual(events.at(-1), 'publish web: 1 2 3');
    assert.deepEqual(i.holds().a, []);
  } finally {
    i.stop();
  }
});

test('intake: the guard is handed the service sizes of the latest merge, across every source', () => {
  const { i, published } = intake({ names: ['pods', 'vms'], guard: GUARD });
  try {
    i.update('pods', snap({ web: svc(...range(1, 5, 'pods')) }), true);
    const legacy = svc(ep(30, 'HEALTHY', 'vms'));
    i.update('vms', snap({ web: svc(ep(20, 'HEALTHY', 'vms')), legacy }), true);
    assert.equal(published.length, 1);
    // The last VM of web leaves: 1 of 6 endpoints across sources, not suspicious. The only VM of legacy leaving
    // empties it: held.
    i.update('vms', snap({ web: svc(), legacy }), true);
    assert.deepEqual(show(i.latest), ['legacy: 30', 'web: 1 2 3 4 5'], 'web: the VM left at once');
    assert.equal(published.length, 2, 'and at once (traffic taken away)');
    assert.deepEqual(i.holds().vms, []);
    i.update('vms', snap({}), true);
    assert.deepEqual(show(i.latest), ['legacy: 30', 'web: 1 2 3 4 5'], 'legacy: held');
    assert.deepEqual(i.holds().vms!.map((h) => h.service), ['legacy']);
  } finally {
    i.stop();
  }
});

test('intake: a throwing publish is logged and counted, the source never sees it, and the next update still flows', () => {
  let fail = true;
  const events: string[] = [];
  const telemetry = capturingTelemetry();
  const pipelineErrors = intakeMetrics(telemetry.metrics).stageErrors;
  const i = new Intake({
    sources: [{ name: 'a', guard: NO_GUARD }],
    batching: { delayMs: 10_000, maxDelayMs: 10_000 },
    publish: (m) => {
      if (fail) throw new Error('translator broke');
      events.push(`publish ${show(m).join('; ')}`);
    },
    onSynced: () => events.push('synced'),
    telemetry,
  });
  try {
    assert.doesNotThrow(() => i.update('a', snap({ web: svc(ep(1), ep(2)) }), true));
    assert.equal(pipelineErrors.get({ stage: 'publish' }), 1);
    assert.deepEqual(
      telemetry.lines.filter((l) => l.level === 'error').map((l) => [l.msg, l.stage]),
      [['pipeline publish failed; the previous state stays in force', 'publish']],
    );
    assert.deepEqual(events, [], 'not announced as synced: nothing was published');
    fail = false;
    i.update('a', snap({ web: svc(ep(1)) }), true);
    assert.deepEqual(events, ['publish web: 1', 'synced']);
  } finally {
    i.stop();
  }
});

test('intake: an update from an unknown source is ignored', () => {
  const { i, published } = intake();
  try {
    i.update('nobody', snap({ web: svc(ep(1)) }), true);
    assert.equal(published.length, 0);
    assert.equal(i.latest.services.size, 0);
  } finally {
    i.stop();
  }
});

test('intake: a hold that times out is released from the guard’s timer and published', async () => {
  const { i, events } = intake({ guard: { maxRemovalFraction: 0.5, holdMs: 40, confirmByReread: false }, batching: { delayMs: 0, maxDelayMs: 0 } });
  try {
    i.update('a', snap({ web: svc(...range(1, 4)) }), true);
    i.update('a', snap({ web: svc(ep(1)) }), true);
    assert.deepEqual(show(i.latest), ['web: 1 2 3 4']);
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(show(i.latest), ['web: 1']);
    assert.equal(events.at(-1), 'publish web: 1');
  } finally {
    i.stop();
  }
});

test('intake: holds beginning and ending go to the event log; /sources health: synced, updates, observation, errors', () => {
  const log = new EventLog();
  const { i, published } = intake({ guard: GUARD, events: log });
  try {
    i.update('a', snap({ web: svc(...range(1, 4)) }), true, { observedAt: 1000 });
    assert.equal(published.length, 1);
    i.update('a', snap({ web: svc(ep(1)) }), true); // 3 of 4 gone: held
    assert.deepEqual(log.recent().map((e) => `${e.kind} ${e.service} ${e.source}`), ['hold web a']);
    i.update('a', snap({ web: svc(...range(1, 4)) }), true); // recovered
    assert.deepEqual(log.recent().map((e) => `${e.kind} ${e.service}`), ['release web', 'hold web']);
    i.error('a', 'registry unreachable');
    const [h] = i.sources();
    assert.equal(h!.name, 'a');
    assert.equal(h!.synced, true);
    assert.equal(h!.updates, 3);
    assert.equal(h!.errors, 1);
    assert.equal(h!.lastError?.message, 'registry unreachable');
    assert.equal(h!.services, 1);
  } finally {
    i.stop();
  }
});

test('intake: a publish carries the earliest observation since the last one', () => {
  const seen: Array<number | undefined> = [];
  const i = new Intake({
    sources: [{ name: 'a', guard: NO_GUARD }],
    batching: { delayMs: 10_000, maxDelayMs: 10_000 },
    publish: (_m, meta) => seen.push(meta.observedAt),
    onSynced: () => {},
    telemetry: testTelemetry(),
  });
  try {
    i.update('a', snap({ web: svc(ep(1), ep(2)) }), true, { observedAt: 500 });
    i.update('a', snap({ web: svc(ep(1), ep(2), ep(3)) }), true, { observedAt: 700 }); // batched (an addition)
    i.update('a', snap({ web: svc(ep(1), ep(2), ep(3), ep(4)) }), true, { observedAt: 600 }); // still batched
    i.update('a', snap({ web: svc(ep(1, 'DRAINING'), ep(2), ep(3), ep(4)) }), true, { observedAt: 900 }); // urgent: flushes all
    assert.deepEqual(seen, [500, 600]);
  } finally {
    i.stop();
  }
});
