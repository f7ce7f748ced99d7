/**
 * Two builds of Herald side by side on one soak (bench/soak.ts): by default the case of issue 15 — 1,000 services ×
 * 10 endpoints, 200 proxies subscribed (CDS wildcard, EDS) to all 1,000, 30 endpoint changes/s asked for 20 s.
 * Each build runs its own soak.js (so its own Herald) in turn, `--rounds` times, interleaved; printed: changes
 * the server kept up with, Herald CPU per change and per response, convergence (publish → last subscriber's ACK)
 * p50/p99, a typical subscriber's ACK p50, RSS and heap.
 *
 *   node dist/bench/soak-compare.js --before /path/to/other/dist [--rounds 1] [soak flags, e.g. --soak-seconds 20]
 *
 * The other build: e.g. `git worktree add /tmp/base main && cd /tmp/base && npm ci && npx tsc -p tsconfig.json`
 * (its dist/ must sit in a repository with node_modules and the Go load client, as this one's does).
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { fixed, ms, printTable, stats, type BenchResult } from './common';
import type { SoakWindow } from './soak';

interface SoakData {
  readonly seconds: number;
  readonly proxies: number;
  readonly services: number;
  readonly k: number;
  readonly changes: number;
  readonly unconverged: number;
  readonly convergence: { p50: number; p99: number; max: number };
  readonly perProxyP50: number;
  readonly windows: readonly SoakWindow[];
}

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

function runSoak(dist: string, argv: readonly string[]): Promise<SoakData> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(dist, 'bench', 'soak.js'), [...argv], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: BenchResult | undefined;
    child.on('message', (m: { type: string; result: BenchResult }) => {
      if (m.type === 'result') result = m.result;
    });
    child.on('exit', (code) => {
      const data = result?.data as SoakData | undefined;
      if (data && Array.isArray(data.windows)) resolve(data);
      else reject(new Error(`${dist}: soak exited ${code} without a result`));
    });
  });
}

/** Herald's CPU over the windows, ms (each window's share × its length). */
function cpuMs(d: SoakData): number {
  let prev = 0;
  let total = 0;
  for (const w of d.windows) {
    total += (w.serverCpuPct / 100) * (w.atS - prev) * 1000;
    prev = w.atS;
  }
  return total;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const before = flag(argv, '--before');
  if (!before) throw new Error('--before DIST (the dist/ directory of the build to compare with) is required');
  const rounds = Number(flag(argv, '--rounds') ?? 1);
  const defaults: Record<string, string> = { '--soak-services': '1000', '--soak-proxies': '200', '--soak-eds': '1000', '--soak-seconds': '20', '--soak-rate': '30' };
  const passed = argv.filter((a, i) => !['--before', '--rounds'].includes(a) && !['--before', '--rounds'].includes(argv[i - 1] ?? ''));
  const soakArgs = [...passed];
  for (const [k, v] of Object.entries(defaults)) if (flag(passed, k) === undefined) soakArgs.push(k, v);
  const builds = [
    { name: 'before', dist: path.resolve(before) },
    { name: 'after', dist: path.resolve(__dirname, '..') },
  ];
  const results = new Map<string, SoakData[]>(builds.map((b) => [b.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const b of r % 2 === 0 ? builds : [...builds].reverse()) {
      process.stdout.write(`\n## ${b.name} (${b.dist}), round ${r + 1}/${rounds}\n`);
      results.get(b.name)!.push(await runSoak(b.dist, soakArgs));
    }
  }
  const rows: string[][] = [];
  const col = (f: (d: SoakData) => string) => builds.map((b) => results.get(b.name)!.map(f).join(' | '));
  const d0 = results.get('after')![0]!;
  const perChange = (d: SoakData) => cpuMs(d) / Math.max(1, d.changes);
  const responsesPerChange = (d: SoakData) => (d.proxies * d.k) / d.services;
  rows.push(['changes published (asked: rate × seconds)', ...col((d) => `${d.changes} (${fixed(d.changes / d.seconds, 1)}/s)`)]);
  rows.push(['Herald CPU per change', ...col((d) => `${fixed(perChange(d), 1)} ms`)]);
  rows.push(['Herald CPU per response', ...col((d) => `${fixed((perChange(d) * 1000) / responsesPerChange(d), 0)} µs`)]);
  rows.push(['convergence p50 / p99 (publish → last ACK)', ...col((d) => `${ms(d.convergence.p50)} / ${ms(d.convergence.p99)} ms`)]);
  rows.push(['a typical subscriber: ACK p50', ...col((d) => `${ms(d.perProxyP50)} ms`)]);
  rows.push(['Herald RSS (windows)', ...col((d) => `${fixed(Math.min(...d.windows.map((w) => w.rssMb)), 0)}..${fixed(Math.max(...d.windows.map((w) => w.rssMb)), 0)} MB`)]);
  rows.push(['Herald heap in use, median of windows', ...col((d) => `${fixed(stats(d.windows.map((w) => w.heapMb)).p50, 0)} MB`)]);
  rows.push(['changes never converged', ...col((d) => String(d.unconverged))]);
  printTable(
    `Soak compared: ${d0.services} services, ${d0.proxies} proxies × EDS for ${d0.k} services, ${soakArgs.join(' ')}`,
    ['figure', ...builds.map((b) => b.name)],
    rows,
  );
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
