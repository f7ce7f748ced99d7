/**
 * End to end from a Kubernetes pod event: the real `herald serve` process on a real kube-apiserver (etcd and the
 * apiserver from tools/kube, no controller manager and no kubelet, so nothing but this benchmark writes pods), P
 * proxies from the Go load client (tools/loadclient) subscribed to CDS and to EDS for `svc-0.default`. Each round
 * is one pod event the benchmark writes the way a kubelet or a `kubectl delete` would:
 *   - `ready`: a pod created beforehand (never Ready, so not an endpoint) gets its Ready condition (E-1 → E);
 *   - `delete`: that pod is deleted with grace 0 (E → E-1).
 * t0 is CLOCK_MONOTONIC just before the write is sent; the figure is t0 → each proxy's ACK of the response with
 * the new endpoint count. Herald runs with its default batching (delayMs 100: new endpoints coalesce, removals go
 * out at once) and with batching off (delayMs 0), and the same P × E is run from the publisher hand-over in a
 * forked Herald core (servers.ts, as peers.ts does) as the baseline, so the table shows what the watch, the
 * informer and the batcher add. Herald's CPU per change is the sum of its threads' schedstat run time. A delete
 * is two pushes (the apiserver marks the pod for deletion, then removes it: DRAINING, then the removal), hence
 * its doubled CPU and its later ACK.
 *
 *   node dist/bench/pod-event.js [--quick] [--pod-p 1000] [--pod-e 20] [--rounds 6]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../lab/src/kube/control-plane';
import { kubeBinariesPresent } from '../lab/src/kube/paths';
import { freePorts } from '../lab/src/kube/ports';
import { fixed, ms, note, numArg, printTable, ratio, runBench, sleep, stats, type BenchArgs, type BenchResult } from './common';
import { GoClient, goTool, REPO, startServerProcess } from './servers';

const NS = 'default';
const SERVICE = 'svc-0';
const PODS = `/api/v1/namespaces/${NS}/pods`;

interface Row {
  readonly what: string;
  readonly kind: 'ready' | 'delete' | 'hand-over';
  readonly rounds: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly cpuMs: number;
}

/** CPU time of every thread of a process, in ms (schedstat: ns resolution, unlike /proc/PID/stat's ticks). */
function threadCpuMs(pid: number): number {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended between readdir and read
    }
  }
  return ns / 1e6;
}

function pod(name: string, i: number): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: SERVICE } },
    spec: { nodeName: 'bench-node', containers: [{ name: 'app', image: 'bench', ports: [{ name: 'http', containerPort: 8080 }] }] },
    // Addresses only named in EDS: the load client never dials an endpoint.
    status: { podIP: `127.3.${(i >> 8) & 255}.${i & 255}` },
  };
}

function readyStatus(i: number, ready: boolean): unknown {
  const now = new Date().toISOString();
  return {
    status: {
      phase: 'Running',
      podIP: `127.3.${(i >> 8) & 255}.${i & 255}`,
      podIPs: [{ ip: `127.3.${(i >> 8) & 255}.${i & 255}` }],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now }],
    },
  };
}

async function createPod(cp: ControlPlane, name: string, i: number, ready: boolean): Promise<void> {
  await cp.client.post(PODS, pod(name, i));
  await cp.client.mergePatch(`${PODS}/${name}/status`, readyStatus(i, ready));
}

