/**
 * The policy file (herald.yaml's `policyFile`): defaults for every cluster and per-service overrides, each checked
 * by the model's POLICY_OVERRIDES schema. Read once at start (main.ts); a file with any problem is refused whole.
 *
 *   defaults:                       # optional, applies to every service
 *     healthCheck: { intervalMs: 5000 }
 *   services:                       # optional, service → overrides
 *     team-a/web: { zoneAware: true }   # one service
 *     web: { healthCheck: { path: /ready } }   # a bare name: that name in every namespace (team-a/web wins over it)
 *   namespaces:                     # optional, namespace → settings
 *     team-a: { egress: "team-b/api, ./*" }   # the default egress scope of team-a's proxies (model/scope.ts)
 */
import * as fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { POLICY_OVERRIDES, type PolicyOverrides } from '../model/policy';
import { pathText, problemsOf, strict } from './schema';
import { NAMESPACE_PATTERN } from '../model/names';
import { parseScope } from '../model/scope';

const SERVICE_NAME_PROBLEM = 'service names are <namespace>/<name> or <name>: lower-case letters, digits, dots and dashes';
const SERVICE_NAME = z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\/)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, { error: SERVICE_NAME_PROBLEM });
const NAMESPACE = z.string().regex(NAMESPACE_PATTERN, { error: 'namespaces are RFC 1123 labels' });
const NAMESPACE_SETTINGS = strict({
  egress: z
    .string({ error: 'must be a scope: entries <namespace>/<name>, <namespace>/*, ./<name>, separated by commas' })
    .check((ctx) => {
      const r = parseScope(ctx.value, 'x');
      for (const p of r.problems) ctx.issues.push({ code: 'custom', message: p, input: ctx.value });
      if (!r.scope && r.problems.length === 0) ctx.issues.push({ code: 'custom', message: 'names no service', input: ctx.value });
    }),
});

const POLICY_FILE = strict(
  {
    defaults: POLICY_OVERRIDES.nullish(),
    services: z.record(SERVICE_NAME, POLICY_OVERRIDES, { error: 'must be a mapping of service name to overrides' }).nullish(),
    namespaces: z.record(NAMESPACE, NAMESPACE_SETTINGS, { error: 'must be a mapping of namespace to settings' }).nullish(),
  },
  { notMapping: 'must be a mapping with `defaults`, `services` and/or `namespaces`' },
);

export interface PolicyFile {
  /**
   * Per-service overrides, keyed as written (`<namespace>/<name>`, or a bare name meaning that name in every
   * namespace), in key order. model/names.ts `byServiceId` picks the entry of one service.
   */
  readonly policies: ReadonlyMap<string, PolicyOverrides>;
  /** Per-namespace default egress scopes (scope text as written, model/scope.ts). */
  readonly namespaceScopes: ReadonlyMap<string, string>;
  /** The `defaults:` block: overrides for every service (the base the others are laid over). `{}` when absent. */
  readonly defaults: PolicyOverrides;
  /** Path-prefixed problems (`services[web].healthCheck.timeoutMs: ...`); empty when the file is good. */
  readonly problems: readonly string[];
}

/** Service names in brackets: `services[web].healthCheck.timeoutMs`. */
const at = (p: readonly PropertyKey[]) => (p[0] === 'services' && p.length > 1 ? pathText(p.slice(2), `services[${String(p[1])}]`) : pathText(p));

/**
 * Parses a policy file's text. Never throws; on any problem `policies` and `defaults` are empty and the caller
 * should refuse the file (or keep its previous policies).
 */
export function parsePolicyFile(text: string): PolicyFile {
  const empty = (problems: string[]): PolicyFile => ({ policies: new Map(), namespaceScopes: new Map(), defaults: {}, problems });
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return empty([`yaml: ${(err as Error).message}`]);
  }
  if (doc === null || doc === undefined) return empty([]);
  const r = POLICY_FILE.safeParse(doc);
  if (!r.success) return empty(problemsOf(r.error.issues, { at }));
  const services = r.data.services ?? {};
  const policies = new Map(Object.keys(services).sort().map((name) => [name, services[name]!] as const));
  const ns = r.data.namespaces ?? {};
  const namespaceScopes = new Map(Object.keys(ns).sort().map((n) => [n, ns[n]!.egress] as const));
  return { policies, namespaceScopes, defaults: r.data.defaults ?? {}, problems: [] };
}

/** Reads and parses a policy file (see parsePolicyFile). An unreadable file is one problem; never throws. */
export function loadPolicyFile(file: string): PolicyFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { policies: new Map(), namespaceScopes: new Map(), defaults: {}, problems: [`${file}: cannot read: ${(err as Error).message}`] };
  }
  return parsePolicyFile(text);
}

