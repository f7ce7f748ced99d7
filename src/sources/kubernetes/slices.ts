/**
 * EndpointSlices (discovery.k8s.io/v1) as Herald sees them, and their mapping to endpoints. The modern upstream
 * path: slices carry `ready`, `serving` and `terminating` per endpoint. Two modes:
 * - `endpointslices-ready`: only ready endpoints, as HEALTHY (the talk's initial design: no DRAINING, a
 *   terminating pod simply vanishes);
 * - `endpointslices-terminating`: ready → HEALTHY, terminating → DRAINING, others absent.
 */
import type { Endpoint } from '../../model/types';
import { serviceId } from '../../model/names';
import type { DiscoveryMode } from '../../config/config';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface SliceEndpointLite {
  readonly address: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly zone: string;
  readonly pod: string;
}

export interface SliceLite {
  readonly namespace: string;
  readonly name: string;
  readonly service: string;
  readonly ports: ReadonlyArray<{ readonly name: string; readonly port: number }>;
  readonly endpoints: readonly SliceEndpointLite[];
}

export function sliceLite(raw: any): SliceLite | undefined {
  const md = raw?.metadata ?? {};
  const service = md.labels?.[SERVICE_NAME_LABEL];
  if (typeof service !== 'string' || service === '') return undefined;
  if (raw.addressType && raw.addressType !== 'IPv4' && raw.addressType !== 'IPv6') return undefined;
  return {
    namespace: md.namespace ?? '',
    name: md.name ?? '',
    // The Service's id: `<namespace>/<Service name>`.
    service: serviceId(md.namespace ?? '', service),
    ports: (raw.ports ?? []).filter((p: any) => typeof p?.port === 'number').map((p: any) => ({ name: p.name ?? '', port: p.port })),
    endpoints: (raw.endpoints ?? [])
      .filter((e: any) => Array.isArray(e?.addresses) && typeof e.addresses[0] === 'string')
      .map((e: any) => ({
        address: e.addresses[0],
        // Per the API, a nil `ready` means ready; nil `serving` follows `ready`; nil `terminating` means false.
        ready: e.conditions?.ready !== false,
        serving: e.conditions?.serving ?? e.conditions?.ready !== false,
        terminating: e.conditions?.terminating === true,
        zone: e.zone ?? '',
        pod: e.targetRef?.kind === 'Pod' ? `${e.targetRef.namespace ?? md.namespace}/${e.targetRef.name}` : '',
      })),
  };
}

export function sameSlice(a: SliceLite, b: SliceLite): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export type SliceMode = Exclude<DiscoveryMode, 'pods'>;

/** The endpoints of one service from all of its slices; the first slice to name an address:port wins. */
export function sliceEndpoints(slices: readonly SliceLite[], o: { mode: SliceMode; portName: string; source: string }): Endpoint[] {
  const out = new Map<string, Endpoint>();
  for (const s of slices) {
    const port = (s.ports.find((p) => p.name === o.portName) ?? (s.ports.length === 1 ? s.ports[0] : undefined))?.port;
    if (port === undefined) continue;
    for (const e of s.endpoints) {
      let health: Endpoint['health'] | undefined;
      if (e.ready && !e.terminating) health = 'HEALTHY';
      else if (o.mode === 'endpointslices-terminating' && e.terminating) health = 'DRAINING';
      if (!health) continue;
      const key = `${e.address}:${port}`;
      if (out.has(key)) continue;
      out.set(key, { address: e.address, port, health, zone: e.zone, weight: 1, source: o.source, labels: e.pod ? { pod: e.pod } : {} });
    }
  }
  return [...out.values()];
}
