/**
 * Herald's `herald.io/` annotations on pods: the endpoint-level ones (the endpoint's port, weight and canary
 * flag) and the policy ones (cluster policy overrides for the pod's service). Both are zod schemas; the policy
 * annotations are read into the model's POLICY_OVERRIDES schema, so they obey the same ranges as every other
 * policy source. Pure; no I/O.
 */
import { z } from 'zod';
import { intIn, parseKeepingValid, problemsOf, strict } from '../../config/schema';
import { CLUSTER_POLICY, POLICY_OVERRIDES, type PolicyResult } from '../../model/policy';

/** The prefix of every Herald annotation. */
export const ANNOTATION_PREFIX = 'herald.io/';

export const PORT_ANNOTATION = `${ANNOTATION_PREFIX}port`;
export const WEIGHT_ANNOTATION = `${ANNOTATION_PREFIX}weight`;
export const CANARY_ANNOTATION = `${ANNOTATION_PREFIX}canary`;

// ---------------------------------------------------------------------------------------------------------
// Endpoint annotations.

/**
 * `herald.io/` annotations that are not policy: they describe one endpoint (its port, its weight, its canary
 * flag). policyFromAnnotations skips them. A new endpoint-level annotation must be added here, or
 * policyFromAnnotations reports it as unknown.
 */
export const ENDPOINT_ANNOTATIONS: readonly string[] = ['port', 'weight', 'canary', 'egress'];

/**
 * `herald.io/egress`: the services the pod's sidecar calls (model/scope.ts). Herald never reads it from the pod:
 * the pod's spec hands it to `herald bootstrap` (the downward API, `HERALD_EGRESS_SCOPE`), which puts it in the
 * proxy's node metadata. Listed with the endpoint annotations so the policy parser does not call it unknown.
 */
export const EGRESS_ANNOTATION = `${ANNOTATION_PREFIX}egress`;

const ENDPOINT_ANNOTATION_SCHEMA = z.object({
  /** A port number, or the name of a container port (resolved against the pod's ports by the caller). */
  [PORT_ANNOTATION]: z
    .string()
    .transform((t) => (/^\d+$/.test(t) ? Number(t) : t))
    .pipe(z.union([intIn(1, 65535), z.string().regex(/^\D/)]))
    .optional(),
  [WEIGHT_ANNOTATION]: z
    .string()
    .regex(/^\d+$/)
    .transform(Number)
    .pipe(intIn(1, 128))
    .optional(),
  /** Only "true" marks a canary; any other value is not one. */
  [CANARY_ANNOTATION]: z
    .string()
    .optional()
    .transform((t) => t === 'true'),
});

export type EndpointAnnotations =
  | { readonly port: number | string | undefined; readonly weight: number; readonly canary: boolean }
  | { readonly problem: string };

type Parsed = { readonly port: number | string | undefined; readonly weight: number; readonly canary: boolean } | { readonly badKey: string };

/**
 * Parse results by annotations object: podEndpoint runs for every pod of a service on each recompute, and a pod's
 * annotations object is replaced, never changed, when the pod changes (PodLite is immutable).
 */
const parsedByAnnotations = new WeakMap<Readonly<Record<string, string>>, Parsed>();

function parseEndpointAnnotations(annotations: Readonly<Record<string, string>>): Parsed {
  const r = ENDPOINT_ANNOTATION_SCHEMA.safeParse(annotations);
  if (r.success) return { port: r.data[PORT_ANNOTATION], weight: r.data[WEIGHT_ANNOTATION] ?? 1, canary: r.data[CANARY_ANNOTATION] };
  return { badKey: String(r.error.issues[0]?.path[0] ?? '') };
}

/**
 * A pod's endpoint-level annotations, or the first problem (`metadata.annotations[herald.io/weight]: "0" must be
 * an integer from 1 to 128`), prefixed by `where`. A bad port or weight makes the pod malformed. `annotations`
 * must not be changed after the call (the result is remembered by its identity).
 */
export function endpointAnnotations(annotations: Readonly<Record<string, string>>, where: string): EndpointAnnotations {
  let parsed = parsedByAnnotations.get(annotations);
  if (!parsed) parsedByAnnotations.set(annotations, (parsed = parseEndpointAnnotations(annotations)));
  if (!('badKey' in parsed)) return parsed;
  const key = parsed.badKey;
  const text = JSON.stringify(annotations[key]);
  const what = key === PORT_ANNOTATION ? `${text} is neither a port number nor a named container port` : `${text} must be an integer from 1 to 128`;
  return { problem: `${where}.metadata.annotations[${key}]: ${what}` };
}

// ---------------------------------------------------------------------------------------------------------
// Policy annotations.

/** How an annotation's text is read: durations take a unit (`500ms`, `2s`, `1m`, `1h`, decimals allowed: `1.5s`). */
type TextKind = 'duration' | 'number' | 'bool' | 'text';

