/**
 * A view is what makes two proxies' configuration differ: the proxy flavour (a sidecar Envoy or a proxyless
 * gRPC client), its zone (for zone-aware endpoints), where its egress listener binds, its namespace (short
 * names: `web` means `<its namespace>/web`), its egress scope (the services it calls; none: the whole mesh) and,
 * for a sidecar that fronts a local application, its ingress (listener address, the app's port, the
 * health-check path). Proxies with equal views share one view. The key is the view's canonical string form.
 *
 * What views share (the view model; pipeline/publisher.ts and xds/cache.ts implement it):
 *   - shared by every view that contains them, translated once and encoded once: a service's Cluster (depends on
 *     the service and the flavour) and its ClusterLoadAssignment (depends on the service and the effective zone:
 *     the proxy's zone only for a zone-aware service with endpoints in that zone, else none). Two views holding
 *     the same Cluster hold the same bytes and the same version.
 *   - per view, small: the egress route (its virtual hosts: the services in scope, named as seen from the
 *     namespace), the egress listener (its address), and for a sidecar with an ingress the `ingress` listener and
 *     the `local_app` cluster; for proxyless gRPC one API listener per name a service answers to, and one route
 *     per service. Views equal but for their ingress share the route's bytes too.
 * So a new app port (a new ingress) costs one listener and one local_app cluster; a new scope costs one route;
 * neither re-translates nor re-encodes a Cluster. An endpoint change re-encodes a service's assignment once per
 * effective zone and touches only the views whose scope includes the service.
 *
 * A proxy states its view in its bootstrap's node metadata (see `viewFromNode`); `herald bootstrap` writes it.
 */
import { DEFAULT_NAMESPACE, NAMESPACE_PATTERN } from '../model/names';
import { ownNamespaceScope, parseScope, type Scope } from '../model/scope';

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
  /** The proxy's namespace ('' in hand-made views: no short names). */
  readonly namespace?: string;
  /** The services it receives (model/scope.ts); absent: the whole mesh. */
  readonly scope?: Scope;
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
  /** The proxy's namespace: its short names (`web`) mean services of this namespace. */
  namespace: 'HERALD_NAMESPACE',
  /** The services it calls (model/scope.ts syntax), e.g. from the pod annotation `herald.io/egress`. */
  egressScope: 'HERALD_EGRESS_SCOPE',
} as const;

/** Matches the default policy's health-check path, so a default sidecar answers its callers' checks. */
export const DEFAULT_HEALTH_PATH = '/healthz';

const esc = (s: string) => s.replace(/%/g, '%25').replace(/\|/g, '%7C');
const unesc = (s: string) => s.replace(/%7C/g, '|').replace(/%25/g, '%');

/**
 * `flavor|zone|egress[|ingress|appPort|healthPath][|ns=<namespace>][|scope=<entry>,<entry>]`, each field with `%`
 * and `|` escaped. A view without namespace and scope keeps the key it had before either existed.
 */
export function viewKey(v: ProxyView): string {
  const fields = [v.flavor, v.zone, v.egress];
  if (v.ingress) fields.push(v.ingress.listen, String(v.ingress.appPort), v.ingress.healthPath);
  if (v.namespace) fields.push(`ns=${v.namespace}`);
  if (v.scope) fields.push(`scope=${v.scope.join(',')}`);
  return fields.map(esc).join('|');
}

export function parseViewKey(key: string): ProxyView {
  const all = key.split('|').map(unesc);
  const tagged = (tag: string) => all.find((f, i) => i >= 3 && f.startsWith(`${tag}=`))?.slice(tag.length + 1);
  const [flavor, zone = '', egress = '', ...rest] = all;
  const [listen, appPort, healthPath] = rest.filter((f) => !/^(ns|scope)=/.test(f));
  if (flavor !== 'envoy' && flavor !== 'grpc') throw new Error(`bad view key ${JSON.stringify(key)}`);
  let view: ProxyView = { flavor, zone, egress };
  if (listen !== undefined) view = { ...view, ingress: { listen, appPort: Number(appPort), healthPath: healthPath ?? DEFAULT_HEALTH_PATH } };
  const namespace = tagged('ns');
  const scope = tagged('scope');
  if (namespace !== undefined) view = { ...view, namespace };
  if (scope !== undefined) view = { ...view, scope: scope === '' ? [] : scope.split(',') };
  return view;
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

/** What a proxy gets for what it does not state. */
export interface ViewDefaults {
  /** The egress listener of sidecars that do not say (HERALD_EGRESS). */
  readonly egress: string;
  /** The namespace of proxies that do not say (HERALD_NAMESPACE); '' for none. */
  readonly namespace?: string;
  /** Without a declared scope: the whole mesh (`mesh`, the default) or the proxy's own namespace. */
  readonly scope?: 'mesh' | 'namespace';
  /** Per-namespace default scopes (the policy file's `namespaces:`), used when a proxy declares none. */
  readonly namespaceScopes?: ReadonlyMap<string, string>;
}

/**
 * The view of a connecting proxy, from its node. Bad metadata never fails the stream: the offending part is
 * left out (no ingress listener, the default egress, the default namespace, the default scope) and named in
 * `problems` for the caller to log. The scope: the declared one (HERALD_EGRESS_SCOPE), else the namespace's
 * default from the policy file, else the whole mesh or the own namespace (`defaults.scope`).
 */
export function viewFromNode(node: NodeFacts, defaultsOrEgress: string | ViewDefaults): { view: ProxyView; problems: string[] } {
  const d: ViewDefaults = typeof defaultsOrEgress === 'string' ? { egress: defaultsOrEgress } : defaultsOrEgress;
  const { view, problems } = viewWithoutNamespace(node, d.egress);
  const meta = node.metadata;
  const stated = meta[NODE_META.namespace];
  let namespace = d.namespace ?? '';
  if (stated !== undefined && stated !== null && stated !== '') {
    if (typeof stated === 'string' && NAMESPACE_PATTERN.test(stated)) namespace = stated;
    else problems.push(`node.metadata.${NODE_META.namespace}: must be a namespace (an RFC 1123 label; got ${JSON.stringify(String(stated).slice(0, 100))}); using ${JSON.stringify(namespace)}`);
  }
  let scope: Scope | undefined;
  const declared = meta[NODE_META.egressScope];
  if (declared !== undefined && declared !== null && declared !== '') {
    if (typeof declared !== 'string') problems.push(`node.metadata.${NODE_META.egressScope}: must be a string`);
    else {
      const r = parseScope(declared.slice(0, 64 * 1024), namespace);
      problems.push(...r.problems.map((p) => `node.metadata.${NODE_META.egressScope}: ${p}`));
      scope = r.scope;
      if (!scope) problems.push(`node.metadata.${NODE_META.egressScope}: no valid entry; using the default scope`);
    }
  }
  if (!scope) {
    const nsDefault = d.namespaceScopes?.get(namespace);
    if (nsDefault !== undefined) scope = parseScope(nsDefault, namespace).scope;
    else if (d.scope === 'namespace' && namespace !== '') scope = ownNamespaceScope(namespace);
  }
  return { view: { ...view, ...(namespace ? { namespace } : {}), ...(scope ? { scope } : {}) }, problems };
}

/** The default namespace of proxies and of file and registry services. */
export { DEFAULT_NAMESPACE };

function viewWithoutNamespace(node: NodeFacts, defaultEgress: string): { view: ProxyView; problems: string[] } {
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
