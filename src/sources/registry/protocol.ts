/**
 * The legacy discovery service's v1 API (Lyft's discovery service, as Envoy's v1 SDS read it):
 *   GET    /v1/registration/<service>        → { service, env, hosts: [{ service, ip_address, port, revision,
 *                                               service_repo_name, last_check_in, tags: { az, region,
 *                                               instance_id, canary, load_balancing_weight } }] }
 *   POST   /v1/registration/<service>        form: ip, port, revision, service_repo_name?, tags (a JSON string)
 *   DELETE /v1/registration/<service>/<ip>
 *   POST   /v1/loadbalancing/<service>[/<ip>] form: load_balancing_weight (1..100)
 * `last_check_in` is UTC, formatted `YYYY-MM-DD HH:MM:SS.ffffff`. Parsing is total: it returns hosts or problems.
 */
import type { Endpoint } from '../../model/types';
import { canonicalIp, isIpLiteral } from '../../config/validate';

export interface RegistryHost {
  readonly service: string;
  readonly ip_address: string;
  readonly port: number;
  readonly revision: string;
  readonly service_repo_name: string;
  readonly last_check_in: string;
  readonly tags: Readonly<Record<string, unknown>>;
}

export interface RegistryAnswer {
  readonly service: string;
  readonly env: string;
  readonly hosts: readonly RegistryHost[];
}

/** `2016-05-01 12:00:00.123456` (UTC) → epoch ms, or NaN. */
export function parseCheckIn(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z?$/.exec(s);
  if (!m) return NaN;
  const ms = m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms);
}

export function formatCheckIn(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}000`;
}

export type Parsed = { readonly ok: true; readonly endpoints: Endpoint[]; readonly expired: number; readonly skipped: readonly string[] } | { readonly ok: false; readonly problem: string };

/**
 * Maps a GET answer to endpoints: `az` → zone, `load_balancing_weight` → weight, `canary` → label. Hosts whose
 * last check-in is older than `ttlMs` are expired. A malformed host is skipped (listed in `skipped`); an answer
 * that is not the expected shape at all is a problem (the caller keeps its last good state).
 */
export function parseRegistryAnswer(body: unknown, service: string, o: { ttlMs: number; now: number; source: string }): Parsed {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, problem: 'answer is not a JSON object' };
  const hosts = (body as { hosts?: unknown }).hosts;
  if (!Array.isArray(hosts)) return { ok: false, problem: 'answer has no `hosts` list' };
  const endpoints: Endpoint[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  let expired = 0;
  hosts.forEach((h: any, i: number) => {
    const where = `registry[${service}].hosts[${i}]`;
    if (typeof h !== 'object' || h === null) return skipped.push(`${where}: not an object`);
    if (typeof h.ip_address !== 'string' || !isIpLiteral(h.ip_address)) return skipped.push(`${where}.ip_address: ${JSON.stringify(h.ip_address)} is not an IP address`);
    const ip = canonicalIp(h.ip_address);
    const port = typeof h.port === 'string' && /^\d+$/.test(h.port) ? Number(h.port) : h.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return skipped.push(`${where}.port: ${JSON.stringify(h.port)} is not a port`);
    if (h.last_check_in !== undefined) {
      const at = parseCheckIn(String(h.last_check_in));
      if (Number.isNaN(at)) return skipped.push(`${where}.last_check_in: ${JSON.stringify(h.last_check_in)} is not a time`);
      if (o.now - at > o.ttlMs) return void expired++;
    }
    const tags = typeof h.tags === 'object' && h.tags !== null ? h.tags : {};
    let weight = 1;
    if (tags.load_balancing_weight !== undefined) {
      const w = Number(tags.load_balancing_weight);
      if (!Number.isInteger(w) || w < 1 || w > 128) return skipped.push(`${where}.tags.load_balancing_weight: ${JSON.stringify(tags.load_balancing_weight)} must be 1..128`);
      weight = w;
    }
    const key = `${ip}:${port}`;
    if (seen.has(key)) return skipped.push(`${where}: duplicate ${key}`);
    seen.add(key);
    const labels: Record<string, string> = {};
    if (tags.canary === true || tags.canary === 'true') labels.canary = 'true';
    if (typeof tags.instance_id === 'string') labels.instance = tags.instance_id;
    endpoints.push({ address: ip, port, health: 'HEALTHY', zone: typeof tags.az === 'string' ? tags.az : '', weight, source: o.source, labels });
  });
  return { ok: true, endpoints, expired, skipped };
}
