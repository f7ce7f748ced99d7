/**
 * Pure, deterministic translation of the model into Envoy resources for one view. Same input, same output,
 * byte for byte: services and endpoints are walked in sorted order.
 */
import type { KindUpdate } from '../xds/cache';
import type { Mesh, Service } from '../model/types';
import type { ClusterPolicy } from '../model/policy';
import { localAppCluster, translateCluster } from './cluster';
import { translateEndpoints } from './endpoints';
import { translateListeners } from './listeners';
import type { ProxyView } from './view';

function sorted(mesh: Mesh): Service[] {
  return [...mesh.services.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The full resource set of a view: every kind replaces what the cache held. Order within a kind: services by
 * name, then the view's own resources (`local_app`, `ingress`).
 */
export function translateMesh(mesh: Mesh, view: ProxyView, base?: ClusterPolicy): KindUpdate[] {
  const services = sorted(mesh);
  const { listeners, routes } = translateListeners(mesh, view, base);
  const clusters = services.map((s) => translateCluster(s, view, base));
  if (view.flavor === 'envoy' && view.ingress) clusters.push(localAppCluster(view.ingress, base));
  return [
    { kind: 'endpoint', replace: true, upsert: services.map((s) => translateEndpoints(s, view, base)) },
    { kind: 'cluster', replace: true, upsert: clusters },
    { kind: 'route', replace: true, upsert: routes },
    { kind: 'listener', replace: true, upsert: listeners },
  ];
}

/** The endpoint fast path: only the ClusterLoadAssignments of the named services. */
export function translateEndpointUpdate(services: readonly Service[], view: ProxyView, base?: ClusterPolicy): KindUpdate[] {
  return [{ kind: 'endpoint', upsert: services.map((s) => translateEndpoints(s, view, base)) }];
}
