/**
 * Soak: Herald serving S services × E endpoints to P proxies while pods change at R per second, for a while.
 * Each proxy subscribes to CDS (wildcard) and to EDS for K services (proxy i: svc-((i + j·S/K) mod S), so every
 * service has P·K/S subscribers). Each change moves one random service's pod count by one (a pod added or
 * removed, between E-2 and E+2), handed to `publisher.update()`; its convergence is the time until the last
 * subscriber ACKed it (or a later state of that service). Printed every few seconds: p50/p99/max convergence
 * of the changes published in that window, changes still open, Herald's RSS and CPU share; then a chart of p99
 * and RSS over time and RSS growth (a leak shows as a slope).
 *
 *   node dist/bench/soak.js [--quick] [--soak-seconds 60] [--soak-minutes 30] [--soak-rate 30]
 *                           [--soak-services 1000] [--soak-proxies 2000] [--soak-eds 20] [--protocols sotw]
 */
import { fixed, ms, note, numArg, printTable, runBench, sleep, stats, type BenchArgs, type BenchResult } from './common';
// Seeded, so every run makes the same changes.
import { prng } from '../test/support/prng';
import { GoClient, goTool, startServerProcess, type Protocol, type UpdateResult } from './servers';

const ENDPOINTS = 10;



export interface SoakWindow {
  readonly atS: number;
  readonly changes: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly open: number;
  readonly rssMb: number;
  readonly heapMb: number;
  readonly serverCpuPct: number;
  readonly clientCpuPct: number;
}

const BARS = '▁▂▃▄▅▆▇█';
function spark(values: readonly number[]): string {
  const finite = values.filter(Number.isFinite);
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return values.map((v) => (Number.isFinite(v) ? BARS[hi > lo ? Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1)) : 0] : ' ')).join('');
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
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

