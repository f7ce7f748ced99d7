/**
 * The legacy discovery service's v1 API (lyft/discovery, as Envoy's v1 SDS read it):
 *   GET    /v1/registration/<service>        → { service, env, hosts: [{ service, ip_address, port, revision,
 *                                               service_repo_name, last_check_in, tags: { az, region,
 *                                               instance_id, canary, load_balancing_weight, … } }] }
 *   GET    /v1/registration/repo/<repo>      → { service_repo_name, env, hosts: [...] }
 *   POST   /v1/registration/<service>        form: ip | auto_ip, port, revision, service_repo_name?, tags (JSON)
 *   DELETE /v1/registration/<service>/<ip>
 *   POST   /v1/loadbalancing/<service>[/<ip>] form: load_balancing_weight (1..100)
 *   GET    /healthcheck                       → OK
 *
 * `last_check_in` is Python's `str()` of a datetime: `YYYY-MM-DD HH:MM:SS.ffffff` (naive UTC, the original's
 * in-memory and file backends), without the fraction when the microseconds are 0, and with an offset
 * (`+00:00`) from its DynamoDB backend. Parsing is total: it returns hosts, notes and problems, never throws.
 */
import type { Endpoint } from '../../model/types';
import { canonicalIp, ipLiteralProblem } from '../../config/validate';

export interface RegistryHost {
  readonly service: string;
  readonly ip_address: string;
  readonly port: number;
  readonly revision: string;
  readonly service_repo_name: string | null;
  readonly last_check_in: string;
  readonly tags: Readonly<Record<string, unknown>>;
}

export interface RegistryAnswer {
  readonly service: string;
  readonly env: string;
  readonly hosts: readonly RegistryHost[];
}

/** Endpoint weights Herald serves (model/types.ts): a registry weight outside is clamped into it, with a note. */
export const MIN_WEIGHT = 1;
export const MAX_WEIGHT = 128;

const CHECK_IN = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?$/;

/**
 * Epoch ms (with a sub-ms fraction when the text has microseconds) of every form the original writes:
 * `2016-05-01 12:00:00`, `… 12:00:00.123456`, `… 12:00:00.123456+00:00`, any other offset (`-05:30`, `+0100`,
 * `Z`), `T` instead of the space. No offset means UTC (the original writes `utcnow()`). NaN when it is none
 * of these or names an impossible date.
 */
export function parseCheckIn(s: string): number {
  const m = CHECK_IN.exec(s);
  if (!m) return NaN;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return NaN;
  const base = Date.UTC(y, mo - 1, d, h, mi, sec);
  if (new Date(base).getUTCDate() !== d) return NaN; // 2016-02-30
  const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  let offsetMs = 0;
  const tz = m[8];
  if (tz && tz !== 'Z') {
    const t = /^([+-])(\d{2}):?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?$/.exec(tz)!;
    const oh = Number(t[2]);
    const om = Number(t[3]);
    if (oh > 23 || om > 59) return NaN;
    offsetMs = (t[1] === '-' ? -1 : 1) * ((oh * 60 + om) * 60 + Number(t[4] ?? 0) + Number(`0.${t[5] ?? 0}`)) * 1000;
  }
  return base + frac - offsetMs;
}

/**
 * Formats epoch ms as the original does (`str()` of a UTC datetime, microsecond precision): naive
 * (`YYYY-MM-DD HH:MM:SS.ffffff`, no fraction when the microseconds are 0), or `aware` with `+00:00` as its
 * DynamoDB backend answers.
 */
