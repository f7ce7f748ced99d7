/**
 * A real Kubernetes node on this machine, for tests and the lab: containerd, the kubelet, kube-proxy
 * and the CNI bridge (Debian's packages, `make kube`'s binaries) inside a network namespace that the
 * harness creates, driven by a control plane from lab/src/kube (plus kube-scheduler, started here).
 *
 *   const cp = await startControlPlane(realNodeControlPlaneOptions());
 *   const node = await startRealNode(cp, { images: imageArchives() });
 *   await cp.kubectl(['apply', '-k', 'deploy/']);
 *   const res = await node.request('http://10.213.1.5:18001/proxies');   // reaches into the namespace
 *   await node.stop();
 *
 * Isolation. The node is 10.213.0.2 on a link in namespace herald-node-<id> whose peer end is also
 * inside and goes nowhere; the default route is that link, so nothing the node sends can leave; pods (10.213.1.0/24) and Services (10.213.128.0/24)
 * exist only there. The apiserver stays on host loopback: the node agent (agent.ts) joins the two
 * sides through unix sockets, never through a route. containerd, the kubelet and kube-proxy share one
 * mount namespace (a slave of the host's) in which the kernel sysctls the kubelet insists on are
 * files bound over /proc/sys, so the host's values never change; iptables rules and per-namespace
 * sysctls live and die with the network namespace. Cluster DNS is the agent (dns.ts) on the node IP.
 *
 * Teardown. Everything is recorded in <root>/<id>/run.json before it is changed, and undone by
 * cleanupRun() (cleanup.ts), which a guard process runs when this process stops it or dies (SIGKILL
 * included); every start also sweeps runs whose owner is gone.
 *
 * Ownership: the RealNode owns its processes, sockets and folder; its methods may be called
 * concurrently except stop(), which is idempotent and safe after a failed start.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { ControlPlane, ControlPlaneOptions } from '../kube/control-plane';
import { writeKubeconfig } from '../kube/kubeconfig';
import { kubeBinDir, repoRoot } from '../kube/paths';
import { DEFAULT_CONTROLLERS } from '../kube/controller-manager';
import { ManagedProcess } from '../kube/process';
import { waitFor } from '../kube/wait';
import { splice, type AgentConfig } from './agent';
import { cleanupRun, listDir, processStart, readSysctls, runsRoot, SHIM_SOCKET_DIR, sweepStaleRuns, type RunRecord } from './cleanup';
import {
  CLUSTER_DNS_IP, CLUSTER_DOMAIN, cniConfig, containerdConfig, kubeletConfig, KUBELET_SYSCTLS, KUBERNETES_SERVICE_IP, kubeProxyConfig,
  NODE_ADDRESSES, NODE_IP, paths, SERVICE_CIDR, type NodeLayout,
} from './config';
import { serviceRecords } from './dns';

const run = promisify(execFile);

export { NODE_IP, POD_CIDR, SERVICE_CIDR, CLUSTER_DNS_IP } from './config';

const NODE_BINARIES = ['kubelet', 'kube-proxy', 'kube-scheduler'] as const;
const HOST_TOOLS = ['containerd', 'ctr', 'runc', 'ip', 'iptables', 'nsenter', 'unshare', 'mount'] as const;
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback'] as const;

function onPath(cmd: string): boolean {
  return (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => fs.existsSync(path.join(d, cmd)));
}

/**
 * Why this machine cannot run a real node, or undefined when it can. Names the command that fixes what
 * set-up can fix (scripts/setup-node.sh, make kube); anything else is a property of the machine.
 */
