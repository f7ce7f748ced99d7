/**
 * `herald lab restart-bench [--pods N] [--services S] [--restarts R]`: how long a restarted Herald replica takes
 * to serve again when the cluster holds N pods. Against the real kube-apiserver and etcd: the lab's writer
 * creates N ready pods (bound to one node, with an IP and a Ready condition written through the status
 * subresource; nothing runs them), spread over S services; then Herald is started R+1 times, each time SIGKILLed
 * once it serves, and each start is timed from spawn to /readyz 200 (every source listed and synced, the cache
 * built). The pod IPs are loopback addresses (127.1.x.x) that nothing listens on; no traffic is sent.
 *
 * Prints a table and, as the last line, one JSON object. A benchmark: it prints figures, it asserts nothing
 * beyond "every pod became an endpoint".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../kube';
import { freePorts } from '../kube/ports';
import { HeraldReplicas } from './heralds';

export interface RestartBenchResult {
  readonly pods: number;
  readonly services: number;
  /** Writing the pods: creates, then status patches, per second. */
  readonly create_per_s: number;
  readonly status_per_s: number;
  /** Spawn → /readyz 200 of each start; the first is a cold start, the rest restarts after SIGKILL. */
  readonly start_ms: readonly number[];
  readonly restart_ms: { readonly p50: number; readonly max: number };
  /**
   * Of each start, from Herald's own log: `boot` spawn → "herald started" (Node, modules, config, ports bound);
   * `sync` "herald started" → "every source synced; serving" (list of nodes and pods, the model and the cache).
   */
  readonly phases_ms: ReadonlyArray<{ readonly boot: number; readonly sync: number }>;
  readonly endpoints_served: number;
}

/** Runs `fn` over 0..n-1 with at most `concurrency` in flight. */
async function pool(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const podName = (i: number) => `bench-${i}`;
const podIp = (i: number) => `127.1.${i >> 8}.${i & 255}`;

async function writePods(cp: ControlPlane, pods: number, services: number, log: (m: string) => void): Promise<{ createPerS: number; statusPerS: number }> {
  await cp.client.post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bench-node', labels: { 'topology.kubernetes.io/zone': 'bench-zone' } } });
  let t0 = Date.now();
  await pool(pods, 64, (i) =>
    cp.client.post('/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: podName(i), labels: { app: `svc-${i % services}` } },
      spec: { nodeName: 'bench-node', containers: [{ name: 'app', image: 'bench', ports: [{ name: 'http', containerPort: 8080 }] }] },
    }),
  );
  const createPerS = Math.round((pods * 1000) / (Date.now() - t0));
  log(`${pods} pods created (${createPerS}/s)`);
  t0 = Date.now();
  const now = new Date().toISOString();
  await pool(pods, 64, (i) =>
    cp.client.mergePatch(`/api/v1/namespaces/default/pods/${podName(i)}/status`, {
      status: {
        phase: 'Running',
        podIP: podIp(i),
        podIPs: [{ ip: podIp(i) }],
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      },
    }),
  );
  const statusPerS = Math.round((pods * 1000) / (Date.now() - t0));
  log(`${pods} pods Running and Ready (${statusPerS}/s)`);
  return { createPerS, statusPerS };
}

/** Boot and sync times of one start from the log lines it wrote (JSON lines with `t` and `msg`). */
function phasesOf(log: string, spawned: number): { boot: number; sync: number } {
  const at = (msg: string) => {
    for (const line of log.split('\n')) {
      if (!line.includes(msg)) continue;
      try {
        return Date.parse((JSON.parse(line) as { t: string }).t);
      } catch {
        /* not a log line */
      }
    }
    return NaN;
  };
  const started = at('"herald started"');
  const synced = at('"every source synced');
  return { boot: started - spawned, sync: synced - started };
}

export async function restartBench(o: { pods: number; services: number; restarts: number; log: (m: string) => void }): Promise<RestartBenchResult> {
  if (o.pods > 65_000) throw new Error('--pods: at most 65000 (pod IPs are 127.1.x.y)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-restart-bench-'));
  const cp = await startControlPlane({ controllers: [] });
  let heralds: HeraldReplicas | undefined;
  try {
    o.log(`control plane ready in ${cp.startupMs} ms`);
    const { createPerS, statusPerS } = await writePods(cp, o.pods, o.services, o.log);
    const [xds, admin] = await freePorts(2);
    heralds = new HeraldReplicas(dir, [[xds!, admin!]], (xdsPort, adminPort) => ({
      xds: { address: '127.0.0.1', port: xdsPort },
      admin: { address: '127.0.0.1', port: adminPort },
      sources: [{ kind: 'kubernetes', name: 'k8s', kubeconfig: cp.kubeconfigPath, namespaces: ['default'], serviceLabel: 'app', portName: 'http', discovery: 'pods' }],
    }));
    const r = heralds.replicas[0]!;
    let endpoints = 0;
    const phases: Array<{ boot: number; sync: number }> = [];
    const logFile = path.join(dir, `herald-${r.name}.log`);
    for (let i = 0; i <= o.restarts; i++) {
      const spawned = Date.now();
      const logOffset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
      const ms = await heralds.start(r, 300_000);
      phases.push(phasesOf(fs.readFileSync(logFile, 'utf8').slice(logOffset), spawned));
      const services = ((await (await fetch(`http://127.0.0.1:${r.adminPort}/services`)).json()) as any).services as any[];
      endpoints = services.reduce((n, s) => n + (s.endpoints?.length ?? 0), 0);
      o.log(`Herald ${i === 0 ? 'started' : 'restarted'}: serving after ${ms} ms (boot ${phases.at(-1)!.boot} ms, list+sync ${phases.at(-1)!.sync} ms), ${services.length} services, ${endpoints} endpoints`);
      await heralds.kill(r);
    }
    const starts = heralds.starts.map((s) => s.ms);
    const restarts = starts.slice(1).sort((a, b) => a - b);
    return {
      pods: o.pods,
      services: o.services,
      create_per_s: createPerS,
      status_per_s: statusPerS,
      start_ms: starts,
      restart_ms: { p50: restarts[Math.ceil(restarts.length / 2) - 1] ?? 0, max: restarts.at(-1) ?? 0 },
      endpoints_served: endpoints,
      phases_ms: phases,
    };
  } finally {
    await heralds?.stop();
    await cp.stop();
    if (process.env.HERALD_LAB_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
  }
}
