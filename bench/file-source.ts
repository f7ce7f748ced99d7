/**
 * Figures for the file source (not part of `make bench`'s table; run alone, prints lines):
 *   node dist/bench/file-source.js [latency|big|big10]
 * - write → handed on (p50/p99) with the default settleMs, for atomic renames and single in-place rewrites;
 * - 10 MB and 50 MB files: with the default limits, and with maxBytes raised so the parse itself is bounded
 *   (worker heap, endpoint limit); a 100k-endpoint file within the limits. For each: time to the outcome,
 *   the longest event-loop stall meanwhile and peak RSS.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { FileSource, FILE_SOURCE_DEFAULTS, fileSourceMetrics, type FileSourceOptions } from '../src/sources/file/file-source';
import { quietTelemetry } from './common';

/** One registry for every source of the run (each source has its own name); only errors are logged. */
const telemetry = quietTelemetry();
const rejects = fileSourceMetrics(telemetry.metrics).rejects;

function text(endpoints: number, port = 8000): string {
  const per = 1000;
  let s = 'services:\n';
  for (let k = 0; k * per < endpoints; k++) {
    s += `  - name: svc-${k}\n    endpoints:\n`;
    for (let i = 0; i < Math.min(per, endpoints - k * per); i++) s += `      - {address: 10.${k & 255}.${(i >> 8) & 255}.${i & 255}, port: ${port}, zone: a}\n`;
  }
  return s;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

async function source(initial: string, o: Partial<FileSourceOptions> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-bench-file-'));
  const file = path.join(dir, 'services.yaml');
  fs.writeFileSync(file, initial);
  const name = `bench-${++seq}`;
  let updates = 0;
  const src = new FileSource({ name, path: file, ...o, telemetry });
  await src.start({ update: () => updates++ });
  return { file, name, src, updates: () => updates, rejected: () => ['too-big', 'too-many-endpoints', 'invalid'].map((r) => [r, rejects.get({ source: name, reason: r })] as const).find(([, n]) => n > 0)?.[0] };
}

async function latency(kind: 'rename' | 'in-place'): Promise<void> {
  const s = await source(text(400));
  const ms: number[] = [];
  for (let i = 0; i < 20; i++) {
    const before = s.updates();
    const body = text(400, 9000 + i);
    const t0 = performance.now();
    if (kind === 'rename') {
      fs.writeFileSync(`${s.file}.tmp`, body);
      fs.renameSync(`${s.file}.tmp`, s.file);
    } else fs.writeFileSync(s.file, body);
    while (s.updates() === before) await sleep(1);
    ms.push(performance.now() - t0);
  }
  await s.src.stop();
  console.log(`write → handed on, ${kind}, 400 endpoints, settleMs ${FILE_SOURCE_DEFAULTS.settleMs}: p50 ${pct(ms, 0.5).toFixed(0)} ms, p99 ${pct(ms, 0.99).toFixed(0)} ms`);
}

async function big(label: string, body: string, o: Partial<FileSourceOptions>): Promise<void> {
  const s = await source(text(10), o);
  if (global.gc) global.gc();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const iv = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = performance.now();
  fs.writeFileSync(`${s.file}.tmp`, body);
  fs.renameSync(`${s.file}.tmp`, s.file);
  const written = performance.now();
  let outcome: string | undefined;
  while (!(outcome = s.updates() > 1 ? 'served' : s.rejected())) await sleep(5);
  const t1 = performance.now();
  h.disable();
  clearInterval(iv);
  await s.src.stop();
  console.log(
    `${label} (${(body.length / 1048576).toFixed(1)} MB): ${outcome} ${(t1 - written).toFixed(0)} ms after the write (write itself ${(written - t0).toFixed(0)} ms); ` +
      `longest event-loop stall ${(h.max / 1e6).toFixed(0)} ms; RSS ${(rss0 / 1048576).toFixed(0)} → peak ${(peak / 1048576).toFixed(0)} MB`,
  );
}

async function main(): Promise<void> {
  const only = process.argv[2];
  if (!only || only === 'latency') {
    await latency('rename');
    await latency('in-place');
  }
  if (only === 'big10') await big('10 MB, maxBytes 64 MiB', text(200_000).padEnd(10 * 1024 * 1024, '#'), { maxBytes: 64 * 1024 * 1024 });
  if (!only || only === 'big') {
    const ten = text(200_000).padEnd(10 * 1024 * 1024, '#');
    const fifty = text(1_000_000).padEnd(50 * 1024 * 1024, '#');
    await big('10 MB, default limits', ten, {});
    await big('50 MB, default limits', fifty, {});
    await big('100k endpoints, default limits', text(100_000), {});
    await big('10 MB, maxBytes 64 MiB', ten, { maxBytes: 64 * 1024 * 1024 });
    await big('50 MB, maxBytes 64 MiB', fifty, { maxBytes: 64 * 1024 * 1024 });
  }
}

void main();
