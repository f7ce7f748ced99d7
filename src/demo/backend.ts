/**
 * Plain HTTP backends on loopback (the demo's, and tests'): each answers every path with its own name (body and
 * x-backend header), so a caller can tell which endpoint served a request. `?delayMs=N` delays the answer.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Backend {
  readonly name: string;
  readonly port: number;
  /** Requests received, by path. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

export async function startBackend(name: string, host = '127.0.0.1', port = 0): Promise<Backend> {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delayMs') ?? 0);
    setTimeout(() => {
      res.writeHead(200, { 'x-backend': name, 'content-type': 'text/plain' });
      res.end(name);
    }, delay);
  });
  await new Promise<void>((r) => server.listen(port, host, r));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
