/**
 * The services file: a YAML list of services and their endpoints, the file source's input.
 *
 *   services:
 *     - name: web                            # in the source's namespace (default: default); or team-a/web
 *       policy: { zoneAware: true }          # optional, validated by model/policy.ts validatePolicyOverrides
 *       endpoints:
 *         - { address: 127.0.0.1, port: 8081, zone: a, weight: 1, health: HEALTHY, labels: { canary: "true" } }
 *
 * Parsing is total: it never throws. Problems come in two kinds:
 * - structural (YAML syntax, a root that is no mapping, `services` not a list, a service that is no mapping or
 *   has a bad, duplicate or missing name, an unknown service field, `endpoints` not a list, a bad policy, more
 *   endpoints than `maxEndpoints`): the whole file is refused (`ok: false`).
 * - per endpoint (bad address, IPv6 zone id, port, weight, health, labels, unknown field, duplicate): that
 *   endpoint is skipped and listed in `skipped`; the rest of the file stands.
 * Every problem is path-prefixed (`services[0].endpoints[3].port: ...`) and ends with the file's line, when known.
 * `strict` (the default, for tools and tests) turns any skipped endpoint into a refusal of the whole file; the
 * running file source parses with `strict: false`.
 */
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { Endpoint, Health } from '../../model/types';
import { compareEndpoints, endpointKey } from '../../model/types';
import { validatePolicyOverrides, type PolicyOverrides } from '../../model/policy';
import type { SourceService, SourceSnapshot } from '../source';
import { Problems, canonicalIp, int, ipLiteralProblem, isObject, noUnknownKeys, str } from '../../config/validate';

const HEALTH: readonly Health[] = ['HEALTHY', 'UNHEALTHY', 'DRAINING', 'UNKNOWN'];
/** `<name>` (mapped into the source's namespace) or `<namespace>/<name>`. */
const NAME = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\/)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
/** At most this many problems are listed; the count of the rest is given. */
const MAX_LISTED = 50;

export interface ParseOptions {
  /** Refuse the whole file when any endpoint is malformed (default true). */
  readonly strict?: boolean;
  /** Refuse a file with more endpoints than this (default: no limit). */
  readonly maxEndpoints?: number;
}

export interface ParseOk {
  readonly ok: true;
  readonly snapshot: SourceSnapshot;
  /** Endpoints left out, one problem line each (non-strict only). */
  readonly skipped: readonly string[];
  /** Endpoints kept, over all services. */
  readonly endpoints: number;
  /** Endpoints kept that are not DRAINING: what the source compares between versions. */
  readonly live: number;
  /** The document says nothing: no text, only comments, or `services:` with no value. */
  readonly empty: boolean;
}

export type ParseResult = ParseOk | { readonly ok: false; readonly problems: readonly string[] };

