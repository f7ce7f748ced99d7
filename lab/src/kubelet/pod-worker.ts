/**
 * One pod on a lab node, from binding to removal, as a kubelet runs it: gives it an IP, starts its
 * backend process, reports Running/Ready (readiness from the prober), restarts the process when it
 * dies (restartPolicy Always, or OnFailure after a failure), and on deletion runs the termination
 * sequence: preStop hook, SIGTERM, wait for exit until the grace period ends (at least 2 s after a
 * preStop hook that overran it), SIGKILL, final status (Succeeded/Failed), then DELETE with
 * gracePeriodSeconds=0 and the pod's UID as precondition.
 *
 * Ownership: the LabKubelet creates one PodWorker per pod UID and feeds it with update()/deleted();
 * everything else here (process, prober, reporter, runtime state, IP) is owned by the worker.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { KubeApiError } from '../../../src/sources/kubernetes/client';
import type { LabKubeClient } from '../kube/writer';
import { exitStatus, ManagedProcess, type ExitInfo } from '../kube/process';
import { sleep } from '../kube/wait';
import type { Ipam } from './ipam';
import type { RegisteredNode } from './nodes';
import { ReadinessProber } from './prober';
import { runPreStop } from './probe';
import { StatusReporter } from './reporter';
import { buildPodStatus, ConditionClock, type RuntimeState } from './status';
import type { Container, Pod } from './types';

export interface WorkerDeps {
  client: LabKubeClient;
  node: RegisteredNode;
  ipam: Ipam;
  /** Path of the compiled lab backend (dist/lab/src/backend/main.js). */
  backendMain: string;
  logDir: string;
  probePeriodMs: number;
  restartBackoffMs: number;
  log: (msg: string) => void;
  /** Called once when the worker is finished (pod removed, or kubelet shut down). */
  onDone: (uid: string) => void;
}

/** Failure switches of the lab backend (see ../backend/http.ts). */
export interface BackendFailure {
  /** true: the readiness endpoint answers 503; false: 200 again. */
  failReadiness?: boolean;
  /** HTTP status for ordinary requests; null answers normally again. */
  status?: number | null;
  /** Delay in ms before ordinary requests are answered. */
  delayMs?: number;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** True when `ip:port` can be bound right now. */
function portFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, ip, () => s.close(() => resolve(true)));
  });
}

const portNamed = (c: Container, name: string) => c.ports?.find((p) => p.name === name)?.containerPort;

export class PodWorker {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly httpPort: number;
  readonly grpcPort: number;
  private pod: Pod;
  private ip: string | undefined;
  private proc: ManagedProcess | undefined;
  private prober: ReadinessProber | undefined;
  private readonly runtime: RuntimeState;
  private readonly clock = new ConditionClock();
  private readonly reporter: StatusReporter;
  private readonly termination = deferred();
  /** Resolved when the pod is gone from the API or the kubelet shuts down: no more grace. */
  private readonly hardStop = deferred();
  /** Aborted when the worker is done: cancels its pending timers. */
  private readonly timers = new AbortController();
  private terminating = false;
  private gone = false;
  private shuttingDown = false;
  private readonly finished: Promise<void>;

  constructor(
    pod: Pod,
    private readonly deps: WorkerDeps,
  ) {
    this.pod = pod;
    this.uid = pod.metadata.uid ?? '';
    this.namespace = pod.metadata.namespace ?? 'default';
    this.name = pod.metadata.name;
    const main = pod.spec.containers[0];
    this.httpPort = (main && (portNamed(main, 'http') ?? main.ports?.[0]?.containerPort)) ?? 8080;
    this.grpcPort = (main && portNamed(main, 'grpc')) ?? 9090;
    this.runtime = {
      phase: 'Pending',
      hostIP: deps.node.address,
      startTime: pod.status?.startTime ?? new Date().toISOString(),
      state: { waiting: { reason: 'ContainerCreating' } },
      lastState: {},
      started: false,
      ready: false,
      restartCount: pod.status?.containerStatuses?.[0]?.restartCount ?? 0,
    };
    this.reporter = new StatusReporter(
      deps.client,
      `/api/v1/namespaces/${this.namespace}/pods/${this.name}/status`,
      this.uid,
      () => buildPodStatus(this.pod, this.runtime, this.clock),
      (m) => this.log(m),
    );
    if (pod.metadata.deletionTimestamp) this.requestTermination();
    this.finished = this.main().catch((err: unknown) => this.log(`worker failed: ${(err as Error).stack ?? err}`));
  }

