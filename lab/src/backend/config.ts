/**
 * Configuration of one lab backend process, from its environment and command line (flags win):
 *   LAB_POD_NAME / --pod-name        name reported in every answer (required)
 *   LAB_POD_NAMESPACE / --namespace  default "default"
 *   LAB_NODE_NAME / --node-name      default ""
 *   LAB_POD_IP / --ip                address to bind (default 127.0.0.1)
 *   LAB_HTTP_PORT / --http-port      default 8080
 *   LAB_GRPC_PORT / --grpc-port      default 9090; 0 disables the gRPC server
 *   LAB_DRAIN_MS / --drain-ms        how long to keep serving after SIGTERM (default 2000)
 */
export interface BackendConfig {
  podName: string;
  namespace: string;
  nodeName: string;
  ip: string;
  httpPort: number;
  grpcPort: number;
  drainMs: number;
}

const FLAGS: Record<string, keyof BackendConfig> = {
  '--pod-name': 'podName',
  '--namespace': 'namespace',
  '--node-name': 'nodeName',
  '--ip': 'ip',
  '--http-port': 'httpPort',
  '--grpc-port': 'grpcPort',
  '--drain-ms': 'drainMs',
};

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: not a non-negative integer: ${JSON.stringify(v)}`);
  return n;
}

/** Parses the configuration; throws with the offending flag or variable named. */
export function parseConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): BackendConfig {
  const flags: Partial<Record<keyof BackendConfig, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const key = FLAGS[name];
    if (!key) throw new Error(`unknown argument ${arg}`);
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`${name} needs a value`);
    flags[key] = value;
  }
  const podName = flags.podName ?? env['LAB_POD_NAME'];
  if (!podName) throw new Error('LAB_POD_NAME (or --pod-name) is required');
  return {
    podName,
    namespace: flags.namespace ?? env['LAB_POD_NAMESPACE'] ?? 'default',
    nodeName: flags.nodeName ?? env['LAB_NODE_NAME'] ?? '',
    ip: flags.ip ?? env['LAB_POD_IP'] ?? '127.0.0.1',
    httpPort: int('http port', flags.httpPort ?? env['LAB_HTTP_PORT'], 8080),
    grpcPort: int('grpc port', flags.grpcPort ?? env['LAB_GRPC_PORT'], 9090),
    drainMs: int('drain ms', flags.drainMs ?? env['LAB_DRAIN_MS'], 2000),
  };
}