export function realNodeProblem(): string | undefined {
  if (process.platform !== 'linux') return `a real node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'a real node needs root (network namespaces, mounts, cgroups)';
  if (!fs.existsSync('/sys/fs/cgroup/memory') && !fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'no cgroup hierarchy at /sys/fs/cgroup';
  const missingTools = HOST_TOOLS.filter((t) => !onPath(t));
  if (missingTools.length > 0) return `missing ${missingTools.join(', ')}: run scripts/setup-node.sh`;
  const missingCni = CNI_PLUGINS.filter((p) => !fs.existsSync(`/usr/lib/cni/${p}`));
  if (missingCni.length > 0) return `missing CNI plugins ${missingCni.join(', ')} in /usr/lib/cni: run scripts/setup-node.sh`;
  const missingBins = NODE_BINARIES.filter((b) => !fs.existsSync(path.join(kubeBinDir(), b)));
  if (missingBins.length > 0) return `missing ${missingBins.join(', ')} in ${kubeBinDir()}: run \`make kube\``;
  return undefined;
}

/**
 * For a test's `skip`: runs the node's set-up (scripts/setup-node.sh, idempotent) when it can (root on Linux),
 * then says why there is no real node here, or false when there is one.
 */
export function realNodeSkipReason(): string | false {
  if (process.platform === 'linux' && process.getuid?.() === 0) {
    try {
      execFileSync('bash', [path.join(repoRoot(), 'scripts', 'setup-node.sh')], { stdio: 'ignore', timeout: 300_000 });
    } catch {
      /* realNodeProblem() says what is missing */
    }
  }
  const problem = realNodeProblem();
  return problem ? `no real node on this machine: ${problem}` : false;
}

/** Control plane options a real node needs: its Service range, the Service IP in the certificate, service accounts. */
export function realNodeControlPlaneOptions(extra: ControlPlaneOptions = {}): ControlPlaneOptions {
  return {
    ...extra,
    // The node lifecycle controller lifts the not-ready taint the kubelet registers the node with.
    controllers: [...(extra.controllers ?? DEFAULT_CONTROLLERS), 'node-lifecycle-controller'],
    serviceClusterIPRange: SERVICE_CIDR,
    servingSans: [`IP:${KUBERNETES_SERVICE_IP}`, `IP:${NODE_IP}`, ...(extra.servingSans ?? [])],
    serviceAccounts: true,
    // The `kubernetes` Service's endpoint: the node IP, where the agent forwards to host loopback.
    extraApiserverArgs: [`--advertise-address=${NODE_IP}`, ...(extra.extraApiserverArgs ?? [])],
  };
}

/** The image archives images/build.sh writes (herald, herald-envoy, herald-echo, pause). */
export function imageArchives(dir = path.join(repoRoot(), '.cache', 'images')): string[] {
  return ['pause', 'herald', 'herald-envoy', 'herald-echo'].map((n) => path.join(dir, `${n}.oci.tar`));
}

/** One line of a container's log (the CRI format containerd writes), timestamped by containerd. */
export interface LogLine {
  /** Milliseconds since the epoch, with the sub-millisecond part as a fraction. */
  timeMs: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RealNode {
  readonly id: string;
  readonly nodeName: string;
  readonly runDir: string;
  readonly netns: string;
  /** Milliseconds from startRealNode() to a Ready node with every image imported. */
  readonly startupMs: number;
  /** Milliseconds spent importing images. */
  readonly importMs: number;
  /** A TCP connection to host:port inside the node's namespace (through the agent). */
  connect(host: string, port: number): net.Socket;
  /** One HTTP/1.1 request to a URL inside the namespace (e.g. a pod IP); rejects on connection errors. */
  request(url: string, opts?: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string; timeoutMs?: number }): Promise<HttpResult>;
  /** Names of the pods of `namespace` whose log folders exist on the node now (the kubelet removes them soon after a pod is gone). */
  podsWithLogs(namespace: string): string[];
  /** Lines of one container's log (all its restarts), oldest first; [] when there is none yet. */
  containerLog(namespace: string, pod: string, container: string): LogLine[];
  /** Log file of a node component. */
  logFile(component: 'containerd' | 'kubelet' | 'kube-proxy' | 'kube-scheduler' | 'agent' | 'anchor'): string;
  /** Stops everything and undoes every change (see cleanup.ts). Idempotent. */
  stop(): Promise<void>;
}

