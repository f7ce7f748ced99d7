/**
 * Storage for Herald's registry server. `RegistryBackend` is the contract the server needs (owned here, next to
 * its consumer); `RegistryStore` is the embedded default: SQLite through better-sqlite3 (synchronous, WAL), one
 * row per (service, ip) as in the original (no port in the key). kube-backend.ts stores hosts as Kubernetes
 * custom resources instead, so every Herald replica serves the same hosts.
 *
 * Ownership: a backend owns its storage; every method is one complete operation. Returned hosts are fresh
 * objects the caller may keep.
 */
import Database from 'better-sqlite3';

export interface StoredHost {
  readonly service: string;
  readonly ip: string;
  readonly port: number;
  readonly revision: string;
  readonly serviceRepoName: string;
  /** Epoch ms (with a sub-ms fraction: the original answers with microseconds) of the last registration. */
  readonly lastCheckIn: number;
  readonly tags: Readonly<Record<string, unknown>>;
}

export interface RegistryBackend {
  /** Register or heartbeat: inserts, or updates the host and merges `tags` into the stored ones. */
  upsert(h: StoredHost): Promise<void>;
  /** The live hosts of a service, ordered by ip; hosts older than `ttlMs` at `now` are removed on the way. */
  list(service: string, now: number, ttlMs: number): Promise<StoredHost[]>;
  /** The live hosts whose service_repo_name is `repo`, ordered by service then ip; expired ones are removed. */
  listByRepo(repo: string, now: number, ttlMs: number): Promise<StoredHost[]>;
  /** Removes one host; false if there was none. */
  remove(service: string, ip: string): Promise<boolean>;
  /** Sets tags.load_balancing_weight on one host (ip) or every host of the service; returns how many matched. */
  setWeight(service: string, ip: string | undefined, weight: number): Promise<number>;
  /** How many hosts a service has (expired ones included), for the server's per-service bound. */
  count(service: string): Promise<number>;
  close(): Promise<void>;
}

type Row = Record<string, any>;

const toHost = (r: Row): StoredHost => ({
  service: r.service,
  ip: r.ip,
  port: r.port,
  revision: r.revision,
  serviceRepoName: r.service_repo_name,
  lastCheckIn: r.last_check_in,
  tags: JSON.parse(r.tags),
});

export class RegistryStore implements RegistryBackend {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // last_check_in: epoch ms, REAL since microseconds are kept (older files hold whole ms, which read the same).
    this.db.exec(`CREATE TABLE IF NOT EXISTS hosts (
      service TEXT NOT NULL, ip TEXT NOT NULL, port INTEGER NOT NULL, revision TEXT NOT NULL,
      service_repo_name TEXT NOT NULL, last_check_in REAL NOT NULL, tags TEXT NOT NULL,
      PRIMARY KEY (service, ip))`);
    this.db.exec('CREATE INDEX IF NOT EXISTS hosts_by_repo ON hosts (service_repo_name)');
  }

  async upsert(h: StoredHost): Promise<void> {
    const tx = this.db.transaction((host: StoredHost) => {
      const row = this.db.prepare('SELECT tags FROM hosts WHERE service = ? AND ip = ?').get(host.service, host.ip) as { tags: string } | undefined;
      const tags = { ...(row ? (JSON.parse(row.tags) as Record<string, unknown>) : {}), ...host.tags };
      this.db
        .prepare(
          `INSERT INTO hosts (service, ip, port, revision, service_repo_name, last_check_in, tags) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (service, ip) DO UPDATE SET port = excluded.port, revision = excluded.revision,
             service_repo_name = excluded.service_repo_name, last_check_in = excluded.last_check_in, tags = excluded.tags`,
        )
        .run(host.service, host.ip, host.port, host.revision, host.serviceRepoName, host.lastCheckIn, JSON.stringify(tags));
    });
    tx(h);
  }

  async list(service: string, now: number, ttlMs: number): Promise<StoredHost[]> {
    this.db.prepare('DELETE FROM hosts WHERE service = ? AND last_check_in < ?').run(service, now - ttlMs);
    return (this.db.prepare('SELECT * FROM hosts WHERE service = ? ORDER BY ip').all(service) as Row[]).map(toHost);
  }

  async listByRepo(repo: string, now: number, ttlMs: number): Promise<StoredHost[]> {
    this.db.prepare('DELETE FROM hosts WHERE service_repo_name = ? AND last_check_in < ?').run(repo, now - ttlMs);
    return (this.db.prepare('SELECT * FROM hosts WHERE service_repo_name = ? ORDER BY service, ip').all(repo) as Row[]).map(toHost);
  }

  async remove(service: string, ip: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM hosts WHERE service = ? AND ip = ?').run(service, ip).changes > 0;
  }

  async setWeight(service: string, ip: string | undefined, weight: number): Promise<number> {
    const tx = this.db.transaction(() => {
      const rows = (ip
        ? this.db.prepare('SELECT ip, tags FROM hosts WHERE service = ? AND ip = ?').all(service, ip)
        : this.db.prepare('SELECT ip, tags FROM hosts WHERE service = ?').all(service)) as Array<{ ip: string; tags: string }>;
      const upd = this.db.prepare('UPDATE hosts SET tags = ? WHERE service = ? AND ip = ?');
      for (const r of rows) upd.run(JSON.stringify({ ...JSON.parse(r.tags), load_balancing_weight: weight }), service, r.ip);
      return rows.length;
    });
    return tx();
  }

  async count(service: string): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM hosts WHERE service = ?').get(service) as { n: number }).n;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
