/**
 * The Kubernetes source: Pods indexed by service (the talk's design: one update per service, DRAINING the
 * moment a pod gets its deletionTimestamp) or EndpointSlices, chosen globally and per service, plus a Node
 * informer that gives each pod its zone.
 *
 * Service identity: a service is `<namespace>/<name>`. With `identity: label` (the default) the name is the value
 * of the service label of the pod, in the pod's namespace; with `identity: service` a pod belongs to every
 * Kubernetes Service of its namespace whose (non-empty) selector matches its labels (a Service informer), and
 * EndpointSlices are always named by their Service.
 *
 * Ownership: the source owns its informers, its index (service → pod keys) and its per-service results. It emits
 * a complete snapshot on every change; services that did not change keep their object identity, so the
 * stages downstream can skip them.
 */
import type { Metrics } from '../../admin/metrics';
import type { Logger } from '../../log/log';
import type { Telemetry } from '../../telemetry';
import { compareEndpoints, endpointKey, type Endpoint } from '../../model/types';
import type { Source, SourceService, SourceSink } from '../source';
import type { PolicyOverrides } from '../../model/policy';
import { policyFromAnnotations } from './annotations';
import { Informer, statusOf, type Change, type KubeApi } from './informer';
import { podEndpoint, podLite, samePod, ZONE_LABEL, type PodLite } from './pods';
import { sameSlice, sliceEndpoints, sliceLite, type SliceLite, type SliceMode } from './slices';
import { ServiceIndex } from './service-index';
import { byServiceId, serviceId } from '../../model/names';
import type { DiscoveryMode, KubernetesSourceConfig } from '../../config/config';

/** What the source needs of its configuration (see config.ts for each field), plus the transport. */
export interface KubernetesSourceOptions
  extends Pick<KubernetesSourceConfig, 'name' | 'namespaces' | 'serviceLabel' | 'portName' | 'discovery' | 'discoveryOverrides'> {
  /** Default `label`; see the file comment. */
  readonly identity?: 'label' | 'service';
  readonly api: KubeApi;
  readonly watchTimeoutSeconds?: number;
  /** The instance's metrics and logger (the source's informers write there too). */
  readonly telemetry: Telemetry;
}

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function kubeSourceMetrics(m: Metrics) {
  return {
    skipped: m.counter('herald_kube_pods_skipped_total', 'Pods left out of the mesh (or their policy annotations), by reason (malformed, address-conflict, no-ip, not-ready, finished, bad-policy-annotation)', ['reason']),
  };
}

interface NodeLite {
  readonly zone: string;
}

/** A Service as identity `service` needs it: its selector (non-empty; Services without one select no pod). */
interface KubeServiceLite {
  readonly namespace: string;
  readonly name: string;
  readonly selector: Readonly<Record<string, string>>;
}

function kubeServiceLite(raw: any): KubeServiceLite | undefined {
  const sel = raw?.spec?.selector;
  if (!sel || typeof sel !== 'object' || Object.keys(sel).length === 0) return undefined;
  const selector: Record<string, string> = {};
  for (const [k, v] of Object.entries(sel)) if (typeof v === 'string') selector[k] = v;
  return { namespace: raw.metadata?.namespace ?? '', name: raw.metadata?.name ?? '', selector };
}

const selects = (svc: KubeServiceLite, pod: PodLite) => svc.namespace === pod.namespace && Object.entries(svc.selector).every(([k, v]) => pod.labels[k] === v);

export class KubernetesSource implements Source {
  readonly name: string;
  private readonly pods: Informer<PodLite>[] = [];
  private readonly slices: Informer<SliceLite>[] = [];
  private readonly nodes: Informer<NodeLite>;
  /** Identity `service` only: the Services, every pod (by informer key) and the services each pod is indexed under. */
  private readonly kubeServices: Informer<KubeServiceLite>[] = [];
  private readonly servicesByNs = new Map<string, Map<string, KubeServiceLite>>();
  private readonly allPods = new Map<string, PodLite>();
  private readonly podMembers = new Map<string, readonly string[]>();
  private readonly byService: boolean;
  private readonly podIndex = new ServiceIndex<PodLite>();
  private readonly sliceIndex = new ServiceIndex<SliceLite>();
  private readonly wasReady = new Set<string>();
  private readonly results = new Map<string, SourceService>();
  private sink: SourceSink | undefined;
  /** The zones of the watched nodes (topology.kubernetes.io/zone), told to the sink with every update. */
  private zones: ReadonlySet<string> = new Set();
  private started = false;

