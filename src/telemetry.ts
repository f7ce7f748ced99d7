/**
 * What every stage of one Herald instance writes its observations to: its metrics registry and its logger.
 * startHerald creates one `Telemetry` (or is given one) and hands it down; no stage reaches for a process-wide
 * registry or logger, so two Heralds in one process have separate /metrics and separate log levels.
 */
import { Metrics } from './admin/metrics';
import { Logger, type LoggerOptions } from './log/log';

export interface Telemetry {
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** A fresh registry and logger (each part may be given instead). */
export function createTelemetry(o: { metrics?: Metrics; log?: Logger | LoggerOptions } = {}): Telemetry {
  return {
    metrics: o.metrics ?? new Metrics(),
    log: o.log instanceof Logger ? o.log : new Logger(o.log),
  };
}
