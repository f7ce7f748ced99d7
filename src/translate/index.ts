/**
 * Pure, deterministic translation of the model into Envoy resources for one view. Same input, same output,
 * byte for byte: services and endpoints are walked in sorted order.
 */
import type { KindUpdate } from '../xds/cache';
import type { ResourceKind } from '../xds/resource-types';
import type { Mesh, Service } from '../model/types';
import type { ClusterPolicy } from '../model/policy';
import { localAppCluster, translateCluster } from './cluster';
import { translateEndpoints } from './endpoints';
import { translateListeners } from './listeners';
import { viewKey, type ProxyView } from './view';
import type { ResourceInput } from '../xds/cache';

/**
 * Remembers each Service's translated cluster and assignment per view. Services are immutable and the merge keeps
 * an unchanged service's object, so a structural change (a service added) translates only what is new; the cache
 * then skips encoding inputs it has seen. Valid for one base policy: keep one memo per publisher.
 */
export class TranslationMemo {
  private readonly byService = new WeakMap<Service, Map<string, ResourceInput>>();

  /** `key` must name the kind (`cluster|…`, `endpoints|…`): one key, one kind, so the stored input is a `K`. */
  get<K extends ResourceKind>(service: Service, key: string, make: () => ResourceInput<K>): ResourceInput<K> {
    let m = this.byService.get(service);
    if (!m) this.byService.set(service, (m = new Map()));
    let r = m.get(key) as ResourceInput<K> | undefined;
    if (!r) m.set(key, (r = make()));
    return r;
  }
}

function sorted(mesh: Mesh): Service[] {
  return [...mesh.services.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The full resource set of a view: every kind replaces what the cache held. Order within a kind: services by
 * name, then the view's own resources (`local_app`, `ingress`).
 */
export function translateMesh(mesh: Mesh, view: ProxyView, base?: ClusterPolicy, memo?: TranslationMemo): KindUpdate[] {
  const services = sorted(mesh);
  const { listeners, routes } = translateListeners(mesh, view, base);
  const vk = viewKey(view);
  const cluster = (s: Service) => (memo ? memo.get(s, `cluster|${vk}`, () => translateCluster(s, view, base)) : translateCluster(s, view, base));
  const clusters = services.map(cluster);
  if (view.flavor === 'envoy' && view.ingress) clusters.push(localAppCluster(view.ingress, base));
  return [
    { kind: 'endpoint', replace: true, upsert: services.map((s) => endpointsOf(s, view, vk, base, memo)) },
    { kind: 'cluster', replace: true, upsert: clusters },
    { kind: 'route', replace: true, upsert: routes },
    { kind: 'listener', replace: true, upsert: listeners },
  ];
}

/** The endpoint fast path: only the ClusterLoadAssignments of the named services. */
export function translateEndpointUpdate(services: readonly Service[], view: ProxyView, base?: ClusterPolicy, memo?: TranslationMemo): KindUpdate[] {
  const vk = viewKey(view);
  return [{ kind: 'endpoint', upsert: services.map((s) => endpointsOf(s, view, vk, base, memo)) }];
}

function endpointsOf(s: Service, view: ProxyView, vk: string, base: ClusterPolicy | undefined, memo: TranslationMemo | undefined): ResourceInput<'endpoint'> {
  return memo ? memo.get(s, `endpoints|${vk}`, () => translateEndpoints(s, view, base)) : translateEndpoints(s, view, base);
}
