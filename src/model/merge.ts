/**
 * Merges the snapshots of all sources into one Mesh. Per service, the union of every source's endpoints keyed by
 * address:port. When two sources name the same address:port, the source listed first in the configuration wins
 * (its health, zone and weight are used); the endpoint records which source it came from. Policies merge the
 * same way, first source first.
 */
import type { SourceSnapshot } from '../sources/source';
import { compareEndpoints, endpointKey, type Endpoint, type Mesh, type Service, type ServicePolicy } from './types';

export function mergeSources(order: readonly string[], snapshots: ReadonlyMap<string, SourceSnapshot>): Mesh {
  const endpoints = new Map<string, Map<string, Endpoint>>();
  const policies = new Map<string, ServicePolicy>();
  for (const source of order) {
    const snap = snapshots.get(source);
    if (!snap) continue;
    for (const [name, svc] of snap) {
      let eps = endpoints.get(name);
      if (!eps) endpoints.set(name, (eps = new Map()));
      for (const e of svc.endpoints) {
        const k = endpointKey(e);
        if (!eps.has(k)) eps.set(k, e);
      }
      if (svc.policy && !policies.has(name)) policies.set(name, svc.policy);
    }
  }
  const services = new Map<string, Service>();
  for (const name of [...endpoints.keys()].sort()) {
    services.set(name, { name, endpoints: [...endpoints.get(name)!.values()].sort(compareEndpoints), policy: policies.get(name) ?? {} });
  }
  return { services };
}
