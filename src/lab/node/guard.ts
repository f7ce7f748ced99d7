/**
 * The guard of one real-node run: `node guard.js <runDir>`, started detached by the harness with a pipe
 * on stdin that nobody writes to. When that pipe closes (the harness stopped, crashed or was SIGKILLed),
 * the guard runs cleanupRun(runDir) and exits. It outlives the harness by design (own process group),
 * and logs one line to stdout (the harness points it at <root>/<id>.guard.log).
 */
import { cleanupRun } from './cleanup';

function main(): void {
  const runDir = process.argv[2];
  if (!runDir) {
    process.stderr.write('usage: guard.js <runDir>\n');
    process.exit(2);
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => undefined);
  let done = false;
  const finish = async () => {
    if (done) return;
    done = true;
    await cleanupRun(runDir, (m) => process.stdout.write(`${new Date().toISOString()} guard: ${m}\n`));
    process.exit(0);
  };
  process.stdin.on('end', finish);
  process.stdin.on('close', finish);
  process.stdin.on('error', finish);
  process.stdin.resume();
}

if (require.main === module) main();
