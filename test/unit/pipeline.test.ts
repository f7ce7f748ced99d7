/** Guard, batcher and merger: table tests with the real classes and a controllable clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Guard } from '../../src/pipeline/guard';
import { Batcher, takesTrafficAway } from '../../src/pipeline/batcher';
import { Merger } from '../../src/model/merge';
import type { Endpoint, Health, Mesh } from '../../src/model/types';
import type { SourceService, SourceSnapshot } from '../../src/sources/source';
import { testTelemetry } from '../support/telemetry';

const ep = (n: number, health: Health = 'HEALTHY', source = 's'): Endpoint => ({ address: `10.0.0.${n}`, port: 80, health, zone: '', weight: 1, source, labels: {} });
const svc = (...eps: Endpoint[]): SourceService => ({ endpoints: eps });
const snap = (entries: Record<string, SourceService>): SourceSnapshot => new Map(Object.entries(entries));
const addrs = (s: SourceSnapshot, name: string) => (s.get(name)?.endpoints ?? []).map((e) => e.address);

interface GuardCase {
  readonly steps: ReadonlyArray<{ readonly at: number; readonly snapshot: SourceSnapshot; readonly fullRead?: boolean; readonly expect: string[] }>;
  readonly confirmByReread?: boolean;
  readonly serviceSize?: number;
}

const guardCases: Record<string, GuardCase> = {
  'a small removal is applied at once': {
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2), ep(3), ep(4)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] },
      { at: 1, snapshot: snap({ web: svc(ep(1), ep(2), ep(3)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
    ],
  },
  'removing more than half is held': {
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2), ep(3), ep(4)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] },
      { at: 1, snapshot: snap({ web: svc(ep(1)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] },
    ],
  },
  'emptying a service is held, and released after the hold time': {
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2)) }), expect: ['10.0.0.1', '10.0.0.2'] },
      { at: 1, snapshot: snap({}), expect: ['10.0.0.1', '10.0.0.2'] },
      { at: 500, snapshot: snap({}), expect: ['10.0.0.1', '10.0.0.2'] },
      { at: 1001, snapshot: snap({}), expect: [] },
    ],
  },
  'DRAINING endpoints leaving is a normal scale-down': {
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2, 'DRAINING'), ep(3, 'DRAINING'), ep(4, 'DRAINING')) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] },
      { at: 1, snapshot: snap({ web: svc(ep(1)) }), expect: ['10.0.0.1'] },
    ],
  },
  'a re-read confirms the reduction when the source allows it': {
    confirmByReread: true,
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2), ep(3)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
      { at: 1, snapshot: snap({ web: svc(ep(1)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
      { at: 2, snapshot: snap({ web: svc(ep(1)) }), fullRead: true, expect: ['10.0.0.1'] },
    ],
  },
  'a re-read does not confirm when the source says reads can be wrong twice': {
    confirmByReread: false,
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2), ep(3)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
      { at: 1, snapshot: snap({ web: svc(ep(1)) }), fullRead: true, expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
      { at: 2, snapshot: snap({ web: svc(ep(1)) }), fullRead: true, expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
    ],
  },
  'recovery releases the hold': {
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2)) }), expect: ['10.0.0.1', '10.0.0.2'] },
      { at: 1, snapshot: snap({}), expect: ['10.0.0.1', '10.0.0.2'] },
      { at: 2, snapshot: snap({ web: svc(ep(1), ep(2), ep(5)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.5'] },
    ],
  },
  'every VM of a service that is half VMs leaving at once is held (exactly the share, more than one endpoint)': {
    serviceSize: 8,
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2), ep(3), ep(4)) }), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] },
      { at: 1, snapshot: snap({}), expect: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] },
    ],
  },
  'one endpoint of two leaving is a normal scale-down (exactly the share, one endpoint)': {
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1), ep(2)) }), expect: ['10.0.0.1', '10.0.0.2'] },
      { at: 1, snapshot: snap({ web: svc(ep(1)) }), expect: ['10.0.0.1'] },
    ],
  },
  'the last VM of a service that pods also serve may leave': {
    serviceSize: 5,
    steps: [
      { at: 0, snapshot: snap({ web: svc(ep(1)) }), expect: ['10.0.0.1'] },
      { at: 1, snapshot: snap({}), expect: [] },
    ],
  },
};

for (const [name, c] of Object.entries(guardCases)) {
  test(`guard: ${name}`, () => {
    let now = 0;
    const g = new Guard('s', { maxRemovalFraction: 0.5, holdMs: 1000, confirmByReread: c.confirmByReread ?? false }, () => undefined, testTelemetry(), () => now);
    try {
      for (const [i, step] of c.steps.entries()) {
        now = step.at;
        const out = g.filter(step.snapshot, { fullRead: step.fullRead ?? false }, () => c.serviceSize);
        assert.deepEqual(addrs(out, 'web'), step.expect, `step ${i}`);
      }
    } finally {
      g.stop();
    }
  });
}

const mesh = (eps: Endpoint[]): Mesh => ({ services: new Map([['web', { name: 'web', endpoints: eps, policy: {} }]]) });

const trafficCases: Record<string, { before: Endpoint[]; after: Endpoint[]; away: boolean }> = {
  'a new endpoint adds traffic': { before: [ep(1)], after: [ep(1), ep(2)], away: false },
  'DRAINING takes traffic away': { before: [ep(1), ep(2)], after: [ep(1), ep(2, 'DRAINING')], away: true },
  'UNHEALTHY takes traffic away': { before: [ep(1)], after: [ep(1, 'UNHEALTHY')], away: true },
  'a removal takes traffic away': { before: [ep(1), ep(2)], after: [ep(1)], away: true },
  'recovering from UNHEALTHY adds traffic': { before: [ep(1, 'UNHEALTHY')], after: [ep(1)], away: false },
};

for (const [name, c] of Object.entries(trafficCases)) {
  test(`batcher lane: ${name}`, () => assert.equal(takesTrafficAway(mesh(c.before), mesh(c.after)), c.away));
}

test('batcher: a burst coalesces into one publish after the delay; traffic taken away goes out at once', async () => {
  const published: Mesh[] = [];
  let latest: Mesh = mesh([]);
  const b = new Batcher({ delayMs: 40, maxDelayMs: 200 }, () => published.push(latest), testTelemetry());
  const offer = (next: Mesh) => {
    const prev = latest;
    latest = next;
    b.offer(takesTrafficAway(prev, next));
  };
  try {
    for (let i = 1; i <= 20; i++) offer(mesh(Array.from({ length: i }, (_, j) => ep(j + 1))));
    assert.equal(published.length, 0);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(published.length, 1);
    assert.equal(published[0]!.services.get('web')!.endpoints.length, 20);
    offer(mesh([ep(1, 'DRAINING'), ...Array.from({ length: 19 }, (_, j) => ep(j + 2))]));
    assert.equal(published.length, 2, 'DRAINING is published synchronously');
  } finally {
    b.stop();
  }
});

test('batcher: a steady stream is still published by the maximum delay', async () => {
  const published: string[] = [];
  const b = new Batcher({ delayMs: 50, maxDelayMs: 120 }, (lane) => published.push(lane), testTelemetry());
  try {
    const start = Date.now();
    while (Date.now() - start < 300) {
      b.offer(false);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(published.length >= 2, `published ${published.length} times in 300 ms of continuous updates`);
    assert.ok(published.every((lane) => lane === 'max-delay'), `lanes ${published.join(',')}`);
  } finally {
    b.stop();
  }
});

test('merger: first source wins an address:port; unchanged services keep their identity', () => {
  const m = new Merger(['k8s', 'vms']);
  const k8s = svc(ep(1, 'DRAINING', 'k8s'));
  const vms = svc(ep(1, 'HEALTHY', 'vms'), ep(2, 'HEALTHY', 'vms'));
  const other = svc(ep(9, 'HEALTHY', 'k8s'));
  const a = m.merge(new Map([['k8s', snap({ web: k8s, api: other })], ['vms', snap({ web: vms })]]));
  assert.deepEqual(a.services.get('web')!.endpoints.map((e) => [e.address, e.health, e.source]), [
    ['10.0.0.1', 'DRAINING', 'k8s'],
    ['10.0.0.2', 'HEALTHY', 'vms'],
  ]);
  const b = m.merge(new Map([['k8s', snap({ web: k8s, api: svc(ep(8)) })], ['vms', snap({ web: vms })]]));
  assert.equal(b.services.get('web'), a.services.get('web'), 'same inputs, same Service object');
  assert.notEqual(b.services.get('api'), a.services.get('api'));
});

test('guard: while a removal is held, the rest of the update goes through (DRAINING, new endpoints)', () => {
  let now = 0;
  const g = new Guard('s', { maxRemovalFraction: 0.5, holdMs: 1000, confirmByReread: false }, () => undefined, testTelemetry(), () => now);
  try {
    g.filter(snap({ web: svc(ep(1), ep(2), ep(3), ep(4)) }));
    now = 1;
    const out = g.filter(snap({ web: svc(ep(1, 'DRAINING'), ep(5)) }));
    assert.deepEqual(
      out.get('web')!.endpoints.map((e) => [e.address, e.health]),
      [
        ['10.0.0.1', 'DRAINING'],
        ['10.0.0.2', 'HEALTHY'],
        ['10.0.0.3', 'HEALTHY'],
        ['10.0.0.4', 'HEALTHY'],
        ['10.0.0.5', 'HEALTHY'],
      ],
    );
    assert.deepEqual(g.held().map((h) => h.service), ['web']);
  } finally {
    g.stop();
  }
});

test('batcher lane: a service removed in the same window does not hide another service going DRAINING', () => {
  const prev: Mesh = { services: new Map([['gone', { name: 'gone', endpoints: [], policy: {} }], ['web', { name: 'web', endpoints: [ep(1), ep(2)], policy: {} }]]) };
  const next: Mesh = { services: new Map([['web', { name: 'web', endpoints: [ep(1, 'DRAINING'), ep(2)], policy: {} }]]) };
  assert.equal(takesTrafficAway(prev, next), true);
});
