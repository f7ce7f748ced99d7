/**
 * Where a services file is parsed: small files inline (a few ms), larger ones in a short-lived worker thread
 * with a capped heap, so neither a slow parse nor a memory-hungry one can freeze or kill Herald. The result
 * is the same either way (parseServicesFile, non-strict).
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseServicesFile, type ParseResult } from './services-file';

export interface ParseLimits {
  readonly maxEndpoints: number;
  /** Files up to this many bytes are parsed on the event loop. */
  readonly inlineBytes: number;
  /** Heap cap of the parsing worker (MB). */
  readonly workerHeapMb: number;
  /** A worker still parsing after this long is ended, and the file refused. */
  readonly timeoutMs: number;
  /** Aborting ends a running worker (the source stopping). */
  readonly signal?: AbortSignal;
}

/** Parses `text`; never rejects (a failed worker is a refusal with its reason). */
export function parseServices(text: string, source: string, limits: ParseLimits): Promise<ParseResult> {
  if (Buffer.byteLength(text) <= limits.inlineBytes) {
    return Promise.resolve(parseServicesFile(text, source, { strict: false, maxEndpoints: limits.maxEndpoints }));
  }
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ParseResult) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    const worker = new Worker(path.join(__dirname, 'parse-worker.js'), {
      workerData: { text, source, maxEndpoints: limits.maxEndpoints },
      resourceLimits: { maxOldGenerationSizeMb: limits.workerHeapMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, limits.workerHeapMb >> 3)) },
      stdout: false,
      stderr: false,
    });
    worker.once('message', (r: ParseResult) => finish(r));
    worker.once('error', (err: Error & { code?: string }) =>
      finish({
        ok: false,
        problems: [err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `parsing needs more than ${limits.workerHeapMb} MB of heap` : `parser failed: ${err.message}`],
      }),
    );
    worker.once('exit', (code) => finish({ ok: false, problems: [`parser exited with code ${code} before answering`] }));
    const end = (problem: string) => {
      finish({ ok: false, problems: [problem] });
      void worker.terminate();
    };
    const timer = setTimeout(() => end(`parsing took longer than ${limits.timeoutMs} ms`), limits.timeoutMs);
    const onAbort = () => end('the source stopped');
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('exit', () => {
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
    });
  });
}