export interface RealNodeOptions {
  /** OCI archives to import into containerd's k8s.io namespace (the pause image among them). */
  images: string[];
  nodeName?: string;
  /** Timeout of each start step (default 60 s). */
  startTimeoutMs?: number;
  /**
   * Ports of host loopback to make reachable inside the namespace at 127.0.0.1:<port> (the agent's exports,
   * as for the apiserver): e.g. a service on host loopback that processes entered into the namespace call.
   */
  exports?: number[];
  log?: (msg: string) => void;
}

/** Parses containerd's CRI log lines: `<RFC3339Nano> <stream> <P|F> <text>`. Partial lines are joined. */
export function parseCriLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  let partial = '';
  for (const line of text.split('\n')) {
    const m = /^(\S+) (stdout|stderr) ([PF]) ?(.*)$/.exec(line);
    if (!m) continue;
    if (m[3] === 'P') {
      partial += m[4];
      continue;
    }
    const ts = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(m[1]!);
    if (!ts) continue;
    const frac = ts[2] ? Number(`0.${ts[2]}`) * 1000 : 0;
    out.push({ timeMs: Date.parse(`${ts[1]}${ts[3]}`) + frac, stream: m[2] as 'stdout' | 'stderr', text: partial + m[4] });
    partial = '';
  }
  return out;
}

