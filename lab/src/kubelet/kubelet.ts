/**
 * The lab kubelet: plays the kubelet (and the scheduler) for a set of lab nodes against a real
 * apiserver. It registers the nodes, binds unscheduled pods to them, and runs each pod bound to them
 * as a real lab backend process on a loopback IP (see PodWorker).
 *
 * Ownership: the LabKubelet owns its ListWatch of pods, its workers (one per pod UID), its Ipam and
 * its heartbeat timer; the handler of the ListWatch is the only place that creates workers or feeds
 * them. Public methods may be called at any time; stop() is idempotent.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeApiError } from '../../../src/sources/kubernetes/client';
import type { LabKubeClient } from '../kube/writer';
import { ListWatch, type ChangeType } from '../kube/list-watch';
import { Ipam } from './ipam';
import { DEFAULT_NODES, registerNodes, renewLeases, type LabNodeSpec, type RegisteredNode } from './nodes';
import { PodWorker, type BackendFailure } from './pod-worker';
import { bindPod, chooseNode, needsScheduling, type Placement } from './scheduler';
import type { Pod } from './types';

export interface LabKubeletOptions {
  /** A client with rights on nodes, leases, pods, pods/status and pods/binding (e.g. ControlPlane.client). */
  client: LabKubeClient;
  /** Lab nodes (default DEFAULT_NODES: lab-node-a/b/c in lab-zone-a/b/c). */
  nodes?: LabNodeSpec[];
  /** Loopback range for pod IPs (default 127.1.0.0/16). */
  podCIDR?: string;
  /** Longest readiness probe period in ms (default 1000). */
  probePeriodMs?: number;
  /** Delay before a crashed backend is restarted (default 1000 ms). */
  restartBackoffMs?: number;
  /** Bind unscheduled pods of these schedulerNames (default ["default-scheduler"]); [] binds nothing. */
  schedulerNames?: string[];
  /** Folder for the backends' logs (default: a new temp folder, removed by stop() unless $HERALD_LAB_KEEP=1). */
  logDir?: string;
  /** Reported as the nodes' kubeletVersion (default v1.36.3-lab). */
  kubeletVersion?: string;
  /** Debug log sink (default: nothing). */
  log?: (msg: string) => void;
}

/** What the kubelet knows of one running pod. */
export interface LabPodInfo {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  ip: string | undefined;
  httpPort: number;
  grpcPort: number;
  /** Process group of the backend while it runs. */
  pid: number | undefined;
}

const HEARTBEAT_MS = 10_000;

export class LabKubelet {
  readonly nodes: readonly RegisteredNode[];
  readonly logDir: string;
  private readonly ownsLogDir: boolean;
  private readonly workers = new Map<string, PodWorker>();
  private readonly workerNode = new Map<string, string>();
  /** Bindings sent but not yet seen in the watch (uid → placement), like the scheduler's assume cache. */
  private readonly assumed = new Map<string, Placement>();
  private readonly ipam: Ipam;
  private readonly watch: ListWatch<Pod>;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: (msg: string) => void;
  private readonly backendMain = resolve(__dirname, '..', 'backend', 'main.js');

  private constructor(
    private readonly opts: LabKubeletOptions,
    nodes: RegisteredNode[],
  ) {
    this.nodes = nodes;
    this.log = opts.log ?? (() => undefined);
    this.ipam = new Ipam(opts.podCIDR);
    this.ownsLogDir = opts.logDir === undefined;
    this.logDir = opts.logDir ?? mkdtempSync(join(tmpdir(), 'herald-kubelet-'));
    mkdirSync(this.logDir, { recursive: true });
    this.watch = new ListWatch<Pod>(opts.client, '/api/v1/pods', (type, pod) => this.onPod(type, pod), {
      onError: (err) => this.log(`pod watch: ${(err as Error).message}`),
    });
  }

  /** Registers the nodes, starts watching pods, and resolves once existing pods were taken over. */
  static async start(opts: LabKubeletOptions): Promise<LabKubelet> {
    const nodes = await registerNodes(opts.client, opts.nodes ?? DEFAULT_NODES, opts.kubeletVersion ?? 'v1.36.3-lab');
    await renewLeases(opts.client, nodes);
    const kubelet = new LabKubelet(opts, nodes);
    await kubelet.watch.start();
    kubelet.heartbeat = setInterval(() => {
      renewLeases(opts.client, nodes).catch((err: unknown) => kubelet.log(`lease renewal: ${(err as Error).message}`));
    }, HEARTBEAT_MS);
    kubelet.heartbeat.unref();
    return kubelet;
  }

