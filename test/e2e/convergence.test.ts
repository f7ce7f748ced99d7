/**
 * Convergence in production metrics, against two real Envoys (one SotW, one Delta): a drain adds exactly one
 * observation per proxy to herald_convergence_seconds{kind="drain",type="EDS"} (and none to other kinds or types),
 * one to herald_convergence_last_ack_seconds{kind="drain"}, and the change's last-ACK time in /convergence matches
 * what this test sees from outside: the moment the later of the two Envoys shows the host DRAINING in its admin
 * /clusters, polled back to back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { startTestEnvoy, type TestEnvoy } from '../support/envoy';
import { waitFor } from '../support/wait';

const web = (health = 'HEALTHY'): ServiceSpec[] => [
  {
    name: 'web',
    endpoints: [
      { address: '127.0.0.1', port: 9, zone: 'z1', health },
      { address: '127.0.0.2', port: 9, zone: 'z1' },
    ],
  },
];

/** One series' value from Prometheus text, 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Polls one Envoy's /clusters back to back until 127.0.0.1:9 is DRAINING: when it was first seen, and when the poll before it began. */
async function watchDrain(e: TestEnvoy, deadline: number): Promise<{ seenAt: number; notSeenAt: number; polls: number }> {
  let notSeenAt = Date.now();
  let polls = 0;
  for (;;) {
    const started = Date.now();
    const h = await e.hosts('web.default');
    polls++;
    if (h.get('127.0.0.1:9')?.healthStatus?.eds_health_status === 'DRAINING') return { seenAt: Date.now(), notSeenAt, polls };
    notSeenAt = started;
    if (Date.now() > deadline) throw new Error('the drain did not reach the Envoy in time');
  }
}

test('convergence metrics: one observation per proxy per change; the last-ACK time matches the outside view', async (t) => {
  const h = await startTestHerald(web());
  const sotw = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'sotw', nodeId: 'conv-sotw', zone: 'z1' });
  const delta = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'delta', nodeId: 'conv-delta', zone: 'z1' });
  t.after(async () => {
    await sotw.stop();
    await delta.stop();
    await h.stop();
  });
  const metrics = async () => (await fetch(`http://127.0.0.1:${h.adminPort}/metrics`)).text();
  await waitFor('both Envoys SYNCED', async () => {
    const s = await h.adminGet('/status');
    return s.proxies.length === 2 && s.proxies.every((p: any) => ['CDS', 'EDS', 'LDS', 'RDS'].every((k) => p.types[k]?.state === 'SYNCED'));
  });
  const before = await metrics();
  const lastBefore = (await h.adminGet('/convergence')).changes[0]?.id ?? 0;

  h.writeServices(web('DRAINING'));
  const deadline = Date.now() + 15_000;
  const [a, b] = await Promise.all([watchDrain(sotw, deadline), watchDrain(delta, deadline)]);

  const change = await waitFor('the drain recorded complete in /convergence', async () => {
    const c = (await h.adminGet('/convergence')).changes.find((x: any) => x.id > lastBefore && x.kind === 'drain');
    return c?.complete ? c : undefined;
  });
  assert.deepEqual(change.services, ['default/web']);
  assert.equal(change.proxies, 2, 'sent to both Envoys');
  assert.equal(change.acked, 2, 'ACKed by both');
  assert.equal(change.nacked, 0);

  const after = await metrics();
  const delta_ = (series: string) => sample(after, series) - sample(before, series);
  assert.equal(delta_('herald_convergence_seconds_count{kind="drain",type="EDS"}'), 2, 'one observation per proxy');
  for (const type of ['CDS', 'LDS', 'RDS']) assert.equal(delta_(`herald_convergence_seconds_count{kind="drain",type="${type}"}`), 0, `a drain carries no ${type}`);
  for (const kind of ['add', 'remove', 'health', 'structural']) assert.equal(delta_(`herald_convergence_seconds_count{kind="${kind}",type="EDS"}`), 0, `no ${kind} observed`);
  assert.equal(delta_('herald_convergence_last_ack_seconds_count{kind="drain"}'), 1, 'one last-ACK observation per change');
  assert.match(after, /herald_build_info\{node="v20[^"]*",version="[^"]+"\} 1/);
  assert.match(after, /nodejs_eventloop_lag_p99_seconds /);

  // The outside view: the later Envoy showed DRAINING at `seen` (and had not when its previous poll began). Envoy
  // applies an EDS update before it ACKs it, so the last ACK lies after that previous poll began and, allowing
  // for the ACK's trip over loopback and this process's event loop, a few ms after `seen` at most.
  const last = a.seenAt >= b.seenAt ? a : b;
  const lastAckAt = Date.parse(change.lastAckAt);
  const observedAt = Date.parse(change.observedAt);
  const outsideMs = last.seenAt - observedAt;
  t.diagnostic(`last ACK ${change.lastAckMs} ms after observation; outside: last Envoy showed it ${outsideMs} ms after (previous poll began ${last.notSeenAt - observedAt} ms); polls ${a.polls}+${b.polls}`);
  assert.equal(change.lastAckMs, lastAckAt - observedAt);
  assert.ok(lastAckAt >= last.notSeenAt - 2, `last ACK (${lastAckAt - observedAt} ms) before the outside could have missed the drain (${last.notSeenAt - observedAt} ms)`);
  assert.ok(lastAckAt <= last.seenAt + 5, `last ACK (${lastAckAt - observedAt} ms) more than 5 ms after the outside saw it (${outsideMs} ms)`);

  // The same change in /events, with its endpoint.
  const events = (await h.adminGet('/events')).events;
  assert.ok(events.some((e: any) => e.kind === 'drain' && e.service === 'default/web' && e.endpoints.includes('127.0.0.1:9')), JSON.stringify(events.slice(0, 3)));
  const sources = (await h.adminGet('/sources')).sources;
  assert.equal(sources.length, 1);
  assert.equal(sources[0].name, 'file');
  assert.equal(sources[0].synced, true);
  assert.ok(Date.parse(sources[0].lastUpdateAt) >= observedAt);
});
