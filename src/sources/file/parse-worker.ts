/**
 * Worker-thread entry: parses one services file (workerData: { text, source, maxEndpoints }) and posts the
 * ParseResult back. Runs in a worker so a large file never blocks Herald's event loop; its heap is capped by
 * the spawner (resourceLimits), so a file that would take too much memory fails this worker, not Herald.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseServicesFile } from './services-file';

const { text, source, maxEndpoints } = workerData as { text: string; source: string; maxEndpoints: number };
parentPort!.postMessage(parseServicesFile(text, source, { strict: false, maxEndpoints }));
