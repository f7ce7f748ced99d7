/**
 * Structured logging: one JSON object per line on stderr. `limited` rate-limits a noisy key so a flood of
 * bad input produces a handful of lines, with a count of what was suppressed.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold: number = ORDER[(process.env.HERALD_LOG_LEVEL as Level) ?? 'info'] ?? ORDER.info;

export function setLogLevel(level: Level): void {
  threshold = ORDER[level];
}

/** Whether a line at `level` would be written: guard building costly fields for a filtered level with it. */
export function logEnabled(level: Level): boolean {
  return ORDER[level] >= threshold;
}

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < threshold) return;
  const line = JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields });
  process.stderr.write(line + '\n');
}

const windows = new Map<string, { until: number; suppressed: number }>();

/** Logs at most once per `windowMs` for `key`; the next line logged says how many were suppressed. */
export function limited(key: string, level: Level, msg: string, fields: Record<string, unknown> = {}, windowMs = 10_000): void {
  const now = Date.now();
  const w = windows.get(key);
  if (w && now < w.until) {
    w.suppressed++;
    return;
  }
  const suppressed = w?.suppressed ?? 0;
  // Keys may name streams or pods that come and go: drop expired windows before the map grows large.
  if (windows.size >= 10_000) for (const [k, v] of windows) if (v.until <= now) windows.delete(k);
  windows.set(key, { until: now + windowMs, suppressed: 0 });
  log(level, msg, suppressed > 0 ? { ...fields, suppressed } : fields);
}
