/** kube-controller-manager for a lab control plane. */
import { ManagedProcess } from './process';
import { kubeBinary } from './paths';

/**
 * Controllers the lab runs by default: Endpoints and EndpointSlices (what Herald watches), Deployments
 * and ReplicaSets, the garbage collector (cascading deletion) and the namespace controller (namespace
 * deletion). The node lifecycle controller is deliberately absent: lab nodes are never tainted.
 */
export const DEFAULT_CONTROLLERS = [
  'endpoints-controller',
  'endpointslice-controller',
  'endpointslice-mirroring-controller',
  'deployment-controller',
  'replicaset-controller',
  'garbage-collector-controller',
  'namespace-controller',
] as const;

export interface ControllerManagerConfig {
  kubeconfig: string;
  controllers: readonly string[];
  logFile: string;
  extraArgs: string[];
}

export function controllerManagerArgs(cfg: ControllerManagerConfig): string[] {
  return [
    `--kubeconfig=${cfg.kubeconfig}`,
    `--controllers=${cfg.controllers.join(',')}`,
    '--leader-elect=false',
    // Each controller acts as its own ServiceAccount in kube-system, with the bootstrap RBAC roles.
    '--use-service-account-credentials=true',
    '--secure-port=0',
    '--kube-api-qps=200',
    '--kube-api-burst=400',
    ...cfg.extraArgs,
  ];
}

export function startControllerManager(cfg: ControllerManagerConfig): ManagedProcess {
  return ManagedProcess.spawn({
    name: 'kube-controller-manager',
    command: kubeBinary('kube-controller-manager'),
    args: controllerManagerArgs(cfg),
    logFile: cfg.logFile,
  });
}
