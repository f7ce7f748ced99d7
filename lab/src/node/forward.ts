/**
 * Host-loopback forwards into a real node's network namespace: forwardIntoNode(node, port) listens on host
 * 127.0.0.1:<port> and pipes each connection through the node agent's way in (RealNode.connect) to
 * 127.0.0.1:<port> inside the namespace. That is how host code (the lab's load generator, its pollers of Envoy's
 * and Herald's admin APIs) reaches processes entered into the namespace without any route: only loopback on
 * either side, and the agent's unix socket between them.
 *
 * A connection the inside refuses (nothing listening there yet, or a killed process) is accepted here and then
 * closed at once: callers see a reset or an early close, never a hang.
 *
 * Ownership: the returned Forward owns its server and its connections; close() ends them all and is idempotent.
 */
import * as net from 'node:net';
import { splice } from './agent';
import type { RealNode } from './node';

export interface Forward {
  readonly port: number;
  close(): Promise<void>;
}

export async function forwardIntoNode(node: Pick<RealNode, 'connect'>, port: number): Promise<Forward> {
  const conns = new Set<net.Socket>();
  const server = net.createServer((conn) => {
    conns.add(conn);
    conn.on('close', () => conns.delete(conn));
    splice(conn, node.connect('127.0.0.1', port));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  // Once listening, an accept error (EMFILE) must not crash the lab: the connection is lost, the forward stays.
  server.removeAllListeners('error').on('error', () => undefined);
  let closed: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of conns) c.destroy();
      })),
  };
}
