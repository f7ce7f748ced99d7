/** Starts a real Envoy bootstrapped at a test Herald, and sends requests through its egress listener. */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { envoyBootstrap } from '../../src/envoy/bootstrap';
import { startEnvoy, type EnvoyProcess } from '../../lab/src/envoy/process';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface Reply {
  status: number;
  body: string;
  backend: string | undefined;
  headers: http.IncomingHttpHeaders;
}

export interface HostStatus {
  /** Envoy's health_status object from /clusters?format=json (eds_health_status, failed_active_health_check, ...). */
  healthStatus: any;
  weight: number;
  priority: number;
  zone: string;
}

export interface TestEnvoy extends EnvoyProcess {
  readonly egressPort: number;
  /** The ingress listener's port, when started with `ingress`. */
  readonly ingressPort: number | undefined;
  /** The readiness listener's port, when started with `readyPort`. */
  readonly readyPort: number | undefined;
  /** GET through the egress listener with the given Host; resolves with status, body and the answering backend. */
  get(host: string, path?: string): Promise<{ status: number; body: string; backend: string | undefined }>;
  /** HTTP/1.1 GET on any local port (e.g. the ingress), with optional headers and keep-alive agent. */
  request(port: number, path: string, headers?: http.OutgoingHttpHeaders, agent?: http.Agent | false): Promise<Reply>;
  /** GET through the egress listener over HTTP/2 with prior knowledge (h2c), `:authority` = host. */
  h2get(host: string, path?: string): Promise<Reply>;
  /** Parsed /clusters?format=json hosts of one cluster: address:port → health flags. */
  hosts(cluster: string): Promise<Map<string, HostStatus>>;
  /** The value of one stat (counter or gauge), or undefined. */
  stat(name: string): Promise<number | undefined>;
}

export interface TestEnvoyOptions {
  xdsPort: number;
  /** More Herald instances on 127.0.0.1 (the bootstrap's xdsMore). */
  moreXdsPorts?: number[];
  protocol: 'sotw' | 'delta';
  nodeId: string;
  zone?: string;
  egressPort?: number;
  waitReady?: boolean;
  /** Turns on the ingress listener (node metadata HERALD_INGRESS / HERALD_APP_PORT / HERALD_HEALTH_PATH). */
  ingress?: { appPort: number; port?: number; healthPath?: string };
  /** Node metadata HERALD_NAMESPACE and HERALD_EGRESS_SCOPE. */
  namespace?: string;
  egressScope?: string;
  /** Adds the static readiness listener on this port (0: a free one). */
  readyPort?: number;
  /** More Envoy flags, e.g. ['--drain-time-s', '1']. */
  extraArgs?: string[];
}

export function httpRequest(port: number, path: string, headers: http.OutgoingHttpHeaders = {}, agent: http.Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, backend: res.headers['x-backend'] as string | undefined, headers: res.headers }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.end();
  });
}

export function h2Request(port: number, authority: string, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'GET', ':path': path, ':authority': authority });
    let body = '';
    let headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      session.close();
      resolve({ status: Number(headers[':status'] ?? 0), body, backend: headers['x-backend'] as string | undefined, headers: headers as http.IncomingHttpHeaders });
    });
    req.on('error', (e) => {
      session.destroy();
      reject(e);
    });
    req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
    req.end();
  });
}

export async function startTestEnvoy(o: TestEnvoyOptions): Promise<TestEnvoy> {
  const adminPort = await freePort();
  const egressPort = o.egressPort ?? (await freePort());
  const ingressPort = o.ingress ? (o.ingress.port ?? (await freePort())) : undefined;
  const readyPort = o.readyPort === undefined ? undefined : o.readyPort || (await freePort());
  const e = await startEnvoy({
    adminPort,
    ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
    bootstrap: envoyBootstrap({
      nodeId: o.nodeId,
      cluster: 'test',
      ...(o.zone ? { zone: o.zone } : {}),
      xdsAddress: '127.0.0.1',
      xdsPort: o.xdsPort,
      ...(o.moreXdsPorts ? { xdsMore: o.moreXdsPorts.map((port) => ({ address: '127.0.0.1', port })) } : {}),
      protocol: o.protocol,
      adminPort,
      egress: `127.0.0.1:${egressPort}`,
      ...(o.namespace ? { namespace: o.namespace } : {}),
      ...(o.egressScope ? { egressScope: o.egressScope } : {}),
      ...(o.ingress ? { ingress: `127.0.0.1:${ingressPort}`, appPort: o.ingress.appPort, ...(o.ingress.healthPath ? { healthPath: o.ingress.healthPath } : {}) } : {}),
      ...(readyPort ? { readyPort } : {}),
    }),
  });
  if (o.waitReady ?? true) await waitFor('envoy /ready', () => e.isReady(), 15_000);
  const get = async (host: string, path = '/') => {
    const r = await httpRequest(egressPort, path, { host });
    return { status: r.status, body: r.body, backend: r.backend };
  };
  return {
    ...e,
    egressPort,
    ingressPort,
    readyPort,
    get,
    request: httpRequest,
    h2get: (host, path) => h2Request(egressPort, host, path),
    hosts: async (cluster) => {
      const json = JSON.parse((await e.admin('/clusters?format=json')).body);
      const c = (json.cluster_statuses ?? []).find((x: any) => x.name === cluster);
      const out = new Map<string, HostStatus>();
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
