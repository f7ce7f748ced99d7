/**
 * Pods as Herald sees them: the compact form cached by the informer (only the fields used), and the mapping of
 * one pod to one endpoint. Pure functions; no I/O.
 */
import type { Endpoint, Health } from '../../model/types';
import { serviceId } from '../../model/names';
import { ANNOTATION_PREFIX, PORT_ANNOTATION, endpointAnnotations } from './annotations';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface PodLite {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /**
   * The pod's service `<namespace>/<label value>` (identity `label`); with identity `service`, '' here and one
   * copy per selecting Service in the source's index, each with that Service's id.
   */
  readonly service: string;
  /** Every label (identity `service` only, to match Service selectors); empty otherwise. */
  readonly labels: Readonly<Record<string, string>>;
  readonly podIP: string;
  readonly hostNetwork: boolean;
  readonly nodeName: string;
  readonly ready: boolean;
  readonly terminating: boolean;
  readonly phase: string;
  readonly created: string;
  /** Named container ports, name → port, and every declared port in order. */
  readonly ports: Readonly<Record<string, number>>;
  readonly allPorts: readonly number[];
  /** Only the herald.io/ annotations. */
  readonly annotations: Readonly<Record<string, string>>;
}

/**
 * The compact pod, or undefined for a pod outside the mesh (no service label). With `serviceLabel` null (identity
 * `service`), every pod is kept with its labels and no service of its own.
 */
export function podLite(raw: any, serviceLabel: string | null): PodLite | undefined {
  const md = raw?.metadata ?? {};
  const labelValue = serviceLabel === null ? '' : md.labels?.[serviceLabel];
  if (serviceLabel !== null && (typeof labelValue !== 'string' || labelValue === '')) return undefined;
  const namespace: string = md.namespace ?? '';
  const service = serviceLabel === null ? '' : serviceId(namespace, labelValue);
  const labels: Record<string, string> = {};
  if (serviceLabel === null) for (const [k, v] of Object.entries(md.labels ?? {})) if (typeof v === 'string') labels[k] = v;
  const ports: Record<string, number> = {};
  const allPorts: number[] = [];
  // App containers, and native sidecars (restartPolicy: Always init containers), which serve like them.
  const serving = [...(raw.spec?.containers ?? []), ...(raw.spec?.initContainers ?? []).filter((c: any) => c?.restartPolicy === 'Always')];
  for (const c of serving) {
    for (const p of c.ports ?? []) {
      if (typeof p.containerPort !== 'number') continue;
      allPorts.push(p.containerPort);
      if (p.name) ports[p.name] = p.containerPort;
    }
  }
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.annotations ?? {})) if (k.startsWith(ANNOTATION_PREFIX)) annotations[k] = String(v);
  const ready = (raw.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
  return {
    namespace,
    name: md.name ?? '',
    uid: md.uid ?? '',
    service,
    labels,
    podIP: raw.status?.podIP ?? '',
    hostNetwork: raw.spec?.hostNetwork === true,
    nodeName: raw.spec?.nodeName ?? '',
    ready,
    terminating: typeof md.deletionTimestamp === 'string' && md.deletionTimestamp !== '',
    phase: raw.status?.phase ?? '',
    created: md.creationTimestamp ?? '',
    ports,
    allPorts,
    annotations,
  };
}

export function samePod(a: PodLite, b: PodLite): boolean {
  return (
    a.uid === b.uid &&
    a.service === b.service &&
    JSON.stringify(a.labels) === JSON.stringify(b.labels) &&
    a.podIP === b.podIP &&
    a.hostNetwork === b.hostNetwork &&
    a.nodeName === b.nodeName &&
    a.ready === b.ready &&
    a.terminating === b.terminating &&
    a.phase === b.phase &&
    JSON.stringify(a.ports) === JSON.stringify(b.ports) &&
    a.allPorts.join(',') === b.allPorts.join(',') &&
    JSON.stringify(a.annotations) === JSON.stringify(b.annotations)
  );
}

export type PodEndpoint =
  | { readonly endpoint: Endpoint }
  | { readonly skip: string }
  | { readonly absent: string; readonly reason: 'no-ip' | 'not-ready' | 'finished' };

/**
 * Maps a pod to its endpoint. Health: deletionTimestamp → DRAINING (at once, whatever readiness says);
 * Ready → HEALTHY; not Ready after having been Ready (`wasReady`) → UNHEALTHY (kept, not routed); never Ready →
 * absent (a starting pod must not count in Envoy's panic calculation). Port: the herald.io/port annotation (a
 * number or a container port name), else the container port named `portName`, else the only declared port.
 * `skip` means a malformed pod (logged and counted); `absent` a normal state (no IP yet, finished, not ready).
 */
export function podEndpoint(p: PodLite, o: { portName: string; zone: string; wasReady: boolean; source: string }): PodEndpoint {
  const where = `pods[${p.namespace}/${p.name}]`;
  if (p.phase === 'Succeeded' || p.phase === 'Failed') return { absent: `${where}: phase ${p.phase}`, reason: 'finished' };
  if (!p.podIP) return { absent: `${where}: no IP yet`, reason: 'no-ip' };
  const a = endpointAnnotations(p.annotations, where);
  if ('problem' in a) return { skip: a.problem };
  let port: number | undefined;
  if (a.port !== undefined) {
    port = typeof a.port === 'number' ? a.port : p.ports[a.port];
    if (port === undefined) return { skip: `${where}.metadata.annotations[${PORT_ANNOTATION}]: ${JSON.stringify(a.port)} is neither a port number nor a named container port` };
  } else {
    port = p.ports[o.portName] ?? (p.allPorts.length === 1 ? p.allPorts[0] : undefined);
    if (port === undefined) return { skip: `${where}.spec.containers: no container port named ${JSON.stringify(o.portName)}, no single port, and no ${PORT_ANNOTATION} annotation` };
  }
  const weight = a.weight;
  let health: Health;
  if (p.terminating) health = 'DRAINING';
  else if (p.ready) health = 'HEALTHY';
  else if (o.wasReady) health = 'UNHEALTHY';
  else return { absent: `${where}: not ready yet`, reason: 'not-ready' };
  const labels: Record<string, string> = { pod: `${p.namespace}/${p.name}` };
  if (a.canary) labels.canary = 'true';
  return { endpoint: { address: p.podIP, port, health, zone: o.zone, weight, source: o.source, labels } };
}
