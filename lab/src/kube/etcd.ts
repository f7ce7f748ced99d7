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
 * Compacts etcd's history physically and returns the compaction revision. Two writes to a key outside
 * the apiserver's /registry prefix come first, so that every revision a client has seen is at least
 * two below the compaction revision: a watch from it that etcd serves then fails with 410 Gone
 * (a watch from exactly one below would fail with 500 instead, because the previous value of its
 * first event is gone).
 */
export async function compactEtcd(cfg: EtcdConfig): Promise<number> {
  const key = Buffer.from('/herald-lab/compaction-marker').toString('base64');
  let revision = 0;
  for (const n of [1, 2]) {
    const put = await etcdPost<{ header: { revision: string } }>(cfg, '/v3/kv/put', { key, value: Buffer.from(String(n)).toString('base64') });
    revision = Number(put.header.revision);
  }
  await etcdPost(cfg, '/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}
