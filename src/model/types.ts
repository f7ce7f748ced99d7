/**
 * Herald's service model: what every source produces and every translator consumes. It holds no Kubernetes
 * or Envoy types. All objects are immutable once handed on: a stage builds new ones instead of editing.
 */

/** Routing health of one endpoint, as the sources see it. DRAINING: finishing in-flight work, no new requests. */
export type Health = 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'UNKNOWN';

export interface Endpoint {
  /** IPv4 or IPv6 literal. */
  readonly address: string;
  readonly port: number;
  readonly health: Health;
  /** Availability zone (topology.kubernetes.io/zone, the registry's `az`); '' when unknown. */
  readonly zone: string;
  /** Region (the registry's `region` tag), carried into the Envoy locality; absent when unknown. */
  readonly region?: string;
  /** Load-balancing weight, 1..128; 1 when the source says nothing. */
  readonly weight: number;
  /** Which source produced it, e.g. `file`, `kubernetes/pods`, `registry`. */
  readonly source: string;
  /** Free-form labels carried to Envoy as endpoint metadata (e.g. canary, pod name). */
  readonly labels: Readonly<Record<string, string>>;
}

import type { PolicyOverrides } from './policy';

/** Per-service overrides of the cluster policy; every field optional, defaults live in model/policy.ts. */
export type ServicePolicy = PolicyOverrides;

export interface Service {
  /** DNS-label-like name, unique in the mesh; used for cluster, route and listener names. */
  readonly name: string;
  /** Endpoints sorted by address then port (translators rely on this for stable output). */
  readonly endpoints: readonly Endpoint[];
  readonly policy: ServicePolicy;
}

/** The whole mesh at one moment. `services` is keyed by service name. */
export interface Mesh {
  readonly services: ReadonlyMap<string, Service>;
}

export function endpointKey(e: Pick<Endpoint, 'address' | 'port'>): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export function compareEndpoints(a: Endpoint, b: Endpoint): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port;
}
