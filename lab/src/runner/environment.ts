/**
 * Everything a lab run needs, started and stopped in order: the real control plane and lab kubelet, Herald's
 * registry server (its own process) behind a failure switch, the Herald replicas (two by default, as deployed;
 * each its own process, so one can be killed), VM hosts heartbeating into the registry, and the client Envoys,
 * each bootstrapped with every replica.
 *
 * The registry's storage (`registry`): `sqlite` (default) is Herald's embedded registry, read by Herald's registry
 * source over HTTP (polled) through the failure switch. `kubernetes` stores hosts as RegistryHost resources in the
 * lab's apiserver (deploy/registry-crd.yaml applied first) and Herald's registry source watches them there, so
 * nothing reads the registry over HTTP: the failure switch then sits on the write path, in front of the VMs'
 * heartbeats (a registry server answering 500s or garbage is one whose heartbeats do not land). Either way
 * stopRegistry()/startRegistry() take the registry server process itself down and up.
 *
 * The node (`node`): `lab` (default) is the lab kubelet, which runs each pod as a backend process on host
 * loopback. `real` is a real node (lab/src/node: containerd, kubelet, kube-proxy in a network namespace) running
 * the lab backend image; then the Herald replicas and the client Envoys are host processes entered into the
 * node's namespace (`nsenter --net`), where pod IPs are routable and a killed replica's port refuses connections
 * as it would on loopback. Herald reaches the apiserver and the registry on host loopback through the node agent's
 * exports; the lab reaches Herald's and Envoy's admin and egress ports through host-loopback forwards into the
 * namespace (lab/src/node/forward.ts). Nothing is dialed from the host to an address inside the namespace.
 *
 * Ownership: the LabEnvironment owns every process it starts; stop() ends them all and is idempotent.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../kube';
import { forwardIntoNode, realNodeControlPlaneOptions, startRealNode, type Forward, type RealNode } from '../node';
import { repoRoot } from '../kube/paths';
import { LabKubelet } from '../kubelet';
import { ManagedProcess } from '../kube/process';
import { freePorts } from '../kube/ports';
import { waitFor } from '../kube/wait';
import { startFaultyRegistry, type FaultyRegistry } from '../registry-faults';
import { startClientEnvoy, type ClientEnvoy } from './envoys';
import { HeraldReplicas, type Replica } from './heralds';
import { HERALD_CLI } from '../product';
import { promisify } from 'node:util';

const runFile = promisify(execFile);

export type LabMode = 'pods-draining' | 'endpointslices-terminating' | 'endpointslices-ready';
export const LAB_MODES: readonly LabMode[] = ['pods-draining', 'endpointslices-terminating', 'endpointslices-ready'];
export const LAB_ZONES = ['lab-zone-a', 'lab-zone-b', 'lab-zone-c'] as const;

const BACKEND = path.resolve(__dirname, '..', 'backend', 'main.js');
const TOKEN = 'lab-registry-token';

export interface LabTopology {
  /** Herald processes; every client Envoy is bootstrapped with all of them. */
  readonly replicas: number;
  /**
   * Herald's xds.maxStreamAgeSeconds. The lab's default is shorter than the product's (300 s), so that a run of
   * a few minutes shows streams spreading again over the replicas after a restart.
   */
  readonly maxStreamAgeSeconds: number;
}

export const LAB_TOPOLOGY: LabTopology = { replicas: 2, maxStreamAgeSeconds: 20 };

export type LabNode = 'lab' | 'real';
export const LAB_NODES: readonly LabNode[] = ['lab', 'real'];

export type LabRegistry = 'sqlite' | 'kubernetes';
export const LAB_REGISTRIES: readonly LabRegistry[] = ['sqlite', 'kubernetes'];
/** Where RegistryHosts live with the kubernetes registry (deploy/namespace.yaml). */
const REGISTRY_NAMESPACE = 'herald-system';
/**
 * The kubernetes registry's TTL, server and source alike: short enough that a registry outage in a scenario is a
 * real fraction of it (hosts must outlive the outage, not a 10-minute default), long enough for the longest one
 * (registry-outage: 10 s down, plus a heartbeat interval and the backend's write deferral of TTL/20).
 */
const KUBE_REGISTRY_TTL_SECONDS = 20;

