/**
 * Peers side by side: Herald, go-control-plane (LinearCache, tools/peer-gcp) and a bare node:http2 floor, each in
 * its own process, driven the same way by the same Go load client (tools/loadclient): P proxies, each on its
 * own HTTP/2 connection, subscribed to CDS (wildcard) and to EDS for the one cluster svc-0 of E endpoints.
 * Each round changes svc-0's endpoint count (E-1, E, E-1, ...: the count is the marker the client matches
 * responses by) and times publish → every proxy's ACK, from the moment the update is handed to the server
 * (Herald: publisher.update(); go-control-plane: LinearCache.UpdateResource(); floor: before it encodes).
 *
 * Per (protocol, P, E, server): p50/p99/max of ACK latency (median over rounds of each round's figure), the
 * server's CPU per change (its getrusage, from before the update to 20 ms after the last ACK), its RSS with
 * the P streams open, and the client's CPU per proxy per update (to show it is not what paces the run).
 * Servers alternate within each size, so drift on a shared machine hits all three alike.
 *
 *   node dist/bench/peers.js [--quick] [--peers-p 200,1000] [--peers-e 20,1000] [--rounds 5] [--protocols sotw,delta]
 *     [--peers-servers herald,gcp,floor]   (also grpc-floor: the same floor on grpc-js)
 */
import { fixed, ms, note, printTable, ratio, runBench, sleep, stats, type BenchArgs, type BenchResult } from './common';
import { GoClient, goTool, startServerProcess, type Protocol, type ServerKind } from './servers';

export interface PeerRow {
  readonly protocol: Protocol;
  readonly p: number;
  readonly e: number;
  readonly server: ServerKind;
  readonly rounds: number;
  readonly connectMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Median over rounds of the round's first-receipt-to-last-ACK figures are in p50/p99; this is recv p50. */
  readonly recvP50: number;
  /** Median of the update's synchronous part in the server (a Node server writes every stream in it); NaN for gcp. */
  readonly syncMs: number;
  readonly cpuPerChangeMs: number;
  readonly rssMb: number;
  readonly idleRssMb: number;
  readonly clientUsPerProxy: number;
  readonly bytesPerResponse: number;
  readonly error?: string;
}

const KINDS: readonly ServerKind[] = ['herald', 'gcp', 'floor', 'grpc-floor'];

function serversArg(argv: readonly string[]): ServerKind[] {
  const i = argv.indexOf('--peers-servers');
  const v = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--peers-servers='))?.slice('--peers-servers='.length);
  const kinds = (v ?? 'herald,gcp,floor').split(',').filter((k): k is ServerKind => (KINDS as readonly string[]).includes(k));
  if (kinds.length === 0) throw new Error(`--peers-servers: a list of ${KINDS.join(', ')}`);
  return kinds;
}

function listArg(argv: readonly string[], flag: string, def: string): number[] {
  const i = argv.indexOf(flag);
  const v = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  return (v ?? def).split(',').map(Number).filter((x) => Number.isInteger(x) && x > 0);
}

/** One (server, protocol, P, E) run: start the server, connect P proxies, warm up, measure `rounds` changes. */
async function runOne(kind: ServerKind, protocol: Protocol, p: number, e: number, rounds: number, bins: { client: string; peer: string }): Promise<PeerRow> {
  const server = await startServerProcess(kind, 1, e, bins.peer);
  let client: GoClient | undefined;
  const base = { protocol, p, e, server: kind, rounds };
  try {
    await sleep(200);
    const idle = await server.stats();
    client = await GoClient.start(bins.client, { port: server.port, protocol, n: p, clusters: 1, eds: 1 });
    const c = client.connected;
    if (c.failed > 0 || c.ready < p) throw new Error(`${c.ready}/${p} streams got their first configuration (${c.failed} failed)`);
    await sleep(300);
    const figs: Array<{ p50: number; p99: number; max: number; recv: number; syncMs: number; cpuMs: number; clientUs: number; bytes: number }> = [];
    const warmup = 2;
    for (let k = 0; k < warmup + rounds; k++) {
      const id = k + 1;
      const marker = k % 2 === 0 ? e - 1 : e;
      await client.expect(id, 'svc-0', marker);
      const s0 = await server.stats();
      const t0 = await server.update(id, 'svc-0', marker);
      const r = await client.result(id, t0);
      await sleep(20);
      const s1 = await server.stats();
      if (k >= warmup) {
        figs.push({ p50: r.ackMs.p50, p99: r.ackMs.p99, max: r.ackMs.max, recv: r.recvMs.p50, syncMs: server.lastSyncMs, cpuMs: (s1.cpuUs - s0.cpuUs) / 1000, clientUs: r.cpuUs / r.n, bytes: r.bytes / r.n });
      }
    }
    const busy = await server.stats();
    const med = (f: (x: (typeof figs)[number]) => number) => stats(figs.map(f)).p50;
    return {
      ...base,
      connectMs: c.ms,
      p50: med((x) => x.p50),
      p99: med((x) => x.p99),
      max: Math.max(...figs.map((x) => x.max)),
      recvP50: med((x) => x.recv),
      syncMs: med((x) => x.syncMs),
      cpuPerChangeMs: med((x) => x.cpuMs),
      rssMb: busy.rssKb / 1024,
      idleRssMb: idle.rssKb / 1024,
      clientUsPerProxy: med((x) => x.clientUs),
      bytesPerResponse: med((x) => x.bytes),
    };
  } catch (err) {
    const nan = NaN;
    return { ...base, connectMs: nan, p50: nan, p99: nan, max: nan, recvP50: nan, syncMs: nan, cpuPerChangeMs: nan, rssMb: nan, idleRssMb: nan, clientUsPerProxy: nan, bytesPerResponse: nan, error: (err as Error).message };
  } finally {
    await client?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
  }
}