/** Annotation (without the prefix) → how its text reads and the policy field it sets. */
export const POLICY_ANNOTATIONS = {
  protocol: ['text', 'protocol'],
  'zone-aware': ['bool', 'zoneAware'],
  retries: ['number', 'retries'],
  'connect-timeout': ['duration', 'connectTimeoutMs'],
  'request-timeout': ['duration', 'requestTimeoutMs'],
  'health-check': ['bool', 'healthCheck', 'enabled'],
  'health-check-path': ['text', 'healthCheck', 'path'],
  'health-check-timeout': ['duration', 'healthCheck', 'timeoutMs'],
  'health-check-interval': ['duration', 'healthCheck', 'intervalMs'],
  'health-check-no-traffic-interval': ['duration', 'healthCheck', 'noTrafficIntervalMs'],
  'health-check-healthy-threshold': ['number', 'healthCheck', 'healthyThreshold'],
  'health-check-unhealthy-threshold': ['number', 'healthCheck', 'unhealthyThreshold'],
  'outlier-consecutive-5xx': ['number', 'outlierDetection', 'consecutive5xx'],
  'outlier-max-ejection-percent': ['number', 'outlierDetection', 'maxEjectionPercent'],
  'outlier-success-rate-minimum-hosts': ['number', 'outlierDetection', 'successRateMinimumHosts'],
  'outlier-success-rate-request-volume': ['number', 'outlierDetection', 'successRateRequestVolume'],
  'outlier-success-rate-stdev-factor': ['number', 'outlierDetection', 'successRateStdevFactor'],
  'panic-threshold': ['number', 'healthyPanicThresholdPercent'],
  'ignore-new-hosts-until-first-hc': ['bool', 'ignoreNewHostsUntilFirstHc'],
  'ignore-health-on-host-removal': ['bool', 'ignoreHealthOnHostRemoval'],
  'update-merge-window': ['duration', 'updateMergeWindowMs'],
} as const satisfies Record<string, readonly [TextKind, string] | readonly [TextKind, string, string]>;

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Reads an annotation's text into the value its field expects, or says why it cannot. */
function readText(kind: TextKind, text: string): { value: unknown } | { problem: string } {
  const t = text.trim();
  switch (kind) {
    case 'duration': {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(t);
      if (!m) return { problem: 'must be a duration with a unit, like 500ms, 2s or 1m' };
      const value = Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
      return Number.isInteger(value) ? { value } : { problem: 'must be a whole number of milliseconds' };
    }
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(t) ? { value: Number(t) } : { value: t }; // the field's schema says what it wants
    case 'bool':
      return t === 'true' || t === 'false' ? { value: t === 'true' } : { problem: 'must be "true" or "false"' };
    case 'text':
      return { value: t };
  }
}

function fieldSchema(field: readonly string[]): z.ZodType {
  const top = CLUSTER_POLICY.shape[field[0] as keyof typeof CLUSTER_POLICY.shape] as z.ZodType;
  return field.length === 1 ? top : ((top as z.ZodObject).shape[field[1]!] as z.ZodType);
}

/** One annotation: its text read by kind, then checked by the policy field's schema; problems quote the text. */
function annotationSchema(kind: TextKind, field: z.ZodType) {
  return z.string().transform((text, ctx) => {
    const got = ` (got ${JSON.stringify(text)})`;
    const read = readText(kind, text);
    if ('problem' in read) {
      ctx.issues.push({ code: 'custom', message: read.problem + got, input: text });
      return z.NEVER;
    }
    const checked = field.safeParse(read.value);
    if (!checked.success) {
      ctx.issues.push({ code: 'custom', message: (checked.error.issues[0]?.message ?? 'is not valid') + got, input: text });
      return z.NEVER;
    }
    return checked.data;
  });
}

const POLICY_ANNOTATION_SCHEMA = strict(
  Object.fromEntries(Object.entries(POLICY_ANNOTATIONS).map(([name, [kind, ...field]]) => [ANNOTATION_PREFIX + name, annotationSchema(kind, fieldSchema(field)).optional()])),
  { what: 'Herald annotation' },
);

/**
 * Policy overrides from Kubernetes annotations (a pod's). Only keys starting with `herald.io/` are read, except
 * the endpoint-level ENDPOINT_ANNOTATIONS; an unknown `herald.io/` key is a problem (a typo must not pass
 * silently); other keys are ignored. The valid annotations are kept when others are wrong.
 * Problems are prefixed `<path>.annotations["herald.io/<name>"]`. Never throws.
 */
export function policyFromAnnotations(annotations: Readonly<Record<string, string>>, path: string): PolicyResult {
  const ours: Record<string, string> = {};
  for (const key of Object.keys(annotations).sort()) {
    if (key.startsWith(ANNOTATION_PREFIX) && !ENDPOINT_ANNOTATIONS.includes(key.slice(ANNOTATION_PREFIX.length))) ours[key] = annotations[key]!;
  }
  const r = parseKeepingValid(POLICY_ANNOTATION_SCHEMA, ours);
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(r.value ?? {})) {
    if (value === undefined) continue;
    const [, ...field] = POLICY_ANNOTATIONS[key.slice(ANNOTATION_PREFIX.length) as keyof typeof POLICY_ANNOTATIONS];
    if (field.length === 1) raw[field[0]] = value;
    else ((raw[field[0]] ??= {}) as Record<string, unknown>)[field[1]!] = value;
  }
  // Every value is already valid: this parse only puts the keys in canonical (schema) order.
  const overrides = POLICY_OVERRIDES.parse(raw);
  const problems = problemsOf(r.issues, { at: (p) => `${path}.annotations[${JSON.stringify(String(p[0] ?? ''))}]` });
  return { overrides, problems };
}
