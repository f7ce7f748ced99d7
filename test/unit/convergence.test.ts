/**
 * The convergence tracker alone (no server): a change is observed once per stream and type on ACK, with the time
 * from its observation; changes that arrive while a response awaits its ACK ride the next response; NACKs,
 * unneeded kinds and closing streams settle a change without an observation; a change completes when every
 * stream settled it. And classify: the kind of a publish, drain > remove > add > health, structural on the full path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Convergence, EventLog, classify, convergenceMetrics } from '../../src/pipeline/convergence';
import type { Endpoint, Health, Mesh, Service } from '../../src/model/types';
import { testTelemetry } from '../support/telemetry';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('convergence: one observation per stream and type, at ACK, from the observation', () => {
  const c = clock();
  const telemetry = testTelemetry();
  const conv = new Convergence(telemetry, c.now);
  const { proxyAck: perProxy, lastAck } = convergenceMetrics(telemetry.metrics);
  const a = conv.stream();
  const b = conv.stream();
  const countBefore = perProxy.summary({ kind: 'drain', type: 'EDS' }).count;
  const lastBefore = lastAck.summary({ kind: 'drain' }).count;

  const rec = conv.begin({ kind: 'drain', services: ['web'], observedAt: c.now() - 5 });
  a.changed('EDS');
  a.changed('EDS'); // the same change touching the kind twice counts once
  b.changed('EDS');
  conv.end();
  a.sent('EDS', 'v1');
  b.sent('EDS', 'v9');
  assert.equal(rec.proxies, 2);
  a.answered('EDS', 'v0', c.now()); // not the version carrying it: ignored
  assert.equal(rec.acked, 0);
  c.advance(10);
  a.answered('EDS', 'v1', c.now());
  assert.equal(rec.acked, 1);
  assert.equal(rec.complete, false);
  c.advance(10);
  b.answered('EDS', 'v9', c.now());
  assert.equal(rec.complete, true);
  assert.equal(rec.lastAckAt, c.now());
  const s = perProxy.summary({ kind: 'drain', type: 'EDS' });
  assert.equal(s.count - countBefore, 2);
  assert.equal(lastAck.summary({ kind: 'drain' }).count - lastBefore, 1);
  assert.deepEqual(conv.report().changes[0]!.lastAckMs, 25);
});

test('convergence: changes waiting behind a pending response ride the next one; NACK, unneeded and close settle', () => {
  const c = clock();
  const conv = new Convergence(testTelemetry(), c.now);
  const s = conv.stream();
  const first = conv.begin({ kind: 'add', services: ['web'], observedAt: c.now() });
  s.changed('EDS');
  conv.end();
  s.sent('EDS', 'v1');
  const second = conv.begin({ kind: 'remove', services: ['web'], observedAt: c.now() });
  s.changed('EDS'); // v1 still awaits its ACK: this change waits
  conv.end();
  s.answered('EDS', 'v1', c.now());
  assert.equal(first.complete, true);
  assert.equal(second.complete, false);
  s.sent('EDS', 'v2');
  s.answered('EDS', 'v2', c.now(), 'rejected');
  assert.equal(second.complete, true);
  assert.equal(second.nacked, 1);
  assert.equal(second.acked, 0);

  const third = conv.begin({ kind: 'health', services: ['web'], observedAt: c.now() });
  s.changed('EDS');
  s.changed('CDS');
  conv.end();
  s.unneeded('CDS');
  assert.equal(third.outstanding, 1);
  s.close();
  assert.equal(third.complete, true);
  assert.equal(third.acked, 0);

  const none = conv.begin({ kind: 'health', services: ['x'], observedAt: c.now() });
  conv.end();
  assert.equal(none.complete, true, 'a change no stream needed completes at once');
  s.changed('EDS'); // outside begin/end: nothing is followed
  assert.equal(conv.report().changes.length, 4);
});

const ep = (n: number, health: Health = 'HEALTHY'): Endpoint => ({ address: `10.0.0.${n}`, port: 80, health, zone: '', weight: 1, source: 's', labels: {} });
const svc = (name: string, endpoints: Endpoint[]): Service => ({ name, endpoints, policy: {} });
const mesh = (...s: Service[]): Mesh => ({ services: new Map(s.map((x) => [x.name, x])) });

test('classify: the kind of a publish and its events', () => {
  const base = mesh(svc('web', [ep(1), ep(2)]));
  const cases: Record<string, { next: Mesh; structural?: boolean; kind: string; events: string[] }> = {
    drain: { next: mesh(svc('web', [ep(1, 'DRAINING'), ep(2)])), kind: 'drain', events: ['drain web 10.0.0.1:80'] },
    remove: { next: mesh(svc('web', [ep(1)])), kind: 'remove', events: ['remove web 10.0.0.2:80'] },
    add: { next: mesh(svc('web', [ep(1), ep(2), ep(3)])), kind: 'add', events: ['add web 10.0.0.3:80'] },
    health: { next: mesh(svc('web', [ep(1, 'UNHEALTHY'), ep(2)])), kind: 'health', events: ['health web 10.0.0.1:80'] },
    'drain beats add': { next: mesh(svc('web', [ep(1, 'DRAINING'), ep(2), ep(3)])), kind: 'drain', events: ['add web 10.0.0.3:80', 'drain web 10.0.0.1:80'] },
    structural: { next: mesh(svc('web', [ep(1), ep(2)]), svc('api', [ep(4)])), structural: true, kind: 'structural', events: ['service-added api 10.0.0.4:80'] },
  };
  for (const [name, tc] of Object.entries(cases)) {
    const got = classify(base, tc.next, tc.structural ?? false);
    assert.equal(got.kind, tc.kind, name);
    assert.deepEqual(got.events.map((e) => `${e.kind} ${e.service} ${e.endpoints.join(',')}`).sort(), tc.events.sort(), name);
  }
});

test('event log: bounded, newest first', () => {
  const log = new EventLog(3);
  for (let i = 0; i < 5; i++) log.record({ kind: 'add', service: `s${i}`, endpoints: [], count: 0 });
  assert.deepEqual(log.recent().map((e) => e.service), ['s4', 's3', 's2']);
});
