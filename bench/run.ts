/**
 * `make bench`: runs every benchmark, each in its own process (so one's heap and JIT state do not colour the
 * next), then prints one summary table and one JSON line (`BENCH_JSON {...}`). Benchmarks print figures and
 * ratios against baselines measured in the same run; nothing here fails on a slow machine.
 *
 *   node dist/bench/run.js [--quick] [--only pipeline,fanout,memory,idle,hostile,views,peers,pod-event,storm,soak,admin] [--n 100,500,1000]
 *                          [--changes 6] [--protocols sotw,delta] [--idle 1000]
 *                          [--peers-p 200,1000,2000,5000] [--peers-e 20,1000] [--rounds 5]
 *                          [--storm-p 5000] [--storm-clusters 200] [--storm-servers herald,gcp] [--storm-rounds 1]
 *                          [--soak-seconds 60] [--soak-minutes 30] [--admin-p 2000] [--admin-clusters 1000]
 *
 * pod-event starts etcd and kube-apiserver from .cache/kube (make kube; skipped without them). peers, pod-event, storm and soak build the Go load client and the go-control-plane peer (tools/loadclient,
 * tools/peer-gcp) into .cache/ on first use; a cached build is reused; admin uses the Go load client too.
 */
import { fork } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, printTable, type BenchResult } from './common';

const BENCHES: Record<string, string> = {
  pipeline: 'pipeline.js',
  fanout: 'fanout.js',
  memory: 'memory.js',
  idle: 'idle.js',
  hostile: 'hostile.js',
  views: 'views.js',
  peers: 'peers.js',
  'pod-event': 'pod-event.js',
  storm: 'storm.js',
  soak: 'soak.js',
  admin: 'admin.js',
};

function runChild(name: string, argv: readonly string[]): Promise<{ result?: BenchResult; seconds: number; code: number | null }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = fork(path.join(__dirname, BENCHES[name]!), [...argv], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: BenchResult | undefined;
    child.on('message', (m: { type: string; result: BenchResult }) => {
      if (m.type === 'result') result = m.result;
    });
    child.on('exit', (code) => resolve({ ...(result ? { result } : {}), seconds: (performance.now() - started) / 1000, code }));
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const parsed = parseArgs(argv);
  const args = argv.some((a) => a === '--only' || a.startsWith('--only=')) ? parsed : { ...parsed, only: Object.keys(BENCHES) };
  const unknown = args.only.filter((b) => !(b in BENCHES));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})\n`);
    return 2;
  }
  process.stdout.write(
    `Herald benchmarks — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), loopback only\n` +
      `args: n=${args.n.join(',')} changes=${args.changes} protocols=${args.protocols.join(',')} idle=${args.idle}${args.quick ? ' (quick)' : ''}\n`,
  );
  const results: BenchResult[] = [];
  const timings: Record<string, number> = {};
  const failed: string[] = [];
  for (const name of args.only) {
    const r = await runChild(name, argv);
    timings[name] = Math.round(r.seconds * 10) / 10;
    if (r.result) results.push(r.result);
    else failed.push(`${name} (exit ${r.code})`);
  }
  printTable(
    'Summary',
    ['figure', 'measured', 'compared with', 'ratio'],
    results.flatMap((r) => r.summary.map((row) => [...row])),
  );
  process.stdout.write(`   took: ${Object.entries(timings).map(([k, v]) => `${k} ${v} s`).join(', ')}\n`);
  if (failed.length > 0) process.stdout.write(`   FAILED to finish: ${failed.join(', ')}\n`);
  const json = { node: process.version, cpus: os.cpus().length, args, seconds: timings, failed, results: Object.fromEntries(results.map((r) => [r.bench, { summary: r.summary, data: r.data }])) };
  process.stdout.write(`BENCH_JSON ${JSON.stringify(json)}\n`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
