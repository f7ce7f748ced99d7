/**
 * A real proxyless xDS client, @grpc/grpc-js-xds, resolves `xds:///alpha` through Herald and its RPCs reach
 * real gRPC backends; an endpoint edit moves its traffic. This file runs in its own process (node --test), which
 * matters because grpc-js-xds caches its bootstrap per process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { waitFor } from '../support/wait';
import { EchoClient, startGrpcBackend, whoami as whoamiReply, type GrpcBackend } from '../support/grpc-backend';

const whoami = async (client: grpc.Client): Promise<string> => (await whoamiReply(client, 3000)).pod;


test('grpc-js-xds resolves xds:///alpha through Herald and follows an endpoint change', async (t) => {
  const b1 = await startGrpcBackend('backend-1');
  const b2 = await startGrpcBackend('backend-2');
  const spec = (port: number): ServiceSpec[] => [{ name: 'alpha', policy: { protocol: 'http2' }, endpoints: [{ address: '127.0.0.1', port, zone: 'z1' }] }];
  const h = await startTestHerald(spec(b1.port));
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${h.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'proxyless-1', cluster: 'test', locality: { zone: 'z1' } },
  });
  // Loaded after the bootstrap is set: the package reads it once per process.
  (await import('@grpc/grpc-js-xds')).register();
  const client = new EchoClient('xds:///alpha', grpc.credentials.createInsecure());
  t.after(async () => {
    client.close();
    b1.stop();
    b2.stop();
    await h.stop();
  });

  assert.equal(await whoami(client), 'backend-1');
  const proxies = (await h.adminGet('/proxies')).proxies;
  assert.equal(proxies[0].nodeId, 'proxyless-1');
  assert.match(proxies[0].view, /^grpc\|/, 'a proxyless client gets the gRPC view (API listeners)');
  for (const type of Object.values(proxies[0].types) as any[]) {
    assert.equal(type.nacks, 0, `grpc-js-xds accepted every resource (${JSON.stringify(type.lastNack)})`);
  }

  h.writeServices(spec(b2.port));
  await waitFor('traffic to move to backend-2', async () => (await whoami(client)) === 'backend-2', 10_000);
});
