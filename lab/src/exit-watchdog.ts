/**
 * After a lab run's results are out, the process must leave. Two ways it might not, each named and ended:
 * - something still holds the event loop (a socket, a child's pipe): an unref'd timer fires after `afterMs`, lists
 *   the active handles and exits with the run's exit code;
 * - the event loop is starved (a synchronous or microtask loop, so no timer ever runs): a worker thread that stops
 *   hearing the main thread's heartbeat for `afterMs` pauses the main thread through the inspector, writes where it
 *   is (the top JavaScript frames) to stderr, and makes it exit with the run's exit code from there.
 */
import { Worker } from 'node:worker_threads';

const WATCHER = `
const { parentPort, workerData } = require('node:worker_threads');
const inspector = require('node:inspector');
const fs = require('node:fs');
let last = Date.now();
parentPort.on('message', () => { last = Date.now(); });
const tick = setInterval(() => {
  if (Date.now() - last < workerData.afterMs) return;
  clearInterval(tick);
  const s = new inspector.Session();
  s.connectToMainThread();
  s.on('Debugger.paused', (m) => {
    const frames = m.params.callFrames.slice(0, 15).map((f) => (f.functionName || '(anonymous)') + ' ' + f.url.replace(/^file:\\/\\//, '') + ':' + (f.location.lineNumber + 1));
    fs.writeSync(2, workerData.prefix + 'main thread has not run a timer for ' + (Date.now() - last) + ' ms; it is in: ' + frames.join(' <- ') + '; exiting\\n');
    s.post('Debugger.evaluateOnCallFrame', { callFrameId: m.params.callFrames[0].callFrameId, expression: "process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0)" });
  });
  s.post('Debugger.enable', () => s.post('Debugger.pause'));
}, 250);
`;

export function watchExit(log: (m: string) => void, prefix: string, afterMs = 10_000): void {
  const timer = setTimeout(() => {
    const handles = ((process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? []).map((h) => h.constructor?.name ?? typeof h);
    log(`still open ${afterMs / 1000} s after the run ended: ${handles.join(', ') || 'nothing listed'}; exiting`);
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  }, afterMs);
  timer.unref();
  const watcher = new Worker(WATCHER, { eval: true, workerData: { afterMs, prefix } });
  watcher.unref();
  const beat = setInterval(() => watcher.postMessage(0), 1_000);
  beat.unref();
}
