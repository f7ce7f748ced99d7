/** Pod status as the lab kubelet reports it: pure functions of the worker's state. */
import type { ContainerState, ContainerStatus, Pod, PodCondition, PodStatus } from './types';

/** Remembers when each condition last changed status, so unchanged conditions keep their time. */
export class ConditionClock {
  private readonly seen = new Map<string, { status: string; time: string }>();

  stamp(type: string, status: 'True' | 'False', now: string): string {
    const prev = this.seen.get(type);
    if (prev && prev.status === status) return prev.time;
    this.seen.set(type, { status, time: now });
    return now;
  }
}

/** What a PodWorker knows about its pod's one backend process. */
export interface RuntimeState {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  hostIP: string;
  podIP?: string;
  startTime: string;
  state: ContainerState;
  lastState: ContainerState | Record<string, never>;
  started: boolean;
  ready: boolean;
  restartCount: number;
  containerID?: string;
}

/**
 * The pod status for `runtime`: phase, IPs, the five kubelet conditions (PodScheduled copied from
 * the pod) and a status for every container, all backed by the same lab backend process.
 */
export function buildPodStatus(pod: Pod, runtime: RuntimeState, clock: ConditionClock, now = new Date().toISOString()): PodStatus {
  const cond = (type: string, ok: boolean, reason?: string): PodCondition => {
    const status = ok ? 'True' : 'False';
    const c: PodCondition = { type, status, lastProbeTime: null, lastTransitionTime: clock.stamp(type, status, now) };
    if (!ok && reason) c.reason = reason;
    return c;
  };
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled') ?? cond('PodScheduled', true);
  const running = runtime.phase === 'Running';
  const ready = running && runtime.ready;
  const notReady = runtime.phase === 'Succeeded' || runtime.phase === 'Failed' ? 'PodCompleted' : 'ContainersNotReady';
  const containerStatuses: ContainerStatus[] = pod.spec.containers.map((c) => ({
    name: c.name,
    state: runtime.state,
    lastState: runtime.lastState,
    ready,
    started: runtime.started,
    restartCount: runtime.restartCount,
    image: c.image ?? 'lab-backend',
    imageID: 'lab://backend',
    ...(runtime.containerID ? { containerID: runtime.containerID } : {}),
  }));
  const status: PodStatus = {
    phase: runtime.phase,
    conditions: [
      cond('PodReadyToStartContainers', runtime.podIP !== undefined),
      cond('Initialized', true),
      cond('Ready', ready, notReady),
      cond('ContainersReady', ready, notReady),
      scheduled,
    ],
    hostIP: runtime.hostIP,
    hostIPs: [{ ip: runtime.hostIP }],
    startTime: runtime.startTime,
    containerStatuses,
  };
  if (runtime.podIP) {
    status.podIP = runtime.podIP;
    status.podIPs = [{ ip: runtime.podIP }];
  }
  return status;
}
