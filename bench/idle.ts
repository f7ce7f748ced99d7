/**
 * Idle RSS: a started Herald (`startHerald` on a one-service file source, as `herald serve` runs it) with no proxy
 * connected, each in a fresh process (this file forked with `--one <what>`), measured twice: 1 s after start with
 * a forced GC, and once idle for `SETTLE_MS` (V8's memory reducer runs after some seconds without allocation and
 * gives back the young generation the start grew: what a Herald that has been idle a while holds). For context, in
 * the same run: bare Node, and Node with Herald's dependencies loaded but nothing started (what the modules alone
 * cost). Also printed: where the schema came from (the pre-built descriptor, or the .proto files when the build
 * did not write one: `make build` does) and the V8 heap spaces. The three processes run side by side.
 *
 *   node dist/bench/idle.js            # about 20 s
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
// Nothing of Herald or the bench is imported at the top: the child measuring bare Node must load nothing else.
import type { BenchResult } from './common';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function gc(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

type What = 'node' | 'modules' | 'herald';

/** How long a process stays idle before the second reading. */
const SETTLE_MS = 15_000;

interface IdleSample {
  readonly what: What;
  /** 1 s after start, forced GC. */
  readonly rssMb: number;
  /** After SETTLE_MS idle (no forced GC). */
  readonly settledRssMb: number;
  readonly settledHeapMb: number;
  readonly heapUsedMb: number;
  readonly newSpaceMb: number;
  readonly oldSpaceMb: number;
  readonly startMs: number;
  readonly schema: string;
}

const mb = (b: number) => b / (1 << 20);

async function measure(what: What): Promise<IdleSample> {
  const t0 = performance.now();
  let stop: (() => Promise<void>) | undefined;
  let schema = '-';
  if (what !== 'node') {
    // The dependencies the product loads at start (main.ts and what it imports).
    const { loadConfig } = await import('../src/config/config');
    const { startHerald } = await import('../src/main');
    if (what === 'herald') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-idle-'));
      fs.writeFileSync(path.join(dir, 'services.yaml'), 'services:\n  - name: web\n    endpoints:\n      - { address: 10.0.0.1, port: 8080 }\n');
      fs.writeFileSync(path.join(dir, 'herald.yaml'), 'xds: { address: 127.0.0.1, port: 0 }\nadmin: { address: 127.0.0.1, port: 0 }\nsources: [{ kind: file, path: services.yaml }]\n');
      const { createTelemetry } = await import('../src/telemetry');
      const h = await startHerald(loadConfig(path.join(dir, 'herald.yaml')), { telemetry: createTelemetry({ log: { level: 'error' } }) });
      stop = async () => {
        await h.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      };
      schema = (await import('../src/xds/protos')).schemaSource() ?? '-';
    }
  }
  const startMs = performance.now() - t0;
  await sleep(1000);
  gc();
  await sleep(100);
  gc();
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]));
  await sleep(SETTLE_MS);
  const settled = process.memoryUsage();
  const sample = {
    what,
    rssMb: mb(m.rss),
    settledRssMb: mb(settled.rss),
    settledHeapMb: mb(settled.heapTotal),
    heapUsedMb: mb(m.heapUsed),
    newSpaceMb: mb(spaces.new_space ?? 0),
    oldSpaceMb: mb(spaces.old_space ?? 0),
    startMs,
    schema,
  };
  await stop?.();
  return sample;
}

function inChild(what: What): Promise<IdleSample> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--one', what], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
    let result: IdleSample | undefined;
    child.on('message', (m: { type: string; sample: IdleSample }) => {
      if (m.type === 'idle') result = m.sample;
    });
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`idle bench (${what}) exited with ${code}`))));
  });
}

export async function runIdle(): Promise<BenchResult> {
  const { note, printTable } = await import('./common');
  const rows = await Promise.all((['node', 'modules', 'herald'] as const).map(inChild));
  const label: Record<What, string> = { node: 'bare Node', modules: "Herald's modules loaded, nothing started", herald: 'Herald started (file source), idle' };
  printTable(
    'Idle RSS: settled after an idle wait, and 1 s after start with a forced GC (target: Herald ≤ 60 MB)',
    ['process', `RSS MB idle ${SETTLE_MS / 1000} s`, 'heap MB', 'RSS MB at 1 s (GC)', 'heap used MB', 'new space MB', 'old space MB', 'start ms', 'schema'],
    rows.map((r) => [
      label[r.what],
      r.settledRssMb.toFixed(1),
      r.settledHeapMb.toFixed(1),
      r.rssMb.toFixed(1),
      r.heapUsedMb.toFixed(1),
      r.newSpaceMb.toFixed(1),
      r.oldSpaceMb.toFixed(1),
      r.what === 'node' ? '-' : r.startMs.toFixed(0),
      r.schema,
    ]),
  );
  note('heap MB: V8 heap committed after the idle wait. new/old space: V8 pages resident at 1 s, after the forced GC.');
  note('About 40 MB of any Node process is the binary itself (shared, file-backed).');
  const h = rows.find((r) => r.what === 'herald')!;
  const floor = rows.find((r) => r.what === 'modules')!;
  return {
    bench: 'idle',
    summary: [
      [`idle RSS (Herald started, idle ${SETTLE_MS / 1000} s, schema from ${h.schema})`, `${h.settledRssMb.toFixed(1)} MB`, `modules alone ${floor.settledRssMb.toFixed(1)} MB; target 60 MB`, `${(h.settledRssMb / 60).toFixed(2)}× target`],
      [`idle RSS 1 s after start (forced GC)`, `${h.rssMb.toFixed(1)} MB`, `modules alone ${floor.rssMb.toFixed(1)} MB`, `${(h.rssMb / 60).toFixed(2)}× target`],
    ],
    data: rows,
  };
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const one = argv.indexOf('--one');
  if (one >= 0) {
    measure(argv[one + 1] as What)
      .then((sample) => new Promise<void>((resolve) => (process.send ? process.send({ type: 'idle', sample }, undefined, {}, () => resolve()) : (console.log(JSON.stringify(sample)), resolve()))))
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`${(err as Error).stack}\n`);
        process.exit(1);
      });
  } else {
    Promise.all([runIdle(), import('./common')])
      .then(([result, { reportResult }]) => reportResult(result))
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`${(err as Error).stack}\n`);
        process.exit(1);
      });
  }
}
