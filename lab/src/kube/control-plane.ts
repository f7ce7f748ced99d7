/**
 * A real single-machine Kubernetes control plane for tests and the lab: etcd, kube-apiserver and
 * kube-controller-manager built from their Go modules (tools/kube), on 127.0.0.1 with free ports, data
 * in a temporary folder. Every process runs in its own process group and dies with this Node process.
 *
 * Ownership: the ControlPlane returned by startControlPlane() owns its processes and its folder. Its
 * methods must not run concurrently with each other (they are meant for a test's sequential steps);
 * stop() may be called at any time, twice, and after a failed start.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { LabKubeClient } from './writer';
import { startApiserverProcess, waitApiserverReady, type ApiserverConfig } from './apiserver';
import { DEFAULT_CONTROLLERS, startControllerManager } from './controller-manager';
import { compactEtcd, etcdUrl, startEtcd, type EtcdConfig } from './etcd';
import { writeKubeconfig, writeTokenFile } from './kubeconfig';
import { kubeBinary } from './paths';
import { generatePki } from './pki';
import { freePorts } from './ports';
import type { ManagedProcess } from './process';

export interface ControlPlaneOptions {
  /** kube-controller-manager --controllers (default DEFAULT_CONTROLLERS); [] runs no controller manager. */
  controllers?: readonly string[];
  /** kube-apiserver --watch-cache (default true). With false, watches read etcd directly. */
  watchCache?: boolean;
  /**
   * kube-apiserver --service-cluster-ip-range (default 127.2.0.0/16: loopback, like the pod IPs, so
   * that a ClusterIP dialled by mistake never leaves the machine; nothing listens there).
   */
  serviceClusterIPRange?: string;
  /** Parent of the data folder (default the OS temp folder). */
  tmpRoot?: string;
  /** Keep the data folder (logs, etcd data) after stop(); also when $HERALD_LAB_KEEP=1. */
  keepData?: boolean;
  /** Timeout for each component to become ready (default 60 s). */
  startTimeoutMs?: number;
  extraApiserverArgs?: string[];
  extraControllerManagerArgs?: string[];
  /** More subjectAltNames of the apiserver's serving certificate (e.g. `IP:<the kubernetes Service IP>`). */
  servingSans?: string[];
  /**
   * Service accounts as a real cluster has them (for a real kubelet, lab/src/node): the ServiceAccount
   * admission plugin, and the controllers that create each namespace's `default` account and publish
   * the kube-root-ca.crt ConfigMap that projected token volumes include. Default false (the lab kubelet
   * mounts nothing).
   */
  serviceAccounts?: boolean;
}

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** Kubeconfig (bearer token of a system:masters user, CA data inline). */
  readonly kubeconfigPath: string;
  /** That user's bearer token. */
  readonly token: string;
  /** PEM of the CA that signed the apiserver's serving certificate, and its file. */
  readonly caPem: string;
  readonly caFile: string;
  /**
   * A client certificate and key the apiserver accepts (user herald-cert-user, group herald-cert-readers, see
   * pki.ts); the group has no rights until a test binds it.
   */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** http://127.0.0.1:PORT of etcd. */
  readonly etcdUrl: string;
  /** The data folder: logs are `<component>.log` in it. */
  readonly dataDir: string;
  /** Milliseconds from the call of startControlPlane() to a ready apiserver. */
  readonly startupMs: number;
  /** A client authenticated as the admin user (shared; do not close it). */
  readonly client: LabKubeClient;
  /** A @kubernetes/client-node KubeConfig loaded from kubeconfigPath (a new one on each call). */
  kubeConfig(): KubeConfig;
  /** Log file of a component. */
  logFile(component: Component): string;
  /** Process group id of each running component (for diagnostics and leak checks). */
  processGroups(): Partial<Record<Component, number>>;
  /** Runs the built kubectl with --kubeconfig; `input` goes to its stdin (for `apply -f -`). Never throws on exit codes. */
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
  /**
   * SIGTERM the apiserver, SIGKILL it after `graceMs` (default 1000; 0 kills at once, like a crash) and
   * wait until it has exited; etcd and the controller manager keep running.
   */
  stopApiserver(graceMs?: number): Promise<void>;
  /** Start the apiserver again on the same port and data; resolves when /readyz is ok. */
  startApiserver(): Promise<void>;
  /** stopApiserver(graceMs) then startApiserver(): every watch ends, clients reconnect to the same URL. */
  restartApiserver(graceMs?: number): Promise<void>;
  /**
   * Compact etcd's history (see etcd.ts) and return the compaction revision. A watch that etcd serves
   * from an older resourceVersion then answers 410 Gone: with watchCache false, any such watch. With
   * the watch cache on (the default), the apiserver serves watches from its cache, which compaction
   * does not shrink; there a watch answers 410 only for a resourceVersion older than the cache's
   * window, and after restartApiserver() that is every resourceVersion from before the restart.
   */
  compactEtcd(): Promise<number>;
  /** Stop everything (controller manager, apiserver, etcd) and remove the data folder. Idempotent. */
  stop(): Promise<void>;
}

/** Grace before SIGKILL when the whole control plane stops. */
const STOP_GRACE_MS = 1_000;
/**
 * Default grace of stopApiserver(): kube-apiserver stops listening at once on SIGTERM and ends its
 * watches, but then waits for open connections for longer (seconds) than tests want to wait.
 */
const APISERVER_GRACE_MS = 1_000;

