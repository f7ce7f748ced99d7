/**
 * In-process gRPC test backends speaking the lab backend's Echo service (lab/src/backend/grpc.ts), for proxyless
 * grpc-js-xds tests: each answers Whoami with its own name as `pod`.
 */
import * as grpc from '@grpc/grpc-js';
import { ECHO_SERVICE } from '../../lab/src/backend/grpc';

export { whoami, EchoClient } from '../../lab/src/backend/grpc';

export interface GrpcBackend {
  readonly port: number;
  stop(): void;
}

export async function startGrpcBackend(name: string): Promise<GrpcBackend> {
  const server = new grpc.Server();
  const reply = Buffer.from(JSON.stringify({ pod: name, namespace: 'test', node: '', ip: '127.0.0.1', terminating: false }));
  server.addService(ECHO_SERVICE as unknown as grpc.ServiceDefinition, {
    whoami: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, reply),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, stop: () => server.forceShutdown() };
}