function printRows(rows: readonly PeerRow[]): void {
  printTable(
    'Peers: publish → ACK at every proxy (one cluster, CDS wildcard + EDS), same Go client',
    ['protocol', 'P × E', 'server', 'p50 ms', 'p99 ms', 'max ms', 'sync ms', 'CPU/change ms', 'RSS MB', 'idle RSS MB', 'bytes/resp', 'client µs/proxy', 'connect ms'],
    rows.map((r) => [
      r.protocol,
      `${r.p} × ${r.e}`,
      r.server + (r.error ? ` FAILED: ${r.error}` : ''),
      ms(r.p50),
      ms(r.p99),
      ms(r.max),
      Number.isNaN(r.syncMs) ? '-' : fixed(r.syncMs, 2),
      fixed(r.cpuPerChangeMs),
      fixed(r.rssMb, 0),
      fixed(r.idleRssMb, 0),
      fixed(r.bytesPerResponse, 0),
      fixed(r.clientUsPerProxy, 1),
      ms(r.connectMs, 0),
    ]),
  );
}

function ratioRows(rows: readonly PeerRow[]): string[][] {
  const out: string[][] = [];
  const keys = [...new Set(rows.map((r) => `${r.protocol}|${r.p}|${r.e}`))];
  for (const key of keys) {
    const [protocol, p, e] = key.split('|');
    const of = (k: ServerKind) => rows.find((r) => `${r.protocol}|${r.p}|${r.e}` === key && r.server === k && !r.error);
    const h = of('herald');
    const g = of('gcp');
    const f = of('floor');
    if (!h) continue;
    out.push([
      protocol!,
      `${p} × ${e}`,
      g ? ratio(h.p50, g.p50) : '-',
      g ? ratio(h.p99, g.p99) : '-',
      g ? ratio(h.cpuPerChangeMs, g.cpuPerChangeMs) : '-',
      g ? ratio(h.rssMb, g.rssMb) : '-',
      f ? ratio(h.p50, f.p50) : '-',
      f ? ratio(h.p99, f.p99) : '-',
      f ? ratio(h.cpuPerChangeMs, f.cpuPerChangeMs) : '-',
    ]);
  }
  return out;
}

export async function runPeers(args: BenchArgs, argv: readonly string[]): Promise<BenchResult> {
  const client = goTool('loadclient');
  const peer = goTool('peer-gcp');
  if (client instanceof Error || peer instanceof Error) {
    const why = [client, peer].filter((x): x is Error => x instanceof Error).map((x) => x.message).join('; ');
    note(`peers skipped: ${why}`);
    return { bench: 'peers', summary: [['peers', 'skipped', why, '-']], data: { skipped: why } };
  }
  const ps = listArg(argv, '--peers-p', args.quick ? '1000,2000' : '200,1000,2000,5000');
  const es = listArg(argv, '--peers-e', args.quick ? '20' : '20,1000');
  const rounds = listArg(argv, '--rounds', args.quick ? '3' : '5')[0] ?? 5;
  const protocols = args.quick && !argv.includes('--protocols') ? (['sotw'] as Protocol[]) : args.protocols;
  const servers = serversArg(argv);
  process.stdout.write(`\nPeers: P ∈ {${ps.join(', ')}} × E ∈ {${es.join(', ')}}, ${protocols.join(' and ')}, ${rounds} rounds after 2 warm-ups; ${servers.join(', ')} (gcp: go-control-plane v0.14.0 LinearCache; floor: bare node:http2)\n`);
  const rows: PeerRow[] = [];
  for (const protocol of protocols) {
    for (const e of es) {
      for (const p of ps) {
        const started = performance.now();
        const got: PeerRow[] = [];
        for (const kind of servers) got.push(await runOne(kind, protocol, p, e, rounds, { client, peer }));
        rows.push(...got);
        process.stdout.write(`   ${protocol} ${p} × ${e}: ${got.map((r) => `${r.server} ${r.error ? 'FAILED' : `${ms(r.p50)}/${ms(r.p99)} ms`}`).join(', ')} (${ms((performance.now() - started) / 1000)} s)\n`);
      }
    }
  }
  printRows(rows);
  const ratios = ratioRows(rows);
  printTable('Peers: ratios (targets: p50 and p99 ≤ 0.8× go-control-plane; ≤ 1.1× floor at 2,000 × 20; CPU ≤ gcp at 1,000 ep)', ['protocol', 'P × E', 'H/gcp p50', 'H/gcp p99', 'H/gcp CPU', 'H/gcp RSS', 'H/floor p50', 'H/floor p99', 'H/floor CPU'], ratios);
  note('CPU/change: the server process\'s own CPU (getrusage) from before the update to 20 ms after the last ACK. client µs/proxy: the Go');
  note('load client\'s CPU per proxy per update (it has both cores too; a client near the servers\' figure would be pacing the run).');
  const summary: Array<[string, string, string, string]> = ratios.map((r) => [`peers ${r[0]} ${r[1]}: Herald/gcp p50, p99, CPU`, `${r[2]}, ${r[3]}, ${r[4]}`, `floor: ${r[6]}, ${r[7]}, ${r[8]}`, r[2]!]);
  const failed = rows.filter((r) => r.error);
  if (failed.length > 0) summary.push(['peers: failed runs', String(failed.length), failed.map((r) => `${r.server} ${r.protocol} ${r.p}×${r.e}`).join(', '), '-']);
  return { bench: 'peers', summary, data: rows };
}

if (require.main === module) runBench(runPeers);
