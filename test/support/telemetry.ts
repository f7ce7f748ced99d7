/**
 * Telemetry for tests: a fresh metrics registry and logger per call (nothing shared between tests or instances),
 * and a logger whose lines a test can read.
 */
import { Logger, type Level } from '../../src/log/log';
import { createTelemetry, type Telemetry } from '../../src/telemetry';

/** A fresh registry and a logger at HERALD_LOG_LEVEL (default info) on stderr. */
export function testTelemetry(): Telemetry {
  return createTelemetry();
}

/** A fresh registry and a logger that keeps its lines (parsed) instead of writing them. */
export function capturingTelemetry(level: Level = 'debug'): Telemetry & { readonly lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = new Logger({ level, sink: { write: (line: string) => lines.push(JSON.parse(line)) } });
  return { ...createTelemetry({ log }), lines };
}
