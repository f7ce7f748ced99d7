/**
 * Cluster policy: the talk's defaults in one place, overridable per service. Every duration is milliseconds.
 *
 * Overrides come from three places, all validated here with path-prefixed problems and the same rules (one
 * schema, `POLICY_SCHEMA`): a service's `policy:` block in a services file (`validatePolicyOverrides`),
 * Kubernetes annotations on a pod or Service (`policyFromAnnotations`), and a policy file (`loadPolicyFile`).
 * Values Envoy would reject (a zero timeout, a percentage above 100, a zero threshold) are refused here, so a
 * bad override never reaches a proxy as a NACK.
 *
 * Layering: `mergeOverrides` stacks two layers, `resolvePolicy` lays the result over a base. Herald wires them
 * (main.ts, model/merge.ts), lowest first: DEFAULT_POLICY < policy file `defaults:` < the source's overrides
 * (annotations, services file) < the policy file's `services.<name>` entry (the operator's file has the last
 * word).
 */
import * as fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { Problems, isObject } from '../config/validate';

export interface ClusterPolicy {
  readonly connectTimeoutMs: number;
  /** Route timeout of the egress route; 0 disables it (the caller's own deadline governs). */
  readonly requestTimeoutMs: number;
  readonly healthCheck: {
    readonly enabled: boolean;
    readonly path: string;
    readonly timeoutMs: number;
    readonly intervalMs: number;
    /** How often to check a cluster that has never seen traffic (Envoy's default is 60 s). */
    readonly noTrafficIntervalMs: number;
    readonly healthyThreshold: number;
    readonly unhealthyThreshold: number;
  };
  readonly outlierDetection: {
    readonly consecutive5xx: number;
    readonly maxEjectionPercent: number;
    readonly successRateMinimumHosts: number;
    readonly successRateRequestVolume: number;
    readonly successRateStdevFactor: number;
  };
  readonly healthyPanicThresholdPercent: number;
  readonly ignoreNewHostsUntilFirstHc: boolean;
  readonly ignoreHealthOnHostRemoval: boolean;
  /**
   * Envoy's common_lb_config.update_merge_window: health-check flips and weight changes reach the load balancer
   * up to this long after they happen. Envoy's default is 1 s; Herald's is 0, so a host failing its checks
   * leaves at once. (EDS DRAINING is never delayed by it: test/e2e/sidecar-draining-panic.test.ts.)
   */
  readonly updateMergeWindowMs: number;
  /** Retries are off by default: they hide failures. */
  readonly retries: number;
  /** Zone-aware: the proxy's own zone at priority 0, the rest at priority 1. */
  readonly zoneAware: boolean;
  /** Upstream protocol: http1 for plain HTTP services, http2 for gRPC. */
  readonly protocol: 'http1' | 'http2';
}

export const DEFAULT_POLICY: ClusterPolicy = {
  connectTimeoutMs: 1000,
  requestTimeoutMs: 15_000,
  healthCheck: {
    enabled: true,
    path: '/healthz',
    timeoutMs: 2000,
    intervalMs: 15_000,
    noTrafficIntervalMs: 15_000,
    healthyThreshold: 1,
    unhealthyThreshold: 2,
  },
  outlierDetection: {
    consecutive5xx: 3,
    maxEjectionPercent: 5,
    successRateMinimumHosts: 20,
    successRateRequestVolume: 50,
    successRateStdevFactor: 1900,
  },
  healthyPanicThresholdPercent: 50,
  ignoreNewHostsUntilFirstHc: true,
  ignoreHealthOnHostRemoval: true,
  updateMergeWindowMs: 0,
  retries: 0,
  zoneAware: false,
  protocol: 'http1',
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type PolicyOverrides = DeepPartial<ClusterPolicy>;

/** The policy with `overrides` laid over `base`, field by field (one level of nesting). */
export function resolvePolicy(overrides: PolicyOverrides | undefined, base: ClusterPolicy = DEFAULT_POLICY): ClusterPolicy {
  if (!overrides) return base;
  return {
    ...base,
    ...(overrides as Partial<ClusterPolicy>),
    healthCheck: { ...base.healthCheck, ...overrides.healthCheck },
    outlierDetection: { ...base.outlierDetection, ...overrides.outlierDetection },
  };
}

/**
 * `higher` laid over `lower`, field by field; neither is changed. Keys come out in schema order, so equal
 * layers give equal JSON (the publisher compares policies by their JSON).
 */
export function mergeOverrides(lower: PolicyOverrides | undefined, higher: PolicyOverrides | undefined): PolicyOverrides {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(POLICY_SCHEMA)) {
    const lo = (lower as Record<string, unknown> | undefined)?.[key];
    const hi = (higher as Record<string, unknown> | undefined)?.[key];
    if (isGroup(spec)) {
      const merged: Record<string, unknown> = {};
      for (const sub of Object.keys(spec)) {
        const v = (hi as Record<string, unknown> | undefined)?.[sub] ?? (lo as Record<string, unknown> | undefined)?.[sub];
        if (v !== undefined) merged[sub] = v;
      }
      if (Object.keys(merged).length > 0) out[key] = merged;
    } else {
      const v = hi ?? lo;
      if (v !== undefined) out[key] = v;
    }
  }
  return out as PolicyOverrides;
}

