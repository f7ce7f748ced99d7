/**
 * Ends a lab command whose results are out, with its exit code, by process.exit() rather than by letting the event
 * loop run dry. Node's own exit after a dry loop tears the environment down (FreeEnvironment → CleanupHandles),
 * which runs uv_run until every cancelled request has returned; after the real-node lab that sometimes never
 * happens (2 of 8 runs): the process spins at 100% CPU with no JavaScript left to run (perf: __vdso_clock_gettime ←
 * uv_run ← node::Environment::CleanupHandles ← FreeEnvironment; cf. nodejs/node#47748). process.exit() skips that
 * teardown. Handles still open (a teardown that missed a socket or a child's pipe) are named first, so a leak is
 * still seen.
 */
export function leave(log: (m: string) => void): void {
  const stdio: unknown[] = [process.stdin, process.stdout, process.stderr];
  const active = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? [];
  const open = active.filter((h) => !stdio.includes(h)).map((h) => h.constructor?.name ?? typeof h);
  if (open.length > 0) log(`still open when the run ended: ${open.join(', ')}`);
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
}
