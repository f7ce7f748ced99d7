/**
 * The backend's gRPC service, for proxyless tests: `/herald.lab.Echo/Whoami`, defined without a .proto.
 * Messages are raw bytes: the request is ignored, the reply is UTF-8 JSON (WhoamiReply). The status
 * and delay switches apply as for HTTP (a status ≥ 500 answers UNAVAILABLE, other non-2xx UNKNOWN).
 */
import * as grpc from '@grpc/grpc-js';
import type { BackendConfig } from './config';
import type { FailureSwitches } from './switches';
import type { Lifecycle } from './lifecycle';

export interface WhoamiReply {
  pod: string;
  namespace: string;
  node: string;
  ip: string;
  terminating: boolean;
}

const bytes = (b: Buffer): Buffer => b;

/** Service definition shared by the server and clients (grpc.makeGenericClientConstructor). */
export const ECHO_SERVICE = {
  whoami: {
    path: '/herald.lab.Echo/Whoami',
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
} satisfies grpc.ServiceDefinition;

/** Client class: `new EchoClient('127.1.0.5:9090', grpc.credentials.createInsecure())` or an xds:/// target. */
export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'herald.lab.Echo');

/** Calls Whoami on `client` and parses the reply; rejects with the gRPC error. */
export function whoami(client: grpc.Client, deadlineMs = 5_000): Promise<WhoamiReply> {
  return new Promise((resolve, reject) => {
    type WhoamiMethod = (req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Buffer>) => grpc.ClientUnaryCall;
    const method = (client as unknown as { whoami: WhoamiMethod }).whoami;
    method.call(client, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, reply) => {
      if (err) return reject(err);
      try {
        resolve(JSON.parse((reply ?? Buffer.alloc(0)).toString('utf8')) as WhoamiReply);
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** Builds the server with the Echo service; the caller binds and shuts it down. */
export function createGrpcServer(cfg: BackendConfig, switches: FailureSwitches, lifecycle: Lifecycle): grpc.Server {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    whoami: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      lifecycle.begin();
      const sw = switches.snapshot();
      const answer = () => {
        lifecycle.end();
        const md = new grpc.Metadata();
        md.set('x-backend-pod', cfg.podName);
        call.sendMetadata(md);
        if (sw.status !== null && (sw.status < 200 || sw.status > 299)) {
          const code = sw.status >= 500 ? grpc.status.UNAVAILABLE : grpc.status.UNKNOWN;
          return callback({ code, details: `lab status switch ${sw.status} (pod ${cfg.podName})` });
        }
        const reply: WhoamiReply = { pod: cfg.podName, namespace: cfg.namespace, node: cfg.nodeName, ip: cfg.ip, terminating: lifecycle.terminating };
        callback(null, Buffer.from(JSON.stringify(reply)));
      };
      if (sw.delayMs > 0) setTimeout(answer, sw.delayMs);
      else answer();
    },
  });
  return server;
}
