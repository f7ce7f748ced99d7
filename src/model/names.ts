/**
 * Service names. A service is `<namespace>/<name>` (its id: the key of Mesh.services, what the admin API, metrics
 * and logs show). Kubernetes services take the namespace of their pods (or of their Service); registry and file
 * services are mapped into a configured namespace (`default` unless configured). An id without `/` has no
 * namespace: only hand-built meshes (tests, tools) make one, and its Envoy name is the bare name.
 *
 * The names a caller may use for `team-a/web` (Host / :authority for sidecars, the `xds:///` target for
 * proxyless gRPC), most specific first:
 *   web.team-a.svc.<clusterDomain>   (clusterDomain: `cluster.local` unless configured)
 *   web.team-a.svc
 *   web.team-a                       (also the Envoy resource name: Cluster, ClusterLoadAssignment, virtual host)
 *   web                              (only from a proxy in namespace team-a)
 * A name two services would both claim (possible only with dots in service names) goes to the first claimant in
 * that order, then by id; the other service keeps its other names.
 *
 * Pure; no I/O.
 */

/** A Kubernetes namespace: an RFC 1123 label. */
export const NAMESPACE_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A service's own name: lower-case letters, digits, dots and dashes (a label value or a Service name). */
export const SERVICE_NAME_PATTERN = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

export function serviceId(namespace: string, name: string): string {
  return namespace === '' ? name : `${namespace}/${name}`;
}

/** `team-a/web` → { namespace: 'team-a', name: 'web' }; an id without `/` has namespace ''. */
export function splitServiceId(id: string): { namespace: string; name: string } {
  const i = id.indexOf('/');
  return i < 0 ? { namespace: '', name: id } : { namespace: id.slice(0, i), name: id.slice(i + 1) };
}

/** The Envoy resource name of a service (Cluster, ClusterLoadAssignment, virtual host): `web.team-a`. */
export function envoyName(id: string): string {
  const { namespace, name } = splitServiceId(id);
  return namespace === '' ? name : `${name}.${namespace}`;
}

/**
 * Every name a proxy in `viewerNamespace` may use for the service, most specific first (see the file comment).
 */
export function hostNames(id: string, viewerNamespace: string, clusterDomain: string = DEFAULT_CLUSTER_DOMAIN): string[] {
  const { namespace, name } = splitServiceId(id);
  if (namespace === '') return [name];
  const out = [`${name}.${namespace}.svc.${clusterDomain}`, `${name}.${namespace}.svc`, `${name}.${namespace}`];
  if (namespace === viewerNamespace) out.push(name);
  return out;
}

/**
 * The names of each service as a proxy in `viewerNamespace` sees them, with every name given to one service only
 * (first claimant by specificity, then by id order of `ids`). `ids` must be sorted. The first name of each list is
 * its most specific one; the canonical `envoyName` is always among them.
 */
export function claimHostNames(ids: readonly string[], viewerNamespace: string, clusterDomain: string = DEFAULT_CLUSTER_DOMAIN): Map<string, string[]> {
  const forms = ids.map((id) => hostNames(id, viewerNamespace, clusterDomain));
  const taken = new Set<string>();
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  // The canonical names first: they are the resource names and must never be lost to another service's alias.
  ids.forEach((id) => taken.add(envoyName(id)));
  const depth = Math.max(0, ...forms.map((f) => f.length));
  for (let level = 0; level < depth; level++) {
    ids.forEach((id, i) => {
      const n = forms[i]![level];
      if (n === undefined) return;
      if (n === envoyName(id)) return void out.get(id)!.push(n);
      if (taken.has(n)) return;
      taken.add(n);
      out.get(id)!.push(n);
    });
  }
  return out;
}

/**
 * The entry of a table keyed by service (the policy file's `services`, a source's `discoveryOverrides`) for the
 * service `id`: its `<namespace>/<name>` entry, else its bare name's entry (which applies in every namespace).
 */
export function byServiceId<T>(table: ReadonlyMap<string, T> | Readonly<Record<string, T>>, id: string): T | undefined {
  const get = (k: string): T | undefined => (table instanceof Map ? table.get(k) : Object.prototype.hasOwnProperty.call(table, k) ? (table as Record<string, T>)[k] : undefined);
  return get(id) ?? get(splitServiceId(id).name);
}
