/** Polling helpers shared by the lab. */

/** Resolves after `ms`, or at once (clearing its timer) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls `probe` every `intervalMs` until it returns a value other than undefined/false, and returns
 * that value. Throws after `timeoutMs` with `what` and the last error `probe` threw, if any; throws at
 * once if `abortIf` returns an error message (e.g. the process being waited for has exited).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs: number; intervalMs?: number; abortIf?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const abort = opts.abortIf?.();
    if (abort) throw new Error(`${what}: ${abort}`);
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const last = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${last}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