async function sh(cmd: string, args: string[], timeoutMs = 20_000): Promise<string> {
  try {
    return (await run(cmd, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Starts a real node on `cp`, which must have been started with realNodeControlPlaneOptions(). */
export async function startRealNode(cp: ControlPlane, opts: RealNodeOptions): Promise<RealNode> {
  const started = Date.now();
  const problem = realNodeProblem();
  if (problem) throw new Error(problem);
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  await sweepStaleRuns(log);

  const id = randomBytes(3).toString('hex');
  const root = runsRoot();
  const runDir = path.join(root, `hn-${id}`);
  const netns = `herald-node-${id}`;
  const nodeName = opts.nodeName ?? 'herald-node';
  const apiserverPort = Number(new URL(cp.server).port);
  const layout: NodeLayout = { runDir, nodeName, cgroupName: `herald-node-${id}`, apiserverPort };
  const p = paths(layout);
  fs.mkdirSync(runDir, { recursive: true });
  const rec: RunRecord = {
    id,
    ownerPid: process.pid,
    ownerStart: processStart(process.pid) ?? '',
    netns,
    cgroupName: layout.cgroupName,
    sysctls: readSysctls(),
    shimDirsExisted: Object.fromEntries([SHIM_SOCKET_DIR, path.dirname(SHIM_SOCKET_DIR)].map((d) => [d, fs.existsSync(d)])),
  };
  const writeRecord = () => fs.writeFileSync(path.join(runDir, 'run.json'), JSON.stringify(rec, null, 2));
  writeRecord();

  // The guard: cleans up when our end of its stdin closes, whatever the reason.
  const guardLog = fs.openSync(`${runDir}.guard.log`, 'a');
  const guard: ChildProcess = spawn(process.execPath, [path.join(__dirname, 'guard.js'), runDir], { detached: true, stdio: ['pipe', guardLog, guardLog] });
  fs.closeSync(guardLog);
  guard.unref();
  (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  guard.stdin?.on('error', () => undefined);
  rec.guardPid = guard.pid;
  writeRecord();

  const procs: ManagedProcess[] = [];
  const servers: net.Server[] = [];
  /** Both sides of every connection the host exports carry: stop() destroys what the node's end left half-closed. */
  const spliced = new Set<net.Socket>();
  let dnsTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (dnsTimer) clearInterval(dnsTimer);
    for (const s of servers) s.close();
    // The scheduler is the one process outside the namespace and the run folder's name.
    await Promise.all(procs.filter((x) => x.name === 'kube-scheduler').map((x) => x.stop(1_000)));
    guard.stdin?.end('stop\n');
    const gone = await waitFor('the real node guard to clean up', () => processStart(guard.pid!) === undefined, { timeoutMs: 60_000, intervalMs: 100 }).then(
      () => true,
      () => false,
    );
    if (!gone) await cleanupRun(runDir, log); // the guard is stuck: do it here
    for (const x of procs) await x.kill();
    for (const s of spliced) s.destroy();
    const report = fs.existsSync(`${runDir}.guard.log`) ? fs.readFileSync(`${runDir}.guard.log`, 'utf8').trim() : '';
    if (report) log(report);
    if (!/problems:/.test(report)) fs.rmSync(`${runDir}.guard.log`, { force: true });
    if (listDir(root).length === 0) fs.rmSync(root, { recursive: true, force: true });
  };

  const spawnIn = (name: string, mnt: number | undefined, command: string, args: string[]): ManagedProcess => {
    const proc = ManagedProcess.spawn({
      name,
      command: 'nsenter',
      args: [`--net=/run/netns/${netns}`, ...(mnt !== undefined ? [`--mount=/proc/${mnt}/ns/mnt`] : []), '--', command, ...args],
      logFile: path.join(runDir, `${name}.log`),
    });
    procs.push(proc);
    return proc;
  };
  const alive = (proc: ManagedProcess) => () => (proc.exit ? `${proc.name} exited (${JSON.stringify(proc.exit)}); see ${proc.logFile}` : undefined);

  try {
    // Network namespace: loopback, the node IP on a veth link whose peer (also inside, unaddressed, in
    // no bridge) swallows whatever is routed to it, and the default route into that link. (A veth
    // pair, not a dummy link: this kernel has no dummy driver.)
    // On the host, the node's addresses are a blackhole: a bug that dials a pod IP from here (not
    // through the agent) fails at once instead of leaving through the host's default route.
    if (!(await sh('ip', ['route', 'show', 'type', 'blackhole', NODE_ADDRESSES])).trim()) {
      rec.hostBlackhole = NODE_ADDRESSES;
      writeRecord();
      await sh('ip', ['route', 'add', 'blackhole', NODE_ADDRESSES]);
    }
    await sh('ip', ['netns', 'add', netns]);
    for (const args of [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', 'node0', 'type', 'veth', 'peer', 'name', 'node0-sink'],
      ['link', 'set', 'node0-sink', 'up'],
      ['addr', 'add', `${NODE_IP}/32`, 'dev', 'node0'],
      ['link', 'set', 'node0', 'up'],
      ['route', 'add', 'default', 'dev', 'node0'],
    ]) await sh('ip', ['-n', netns, ...args]);

    // The kubelet's cgroupRoot must exist in every v1 hierarchy (cpuset needs its cpus and mems).
    for (const h of listDir('/sys/fs/cgroup')) {
      const hdir = path.join('/sys/fs/cgroup', h);
      if (h === 'unified' || !fs.existsSync(path.join(hdir, 'cgroup.procs'))) continue;
      const cg = path.join(hdir, layout.cgroupName);
      fs.mkdirSync(cg, { recursive: true });
      if (h === 'cpuset') for (const f of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(path.join(cg, f), fs.readFileSync(path.join(hdir, f), 'utf8').trim());
    }

    // Files.
    for (const d of [p.cniConfDir, p.cniDataDir, p.kubeletRoot, p.podLogs, p.sysctlMasks, p.runcRoot]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(p.containerdConfig, containerdConfig(layout));
    fs.writeFileSync(path.join(p.cniConfDir, '10-herald-node.conflist'), cniConfig(layout));
    fs.writeFileSync(p.kubeletConfig, kubeletConfig(layout));
    fs.writeFileSync(p.kubeProxyConfig, kubeProxyConfig(layout));
    // Pods resolve only cluster names (the kubelet adds the cluster DNS server and search domains).
    fs.writeFileSync(p.resolvConf, '');
    fs.writeFileSync(p.dnsRecords, '{}');
    writeKubeconfig(p.nodeKubeconfig, { name: 'herald-node', server: `https://127.0.0.1:${apiserverPort}`, caPem: cp.caPem, token: cp.token });

    // Host side of the apiserver export, then the agent inside.
    const exportsOut = [
      { host: '0.0.0.0', port: apiserverPort, socket: p.apiserverOut },
      ...(opts.exports ?? []).map((port) => ({ host: '127.0.0.1', port, socket: path.join(runDir, `export-${port}.sock`) })),
    ];
    for (const e of exportsOut) {
      const out = net.createServer((conn) => {
        const to = net.connect(e.port, '127.0.0.1');
        for (const s of [conn, to]) {
          spliced.add(s);
          s.once('close', () => spliced.delete(s));
        }
        splice(conn, to);
      });
      servers.push(out);
      await new Promise<void>((resolve, reject) => out.once('error', reject).listen(e.socket, resolve));
    }
    const agentCfg: AgentConfig = {
      exports: exportsOut,
      inSocket: p.agentIn,
      dns: { host: CLUSTER_DNS_IP, port: 53, recordsFile: p.dnsRecords },
    };
    fs.writeFileSync(p.agentConfig, JSON.stringify(agentCfg, null, 2));
    const agent = spawnIn('agent', undefined, process.execPath, [path.join(__dirname, 'agent.js'), p.agentConfig]);
    await waitFor('the node agent', () => fs.existsSync(p.agentIn) && /dns on/.test(fs.readFileSync(agent.logFile, 'utf8')), {
      timeoutMs,
      abortIf: alive(agent),
    });

    // The mount namespace of the node's components, with the kubelet's kernel sysctls masked.
    const anchorScript = ['set -e'];
    for (const [s, v] of Object.entries(KUBELET_SYSCTLS)) {
      if (!fs.existsSync(`/proc/sys/${s}`)) continue;
      const f = path.join(p.sysctlMasks, s.replace(/\//g, '.'));
      fs.writeFileSync(f, `${v}\n`);
      anchorScript.push(`mount --bind ${f} /proc/sys/${s}`);
    }
    anchorScript.push('echo masked', 'exec sleep 2147483647');
    fs.writeFileSync(path.join(runDir, 'anchor.sh'), anchorScript.join('\n') + '\n');
    const anchor = spawnIn('anchor', undefined, 'unshare', ['--mount', '--propagation', 'slave', 'sh', path.join(runDir, 'anchor.sh')]);
    const anchorPid = await waitFor(
      'the node mount namespace',
      () => {
        if (!/masked/.test(fs.readFileSync(anchor.logFile, 'utf8'))) return undefined;
        for (const d of listDir('/proc')) {
          const stat = (() => { try { return fs.readFileSync(`/proc/${d}/stat`, 'utf8'); } catch { return ''; } })();
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          if (Number(f[2]) === anchor.pgid && stat.includes('(sleep)')) return Number(d);
        }
        return undefined;
      },
      { timeoutMs, abortIf: alive(anchor) },
    );

    const containerd = spawnIn('containerd', anchorPid, 'containerd', ['--config', p.containerdConfig]);
    const ctr = (args: string[], t = 60_000) => sh('ctr', ['--address', p.containerdSocket, '-n', 'k8s.io', ...args], t);
    await waitFor('containerd', async () => (await ctr(['version'], 5_000)).includes('Server'), { timeoutMs, intervalMs: 200, abortIf: alive(containerd) });
    const importStart = Date.now();
    await Promise.all(opts.images.map((img) => ctr(['images', 'import', img], 180_000).catch((err) => {
      throw new Error(`importing ${img}: ${(err as Error).message}`);
    })));
    const importMs = Date.now() - importStart;
    log(`imported ${opts.images.length} images in ${importMs} ms`);

    const bin = (b: string) => path.join(kubeBinDir(), b);
    const kubelet = spawnIn('kubelet', anchorPid, bin('kubelet'), [
      `--config=${p.kubeletConfig}`, `--kubeconfig=${p.nodeKubeconfig}`, `--root-dir=${p.kubeletRoot}`,
      `--node-ip=${NODE_IP}`, `--hostname-override=${nodeName}`, `--cert-dir=${path.join(p.kubeletRoot, 'pki')}`,
    ]);
    const proxy = spawnIn('kube-proxy', anchorPid, bin('kube-proxy'), [`--config=${p.kubeProxyConfig}`]);
    const scheduler = ManagedProcess.spawn({
      name: 'kube-scheduler',
      command: bin('kube-scheduler'),
      args: [`--kubeconfig=${cp.kubeconfigPath}`, '--leader-elect=false', '--bind-address=127.0.0.1', '--secure-port=0'],
      logFile: path.join(runDir, 'kube-scheduler.log'),
    });
    procs.push(scheduler);

    // Cluster DNS records from the Services (this process owns the file; the agent only reads it).
    let lastRecords = '{}';
    const refreshDns = async () => {
      try {
        const list = await cp.client.request<{ items: Parameters<typeof serviceRecords>[0] }>('GET', '/api/v1/services', { timeoutMs: 5_000 });
        const text = JSON.stringify(serviceRecords(list.items, CLUSTER_DOMAIN));
        if (text === lastRecords) return;
        fs.writeFileSync(`${p.dnsRecords}.tmp`, text);
        fs.renameSync(`${p.dnsRecords}.tmp`, p.dnsRecords);
        lastRecords = text;
      } catch {
        /* the next tick tries again */
      }
    };
    await refreshDns();
    dnsTimer = setInterval(() => void refreshDns(), 250);
    dnsTimer.unref();

    await waitFor(
      `node ${nodeName} Ready`,
      async () => {
        const node = await cp.client.request<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/api/v1/nodes/${nodeName}`, { timeoutMs: 5_000 });
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      { timeoutMs, intervalMs: 250, abortIf: () => alive(kubelet)() ?? alive(proxy)() ?? alive(containerd)() ?? alive(scheduler)() },
    );
    const startupMs = Date.now() - started;
    log(`node ${nodeName} Ready in ${startupMs} ms (run ${id}, namespace ${netns})`);

    const connect = (host: string, port: number): net.Socket => {
      const s = net.connect({ path: p.agentIn });
      s.write(`${host}:${port}\n`);
      return s;
    };
    const node: RealNode = {
      id,
      nodeName,
      runDir,
      netns,
      startupMs,
      importMs,
      connect,
      request(url, o = {}) {
        const u = new URL(url);
        return new Promise<HttpResult>((resolve, reject) => {
          const req = http.request(
            {
              method: o.method ?? 'GET',
              host: u.hostname,
              port: Number(u.port || 80),
              path: u.pathname + u.search,
              headers: { ...(o.headers ?? {}), ...(o.body !== undefined ? { 'content-length': Buffer.byteLength(o.body) } : {}) },
              // No `agent`: with one (even agent: false) Node dials TCP itself from this namespace and
              // ignores createConnection; without one, every byte goes through the agent's way in.
              createConnection: () => connect(u.hostname, Number(u.port || 80)),
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
              res.on('error', reject);
            },
          );
          req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error(`${url}: timed out`)));
          req.on('error', reject);
          req.end(o.body);
        });
      },
      podsWithLogs: (namespace) =>
        listDir(p.podLogs)
          .filter((d) => d.startsWith(`${namespace}_`))
          .map((d) => d.slice(namespace.length + 1, d.lastIndexOf('_'))),
      containerLog(namespace, pod, container) {
        const dir = listDir(p.podLogs).find((d) => d.startsWith(`${namespace}_${pod}_`));
        if (!dir) return [];
        const cdir = path.join(p.podLogs, dir, container);
        const files = listDir(cdir).filter((f) => /^\d+\.log$/.test(f)).sort((a, b) => Number(a.split('.')[0]) - Number(b.split('.')[0]));
        return files.flatMap((f) => parseCriLog(fs.readFileSync(path.join(cdir, f), 'utf8')));
      },
      logFile: (c) => path.join(runDir, `${c}.log`),
      stop,
    };
    return node;
  } catch (err) {
    const logs = ['kubelet', 'containerd', 'kube-proxy', 'agent', 'anchor']
      .map((c) => path.join(runDir, `${c}.log`))
      .filter((f) => fs.existsSync(f))
      .map((f) => `--- ${path.basename(f)} (last lines)\n${fs.readFileSync(f, 'utf8').split('\n').slice(-15).join('\n')}`)
      .join('\n');
    await stop();
    throw new Error(`real node: ${(err as Error).message}\n${logs}`, { cause: err });
  }
}
