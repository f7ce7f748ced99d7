/**
 * Idle RSS: a started Herald (`startHerald` on a one-service file source, as `herald serve` runs it) with no proxy
 * connected, after a forced GC, each in a fresh process (this file forked with `--one <what>`). For context, in
 * the same run: bare Node, and Node with Herald's dependencies loaded but nothing started (what the modules alone
 * cost). Also printed: where the schema came from (the pre-built descriptor, or the .proto files when the build
 * did not write one: `make build` does) and the V8 heap spaces.
 *
 *   node dist/bench/idle.js            # about 5 s
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

interface IdleSample {
  readonly what: What;
  readonly rssMb: number;
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
      const { setLogLevel } = await import('../src/log/log');
      setLogLevel('error');
      const h = await startHerald(loadConfig(path.join(dir, 'herald.yaml')));
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
  const sample = { what, rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), newSpaceMb: mb(spaces.new_space ?? 0), oldSpaceMb: mb(spaces.old_space ?? 0), startMs, schema };
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
  const rows: IdleSample[] = [];
  for (const what of ['node', 'modules', 'herald'] as const) rows.push(await inChild(what));
  const label: Record<What, string> = { node: 'bare Node', modules: "Herald's modules loaded, nothing started", herald: 'Herald started (file source), idle' };
  printTable(
    'Idle RSS after start, forced GC (target: Herald ≤ 60 MB)',
    ['process', 'RSS MB', 'heap used MB', 'new space MB', 'old space MB', 'start ms', 'schema'],
    rows.map((r) => [label[r.what], r.rssMb.toFixed(1), r.heapUsedMb.toFixed(1), r.newSpaceMb.toFixed(1), r.oldSpaceMb.toFixed(1), r.what === 'node' ? '-' : r.startMs.toFixed(0), r.schema]),
  );
  note('new/old space: V8 pages resident (physical). About 40 MB of any Node process is the binary itself (shared, file-backed).');
  const h = rows.find((r) => r.what === 'herald')!;
  const floor = rows.find((r) => r.what === 'modules')!;
  return {
    bench: 'idle',
    summary: [[`idle RSS (Herald started, schema from ${h.schema})`, `${h.rssMb.toFixed(1)} MB`, `modules alone ${floor.rssMb.toFixed(1)} MB; target 60 MB`, `${(h.rssMb / 60).toFixed(2)}× target`]],
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
