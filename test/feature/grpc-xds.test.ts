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

const METHOD = '/herald.test.Echo/Whoami';
const id = (b: Buffer) => b;

async function startGrpcBackend(name: string): Promise<{ port: number; stop(): void }> {
  const server = new grpc.Server();
  const def = { Whoami: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } };
  server.addService(def as unknown as grpc.ServiceDefinition, {
    Whoami: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, stop: () => server.forceShutdown() };
}

function whoami(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(METHOD, id, id, Buffer.alloc(0), { deadline: Date.now() + 3000 } as grpc.CallOptions, (err, res) => (err ? reject(err) : resolve(res!.toString()))),
  );
}

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
  const client = new grpc.Client('xds:///alpha', grpc.credentials.createInsecure());
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
