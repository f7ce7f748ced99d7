/**
 * `herald bootstrap`: prints (or writes) the Envoy bootstrap of a sidecar, as JSON or YAML. Every setting comes
 * from a flag or, failing that, the environment (so a Kubernetes init container can set it all with `env:` and
 * the downward API), else a default. The result is src/envoy/bootstrap.ts's: ADS to Herald, admin on loopback,
 * `initial_fetch_timeout: 0` (Envoy's /ready is 200 only once connected and configured), and the node metadata
 * that shapes the proxy's view (egress, ingress, app port, health path, namespace, egress scope).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import * as path from 'node:path';
import { envoyBootstrap, xdsClientSecret, type BootstrapOptions, type XdsTlsBootstrap } from '../envoy/bootstrap';
import { DEFAULT_HEALTH_PATH, splitHostPort } from '../translate/view';
import { NAMESPACE_PATTERN } from '../model/names';
import { parseScope } from '../model/scope';

export const BOOTSTRAP_USAGE = `usage: herald bootstrap [options]      (each option falls back to the environment variable shown)

  --node-id ID          node id              HERALD_NODE_ID, else POD_NAME.POD_NAMESPACE, else the host name
  --cluster NAME        node cluster         HERALD_CLUSTER, else "sidecar"
  --zone ZONE           node locality zone   HERALD_ZONE (zone-aware routing keeps traffic in it)
  --region REGION       node locality region HERALD_REGION
  --xds HOST:PORT[,...] Herald's xDS address HERALD_XDS, else 127.0.0.1:18000 (a DNS name is resolved by Envoy;
                        several: one per Herald instance, the proxy moves to a live one when its own dies)
  --protocol delta|sotw ADS flavour          HERALD_XDS_PROTOCOL, else delta (incremental xDS)
  --namespace NS        proxy's namespace    HERALD_NAMESPACE, else POD_NAMESPACE (node metadata HERALD_NAMESPACE:
                        short names mean its namespace, web = <NS>/web; with mTLS it must match the client
                        certificate, as --cluster must)
  --tls-ca FILE         xDS over TLS: CA     HERALD_XDS_TLS_CA (Herald's certificate must chain to it)
  --tls-cert FILE       mTLS: client cert    HERALD_XDS_TLS_CERT (PEM chain; SPIFFE URI or DNS SAN, see README)
  --tls-key FILE        mTLS: client key     HERALD_XDS_TLS_KEY
  --tls-server-name N   TLS: SNI and the DNS SAN Herald's certificate must carry  HERALD_XDS_TLS_SERVER_NAME
  --tls-sds-dir DIR     mTLS: write DIR/herald-xds-client.json, an SDS file through which Envoy re-reads the
                        client certificate when it rotates  HERALD_XDS_TLS_SDS_DIR (else read once at start)
  --admin-port N        admin API on 127.0.0.1 HERALD_ADMIN_PORT, else 9901
  --egress HOST:PORT    egress listener      HERALD_EGRESS, else 127.0.0.1:15001
  --ingress HOST:PORT   ingress listener     HERALD_INGRESS (with --app-port: forward to the local app)
  --app-port N          the app's port       HERALD_APP_PORT
  --health-path PATH    health-check path    HERALD_HEALTH_PATH, else ${DEFAULT_HEALTH_PATH}
  --egress-scope LIST   services it calls   HERALD_EGRESS_SCOPE (the pod's herald.io/egress annotation), e.g.
                        "team-b/api, payments/*, ./*"; none: Herald's default (the whole mesh unless configured)
  --ready-port N        readiness listener   HERALD_READY_PORT, else 15021 (GET /ready → admin /ready; 0: none)
  --yaml                print YAML instead of JSON
  --out FILE            write to FILE instead of standard output
`;

type Env = Readonly<Record<string, string | undefined>>;

const OPTIONS = {
  'node-id': { type: 'string' },
  cluster: { type: 'string' },
  zone: { type: 'string' },
  region: { type: 'string' },
  xds: { type: 'string' },
  protocol: { type: 'string' },
  namespace: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
  'tls-sds-dir': { type: 'string' },
  'admin-port': { type: 'string' },
  egress: { type: 'string' },
  ingress: { type: 'string' },
  'app-port': { type: 'string' },
  'health-path': { type: 'string' },
  'ready-port': { type: 'string' },
  'egress-scope': { type: 'string' },
  yaml: { type: 'boolean' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type BootstrapCommand =
  | { readonly help: true }
  | {
      readonly help?: false;
      readonly bootstrap: Record<string, unknown>;
      readonly yaml: boolean;
      readonly out?: string;
      /** More files to write (path → JSON content): the SDS file of --tls-sds-dir. */
      readonly files?: Readonly<Record<string, Record<string, unknown>>>;
    }
  | { readonly help?: false; readonly problems: string[] };

