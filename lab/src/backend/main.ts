/**
 * The lab backend: one process per lab pod (started by the lab kubelet), serving HTTP and gRPC on the
 * pod's IP and naming the pod in every answer. See config.ts for its settings, http.ts and grpc.ts for
 * what it serves.
 *
 * Termination: on SIGTERM (or SIGINT) it keeps serving, old and new requests alike, for drainMs; then
 * it stops accepting, lets in-flight requests finish (at most 5 s more) and exits 0. A second signal
 * changes nothing. It prints one JSON line per lifecycle step to stdout.
 */
import * as grpc from '@grpc/grpc-js';
import type { Server } from 'node:http';
import { parseConfig } from './config';
import { createGrpcServer } from './grpc';
import { createHttpServer } from './http';
import { Lifecycle } from './lifecycle';
import { FailureSwitches } from './switches';

const log = (event: string, extra: Record<string, unknown> = {}) =>
  process.stdout.write(JSON.stringify({ t: new Date().toISOString(), event, ...extra }) + '\n');

function listen(server: Server, port: number, ip: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
}

function bindGrpc(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

async function main(): Promise<void> {
  const cfg = parseConfig(process.env, process.argv.slice(2));
  const switches = new FailureSwitches();
  const lifecycle = new Lifecycle();
  const httpServer = createHttpServer(cfg, switches, lifecycle);
  httpServer.keepAliveTimeout = 65_000;
  const grpcServer = cfg.grpcPort > 0 ? createGrpcServer(cfg, switches, lifecycle) : undefined;

  let stopping = false;
  const terminate = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    lifecycle.markTerminating();
    log('terminating', { signal, drainMs: cfg.drainMs });
    await new Promise((r) => setTimeout(r, cfg.drainMs));
    log('closing', { inFlight: lifecycle.active });
    httpServer.close();
    grpcServer?.tryShutdown(() => undefined);
    await lifecycle.idle(5_000);
    httpServer.closeAllConnections();
    grpcServer?.forceShutdown();
    log('exit');
    process.exit(0);
  };
  process.on('SIGTERM', () => void terminate('SIGTERM'));
  process.on('SIGINT', () => void terminate('SIGINT'));

  await listen(httpServer, cfg.httpPort, cfg.ip);
  const grpcPort = grpcServer ? await bindGrpc(grpcServer, `${cfg.ip}:${cfg.grpcPort}`) : 0;
  log('listening', { pod: cfg.podName, ip: cfg.ip, httpPort: cfg.httpPort, grpcPort });
}

main().catch((err: unknown) => {
  log('fatal', { error: (err as Error).message });
  process.exit(1);
});
