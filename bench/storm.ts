/**
 * Reconnect storm: P proxies connect at once (as after a control-plane restart or a network partition
 * healing) to a server holding C clusters of E endpoints; each subscribes to CDS (wildcard) and to EDS for all
 * C clusters and ACKs everything. Measured: the time until every proxy has ACKed its full first configuration,
 * each proxy's time to that point (p50/p99), failed streams, the server's peak RSS (VmHWM of a fresh process)
 * and CPU, and the client's CPU. Herald and go-control-plane (LinearCache) in turn, same Go client.
 *
 *   node dist/bench/storm.js [--quick] [--storm-p 5000] [--storm-clusters 200] [--protocols sotw,delta]
 *     [--storm-servers herald,gcp] [--storm-rounds 1]
 *
 * `--storm-rounds N` runs each server N times, interleaved (herald, gcp, herald, gcp, …), and prints every round:
 * on a shared machine one round's time varies by ±50%, so compare medians of interleaved rounds.
 */
import { fixed, ms, note, numArg, printTable, ratio, runBench, sleep, type BenchArgs, type BenchResult } from './common';
import { GoClient, goTool, startServerProcess, type Protocol, type ServerKind } from './servers';

const ENDPOINTS = 10;

export interface StormRow {
  readonly server: ServerKind;
  readonly protocol: Protocol;
  readonly p: number;
  readonly clusters: number;
  readonly ms: number;
  readonly readyP50: number;
  readonly readyP99: number;
  readonly ready: number;
  readonly failed: number;
  readonly reconnects: number;
  readonly peakRssMb: number;
  readonly idleRssMb: number;
  readonly serverCpuS: number;
  readonly clientCpuS: number;
  readonly error?: string;
}


async function stormOne(kind: ServerKind, protocol: Protocol, p: number, clusters: number, bins: { client: string; peer: string }): Promise<StormRow> {
  const server = await startServerProcess(kind, clusters, ENDPOINTS, bins.peer);
  let client: GoClient | undefined;
  const base = { server: kind, protocol, p, clusters };
  try {
    await sleep(300);
    const idle = await server.stats();
    client = await GoClient.start(bins.client, { port: server.port, protocol, n: p, clusters, eds: clusters, window: 0 });
    const c = client.connected;
    const after = await server.stats();
    return {
      ...base,
      ms: c.ms,
      readyP50: c.readyMs.p50,
      readyP99: c.readyMs.p99,
      ready: c.ready,
      failed: c.failed,
      reconnects: c.reconnects,
      peakRssMb: after.hwmKb / 1024,
      idleRssMb: idle.rssKb / 1024,
      serverCpuS: (after.cpuUs - idle.cpuUs) / 1e6,
      clientCpuS: c.cpuUs / 1e6,
      ...(c.ready < p ? { error: `${c.ready}/${p} proxies configured, ${c.failed} failed` } : {}),
    };
  } catch (err) {
    const nan = NaN;
    return { ...base, ms: nan, readyP50: nan, readyP99: nan, ready: 0, failed: p, reconnects: NaN, peakRssMb: nan, idleRssMb: nan, serverCpuS: nan, clientCpuS: nan, error: (err as Error).message };
  } finally {
    await client?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
  }
}

/** The round with the median time (the upper one of an even count); undefined for none. */
function medianRow(rows: readonly StormRow[]): StormRow | undefined {
  const sorted = [...rows].sort((a, b) => a.ms - b.ms);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function runStorm(args: BenchArgs, argv: readonly string[]): Promise<BenchResult> {
  const client = goTool('loadclient');
  const peer = goTool('peer-gcp');
  if (client instanceof Error || peer instanceof Error) {
    const why = [client, peer].filter((x): x is Error => x instanceof Error).map((x) => x.message).join('; ');
    note(`storm skipped: ${why}`);
    return { bench: 'storm', summary: [['storm', 'skipped', why, '-']], data: { skipped: why } };
  }
  const p = numArg(argv, '--storm-p', args.quick ? 2000 : 5000);
  const clusters = numArg(argv, '--storm-clusters', 200);
  const protocols = args.quick && !argv.includes('--protocols') ? (['sotw'] as Protocol[]) : args.protocols;
  const serversArg = argv[argv.indexOf('--storm-servers') + 1];
  const kinds = (argv.includes('--storm-servers') && serversArg ? serversArg.split(',') : ['herald', 'gcp']).filter((k): k is 'herald' | 'gcp' => k === 'herald' || k === 'gcp');
  const rounds = numArg(argv, '--storm-rounds', 1);
  process.stdout.write(`\nStorm: ${p} proxies connecting at once, each CDS (wildcard) + EDS for ${clusters} clusters × ${ENDPOINTS} endpoints; Herald vs go-control-plane\n`);
  const rows: StormRow[] = [];
  for (const protocol of protocols) {
    for (let round = 0; round < rounds; round++) {
      for (const kind of kinds) {
        const r = await stormOne(kind, protocol, p, clusters, { client, peer });
        rows.push(r);
        process.stdout.write(`   ${protocol} ${kind}: ${r.error ? `FAILED: ${r.error}` : `${ms(r.ms, 0)} ms, peak RSS ${fixed(r.peakRssMb, 0)} MB, server CPU ${fixed(r.serverCpuS, 2)} s`}\n`);
      }
    }
  }
  printTable(
    `Storm: ${p} proxies × ${clusters} clusters at once (all ACKed)`,
    ['protocol', 'server', 'all ACKed ms', 'proxy p50 ms', 'proxy p99 ms', 'configured', 'retried', 'peak RSS MB', 'idle RSS MB', 'server CPU s', 'client CPU s'],
    rows.map((r) => [r.protocol, r.server + (r.error ? ` (${r.error})` : ''), ms(r.ms, 0), ms(r.readyP50, 0), ms(r.readyP99, 0), `${r.ready}/${r.p}`, String(r.reconnects), fixed(r.peakRssMb, 0), fixed(r.idleRssMb, 0), fixed(r.serverCpuS, 2), fixed(r.clientCpuS, 2)]),
  );
  const summary: Array<[string, string, string, string]> = [];
  for (const protocol of protocols) {
    const h = medianRow(rows.filter((r) => r.protocol === protocol && r.server === 'herald'));
    const g = medianRow(rows.filter((r) => r.protocol === protocol && r.server === 'gcp'));
    if (!h || !g) continue;
    summary.push([`storm ${protocol} ${p}×${clusters}: time to all ACKed (target ≤ 0.8× gcp)`, `${ms(h.ms, 0)} ms`, `gcp ${ms(g.ms, 0)} ms`, ratio(h.ms, g.ms)]);
    summary.push([`storm ${protocol} ${p}×${clusters}: server CPU`, `${fixed(h.serverCpuS, 2)} s`, `gcp ${fixed(g.serverCpuS, 2)} s`, ratio(h.serverCpuS, g.serverCpuS)]);
    summary.push([`storm ${protocol} ${p}×${clusters}: peak RSS (target ≤ 1 GB)`, `${fixed(h.peakRssMb, 0)} MB`, `gcp ${fixed(g.peakRssMb, 0)} MB`, ratio(h.peakRssMb, g.peakRssMb)]);
  }
  note('A fresh server process per row, so VmHWM is the storm\'s peak. Both servers and the client share the 2 cores.');
  note('retried: connection attempts the client repeated (jittered backoff from 50 ms, as Envoy retries) before a proxy got its first configuration.');
  return { bench: 'storm', summary, data: rows };
}

if (require.main === module) runBench(runStorm);
