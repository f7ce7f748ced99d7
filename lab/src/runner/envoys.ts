/** Client Envoys of the lab: each bootstrapped by `herald bootstrap` (incremental xDS, its default) with its own node id and zone, and every Herald replica. */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { HERALD_CLI } from '../product';
import { startEnvoy, type EnvoyProcess } from '../envoy/process';
import type { EnvoyView, HostState } from './convergence';
import { envoyName, serviceId } from '../../../src/model/names';

const run = promisify(execFile);

export interface ClientEnvoy extends EnvoyView {
  readonly index: number;
  /** The node id it presents to Herald. */
  readonly nodeId: string;
  readonly zone: string;
  readonly egressPort: number;
  readonly envoy: EnvoyProcess;
  /** The value of cluster.<service>.lb_healthy_panic. */
  panics(): Promise<number>;
}

/** `xds`: every Herald replica, as `herald bootstrap --xds` takes them (host:port,host:port). */
/** `netns`: run it inside that network namespace (the real node's); its admin and egress ports must then be forwarded. */
export async function startClientEnvoy(o: { index: number; zone: string; xds: string; adminPort: number; egressPort: number; service: string; netns?: string }): Promise<ClientEnvoy> {
  const { stdout } = await run(process.execPath, [
    HERALD_CLI,
    'bootstrap',
    '--node-id', `lab-client-${o.index}`,
    '--cluster', 'lab-clients',
    '--zone', o.zone,
    '--xds', o.xds,
    '--admin-port', String(o.adminPort),
    '--egress', `127.0.0.1:${o.egressPort}`,
    '--ready-port', '0',
  ]);
  const envoy = await startEnvoy({ bootstrap: JSON.parse(stdout), adminPort: o.adminPort, ...(o.netns ? { netns: o.netns } : {}) });
  const cluster = envoyName(serviceId('default', o.service));
  return {
    index: o.index,
    nodeId: `lab-client-${o.index}`,
    zone: o.zone,
    egressPort: o.egressPort,
    envoy,
    hosts: async () => {
      // The lab's services are Kubernetes services of namespace default: their Envoy cluster is `<name>.default`.
      const json = JSON.parse((await envoy.admin('/clusters?format=json')).body);
      const c = (json.cluster_statuses ?? []).find((x: any) => x.name === cluster);
      const out = new Map<string, HostState>();
      for (const h of c?.host_statuses ?? []) {
        const a = h.address.socket_address;
        out.set(`${a.address}:${a.port_value}`, { eds: h.health_status?.eds_health_status ?? 'HEALTHY', failedHc: Boolean(h.health_status?.failed_active_health_check) });
      }
      return out;
    },
    panics: async () => {
      const body = (await envoy.admin(`/stats?filter=^cluster\\.${cluster.replace(/\./g, '\\.')}\\.lb_healthy_panic$`)).body;
      return Number(body.match(/: (\d+)/)?.[1] ?? 0);
    },
  };
}