  private readonly m: ReturnType<typeof kubeSourceMetrics>;
  private readonly log: Logger;

  constructor(private readonly o: KubernetesSourceOptions) {
    this.m = kubeSourceMetrics(o.telemetry.metrics);
    this.log = o.telemetry.log;
    this.name = o.name;
    this.byService = o.identity === 'service';
    const namespaces = o.namespaces.length > 0 ? o.namespaces : [''];
    const base = (ns: string, res: string, group = '/api/v1') => (ns ? `${group}/namespaces/${ns}/${res}` : `${group}/${res}`);
    const usesPods = o.discovery === 'pods' || Object.values(o.discoveryOverrides).includes('pods');
    const usesSlices = o.discovery !== 'pods' || Object.values(o.discoveryOverrides).some((m) => m !== 'pods');
    for (const ns of namespaces) {
      if (usesPods) {
        this.pods.push(
          new Informer<PodLite>(o.api, {
            name: `pods${ns ? `/${ns}` : ''}`,
            path: base(ns, 'pods'),
            ...(this.byService ? {} : { labelSelector: o.serviceLabel }),
            transform: (raw) => podLite(raw, this.byService ? null : o.serviceLabel),
            equal: samePod,
            onChanges: (c, m) => this.onPods(c, m.relist),
            ...(o.watchTimeoutSeconds ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
            onError: (err) => this.reportError(`${ns ? `${ns}/` : ''}pods`, err),
            telemetry: o.telemetry,
          }),
        );
      }
      if (usesPods && this.byService) {
        this.kubeServices.push(
          new Informer<KubeServiceLite>(o.api, {
            name: `services${ns ? `/${ns}` : ''}`,
            path: base(ns, 'services'),
            transform: kubeServiceLite,
            equal: (a, b) => JSON.stringify(a.selector) === JSON.stringify(b.selector),
            onChanges: (c, m) => this.onKubeServices(c, m.relist),
            ...(o.watchTimeoutSeconds ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
            onError: (err) => this.reportError(`${ns ? `${ns}/` : ''}services`, err),
            telemetry: o.telemetry,
          }),
        );
      }
      if (usesSlices) {
        this.slices.push(
          new Informer<SliceLite>(o.api, {
            name: `endpointslices${ns ? `/${ns}` : ''}`,
            path: base(ns, 'endpointslices', '/apis/discovery.k8s.io/v1'),
            labelSelector: 'kubernetes.io/service-name',
            transform: sliceLite,
            equal: sameSlice,
            onChanges: (c, m) => this.onSlices(c, m.relist),
            ...(o.watchTimeoutSeconds ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
            onError: (err) => this.reportError(`${ns ? `${ns}/` : ''}endpointslices`, err),
            telemetry: o.telemetry,
          }),
        );
      }
    }
    this.nodes = new Informer<NodeLite>(o.api, {
      name: 'nodes',
      path: '/api/v1/nodes',
      transform: (raw) => ({ zone: raw?.metadata?.labels?.[ZONE_LABEL] ?? '' }),
      equal: (a, b) => a.zone === b.zone,
      onChanges: (c, m) => this.onNodes(c, m.relist),
      ...(o.watchTimeoutSeconds ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
      onError: (err) => this.reportError('nodes', err),
      telemetry: o.telemetry,
    });
  }

  /**
   * A failed list or watch, for /sources (the informer retries it and logs it). A 410 Gone is the watch's
   * normal expiry (a relist follows), not a failure of the source.
   */
  private reportError(what: string, err: unknown): void {
    if (statusOf(err) === 410) return;
    this.sink?.error?.(this.name, `${what}: ${(err as Error).message}`);
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.started = true;
    if (this.pods.length > 0) this.nodes.start();
    for (const i of [...this.kubeServices, ...this.pods, ...this.slices]) i.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    await Promise.all([this.nodes, ...this.kubeServices, ...this.pods, ...this.slices].map((i) => i.stop()));
  }

  /** True once every informer has listed once. */
  get synced(): boolean {
    return (this.pods.length === 0 || this.nodes.hasSynced) && [...this.kubeServices, ...this.pods, ...this.slices].every((i) => i.hasSynced);
  }

  private modeOf(service: string): DiscoveryMode {
    return byServiceId(this.o.discoveryOverrides, service) ?? this.o.discovery;
  }

  private onPods(changes: readonly Change<PodLite>[], relist: boolean): void {
    for (const c of changes) if (c.old && !c.obj) this.wasReady.delete(c.old.uid);
    this.recompute(this.podIndex.apply(this.byService ? this.memberships(changes) : changes), relist);
  }

  /**
   * Identity `service`: pod changes as changes of (pod, Service) memberships, keyed `<pod key>|<service id>`, so
   * the index holds one copy of a pod per Service that selects it.
   */
  private memberships(changes: readonly Change<PodLite>[]): Change<PodLite>[] {
    const out: Change<PodLite>[] = [];
    for (const c of changes) {
      const before = this.podMembers.get(c.key) ?? [];
      const prev = this.allPods.get(c.key);
      let after: string[] = [];
      if (c.obj) {
        this.allPods.set(c.key, c.obj);
        after = [...(this.servicesByNs.get(c.obj.namespace)?.values() ?? [])].filter((svc) => selects(svc, c.obj!)).map((svc) => serviceId(svc.namespace, svc.name));
        if (after.length > 0) this.podMembers.set(c.key, after);
        else this.podMembers.delete(c.key);
      } else {
        this.allPods.delete(c.key);
        this.podMembers.delete(c.key);
      }
      for (const id of new Set([...before, ...after])) {
        const had = before.includes(id);
        const has = after.includes(id);
        out.push({
          type: has ? (had ? 'MODIFIED' : 'ADDED') : 'DELETED',
          key: `${c.key}|${id}`,
          ...(had && prev ? { old: { ...prev, service: id } } : {}),
          ...(has ? { obj: { ...c.obj!, service: id } } : {}),
        });
      }
    }
    return out;
  }

  private onKubeServices(changes: readonly Change<KubeServiceLite>[], relist: boolean): void {
    const namespaces = new Set<string>();
    for (const c of changes) {
      const s = c.obj ?? c.old!;
      namespaces.add(s.namespace);
      let m = this.servicesByNs.get(s.namespace);
      if (!m) this.servicesByNs.set(s.namespace, (m = new Map()));
      if (c.obj) m.set(c.obj.name, c.obj);
      else m.delete(s.name);
      if (m.size === 0) this.servicesByNs.delete(s.namespace);
    }
    // Every pod of a touched namespace is matched again (a no-op change for a pod whose memberships stay).
    const again: Change<PodLite>[] = [];
    for (const [key, pod] of this.allPods) if (namespaces.has(pod.namespace)) again.push({ type: 'MODIFIED', key, old: pod, obj: pod });
    // A Service relist re-reads Services, not pods: it must not confirm a guard hold on pods' removals.
    this.recompute(this.podIndex.apply(this.memberships(again)), relist, false);
  }

  private onSlices(changes: readonly Change<SliceLite>[], relist: boolean): void {
    this.recompute(this.sliceIndex.apply(changes), relist);
  }

  private onNodes(changes: readonly Change<NodeLite>[], relist: boolean): void {
    if (changes.length === 0 && !relist) return;
    const zones = new Set<string>();
    for (const n of this.nodes.values()) if (n.zone !== '') zones.add(n.zone);
    const zonesChanged = !sameZones(zones, this.zones);
    this.zones = zones;
    const nodes = new Set(changes.map((c) => c.key));
    const dirty = new Set<string>();
    for (const p of this.podIndex.values()) if (nodes.has(p.nodeName)) dirty.add(p.service);
    // A node relist re-reads nodes, not pods: it must not confirm a guard hold on pods' removals. New zones are
    // emitted even when no endpoint changed: proxies in them get zone-aware views.
    this.recompute(dirty, relist, false, zonesChanged);
  }

  /**
   * The service's policy from herald.io/ annotations of its newest pod (the newest pod template is the intended
   * one during a rollout). Bad annotations are logged and counted; the valid ones still apply.
   */
  private podServicePolicy(service: string): PolicyOverrides | undefined {
    let newest: PodLite | undefined;
    for (const p of this.podIndex.members(service)) if (!p.terminating && (!newest || p.created > newest.created)) newest = p;
    if (!newest || Object.keys(newest.annotations).length === 0) return undefined;
    const r = policyFromAnnotations(newest.annotations, `pods[${newest.namespace}/${newest.name}].metadata`);
    if (r.problems.length > 0) {
      this.m.skipped.inc({ reason: 'bad-policy-annotation' });
      this.log.limited(`pod-policy:${service}`, 'warn', 'pod policy annotations rejected', { source: this.name, problems: r.problems }, 60_000);
    }
    return Object.keys(r.overrides).length > 0 ? r.overrides : undefined;
  }

  private podServiceEndpoints(service: string): Endpoint[] {
    const byKey = new Map<string, { e: Endpoint; pod: PodLite }>();
    const pods = this.podIndex.members(service);
    // Oldest first, so on an address:port conflict (host networking) the pod that had it first keeps it.
    pods.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.name < b.name ? -1 : 1));
    for (const pod of pods) {
      if (pod.ready && !pod.terminating) this.wasReady.add(pod.uid);
      const zone = this.nodes.get(pod.nodeName)?.zone ?? '';
      const r = podEndpoint(pod, { portName: this.o.portName, zone, wasReady: this.wasReady.has(pod.uid), source: this.name });
      if ('skip' in r) {
        this.m.skipped.inc({ reason: 'malformed' });
        this.log.limited(`pod-skip:${pod.namespace}/${pod.name}`, 'warn', 'pod skipped', { source: this.name, problem: r.skip }, 60_000);
        continue;
      }
      if ('absent' in r) {
        this.m.skipped.inc({ reason: r.reason });
        this.log.limited(`pod-absent:${r.reason}`, 'debug', 'pods not in the mesh yet', { source: this.name, example: r.absent }, 30_000);
        continue;
      }
      const key = endpointKey(r.endpoint);
      const holder = byKey.get(key);
      if (holder) {
        this.m.skipped.inc({ reason: 'address-conflict' });
        this.log.limited(`pod-conflict:${pod.namespace}/${pod.name}`, 'warn', 'pod skipped: another pod of the service has the same address and port (host networking?)', {
          source: this.name,
          pod: `${pod.namespace}/${pod.name}`,
          holder: `${holder.pod.namespace}/${holder.pod.name}`,
          address: key,
        }, 60_000);
        continue;
      }
      byKey.set(key, { e: r.endpoint, pod });
    }
    return [...byKey.values()].map((x) => x.e);
  }

  private sliceServiceEndpoints(service: string, mode: SliceMode): Endpoint[] {
    const slices = this.sliceIndex.members(service);
    slices.sort((a, b) => (a.name < b.name ? -1 : 1));
    return sliceEndpoints(slices, { mode, portName: this.o.portName, source: this.name });
  }

  /**
   * @param relist the change comes from a (re)list: emit even if nothing changed (it may complete the sync)
   * @param fullRead the relist re-read the endpoints' own objects (pods or slices), which may confirm guard holds
   * @param emit emit even if no endpoint changed (the nodes' zones did)
   */
  private recompute(dirty: ReadonlySet<string>, relist: boolean, fullRead = relist, emit = false): void {
    let changed = false;
    for (const service of dirty) {
      const mode = this.modeOf(service);
      const endpoints = (mode === 'pods' ? this.podServiceEndpoints(service) : this.sliceServiceEndpoints(service, mode)).sort(compareEndpoints);
      const prev = this.results.get(service);
      if (endpoints.length === 0 && !(mode === 'pods' ? this.podIndex : this.sliceIndex).has(service)) {
        if (prev) {
          this.results.delete(service);
          changed = true;
        }
        continue;
      }
      const policy = mode === 'pods' ? this.podServicePolicy(service) : undefined;
      if (prev && sameEndpoints(prev.endpoints, endpoints) && JSON.stringify(prev.policy) === JSON.stringify(policy)) continue;
      this.results.set(service, { endpoints, ...(policy ? { policy } : {}) });
      changed = true;
    }
    if (!this.started || !this.sink) return;
    if (changed || relist || emit) {
      if (relist) this.log.write('debug', 'kubernetes relist applied', { source: this.name, services: this.results.size });
      this.sink.update(this.name, new Map(this.results), this.synced, { fullRead, zones: this.zones });
    }
  }
}

function sameEndpoints(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  return a.length === b.length && a.every((e, i) => JSON.stringify(e) === JSON.stringify(b[i]));
}

function sameZones(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((z) => b.has(z));
}
