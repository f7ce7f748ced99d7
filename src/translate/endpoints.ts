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
import type { Endpoint, Service } from '../model/types';
import { endpointKey } from '../model/types';
import { resolvePolicy, type ClusterPolicy } from '../model/policy';
import { socketAddress, stringStruct } from './envoy-types';
import { clusterName } from './cluster';
import type { ProxyView } from './view';

/** The label that marks a canary endpoint, and the value that means yes. */
export const CANARY_LABEL = 'canary';

function lbEndpoint(e: Endpoint): Record<string, unknown> {
  const out: Record<string, unknown> = {
    endpoint: { address: socketAddress(e.address, e.port) },
    healthStatus: e.health,
    loadBalancingWeight: { value: e.weight },
  };
  const filterMetadata: Record<string, unknown> = {};
  if (e.labels[CANARY_LABEL] === 'true') filterMetadata['envoy.lb'] = { fields: { canary: { boolValue: true } } };
  if (Object.keys(e.labels).length > 0) filterMetadata.herald = stringStruct(e.labels);
  if (Object.keys(filterMetadata).length > 0) out.metadata = { filterMetadata };
  return out;
}

export function translateEndpoints(service: Service, view: ProxyView, base?: ClusterPolicy): ResourceInput {
  const p = resolvePolicy(service.policy, base);
  const name = clusterName(service.name);
  const localZonePresent = view.zone !== '' && service.endpoints.some((e) => e.zone === view.zone);
  const tiered = p.zoneAware && localZonePresent;
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
  const endpoints = localities.map((key) => {
    const members = groups.get(key)!;
    const zone = members[0]!.zone;
    const region = members[0]!.region;
    return {
      locality: { ...(region ? { region } : {}), ...(zone ? { zone } : {}) },
      lbEndpoints: members.map(lbEndpoint),
      loadBalancingWeight: { value: Math.max(1, members.reduce((s, e) => s + e.weight, 0)) },
      priority: tiered && zone !== view.zone ? 1 : 0,
    };
  });
  return { name, message: { clusterName: name, endpoints } };
}

/**
 * What proxyless gRPC clients (grpc-js-xds) NACK, checked on a ClusterLoadAssignment in `fromObject` form:
 * a locality without a positive load_balancing_weight, a duplicate address, a gap in priorities. Returns the
 * problems, path-prefixed; empty when the assignment is fine.
 */
export function assignmentProblems(message: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const where = `endpoint[${String(message.clusterName)}]`;
  const localities = (message.endpoints ?? []) as Array<Record<string, any>>;
  const seen = new Set<string>();
  const priorities = new Set<number>();
  localities.forEach((l, i) => {
    if (!(l.loadBalancingWeight?.value > 0)) problems.push(`${where}.endpoints[${i}]: locality without a positive load_balancing_weight`);
    priorities.add(l.priority ?? 0);
    for (const [j, e] of ((l.lbEndpoints ?? []) as Array<Record<string, any>>).entries()) {
      const a = e.endpoint?.address?.socketAddress;
      const key = `${a?.address}:${a?.portValue}`;
      if (seen.has(key)) problems.push(`${where}.endpoints[${i}].lbEndpoints[${j}]: duplicate address ${key}`);
      seen.add(key);
    }
  });
  const sorted = [...priorities].sort((a, b) => a - b);
  sorted.forEach((p, i) => {
    if (p !== i) problems.push(`${where}: priorities ${sorted.join(', ')} have a gap (must be 0..n without holes)`);
  });
  return [...new Set(problems)];
}
