/**
 * The services file: a YAML list of services and their endpoints, the file source's input.
 *
 *   services:
 *     - name: web
 *       policy: { zoneAware: true }          # optional, validated by model/policy.ts validatePolicyOverrides
 *       endpoints:
 *         - { address: 127.0.0.1, port: 8081, zone: a, weight: 1, health: HEALTHY, labels: { canary: "true" } }
 *
 * Parsing is total: it returns the snapshot or every problem found, path-prefixed; it never throws.
 */
import { parse as parseYaml } from 'yaml';
import type { Endpoint, Health } from '../../model/types';
import { compareEndpoints, endpointKey } from '../../model/types';
import { validatePolicyOverrides, type PolicyOverrides } from '../../model/policy';
import type { SourceService, SourceSnapshot } from '../source';
import { Problems, canonicalIp, int, isIpLiteral, isObject, noUnknownKeys, str } from '../../config/validate';

const HEALTH: readonly Health[] = ['HEALTHY', 'UNHEALTHY', 'DRAINING', 'UNKNOWN'];
const NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export type ParseResult = { readonly ok: true; readonly snapshot: SourceSnapshot } | { readonly ok: false; readonly problems: readonly string[] };

export function parseServicesFile(text: string, source: string): ParseResult {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return { ok: false, problems: [`yaml: ${(err as Error).message}`] };
  }
  const p = new Problems();
  if (doc === null || doc === undefined) doc = { services: [] };
  if (!isObject(doc)) return { ok: false, problems: ['(root): must be a mapping with a `services` list'] };
  noUnknownKeys(doc, ['services'], '(root)', p);
  const list = doc.services ?? [];
  if (!Array.isArray(list)) return { ok: false, problems: ['services: must be a list'] };
  const out = new Map<string, SourceService>();
  list.forEach((raw, i) => {
    const path = `services[${i}]`;
    if (!isObject(raw)) return p.add(path, 'must be a mapping');
    noUnknownKeys(raw, ['name', 'endpoints', 'policy'], path, p);
    const name = str(raw, 'name', path, p);
    if (name && !NAME.test(name)) p.add(`${path}.name`, 'must be lower-case letters, digits, dots and dashes');
    if (out.has(name)) p.add(`${path}.name`, `duplicate service ${JSON.stringify(name)}`);
    const eps = raw.endpoints ?? [];
    if (!Array.isArray(eps)) return p.add(`${path}.endpoints`, 'must be a list');
    const seen = new Set<string>();
    const endpoints: Endpoint[] = [];
    eps.forEach((e, j) => {
      const ep = `${path}.endpoints[${j}]`;
      if (!isObject(e)) return p.add(ep, 'must be a mapping');
      noUnknownKeys(e, ['address', 'port', 'zone', 'weight', 'health', 'labels'], ep, p);
      const raw = str(e, 'address', ep, p);
      if (raw && !isIpLiteral(raw)) p.add(`${ep}.address`, 'must be an IPv4 or IPv6 address');
      const address = raw && isIpLiteral(raw) ? canonicalIp(raw) : raw;
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
      const endpoint: Endpoint = { address, port, zone, weight, health, source, labels };
      const key = endpointKey(endpoint);
      if (seen.has(key)) p.add(ep, `duplicate endpoint ${key}`);
      seen.add(key);
      endpoints.push(endpoint);
    });
    let policy: PolicyOverrides | undefined;
    if (raw.policy !== undefined) {
      const checked = validatePolicyOverrides(raw.policy, `${path}.policy`);
      for (const problem of checked.problems) p.list.push(problem);
      policy = checked.overrides;
    }
    out.set(name, { endpoints: endpoints.sort(compareEndpoints), ...(policy ? { policy } : {}) });
  });
  return p.ok ? { ok: true, snapshot: out } : { ok: false, problems: p.list };
}
