/**
 * Runs one scenario in one mode: starts the environment, deploys the app (and VMs), waits until every client
 * Envoy routes to all of it, starts the load, runs the steps, lets the mesh settle, and measures. Always tears
 * everything down.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from '../kube/wait';
import { realNodeProblem } from '../node';
import { appManifest } from './app';
import { renderChart } from './chart';
import { ConvergenceTracker, satisfied } from './convergence';
import { LAB_TOPOLOGY, LabEnvironment, type LabMode, type LabNode, type LabRegistry, type LabTopology } from './environment';
import { FailoverMonitor, type StreamsSample } from './failover';
import { LoadGenerator } from './load';
import type { Scenario, Step } from './scenario';

export interface LabResult {
  readonly scenario: string;
  readonly mode: LabMode;
  /** Herald replicas the run had. */
  readonly replicas: number;
  /** Where the pods ran: the lab kubelet (backend processes) or a real node (containerd, kubelet, the backend image). */
  readonly node: LabNode;
  /** The registry's storage: sqlite (read over HTTP) or kubernetes (RegistryHosts, watched). */
  readonly registry: LabRegistry;
  readonly requests: number;
  readonly non_2xx: number;
  readonly by_status: Record<string, number>;
  readonly convergence_ms: { readonly p50: number; readonly p99: number; readonly max: number; readonly events: number; readonly unconverged: number };
  readonly undead_hosts: number;
  /** VM hosts that some client Envoy lacked, sampled every 250 ms from the load's start, while still registered. */
  readonly vm_hosts_lost: number;
  readonly panic_events: number;
  readonly duration_s: number;
  readonly chart: string;
  /**
   * After each Herald kill, per proxy that streamed from the killed replica: kill → its new stream on a live
   * replica (with one replica, the restarted one). `unreconnected`: still without a stream at the end.
   */
  readonly reconnect_ms: { readonly p50: number; readonly p99: number; readonly max: number; readonly samples: readonly number[]; readonly unreconnected: number };
  /** Each restart of a killed replica: spawn → /readyz 200 (every source synced). */
  readonly restart_ms: readonly number[];
  /** Streams of the client Envoys per replica, a sample whenever the counts change (s: since the load started). */
  readonly streams_per_replica: readonly StreamsSample[];
}

const SERVICE = 'web';
const SETTLE_MS = 30_000;

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Steps only the lab kubelet's environment can run (VM hosts on host loopback, the registry's faults, the apiserver stopped). */
const LAB_NODE_ONLY_STEPS = ['registryFault', 'stopRegistry', 'startRegistry', 'stopApiserver', 'startApiserver', 'migrateVms'] as const;

/**
 * Why `scenario` cannot run on the real node, or undefined when it can. The real node runs the Deployment, Herald
 * and the client Envoys; VM hosts (lab backends on host loopback, which Envoys in the node's namespace cannot
 * reach), the registry's faults and an apiserver outage are left to the lab kubelet's runs.
 */
export function realNodeRefusal(scenario: Scenario): string | undefined {
  const problems: string[] = [];
  if (scenario.vms > 0) problems.push(`vms: ${scenario.vms} (VM hosts run on host loopback, outside the node's namespace)`);
  const steps = new Set(scenario.steps.flatMap((s) => Object.keys(s)).filter((k) => (LAB_NODE_ONLY_STEPS as readonly string[]).includes(k)));
  if (steps.size > 0) problems.push(`step${steps.size === 1 ? '' : 's'} ${[...steps].join(', ')} (lab kubelet only)`);
  return problems.length ? `scenario ${scenario.name} cannot run with --node real: ${problems.join('; ')}` : undefined;
}

