/**
 * Shared set-up of the kube-* end-to-end tests: a real control plane (./kube) plus the lab
 * kubelet (./kubelet), and small readers of pods and EndpointSlices. Each test file starts its
 * own lab in `before` and stops it in `after`.
 */
import { join } from 'node:path';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions, waitFor } from './kube';
import { LabKubelet, type LabKubeletOptions } from './kubelet';
import type { Pod } from './kubelet/types';

export interface Lab {
  cp: ControlPlane;
  kubelet: LabKubelet;
  stop(): Promise<void>;
}

/** Starts a control plane and a lab kubelet; on failure stops whatever started. */
export async function startLab(cpOpts: ControlPlaneOptions = {}, kubeletOpts: Omit<LabKubeletOptions, 'client'> = {}): Promise<Lab> {
  const cp = await startControlPlane(cpOpts);
  let kubelet: LabKubelet;
  try {
    kubelet = await LabKubelet.start({
      client: cp.client,
      logDir: join(cp.dataDir, 'pods'),
      ...kubeletOpts,
      log: process.env['HERALD_LAB_DEBUG'] ? (m) => process.stderr.write(`[kubelet] ${m}\n`) : kubeletOpts.log,
    });
  } catch (err) {
    await cp.stop();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    cp,
    kubelet,
    stop: () => (stopped ??= kubelet.stop().finally(() => cp.stop())),
  };
}

export interface Endpoint {
  addresses: string[];
  conditions: { ready?: boolean; serving?: boolean; terminating?: boolean };
  targetRef?: { kind: string; name: string; uid: string };
  nodeName?: string;
  zone?: string;
}

export interface EndpointSlice {
  metadata: { name: string; labels?: Record<string, string> };
  addressType: string;
  endpoints: Endpoint[] | null;
  ports: Array<{ name?: string; port?: number; protocol?: string }> | null;
}

/** The endpoints of every EndpointSlice of `service`, flattened. */
export async function sliceEndpoints(cp: ControlPlane, service: string, namespace = 'default'): Promise<Endpoint[]> {
  const list = await cp.client.get<{ items: EndpointSlice[] }>(`/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, {
    labelSelector: `kubernetes.io/service-name=${service}`,
  });
  return list.items.flatMap((s) => s.endpoints ?? []);
}

/** The endpoint of pod `name` in the slices of `service`, if any. */
export async function podEndpoint(cp: ControlPlane, service: string, pod: string, namespace = 'default'): Promise<Endpoint | undefined> {
  return (await sliceEndpoints(cp, service, namespace)).find((e) => e.targetRef?.name === pod);
}

export async function listPods(cp: ControlPlane, selector: string, namespace = 'default'): Promise<Pod[]> {
  return (await cp.client.get<{ items: Pod[] }>(`/api/v1/namespaces/${namespace}/pods`, { labelSelector: selector })).items;
}

export const isReady = (p: Pod): boolean => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

/** Applies YAML with the built kubectl; throws with kubectl's stderr on failure. */
export async function kubectlApply(cp: ControlPlane, yaml: string): Promise<string> {
  const r = await cp.kubectl(['apply', '-f', '-'], yaml);
  if (r.code !== 0) throw new Error(`kubectl apply failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Waits until the Deployment reports `replicas` ready replicas and returns its ready pods. */
export async function waitDeploymentReady(cp: ControlPlane, name: string, replicas: number, timeoutMs = 30_000, namespace = 'default'): Promise<Pod[]> {
  await waitFor(
    `deployment ${name} with ${replicas} ready replicas`,
    async () => {
      const d = await cp.client.get<{ status?: { readyReplicas?: number; replicas?: number; updatedReplicas?: number } }>(
        `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
      );
      return d.status?.readyReplicas === replicas && d.status.replicas === replicas;
    },
    { timeoutMs, intervalMs: 100 },
  );
  return (await listPods(cp, `app=${name}`, namespace)).filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
}

export interface WebAppOptions {
  replicas: number;
  drainMs?: number;
  terminationGracePeriodSeconds?: number;
  /** preStop handler of the container, as YAML flow (e.g. "{ sleep: { seconds: 1 } }"). */
  preStop?: string;
}

/** A Deployment `name` (label app=name) of lab backends with a readiness probe, and its Service. */
export function webApp(name: string, o: WebAppOptions): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: ${o.replicas}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: ${o.terminationGracePeriodSeconds ?? 30}
      containers:
      - name: backend
        image: herald-lab-backend
        ports: [{ name: http, containerPort: 8080 }, { name: grpc, containerPort: 9090 }]
        env: [{ name: LAB_DRAIN_MS, value: "${o.drainMs ?? 0}" }]
        readinessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 1, failureThreshold: 1 }
${o.preStop ? `        lifecycle: { preStop: ${o.preStop} }\n` : ''}---
apiVersion: v1
kind: Service
metadata: { name: ${name} }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: 80, targetPort: http }, { name: grpc, port: 9090, targetPort: grpc }]
`;
}

/** GET http://ip:port/path; resolves with status, the x-backend-pod header and the body, or the socket error. */
export async function httpGet(ip: string, port: number, path = '/', timeoutMs = 2_000): Promise<{ status: number; pod: string | null; body: string }> {
  const res = await fetch(`http://${ip}:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, pod: res.headers.get('x-backend-pod'), body: await res.text() };
}
