/**
 * A failure switch in front of a registry: an HTTP reverse proxy that passes requests to a real registry
 * server, or answers as a broken one would (500s, empty host lists, garbage), for outage tests and the lab.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type RegistryFault = 'none' | 'error' | 'empty' | 'garbage';

export interface FaultyRegistry {
  readonly url: string;
  set(fault: RegistryFault): void;
  close(): Promise<void>;
}

export async function startFaultyRegistry(upstream: string): Promise<FaultyRegistry> {
  let fault: RegistryFault = 'none';
  const server = http.createServer((req, res) => {
    if (fault === 'error') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      return void res.end('internal server error');
    }
    if (fault === 'empty' && req.method === 'GET') {
      const service = decodeURIComponent((req.url ?? '').split('/')[3] ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ service, env: 'production', hosts: [] }));
    }
    if (fault === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"hosts": [ {"ip_address": "not-an-ip", "port": "x"}, <html>');
    }
    const target = new URL(req.url ?? '/', upstream);
    const proxied = http.request(target, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    proxied.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(proxied);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set: (f) => (fault = f),
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
