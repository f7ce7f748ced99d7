/**
 * Convergence, measured from outside Herald: the lab watches pods itself (timestamping each event on arrival)
 * and polls every client Envoy's /clusters; an event has converged when every Envoy shows its effect:
 *   - a pod gets its deletionTimestamp → `stop`: the host is absent, DRAINING/UNHEALTHY, or failing health checks;
 *   - a pod becomes Ready               → `start`: the host is present and HEALTHY in EDS;
 *   - a pod is gone (or a VM leaves)    → `gone`: the host is absent.
 * Also keeps the ready-pod count over time, for the chart.
 *
 * Ownership: the tracker owns its informer, its poll timer and its expectations.
 */
import { Informer, type KubeApi } from '../../../src/sources/kubernetes/informer';
import { labTelemetry } from '../telemetry';

export type Expectation = 'stop' | 'start' | 'gone';

export interface HostState {
  readonly eds: string;
  readonly failedHc: boolean;
}

export interface EnvoyView {
  /** address:port → state of the service's cluster hosts. */
  hosts(): Promise<Map<string, HostState>>;
}

interface Pending {
  readonly key: string;
  readonly kind: Expectation;
  readonly t0: number;
  readonly what: string;
}

export interface Converged {
  readonly key: string;
  readonly kind: Expectation;
  readonly what: string;
  readonly ms: number;
}

interface PodLite {
  readonly ip: string;
  readonly ready: boolean;
  readonly terminating: boolean;
}

export function satisfied(kind: Expectation, h: HostState | undefined): boolean {
  switch (kind) {
    case 'gone':
      return h === undefined;
    case 'stop':
      return h === undefined || h.eds === 'DRAINING' || h.eds === 'UNHEALTHY' || h.failedHc;
    case 'start':
      return h !== undefined && (h.eds === 'HEALTHY' || h.eds === 'UNKNOWN');
  }
}

export class ConvergenceTracker {
  readonly converged: Converged[] = [];
  readonly readyPods: Array<{ t: number; n: number }> = [];
  private pending: Pending[] = [];
  private readonly informer: Informer<PodLite>;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  /** The latest /clusters of each Envoy. */
  latest: Map<string, HostState>[] = [];

  constructor(
    api: KubeApi,
    private readonly o: { namespace: string; app: string; port: number; envoys: readonly EnvoyView[]; startedAt: number },
  ) {
    this.informer = new Informer<PodLite>(api, {
      name: 'lab-pods',
      path: `/api/v1/namespaces/${o.namespace}/pods`,
      telemetry: labTelemetry(),
      labelSelector: `app=${o.app}`,
      transform: (raw) => ({
        ip: raw.status?.podIP ?? '',
        ready: (raw.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
        terminating: Boolean(raw.metadata?.deletionTimestamp),
      }),
      equal: (a, b) => a.ip === b.ip && a.ready === b.ready && a.terminating === b.terminating,
      onChanges: (changes) => {
        const now = Date.now();
        for (const c of changes) {
          const name = c.key;
          if (c.obj && c.obj.ip && c.obj.terminating && !c.old?.terminating) this.expect(`${c.obj.ip}:${o.port}`, 'stop', `${name} terminating`, now);
          if (c.obj && c.obj.ip && c.obj.ready && !c.obj.terminating && !(c.old?.ready && c.old.ip === c.obj.ip)) this.expect(`${c.obj.ip}:${o.port}`, 'start', `${name} ready`, now);
          if (!c.obj && c.old?.ip) this.expect(`${c.old.ip}:${o.port}`, 'gone', `${name} gone`, now);
        }
        this.readyPods.push({ t: now - o.startedAt, n: [...this.informer.values()].filter((p) => p.ready && !p.terminating).length });
      },
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced();
    // Expectations from the initial list describe the past, not events of the scenario.
    this.pending = [];
    const tick = async () => {
      if (!this.polling) return;
      await this.poll().catch(() => undefined);
      if (this.polling) this.timer = setTimeout(tick, 50);
    };
    this.polling = true;
    void tick();
  }

  /** Registers an expectation that starts now (used for events the lab causes itself, e.g. a VM leaving). */
  expect(key: string, kind: Expectation, what: string, t0 = Date.now()): void {
    this.pending = this.pending.filter((p) => p.key !== key || p.kind === 'gone');
    this.pending.push({ key, kind, t0, what });
  }

  /** Pod IPs of pods that exist now (any phase). */
  podIps(): Set<string> {
    return new Set([...this.informer.values()].map((p) => p.ip).filter(Boolean));
  }

  /** Pods that have their deletionTimestamp but still exist. */
  terminatingCount(): number {
    return [...this.informer.values()].filter((p) => p.terminating).length;
  }

  readyCount(): number {
    return [...this.informer.values()].filter((p) => p.ready && !p.terminating).length;
  }

  /** Expectations not yet met, with their age. */
  outstanding(): Array<{ key: string; kind: Expectation; what: string; ageMs: number }> {
    const now = Date.now();
    return this.pending.map((p) => ({ key: p.key, kind: p.kind, what: p.what, ageMs: now - p.t0 }));
  }

  async stop(): Promise<void> {
    this.polling = false;
    clearTimeout(this.timer);
    await this.informer.stop();
  }

  private async poll(): Promise<void> {
    const views = await Promise.all(this.o.envoys.map((e) => e.hosts()));
    const now = Date.now();
    this.latest = views;
    this.pending = this.pending.filter((p) => {
      if (!views.every((v) => satisfied(p.kind, v.get(p.key)))) return true;
      this.converged.push({ key: p.key, kind: p.kind, what: p.what, ms: now - p.t0 });
      return false;
    });
  }
}
