/**
 * Pure, deterministic translation of the model into Envoy resources for one view. Same input, same output,
 * byte for byte: services and endpoints are walked in sorted order. A view with a scope gets only the services
 * its scope includes; names are those the view's namespace may use (model/names.ts). What is shared between
 * views and what is per view: the view model in translate/view.ts.
 */
import type { KindUpdate } from '../xds/cache';
import type { ResourceKind } from '../xds/resource-types';
import type { Mesh, Service } from '../model/types';
import type { ClusterPolicy } from '../model/policy';
import { DEFAULT_CLUSTER_DOMAIN, claimHostNames } from '../model/names';
import { inScope } from '../model/scope';
import { localAppCluster, translateCluster } from './cluster';
import { effectiveZone, translateEndpoints } from './endpoints';
import { egressListener, egressRoute, grpcListener, grpcRoute, ingressListener } from './listeners';
import { viewKey, type ProxyView } from './view';
import type { ResourceInput } from '../xds/cache';

export interface TranslateOptions {
  /** The base cluster policy (DEFAULT_POLICY laid under the policy file's defaults). */
  readonly policy?: ClusterPolicy;
  /** The cluster domain of the `<name>.<namespace>.svc.<domain>` names (default cluster.local). */
  readonly clusterDomain?: string;
}

/**
 * Remembers translated resources, so views share them (and the cache their encodings, by input identity):
 * - per Service object (immutable; the merge keeps an unchanged service's object), its Cluster per flavour and
 *   its ClusterLoadAssignment per effective zone; and for proxyless gRPC its route and listeners per name set;
 * - per structure epoch (`newEpoch`, which the publisher calls whenever services are added or removed or a policy
 *   changes), each view's own resources by what they depend on: the egress route by namespace and scope, the
 *   listeners by address, `local_app` by app port.
 * Valid for one set of TranslateOptions: keep one memo per publisher. With `share: false` every key also names
 * the view (the behaviour before views shared; for benchmarks).
 */
export class TranslationMemo {
  private readonly byService = new WeakMap<Service, Map<string, ResourceInput>>();
  private epoch = new Map<string, ResourceInput>();

  constructor(private readonly o: { share?: boolean } = {}) {}

  get sharing(): boolean {
    return this.o.share !== false;
  }

  /** `key` must name the kind (`cluster|…`, `endpoints|…`): one key, one kind, so the stored input is a `K`. */
  get<K extends ResourceKind>(service: Service, key: string, make: () => ResourceInput<K>): ResourceInput<K> {
    let m = this.byService.get(service);
    if (!m) this.byService.set(service, (m = new Map()));
    let r = m.get(key) as ResourceInput<K> | undefined;
    if (!r) m.set(key, (r = make()));
    return r;
  }

  /** A view's own resource, remembered until the next epoch. `key` must name the kind. */
  own<K extends ResourceKind>(key: string, make: () => ResourceInput<K>): ResourceInput<K> {
    let r = this.epoch.get(key) as ResourceInput<K> | undefined;
    if (!r) this.epoch.set(key, (r = make()));
    return r;
  }

  /** The mesh's structure changed: views' own resources are made afresh. */
  newEpoch(): void {
    this.epoch = new Map();
  }
}

/** The services a view receives, sorted by id. */
export function servicesOf(mesh: Mesh, view: ProxyView): Service[] {
  const out: Service[] = [];
  for (const s of mesh.services.values()) if (inScope(view.scope, s.name)) out.push(s);
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Translation helpers bound to a view, options and (optionally) a memo. */
function binder(view: ProxyView, o: TranslateOptions, memo: TranslationMemo | undefined) {
  const suffix = memo && !memo.sharing ? `|${viewKey(view)}` : '';
  const base = o.policy;
  const perService = <K extends ResourceKind>(s: Service, key: string, make: () => ResourceInput<K>) => (memo ? memo.get(s, key + suffix, make) : make());
  const own = <K extends ResourceKind>(key: string, make: () => ResourceInput<K>) => (memo && memo.sharing ? memo.own(key, make) : make());
  return {
    base,
    perService,
    own,
    cluster: (s: Service) => perService(s, `cluster|${view.flavor}`, () => translateCluster(s, view, base)),
    endpoints: (s: Service) => {
      const zone = effectiveZone(s, view, base);
      return perService(s, `endpoints|${zone}`, () => translateEndpoints(s, { zone }, base));
    },
  };
}

/**
 * The full resource set of a view: every kind replaces what the cache held. Order within a kind: services by
 * id, then the view's own resources (`local_app`, `ingress`).
 */
export function translateMesh(mesh: Mesh, view: ProxyView, options: TranslateOptions = {}, memo?: TranslationMemo): KindUpdate[] {
  const services = servicesOf(mesh, view);
  const b = binder(view, options, memo);
  const domain = options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  const namespace = view.namespace ?? '';
  const clusters = services.map(b.cluster);
  let listeners: ResourceInput<'listener'>[];
  let routes: ResourceInput<'route'>[];
  const scopeKey = view.scope ? view.scope.join(',') : '*';
  if (view.flavor === 'grpc') {
    const names = claimHostNames(services.map((s) => s.name), namespace, domain);
    listeners = [];
    routes = [];
    for (const s of services) {
      const own = names.get(s.name)!;
      const ownKey = own.join(',');
      routes.push(b.perService(s, `grpc-route|${ownKey}`, () => grpcRoute(s, own, b.base)));
      for (const target of own) listeners.push(b.perService(s, `grpc-listener|${target}`, () => grpcListener(target, s)));
    }
    listeners.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  } else {
    routes = [b.own(`route|${namespace}|${scopeKey}`, () => egressRoute(services, claimHostNames(services.map((s) => s.name), namespace, domain), b.base))];
    listeners = [b.own(`listener|egress|${view.egress}`, () => egressListener(view.egress))];
    if (view.ingress) {
      const ing = view.ingress;
      clusters.push(b.own(`cluster|local_app|${ing.appPort}`, () => localAppCluster(ing, b.base)));
      listeners.push(b.own(`listener|ingress|${ing.listen}|${ing.appPort}|${ing.healthPath}`, () => ingressListener(ing)));
    }
  }
  return [
    { kind: 'endpoint', replace: true, upsert: services.map(b.endpoints) },
    { kind: 'cluster', replace: true, upsert: clusters },
    { kind: 'route', replace: true, upsert: routes },
    { kind: 'listener', replace: true, upsert: listeners },
  ];
}

/** The endpoint fast path: only the ClusterLoadAssignments of the named services that the view's scope includes. */
export function translateEndpointUpdate(services: readonly Service[], view: ProxyView, options: TranslateOptions = {}, memo?: TranslationMemo): KindUpdate[] {
  const b = binder(view, options, memo);
  const inView = view.scope ? services.filter((s) => inScope(view.scope, s.name)) : services;
  return inView.length === 0 ? [] : [{ kind: 'endpoint', upsert: inView.map(b.endpoints) }];
}
