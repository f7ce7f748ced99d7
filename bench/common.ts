/**
 * Shared helpers of the benchmarks: model builders, statistics, table printing, forced GC and the IPC shape a
 * benchmark process reports its result in. Benchmarks print figures; nothing here asserts on timing.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { Level } from '../src/log/log';
import { createTelemetry, type Telemetry } from '../src/telemetry';
import type { Endpoint, Health, Mesh, Service } from '../src/model/types';

/**
 * The metrics and logger of a benchmark's Herald parts: only errors are logged (1,000 "stream opened" lines would
 * cost more than what is measured).
 */
export function quietTelemetry(level: Level = 'error'): Telemetry {
  return createTelemetry({ log: { level } });
}

// ---------------------------------------------------------------------------------------------------- model

export const ZONES = ['zone-a', 'zone-b', 'zone-c'] as const;

/** The i-th endpoint of service number `svc`: a pod-like endpoint (10.x.y.z:8080, a zone, a `pod` label). */
export function endpoint(svc: number, i: number, opts: { weight?: number; health?: Health } = {}): Endpoint {
  const n = svc * 4096 + i;
  return {
    address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    port: 8080,
    health: opts.health ?? 'HEALTHY',
    zone: ZONES[i % ZONES.length]!,
    weight: opts.weight ?? 1,
    source: 'kubernetes/pods',
    labels: { pod: `default/svc-${svc}-${i.toString(36).padStart(5, '0')}` },
  };
}

/** Endpoints sorted by address then port, as the model requires. */
export function sortEndpoints(eps: Endpoint[]): Endpoint[] {
  return eps.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

export function service(svc: number, count: number, weightOf: (i: number) => number = () => 1): Service {
  const eps: Endpoint[] = [];
  for (let i = 0; i < count; i++) eps.push(endpoint(svc, i, { weight: weightOf(i) }));
  return { name: serviceName(svc), endpoints: sortEndpoints(eps), policy: {} };
}

export function serviceName(svc: number): string {
  return `svc-${svc}`;
}

export function meshOf(services: Iterable<Service>): Mesh {
  return { services: new Map([...services].map((s) => [s.name, s])) };
}

/** The mesh with one service replaced (endpoints only; same policy object, so the publisher takes its fast path). */
export function withService(mesh: Mesh, s: Service): Mesh {
  const services = new Map(mesh.services);
  services.set(s.name, s);
  return { services };
}

// ------------------------------------------------------------------------------------------------ statistics

export interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN, mean: s.length ? sum / s.length : NaN };
}

// ------------------------------------------------------------------------------------------------ formatting

export function ms(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return '-';
  return x < 1 && digits < 3 ? x.toFixed(3) : x.toFixed(digits);
}

export function fixed(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '-';
}

export function kb(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`;
}

/** Prints a left-aligned table: header row, a rule, the rows. */
export function printTable(title: string, headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [`\n== ${title}`, line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  process.stdout.write(out.join('\n') + '\n');
}

export function note(text: string): void {
  process.stdout.write(`   ${text}\n`);
}

// ----------------------------------------------------------------------------------------------- runtime

let gcFn: (() => void) | undefined;

/** A full garbage collection (V8's gc, exposed at run time so `node dist/bench/x.js` needs no flag). */
export function gc(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
}

/** User + system CPU in microseconds since `from` (a process.cpuUsage() value). */
export function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return d.user + d.system;
}

export const sleep = (msec: number) => new Promise<void>((r) => setTimeout(r, msec));

/** A time comparable across processes on this machine: epoch milliseconds with sub-millisecond resolution. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

// ------------------------------------------------------------------------------------------------ arguments

export interface BenchArgs {
  /** Stream counts of the fan-out benchmark. */
  readonly n: number[];
  /** Measured changes per (scenario, payload, mode). */
  readonly changes: number;
  readonly protocols: Array<'sotw' | 'delta'>;
  /** Streams for the memory benchmark. */
  readonly idle: number;
  /** Benchmarks to run (run.ts). */
  readonly only: string[];
  readonly quick: boolean;
}

/** `--n 100,500,1000 --changes 6 --protocols sotw,delta --idle 1000 --only fanout,pipeline,memory --quick` */
/** A positive number flag (`--flag N` or `--flag=N`); `def` when absent or not a positive (integer, unless `integer` is false) number. */
export function numArg(argv: readonly string[], flag: string, def: number, integer = true): number {
  const i = argv.indexOf(flag);
  const v = Number(i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1));
  return (integer ? Number.isInteger(v) : Number.isFinite(v)) && v > 0 ? v : def;
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i >= 0) return argv[i + 1];
    const eq = argv.find((a) => a.startsWith(`${flag}=`));
    return eq?.slice(flag.length + 1);
  };
  const list = (flag: string, def: string) => (get(flag) ?? def).split(',').map((s) => s.trim()).filter(Boolean);
  const quick = argv.includes('--quick');
  const protocols = list('--protocols', 'sotw,delta').filter((p): p is 'sotw' | 'delta' => p === 'sotw' || p === 'delta');
  return {
    n: list('--n', quick ? '100,1000' : '100,500,1000').map(Number).filter((x) => Number.isInteger(x) && x > 0),
    changes: Number(get('--changes') ?? (quick ? 3 : 6)),
    protocols,
    idle: Number(get('--idle') ?? 1000),
    only: list('--only', 'pipeline,fanout,memory,hostile'),
    quick,
  };
}

// ---------------------------------------------------------------------------------------------------- IPC

/** What a benchmark process sends its parent (run.ts) when done. */
export interface BenchResult {
  readonly bench: string;
  /** Rows of the final summary: figure, measured, compared-with, ratio. */
  readonly summary: ReadonlyArray<readonly [string, string, string, string]>;
  /** Everything measured, for the JSON line. */
  readonly data: unknown;
}

/**
 * A benchmark file's entry when run alone or by run.ts: runs `run` on the command line's arguments, hands its
 * result on (reportResult) and exits; a failure prints its stack and exits 1.
 */
export function runBench(run: (args: BenchArgs, argv: readonly string[]) => Promise<BenchResult>): void {
  const argv = process.argv.slice(2);
  run(parseArgs(argv), argv)
    .then(reportResult)
    .then(() => process.exit(0))
    .catch((err) => {
      process.stderr.write(`${(err as Error).stack}
`);
      process.exit(1);
    });
}

/** Hands the result to the parent process if there is one; always returns it. */
export async function reportResult(result: BenchResult): Promise<BenchResult> {
  const send = process.send?.bind(process);
  if (send) await new Promise<void>((resolve) => send({ type: 'result', result }, undefined, {}, () => resolve()));
  return result;
}

/** Marks an endpoint list changed: `endpoints` gets a new array, so the publisher's identity check sees it. */
export function reweighted(s: Service, index: number, weight: number): Service {
  const endpoints = s.endpoints.map((e, i) => (i === index ? { ...e, weight } : e));
  return { ...s, endpoints };
}

export type { Mesh, Service, Endpoint };