export function formatCheckIn(ms: number, form: 'naive' | 'aware' = 'naive'): string {
  const whole = Math.floor(ms / 1000);
  let micros = Math.round((ms - whole * 1000) * 1000);
  let secs = whole;
  if (micros >= 1_000_000) {
    secs++;
    micros -= 1_000_000;
  }
  const d = new Date(secs * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const base = `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  return `${base}${micros === 0 ? '' : `.${p(micros, 6)}`}${form === 'aware' ? '+00:00' : ''}`;
}

export type Parsed =
  | {
      readonly ok: true;
      readonly endpoints: Endpoint[];
      readonly expired: number;
      /** Hosts left out, each with `registry[<service>].hosts[<i>](<ip>)…: why`. */
      readonly skipped: readonly string[];
      /** Hosts kept with a value changed (a weight clamped into 1..128), each with why. */
      readonly notes: readonly string[];
      /** Each kept host's last check-in (epoch ms) by `address:port`, for expiring it while the registry fails. */
      readonly checkIns: ReadonlyMap<string, number>;
    }
  | { readonly ok: false; readonly problem: string };

/** A weight as the original may store it (any JSON at registration): a number or numeric text. */
function weightOf(raw: unknown): { weight: number; note?: string } | { problem: string } {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*[+-]?\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(n)) return { problem: `${JSON.stringify(raw)} is not a number` };
  const rounded = Math.round(n);
  const clamped = Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, rounded));
  if (clamped !== n) return { weight: clamped, note: `${JSON.stringify(raw)} is outside ${MIN_WEIGHT}..${MAX_WEIGHT} or not whole; served as ${clamped}` };
  return { weight: clamped };
}

const tagText = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');

/**
 * Maps a GET answer to endpoints: `az` → zone, `region` → region, `load_balancing_weight` → weight (clamped into
 * 1..128 with a note; a weight that is no number is served as 1 with a note), `canary` → label, `instance_id` →
 * label. Hosts whose last check-in is older than `ttlMs` are expired. A malformed host (no IP, an IPv6 zone id,
 * a bad port or time, a duplicate address:port) is skipped with a reason; an answer that is not the expected
 * shape at all is a problem (the caller keeps its last good state).
 */
export function parseRegistryAnswer(body: unknown, service: string, o: { ttlMs: number; now: number; source: string }): Parsed {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, problem: 'answer is not a JSON object' };
  const hosts = (body as { hosts?: unknown }).hosts;
  if (!Array.isArray(hosts)) return { ok: false, problem: 'answer has no `hosts` list' };
  const endpoints: Endpoint[] = [];
  const skipped: string[] = [];
  const notes: string[] = [];
  const checkIns = new Map<string, number>();
  const seen = new Set<string>();
  let expired = 0;
  hosts.forEach((h: any, i: number) => {
    let where = `registry[${service}].hosts[${i}]`;
    if (typeof h !== 'object' || h === null || Array.isArray(h)) return skipped.push(`${where}: not an object`);
    if (typeof h.ip_address === 'string') where += `(${h.ip_address.slice(0, 64)})`;
    const ipProblem = typeof h.ip_address === 'string' ? ipLiteralProblem(h.ip_address) : 'is missing';
    if (ipProblem) return skipped.push(`${where}.ip_address: ${JSON.stringify(h.ip_address)} ${ipProblem}`);
    const ip = canonicalIp(h.ip_address);
    const port = typeof h.port === 'string' && /^\d+$/.test(h.port) ? Number(h.port) : h.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return skipped.push(`${where}.port: ${JSON.stringify(h.port)} is not a port`);
    let at: number | undefined;
    if (h.last_check_in !== undefined && h.last_check_in !== null) {
      at = parseCheckIn(String(h.last_check_in));
      if (Number.isNaN(at)) return skipped.push(`${where}.last_check_in: ${JSON.stringify(h.last_check_in)} is not a time`);
      if (o.now - at > o.ttlMs) return void expired++;
    }
    const tags = typeof h.tags === 'object' && h.tags !== null && !Array.isArray(h.tags) ? h.tags : {};
    let weight = 1;
    if (tags.load_balancing_weight !== undefined && tags.load_balancing_weight !== null) {
      const w = weightOf(tags.load_balancing_weight);
      if ('problem' in w) notes.push(`${where}.tags.load_balancing_weight: ${w.problem}; served as 1`);
      else {
        weight = w.weight;
        if (w.note) notes.push(`${where}.tags.load_balancing_weight: ${w.note}`);
      }
    }
    const key = `${ip}:${port}`;
    if (seen.has(key)) return skipped.push(`${where}: duplicate ${key}`);
    seen.add(key);
    if (at !== undefined) checkIns.set(key, at);
    const labels: Record<string, string> = {};
    if (tags.canary === true || tags.canary === 'true' || tags.canary === 'True') labels.canary = 'true';
    if (tagText(tags.instance_id)) labels.instance = tagText(tags.instance_id);
    const region = tagText(tags.region);
    endpoints.push({ address: ip, port, health: 'HEALTHY', zone: tagText(tags.az), ...(region ? { region } : {}), weight, source: o.source, labels });
  });
  return { ok: true, endpoints, expired, skipped, notes, checkIns };
}
