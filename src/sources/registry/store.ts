/**
 * Durable storage for Herald's registry server: SQLite through better-sqlite3 (synchronous, WAL). One row per
 * (service, ip), as in the original (no port in the key). Hosts past their TTL are removed when listed.
 *
 * Ownership: the store owns its database handle; every method is a complete transaction.
 */
import Database from 'better-sqlite3';

export interface StoredHost {
  readonly service: string;
  readonly ip: string;
  readonly port: number;
  readonly revision: string;
  readonly serviceRepoName: string;
  /** Epoch ms of the last registration/heartbeat. */
  readonly lastCheckIn: number;
  readonly tags: Readonly<Record<string, unknown>>;
}

export class RegistryStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS hosts (
      service TEXT NOT NULL, ip TEXT NOT NULL, port INTEGER NOT NULL, revision TEXT NOT NULL,
      service_repo_name TEXT NOT NULL, last_check_in INTEGER NOT NULL, tags TEXT NOT NULL,
      PRIMARY KEY (service, ip))`);
  }

  /** Register or heartbeat: inserts, or updates the row and merges `tags` into the stored ones. */
  upsert(h: StoredHost): void {
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

  /** The live hosts of a service; expired ones (older than `ttlMs` at `now`) are deleted on the way. */
  list(service: string, now: number, ttlMs: number): StoredHost[] {
    this.db.prepare('DELETE FROM hosts WHERE service = ? AND last_check_in < ?').run(service, now - ttlMs);
    const rows = this.db.prepare('SELECT * FROM hosts WHERE service = ? ORDER BY ip').all(service) as Array<Record<string, any>>;
    return rows.map((r) => ({
      service: r.service,
      ip: r.ip,
      port: r.port,
      revision: r.revision,
      serviceRepoName: r.service_repo_name,
      lastCheckIn: r.last_check_in,
      tags: JSON.parse(r.tags),
    }));
  }

  /** Removes one host; false if there was none. */
  remove(service: string, ip: string): boolean {
    return this.db.prepare('DELETE FROM hosts WHERE service = ? AND ip = ?').run(service, ip).changes > 0;
  }

  /** Sets tags.load_balancing_weight on one host (ip) or every host of the service; returns how many changed. */
  setWeight(service: string, ip: string | undefined, weight: number): number {
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

  close(): void {
    this.db.close();
  }
}
