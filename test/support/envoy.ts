/** Starts a real Envoy bootstrapped at a test Herald, and sends requests through its egress listener. */
import * as http from 'node:http';
import { envoyBootstrap } from '../../src/envoy/bootstrap';
import { startEnvoy, type EnvoyProcess } from '../../src/envoy/process';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface TestEnvoy extends EnvoyProcess {
  readonly egressPort: number;
  /** GET through the egress listener with the given Host; resolves with status, body and the answering backend. */
  get(host: string, path?: string): Promise<{ status: number; body: string; backend: string | undefined }>;
  /** Parsed /clusters?format=json hosts of one cluster: address:port → health flags. */
  hosts(cluster: string): Promise<Map<string, { healthStatus: any; weight: number; priority: number; zone: string }>>;
  /** The value of one stat (counter or gauge), or undefined. */
  stat(name: string): Promise<number | undefined>;
}

export async function startTestEnvoy(o: { xdsPort: number; protocol: 'sotw' | 'delta'; nodeId: string; zone?: string; egressPort?: number; waitReady?: boolean }): Promise<TestEnvoy> {
  const adminPort = await freePort();
  const egressPort = o.egressPort ?? (await freePort());
  const e = await startEnvoy({
    adminPort,
    bootstrap: envoyBootstrap({
      nodeId: o.nodeId,
      cluster: 'test',
      ...(o.zone ? { zone: o.zone } : {}),
      xdsAddress: '127.0.0.1',
      xdsPort: o.xdsPort,
      protocol: o.protocol,
      adminPort,
      egress: `127.0.0.1:${egressPort}`,
    }),
  });
  if (o.waitReady ?? true) await waitFor('envoy /ready', () => e.isReady(), 15_000);
  const get = (host: string, path = '/') =>
    new Promise<{ status: number; body: string; backend: string | undefined }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: egressPort, path, headers: { host }, agent: false, timeout: 10_000 }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, backend: res.headers['x-backend'] as string | undefined }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.end();
    });
  return {
    ...e,
    egressPort,
    get,
    hosts: async (cluster) => {
      const json = JSON.parse((await e.admin('/clusters?format=json')).body);
      const c = (json.cluster_statuses ?? []).find((x: any) => x.name === cluster);
      const out = new Map();
      for (const h of c?.host_statuses ?? []) {
        const a = h.address.socket_address;
        out.set(`${a.address}:${a.port_value}`, { healthStatus: h.health_status, weight: h.weight, priority: h.priority ?? 0, zone: h.locality?.zone ?? '' });
      }
      return out;
    },
    stat: async (name) => {
      const body = (await e.admin(`/stats?filter=^${name.replace(/\./g, '\\.')}$`)).body;
      const m = body.match(/: (\d+)/);
      return m ? Number(m[1]) : undefined;
    },
  };
}
