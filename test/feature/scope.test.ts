/**
 * Egress scopes over real gRPC with the file source: a Delta stream scoped to team-b/api gets only that Cluster;
 * its EDS subscription to an out-of-scope name is answered as removed (absent), never with the assignment; an
 * endpoint change to an out-of-scope service sends it nothing, one to its own service is sent; a proxy in team-b
 * routes the short name `api`, and its view holds only the scope's virtual host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsClient, typeUrl } from '../support/ads-client';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { sleep } from '../support/wait';

const services = (port = 80): ServiceSpec[] => [
  { name: 'team-a/web', endpoints: [{ address: '10.0.1.1', port }] },
  { name: 'team-b/api', endpoints: [{ address: '10.0.2.1', port: 80 }] },
];

test('Delta, scoped: only the scope is served; an out-of-scope name is absent; out-of-scope changes send nothing', async (t) => {
  const h = await startTestHerald(services());
  const c = new AdsClient(h.xdsPort, 'delta');
  t.after(async () => {
    c.close();
    await h.stop();
  });
  c.send({ node: { id: 'scoped', metadata: { fields: { HERALD_NAMESPACE: { stringValue: 'team-b' }, HERALD_EGRESS_SCOPE: { stringValue: 'team-b/api' } } } }, typeUrl: typeUrl('cluster') });
  const cds = await c.next('cluster');
  assert.deepEqual([...cds.resources.keys()], ['api.team-b']);
  c.send({ typeUrl: typeUrl('cluster'), responseNonce: cds.nonce });
  c.send({ typeUrl: typeUrl('endpoint'), resourceNamesSubscribe: ['api.team-b', 'web.team-a'] });
  const eds = await c.next('endpoint');
  assert.deepEqual([...eds.resources.keys()], ['api.team-b']);
  assert.deepEqual(eds.removed, ['web.team-a'], 'the out-of-scope assignment is answered as absent');
  c.send({ typeUrl: typeUrl('endpoint'), responseNonce: eds.nonce });
  c.send({ typeUrl: typeUrl('route'), resourceNamesSubscribe: ['egress'] });
  const rds = await c.next('route');
  const hosts = rds.resources.get('egress').virtualHosts.map((v: any) => [v.name, v.domains]);
  assert.deepEqual(hosts, [['api.team-b', ['api.team-b.svc.cluster.local', 'api.team-b.svc', 'api.team-b', 'api']]]);
  c.send({ typeUrl: typeUrl('route'), responseNonce: rds.nonce });

  const before = c.count('endpoint');
  h.writeServices(services(81));
  await sleep(1500);
  assert.equal(c.count('endpoint'), before, 'a change to team-a/web sends the scoped stream nothing');
  h.writeServices([services(81)[0]!, { name: 'team-b/api', endpoints: [{ address: '10.0.2.1', port: 81 }] }]);
  const eds2 = await c.next('endpoint', before);
  assert.deepEqual([...eds2.resources.keys()], ['api.team-b'], 'its own service is sent');
});