  /** The pod's IP once assigned. */
  get podIP(): string | undefined {
    return this.ip;
  }

  /** Process group of the running backend, if any. */
  get pid(): number | undefined {
    return this.proc?.exit ? undefined : this.proc?.pgid;
  }

  /** A newer version of the pod from the API. */
  update(pod: Pod): void {
    this.pod = pod;
    if (pod.metadata.deletionTimestamp) this.requestTermination();
  }

  /** The pod is gone from the API (force deletion or our own final DELETE): SIGKILL, clean up. */
  deleted(): void {
    this.gone = true;
    this.reporter.close();
    this.hardStop.resolve();
    this.timers.abort();
    this.requestTermination();
  }

  /**
   * SIGKILLs the backend without warning (the pod's container "crashes"; it is restarted per
   * restartPolicy); resolves once the process is gone.
   */
  async kill(): Promise<void> {
    await this.proc?.kill();
  }

  /** Kubelet shutdown: kill the process, write nothing more to the API, resolve when done. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.reporter.close();
    this.hardStop.resolve();
    this.timers.abort();
    this.requestTermination();
    await this.finished;
  }

  /** Sets failure switches through the backend's control endpoint. */
  async setFailure(f: BackendFailure | 'reset'): Promise<void> {
    if (!this.ip) throw new Error(`pod ${this.namespace}/${this.name} has no IP yet`);
    const calls: string[] = [];
    if (f === 'reset') calls.push('/__lab/reset');
    else {
      if (f.failReadiness !== undefined) calls.push(f.failReadiness ? '/__lab/fail-readiness' : '/__lab/pass-readiness');
      if (f.status !== undefined) calls.push(`/__lab/status?code=${f.status ?? 0}`);
      if (f.delayMs !== undefined) calls.push(`/__lab/delay?ms=${f.delayMs}`);
    }
    for (const path of calls) {
      const res = await fetch(`http://${this.ip}:${this.httpPort}${path}`, { method: 'POST' });
      if (!res.ok) throw new Error(`${path} on ${this.namespace}/${this.name}: HTTP ${res.status} ${await res.text()}`);
    }
  }

  private log(msg: string): void {
    this.deps.log(`pod ${this.namespace}/${this.name}: ${msg}`);
  }

  private requestTermination(): void {
    this.terminating = true;
    this.termination.resolve();
  }

  private restartWanted(exit: ExitInfo): boolean {
    const policy = this.pod.spec.restartPolicy ?? 'Always';
    return policy === 'Always' || (policy === 'OnFailure' && exitStatus(exit) !== 0);
  }

  /**
   * The pod's IP: the one it already has (a pod taken over from an earlier kubelet), else the next
   * address whose HTTP and gRPC ports are free (another lab on this machine may use some addresses).
   */
  private async assignIp(): Promise<string> {
    const prior = this.pod.status?.podIP;
    if (prior && this.deps.ipam.claim(prior, this.uid)) return prior;
    const rejected: string[] = [];
    try {
      for (let i = 0; i < 50; i++) {
        const ip = this.deps.ipam.allocate(this.uid);
        if ((await portFree(ip, this.httpPort)) && (this.grpcPort === 0 || (await portFree(ip, this.grpcPort)))) return ip;
        rejected.push(ip);
      }
      throw new Error('no pod IP with free ports found');
    } finally {
      for (const ip of rejected) this.deps.ipam.release(ip);
    }
  }