/**
 * Pure: flags and environment → the bootstrap, or every problem (`--app-port (HERALD_APP_PORT): ...`). Never
 * throws, not even on unknown flags.
 */
export function bootstrapCommand(argv: readonly string[], env: Env, hostname: string = os.hostname()): BootstrapCommand {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    return { problems: [(err as Error).message] };
  }
  if (values.help) return { help: true };
  const problems: string[] = [];
  const pick = (flag: keyof typeof OPTIONS, envName: string): { value: string | undefined; where: string } => {
    const v = values[flag];
    if (typeof v === 'string') return { value: v, where: `--${flag}` };
    const e = env[envName];
    return { value: e === '' ? undefined : e, where: envName };
  };
  const port = (flag: keyof typeof OPTIONS, envName: string, fallback: number | undefined, min = 1): number | undefined => {
    const { value, where } = pick(flag, envName);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > 65535) {
      problems.push(`${where}: must be a port ${min}..65535 (got ${JSON.stringify(value)})`);
      return fallback;
    }
    return n;
  };
  const hostPort = (flag: keyof typeof OPTIONS, envName: string, fallback?: string): string | undefined => {
    const { value, where } = pick(flag, envName);
    if (value === undefined) return fallback;
    if (!splitHostPort(value)) {
      problems.push(`${where}: must be host:port (got ${JSON.stringify(value)})`);
      return fallback;
    }
    return value;
  };

  const podName = env.POD_NAME;
  const podNamespace = env.POD_NAMESPACE;
  const nodeId = pick('node-id', 'HERALD_NODE_ID').value ?? (podName ? (podNamespace ? `${podName}.${podNamespace}` : podName) : hostname);
  const cluster = pick('cluster', 'HERALD_CLUSTER').value ?? 'sidecar';
  const zone = pick('zone', 'HERALD_ZONE').value;
  const region = pick('region', 'HERALD_REGION').value;
  const xdsPick = pick('xds', 'HERALD_XDS');
  const xdsList = (xdsPick.value ?? '127.0.0.1:18000').split(',').map((x) => x.trim());
  const xdsHosts = xdsList.map((x) => splitHostPort(x));
  if (xdsHosts.some((h) => h === undefined)) problems.push(`${xdsPick.where}: must be host:port, or several separated by commas (got ${JSON.stringify(xdsPick.value)})`);
  const protocolPick = pick('protocol', 'HERALD_XDS_PROTOCOL');
  // Incremental xDS by default (as Istio, Envoy Gateway, Kuma and Consul): a change sends only what changed.
  const protocol = protocolPick.value ?? 'delta';
  if (protocol !== 'sotw' && protocol !== 'delta') problems.push(`${protocolPick.where}: must be sotw or delta (got ${JSON.stringify(protocol)})`);
  const adminPort = port('admin-port', 'HERALD_ADMIN_PORT', 9901)!;
  const egress = hostPort('egress', 'HERALD_EGRESS', '127.0.0.1:15001');
  const ingress = hostPort('ingress', 'HERALD_INGRESS');
  const appPort = port('app-port', 'HERALD_APP_PORT', undefined);
  const healthPick = pick('health-path', 'HERALD_HEALTH_PATH');
  if (healthPick.value !== undefined && !/^\/[\x21-\x7e]*$/.test(healthPick.value)) {
    problems.push(`${healthPick.where}: must be an HTTP path starting with / (got ${JSON.stringify(healthPick.value)})`);
  }
  const readyPort = port('ready-port', 'HERALD_READY_PORT', 15021, 0);
  const nsPick = pick('namespace', 'HERALD_NAMESPACE');
  const namespace = nsPick.value ?? (podNamespace || undefined);
  if (namespace !== undefined && !NAMESPACE_PATTERN.test(namespace)) problems.push(`${nsPick.value !== undefined ? nsPick.where : 'POD_NAMESPACE'}: must be a namespace, an RFC 1123 label (got ${JSON.stringify(namespace)})`);
  const scopePick = pick('egress-scope', 'HERALD_EGRESS_SCOPE');
  if (scopePick.value !== undefined) {
    const r = parseScope(scopePick.value, namespace ?? '');
    for (const p of r.problems) problems.push(`${scopePick.where}: ${p}`);
    if (!r.scope && r.problems.length === 0) problems.push(`${scopePick.where}: names no service`);
  }
  const ingressGiven = pick('ingress', 'HERALD_INGRESS').value !== undefined;
  const appPortGiven = pick('app-port', 'HERALD_APP_PORT').value !== undefined;
  if (ingressGiven !== appPortGiven) problems.push('--ingress (HERALD_INGRESS) and --app-port (HERALD_APP_PORT): give both or neither');
  if (healthPick.value !== undefined && !ingressGiven) problems.push('--health-path (HERALD_HEALTH_PATH): only meaningful with --ingress and --app-port');
  if (readyPort && readyPort === adminPort) problems.push(`--admin-port and --ready-port: must differ (both ${adminPort})`);
  const tlsCa = pick('tls-ca', 'HERALD_XDS_TLS_CA').value;
  const tlsCert = pick('tls-cert', 'HERALD_XDS_TLS_CERT').value;
  const tlsKey = pick('tls-key', 'HERALD_XDS_TLS_KEY').value;
  const serverName = pick('tls-server-name', 'HERALD_XDS_TLS_SERVER_NAME').value;
  const sdsDir = pick('tls-sds-dir', 'HERALD_XDS_TLS_SDS_DIR').value;
  if (sdsDir && !tlsCert) problems.push('--tls-sds-dir (HERALD_XDS_TLS_SDS_DIR): only meaningful with --tls-cert and --tls-key');
  if (!!tlsCert !== !!tlsKey) problems.push('--tls-cert (HERALD_XDS_TLS_CERT) and --tls-key (HERALD_XDS_TLS_KEY): give both or neither');
  if ((tlsCert || serverName) && !tlsCa) problems.push('--tls-ca (HERALD_XDS_TLS_CA): required with --tls-cert or --tls-server-name');
  if (problems.length > 0) return { problems };

  const tls: XdsTlsBootstrap | undefined = tlsCa
    ? {
        caFile: tlsCa,
        ...(tlsCert && tlsKey ? { certFile: tlsCert, keyFile: tlsKey } : {}),
        ...(serverName ? { serverName } : {}),
        ...(sdsDir ? { sdsFile: path.join(sdsDir, 'herald-xds-client.json') } : {}),
      }
    : undefined;
  const [first, ...xdsRest] = xdsHosts as Array<[string, number]>;
  const [xdsAddress, xdsPort] = first!;
  const options: BootstrapOptions = {
    nodeId,
    cluster,
    ...(zone ? { zone } : {}),
    ...(region ? { region } : {}),
    xdsAddress,
    xdsPort,
    ...(xdsRest.length ? { xdsMore: xdsRest.map(([address, port]) => ({ address, port })) } : {}),
    protocol: protocol as 'sotw' | 'delta',
    ...(namespace ? { namespace } : {}),
    ...(tls ? { tls } : {}),
    adminAddress: '127.0.0.1',
    adminPort,
    ...(egress ? { egress } : {}),
    ...(ingress && appPort ? { ingress, appPort, healthPath: healthPick.value ?? DEFAULT_HEALTH_PATH } : {}),
    ...(readyPort ? { readyPort } : {}),
    ...(scopePick.value !== undefined ? { egressScope: scopePick.value } : {}),
  };
  const out = values.out;
  return {
    bootstrap: envoyBootstrap(options),
    yaml: values.yaml === true,
    ...(typeof out === 'string' ? { out } : {}),
    ...(tls?.sdsFile ? { files: { [tls.sdsFile]: xdsClientSecret(tls) } } : {}),
  };
}

/** The subcommand: exit code 2 and every problem on bad input. */
export async function bootstrap(argv: string[]): Promise<void> {
  const cmd = bootstrapCommand(argv, process.env);
  if ('help' in cmd && cmd.help) {
    process.stdout.write(BOOTSTRAP_USAGE);
    return;
  }
  if ('problems' in cmd) {
    process.stderr.write(`herald bootstrap: ${cmd.problems.join('\n  ')}\n\n${BOOTSTRAP_USAGE}`);
    process.exitCode = 2;
    return;
  }
  const text = cmd.yaml ? stringify(cmd.bootstrap, { aliasDuplicateObjects: false }) : JSON.stringify(cmd.bootstrap, null, 2) + '\n';
  for (const [file, content] of Object.entries(cmd.files ?? {})) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(content, null, 2) + '\n');
    fs.renameSync(`${file}.tmp`, file);
  }
  if (cmd.out) {
    const tmp = `${cmd.out}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, cmd.out);
  } else process.stdout.write(text);
}