/** Starts etcd, kube-apiserver and kube-controller-manager; resolves when the apiserver is ready. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const dataDir = mkdtempSync(join(opts.tmpRoot ?? tmpdir(), 'herald-kube-'));
  const keepData = opts.keepData ?? process.env['HERALD_LAB_KEEP'] === '1';
  const log = (c: Component) => join(dataDir, `${c}.log`);
  const procs: { etcd?: ManagedProcess; apiserver?: ManagedProcess; kcm?: ManagedProcess } = {};
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Nothing is kept, so nothing needs a long goodbye: a short grace lets the logs flush.
    await Promise.all([procs.kcm?.stop(STOP_GRACE_MS), procs.apiserver?.stop(STOP_GRACE_MS)]);
    await procs.etcd?.stop(STOP_GRACE_MS);
    client?.close();
    if (!keepData) rmSync(dataDir, { recursive: true, force: true });
  };

  let client: LabKubeClient | undefined;
  try {
    const pkiDir = join(dataDir, 'pki');
    mkdirSync(pkiDir);
    const [pki, ports] = await Promise.all([generatePki(pkiDir, opts.servingSans ?? []), freePorts(3)]);
    const [clientPort, peerPort, apiPort] = ports as [number, number, number];
    const adminToken = randomBytes(24).toString('hex');
    const kcmToken = randomBytes(24).toString('hex');
    const tokenFile = join(pkiDir, 'tokens.csv');
    writeTokenFile(tokenFile, [
      { token: adminToken, user: 'herald-lab-admin', uid: 'herald-lab-admin', groups: ['system:masters'] },
      { token: kcmToken, user: 'system:kube-controller-manager', uid: 'kube-controller-manager', groups: [] },
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    const caPem = readFileSync(pki.caCert, 'utf8');
    const kubeconfigPath = join(dataDir, 'kubeconfig');
    const kcmKubeconfig = join(pkiDir, 'kube-controller-manager.kubeconfig');
    writeKubeconfig(kubeconfigPath, { name: 'herald-lab', server, caPem, token: adminToken });
    writeKubeconfig(kcmKubeconfig, { name: 'herald-lab', server, caPem, token: kcmToken });

    const etcdCfg: EtcdConfig = { dataDir, clientPort, peerPort, logFile: log('etcd') };
    procs.etcd = await startEtcd(etcdCfg, timeoutMs);

    const apiCfg: ApiserverConfig = {
      dataDir,
      port: apiPort,
      etcdUrl: etcdUrl(etcdCfg),
      pki,
      tokenFile,
      serviceClusterIPRange: opts.serviceClusterIPRange ?? '127.2.0.0/16',
      watchCache: opts.watchCache ?? true,
      serviceAccountAdmission: opts.serviceAccounts ?? false,
      logFile: log('kube-apiserver'),
      extraArgs: opts.extraApiserverArgs ?? [],
    };
    client = new LabKubeClient({ server, token: adminToken, caPem });
    const adminClient = client;
    procs.apiserver = startApiserverProcess(apiCfg);
    await waitApiserverReady(procs.apiserver, adminClient, apiCfg.logFile, timeoutMs);
    const startupMs = Date.now() - started;

    const saControllers = opts.serviceAccounts ? ['serviceaccount-controller', 'root-ca-certificate-publisher-controller'] : [];
    const controllers = [...(opts.controllers ?? DEFAULT_CONTROLLERS), ...saControllers];
    if (controllers.length > 0) {
      procs.kcm = startControllerManager({
        kubeconfig: kcmKubeconfig,
        controllers,
        logFile: log('kube-controller-manager'),
        extraArgs: [...(opts.serviceAccounts ? [`--root-ca-file=${pki.caCert}`] : []), ...(opts.extraControllerManagerArgs ?? [])],
      });
    }

    const stopApiserver = async (graceMs = APISERVER_GRACE_MS): Promise<void> => {
      if (graceMs <= 0) await procs.apiserver?.kill();
      else await procs.apiserver?.stop(graceMs);
      procs.apiserver = undefined;
    };
    const startApiserver = async (): Promise<void> => {
      if (stopped) throw new Error('control plane is stopped');
      if (procs.apiserver) throw new Error('kube-apiserver is already running');
      procs.apiserver = startApiserverProcess(apiCfg);
      await waitApiserverReady(procs.apiserver, adminClient, apiCfg.logFile, timeoutMs);
    };

    const plane: ControlPlane = {
      server,
      kubeconfigPath,
      token: adminToken,
      caPem,
      caFile: pki.caCert,
      clientCertFile: pki.clientCert,
      clientKeyFile: pki.clientKey,
      etcdUrl: etcdUrl(etcdCfg),
      dataDir,
      startupMs,
      client: adminClient,
      kubeConfig() {
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        return kc;
      },
      logFile: log,
      processGroups: () => ({
        ...(procs.etcd ? { etcd: procs.etcd.pgid } : {}),
        ...(procs.apiserver ? { 'kube-apiserver': procs.apiserver.pgid } : {}),
        ...(procs.kcm ? { 'kube-controller-manager': procs.kcm.pgid } : {}),
      }),
      kubectl: (args, input) => runKubectl(kubeconfigPath, args, input),
      stopApiserver,
      startApiserver,
      async restartApiserver(graceMs?: number) {
        await stopApiserver(graceMs);
        await startApiserver();
      },
      compactEtcd: () => compactEtcd(etcdCfg),
      stop,
    };
    return plane;
  } catch (err) {
    const kept = keepData;
    await stop();
    throw new Error(`${(err as Error).message}${kept ? ` (data kept in ${dataDir})` : ''}`, { cause: err });
  }
}

function runKubectl(kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      kubeBinary('kubectl'),
      [`--kubeconfig=${kubeconfig}`, ...args],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, KUBECTL_KUBERC: 'false' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}
