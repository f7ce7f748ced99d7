#!/usr/bin/env node
/**
 * The `herald` command. Subcommands: serve, registry, bootstrap, version, and lab and demo (from the lab package,
 * found at run time: ./lab.ts). Each prints its own --help.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config';
import { startHerald } from '../main';
import { log } from '../log/log';

const USAGE = `usage: herald <command> [options]

commands:
  serve --config FILE    run the control plane with a herald.yaml
  registry --db FILE [--port N] [--address A] [--token-file F] [--ttl-seconds N]
                         run Herald's registry server (the legacy v1 discovery API) alone
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
    log('info', 'signal received; stopping', { signal });
    void herald.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function registry(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string' },
      port: { type: 'string', default: '18002' },
      address: { type: 'string', default: '127.0.0.1' },
      'token-file': { type: 'string', default: '' },
      'ttl-seconds': { type: 'string', default: '600' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.db) {
    process.stdout.write('usage: herald registry --db FILE [--port 18002] [--address 127.0.0.1] [--token-file F] [--ttl-seconds 600]\n');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const { RegistryServer } = await import('../sources/registry/server');
  const { readToken } = await import('../main');
  const server = new RegistryServer({ db: values.db, token: readToken(values['token-file']!), ttlSeconds: Number(values['ttl-seconds']) });
  const port = await server.listen(values.address!, Number(values.port));
  log('info', 'registry server started', { address: values.address, port, db: values.db, writes: values['token-file'] ? 'token' : 'refused' });
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
