/**
 * Service → envoy.config.endpoint.v3.ClusterLoadAssignment. Endpoints are grouped into localities by zone,
 * each with a load_balancing_weight (proxyless gRPC requires one). Zone-aware services put the viewing proxy's
 * zone at priority 0 and every other zone at priority 1, so traffic stays in-zone while it is healthy.
 */
import type { ResourceInput } from '../xds/cache';
import type { Endpoint, Service } from '../model/types';
import { resolvePolicy, type ClusterPolicy } from '../model/policy';
import { socketAddress, stringStruct } from './envoy-types';
import { clusterName } from './cluster';
import type { ProxyView } from './view';

function lbEndpoint(e: Endpoint): Record<string, unknown> {
  const out: Record<string, unknown> = {
    endpoint: { address: socketAddress(e.address, e.port) },
    healthStatus: e.health,
    loadBalancingWeight: { value: e.weight },
  };
  if (Object.keys(e.labels).length > 0) out.metadata = { filterMetadata: { herald: stringStruct(e.labels) } };
  return out;
}

export function translateEndpoints(service: Service, view: ProxyView, base?: ClusterPolicy): ResourceInput {
  const p = resolvePolicy(service.policy, base);
  const name = clusterName(service.name);
  const localZonePresent = view.zone !== '' && service.endpoints.some((e) => e.zone === view.zone);
  const tiered = p.zoneAware && localZonePresent;
  const groups = new Map<string, Endpoint[]>();
  for (const e of service.endpoints) {
    let g = groups.get(e.zone);
    if (!g) groups.set(e.zone, (g = []));
    g.push(e);
  }
  const zones = [...groups.keys()].sort();
  const endpoints = zones.map((zone) => {
    const members = groups.get(zone)!;
    return {
      locality: zone ? { zone } : {},
      lbEndpoints: members.map(lbEndpoint),
      loadBalancingWeight: { value: Math.max(1, members.reduce((s, e) => s + e.weight, 0)) },
      priority: tiered && zone !== view.zone ? 1 : 0,
    };
  });
  return { name, message: { clusterName: name, endpoints } };
}