  private async main(): Promise<void> {
    this.ip = await this.assignIp();
    this.runtime.podIP = this.ip;
    const terminal = this.pod.status?.phase === 'Succeeded' || this.pod.status?.phase === 'Failed';
    if (!terminal && !this.terminating) this.reporter.request();
    while (!terminal && !this.terminating) {
      const proc = this.startBackend();
      const outcome = await Promise.race([proc.exited, this.termination.promise.then(() => 'terminate' as const)]);
      if (outcome === 'terminate') break;
      this.stopProber();
      this.log(`backend exited ${JSON.stringify(outcome)}`);
      const finishedAt = new Date().toISOString();
      const exitCode = exitStatus(outcome);
      const terminated = { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt, containerID: this.runtime.containerID } };
      this.runtime.ready = false;
      this.runtime.lastState = terminated;
      if (!this.restartWanted(outcome)) {
        this.runtime.state = terminated;
        this.runtime.phase = exitCode === 0 ? 'Succeeded' : 'Failed';
        this.reporter.request();
        await this.termination.promise;
        break;
      }
      this.runtime.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${this.deps.restartBackoffMs}ms restarting failed container` } };
      this.runtime.started = false;
      this.reporter.request();
      await Promise.race([sleep(this.deps.restartBackoffMs, this.timers.signal), this.termination.promise]);
      if (!this.terminating) this.runtime.restartCount++;
    }
    await this.terminate();
  }

  private startBackend(): ManagedProcess {
    const main = this.pod.spec.containers[0];
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], LAB_HTTP_PORT: String(this.httpPort), LAB_GRPC_PORT: String(this.grpcPort) };
    for (const e of main?.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    Object.assign(env, {
      LAB_POD_NAME: this.name,
      LAB_POD_NAMESPACE: this.namespace,
      LAB_NODE_NAME: this.deps.node.name,
      LAB_POD_IP: this.ip,
    });
    const proc = ManagedProcess.spawn({
      name: `pod ${this.namespace}/${this.name}`,
      command: process.execPath,
      args: [this.deps.backendMain],
      env,
      logFile: join(this.deps.logDir, `${this.namespace}_${this.name}_${this.uid.slice(0, 8)}.log`),
    });
    this.proc = proc;
    const startedAt = new Date().toISOString();
    this.runtime.phase = 'Running';
    this.runtime.state = { running: { startedAt } };
    this.runtime.started = true;
    this.runtime.ready = false;
    this.runtime.containerID = `lab://${proc.pgid}`;
    this.prober = new ReadinessProber(main ?? { name: 'backend' }, this.name, this.ip as string, this.httpPort, this.deps.probePeriodMs, (ready) => {
      this.runtime.ready = ready;
      this.reporter.request();
    });
    this.prober.start();
    this.reporter.request();
    return proc;
  }

  private stopProber(): void {
    this.prober?.stop();
    this.prober = undefined;
  }

  private async terminate(): Promise<void> {
    const proc = this.proc;
    const alive = proc !== undefined && proc.exit === undefined;
    if (alive && (this.gone || this.shuttingDown)) {
      await proc.kill();
    } else if (alive) {
      await this.stopGracefully(proc);
    }
    this.stopProber();
    if (proc?.exit && this.runtime.phase === 'Running') {
      const code = exitStatus(proc.exit);
      this.runtime.state = { terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', finishedAt: new Date().toISOString(), containerID: this.runtime.containerID } };
      this.runtime.phase = code === 0 ? 'Succeeded' : 'Failed';
    } else if (this.runtime.phase === 'Pending') {
      this.runtime.phase = 'Failed';
    }
    this.runtime.ready = false;
    if (!this.gone && !this.shuttingDown) {
      await this.reporter.flush();
      await this.removeFromApi();
    }
    this.reporter.close();
    if (this.ip) this.deps.ipam.release(this.ip);
    this.timers.abort();
    this.deps.onDone(this.uid);
  }

  private async stopGracefully(proc: ManagedProcess): Promise<void> {
    const grace = this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30;
    const deadline = Date.now() + grace * 1000;
    const gone = this.hardStop.promise;
    const main = this.pod.spec.containers[0];
    const preStop = main?.lifecycle?.preStop;
    if (preStop && main && grace > 0) {
      this.log(`running preStop hook (grace ${grace}s)`);
      const note = await Promise.race([runPreStop(preStop, this.ip as string, main, deadline, this.timers.signal), proc.exited.then(() => undefined), gone.then(() => undefined)]);
      if (note) this.log(note);
    }
    if (proc.exit === undefined && !this.gone && !this.shuttingDown) {
      this.log('SIGTERM');
      proc.signal('SIGTERM');
      const killAt = Date.now() >= deadline ? Date.now() + 2_000 : deadline;
      const wait = new AbortController();
      await Promise.race([proc.exited, sleep(killAt - Date.now(), wait.signal), gone]);
      wait.abort();
    }
    if (proc.exit === undefined) {
      this.log('grace period over: SIGKILL');
      await proc.kill();
    }
    await proc.exited;
  }

  /** DELETE with gracePeriodSeconds=0 and a UID precondition: the kubelet's "containers are gone". */
  private async removeFromApi(): Promise<void> {
    const path = `/api/v1/namespaces/${this.namespace}/pods/${this.name}`;
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: this.uid } };
    for (let attempt = 0; !this.gone && !this.shuttingDown; attempt++) {
      try {
        await this.deps.client.delete(path, body);
        return;
      } catch (err) {
        if (err instanceof KubeApiError && (err.status === 404 || err.status === 409)) return;
        this.log(`delete failed (will retry): ${(err as Error).message}`);
        await sleep(Math.min(200 * 2 ** attempt, 2_000), this.timers.signal);
      }
    }
  }
}
