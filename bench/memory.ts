/**
 * Memory: what an idle stream costs the server. Each protocol is measured in a fresh process (this file, forked
 * with `--one <protocol>`) so earlier benchmarks' heap does not hide or inflate the growth. The server serves a
 * 20-service mesh; the forked load client (bench/ads-load.ts) connects idle streams in steps (each on its own
 * HTTP/2 connection, CDS wildcard + EDS for one service, everything ACKed), and after each step the server's RSS,
 * V8 heap and external memory are read after a forced GC. Per stream: the least-squares slope over the steps.
 * Baseline in the same run: a bare grpc-js server (no Herald state) holding the same streams.
 */
import { fork } from 'node:child_process';
import {
  gc,
  kb,
  meshOf,
  ms,
  note,
  parseArgs,
  printTable,
  ratio,
  reportResult,
  service,
  sleep,
  type BenchArgs,
  type BenchResult,
} from './common';
import { LoadClient, startRawServer, startServer } from './harness';

/** reference.md: "An idle stream costs about 35 KB RSS." */
export const REFERENCE_IDLE_STREAM_BYTES = 35 * 1024;

interface Sample {
  readonly streams: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
}

/** What is measured: Herald over SotW or Delta, or the raw grpc-js baseline (SotW method, no Herald). */
type Target = 'sotw' | 'delta' | 'raw';

export interface MemoryResult {
  readonly protocol: Target;
  readonly samples: Sample[];
  readonly connectMs: number;
  /** Bytes per stream: least-squares slopes over the samples. */
  readonly rssPerStream: number;
  readonly heapPerStream: number;
  readonly externalPerStream: number;
}

async function settle(): Promise<void> {
  await sleep(500);
  gc();
  await sleep(100);
  gc();
}

function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : NaN;
}

/** Measures one target in this process. */
async function measureOne(target: Target, total: number): Promise<MemoryResult> {
  const protocol = target === 'raw' ? 'sotw' : target;
  const herald = target === 'raw' ? undefined : await startServer(meshOf(Array.from({ length: 20 }, (_, i) => service(i, 14))));
  const raw = target === 'raw' ? await startRawServer() : undefined;
  const server = (herald ?? raw)!;
  const streamCount = () => (herald ? herald.xds.proxies().length : raw!.streams.size);
  const load = new LoadClient();
  const samples: Sample[] = [];
  const sample = (streams: number) => {
    const m = process.memoryUsage();
    samples.push({ streams, rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers });
  };
  let connectMs = 0;
  try {
    // A few streams first, so one-time costs (grpc-js server paths, the view, JIT) are not counted per stream.
    await load.connect(server.port, protocol, 10, 20, 0);
    await settle();
    sample(10);
    const steps = [total / 4, total / 2, total].map(Math.round);
    let connected = 10;
    for (const target of steps) {
      const r = await load.connect(server.port, protocol, target - connected, 20, connected);
      if (r.failed > 0) throw new Error(`${r.failed} streams failed`);
      connectMs += r.ms;
      connected = target;
      await settle();
      sample(connected);
    }
    const live = streamCount();
    if (live !== connected) throw new Error(`server sees ${live} streams, expected ${connected}`);
  } finally {
    await load.close();
    await server.close();
  }
  const xs = samples.map((s) => s.streams);
  return {
    protocol: target,
    samples,
    connectMs,
    rssPerStream: slope(xs, samples.map((s) => s.rss)),
    heapPerStream: slope(xs, samples.map((s) => s.heapUsed)),
    externalPerStream: slope(xs, samples.map((s) => s.external)),
  };
}

/** Forks this file once per protocol and collects the results. */
function measureInChild(protocol: Target, total: number): Promise<MemoryResult> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--one', protocol, '--idle', String(total)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: MemoryResult | undefined;
    child.on('message', (m: { type: string; result: MemoryResult }) => {
      if (m.type === 'memory') result = m.result;
    });
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`memory bench (${protocol}) exited with ${code}`))));
  });
}

export async function runMemory(args: BenchArgs): Promise<BenchResult> {
  const results: MemoryResult[] = [];
  for (const protocol of args.protocols) results.push(await measureInChild(protocol, args.idle));
  const raw = await measureInChild('raw', args.idle);
  results.push(raw);
  printTable(
    `Memory: server growth per idle stream (${args.idle} streams, own HTTP/2 connection each)`,
    ['server', 'streams', 'RSS', 'heap used', 'external+buffers', 'RSS/stream', 'heap/stream', 'ext/stream', 'vs ref 35 KB', 'vs raw', 'connect'],
    results.flatMap((r) => [
      ...r.samples.map((s, i) => [
        i === 0 ? (r.protocol === 'raw' ? 'raw grpc-js (baseline)' : `Herald ${r.protocol}`) : '',
        String(s.streams),
        kb(s.rss),
        kb(s.heapUsed),
        kb(s.external),
        i === r.samples.length - 1 ? kb(r.rssPerStream) : '',
        i === r.samples.length - 1 ? kb(r.heapPerStream) : '',
        i === r.samples.length - 1 ? kb(r.externalPerStream) : '',
        i === r.samples.length - 1 ? ratio(r.rssPerStream, REFERENCE_IDLE_STREAM_BYTES) : '',
        i === r.samples.length - 1 ? ratio(r.rssPerStream, raw.rssPerStream) : '',
        i === r.samples.length - 1 ? `${ms(r.connectMs, 0)} ms` : '',
      ]),
    ]),
  );
  note('per stream: least-squares slope over the samples, after a forced GC; RSS includes grpc-js/nghttp2 per-connection state.');
  return {
    bench: 'memory',
    summary: results.map((r): [string, string, string, string] => [
      r.protocol === 'raw' ? `idle stream RSS (raw grpc-js baseline, ${args.idle} streams)` : `idle stream RSS (Herald ${r.protocol}, ${args.idle} streams)`,
      `${kb(r.rssPerStream)} (heap ${kb(r.heapPerStream)})`,
      r.protocol === 'raw' ? 'ref ~35 KB' : `ref ~35 KB; raw ${kb(raw.rssPerStream)}`,
      r.protocol === 'raw' ? ratio(r.rssPerStream, REFERENCE_IDLE_STREAM_BYTES) : `${ratio(r.rssPerStream, REFERENCE_IDLE_STREAM_BYTES)} ref, ${ratio(r.rssPerStream, raw.rssPerStream)} raw`,
    ]),
    data: results,
  };
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const one = argv.indexOf('--one');
  if (one >= 0) {
    const protocol: Target = argv[one + 1] === 'delta' ? 'delta' : argv[one + 1] === 'raw' ? 'raw' : 'sotw';
    measureOne(protocol, parseArgs(argv).idle)
      .then((result) => new Promise<void>((resolve) => (process.send ? process.send({ type: 'memory', result }, undefined, {}, () => resolve()) : (console.log(JSON.stringify(result)), resolve()))))
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`${(err as Error).stack}\n`);
        process.exit(1);
      });
  } else {
    runMemory(parseArgs(argv))
      .then(reportResult)
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`${(err as Error).stack}\n`);
        process.exit(1);
      });
  }
}
