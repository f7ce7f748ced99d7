/**
 * Names and scopes for a real proxyless client, @grpc/grpc-js-xds, in namespace team-b with the egress scope
 * `team-b/api`: `xds:///api` (short, its own namespace) and `xds:///api.team-b.svc.cluster.local` reach team-b's
 * api; `xds:///web.team-a`, a service out of its scope, is "not found" (Herald answers it as absent, never leaks
 * it). Its own process (node --test per file): grpc-js-xds reads its bootstrap once per process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { EchoClient, startGrpcBackend, whoami } from '../support/grpc-backend';

test('grpc-js-xds in team-b, scoped to team-b/api: short and full names resolve, an out-of-scope target is not found', async (t) => {
  const api = await startGrpcBackend('api-b');
  const web = await startGrpcBackend('web-a');
  const services: ServiceSpec[] = [
    { name: 'team-b/api', policy: { protocol: 'http2' }, endpoints: [{ address: '127.0.0.1', port: api.port }] },
    { name: 'team-a/web', policy: { protocol: 'http2' }, endpoints: [{ address: '127.0.0.1', port: web.port }] },
  ];
  const h = await startTestHerald(services);
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${h.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'proxyless-scoped', cluster: 'test', locality: { zone: 'z1' }, metadata: { HERALD_NAMESPACE: 'team-b', HERALD_EGRESS_SCOPE: 'team-b/api' } },
  });
  (await import('@grpc/grpc-js-xds')).register();
  const clients = ['xds:///api', 'xds:///api.team-b.svc.cluster.local', 'xds:///web.team-a'].map((target) => new EchoClient(target, grpc.credentials.createInsecure()));
  t.after(async () => {
    for (const c of clients) c.close();
    api.stop();
    web.stop();
    await h.stop();
  });
  const [short, full, outOfScope] = clients as unknown as [grpc.Client, grpc.Client, grpc.Client];
  assert.equal((await whoami(short, 5000)).pod, 'api-b', 'xds:///api from team-b is team-b/api');
  assert.equal((await whoami(full, 5000)).pod, 'api-b');
  // Herald leaves the name out of its full-state LDS answer; grpc-js-xds, which never saw the resource, declares it
  // absent when its resource timer (15 s, gRFC A27) fires; a call after that fails at once with the resolver's error.
  void whoami(outOfScope, 1000).catch(() => undefined); // starts resolution
  await new Promise((r) => setTimeout(r, 16_500));
  const err = await whoami(outOfScope, 3000).then(
    () => assert.fail('an out-of-scope service must not be reachable'),
    (e: grpc.ServiceError) => e,
  );
  t.diagnostic(`out of scope: ${grpc.status[err.code]}: ${err.details}`);
  // grpc-js keeps such a call waiting for a resolution that never comes: the channel reports TRANSIENT_FAILURE
  // (its resolver's error: "LDS resource does not exist").
  assert.ok(err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED, `never served (${grpc.status[err.code]})`);
  const state = outOfScope.getChannel().getConnectivityState(false);
  t.diagnostic(`out-of-scope channel: ${grpc.connectivityState[state]}`);
  assert.equal(state, grpc.connectivityState.TRANSIENT_FAILURE, 'the resolver gave up: the target does not exist');

  const proxy = (await h.adminGet('/proxies')).proxies.find((p: any) => p.nodeId === 'proxyless-scoped');
  assert.ok(proxy.types['type.googleapis.com/envoy.config.listener.v3.Listener'].subscribed.includes('web.team-a'), 'the client did ask for it');
  assert.equal(h.cache.resources(proxy.view, 'listener').has('web.team-a'), false, 'and its view has no such listener');
  assert.match(proxy.view, /\|ns=team-b\|scope=team-b\/api$/, 'namespace and scope are part of the view');
  const clusters = h.cache.resources(proxy.view, 'cluster');
  assert.deepEqual([...clusters.keys()], ['api.team-b'], 'the view holds its scope only');
  for (const type of Object.values(proxy.types) as any[]) assert.equal(type.nacks, 0, JSON.stringify(type.lastNack));
});