/** `herald serve` with one Kubernetes source on `cp`; resolves when /readyz answers 200. */
async function startHerald(cp: ControlPlane, dir: string, delayMs: number): Promise<{ proc: ChildProcess; xdsPort: number; stop(): Promise<void> }> {
  const [xdsPort, adminPort] = (await freePorts(2)) as [number, number];
  const config = path.join(dir, `herald-${delayMs}.yaml`);
  fs.writeFileSync(
    config,
    stringify({
      xds: { address: '127.0.0.1', port: xdsPort },
      admission: { newStreamsPerSecond: 0, maxStreams: 0 },
      admin: { address: '127.0.0.1', port: adminPort },
      batching: { delayMs, maxDelayMs: Math.max(delayMs, 1000) },
      sources: [{ kind: 'kubernetes', name: 'k8s', kubeconfig: cp.kubeconfigPath, serviceLabel: 'app', portName: 'http', discovery: 'pods' }],
    }),
  );
  const proc = spawn(process.execPath, [path.join(REPO, 'dist', 'src', 'cli', 'main.js'), 'serve', '--config', config], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, HERALD_LOG_LEVEL: 'error' },
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`herald serve exited (${proc.exitCode})`);
    const ok = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('herald serve not ready within 60 s');
    }
    await sleep(100);
  }
  return {
    proc,
    xdsPort,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Rounds of ready / delete of one extra pod through `herald serve` with batching delayMs. */
async function podRounds(cp: ControlPlane, dir: string, bin: string, p: number, e: number, rounds: number, delayMs: number): Promise<Row[]> {
  const herald = await startHerald(cp, dir, delayMs);
  let client: GoClient | undefined;
  try {
    client = await GoClient.start(bin, { port: herald.xdsPort, protocol: 'sotw', n: p, clusters: 1, eds: 1, extra: ['-suffix', `.${NS}`] });
    if (client.connected.ready < p) throw new Error(`${client.connected.ready}/${p} streams configured`);
    await sleep(300);
    const figs: Record<'ready' | 'delete', Array<{ p50: number; p99: number; max: number; cpuMs: number }>> = { ready: [], delete: [] };
    const warmup = 1;
    let id = delayMs * 1000;
    for (let k = 0; k < warmup + rounds; k++) {
      const name = `extra-${delayMs}-${k}`;
      const index = 1000 + k;
      // Created not Ready: not an endpoint yet (no push the client would match).
      await cp.client.post(PODS, pod(name, index));
      await sleep(150);
      for (const kind of ['ready', 'delete'] as const) {
        const marker = kind === 'ready' ? e : e - 1;
        await client.expect(++id, `${SERVICE}.${NS}`, marker);
        const cpu0 = threadCpuMs(herald.proc.pid!);
        const t0 = process.hrtime.bigint();
        if (kind === 'ready') await cp.client.mergePatch(`${PODS}/${name}/status`, readyStatus(index, true));
        else await cp.client.delete(`${PODS}/${name}`, undefined, { gracePeriodSeconds: '0' });
        const r = await client.result(id, t0, 30_000);
        await sleep(20);
        const cpuMs = threadCpuMs(herald.proc.pid!) - cpu0;
        if (k >= warmup) figs[kind].push({ p50: r.ackMs.p50, p99: r.ackMs.p99, max: r.ackMs.max, cpuMs });
        await sleep(100);
      }
    }
    return (['ready', 'delete'] as const).map((kind) => {
      const f = figs[kind];
      const med = (g: (x: (typeof f)[number]) => number) => stats(f.map(g)).p50;
      return { what: `pod event, batching ${delayMs} ms`, kind, rounds, p50: med((x) => x.p50), p99: med((x) => x.p99), max: Math.max(...f.map((x) => x.max)), cpuMs: med((x) => x.cpuMs) };
    });
  } finally {
    await client?.close().catch(() => undefined);
    await herald.stop();
  }
}

/** The same P × E from the publisher hand-over (the forked Herald core of peers.ts). */
async function handOver(bin: string, p: number, e: number, rounds: number): Promise<Row> {
  const server = await startServerProcess('herald', 1, e);
  let client: GoClient | undefined;
  try {
    client = await GoClient.start(bin, { port: server.port, protocol: 'sotw', n: p, clusters: 1, eds: 1 });
    await sleep(300);
    const figs: Array<{ p50: number; p99: number; max: number; cpuMs: number }> = [];
    for (let k = 0; k < rounds + 2; k++) {
      const marker = k % 2 === 0 ? e - 1 : e;
      await client.expect(k + 1, SERVICE, marker);
      const s0 = await server.stats();
      const t0 = await server.update(k + 1, SERVICE, marker);
      const r = await client.result(k + 1, t0);
      await sleep(20);
      const s1 = await server.stats();
      if (k >= 2) figs.push({ p50: r.ackMs.p50, p99: r.ackMs.p99, max: r.ackMs.max, cpuMs: (s1.cpuUs - s0.cpuUs) / 1000 });
    }
    const med = (g: (x: (typeof figs)[number]) => number) => stats(figs.map(g)).p50;
    return { what: 'publisher hand-over (baseline)', kind: 'hand-over', rounds, p50: med((x) => x.p50), p99: med((x) => x.p99), max: Math.max(...figs.map((x) => x.max)), cpuMs: med((x) => x.cpuMs) };
  } finally {
    await client?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
  }
}


export async function runPodEvent(args: BenchArgs, argv: readonly string[]): Promise<BenchResult> {
  const bin = kubeBinariesPresent() ? goTool('loadclient') : new Error('no Kubernetes binaries in .cache/kube (make kube)');
  if (bin instanceof Error) {
    note(`pod-event skipped: ${bin.message}`);
    return { bench: 'pod-event', summary: [['pod-event', 'skipped', bin.message, '-']], data: { skipped: bin.message } };
  }
  const p = numArg(argv, '--pod-p', args.quick ? 200 : 1000);
  const e = numArg(argv, '--pod-e', 20);
  const rounds = numArg(argv, '--rounds', args.quick ? 3 : 6);
  process.stdout.write(`\nPod event → ACK: herald serve on a real kube-apiserver, ${p} proxies (SotW) × ${e} endpoints, ${rounds} rounds of each event after 1 warm-up\n`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-bench-pod-'));
  const cp = await startControlPlane({ controllers: [] });
  const rows: Row[] = [];
  try {
    for (let i = 0; i < e - 1; i++) await createPod(cp, `${SERVICE}-${i}`, i, true);
    rows.push(await handOver(bin, p, e, rounds));
    for (const delayMs of [100, 0]) rows.push(...(await podRounds(cp, dir, bin, p, e, rounds, delayMs)));
  } finally {
    await cp.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const base = rows.find((r) => r.kind === 'hand-over')!;
  printTable(
    `Pod event → ACK at every proxy (${p} × ${e}, SotW), medians over rounds; ratio to the publisher hand-over`,
    ['from', 'event', 'p50 ms', 'p99 ms', 'max ms', 'CPU/change ms', 'p50 / hand-over', 'p99 / hand-over'],
    rows.map((r) => [r.what, r.kind, ms(r.p50), ms(r.p99), ms(r.max), fixed(r.cpuMs), ratio(r.p50, base.p50), ratio(r.p99, base.p99)]),
  );
  note('t0: just before the benchmark sends the pod write to the apiserver (etcd commit, watch, informer, batcher, translate, send, ACK');
  note('all inside). CPU/change: Herald\'s threads (schedstat), from before the write to 20 ms after the last ACK; hand-over: the forked core\'s getrusage.');
  const summary: Array<[string, string, string, string]> = rows
    .filter((r) => r.kind !== 'hand-over')
    .map((r) => [`pod-event ${p}×${e} ${r.kind}, batching ${r.what.match(/\d+ ms/)?.[0]}`, `${ms(r.p50)}/${ms(r.p99)} ms`, `hand-over ${ms(base.p50)}/${ms(base.p99)} ms`, ratio(r.p50, base.p50)]);
  return { bench: 'pod-event', summary, data: rows };
}

if (require.main === module) runBench(runPodEvent);
