/**
 * Telemetry for the lab's own use of Herald's code (its kubelet's and convergence tracker's informers): a fresh
 * registry nobody scrapes and a logger on stderr. Their recoveries during an outage scenario are expected, so only
 * errors show unless HERALD_LOG_LEVEL says otherwise. Herald instances the lab runs have their own.
 */
import { isLevel } from '../../src/log/log';
import { createTelemetry, type Telemetry } from '../../src/telemetry';

export function labTelemetry(): Telemetry {
  const env = process.env.HERALD_LOG_LEVEL;
  return createTelemetry({ log: { level: isLevel(env) ? env : 'error' } });
}
