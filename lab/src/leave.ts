/**
 * Ends a lab command whose results are out, with its exit code, by process.exit() rather than by letting the event
 * loop run dry. Node's own exit after a dry loop tears the environment down (FreeEnvironment → CleanupHandles),
 * which runs uv_run until every cancelled request has returned; after the real-node lab that sometimes never
 * happens (2 of 8 runs): the process spins at 100% CPU with no JavaScript left to run (perf: __vdso_clock_gettime ←
 * uv_run ← node::Environment::CleanupHandles ← FreeEnvironment; cf. nodejs/node#47748). process.exit() skips that
 * teardown. Handles other than stdio get up to `graceMs` to close (a child just stopped still has its pipes open
 * for a moment); those still open then are named, so a teardown that missed one is still seen.
 */
/** A handle as a log names it: its class, and for a socket its kind (Pipe, TCP) and the far end, or where it is still connecting to. */
function describe(h: object): string {
  const name = h.constructor?.name ?? typeof h;
  const s = h as { _handle?: object | null; remoteAddress?: string; remotePort?: number; connecting?: boolean; _host?: string | null };
  if (name !== 'Socket') return name;
  const kind = s._handle?.constructor?.name ?? 'closed';
  if (s.remoteAddress) return `Socket(${kind} ${s.remoteAddress}:${s.remotePort})`;
  if (s.connecting) return `Socket(${kind} connecting to ${s._host ?? 'an address'})`;
  const x = h as { readyState?: string; localPort?: number; server?: unknown; destroyed?: boolean; _peername?: { address?: string; port?: number } };
  return `Socket(${kind} ${x.server ? 'accepted' : 'outgoing'}, ${x.readyState}${x.destroyed ? ', destroyed' : ''}, local port ${x.localPort ?? '-'}${x._peername?.address ? `, was ${x._peername.address}:${x._peername.port}` : ''})`;
}

export function leave(log: (m: string) => void, graceMs = 1000): void {
  const stdio = (h: object) => [0, 1, 2].includes((h as { fd?: number }).fd ?? -1);
  const open = () => ((process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? []).filter((h) => !stdio(h));
  const until = Date.now() + graceMs;
  const check = () => {
    const left = open();
    if (left.length > 0 && Date.now() < until) return void setTimeout(check, 50);
    if (left.length > 0) log(`still open ${graceMs} ms after the run ended: ${left.map(describe).join(', ')}`);
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  };
  check();
}
