/**
 * A view is what makes two proxies' configuration differ: the proxy flavour (a sidecar Envoy or a proxyless
 * gRPC client), its zone (for zone-aware endpoints), where its egress listener binds and, for a sidecar that
 * fronts a local application, its ingress (listener address, the app's port, the health-check path). Proxies
 * with equal views share one set of encoded resources. The key is the view's canonical string form.
 *
 * A proxy states its view in its bootstrap's node metadata (see `viewFromNode`); `herald bootstrap` writes it.
 */
export type Flavor = 'envoy' | 'grpc';

/** The sidecar's inbound side: a listener that forwards to the application on loopback. */
export interface IngressView {
  /** host:port the ingress listener binds, e.g. 0.0.0.0:15006. */
  readonly listen: string;
  /** The local application's port on 127.0.0.1. */
  readonly appPort: number;
  /** Requests to this exact path are health checks: passed to the app, failed at once while Envoy drains. */
  readonly healthPath: string;
}

export interface ProxyView {
  readonly flavor: Flavor;
  readonly zone: string;
  /** host:port of the egress listener (envoy flavour only; '' for grpc). */
  readonly egress: string;
  /** Envoy flavour only; absent when the proxy fronts no local application. */
  readonly ingress?: IngressView;
}

/** Node metadata keys a proxy may set in its bootstrap to shape its view. */
export const NODE_META = {
  /** `grpc` or `envoy`; without it, a user agent containing "grpc" means a proxyless client. */
  flavor: 'HERALD_FLAVOR',
  /** host:port of the egress listener. */
  egress: 'HERALD_EGRESS',
  /** host:port of the ingress listener; with HERALD_APP_PORT it turns the ingress listener on. */
  ingress: 'HERALD_INGRESS',
  /** The local application's port (string or number). */
  appPort: 'HERALD_APP_PORT',
  /** The health-check path the ingress answers (default DEFAULT_HEALTH_PATH). */
  healthPath: 'HERALD_HEALTH_PATH',
} as const;

/** Matches the default policy's health-check path, so a default sidecar answers its callers' checks. */
export const DEFAULT_HEALTH_PATH = '/healthz';

const esc = (s: string) => s.replace(/%/g, '%25').replace(/\|/g, '%7C');
const unesc = (s: string) => s.replace(/%7C/g, '|').replace(/%25/g, '%');

/** `flavor|zone|egress[|ingress|appPort|healthPath]`, each field with `%` and `|` escaped. */
export function viewKey(v: ProxyView): string {
  const fields = [v.flavor, v.zone, v.egress];
  if (v.ingress) fields.push(v.ingress.listen, String(v.ingress.appPort), v.ingress.healthPath);
  return fields.map(esc).join('|');
}

export function parseViewKey(key: string): ProxyView {
  const [flavor, zone = '', egress = '', listen, appPort, healthPath] = key.split('|').map(unesc);
  if (flavor !== 'envoy' && flavor !== 'grpc') throw new Error(`bad view key ${JSON.stringify(key)}`);
  const view: ProxyView = { flavor, zone, egress };
  if (listen === undefined) return view;
  return { ...view, ingress: { listen, appPort: Number(appPort), healthPath: healthPath ?? DEFAULT_HEALTH_PATH } };
}

/** Splits `host:port` or `[v6]:port`; undefined unless the port is 1..65535 and the host non-empty. */
export function splitHostPort(hostPort: string): [string, number] | undefined {
  const i = hostPort.lastIndexOf(':');
  if (i <= 0) return undefined;
  const host = hostPort.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(hostPort.slice(i + 1));
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return [host, port];
}

export interface NodeFacts {
  readonly zone: string;
  readonly userAgent: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

/**
 * The view of a connecting proxy, from its node. Bad metadata never fails the stream: the offending part is
 * left out (no ingress listener, the default egress) and named in `problems` for the caller to log.
 */
export function viewFromNode(node: NodeFacts, defaultEgress: string): { view: ProxyView; problems: string[] } {
  const meta = node.metadata;
  const problems: string[] = [];
  const text = (key: string): string | undefined => {
    const v = meta[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    problems.push(`node.metadata.${key}: must be a string`);
    return undefined;
  };
  const declared = text(NODE_META.flavor);
  if (declared !== undefined && declared !== 'grpc' && declared !== 'envoy') problems.push(`node.metadata.${NODE_META.flavor}: must be envoy or grpc`);
  const grpc = declared === 'grpc' || (declared === undefined && /grpc/i.test(node.userAgent));
  if (grpc) return { view: { flavor: 'grpc', zone: node.zone, egress: '' }, problems };

  let egress = text(NODE_META.egress) ?? defaultEgress;
  if (!splitHostPort(egress)) {
    problems.push(`node.metadata.${NODE_META.egress}: must be host:port (got ${JSON.stringify(egress)}); using ${defaultEgress}`);
    egress = defaultEgress;
  }
  const view: ProxyView = { flavor: 'envoy', zone: node.zone, egress };
  const listen = text(NODE_META.ingress);
  const appPortText = text(NODE_META.appPort);
  if (listen === undefined && appPortText === undefined) return { view, problems };
  const appPort = Number(appPortText);
  const healthPath = text(NODE_META.healthPath) ?? DEFAULT_HEALTH_PATH;
  const bad: string[] = [];
  if (listen === undefined || !splitHostPort(listen)) bad.push(`node.metadata.${NODE_META.ingress}: must be host:port (got ${JSON.stringify(listen ?? '')})`);
  if (!Number.isInteger(appPort) || appPort < 1 || appPort > 65535) bad.push(`node.metadata.${NODE_META.appPort}: must be a port 1..65535 (got ${JSON.stringify(appPortText ?? '')})`);
  if (!/^\/[\x21-\x7e]*$/.test(healthPath)) bad.push(`node.metadata.${NODE_META.healthPath}: must be an HTTP path starting with / (got ${JSON.stringify(healthPath)})`);
  if (bad.length > 0) return { view, problems: [...problems, ...bad.map((b) => `${b}; no ingress listener`)] };
  return { view: { ...view, ingress: { listen: listen!, appPort, healthPath } }, problems };
}
