/**
 * The guard of one real-node run: `node guard.js <runDir>`, started detached by the harness with a pipe
 * on stdin. When that pipe closes (the harness stopped, crashed or was SIGKILLed), the guard runs
 * cleanupRun(runDir) and exits. It outlives the harness by design (own process group), and logs its
 * report to stdout (the harness points it at <runDir>.guard.log). A harness that stops normally writes
 * `stop` first and reads that log itself; otherwise the guard removes the log when the cleanup found no
 * problem, and the runs folder when it is empty.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanupRun } from './cleanup';

function main(): void {
  const runDir = process.argv[2];
  if (!runDir) {
    process.stderr.write('usage: guard.js <runDir>\n');
    process.exit(2);
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => undefined);
  let done = false;
  let harnessReads = false;
  const finish = async () => {
    if (done) return;
    done = true;
    const report = await cleanupRun(runDir, (m) => process.stdout.write(`${new Date().toISOString()} guard: ${m}\n`));
    if (!harnessReads && report.problems.length === 0) {
      fs.rmSync(`${runDir}.guard.log`, { force: true });
      try {
        fs.rmdirSync(path.dirname(runDir));
      } catch {
        /* other runs, or kept logs */
      }
    }
    process.exit(0);
  };
  process.stdin.on('data', (d: Buffer) => {
    if (d.toString().includes('stop')) harnessReads = true;
  });
  process.stdin.on('end', finish);
  process.stdin.on('close', finish);
  process.stdin.on('error', finish);
  process.stdin.resume();
}

if (require.main === module) main();
