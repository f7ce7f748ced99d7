/**
 * Starts Herald in-process on free ports with a file source in a temp dir, for feature and e2e tests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startHerald, type Running } from '../../src/main';
import { parseConfig } from '../../src/config/config';
import type { Telemetry } from '../../src/telemetry';

export interface ServiceSpec {
  name: string;
  endpoints: Array<{ address: string; port: number; zone?: string; weight?: number; health?: string; labels?: Record<string, string> }>;
  policy?: Record<string, unknown>;
}

export interface TestHerald extends Running {
  readonly dir: string;
  readonly servicesFile: string;
  /** Rewrites the services file (the file source picks it up). */
  writeServices(services: ServiceSpec[]): void;
  adminGet(p: string): Promise<any>;
}

export function writeServicesFile(file: string, services: ServiceSpec[]): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, stringify({ services }));
  fs.renameSync(tmp, file);
}

/**
 * @param opts.xds more keys of the config's `xds` section (tls, limits); opts.config more top-level keys (admission);
 *   opts.telemetry the instance's metrics and logger (default: its own, logging at HERALD_LOG_LEVEL on stderr).
 */
export async function startTestHerald(
  services: ServiceSpec[],
  opts: { egressPort?: number; xdsPort?: number; dir?: string; xds?: Record<string, unknown>; config?: Record<string, unknown>; telemetry?: Telemetry } = {},
): Promise<TestHerald> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'herald-test-'));
  const servicesFile = path.join(dir, 'services.yaml');
  if (services.length > 0 || !fs.existsSync(servicesFile)) writeServicesFile(servicesFile, services);
  const config = parseConfig(
    stringify({
      xds: { address: '127.0.0.1', port: opts.xdsPort ?? 0, ...opts.xds },
      admin: { address: '127.0.0.1', port: 0 },
      sidecar: { egress: { address: '127.0.0.1', port: opts.egressPort ?? 15001 } },
      sources: [{ kind: 'file', name: 'file', path: servicesFile }],
      ackTimeoutMs: 5000,
      ...opts.config,
    }),
    dir,
  );
  const running = await startHerald(config, opts.telemetry ? { telemetry: opts.telemetry } : {});
  return {
    ...running,
    dir,
    servicesFile,
    writeServices: (s) => writeServicesFile(servicesFile, s),
    adminGet: async (p) => {
      const res = await fetch(`http://127.0.0.1:${running.adminPort}${p}`);
      return res.json();
    },
  };
}