  /**
   * Stops watching and kills every backend process (SIGKILL). Pod objects are left as they are in the
   * API: this is for the end of a test or lab, not a node drain. Removes the log folder if it made
   * it. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeat);
    await this.watch.stop();
    await Promise.all([...this.workers.values()].map((w) => w.shutdown()));
    if (this.ownsLogDir && process.env['HERALD_LAB_KEEP'] !== '1') rmSync(this.logDir, { recursive: true, force: true });
  }

  /** Running pods (those with a worker), optionally of one namespace. */
  pods(namespace?: string): LabPodInfo[] {
    return [...this.workers.values()].filter((w) => namespace === undefined || w.namespace === namespace).map((w) => this.info(w));
  }

  /** The pod `name` in `namespace` if it runs on a lab node. */
  pod(name: string, namespace = 'default'): LabPodInfo | undefined {
    const w = this.worker(name, namespace);
    return w && this.info(w);
  }

  /** Sets failure switches of a pod's backend (see BackendFailure), or resets them all. */
  async setFailure(name: string, failure: BackendFailure | 'reset', namespace = 'default'): Promise<void> {
    await this.requireWorker(name, namespace).setFailure(failure);
  }

  /**
   * SIGKILLs a pod's backend without warning and resolves once it is dead; the pod restarts per its
   * restartPolicy after the backoff.
   */
  async killPod(name: string, namespace = 'default'): Promise<void> {
    await this.requireWorker(name, namespace).kill();
  }

  private info(w: PodWorker): LabPodInfo {
    return {
      namespace: w.namespace,
      name: w.name,
      uid: w.uid,
      node: this.workerNode.get(w.uid) ?? '',
      ip: w.podIP,
      httpPort: w.httpPort,
      grpcPort: w.grpcPort,
      pid: w.pid,
    };
  }

  private worker(name: string, namespace: string): PodWorker | undefined {
    for (const w of this.workers.values()) if (w.name === name && w.namespace === namespace) return w;
    return undefined;
  }

  private requireWorker(name: string, namespace: string): PodWorker {
    const w = this.worker(name, namespace);
    if (!w) throw new Error(`pod ${namespace}/${name} does not run on a lab node`);
    return w;
  }

  private onPod(type: ChangeType, pod: Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata.uid ?? '';
    if (type === 'DELETED') {
      this.assumed.delete(uid);
      this.workers.get(uid)?.deleted();
      return;
    }
    if (pod.spec.nodeName) this.assumed.delete(uid);
    if (needsScheduling(pod, this.opts.schedulerNames ?? ['default-scheduler'])) {
      this.schedule(pod);
      return;
    }
    const node = this.nodes.find((n) => n.name === pod.spec.nodeName);
    if (!node) return;
    const existing = this.workers.get(uid);
    if (existing) {
      existing.update(pod);
      return;
    }
    const done = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
    if (done && !pod.metadata.deletionTimestamp) return;
    const worker = new PodWorker(pod, {
      client: this.opts.client,
      node,
      ipam: this.ipam,
      backendMain: this.backendMain,
      logDir: this.logDir,
      probePeriodMs: this.opts.probePeriodMs ?? 1_000,
      restartBackoffMs: this.opts.restartBackoffMs ?? 1_000,
      log: this.log,
      onDone: (id) => {
        this.workers.delete(id);
        this.workerNode.delete(id);
      },
    });
    this.workers.set(uid, worker);
    this.workerNode.set(uid, node.name);
  }

  private placements(): Placement[] {
    const out: Placement[] = [];
    for (const p of this.watch.items()) {
      if (p.spec.nodeName && !p.metadata.deletionTimestamp) out.push({ uid: p.metadata.uid ?? '', node: p.spec.nodeName, owner: p.metadata.ownerReferences?.[0]?.uid ?? '' });
    }
    return [...out, ...this.assumed.values()];
  }

  private schedule(pod: Pod): void {
    const uid = pod.metadata.uid ?? '';
    if (this.assumed.has(uid)) return;
    const node = chooseNode(pod, this.nodes, this.placements());
    if (!node) {
      this.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: no lab node matches its nodeSelector`);
      return;
    }
    this.assumed.set(uid, { uid, node: node.name, owner: pod.metadata.ownerReferences?.[0]?.uid ?? '' });
    bindPod(this.opts.client, pod, node.name).catch((err: unknown) => {
      this.assumed.delete(uid);
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return;
      this.log(`binding ${pod.metadata.namespace}/${pod.metadata.name}: ${(err as Error).message}`);
      // Try again with the newest version of the pod, unless it was bound or deleted meanwhile.
      setTimeout(() => {
        const latest = this.watch.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
        if (latest && latest.metadata.uid === uid && !this.stopped) this.onPod('MODIFIED', latest);
      }, 500).unref();
    });
  }
}