// ---------------------------------------------------------------------------------------------------------
// The schema: one entry per field, with the range Envoy accepts. Shared by every validator below.

type FieldSpec =
  | { readonly kind: 'duration'; readonly min: number; readonly max: number }
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'number'; readonly min: number; readonly max: number }
  | { readonly kind: 'bool' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'httpPath' };

type Schema<T> = { readonly [K in keyof T]-?: T[K] extends object ? Schema<T[K]> : FieldSpec };

const DAY_MS = 86_400_000;
const ms = (min: number): FieldSpec => ({ kind: 'duration', min, max: DAY_MS });
const int = (min: number, max: number): FieldSpec => ({ kind: 'int', min, max });
const BOOL: FieldSpec = { kind: 'bool' };

/** Every overridable field and what Envoy accepts for it (durations in ms; Envoy rejects a zero timeout). */
export const POLICY_SCHEMA = {
  connectTimeoutMs: ms(1),
  requestTimeoutMs: ms(0),
  healthCheck: {
    enabled: BOOL,
    path: { kind: 'httpPath' },
    timeoutMs: ms(1),
    intervalMs: ms(1),
    noTrafficIntervalMs: ms(1),
    healthyThreshold: int(1, 1000),
    unhealthyThreshold: int(1, 1000),
  },
  outlierDetection: {
    consecutive5xx: int(1, 1_000_000),
    maxEjectionPercent: int(0, 100),
    successRateMinimumHosts: int(1, 1_000_000),
    successRateRequestVolume: int(1, 1_000_000),
    successRateStdevFactor: int(1, 1_000_000),
  },
  healthyPanicThresholdPercent: { kind: 'number', min: 0, max: 100 },
  ignoreNewHostsUntilFirstHc: BOOL,
  ignoreHealthOnHostRemoval: BOOL,
  updateMergeWindowMs: ms(0),
  retries: int(0, 10),
  zoneAware: BOOL,
  protocol: { kind: 'enum', values: ['http1', 'http2'] },
} as const satisfies Schema<ClusterPolicy>;

type AnySchema = { readonly [key: string]: FieldSpec | AnySchema };

function isGroup(spec: FieldSpec | AnySchema): spec is AnySchema {
  return !('kind' in spec && typeof spec.kind === 'string');
}

function describe(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'duration':
      return spec.min > 0 ? `must be a whole number of milliseconds from ${spec.min} to ${spec.max}` : `must be a whole number of milliseconds from 0 (off) to ${spec.max}`;
    case 'int':
      return `must be an integer from ${spec.min} to ${spec.max}`;
    case 'number':
      return `must be a number from ${spec.min} to ${spec.max}`;
    case 'bool':
      return 'must be true or false';
    case 'enum':
      return `must be one of ${spec.values.join(', ')}`;
    case 'httpPath':
      return 'must be an HTTP path starting with / (no spaces or control characters)';
  }
}

/** The value if it meets `spec`, else undefined. */
function checkValue(spec: FieldSpec, v: unknown): unknown {
  switch (spec.kind) {
    case 'duration':
    case 'int':
      return typeof v === 'number' && Number.isInteger(v) && v >= spec.min && v <= spec.max ? v : undefined;
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) && v >= spec.min && v <= spec.max ? v : undefined;
    case 'bool':
      return typeof v === 'boolean' ? v : undefined;
    case 'enum':
      return typeof v === 'string' && spec.values.includes(v) ? v : undefined;
    case 'httpPath':
      return typeof v === 'string' && /^\/[\x21-\x7e]*$/.test(v) ? v : undefined;
  }
}

function validateGroup(raw: Record<string, unknown>, schema: AnySchema, path: string, p: Problems): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const allowed = Object.keys(schema);
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) p.add(`${path}.${key}`, `unknown field (expected one of ${allowed.join(', ')})`);
  }
  for (const [key, spec] of Object.entries(schema)) {
    const v = raw[key];
    if (v === undefined) continue;
    const where = `${path}.${key}`;
    if (isGroup(spec)) {
      if (!isObject(v)) {
        p.add(where, 'must be a mapping');
        continue;
      }
      const sub = validateGroup(v, spec, where, p);
      if (Object.keys(sub).length > 0) out[key] = sub;
      continue;
    }
    const ok = checkValue(spec, v);
    if (ok === undefined) p.add(where, describe(spec));
    else out[key] = ok;
  }
  return out;
}

