/**
 * Egress scopes: the services a sidecar (or proxyless client) declares it calls, in the spirit of Istio's
 * `Sidecar` egress hosts. A scope is a list of entries `<namespace>/<name>`:
 *   team-b/api    one service
 *   payments/*    every service of a namespace
 *   ./web, ./*    the proxy's own namespace
 *   * /api        (without the space) a name in every namespace; `* / *` is the whole mesh
 * Written as one string, entries are separated by commas and/or white space: `team-b/api, payments/*`.
 *
 * A proxy with a scope receives only the Clusters, ClusterLoadAssignments, routes (and for gRPC the listeners)
 * of services its scope matches; anything else it asks for by name is answered as absent.
 *
 * Bounds: at most MAX_SCOPE_ENTRIES entries of at most 320 characters each. Pure; no I/O.
 */
import { NAMESPACE_PATTERN, SERVICE_NAME_PATTERN, splitServiceId } from './names';

export const MAX_SCOPE_ENTRIES = 64;

/** A canonical scope: sorted, unique entries, `.` resolved to the proxy's namespace. */
export type Scope = readonly string[];

/**
 * Parses a declared scope for a proxy in `namespace`. Bad entries are left out and named in `problems`; `scope` is
 * undefined when nothing valid was declared (the caller then applies its default).
 */
export function parseScope(text: string, namespace: string): { scope: Scope | undefined; problems: string[] } {
  const problems: string[] = [];
  const entries = new Set<string>();
  const raw = text.split(/[\s,]+/).filter((s) => s !== '');
  if (raw.length > MAX_SCOPE_ENTRIES) problems.push(`more than ${MAX_SCOPE_ENTRIES} entries; the rest are ignored`);
  for (const e of raw.slice(0, MAX_SCOPE_ENTRIES)) {
    const shown = JSON.stringify(e.slice(0, 100));
    const slash = e.indexOf('/');
    if (e.length > 320 || slash < 0) {
      problems.push(`${shown}: must be <namespace>/<name>, <namespace>/*, ./<name> or */<name>`);
      continue;
    }
    let ns = e.slice(0, slash);
    const name = e.slice(slash + 1);
    if (ns === '.') ns = namespace;
    if (ns === '') {
      problems.push(`${shown}: ./ needs the proxy's namespace, and this proxy states none`);
      continue;
    }
    if (ns !== '*' && !NAMESPACE_PATTERN.test(ns)) {
      problems.push(`${shown}: ${JSON.stringify(ns)} is not a namespace (an RFC 1123 label), . or *`);
      continue;
    }
    if (name !== '*' && !SERVICE_NAME_PATTERN.test(name)) {
      problems.push(`${shown}: ${JSON.stringify(name)} is not a service name or *`);
      continue;
    }
    entries.add(`${ns}/${name}`);
  }
  return { scope: entries.size > 0 ? [...entries].sort() : undefined, problems };
}

/** The scope of a proxy in `namespace` that may call only its own namespace. */
export function ownNamespaceScope(namespace: string): Scope {
  return [`${namespace}/*`];
}

/** Whether a scope (undefined: the whole mesh) includes the service `id`. */
export function inScope(scope: Scope | undefined, id: string): boolean {
  if (scope === undefined) return true;
  const { namespace, name } = splitServiceId(id);
  for (const e of scope) {
    const slash = e.indexOf('/');
    const ns = e.slice(0, slash);
    const n = e.slice(slash + 1);
    if ((ns === '*' || ns === namespace) && (n === '*' || n === name)) return true;
  }
  return false;
}
