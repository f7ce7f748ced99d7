/** A real single-machine Kubernetes control plane for tests and the lab. */
export { startControlPlane, type ControlPlane, type ControlPlaneOptions, type Component, type KubectlResult } from './control-plane';
export { DEFAULT_CONTROLLERS } from './controller-manager';
export { KubeClient, KubeApiError, type KubeCredentials, type KubeObject, type KubeList, type WatchEvent } from './client';
export { ListWatch, objectKey, type ChangeType } from './list-watch';
export { kubeBinary, kubeBinDir, kubeBinariesPresent } from './paths';
export { waitFor, sleep } from './wait';