export interface PolicyResult {
  /** The valid fields, in schema order; invalid ones are left out. Use them only if `problems` is empty. */
  readonly overrides: PolicyOverrides;
  /** `<path>.<field>: <what is wrong>`, one per problem. */
  readonly problems: string[];
}

/**
 * Validates a policy block (e.g. a services file's `policy:`). Unknown keys and values Envoy would reject are
 * problems prefixed with `path`, e.g. `services[web].policy.healthCheck.timeoutMs: must be ...`. Never throws.
 */
export function validatePolicyOverrides(raw: unknown, path: string): PolicyResult {
  const p = new Problems();
  if (raw === undefined || raw === null) return { overrides: {}, problems: [] };
  if (!isObject(raw)) return { overrides: {}, problems: [`${path}: must be a mapping`] };
  const overrides = validateGroup(raw, POLICY_SCHEMA, path, p) as PolicyOverrides;
  return { overrides, problems: p.list };
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes annotations.

/** The prefix of every policy annotation. */
export const ANNOTATION_PREFIX = 'herald.io/';

/**
 * Annotation (without the prefix) → policy field. Durations take a unit (`500ms`, `2s`, `1m`, `1h`, decimals
 * allowed: `1.5s`); booleans are `true`/`false`; numbers are plain decimals.
 */
export const POLICY_ANNOTATIONS: Readonly<Record<string, readonly [string] | readonly [string, string]>> = {
  protocol: ['protocol'],
  'zone-aware': ['zoneAware'],
  retries: ['retries'],
  'connect-timeout': ['connectTimeoutMs'],
  'request-timeout': ['requestTimeoutMs'],
  'health-check': ['healthCheck', 'enabled'],
  'health-check-path': ['healthCheck', 'path'],
  'health-check-timeout': ['healthCheck', 'timeoutMs'],
  'health-check-interval': ['healthCheck', 'intervalMs'],
  'health-check-no-traffic-interval': ['healthCheck', 'noTrafficIntervalMs'],
  'health-check-healthy-threshold': ['healthCheck', 'healthyThreshold'],
  'health-check-unhealthy-threshold': ['healthCheck', 'unhealthyThreshold'],
  'outlier-consecutive-5xx': ['outlierDetection', 'consecutive5xx'],
  'outlier-max-ejection-percent': ['outlierDetection', 'maxEjectionPercent'],
  'outlier-success-rate-minimum-hosts': ['outlierDetection', 'successRateMinimumHosts'],
  'outlier-success-rate-request-volume': ['outlierDetection', 'successRateRequestVolume'],
  'outlier-success-rate-stdev-factor': ['outlierDetection', 'successRateStdevFactor'],
  'panic-threshold': ['healthyPanicThresholdPercent'],
  'ignore-new-hosts-until-first-hc': ['ignoreNewHostsUntilFirstHc'],
  'ignore-health-on-host-removal': ['ignoreHealthOnHostRemoval'],
  'update-merge-window': ['updateMergeWindowMs'],
};

/**
 * `herald.io/` annotations that are not policy: they describe one endpoint and are read by the Kubernetes source
 * (the endpoint's port, its weight, its canary flag). policyFromAnnotations skips them. A new endpoint-level
 * annotation must be added here, or policyFromAnnotations reports it as unknown.
 */
export const ENDPOINT_ANNOTATIONS: readonly string[] = ['port', 'weight', 'canary'];

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses an annotation string into the raw value its field expects, or a problem message. */
function parseAnnotation(spec: FieldSpec, text: string): { value: unknown } | { problem: string } {
  const t = text.trim();
  switch (spec.kind) {
    case 'duration': {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(t);
      if (!m) return { problem: `must be a duration with a unit, like 500ms, 2s or 1m (got ${JSON.stringify(text)})` };
      const value = Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
      if (!Number.isInteger(value)) return { problem: `must be a whole number of milliseconds (got ${JSON.stringify(text)})` };
      return { value };
    }
    case 'int':
    case 'number':
      if (!/^-?\d+(\.\d+)?$/.test(t)) return { problem: `${describe(spec)} (got ${JSON.stringify(text)})` };
      return { value: Number(t) };
    case 'bool':
      if (t !== 'true' && t !== 'false') return { problem: `must be "true" or "false" (got ${JSON.stringify(text)})` };
      return { value: t === 'true' };
    case 'enum':
    case 'httpPath':
      return { value: t };
  }
}

/**
 * Policy overrides from Kubernetes annotations (a pod's or a Service's). Only keys starting with `herald.io/`
 * are read, except the endpoint-level ENDPOINT_ANNOTATIONS; an unknown `herald.io/` key is a problem (a typo
 * must not pass silently); other keys are ignored.
 * Problems are prefixed `<path>.annotations["herald.io/<name>"]`. Never throws.
 */
export function policyFromAnnotations(annotations: Readonly<Record<string, string>>, path: string): PolicyResult {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  const where = (key: string) => `${path}.annotations[${JSON.stringify(key)}]`;
  for (const key of Object.keys(annotations).sort()) {
    if (!key.startsWith(ANNOTATION_PREFIX)) continue;
    const name = key.slice(ANNOTATION_PREFIX.length);
    if (ENDPOINT_ANNOTATIONS.includes(name)) continue;
    const field = POLICY_ANNOTATIONS[name];
    if (!field) {
      problems.push(`${where(key)}: unknown Herald annotation (expected one of ${Object.keys(POLICY_ANNOTATIONS).map((n) => ANNOTATION_PREFIX + n).join(', ')})`);
      continue;
    }
    const spec = field.length === 1 ? (POLICY_SCHEMA as AnySchema)[field[0]] : ((POLICY_SCHEMA as AnySchema)[field[0]] as AnySchema)[field[1]];
    const parsed = parseAnnotation(spec as FieldSpec, annotations[key]!);
    if ('problem' in parsed) {
      problems.push(`${where(key)}: ${parsed.problem}`);
      continue;
    }
    const checked = checkValue(spec as FieldSpec, parsed.value);
    if (checked === undefined) {
      problems.push(`${where(key)}: ${describe(spec as FieldSpec)} (got ${JSON.stringify(annotations[key])})`);
      continue;
    }
    if (field.length === 1) raw[field[0]] = checked;
    else ((raw[field[0]] ??= {}) as Record<string, unknown>)[field[1]] = checked;
  }
  // Re-run through the schema for canonical key order (every value is already valid).
  return { overrides: validateGroup(raw, POLICY_SCHEMA, path, new Problems()) as PolicyOverrides, problems };
}

// ---------------------------------------------------------------------------------------------------------
// The policy file.

export interface PolicyFile {
  /** Per-service overrides (keyed by service name), each already validated. */
  readonly policies: Map<string, PolicyOverrides>;
  /** The `defaults:` block: overrides for every service (the base the others are laid over). `{}` when absent. */
  readonly defaults: PolicyOverrides;
  /** Path-prefixed problems (`services[web].healthCheck.timeoutMs: ...`); empty when the file is good. */
  readonly problems: string[];
}

const SERVICE_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

/**
 * Parses a policy file's text:
 *
 *   defaults:                       # optional, applies to every service
 *     healthCheck: { intervalMs: 5000 }
 *   services:                       # optional, service name → overrides
 *     web: { zoneAware: true, healthCheck: { path: /ready } }
 *
 * Never throws; on any problem the caller should keep its previous policies.
 */
export function parsePolicyFile(text: string): PolicyFile {
  const empty = (problems: string[]): PolicyFile => ({ policies: new Map(), defaults: {}, problems });
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return empty([`yaml: ${(err as Error).message}`]);
  }
  if (doc === null || doc === undefined) return empty([]);
  if (!isObject(doc)) return empty(['(root): must be a mapping with `defaults` and/or `services`']);
  const problems: string[] = [];
  for (const key of Object.keys(doc)) if (key !== 'defaults' && key !== 'services') problems.push(`${key}: unknown field (expected one of defaults, services)`);
  const defaults = validatePolicyOverrides(doc.defaults, 'defaults');
  problems.push(...defaults.problems);
  const policies = new Map<string, PolicyOverrides>();
  if (doc.services !== undefined && doc.services !== null) {
    if (!isObject(doc.services)) problems.push('services: must be a mapping of service name to overrides');
    else
      for (const name of Object.keys(doc.services).sort()) {
        const path = `services[${name}]`;
        if (!SERVICE_NAME.test(name)) problems.push(`${path}: service names are lower-case letters, digits, dots and dashes`);
        const r = validatePolicyOverrides(doc.services[name], path);
        problems.push(...r.problems);
        policies.set(name, r.overrides);
      }
  }
  return { policies, defaults: defaults.overrides, problems };
}

/** Reads and parses a policy file (see parsePolicyFile). An unreadable file is one problem; never throws. */
export function loadPolicyFile(file: string): PolicyFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { policies: new Map(), defaults: {}, problems: [`${file}: cannot read: ${(err as Error).message}`] };
  }
  return parsePolicyFile(text);
}
