/**
 * A real single-machine Kubernetes control plane for tests and the lab (binaries from `make kube`).
 *
 *   const cp = await startControlPlane();                  // etcd, kube-apiserver, kube-controller-manager
 *   const kubelet = await LabKubelet.start({ client: cp.client });   // from lab/src/kubelet
 *   await cp.kubectl(['apply', '-f', '-'], yaml);
 *   ...
 *   await kubelet.stop();
 *   await cp.stop();
 *
 * Everything listens on loopback; pod IPs are 127.1.0.0/16 and ClusterIPs 127.2.0.0/16. Every child
 * process dies with the Node process that started it (see process.ts).
 */
export { startControlPlane, type ControlPlane, type ControlPlaneOptions, type Component, type KubectlResult } from './control-plane';
export { DEFAULT_CONTROLLERS } from './controller-manager';
export { LabKubeClient } from './writer';
export { KubeClient, KubeApiError, type KubeCredentials, type KubeObject, type KubeList, type WatchEvent, type Query } from '../../../src/sources/kubernetes/client';
export { ListWatch, objectKey, type ChangeType } from './list-watch';
export { CERT_GROUP, CERT_USER } from './pki';
export { kubeBinary, kubeBinDir, kubeBinariesPresent } from './paths';
export { waitFor, sleep } from './wait';
