/** The lab kubelet: lab nodes, self-binding scheduler, one real backend process per pod. */
export { LabKubelet, type LabKubeletOptions, type LabPodInfo } from './kubelet';
export { DEFAULT_NODES, type LabNodeSpec, type RegisteredNode } from './nodes';
export type { BackendFailure } from './pod-worker';
