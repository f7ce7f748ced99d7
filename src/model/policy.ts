/**
 * Cluster policy: the talk's defaults in one place, overridable per service. Every duration is milliseconds.
 *
 * The zod schema below is the policy: `ClusterPolicy` and `PolicyOverrides` are derived from it, and it holds the
 * range Envoy accepts for every field. Values Envoy would reject (a zero timeout, a percentage above 100, a zero
 * threshold) are refused, so a bad override never reaches a proxy as a NACK. Overrides come from three places, all
 * checked by this one schema: a service's `policy:` block in a services file (`validatePolicyOverrides`), the
 * Kubernetes source's `herald.io/` annotations (sources/kubernetes/annotations.ts), and the policy file
 * (config/policy-file.ts).
 *
 * Layering: `mergeOverrides` stacks two layers, `resolvePolicy` lays the result over a base. Herald wires them
 * (main.ts, model/merge.ts), lowest first: DEFAULT_POLICY < policy file `defaults:` < the source's overrides
 * (annotations, services file) < the policy file's `services.<name>` entry (the operator's file has the last
 * word).
 */
import { z } from 'zod';
import { type DeepReadonly, bool, intIn, numberIn, oneOf, parseKeepingValid, problemsOf, strict } from '../config/schema';

const DAY_MS = 86_400_000;
/** A duration in whole milliseconds; Envoy rejects a zero timeout, so most start at 1. */
const ms = (min: number) =>
  intIn(min, DAY_MS, min > 0 ? `must be a whole number of milliseconds from ${min} to ${DAY_MS}` : `must be a whole number of milliseconds from 0 (off) to ${DAY_MS}`);
const HTTP_PATH_PROBLEM = 'must be an HTTP path starting with / (no spaces or control characters)';

const HEALTH_CHECK = strict({
  enabled: bool(),
  path: z.string({ error: HTTP_PATH_PROBLEM }).regex(/^\/[\x21-\x7e]*$/, { error: HTTP_PATH_PROBLEM }),
  timeoutMs: ms(1),
  intervalMs: ms(1),
  /** How often to check a cluster that has never seen traffic (Envoy's default is 60 s). */
  noTrafficIntervalMs: ms(1),
  healthyThreshold: intIn(1, 1000),
  unhealthyThreshold: intIn(1, 1000),
});

const OUTLIER_DETECTION = strict({
  consecutive5xx: intIn(1, 1_000_000),
  maxEjectionPercent: intIn(0, 100),
  successRateMinimumHosts: intIn(1, 1_000_000),
  successRateRequestVolume: intIn(1, 1_000_000),
  successRateStdevFactor: intIn(1, 1_000_000),
});

/** Every policy field and what Envoy accepts for it. */
export const CLUSTER_POLICY = strict({
  connectTimeoutMs: ms(1),
  /** Route timeout of the egress route; 0 disables it (the caller's own deadline governs). */
  requestTimeoutMs: ms(0),
  healthCheck: HEALTH_CHECK,
  outlierDetection: OUTLIER_DETECTION,
  healthyPanicThresholdPercent: numberIn(0, 100),
  ignoreNewHostsUntilFirstHc: bool(),
  ignoreHealthOnHostRemoval: bool(),
  /**
   * Envoy's common_lb_config.update_merge_window: health-check flips and weight changes reach the load balancer
   * up to this long after they happen. Envoy's default is 1 s; Herald's is 0, so a host failing its checks
   * leaves at once. (EDS DRAINING is never delayed by it: test/e2e/sidecar-draining-panic.test.ts.)
   */
  updateMergeWindowMs: ms(0),
  /** Retries are off by default: they hide failures. */
  retries: intIn(0, 10),
  /** Zone-aware: the proxy's own zone at priority 0, the rest at priority 1. */
  zoneAware: bool(),
  /** Upstream protocol: http1 for plain HTTP services, http2 for gRPC. */
  protocol: oneOf(['http1', 'http2']),
});

/** Overrides: any subset of the policy's fields, groups included field by field. Unknown keys are problems. */
export const POLICY_OVERRIDES = strict({
  ...CLUSTER_POLICY.partial().shape,
  healthCheck: HEALTH_CHECK.partial().optional(),
  outlierDetection: OUTLIER_DETECTION.partial().optional(),
});

export type ClusterPolicy = DeepReadonly<z.output<typeof CLUSTER_POLICY>>;
export type PolicyOverrides = DeepReadonly<z.output<typeof POLICY_OVERRIDES>>;

/** The defaults, checked against the schema when this module loads. */
export const DEFAULT_POLICY: ClusterPolicy = CLUSTER_POLICY.parse({
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
} satisfies z.input<typeof CLUSTER_POLICY>);

/** The keys of the policy's nested groups (healthCheck, outlierDetection), merged field by field. */
const GROUPS: ReadonlySet<string> = new Set(Object.entries(CLUSTER_POLICY.shape).filter(([, s]) => s instanceof z.ZodObject).map(([k]) => k));

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
  for (const [key, spec] of Object.entries(CLUSTER_POLICY.shape)) {
    const lo = (lower as Record<string, unknown> | undefined)?.[key];
    const hi = (higher as Record<string, unknown> | undefined)?.[key];
    if (GROUPS.has(key)) {
      const merged: Record<string, unknown> = {};
      for (const sub of Object.keys((spec as z.ZodObject).shape)) {
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

export interface PolicyResult {
  /** The valid fields, in schema order; invalid ones are left out. Use them only if `problems` is empty. */
  readonly overrides: PolicyOverrides;
  /** `<path>.<field>: <what is wrong>`, one per problem. */
  readonly problems: string[];
}

/**
 * Validates a policy block (e.g. a services file's `policy:`) against POLICY_OVERRIDES. Unknown keys and values
 * Envoy would reject are problems prefixed with `path`, e.g. `services[web].policy.healthCheck.timeoutMs: must be
 * ...`; the valid fields are kept. `undefined` and `null` are no overrides. Never throws.
 */
export function validatePolicyOverrides(raw: unknown, path: string): PolicyResult {
  if (raw === undefined || raw === null) return { overrides: {}, problems: [] };
  const r = parseKeepingValid(POLICY_OVERRIDES, raw);
  return { overrides: r.value ?? {}, problems: problemsOf(r.issues, { prefix: path }) };
}
