/**
 * What the admin API's per-proxy answers cost the event loop (every xDS stream waits that long): P proxies (the Go
 * load client, SotW) each subscribed to CDS (wildcard) and EDS for all C clusters, Herald in this process. Timed,
 * median of 5 calls each, the JSON included:
 *   /status            the sync summaries (the dashboard polls it every second);
 *   /status, as built before: the same answer made from every stream's full snapshot (the baseline);
 *   /proxies           a page of 100 streams' whole state, subscriptions included (O(names subscribed)), and all
 *                      of them at once (what /proxies answered before it had pages).
 * Each is taken settled; right after a change of every cluster (every stream awaits the ACK of its response);
 * and after a second change behind that one (every stream has every cluster marked: /status then compares them
 * all, as a full comparison does). The three are taken in one synchronous run, so no ACK arrives in between.
 *
 *   node dist/bench/admin.js [--quick] [--admin-p 2000] [--admin-clusters 1000]
 */
import { fixed, meshOf, note, numArg, printTable, ratio, runBench, service, stats, type BenchArgs, type BenchResult } from './common';
import { startServer } from './harness';
import { GoClient, goTool } from './servers';
import { proxyStatus } from '../src/admin/status';

const ENDPOINTS = 10;
const CALLS = 5;

interface AdminRow {
  readonly when: 'settled' | 'a change in flight' | 'a second change behind it';
  readonly statusMs: number;
  readonly fromSnapshotsMs: number;
  readonly pageMs: number;
  readonly proxiesMs: number;
  readonly statusMb: number;
  readonly proxiesMb: number;
}

/** Median wall time of `f` over CALLS calls, and the size of what it returned. */
function timed(f: () => string): { ms: number; mb: number } {
  const times: number[] = [];
  let size = 0;
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    size = f().length;
    times.push(performance.now() - t0);
  }
  return { ms: stats(times).p50, mb: size / 1e6 };
}

export async function runAdmin(args: BenchArgs, argv: readonly string[]): Promise<BenchResult> {
  const bin = goTool('loadclient');
  if (bin instanceof Error) {
    note(`admin skipped: ${bin.message}`);
    return { bench: 'admin', summary: [['admin', 'skipped', bin.message, '-']], data: { skipped: bin.message } };
  }
  const p = numArg(argv, '--admin-p', args.quick ? 1000 : 2000);
  const clusters = numArg(argv, '--admin-clusters', args.quick ? 200 : 1000);
  process.stdout.write(`\nAdmin API: ${p} proxies, each CDS (wildcard) + EDS for ${clusters} clusters × ${ENDPOINTS} endpoints\n`);
  const server = await startServer(meshOf(Array.from({ length: clusters }, (_, i) => service(i, ENDPOINTS))));
  const client = await GoClient.start(bin, { port: server.port, protocol: 'sotw', n: p, clusters, eds: clusters });
  const rows: AdminRow[] = [];
  try {
    if (client.connected.ready < p) throw new Error(`${client.connected.ready}/${p} proxies got their first configuration`);
    const measure = (when: AdminRow['when']): AdminRow => {
      const status = timed(() => JSON.stringify({ proxies: server.xds.summaries().map(proxyStatus) }));
      const fromSnapshots = timed(() => JSON.stringify({ proxies: server.xds.proxies().map(proxyStatus) }));
      const page = timed(() => JSON.stringify(server.xds.proxyPage({ after: 0, limit: 100 })));
      const proxies = timed(() => JSON.stringify({ proxies: server.xds.proxies() }));
      return { when, statusMs: status.ms, fromSnapshotsMs: fromSnapshots.ms, pageMs: page.ms, proxiesMs: proxies.ms, statusMb: status.mb, proxiesMb: proxies.mb };
    };
    rows.push(measure('settled'));
    server.publisher.update(meshOf(Array.from({ length: clusters }, (_, i) => service(i, ENDPOINTS - 1))));
    rows.push(measure('a change in flight'));
    server.publisher.update(meshOf(Array.from({ length: clusters }, (_, i) => service(i, ENDPOINTS - 2))));
    rows.push(measure('a second change behind it'));
  } finally {
    await client.close();
    await server.close();
  }
  printTable(
    `Admin API: one call's event-loop time, ${p} proxies × ${clusters} clusters (median of ${CALLS})`,
    ['state', '/status ms', 'per proxy µs', 'from snapshots ms', '/proxies page of 100 ms', `all ${p} ms`, '/status MB', `all ${p} MB`],
    rows.map((r) => [r.when, fixed(r.statusMs), fixed((r.statusMs * 1000) / p, 1), fixed(r.fromSnapshotsMs), fixed(r.pageMs), fixed(r.proxiesMs), fixed(r.statusMb, 2), fixed(r.proxiesMb, 1)]),
  );
  note('from snapshots: /status as it was built before (every stream\'s whole state, then summarised), in the same run.');
  const settled = rows[0]!;
  return {
    bench: 'admin',
    summary: [[`admin /status, ${p} proxies × ${clusters} clusters`, `${fixed(settled.statusMs)} ms`, `from snapshots ${fixed(settled.fromSnapshotsMs)} ms`, ratio(settled.statusMs, settled.fromSnapshotsMs)]],
    data: { p, clusters, rows },
  };
}

if (require.main === module) runBench(runAdmin);
