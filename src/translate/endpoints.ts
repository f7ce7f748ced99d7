/**
 * Service → envoy.config.endpoint.v3.ClusterLoadAssignment. Endpoints are grouped into localities by zone,
 * each with a load_balancing_weight (proxyless gRPC requires one). Zone-aware services put the viewing proxy's
 * zone at priority 0 and every other zone at priority 1, so traffic stays in-zone while it is healthy; a proxy
 * whose zone has no endpoints of the service sees everything at priority 0 (priorities never have gaps).
 *
 * Per endpoint: health_status from the model (HEALTHY, UNHEALTHY, DRAINING, UNKNOWN), its weight, and its
 * labels as metadata under `herald`; `labels.canary: "true"` also sets Envoy's own canary flag
 * (`envoy.lb` → `canary: true`), which splits the router's upstream stats into `canary.*`.
 */
import type { ResourceInput } from '../xds/cache';
import type { LbEndpoint, LocalityLbEndpoints, Struct } from '../xds/envoy-messages';
import type { Endpoint, Service } from '../model/types';
import { endpointKey } from '../model/types';
import { resolvePolicy, type ClusterPolicy } from '../model/policy';
import { socketAddress, stringStruct } from './envoy-types';
import { clusterName } from './cluster';
import type { ProxyView } from './view';

/** The label that marks a canary endpoint, and the value that means yes. */
export const CANARY_LABEL = 'canary';

function lbEndpoint(e: Endpoint): LbEndpoint {
  const filterMetadata: Record<string, Struct> = {};
  if (e.labels[CANARY_LABEL] === 'true') filterMetadata['envoy.lb'] = { fields: { canary: { boolValue: true } } };
  if (Object.keys(e.labels).length > 0) filterMetadata.herald = stringStruct(e.labels);
  return {
    endpoint: { address: socketAddress(e.address, e.port) },
    healthStatus: e.health,
    loadBalancingWeight: { value: e.weight },
    ...(Object.keys(filterMetadata).length > 0 ? { metadata: { filterMetadata } } : {}),
  };
}

/**
 * The service's ClusterLoadAssignment for a view. What grpc-js-xds would NACK in it (xds/validators.ts
 * `assignmentProblems`) is checked on every assignment before it enters the cache.
 */
export function translateEndpoints(service: Service, view: Pick<ProxyView, 'zone'>, base?: ClusterPolicy): ResourceInput<'endpoint'> {
  const name = clusterName(service.name);
  const local = effectiveZone(service, view, base);
  const tiered = local !== '';
  const groups = new Map<string, Endpoint[]>();
  const seen = new Set<string>();
  for (const e of service.endpoints) {
    // The model keys endpoints by address:port; this keeps the no-duplicates rule even if a source slips.
    const key = endpointKey(e);
    if (seen.has(key)) continue;
    seen.add(key);
    // A locality is (region, zone); sources without a region (Kubernetes, files) group by zone alone.
    const locality = e.region ? `${e.zone}\u0000${e.region}` : e.zone;
    let g = groups.get(locality);
    if (!g) groups.set(locality, (g = []));
    g.push(e);
  }
  const localities = [...groups.keys()].sort();
  const endpoints = localities.map((key): LocalityLbEndpoints => {
    const members = groups.get(key)!;
    const zone = members[0]!.zone;
    const region = members[0]!.region;
    return {
      locality: { ...(region ? { region } : {}), ...(zone ? { zone } : {}) },
      lbEndpoints: members.map(lbEndpoint),
      loadBalancingWeight: { value: Math.max(1, members.reduce((s, e) => s + e.weight, 0)) },
      priority: tiered && zone !== local ? 1 : 0,
    };
  });
  return { name, message: { clusterName: name, endpoints } };
}

/**
 * The only part of a view a service's assignment depends on: the proxy's zone when the service is zone-aware and
 * has endpoints in it, else '' (every zone at priority 0). Views with the same effective zone share the assignment.
 */
export function effectiveZone(service: Service, view: Pick<ProxyView, 'zone'>, base?: ClusterPolicy): string {
  if (view.zone === '' || !resolvePolicy(service.policy, base).zoneAware) return '';
  return service.endpoints.some((e) => e.zone === view.zone) ? view.zone : '';
}
