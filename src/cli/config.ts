/**
 * `herald config <proxy>`: what Herald last sent one proxy (stream id or node id), decoded to JSON, from the
 * admin API's /config; filter with --type CDS,EDS and --name a,b. With --envoy-admin URL it also reads that Envoy's
 * /config_dump and reports, per resource, whether Envoy holds what Herald sent:
 *   in-sync    Envoy holds it at the version Herald sent. Delta: the resource's version (CDS, LDS, RDS). SotW: CDS and
 *              LDS by the version of the last response Envoy accepted (a SotW proxy records the response version,
 *              not the resource's), RDS by presence. EDS, where Envoy's dump carries no version: by content, every
 *              host's address, EDS health, priority and weight as Envoy's /clusters shows them;
 *   differs    Envoy holds another version;  missing  Envoy does not hold it;  warming  Envoy is warming it;
 *   extra      Envoy holds a dynamic resource Herald did not send this stream.
 * Exit status 1 when anything is not in sync (or the proxy is not connected), 2 on usage errors.
 */
import { parseArgs } from 'node:util';
import { adminUrls, getJson } from './admin-client';
import type { ProxyConfig } from '../admin/proxy-config';

export const CONFIG_USAGE = `usage: herald config <proxy> [--admin URL[,URL...]] [--type CDS,EDS,LDS,RDS] [--name a,b] [--envoy-admin URL]
  <proxy>        a stream id or node id (herald status lists them)
  --envoy-admin  that proxy's Envoy admin URL: compare what Envoy holds with what Herald sent
`;

type Short = 'CDS' | 'EDS' | 'LDS' | 'RDS';

export interface EnvoyHeld {
  /** name → { version, warming } per type. */
  readonly resources: Record<Short, Map<string, { version: string; warming: boolean; endpoints?: string }>>;
  /** The type-level version_info Envoy reports (CDS and LDS only). */
  readonly typeVersion: Partial<Record<Short, string>>;
}

/**
 * The dynamic resources of an Envoy /config_dump, by type; EDS content from its /clusters?format=json (the dump's
 * endpoint health is the host's current health, active checks included; /clusters keeps the EDS health apart).
 */
export function envoyHeld(dump: any, clusters: any): EnvoyHeld {
  const resources: EnvoyHeld['resources'] = { CDS: new Map(), EDS: new Map(), LDS: new Map(), RDS: new Map() };
  const typeVersion: EnvoyHeld['typeVersion'] = {};
  for (const c of dump?.configs ?? []) {
    const t: string = c['@type'] ?? '';
    if (t.endsWith('.ClustersConfigDump')) {
      if (c.version_info) typeVersion.CDS = c.version_info;
      for (const x of c.dynamic_active_clusters ?? []) resources.CDS.set(x.cluster?.name, { version: x.version_info ?? '', warming: false });
      for (const x of c.dynamic_warming_clusters ?? []) resources.CDS.set(x.cluster?.name, { version: x.version_info ?? '', warming: true });
    } else if (t.endsWith('.EndpointsConfigDump')) {
      for (const x of c.dynamic_endpoint_configs ?? []) resources.EDS.set(x.endpoint_config?.cluster_name, { version: x.version_info ?? '', warming: false });
    } else if (t.endsWith('.ListenersConfigDump')) {
      if (c.version_info) typeVersion.LDS = c.version_info;
      for (const x of c.dynamic_listeners ?? []) {
        const state = x.active_state ?? x.warming_state;
        if (state) resources.LDS.set(x.name, { version: state.version_info ?? '', warming: !x.active_state });
      }
    } else if (t.endsWith('.RoutesConfigDump')) {
      for (const x of c.dynamic_route_configs ?? []) resources.RDS.set(x.route_config?.name, { version: x.version_info ?? '', warming: false });
    }
  }
  for (const c of clusters?.cluster_statuses ?? []) {
    const eds = resources.EDS.get(c.name);
    if (!eds) continue;
    const rows = (c.host_statuses ?? []).map((hs: any) => {
      const sa = hs.address?.socket_address;
      return `${sa?.address}:${sa?.port_value} ${hs.health_status?.eds_health_status ?? 'UNKNOWN'} ${hs.priority ?? 0} ${hs.weight ?? 1}`;
    });
    resources.EDS.set(c.name, { ...eds, endpoints: rows.sort().join(', ') });
  }
  return { resources, typeVersion };
}

export interface SyncRow {
  readonly type: Short;
  readonly name: string;
  readonly sync: 'in-sync' | 'differs' | 'missing' | 'warming' | 'extra';
  readonly herald: string;
  readonly envoy: string;
}

