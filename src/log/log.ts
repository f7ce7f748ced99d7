/**
 * Structured logging: one JSON object per line (`{"t","level","msg",...fields}`) on the logger's sink (stderr unless
 * told otherwise). `limited` rate-limits a noisy key so a flood of bad input produces a handful of lines, with a
 * count of what was suppressed.
 *
 * Ownership: a `Logger` owns its level and its rate-limit windows; nothing here is module state. Each Herald
 * instance creates one (startHerald) and hands it to its stages, so two Heralds in one process log at their own
 * levels; a CLI tool outside Herald creates its own.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where lines go: a writable stream or anything with `write(line)` (tests collect lines). */
export interface LogSink {
  write(line: string): unknown;
}

export interface LoggerOptions {
  /** Default: HERALD_LOG_LEVEL when it names a level, else `info`. */
  readonly level?: Level;
  /** Default: process.stderr. */
  readonly sink?: LogSink;
}

/** At most this many rate-limit keys: past it expired windows go, then the oldest (their next line is logged). */
const MAX_WINDOWS = 10_000;

export function isLevel(s: unknown): s is Level {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ORDER, s);
}

export class Logger {
  private threshold: number;
  private readonly sink: LogSink;
  private readonly windows = new Map<string, { until: number; suppressed: number }>();

  constructor(o: LoggerOptions = {}) {
    const env = process.env.HERALD_LOG_LEVEL;
    this.threshold = ORDER[o.level ?? (isLevel(env) ? env : 'info')];
    this.sink = o.sink ?? process.stderr;
  }

  /** Lines below `level` are dropped from now on (this logger only). */
  setLevel(level: Level): void {
    this.threshold = ORDER[level];
  }

  /** Whether a line at `level` would be written: guard building costly fields for a filtered level with it. */
  enabled(level: Level): boolean {
    return ORDER[level] >= this.threshold;
  }

  write(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[level] < this.threshold) return;
    this.sink.write(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }) + '\n');
  }

  /** Logs at most once per `windowMs` for `key`; the next line logged says how many were suppressed. */
  limited(key: string, level: Level, msg: string, fields: Record<string, unknown> = {}, windowMs = 10_000): void {
    const now = Date.now();
    const w = this.windows.get(key);
    if (w && now < w.until) {
      w.suppressed++;
      return;
    }
    const suppressed = w?.suppressed ?? 0;
    // Keys may name streams or pods that come and go: at the bound drop expired windows, and if every window is
    // live (a flood of distinct keys) the oldest tenth too, so a scan happens at most once per MAX_WINDOWS/10 keys.
    if (this.windows.size >= MAX_WINDOWS) {
      for (const [k, v] of this.windows) if (v.until <= now) this.windows.delete(k);
      if (this.windows.size >= MAX_WINDOWS) {
        let drop = MAX_WINDOWS / 10;
        for (const k of this.windows.keys()) {
          if (drop-- <= 0) break;
          this.windows.delete(k);
        }
      }
    }
    this.windows.set(key, { until: now + windowMs, suppressed: 0 });
    this.write(level, msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }
}