export async function runSoak(args: BenchArgs, argv: readonly string[]): Promise<BenchResult> {
  const clientBin = goTool('loadclient');
  if (clientBin instanceof Error) {
    note(`soak skipped: ${clientBin.message}`);
    return { bench: 'soak', summary: [['soak', 'skipped', clientBin.message, '-']], data: { skipped: clientBin.message } };
  }
  const minutes = numArg(argv, '--soak-minutes', 0, false);
  const seconds = minutes > 0 ? minutes * 60 : numArg(argv, '--soak-seconds', args.quick ? 20 : 60, false);
  const rate = numArg(argv, '--soak-rate', 30, false);
  const services = numArg(argv, '--soak-services', 1000);
  const proxies = numArg(argv, '--soak-proxies', 2000);
  const k = Math.min(services, numArg(argv, '--soak-eds', 20));
  const protocol: Protocol = argv.includes('--protocols') ? args.protocols[0]! : 'sotw';
  const windowS = seconds >= 600 ? 60 : seconds >= 60 ? 5 : 2;
  process.stdout.write(
    `\nSoak: ${seconds} s at ${rate} pod changes/s, ${services} services × ${ENDPOINTS} endpoints, ${proxies} proxies (${protocol}, CDS wildcard + EDS for ${k} services each, ` +
      `${Math.round((proxies * k) / services)} subscribers per service)\n`,
  );

  const server = await startServerProcess('herald', services, ENDPOINTS);
  let client: GoClient | undefined;
  try {
    client = await GoClient.start(clientBin, { port: server.port, protocol, n: proxies, clusters: services, eds: k });
    const c = client.connected;
    if (c.ready < proxies) throw new Error(`${c.ready}/${proxies} proxies configured (${c.failed} failed)`);
    note(`connected ${proxies} proxies in ${ms(c.ms, 0)} ms`);
    await sleep(500);

    const counts = new Array<number>(services).fill(ENDPOINTS);
    const rand = prng(15);
    const startedAt = new Map<number, number>(); // id → performance.now() at publish
    const done: Array<{ at: number; conv: number; p50: number }> = [];
    client.onUpdate = (u: UpdateResult) => {
      const at = startedAt.get(u.id);
      if (at === undefined) return;
      startedAt.delete(u.id);
      done.push({ at, conv: u.ackMs.max, p50: u.ackMs.p50 });
    };

    const windows: SoakWindow[] = [];
    const t0 = performance.now();
    let s0 = await server.stats();
    let c0 = await client.cpu();
    let lastWindow = t0;
    let id = 0;
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      const due = t0 + (id * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const svc = Math.floor(rand() * services);
      const cur = counts[svc]!;
      const next = cur >= ENDPOINTS + 2 ? cur - 1 : cur <= ENDPOINTS - 2 ? cur + 1 : rand() < 0.5 ? cur - 1 : cur + 1;
      counts[svc] = next;
      id++;
      await client.expect(id, `svc-${svc}`, next);
      const at = performance.now();
      startedAt.set(id, at);
      client.start(id, await server.update(id, `svc-${svc}`, next));
      if (performance.now() - lastWindow >= windowS * 1000) {
        const now = performance.now();
        const s1 = await server.stats();
        const c1 = await client.cpu();
        // Changes published in the window that just ended and already converged.
        const inWin = done.filter((d) => d.at >= lastWindow && d.at < now);
        const st = stats(inWin.map((d) => d.conv));
        const w: SoakWindow = {
          atS: (now - t0) / 1000,
          changes: inWin.length,
          p50: st.p50,
          p99: st.p99,
          max: st.max,
          open: startedAt.size,
          rssMb: s1.rssKb / 1024,
          heapMb: (s1.heapKb ?? NaN) / 1024,
          serverCpuPct: ((s1.cpuUs - s0.cpuUs) / 1000 / (now - lastWindow)) * 100,
          clientCpuPct: ((c1.cpuUs - c0.cpuUs) / 1000 / (now - lastWindow)) * 100,
        };
        windows.push(w);
        process.stdout.write(
          `   t=${fixed(w.atS, 0).padStart(4)} s  changes ${String(w.changes).padStart(4)}  convergence p50/p99/max ${ms(w.p50)}/${ms(w.p99)}/${ms(w.max)} ms  open ${w.open}  ` +
            `Herald RSS ${fixed(w.rssMb, 0)} MB (heap ${fixed(w.heapMb, 0)}), CPU ${fixed(w.serverCpuPct, 0)}%  client CPU ${fixed(w.clientCpuPct, 0)}%\n`,
        );
        s0 = s1;
        c0 = c1;
        lastWindow = now;
      }
    }
    // Let the last changes converge.
    const drainBy = performance.now() + 10_000;
    while (startedAt.size > 0 && performance.now() < drainBy) await sleep(50);
    const unconverged = startedAt.size;
    const all = stats(done.map((d) => d.conv));
    const perProxyP50 = stats(done.map((d) => d.p50)).p50;
    const rssXs = windows.map((w) => w.atS);
    const rssYs = windows.map((w) => w.rssMb);
    // Growth over the second half (the first windows include warm-up).
    const half = Math.floor(windows.length / 2);
    const growthPerMin = slope(rssXs.slice(half), rssYs.slice(half)) * 60;
    const heapGrowth = slope(rssXs.slice(half), windows.slice(half).map((w) => w.heapMb)) * 60;
    printTable(
      `Soak: ${id} changes in ${seconds} s (${fixed(id / seconds, 1)}/s), ${proxies} proxies, ${services} services × ${ENDPOINTS} endpoints`,
      ['figure', 'value'],
      [
        ['convergence (last subscriber ACKed) p50 / p99 / max', `${ms(all.p50)} / ${ms(all.p99)} / ${ms(all.max)} ms`],
        ['a typical subscriber: ACK p50 of a change (median over changes)', `${ms(perProxyP50)} ms`],
        ['changes that never converged (10 s after the end)', String(unconverged)],
        ['p99 per window', spark(windows.map((w) => w.p99)) + `  (${ms(Math.min(...windows.map((w) => w.p99)))}..${ms(Math.max(...windows.map((w) => w.p99)))} ms)`],
        ['Herald RSS per window', spark(rssYs) + `  (${fixed(Math.min(...rssYs), 0)}..${fixed(Math.max(...rssYs), 0)} MB)`],
        ['Herald heap in use per window (no GC forced)', spark(windows.map((w) => w.heapMb)) + `  (${fixed(Math.min(...windows.map((w) => w.heapMb)), 0)}..${fixed(Math.max(...windows.map((w) => w.heapMb)), 0)} MB)`],
        ['Herald RSS growth, second half', `${fixed(growthPerMin, 1)} MB/min (heap ${fixed(heapGrowth, 1)} MB/min)`],
        ['Herald CPU (mean of windows)', `${fixed(stats(windows.map((w) => w.serverCpuPct)).mean, 0)}%`],
      ],
    );
    const summary: Array<[string, string, string, string]> = [
      [`soak ${seconds} s @ ${rate}/s, ${proxies} proxies: convergence p99`, `${ms(all.p99)} ms`, `max ${ms(all.max)} ms`, '-'],
      [`soak: Herald RSS growth (second half)`, `${fixed(growthPerMin, 1)} MB/min`, `RSS ${fixed(Math.min(...rssYs), 0)}..${fixed(Math.max(...rssYs), 0)} MB`, '-'],
    ];
    if (unconverged > 0) summary.push(['soak: changes never converged', String(unconverged), '-', '-']);
    return { bench: 'soak', summary, data: { seconds, rate, services, proxies, k, changes: id, unconverged, convergence: all, perProxyP50, growthPerMin, heapGrowth, windows } };
  } finally {
    await client?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
  }
}

if (require.main === module) runBench(runSoak);