/** Per resource, whether Envoy holds what Herald sent this stream (see the module comment for the rules). */
export function compareWithEnvoy(sent: ProxyConfig, held: EnvoyHeld): SyncRow[] {
  const rows: SyncRow[] = [];
  const delta = sent.proxy.protocol === 'delta';
  for (const type of ['CDS', 'EDS', 'LDS', 'RDS'] as const) {
    const list = sent.types[type];
    if (!list) continue;
    const acked = Object.entries(sent.proxy.types).find(([url]) => url.endsWith(typeSuffix(type)))?.[1]?.lastAckedVersion ?? '';
    const byTypeVersion = !delta && (type === 'CDS' || type === 'LDS');
    const envoy = held.resources[type];
    for (const r of list) {
      const e = envoy.get(r.name);
      let sync: SyncRow['sync'];
      if (!e) sync = 'missing';
      else if (e.warming) sync = 'warming';
      else if (type === 'EDS' && e.version === '') sync = e.endpoints === endpointDigest(r.resource) ? 'in-sync' : 'differs';
      else if (delta) sync = e.version === r.sentVersion ? 'in-sync' : 'differs';
      else if (byTypeVersion) sync = held.typeVersion[type] === acked ? 'in-sync' : 'differs';
      else sync = 'in-sync';
      const envoyVersion = !e ? '' : byTypeVersion ? (held.typeVersion[type] ?? '') : e.version;
      rows.push({ type, name: r.name, sync, herald: delta ? r.sentVersion : acked, envoy: envoyVersion });
    }
    const sentNames = new Set(list.map((r) => r.name));
    for (const [name, e] of envoy) if (!sentNames.has(name)) rows.push({ type, name, sync: 'extra', herald: '', envoy: e.version });
  }
  return rows;
}

/** A ClusterLoadAssignment (as the admin API decodes it) as `address:port health priority weight`, sorted: comparable with envoyHeld's EDS rows. */
export function endpointDigest(cla: any): string {
  const rows: string[] = [];
  for (const l of cla?.endpoints ?? []) {
    for (const lb of l.lbEndpoints ?? []) {
      const sa = lb.endpoint?.address?.socketAddress;
      rows.push(`${sa?.address}:${sa?.portValue} ${lb.healthStatus ?? 'UNKNOWN'} ${l.priority ?? 0} ${lb.loadBalancingWeight?.value ?? 1}`);
    }
  }
  return rows.sort().join(', ');
}

function typeSuffix(type: Short): string {
  return { CDS: '.Cluster', EDS: '.ClusterLoadAssignment', LDS: '.Listener', RDS: '.RouteConfiguration' }[type];
}

export async function config(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { admin: { type: 'string' }, type: { type: 'string' }, name: { type: 'string' }, 'envoy-admin': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || positionals.length !== 1) {
    process.stdout.write(CONFIG_USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const q = new URLSearchParams({ proxy: positionals[0]! });
  if (values.type) q.set('type', values.type);
  if (values.name) q.set('name', values.name);
  let streams: Array<ProxyConfig & { replica: string }> = [];
  const errors: string[] = [];
  for (const admin of adminUrls(values.admin)) {
    try {
      const body = await getJson(`${admin}/config?${q}`);
      streams = streams.concat((body.streams as ProxyConfig[]).map((s) => ({ ...s, replica: admin })));
    } catch (err) {
      if ((err as { status?: number }).status !== 404) errors.push((err as Error).message);
    }
  }
  if (streams.length === 0) {
    process.stderr.write(`herald config: no connected proxy ${JSON.stringify(positionals[0])}${errors.length ? `; ${errors.join('; ')}` : ''}\n`);
    process.exitCode = 1;
    return;
  }
  if (!values['envoy-admin']) {
    process.stdout.write(JSON.stringify({ streams }, null, 2) + '\n');
    return;
  }
  const envoyAdmin = values['envoy-admin'].replace(/\/+$/, '');
  const held = envoyHeld(await getJson(`${envoyAdmin}/config_dump?include_eds`), await getJson(`${envoyAdmin}/clusters?format=json`));
  const comparisons = streams.map((s) => ({ replica: s.replica, streamId: s.proxy.streamId, nodeId: s.proxy.nodeId, protocol: s.proxy.protocol, resources: compareWithEnvoy(s, held) }));
  process.stdout.write(JSON.stringify({ comparisons }, null, 2) + '\n');
  if (comparisons.some((c) => c.resources.some((r) => r.sync !== 'in-sync'))) process.exitCode = 1;
}