export async function runScenario(
  scenario: Scenario,
  mode: LabMode,
  o: { outDir: string; log: (m: string) => void; topology?: LabTopology; registry?: LabRegistry; node?: LabNode },
): Promise<LabResult> {
  const topology = o.topology ?? LAB_TOPOLOGY;
  const node = o.node ?? 'lab';
  if (node === 'real') {
    const refusal = realNodeRefusal(scenario);
    if (refusal) throw new Error(refusal);
    const problem = realNodeProblem();
    if (problem) throw new Error(`--node real: this machine cannot run a real node: ${problem}`);
  }
  const env = new LabEnvironment(SERVICE, mode, o.log, topology, { registry: o.registry ?? 'sqlite', node });
  const events: Array<{ s: number; label: string }> = [];
  let tracker: ConvergenceTracker | undefined;
  let load: LoadGenerator | undefined;
  let monitor: FailoverMonitor | undefined;
  let vmWatch: ReturnType<typeof watchRegisteredVms> | undefined;
  const started = Date.now();
  try {
    await env.start(scenario.clients.envoys);
    let replicas = scenario.app.replicas;
    const apply = (n: number) => env.cp.kubectl(['apply', '-f', '-'], appManifest(SERVICE, scenario.app, n, node));
    const applied = await apply(replicas);
    if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
    if (scenario.vms > 0) await env.startVms(scenario.vms);
    await waitDeployment(env, replicas);
    const expected = async () => new Set([...(await podIps(env)), ...env.vms.filter((v) => v.registered).map((v) => v.ip)].map((ip) => `${ip}:8080`));
    await waitFor(
      'every client Envoy to route to every pod and VM',
      async () => {
        const want = await expected();
        const views = await Promise.all(env.envoys.map((e) => e.hosts()));
        return views.every((v) => v.size === want.size && [...want].every((k) => satisfied('start', v.get(k)) && !v.get(k)!.failedHc));
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    // Envoy applies health changes to its load balancer up to update_merge_window later than /clusters shows
    // them; let that pass, and count panics from here on only.
    await sleep(1500);
    const panicsBefore = await Promise.all(env.envoys.map((e) => e.panics()));
    tracker = new ConvergenceTracker(env.cp.client, { namespace: 'default', app: SERVICE, port: 8080, envoys: env.envoys, startedAt: started });
    await tracker.start();
    load = new LoadGenerator(env.envoys.map((e) => ({ egressPort: e.egressPort, host: SERVICE })), scenario.clients.rps);
    const mark = (label: string) => {
      events.push({ s: (Date.now() - load!.startedAt) / 1000, label });
      o.log(`${label}`);
    };
    monitor = new FailoverMonitor(env.heralds, new Set(env.envoys.map((e) => e.nodeId)), load.startedAt);
    monitor.start();
    vmWatch = watchRegisteredVms(env);
    await sleep(2000);
    for (const step of scenario.steps) replicas = await runStep(step, { env, tracker, monitor, mark, replicas, apply, scenario });
    mark('settle');
    // Every terminating pod gone too: a pod that the kubelet removes after the steps (e.g. once the apiserver is
    // back) is an event of this run, and its host is undead only if Envoy still has it once that event settled.
    await waitFor('the mesh to converge', async () => tracker!.outstanding().length === 0 && tracker!.terminatingCount() === 0 && monitor!.outstanding().length === 0, { timeoutMs: SETTLE_MS, intervalMs: 100 }).catch(() => undefined);
    await sleep(1000);
    const vmHostsLost = await vmWatch.stop();
    for (const [k, at] of vmHostsLost) o.log(`registered VM host ${k} was missing from a client Envoy (first at ${new Date(at).toISOString().slice(11, 23)}, after "${events.filter((e) => e.s * 1000 + load!.startedAt <= at).at(-1)?.label ?? 'the start'}")`);
    await load.stop();
    await monitor.stop();
    for (const u of monitor.outstanding()) o.log(`not reconnected after ${u.ageMs} ms: ${u.node} (from Herald ${u.from})`);
    const reconnects = monitor.reconnects.map((r) => r.ms);
    const unconverged = tracker.outstanding();
    for (const u of unconverged) o.log(`not converged after ${u.ageMs} ms: ${u.what} (${u.kind} ${u.key})`);
    if (unconverged.length > 0) {
      for (const e of env.envoys) {
        const answer = await e.hosts().then((h) => `${h.size} hosts`, (err: Error) => `admin: ${err.message}${(err.cause as Error | undefined)?.message ? ` (${(err.cause as Error).message})` : ''}`);
        const state = await Promise.race([e.envoy.exited.then((code) => `exited with ${code}`), sleep(0).then(() => 'running')]);
        o.log(`client Envoy ${e.index} (${state}, ${answer}); its last lines:\n${e.envoy.logTail(15)}`);
      }
    }
    const conv = [...tracker.converged.map((c) => c.ms), ...unconverged.map((u) => u.ageMs)];

    const alive = new Set([...tracker.podIps(), ...env.vms.filter((v) => v.registered || !v.proc.exit).map((v) => v.ip)].map((ip) => `${ip}:8080`));
    const undead = new Set<string>();
    const finalViews = await Promise.all(
      env.envoys.map((e) =>
        e.hosts().catch((err: Error) => {
          throw new Error(`client Envoy ${e.index}'s admin API did not answer at the end: ${err.message}; its last lines:\n${e.envoy.logTail(15)}`);
        }),
      ),
    );
    for (const view of finalViews) for (const k of view.keys()) if (!alive.has(k)) undead.add(k);
    const panics = (await Promise.all(env.envoys.map((e) => e.panics()))).reduce((a, b, i) => a + b - panicsBefore[i]!, 0);
    if (process.env.HERALD_LAB_DEBUG) {
      for (const e of env.envoys) o.log(`envoy ${e.index} stats:\n${(await e.envoy.admin(`/stats?filter=^cluster\\.${SERVICE}\\.(lb_healthy_panic|health_check|membership|update_|upstream_rq_total)|cluster_manager\\.cluster_(added|modified|updated)`)).body}`);
    }

    const byStatus: Record<string, number> = {};
    for (const r of load.records) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const non2xx = load.records.filter((r) => !/^2\d\d$/.test(r.status)).length;
    // Whole seconds only: the last, partial second would look like a drop in traffic.
    const seconds = Math.max(1, Math.floor(Math.max(0, ...load.records.map((r) => r.t)) / 1000));
    const ok = new Array<number>(seconds).fill(0);
    const failed = new Array<number>(seconds).fill(0);
    for (const r of load.records) if (r.t < seconds * 1000) (/^2\d\d$/.test(r.status) ? ok : failed)[Math.floor(r.t / 1000)]!++;
    fs.mkdirSync(o.outDir, { recursive: true });
    // The default topology, registry and node keep the plain name; another replica count, registry or node is named in the file.
    const chart = path.join(
      o.outDir,
      `${scenario.name}-${mode}${topology.replicas === LAB_TOPOLOGY.replicas ? '' : `-${topology.replicas}-replica${topology.replicas === 1 ? '' : 's'}`}${env.registryBackend === 'sqlite' ? '' : `-registry-${env.registryBackend}`}${node === 'lab' ? '' : '-real-node'}.svg`,
    );
    const offset = (load.startedAt - started) / 1000;
    fs.writeFileSync(
      chart,
      renderChart({
        title: `${scenario.name} (${mode}, ${topology.replicas} Herald replica${topology.replicas === 1 ? '' : 's'}${env.registryBackend === 'sqlite' ? '' : `, registry ${env.registryBackend}`}${node === 'lab' ? '' : ', real node'}): ${load.records.length} requests, ${non2xx} failed`,
        okPerSecond: ok,
        failedPerSecond: failed,
        readyPods: tracker.readyPods.map((p) => ({ s: Math.max(0, p.t / 1000 - offset), n: p.n })),
        events,
        ...(topology.replicas > 1 || monitor.timeline.length > 1 ? { replicaStreams: monitor.timeline } : {}),
      }),
    );
    return {
      scenario: scenario.name,
      mode,
      registry: env.registryBackend,
      requests: load.records.length,
      non_2xx: non2xx,
      by_status: byStatus,
      convergence_ms: { p50: percentile(conv, 50), p99: percentile(conv, 99), max: conv.length ? Math.max(...conv) : 0, events: conv.length, unconverged: unconverged.length },
      undead_hosts: undead.size,
      vm_hosts_lost: vmHostsLost.size,
      panic_events: panics,
      duration_s: Math.round((Date.now() - started) / 100) / 10,
      chart,
      replicas: topology.replicas,
      node,
      reconnect_ms: { p50: percentile(reconnects, 50), p99: percentile(reconnects, 99), max: reconnects.length ? Math.max(...reconnects) : 0, samples: reconnects, unreconnected: monitor.outstanding().length },
      restart_ms: env.heralds.starts.filter((s) => s.restart).map((s) => s.ms),
      streams_per_replica: monitor.timeline,
    };
  } finally {
    await vmWatch?.stop().catch(() => undefined);
    await load?.stop().catch(() => undefined);
    await tracker?.stop().catch(() => undefined);
    await monitor?.stop().catch(() => undefined);
    if (process.env.HERALD_LAB_KEEP !== '1') await env.stop();
    else o.log(`kept: ${env.dir}`);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Samples every client Envoy every 250 ms until stop(): the VM hosts (ip:8080) that were registered both before
 * and after a sample and yet missing from some Envoy's view in it (a host lost while alive, e.g. in an outage).
 */
function watchRegisteredVms(env: LabEnvironment): { stop(): Promise<Map<string, number>> } {
  /** Each lost host and when it was first seen missing. */
  const lost = new Map<string, number>();
  let running = true;
  const registered = () => new Set(env.vms.filter((v) => v.registered).map((v) => `${v.ip}:8080`));
  const loop = (async () => {
    while (running) {
      const before = registered();
      const views = await Promise.all(env.envoys.map((e) => e.hosts().catch(() => undefined)));
      const after = registered();
      for (const view of views) if (view) for (const k of before) if (after.has(k) && !view.has(k) && !lost.has(k)) lost.set(k, Date.now());
      await sleep(250);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return lost;
    },
  };
}

async function podIps(env: LabEnvironment): Promise<string[]> {
  const list = await env.cp.client.get<any>(`/api/v1/namespaces/default/pods`, { labelSelector: `app=${SERVICE}` });
  return list.items.filter((p: any) => !p.metadata.deletionTimestamp && p.status?.podIP && (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')).map((p: any) => p.status.podIP);
}

/** Waits until the Deployment has exactly `replicas` pods, all updated and ready, and nothing terminating. */
async function waitDeployment(env: LabEnvironment, replicas: number, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    `deployment ${SERVICE} at ${replicas} ready, updated pods`,
    async () => {
      const d = await env.cp.client.get<any>(`/apis/apps/v1/namespaces/default/deployments/${SERVICE}`);
      const pods = await env.cp.client.get<any>(`/api/v1/namespaces/default/pods`, { labelSelector: `app=${SERVICE}` });
      const s = d.status ?? {};
      return (
        (s.observedGeneration ?? 0) >= d.metadata.generation &&
        (s.updatedReplicas ?? 0) === replicas &&
        (s.readyReplicas ?? 0) === replicas &&
        (s.replicas ?? 0) === replicas &&
        pods.items.length === replicas
      );
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/** Changes the pod template, which rolls every pod. */
async function rollout(env: LabEnvironment): Promise<void> {
  const patch = { spec: { template: { metadata: { annotations: { 'lab.herald.io/rollout': `${Date.now()}` } } } } };
  await env.cp.client.mergePatch(`/apis/apps/v1/namespaces/default/deployments/${SERVICE}`, patch);
}

interface StepContext {
  readonly env: LabEnvironment;
  readonly tracker: ConvergenceTracker;
  readonly monitor: FailoverMonitor;
  readonly mark: (label: string) => void;
  readonly replicas: number;
  readonly apply: (n: number) => Promise<{ code: number; stderr: string }>;
  readonly scenario: Scenario;
}

/** Runs one step; returns the Deployment's replica count after it. */
async function runStep(step: Step, c: StepContext): Promise<number> {
  const { env } = c;
  if ('scale' in step) {
    c.mark(`scale ${c.replicas}→${step.scale}`);
    await env.cp.kubectl(['scale', `deployment/${SERVICE}`, `--replicas=${step.scale}`]);
    await waitDeployment(env, step.scale);
    return step.scale;
  }
  if ('scaleAsync' in step) {
    c.mark(`scale ${c.replicas}→${step.scaleAsync}`);
    await env.cp.kubectl(['scale', `deployment/${SERVICE}`, `--replicas=${step.scaleAsync}`]);
    return step.scaleAsync;
  }
  if ('rolloutAsync' in step) {
    c.mark('rollout');
    await rollout(env);
    return c.replicas;
  }
  if ('waitReady' in step) {
    await waitDeployment(env, c.replicas);
    c.mark('deployment complete');
    return c.replicas;
  }
  if ('rollout' in step) {
    for (let i = 1; i <= step.rollout; i++) {
      c.mark(`rollout ${i}`);
      await rollout(env);
      await waitDeployment(env, c.replicas);
    }
    return c.replicas;
  }
  if ('sleep' in step) {
    await sleep(step.sleep * 1000);
    return c.replicas;
  }
  if ('killHerald' in step) {
    const k = await env.killHerald();
    if (!k) throw new Error('killHerald: no Herald replica is running');
    c.monitor.killed(k.replica.name, k.nodes, k.at);
    c.mark(`Herald ${k.replica.name} SIGKILL (${k.nodes.length} streams)`);
    return c.replicas;
  }
  if ('startHerald' in step) {
    c.mark('Herald start');
    for (const s of await env.startHerald()) c.mark(`Herald ${s.replica} serving (${s.ms} ms)`);
    return c.replicas;
  }
  if ('registryFault' in step) {
    c.mark(`registry: ${step.registryFault}`);
    env.faulty.set(step.registryFault);
    return c.replicas;
  }
  if ('stopRegistry' in step) {
    c.mark('registry server SIGKILL');
    await env.stopRegistry();
    return c.replicas;
  }
  if ('startRegistry' in step) {
    c.mark('registry server start');
    await env.startRegistry();
    return c.replicas;
  }
  if ('stopApiserver' in step) {
    c.mark('apiserver stop');
    await env.cp.stopApiserver();
    return c.replicas;
  }
  if ('startApiserver' in step) {
    c.mark('apiserver start');
    await env.cp.startApiserver();
    return c.replicas;
  }
  // migrateVms: host by host, a pod joins and a VM leaves (deregistered first, stopped once the mesh let go).
  let replicas = c.replicas;
  for (const vm of env.vms.filter((v) => v.registered)) {
    replicas++;
    c.mark(`pod ${replicas} in, ${vm.ip} out`);
    await env.cp.kubectl(['scale', `deployment/${SERVICE}`, `--replicas=${replicas}`]);
    await waitDeployment(env, replicas);
    await env.deregisterVm(vm);
    c.tracker.expect(`${vm.ip}:8080`, 'gone', `${vm.ip} deregistered`);
    await waitFor(`${vm.ip} to leave every Envoy`, async () => !c.tracker.outstanding().some((u) => u.key === `${vm.ip}:8080`), { timeoutMs: 20_000, intervalMs: 50 }).catch(() => undefined);
    vm.proc.signal('SIGTERM');
  }
  return replicas;
}
