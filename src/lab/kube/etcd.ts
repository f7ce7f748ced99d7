/** One etcd member for a lab control plane: loopback only, no fsync, plain HTTP. */
import { join } from 'node:path';
import { ManagedProcess } from './process';
import { kubeBinary } from './paths';
import { waitFor } from './wait';

export interface EtcdConfig {
  dataDir: string;
  clientPort: number;
  peerPort: number;
  logFile: string;
}

export function etcdUrl(cfg: EtcdConfig): string {
  return `http://127.0.0.1:${cfg.clientPort}`;
}

/** Starts etcd and resolves once /health answers {"health":"true"}. */
export async function startEtcd(cfg: EtcdConfig, timeoutMs: number): Promise<ManagedProcess> {
  const client = etcdUrl(cfg);
  const peer = `http://127.0.0.1:${cfg.peerPort}`;
  const proc = ManagedProcess.spawn({
    name: 'etcd',
    command: kubeBinary('etcd'),
    args: [
      '--name=lab',
      `--data-dir=${join(cfg.dataDir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=lab=${peer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    logFile: cfg.logFile,
  });
  await waitFor(
    'etcd /health',
    async () => {
      const res = await fetch(`${client}/health`);
      const body = (await res.json()) as { health?: string };
      return body.health === 'true';
    },
    { timeoutMs, intervalMs: 50, abortIf: () => (proc.exit ? `etcd exited (${JSON.stringify(proc.exit)}); see ${cfg.logFile}` : undefined) },
  );
  return proc;
}

async function etcdPost<T>(cfg: EtcdConfig, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${etcdUrl(cfg)}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/**
 * Compacts etcd's history up to its current revision (physically) through etcd's JSON gateway and
 * returns that revision. Watches that ask etcd for an older revision then fail with "compacted".
 */
export async function compactEtcd(cfg: EtcdConfig): Promise<number> {
  // "AA==" is key "\0": a range read of one key, only for the header's current revision.
  const range = await etcdPost<{ header: { revision: string } }>(cfg, '/v3/kv/range', { key: 'AA==', limit: 1 });
  const revision = Number(range.header.revision);
  await etcdPost(cfg, '/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}
