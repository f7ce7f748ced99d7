#!/usr/bin/env node
/**
 * The `herald` command. Subcommands: serve, registry, bootstrap, version, and lab and demo (from the lab package,
 * found at run time: ./lab.ts). Each prints its own --help.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config';
import { startHerald } from '../main';
import { createTelemetry } from '../telemetry';

const USAGE = `usage: herald <command> [options]

commands:
  serve --config FILE    run the control plane with a herald.yaml
  registry --db FILE | --backend kubernetes [options]
                         run Herald's registry server (a drop-in for the legacy v1 discovery service) alone
  lab <scenario|all> [--mode M|all] [--short] [--json]
                         run a rollout-lab scenario (real Kubernetes, Herald, Envoys, load) and print results
  demo [--seconds N]     run Herald on its embedded default with two backends and a real Envoy
  bootstrap [options]    print a sidecar Envoy's bootstrap (JSON, or YAML with --yaml); see --help
  status [--admin URL,…] every connected proxy's sync state per type (SYNCED/STALE/NACK/NOT SENT); see --help
  config <proxy> [--envoy-admin URL]
                         what Herald last sent a proxy, decoded; with --envoy-admin, whether Envoy holds it
  version                print the version
`;

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help || !values.config) {
    process.stdout.write('usage: herald serve --config herald.yaml\n');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const herald = await startHerald(loadConfig(values.config));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    herald.telemetry.log.write('info', 'signal received; stopping', { signal });
    void herald.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

const REGISTRY_USAGE = `usage: herald registry [options]
  --db FILE                 SQLite file (the embedded default backend)
  --backend sqlite|kubernetes
                            kubernetes: hosts are RegistryHost resources (deploy/registry-crd.yaml), shared by
                            every replica; with --kubeconfig F (default in-cluster) and --namespace NS (herald-system)
  --port 18002 --address 127.0.0.1
  --auth token|none         token (default): writes need Authorization: Bearer <token of --token-file>;
                            none: open writes, as the original
  --token-file F            the write token (without it, --auth token refuses every write)
  --ipv6                    accept IPv6 hosts (the original accepts IPv4 only)
  --env NAME                the env field of answers (default $APPLICATION_ENV or development)
  --check-in-format naive|aware
                            last_check_in as the original's in-memory backend (naive, default) or DynamoDB (+00:00)
  --ttl-seconds 600         hosts expire this long after their last heartbeat
`;

async function registry(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string' },
      backend: { type: 'string', default: 'sqlite' },
      kubeconfig: { type: 'string', default: '' },
      namespace: { type: 'string', default: 'herald-system' },
      port: { type: 'string', default: '18002' },
      address: { type: 'string', default: '127.0.0.1' },
      auth: { type: 'string', default: 'token' },
      'token-file': { type: 'string', default: '' },
      ipv6: { type: 'boolean', default: false },
      env: { type: 'string' },
      'check-in-format': { type: 'string', default: 'naive' },
      'ttl-seconds': { type: 'string', default: '600' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const bad =
    (values.backend === 'sqlite' && !values.db) ||
    !['sqlite', 'kubernetes'].includes(values.backend!) ||
    !['token', 'none'].includes(values.auth!) ||
    !['naive', 'aware'].includes(values['check-in-format']!) ||
    !(Number(values['ttl-seconds']) >= 1);
  if (values.help || bad) {
    process.stdout.write(REGISTRY_USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const { RegistryServer } = await import('../sources/registry/server');
  const { readToken } = await import('../main');
  const ttlSeconds = Number(values['ttl-seconds']);
  // The registry server alone is not a Herald instance: it has its own metrics and logger.
  const telemetry = createTelemetry();
  let backend;
  if (values.backend === 'kubernetes') {
    const { openKubeRegistryBackend } = await import('../sources/registry/kube-backend');
    const { connectKubernetes } = await import('../sources/kubernetes/connect');
    backend = await openKubeRegistryBackend({ kubeconfig: values.kubeconfig!, namespace: values.namespace!, ttlSeconds, api: connectKubernetes(values.kubeconfig!), telemetry });
  }
  const server = new RegistryServer({
    ...(backend ? { backend } : { db: values.db! }),
    auth: values.auth as 'token' | 'none',
    token: readToken(values['token-file']!),
    ttlSeconds,
    ipv6: values.ipv6!,
    checkInFormat: values['check-in-format'] as 'naive' | 'aware',
    ...(values.env !== undefined ? { env: values.env } : {}),
    telemetry,
  });
  const port = await server.listen(values.address!, Number(values.port));
  const writes = values.auth === 'none' ? 'open' : values['token-file'] ? 'token' : 'refused';
  telemetry.log.write('info', 'registry server started', { address: values.address, port, backend: values.backend, db: values.db, writes, ipv6: values.ipv6 });
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return serve(rest);
    case 'bootstrap':
      return (await import('./bootstrap')).bootstrap(rest);
    case 'registry':
      return registry(rest);
    case 'status':
      return (await import('./status')).status(rest);
    case 'config':
      return (await import('./config')).config(rest);
    case 'lab':
      return (await import('./lab')).loadLab().lab(rest);
    case 'demo':
      return (await import('./lab')).loadLab().demo(rest);
    case 'version':
      process.stdout.write(`herald ${require('../../../package.json').version}\n`);
      return;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`herald: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`herald: ${err.message}\n`);
    process.exit(1);
  });
}
