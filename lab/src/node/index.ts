/** A real Kubernetes node (containerd, kubelet, kube-proxy) in a network namespace; see node.ts. */
export { startRealNode, realNodeProblem, realNodeSkipReason, realNodeControlPlaneOptions, imageArchives, parseCriLog, NODE_IP, POD_CIDR, SERVICE_CIDR, CLUSTER_DNS_IP, type RealNode, type RealNodeOptions, type LogLine, type HttpResult } from './node';
export { cleanupRun, sweepStaleRuns, readSysctls, runsRoot, WATCHED_SYSCTLS, type RunRecord, type CleanupReport } from './cleanup';
export { forwardIntoNode, type Forward } from './forward';
