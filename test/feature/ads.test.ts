/**
 * The ADS server over real gRPC on loopback, fed by the real file source: SotW and Delta flows, per-proxy state,
 * bad input. Each test starts its own Herald.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { AdsClient, typeUrl } from '../support/ads-client';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { sleep, waitFor } from '../support/wait';

const node = (id: string, extra: Record<string, unknown> = {}) => ({ id, cluster: 'test', locality: { zone: 'z1' }, ...extra });

const TWO: ServiceSpec[] = [
  { name: 'alpha', endpoints: [{ address: '10.0.0.1', port: 80 }] },
  { name: 'beta', endpoints: [{ address: '10.0.0.2', port: 80 }] },
];

function ports(cla: any): number[] {
  return (cla.endpoints ?? []).flatMap((l: any) => l.lbEndpoints.map((e: any) => e.endpoint.address.socketAddress.portValue)).sort();
}

test('SotW: wildcard CDS, named EDS, ACKs, and a services-file edit reaches the stream', async (t) => {
  const h = await startTestHerald(TWO);
  const c = new AdsClient(h.xdsPort, 'sotw');
  t.after(async () => {
    c.close();
    await h.stop();
  });
  c.send({ node: node('n1'), typeUrl: typeUrl('cluster') });
  const cds = await c.next('cluster');
  assert.deepEqual([...cds.resources.keys()], ['alpha.default', 'beta.default']);
  assert.ok(cds.versionInfo.startsWith(h.cache.prefix), 'versions carry the process prefix');
  c.send({ typeUrl: typeUrl('cluster'), responseNonce: cds.nonce, versionInfo: cds.versionInfo });
  c.send({ typeUrl: typeUrl('endpoint'), resourceNames: ['alpha.default', 'beta.default'] });
  const eds = await c.next('endpoint');
  assert.deepEqual([...eds.resources.keys()].sort(), ['alpha.default', 'beta.default']);
  c.send({ typeUrl: typeUrl('endpoint'), resourceNames: ['alpha.default', 'beta.default'], responseNonce: eds.nonce, versionInfo: eds.versionInfo });

  h.writeServices([{ name: 'alpha', endpoints: [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.1', port: 81 }] }, TWO[1]!]);
  const eds2 = await c.next('endpoint', 1);
  assert.deepEqual([...eds2.resources.keys()], ['alpha.default'], 'only the changed assignment is sent');
  assert.deepEqual(ports(eds2.resources.get('alpha.default')), [80, 81]);
  await sleep(200);
  assert.equal(c.count('cluster'), 1, 'an endpoint change does not touch clusters');

  const proxies = (await h.adminGet('/proxies')).proxies;
  assert.equal(proxies.length, 1);
  assert.equal(proxies[0].nodeId, 'n1');
  assert.equal(proxies[0].protocol, 'sotw');
  assert.equal(proxies[0].types[typeUrl('cluster')].lastAckedVersion, cds.versionInfo);
  assert.deepEqual(proxies[0].types[typeUrl('endpoint')].subscribed, ['alpha.default', 'beta.default']);
});

test('Delta: wildcard CDS, per-resource versions, removed_resources on service removal', async (t) => {
  const h = await startTestHerald(TWO);
  const c = new AdsClient(h.xdsPort, 'delta');
  t.after(async () => {
    c.close();
    await h.stop();
  });
  c.send({ node: node('d1'), typeUrl: typeUrl('cluster') });
  const cds = await c.next('cluster');
  assert.deepEqual([...cds.resources.keys()].sort(), ['alpha.default', 'beta.default']);
  assert.ok([...cds.versions.values()].every((v) => v.startsWith(h.cache.prefix)));
  c.send({ typeUrl: typeUrl('cluster'), responseNonce: cds.nonce });
  c.send({ typeUrl: typeUrl('endpoint'), resourceNamesSubscribe: ['alpha.default', 'beta.default'] });
  const eds = await c.next('endpoint');
  c.send({ typeUrl: typeUrl('endpoint'), responseNonce: eds.nonce });

  h.writeServices([TWO[0]!]);
  const cds2 = await c.next('cluster', 1);
  assert.deepEqual(cds2.removed, ['beta.default']);
  assert.equal(cds2.resources.size, 0);
  c.send({ typeUrl: typeUrl('cluster'), responseNonce: cds2.nonce });
  const eds2 = await c.next('endpoint', 1);
  assert.deepEqual(eds2.removed, ['beta.default'], 'subscribed assignment that is gone is removed too');
  const proxies = (await h.adminGet('/proxies')).proxies;
  assert.equal(proxies[0].protocol, 'delta');
});

test('NACK: error_detail is recorded per proxy and type and shown in /proxies', async (t) => {
  const h = await startTestHerald(TWO);
  const c = new AdsClient(h.xdsPort, 'sotw');
  t.after(async () => {
    c.close();
    await h.stop();
  });
  c.send({ node: node('nacker'), typeUrl: typeUrl('cluster') });
  const cds = await c.next('cluster');
  c.send({ typeUrl: typeUrl('cluster'), responseNonce: cds.nonce, errorDetail: { code: 3, message: 'cluster alpha: invalid thing' } });
  const p = await waitFor('NACK in /proxies', async () => {
    const proxies = (await h.adminGet('/proxies')).proxies;
    return proxies[0]?.types[typeUrl('cluster')]?.lastNack;
  });
  assert.equal(p.message, 'cluster alpha: invalid thing');
  assert.equal(p.version, cds.versionInfo);
});

test('bad input: malformed bytes and a missing node end that stream with INVALID_ARGUMENT; others carry on', async (t) => {
  const h = await startTestHerald(TWO);
  const good = new AdsClient(h.xdsPort, 'delta');
  const garbage = new AdsClient(h.xdsPort, 'sotw');
  const anonymous = new AdsClient(h.xdsPort, 'delta');
  const noType = new AdsClient(h.xdsPort, 'sotw');
  t.after(async () => {
    for (const c of [good, garbage, anonymous, noType]) c.close();
    await h.stop();
  });
  good.send({ node: node('good'), typeUrl: typeUrl('cluster') });
  const first = await good.next('cluster');
  garbage.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
  assert.equal((await garbage.ended()).code, grpc.status.INVALID_ARGUMENT);
  anonymous.send({ typeUrl: typeUrl('cluster') });
  const s = await anonymous.ended();
  assert.equal(s.code, grpc.status.INVALID_ARGUMENT);
  assert.match(s.details, /node\.id/);
  noType.send({ node: node('notype') });
  assert.equal((await noType.ended()).code, grpc.status.INVALID_ARGUMENT);

  good.send({ typeUrl: typeUrl('cluster'), responseNonce: first.nonce });
  h.writeServices([...TWO, { name: 'gamma', endpoints: [] }]);
  const second = await good.next('cluster', 1);
  assert.ok(second.resources.has('gamma.default'), 'the good stream still receives updates');
  const metrics = await (await fetch(`http://127.0.0.1:${h.adminPort}/metrics`)).text();
  assert.match(metrics, /herald_xds_bad_requests_total\{reason="malformed"\} [1-9]/);
});

test('bad input: unknown type URL and stale nonces are ignored without closing the stream', async (t) => {
  const h = await startTestHerald(TWO);
  const c = new AdsClient(h.xdsPort, 'sotw');
  t.after(async () => {
    c.close();
    await h.stop();
  });
  c.send({ node: node('odd'), typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', resourceNames: ['x'] });
  c.send({ typeUrl: typeUrl('endpoint'), resourceNames: ['alpha.default'] });
  const eds = await c.next('endpoint');
  // A request answering a nonce that was never sent is ignored: no response, no state change.
  c.send({ typeUrl: typeUrl('endpoint'), resourceNames: ['alpha.default', 'beta.default'], responseNonce: 'bogus' });
  await sleep(200);
  assert.equal(c.count('endpoint'), 1);
  c.send({ typeUrl: typeUrl('endpoint'), resourceNames: ['alpha.default', 'beta.default'], responseNonce: eds.nonce });
  const eds2 = await c.next('endpoint', 1);
  assert.deepEqual([...eds2.resources.keys()], ['beta.default']);
  assert.equal(c.status, undefined, 'the stream is still open');
});

test('a client that never ACKs gets one response per type; other clients keep converging', async (t) => {
  const h = await startTestHerald(TWO);
  const silent = new AdsClient(h.xdsPort, 'sotw');
  const polite = new AdsClient(h.xdsPort, 'sotw');
  t.after(async () => {
    silent.close();
    polite.close();
    await h.stop();
  });
  silent.send({ node: node('silent'), typeUrl: typeUrl('endpoint'), resourceNames: ['alpha.default'] });
  polite.send({ node: node('polite'), typeUrl: typeUrl('endpoint'), resourceNames: ['alpha.default'] });
  await silent.next('endpoint');
  let last = await polite.next('endpoint');
  for (let i = 0; i < 3; i++) {
    polite.send({ typeUrl: typeUrl('endpoint'), resourceNames: ['alpha.default'], responseNonce: last.nonce });
    h.writeServices([{ name: 'alpha', endpoints: [{ address: '10.0.0.1', port: 100 + i }] }, TWO[1]!]);
    last = await polite.next('endpoint', i + 1);
    assert.deepEqual(ports(last.resources.get('alpha.default')), [100 + i]);
  }
  assert.equal(silent.count('endpoint'), 1, 'no flood towards a client that does not ACK');
  const proxies = (await h.adminGet('/proxies')).proxies;
  const s = proxies.find((p: any) => p.nodeId === 'silent');
  assert.ok(s.types[typeUrl('endpoint')].waitingForAckMs >= 0);
});

test('nothing is served until the sources have synced; a broken services file keeps the last good config', async (t) => {
  const h = await startTestHerald([]);
  fs.writeFileSync(h.servicesFile, 'services: [ {{{');
  t.after(async () => h.stop());
  // The empty initial file synced already, so write a broken edit and check the last good (empty) config stays.
  const c = new AdsClient(h.xdsPort, 'sotw');
  t.after(() => c.close());
  c.send({ node: node('n'), typeUrl: typeUrl('cluster') });
  const cds = await c.next('cluster');
  assert.equal(cds.resources.size, 0);
  c.send({ typeUrl: typeUrl('cluster'), responseNonce: cds.nonce });
  h.writeServices(TWO);
  const cds2 = await c.next('cluster', 1);
  assert.equal(cds2.resources.size, 2);
  c.send({ typeUrl: typeUrl('cluster'), responseNonce: cds2.nonce });
  fs.writeFileSync(h.servicesFile, 'services: [{name: alpha, endpoints: [{address: nope, port: 1}]}]');
  await sleep(400);
  assert.equal(c.count('cluster'), 2, 'a broken edit publishes nothing');
  assert.equal((await h.adminGet('/services')).services.length, 2);
  const metrics = await (await fetch(`http://127.0.0.1:${h.adminPort}/metrics`)).text();
  assert.match(metrics, /herald_source_errors_total\{source="file"\} [1-9]/);
});

test('stopping Herald ends every connected stream, so proxies reconnect elsewhere instead of waiting', async (t) => {
  const h = await startTestHerald(TWO);
  const sotw = new AdsClient(h.xdsPort, 'sotw');
  const delta = new AdsClient(h.xdsPort, 'delta');
  t.after(() => {
    sotw.close();
    delta.close();
  });
  sotw.send({ node: node('n-stop-sotw'), typeUrl: typeUrl('cluster') });
  delta.send({ node: node('n-stop-delta'), typeUrl: typeUrl('cluster') });
  await sotw.next('cluster');
  await delta.next('cluster');
  await h.stop();
  const [a, b] = await Promise.all([sotw.ended(3000), delta.ended(3000)]);
  assert.notEqual(a.code, grpc.status.OK);
  assert.notEqual(b.code, grpc.status.OK);
});
