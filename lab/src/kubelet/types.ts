/** The parts of Kubernetes objects the lab kubelet reads and writes (core/v1 field names). */
import type { KubeObject } from '../../../src/sources/kubernetes/client';

export interface HttpGetAction {
  path?: string;
  port: number | string;
  host?: string;
  scheme?: string;
}

export interface Probe {
  httpGet?: HttpGetAction;
  tcpSocket?: { port: number | string };
  exec?: { command?: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface LifecycleHandler {
  exec?: { command?: string[] };
  httpGet?: HttpGetAction;
  sleep?: { seconds: number };
  tcpSocket?: { port: number | string };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
  env?: Array<{ name: string; value?: string }>;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: LifecycleHandler; postStart?: LifecycleHandler };
  restartPolicy?: string;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export type ContainerState =
  | { running: { startedAt: string } }
  | { waiting: { reason: string; message?: string } }
  | { terminated: { exitCode: number; signal?: number; reason: string; startedAt?: string; finishedAt: string; containerID?: string } };

export interface ContainerStatus {
  name: string;
  state: ContainerState;
  lastState: ContainerState | Record<string, never>;
  ready: boolean;
  started: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
}

export interface PodStatus {
  phase?: string;
  conditions?: PodCondition[];
  hostIP?: string;
  hostIPs?: Array<{ ip: string }>;
  podIP?: string;
  podIPs?: Array<{ ip: string }>;
  startTime?: string;
  containerStatuses?: ContainerStatus[];
  initContainerStatuses?: ContainerStatus[];
}

export interface Pod extends KubeObject {
  spec: {
    nodeName?: string;
    schedulerName?: string;
    nodeSelector?: Record<string, string>;
    containers: Container[];
    initContainers?: Container[];
    restartPolicy?: string;
    terminationGracePeriodSeconds?: number;
  };
  status?: PodStatus;
}

export interface NodeObject extends KubeObject {
  status?: { addresses?: Array<{ type: string; address: string }> };
}
