/**
 * Lab nodes: Node objects with zone labels and a Ready condition, and their Leases in
 * kube-node-lease, renewed every 10 s as a kubelet does (no node lifecycle controller runs in the lab,
 * so nothing would taint a node whose lease expired; the leases are kept for whoever looks).
 */
import { KubeApiError } from '../../../src/sources/kubernetes/client';
import type { LabKubeClient } from '../kube/writer';

export interface LabNodeSpec {
  name: string;
  /** topology.kubernetes.io/zone */
  zone: string;
  /** topology.kubernetes.io/region (default "lab") */
  region?: string;
  /** Extra labels. */
  labels?: Record<string, string>;
  /** InternalIP reported as the node address and the pods' hostIP (default 127.0.100.<n>). */
  address?: string;
}

export interface RegisteredNode {
  name: string;
  zone: string;
  address: string;
  labels: Record<string, string>;
}

export const DEFAULT_NODES: LabNodeSpec[] = [
  { name: 'lab-node-a', zone: 'lab-zone-a' },
  { name: 'lab-node-b', zone: 'lab-zone-b' },
  { name: 'lab-node-c', zone: 'lab-zone-c' },
];

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

async function ensure(client: LabKubeClient, collection: string, name: string, body: unknown): Promise<void> {
  try {
    await client.post(collection, body);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    await client.mergePatch(`${collection}/${name}`, body);
  }
}

/** Creates (or updates) the Node objects and their status; returns what the kubelet needs of them. */
export async function registerNodes(client: LabKubeClient, specs: LabNodeSpec[], kubeletVersion: string): Promise<RegisteredNode[]> {
  const out: RegisteredNode[] = [];
  for (const [i, spec] of specs.entries()) {
    const address = spec.address ?? `127.0.100.${i + 1}`;
    const labels = {
      'kubernetes.io/hostname': spec.name,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'topology.kubernetes.io/zone': spec.zone,
      'topology.kubernetes.io/region': spec.region ?? 'lab',
      'herald.dev/lab-node': 'true',
      ...spec.labels,
    };
    await ensure(client, '/api/v1/nodes', spec.name, { apiVersion: 'v1', kind: 'Node', metadata: { name: spec.name, labels }, spec: {} });
    const now = new Date().toISOString();
    const condition = (type: string, status: string, reason: string) => ({
      type,
      status,
      reason,
      message: `lab kubelet: ${reason}`,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    await client.mergePatch(`/api/v1/nodes/${spec.name}/status`, {
      status: {
        conditions: [
          condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
          condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
          condition('PIDPressure', 'False', 'KubeletHasSufficientPID'),
          condition('Ready', 'True', 'KubeletReady'),
        ],
        addresses: [
          { type: 'InternalIP', address },
          { type: 'Hostname', address: spec.name },
        ],
        capacity: { cpu: '16', memory: '64Gi', pods: '250', 'ephemeral-storage': '100Gi' },
        allocatable: { cpu: '16', memory: '64Gi', pods: '250', 'ephemeral-storage': '100Gi' },
        nodeInfo: {
          machineID: spec.name,
          systemUUID: spec.name,
          bootID: spec.name,
          kernelVersion: 'lab',
          osImage: 'herald lab',
          containerRuntimeVersion: 'lab://1',
          kubeletVersion,
          kubeProxyVersion: '',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    });
    out.push({ name: spec.name, zone: spec.zone, address, labels });
  }
  return out;
}

/** Creates or renews the Lease of each node. */
export async function renewLeases(client: LabKubeClient, nodes: readonly RegisteredNode[]): Promise<void> {
  const collection = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
  await Promise.all(
    nodes.map((n) =>
      ensure(client, collection, n.name, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: n.name, namespace: 'kube-node-lease' },
        spec: { holderIdentity: n.name, leaseDurationSeconds: 40, renewTime: microTime() },
      }),
    ),
  );
}
