/**
 * Placement of unscheduled pods on lab nodes, done by the lab kubelet itself through the
 * pods/binding subresource (as kube-scheduler does). Only spec.nodeSelector is honoured; affinity,
 * taints, topology spread and resources are not. Among the nodes that match, the one with the fewest
 * pods of the same owner (then the fewest pods overall, then node order) wins, so a Deployment's
 * replicas spread across the zones deterministically.
 */
import type { LabKubeClient } from '../kube/writer';
import type { RegisteredNode } from './nodes';
import type { Pod } from './types';

/** True when the pod waits for the default scheduler (or this one) and is not being deleted. */
export function needsScheduling(pod: Pod, schedulerNames: readonly string[]): boolean {
  return !pod.spec.nodeName && !pod.metadata.deletionTimestamp && schedulerNames.includes(pod.spec.schedulerName ?? 'default-scheduler');
}

/** A pod already placed on a node (bound, or bound by us and not yet seen in the watch). */
export interface Placement {
  uid: string;
  node: string;
  /** UID of the pod's first owner (e.g. its ReplicaSet), "" for none. */
  owner: string;
}

/** The node for `pod`, or undefined when no node matches its nodeSelector. */
export function chooseNode(pod: Pod, nodes: readonly RegisteredNode[], placed: readonly Placement[]): RegisteredNode | undefined {
  const selector = pod.spec.nodeSelector ?? {};
  const eligible = nodes.filter((n) => Object.entries(selector).every(([k, v]) => n.labels[k] === v));
  const owner = pod.metadata.ownerReferences?.[0]?.uid ?? '';
  let best: RegisteredNode | undefined;
  let bestScore: [number, number] = [Infinity, Infinity];
  for (const n of eligible) {
    const on = placed.filter((p) => p.node === n.name && p.uid !== pod.metadata.uid);
    const score: [number, number] = [owner ? on.filter((p) => p.owner === owner).length : 0, on.length];
    if (score[0] < bestScore[0] || (score[0] === bestScore[0] && score[1] < bestScore[1])) {
      best = n;
      bestScore = score;
    }
  }
  return best;
}

/** POSTs the Binding of `pod` to `node` (fails with 409 if the pod was bound meanwhile). */
export async function bindPod(client: LabKubeClient, pod: Pod, node: string): Promise<void> {
  const ns = pod.metadata.namespace ?? 'default';
  await client.post(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/binding`, {
    apiVersion: 'v1',
    kind: 'Binding',
    metadata: { name: pod.metadata.name, namespace: ns, uid: pod.metadata.uid },
    target: { apiVersion: 'v1', kind: 'Node', name: node },
  });
}
