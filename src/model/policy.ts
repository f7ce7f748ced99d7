/**
 * Cluster policy: the talk's defaults in one place, overridable per service. Every duration is milliseconds.
 */
export interface ClusterPolicy {
  readonly connectTimeoutMs: number;
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