export function parseServicesFile(text: string, source: string, opts: ParseOptions = {}): ParseResult {
  const strict = opts.strict ?? true;
  const lines = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  } catch (err) {
    return { ok: false, problems: [`yaml: ${(err as Error).message}`] };
  }
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.slice(0, MAX_LISTED).map((e) => `yaml: ${e.message.split('\n')[0]} (line ${lines.linePos(e.pos[0]).line})`) };
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, problems: [`yaml: ${(err as Error).message}`] };
  }
  const lineOf = (path: Array<string | number>): string => {
    const node = doc.getIn(path, true);
    return isNode(node) && node.range ? ` (line ${lines.linePos(node.range[0]).line})` : '';
  };
  const p = new Problems();
  const empty = root === null || root === undefined || (isObject(root) && Object.keys(root).length === 1 && root.services === null);
  if (root === null || root === undefined) root = { services: [] };
  if (!isObject(root)) return { ok: false, problems: ['(root): must be a mapping with a `services` list'] };
  noUnknownKeys(root, ['services'], '(root)', p);
  const list = root.services ?? [];
  if (!Array.isArray(list)) return { ok: false, problems: [`services: must be a list${lineOf(['services'])}`] };
  if (opts.maxEndpoints !== undefined) {
    const total = list.reduce((n: number, s: unknown) => n + (isObject(s) && Array.isArray(s.endpoints) ? s.endpoints.length : 0), 0);
    if (total > opts.maxEndpoints) return { ok: false, problems: [`services: ${total} endpoints, more than the limit of ${opts.maxEndpoints}`] };
  }
  const skipped: string[] = [];
  const out = new Map<string, SourceService>();
  let count = 0;
  let live = 0;
  list.forEach((raw, i) => {
    const path = `services[${i}]`;
    const before = p.list.length;
    if (!isObject(raw)) return p.add(path, `must be a mapping${lineOf(['services', i])}`);
    noUnknownKeys(raw, ['name', 'endpoints', 'policy'], path, p);
    const name = str(raw, 'name', path, p);
    if (name && !NAME.test(name)) p.add(`${path}.name`, 'must be lower-case letters, digits, dots and dashes: <name>, or <namespace>/<name> with an RFC 1123 label as namespace');
    if (out.has(name)) p.add(`${path}.name`, `duplicate service ${JSON.stringify(name)}`);
    const eps = raw.endpoints ?? [];
    if (!Array.isArray(eps)) p.add(`${path}.endpoints`, 'must be a list');
    let policy: PolicyOverrides | undefined;
    if (raw.policy !== undefined) {
      const checked = validatePolicyOverrides(raw.policy, `${path}.policy`);
      for (const problem of checked.problems) p.list.push(problem);
      policy = checked.overrides;
    }
    if (p.list.length > before) {
      const where = lineOf(['services', i]);
      for (let k = before; k < p.list.length; k++) p.list[k] += where;
      return;
    }
    const seen = new Set<string>();
    const endpoints: Endpoint[] = [];
    (eps as unknown[]).forEach((e, j) => {
      const endpoint = parseEndpoint(e, `${path}.endpoints[${j}]`, source, seen);
      if (typeof endpoint === 'string') {
        const where = lineOf(['services', i, 'endpoints', j]);
        skipped.push(...endpoint.split('\n').map((line) => line + where));
        return;
      }
      endpoints.push(endpoint);
      if (endpoint.health !== 'DRAINING') live++;
    });
    count += endpoints.length;
    out.set(name, { endpoints: endpoints.sort(compareEndpoints), ...(policy ? { policy } : {}) });
  });
  const problems = strict ? [...p.list, ...skipped] : p.list;
  if (problems.length > 0) {
    const listed = problems.slice(0, MAX_LISTED);
    if (problems.length > MAX_LISTED) listed.push(`... and ${problems.length - MAX_LISTED} more problems`);
    return { ok: false, problems: listed };
  }
  return { ok: true, snapshot: out, skipped, endpoints: count, live, empty };
}

/** One endpoint, or its problems (one per line) when it must be skipped. `seen` holds the service's keys so far. */
function parseEndpoint(e: unknown, ep: string, source: string, seen: Set<string>): Endpoint | string {
  if (!isObject(e)) return `${ep}: must be a mapping`;
  const p = new Problems();
  noUnknownKeys(e, ['address', 'port', 'zone', 'weight', 'health', 'labels'], ep, p);
  const raw = str(e, 'address', ep, p);
  const bad = raw ? ipLiteralProblem(raw) : undefined;
  if (bad) p.add(`${ep}.address`, bad === 'is not an IPv4 or IPv6 address' ? 'must be an IPv4 or IPv6 address' : `${JSON.stringify(raw)}: ${bad}`);
  const address = raw && !bad ? canonicalIp(raw) : raw;
  const port = int(e, 'port', ep, p, 1, 65535);
  const zone = e.zone === undefined ? '' : str(e, 'zone', ep, p);
  const weight = int(e, 'weight', ep, p, 1, 128, 1);
  const health = (e.health ?? 'HEALTHY') as Health;
  if (!HEALTH.includes(health)) p.add(`${ep}.health`, `must be one of ${HEALTH.join(', ')}`);
  const labels: Record<string, string> = {};
  if (e.labels !== undefined) {
    if (!isObject(e.labels)) p.add(`${ep}.labels`, 'must be a mapping of strings');
    else for (const [k, v] of Object.entries(e.labels)) labels[k] = String(v);
  }
  if (!p.ok) return p.list.join('\n');
  const endpoint: Endpoint = { address, port, zone, weight, health, source, labels };
  const key = endpointKey(endpoint);
  if (seen.has(key)) return `${ep}: duplicate endpoint ${key}`;
  seen.add(key);
  return endpoint;
}
