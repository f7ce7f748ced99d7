/** kube-apiserver for a lab control plane: loopback, RBAC, static-token and client-certificate authentication. */
import { join } from 'node:path';
import { ManagedProcess } from './process';
import { kubeBinary } from './paths';
import type { Pki } from './pki';
import { LabKubeClient } from './writer';
import { waitFor } from './wait';

export interface ApiserverConfig {
  dataDir: string;
  port: number;
  etcdUrl: string;
  pki: Pki;
  tokenFile: string;
  serviceClusterIPRange: string;
  watchCache: boolean;
  /** Run the ServiceAccount admission plugin (pods get projected tokens); off in the lab. */
  serviceAccountAdmission?: boolean;
  logFile: string;
  extraArgs: string[];
}

export function apiserverArgs(cfg: ApiserverConfig): string[] {
  return [
    `--etcd-servers=${cfg.etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${cfg.port}`,
    `--cert-dir=${join(cfg.dataDir, 'apiserver-certs')}`,
    `--tls-cert-file=${cfg.pki.servingCert}`,
    `--tls-private-key-file=${cfg.pki.servingKey}`,
    `--token-auth-file=${cfg.tokenFile}`,
    `--client-ca-file=${cfg.pki.caCert}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${cfg.pki.saPub}`,
    `--service-account-signing-key-file=${cfg.pki.saKey}`,
    `--service-cluster-ip-range=${cfg.serviceClusterIPRange}`,
    '--allow-privileged=true',
    // Pods need no "default" ServiceAccount to exist first (there is no token to mount in the lab).
    ...(cfg.serviceAccountAdmission ? [] : ['--disable-admission-plugins=ServiceAccount']),
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    `--watch-cache=${cfg.watchCache}`,
    ...cfg.extraArgs,
  ];
}

export function startApiserverProcess(cfg: ApiserverConfig): ManagedProcess {
  return ManagedProcess.spawn({ name: 'kube-apiserver', command: kubeBinary('kube-apiserver'), args: apiserverArgs(cfg), logFile: cfg.logFile });
}

/** Resolves once GET /readyz answers "ok"; throws early if the process exits. */
export async function waitApiserverReady(proc: ManagedProcess, client: LabKubeClient, logFile: string, timeoutMs: number): Promise<void> {
  await waitFor('kube-apiserver /readyz', async () => (await client.get<string>('/readyz', undefined, undefined, 2_000)) === 'ok', {
    timeoutMs,
    intervalMs: 100,
    abortIf: () => (proc.exit ? `kube-apiserver exited (${JSON.stringify(proc.exit)}); see ${logFile}` : undefined),
  });
}