/** The repository's deploy/ folder (from lab/src/runner or its compiled form in dist/lab/src/runner). */
function deployDir(): string {
  for (let dir = __dirname; ; ) {
    const candidate = path.join(dir, 'deploy', 'registry-crd.yaml');
    if (fs.existsSync(candidate)) return path.dirname(candidate);
    const up = path.dirname(dir);
    if (up === dir) throw new Error('deploy/registry-crd.yaml not found');
    dir = up;
  }
}

export interface Vm {
  readonly ip: string;
  readonly proc: ManagedProcess;
  registered: boolean;
}

const REAL_NODE_IMAGES = ['pause', 'herald-lab-backend'] as const;

/** The image archives a real-node run imports (images/build.sh writes them). */
export function realNodeImages(dir = path.join(repoRoot(), '.cache', 'images')): string[] {
  return REAL_NODE_IMAGES.map((n) => path.join(dir, `${n}.oci.tar`));
}

/**
 * Builds (or finds up to date: about a second) the images a real-node run imports, from this tree's compiled lab
 * backend; returns images/build.sh's report, one line per image.
 */
export async function buildRealNodeImages(): Promise<string[]> {
  try {
    const { stdout } = await runFile('bash', [path.join(repoRoot(), 'images', 'build.sh'), ...REAL_NODE_IMAGES], { timeout: 600_000, maxBuffer: 8 << 20 });
    return stdout.trim().split('\n');
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`images/build.sh ${REAL_NODE_IMAGES.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

export class LabEnvironment {
  cp!: ControlPlane;
  /** With node `lab`. */
  kubelet: LabKubelet | undefined;
  /** With node `real`. */
  realNode: RealNode | undefined;
  private readonly forwards: Forward[] = [];
  registry!: ManagedProcess;
  faulty!: FaultyRegistry;
  heralds!: HeraldReplicas;
  /** Replicas killed by killHerald and not started again yet. */
  private readonly down: Replica[] = [];
  envoys: ClientEnvoy[] = [];
  readonly vms: Vm[] = [];
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-lab-'));
  registryPort = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;

  readonly registryBackend: LabRegistry;
  readonly node: LabNode;

  constructor(
    readonly service: string,
    readonly mode: LabMode,
    private readonly log: (msg: string) => void,
    readonly topology: LabTopology = LAB_TOPOLOGY,
    opts: { registry?: LabRegistry; node?: LabNode } = {},
  ) {
    this.registryBackend = opts.registry ?? 'sqlite';
    this.node = opts.node ?? 'lab';
  }

  async start(envoys: number): Promise<void> {
    this.registryPort = (await freePorts(1))[0]!;
    this.cp = await startControlPlane(this.node === 'real' ? realNodeControlPlaneOptions() : {});
    this.log(`control plane ready in ${this.cp.startupMs} ms`);
    if (this.node === 'lab') this.kubelet = await LabKubelet.start({ client: this.cp.client, logDir: path.join(this.dir, 'pods') });
    fs.writeFileSync(path.join(this.dir, 'registry.token'), TOKEN);
    if (this.registryBackend === 'kubernetes') await this.applyRegistryCrd();
    await this.startRegistry();
    this.faulty = await startFaultyRegistry(`http://127.0.0.1:${this.registryPort}`);
    if (this.node === 'real') {
      for (const line of await buildRealNodeImages()) this.log(`image ${line}`);
      // Herald, inside the namespace, reads the registry (through the failure switch) on host loopback.
      const node = (this.realNode = await startRealNode(this.cp, { images: realNodeImages(), exports: [Number(new URL(this.faulty.url).port)], log: this.log }));
      this.log(`real node ${node.nodeName} Ready in ${node.startupMs} ms (images imported in ${node.importMs} ms, namespace ${node.netns})`);
    }
    // Chosen while the apiserver, the registry and its failure switch hold theirs on host loopback (on the real node
    // Herald's ports are bound only inside the namespace, where the apiserver's and the switch's are exported, so
    // they must differ from those), and on the real node bound by the forwards at once, before anything else can.
    const ports = await freePorts(2 * this.topology.replicas + 2 * envoys);
    const heraldPorts = ports.slice(0, 2 * this.topology.replicas);
    const envoyPorts = ports.slice(2 * this.topology.replicas);
    if (this.realNode) {
      const admin = heraldPorts.filter((_, i) => i % 2 === 1);
      for (const port of [...admin, ...envoyPorts]) this.forwards.push(await forwardIntoNode(this.realNode, port));
    }
    this.writePolicies();
    this.heralds = new HeraldReplicas(
      this.dir,
      Array.from({ length: this.topology.replicas }, (_, i) => [heraldPorts[2 * i]!, heraldPorts[2 * i + 1]!] as const),
      (xds, admin) => this.heraldConfig(xds, admin),
      this.realNode?.netns,
    );
    for (const r of this.heralds.replicas) this.log(`Herald ${r.name} ready in ${await this.heralds.start(r)} ms`);
    for (let i = 0; i < envoys; i++) {
      this.envoys.push(
        await startClientEnvoy({
          index: i,
          zone: LAB_ZONES[i % LAB_ZONES.length]!,
          xds: this.heralds.xdsList(),
          adminPort: envoyPorts[2 * i]!,
          egressPort: envoyPorts[2 * i + 1]!,
          service: this.service,
          ...(this.realNode ? { netns: this.realNode.netns } : {}),
        }),
      );
    }
    await waitFor('client Envoys ready (connected to Herald and configured)', async () => (await Promise.all(this.envoys.map((e) => e.envoy.isReady()))).every(Boolean), { timeoutMs: 20_000 });
  }

  private writePolicies(): void {
    // endpointslices-ready is the talk's initial design: only ready endpoints and Envoy's default removal
    // semantics (a host absent from EDS stays until it fails health checks).
    const policy = this.mode === 'endpointslices-ready' ? { defaults: { ignoreHealthOnHostRemoval: false } } : {};
    fs.writeFileSync(path.join(this.dir, 'policies.yaml'), stringify(policy));
  }

  /** One replica's herald.yaml: every replica reads the same inputs; only the ports differ. */
  private heraldConfig(xdsPort: number, adminPort: number): Record<string, unknown> {
    const discovery = this.mode === 'pods-draining' ? 'pods' : this.mode;
    return {
      xds: { address: '127.0.0.1', port: xdsPort, maxStreamAgeSeconds: this.topology.maxStreamAgeSeconds },
      admin: { address: '127.0.0.1', port: adminPort },
      policyFile: 'policies.yaml',
      sources: [
        { kind: 'kubernetes', name: 'k8s', kubeconfig: this.cp.kubeconfigPath, namespaces: ['default'], serviceLabel: 'app', portName: 'http', discovery },
        this.registryBackend === 'kubernetes'
          ? { kind: 'registry', name: 'vms', backend: 'kubernetes', kubeconfig: this.cp.kubeconfigPath, namespace: REGISTRY_NAMESPACE, services: [this.service], ttlSeconds: KUBE_REGISTRY_TTL_SECONDS }
          : { kind: 'registry', name: 'vms', url: this.faulty.url, services: [this.service], intervalMs: 500 },
      ],
    };
  }

  /** The namespace, the RegistryHost CRD of deploy/, and waits until the apiserver serves it. */
  private async applyRegistryCrd(): Promise<void> {
    const deploy = deployDir();
    const applied = await this.cp.kubectl(['apply', '-f', path.join(deploy, 'namespace.yaml'), '-f', path.join(deploy, 'registry-crd.yaml')]);
    if (applied.code !== 0) throw new Error(`kubectl apply deploy/registry-crd.yaml: ${applied.stderr}`);
    const ready = await this.cp.kubectl(['wait', '--for=condition=Established', 'crd/registryhosts.herald.io', '--timeout=30s']);
    if (ready.code !== 0) throw new Error(`the RegistryHost CRD was not established: ${ready.stderr}`);
  }

  /** Starts Herald's registry server (its own process, on the same port and storage each time) and waits until it answers. */
  async startRegistry(): Promise<void> {
    const storage =
      this.registryBackend === 'kubernetes'
        ? ['--backend', 'kubernetes', '--kubeconfig', this.cp.kubeconfigPath, '--namespace', REGISTRY_NAMESPACE, '--ttl-seconds', String(KUBE_REGISTRY_TTL_SECONDS)]
        : ['--db', path.join(this.dir, 'registry.sqlite')];
    this.registry = ManagedProcess.spawn({
      name: 'registry',
      command: process.execPath,
      args: [HERALD_CLI, 'registry', ...storage, '--port', String(this.registryPort), '--token-file', path.join(this.dir, 'registry.token')],
      logFile: path.join(this.dir, 'registry.log'),
    });
    const proc = this.registry;
    await waitFor('the registry server', async () => (await fetch(`http://127.0.0.1:${this.registryPort}/v1/registration/${this.service}`)).ok, {
      timeoutMs: 15_000,
      abortIf: () => (proc.exit ? `the registry server exited (${JSON.stringify(proc.exit)}); see ${proc.logFile}` : undefined),
    });
  }

  /** SIGKILLs the registry server: heartbeats fail (connection refused) until startRegistry(). */
  async stopRegistry(): Promise<void> {
    await this.registry?.kill();
  }

  /** Where VMs send heartbeats and deregistrations: through the failure switch when nothing reads over HTTP. */
  private get registryWriteUrl(): string {
    return this.registryBackend === 'kubernetes' ? this.faulty.url : `http://127.0.0.1:${this.registryPort}`;
  }

  /**
   * SIGKILLs the live replica that most proxies stream from (no goodbye to any proxy). Returns it, the node ids
   * that streamed from it, and when the signal was sent; undefined when no replica is live.
   */
  async killHerald(): Promise<{ replica: Replica; nodes: string[]; at: number } | undefined> {
    const replica = await this.heralds.busiest();
    if (!replica) return undefined;
    const nodes = ((await this.heralds.streams()).get(replica.name) ?? []).map((s) => s.nodeId);
    const at = Date.now();
    await this.heralds.kill(replica);
    this.down.push(replica);
    return { replica, nodes, at };
  }

  /** Starts every replica killHerald killed, and waits until each serves; returns how long each took (ms). */
  async startHerald(): Promise<Array<{ replica: string; ms: number }>> {
    const out: Array<{ replica: string; ms: number }> = [];
    for (const r of this.down.splice(0)) out.push({ replica: r.name, ms: await this.heralds.start(r) });
    return out;
  }

  /** Starts `count` VM hosts (lab backends on 127.3.0.x) and keeps them registered in the registry. */
  async startVms(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const ip = `127.3.0.${i + 1}`;
      const proc = ManagedProcess.spawn({
        name: `vm-${i + 1}`,
        command: process.execPath,
        args: [BACKEND],
        logFile: path.join(this.dir, `vm-${i + 1}.log`),
        env: { ...process.env, LAB_POD_NAME: `vm-${i + 1}`, LAB_POD_IP: ip, LAB_HTTP_PORT: '8080', LAB_GRPC_PORT: '0', LAB_DRAIN_MS: '500' },
      });
      await waitFor(`VM ${ip} to listen`, async () => (await fetch(`http://${ip}:8080/healthz`)).ok, { timeoutMs: 10_000 });
      this.vms.push({ ip, proc, registered: true });
    }
    await this.heartbeatOnce();
    this.heartbeat = setInterval(() => void this.heartbeatOnce(), 2000);
    this.heartbeat.unref();
  }

  private async heartbeatOnce(): Promise<void> {
    await Promise.all(
      this.vms
        .filter((v) => v.registered)
        .map((v) =>
          fetch(`${this.registryWriteUrl}/v1/registration/${this.service}`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${TOKEN}` },
            body: new URLSearchParams({ ip: v.ip, port: '8080', revision: 'vm', tags: JSON.stringify({ az: 'lab-zone-a', region: 'lab', instance_id: v.ip }) }),
          }).catch(() => undefined),
        ),
    );
  }

  /** Deregisters a VM host (the registry's DELETE). Its process keeps running until stopVm. */
  async deregisterVm(vm: Vm): Promise<void> {
    vm.registered = false;
    const r = await fetch(`${this.registryWriteUrl}/v1/registration/${this.service}/${vm.ip}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    if (r.status !== 200) this.log(`deregistering ${vm.ip}: the registry answered ${r.status} ${r.headers.get('x-herald-reason') ?? ''} ${await r.text()}`);
  }

  async stop(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.heartbeat);
      for (const e of this.envoys) await e.envoy.stop().catch(() => undefined);
      await this.heralds?.stop().catch(() => undefined);
      for (const v of this.vms) await v.proc.kill().catch(() => undefined);
      for (const f of this.forwards) await f.close().catch(() => undefined);
      await this.realNode?.stop().catch((err: Error) => this.log(`stopping the real node: ${err.message}`));
      await this.faulty?.close().catch(() => undefined);
      await this.registry?.kill().catch(() => undefined);
      await this.kubelet?.stop().catch(() => undefined);
      await this.cp?.stop().catch(() => undefined);
    })();
    return this.stopped;
  }
}
