/**
 * Herald's configuration file (herald.yaml): one schema, validated once, defaults in one place. Paths in it are
 * relative to the file's directory.
 *
 *   xds:     { address: 127.0.0.1, port: 18000, maxStreamAgeSeconds: 300 }
 *   admin:   { address: 127.0.0.1, port: 18001 }
 *   sidecar: { egress: { address: 127.0.0.1, port: 15001 } }
 *   mesh:    { defaultNamespace: default, clusterDomain: cluster.local, defaultEgressScope: mesh }
 *   sources:
 *     - { kind: file, name: file, path: services.yaml }
 *     - { kind: kubernetes, name: k8s, serviceLabel: app, portName: http, discovery: pods }
 *     - { kind: registry, name: vms, url: http://127.0.0.1:18002, services: [legacy-api] }
 *   registry: { address: 127.0.0.1, port: 18002, db: registry.sqlite, tokenFile: registry.token }
 *   batching: { delayMs: 100, maxDelayMs: 1000 }
 *   policyFile: policies.yaml          # cluster defaults and per-service overrides (read at start)
 *
 * Every source may carry `guard: { maxRemovalPercent, holdSeconds, confirmByReread }`; defaults per kind below.
 *
 * The zod schema below is the one place for the shape, the ranges and the defaults; the types are derived from it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { type DeepReadonly, bool, intIn, nonEmptyString, oneOf, problemsOf, strict } from './schema';
import { FILE_SOURCE_DEFAULTS } from '../sources/file/file-source';
import { VIEW_DEFAULTS } from '../pipeline/views';
import { DEFAULT_CLUSTER_DOMAIN, DEFAULT_NAMESPACE, NAMESPACE_PATTERN } from '../model/names';

const NAMESPACE = z.string({ error: 'must be a namespace (an RFC 1123 label)' }).regex(NAMESPACE_PATTERN, { error: 'must be a namespace (an RFC 1123 label)' });

import { DEFAULT_ADMISSION, DEFAULT_STREAM_LIMITS } from '../xds/limits';

/** Where RegistryHost resources live by default (deploy/registry-crd.yaml). */
const REGISTRY_NAMESPACE = 'herald-system';

/** Long enough that reconnects cost nothing, short enough that a returned replica gets its share within minutes. */
export const DEFAULT_MAX_STREAM_AGE_SECONDS = 300;

const DISCOVERY = oneOf(['pods', 'endpointslices-ready', 'endpointslices-terminating']);
export type DiscoveryMode = z.output<typeof DISCOVERY>;

const endpoint = (address: string, port: number) =>
  strict({ address: nonEmptyString().default(address), port: intIn(0, 65535).default(port) }, { notMapping: 'must be a mapping with address and port' }).prefault({});

/** Every field may be left out; the rest come from the kind's defaults. */
const guard = (maxRemovalPercent: number, holdSeconds: number, confirmByReread: boolean) =>
  strict({
    maxRemovalPercent: intIn(0, 100).default(maxRemovalPercent),
    holdSeconds: intIn(0, 86_400).default(holdSeconds),
    confirmByReread: bool().default(confirmByReread),
  }).prefault({});

const stringList = (emptyProblem?: string) =>
  z.array(nonEmptyString(), { error: (iss) => (iss.input === undefined && emptyProblem ? emptyProblem : 'must be a list of non-empty strings') });

/** The schema of herald.yaml; `baseDir` anchors relative paths (they come out absolute). */
function configSchema(baseDir: string) {
  const file = () => nonEmptyString().transform((p) => path.resolve(baseDir, p));
  /** Absent → '' (not configured). */
  const optionalFile = () => file().default('');
  const name = nonEmptyString().optional();

  const fileSource = strict({
    kind: z.literal('file'),
    name,
    path: file(),
    /** Two reads this far apart must agree before a version is served (sources/file/settle.ts). */
    settleMs: intIn(0, 60_000).default(FILE_SOURCE_DEFAULTS.settleMs),
    /** An empty file is an empty mesh; otherwise it is refused and the last good content stays. */
    allowEmpty: bool().default(FILE_SOURCE_DEFAULTS.allowEmpty),
    maxBytes: intIn(1, 1 << 30).default(FILE_SOURCE_DEFAULTS.maxBytes),
    maxEndpoints: intIn(1, 10_000_000).default(FILE_SOURCE_DEFAULTS.maxEndpoints),
    /** A version with this share fewer live endpoints is served only once unchanged for confirmMs. */
    maxLossPercent: intIn(0, 100).default(FILE_SOURCE_DEFAULTS.maxLossPercent),
    confirmMs: intIn(0, 600_000).default(FILE_SOURCE_DEFAULTS.confirmMs),
    // A file edit is deliberate: the file source holds suspicious whole-file drops itself (maxLossPercent), so no
    // per-service guard.
    guard: guard(50, 0, true),
    /** The namespace of the file's services written without one (`web` → `<serviceNamespace>/web`); default mesh.defaultNamespace. */
    serviceNamespace: NAMESPACE.optional(),
  });
  const kubernetesSource = strict({
    kind: z.literal('kubernetes'),
    name,
    /** A kubeconfig file; '' means in-cluster, then $KUBECONFIG, then ~/.kube/config. */
    kubeconfig: optionalFile(),
    /** [] means every namespace. */
    namespaces: stringList().default([]),
    serviceLabel: nonEmptyString().default('app'),
    /**
     * What names a pod's service: `label` (the default: the value of serviceLabel, within the pod's namespace; the
     * talk's design, needs no Service objects or RBAC on them, and works for pods no Service selects) or `service`
     * (every Kubernetes Service of the pod's namespace whose selector matches the pod: a Service informer).
     */
    identity: oneOf(['label', 'service']).default('label'),
    portName: nonEmptyString().default('http'),
    discovery: DISCOVERY.default('pods'),
    /** Keyed by `<namespace>/<name>`, or by a bare name for that name in every namespace. */
    discoveryOverrides: z.record(z.string(), DISCOVERY, { error: 'must be a mapping of service name to discovery mode' }).default({}),
    // Removals without a deletionTimestamp are held 30 s or until a relist confirms them.
    guard: guard(50, 30, true),
  });
  const registrySource = strict({
    kind: z.literal('registry'),
    name,
    /** `http` (default): poll `url`; `kubernetes`: watch RegistryHost resources in `namespace`. */
    backend: oneOf(['http', 'kubernetes'], 'must be http or kubernetes').default('http'),
    url: nonEmptyString()
      .regex(/^https?:\/\//, { error: 'must be an http:// or https:// URL' })
      .transform((u) => u.replace(/\/+$/, ''))
      .default(''),
    kubeconfig: optionalFile(),
    namespace: nonEmptyString().default(REGISTRY_NAMESPACE),
    services: stringList('must name at least one service').min(1, { error: 'must name at least one service' }),
    intervalMs: intIn(100, 3_600_000).default(5000),
    ttlSeconds: intIn(1, 86_400 * 30).default(600),
    /** The namespace of the registry's services (`legacy-api` → `<serviceNamespace>/legacy-api`); default mesh.defaultNamespace. */
    serviceNamespace: NAMESPACE.optional(),
    // Defaults by backend, below: a broken HTTP registry can answer empty lists again and again (holds last the
    // hosts' TTL, ttlSeconds, and reads never confirm); watched RegistryHosts cannot, so they are guarded as pods.
    guard: strict({ maxRemovalPercent: intIn(0, 100).optional(), holdSeconds: intIn(0, 86_400).optional(), confirmByReread: bool().optional() }).default({}),
  })
    .check((ctx) => {
      if (ctx.value.backend === 'http' && ctx.value.url === '') ctx.issues.push({ code: 'custom', path: ['url'], message: 'is required with backend http', input: ctx.value });
    })
    .transform((r) => {
      const base = r.backend === 'kubernetes' ? { maxRemovalPercent: 50, holdSeconds: 30, confirmByReread: true } : { maxRemovalPercent: 50, holdSeconds: r.ttlSeconds, confirmByReread: false };
      const set = Object.fromEntries(Object.entries(r.guard).filter(([, v]) => v !== undefined));
      return { ...r, guard: { ...base, ...set } as typeof base };
    });
  const source = z.discriminatedUnion('kind', [fileSource, kubernetesSource, registrySource], {
    error: (iss) => (iss.code === 'invalid_union' ? 'must be one of: file, kubernetes, registry' : 'must be a mapping'),
  });

  const L = DEFAULT_STREAM_LIMITS;
  const A = DEFAULT_ADMISSION;
  return strict({
    /**
     * ADS (gRPC), SotW and Delta. maxStreamAgeSeconds: each stream is ended (status OK) after this long ±20%, so
     * proxies reconnect and streams spread again over every replica after one returns; 0 keeps streams forever.
     */
    xds: strict(
      {
        address: nonEmptyString().default('127.0.0.1'),
        port: intIn(0, 65535).default(18000),
        maxStreamAgeSeconds: intIn(0, 86_400).default(DEFAULT_MAX_STREAM_AGE_SECONDS),
        /** Serve xDS over TLS (mTLS with clientCaFile; xds/tls.ts, xds/identity.ts); absent: plaintext. */
        tls: strict({
          certFile: file(),
          keyFile: file(),
          clientCaFile: file().optional(),
          /** With a CA bundle: a client's certificate identity must match the node it claims. */
          verifyNodeIdentity: bool().default(true),
          trustDomain: nonEmptyString().optional(),
          reloadIntervalMs: intIn(100, 3_600_000).optional(),
        }).optional(),
        /** Per-stream bounds (xds/limits.ts says why each default). */
        limits: strict({
          maxRequestBytes: intIn(1024, 256 << 20).default(L.maxRequestBytes),
          maxNamesPerRequest: intIn(1, 10_000_000).default(L.maxNamesPerRequest),
          maxBufferedBytes: intIn(64 << 10, 4 * 2 ** 30).default(L.maxBufferedBytes),
          maxBlockedMs: intIn(100, 3_600_000).default(L.maxBlockedMs),
        }).prefault({}),
      },
      { notMapping: 'must be a mapping with address and port' },
    ).prefault({}),
    admin: strict(
      {
        address: nonEmptyString().default('127.0.0.1'),
        port: intIn(0, 65535).default(18001),
        /** Host header names answered besides loopback and the bound address (DNS rebinding). */
        allowedHosts: stringList().default([]),
      },
      { notMapping: 'must be a mapping with address and port' },
    ).prefault({}),
    /** New xDS streams per second (token bucket), burst, and total (past them: UNAVAILABLE); streams per connection (past it: RST_STREAM). */
    admission: strict({
      newStreamsPerSecond: intIn(0, 1_000_000).default(A.newStreamsPerSecond),
      burst: intIn(1, 1_000_000).default(A.burst),
      maxStreams: intIn(0, 10_000_000).default(A.maxStreams),
      maxStreamsPerConnection: intIn(1, 1_000_000).default(A.maxStreamsPerConnection),
    }).prefault({}),
    /** A listener with only /healthz, /readyz and /metrics (for the kubelet and Prometheus); absent: none. */
    probes: strict({ address: nonEmptyString().default('0.0.0.0'), port: intIn(0, 65535).default(18003) }).optional(),
    sidecar: strict({ egress: endpoint('127.0.0.1', 15001) }).prefault({}),
    /** Service names and proxies' default scope (model/names.ts, model/scope.ts). */
    mesh: strict({
      /** The namespace of file and registry services, and of proxies that state none (HERALD_NAMESPACE). */
      defaultNamespace: NAMESPACE.default(DEFAULT_NAMESPACE),
      /** `<name>.<namespace>.svc.<clusterDomain>` is one of the names a service answers to. */
      clusterDomain: nonEmptyString()
        .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, { error: 'must be a DNS name (lower-case letters, digits, dots and dashes)' })
        .default(DEFAULT_CLUSTER_DOMAIN),
      /**
       * What a proxy that declares no scope (HERALD_EGRESS_SCOPE) and whose namespace has no default in the policy
       * file receives: `mesh` (every service; the default, as before scopes existed) or `namespace` (its own).
       */
      defaultEgressScope: oneOf(['mesh', 'namespace']).default('mesh'),
    }).prefault({}),
    /** Precedence: the first listed wins an address:port. Unnamed sources are `<kind>-<index>`. */
    sources: z
      .array(source, { error: (iss) => (iss.input === undefined ? 'at least one source is required' : 'must be a list') })
      .min(1, { error: 'at least one source is required' })
      .transform((list) => list.map((s, i) => ({ ...s, name: s.name ?? `${s.kind}-${i}` })))
      .check((ctx) => {
        ctx.value.forEach((s, i) => {
          if (ctx.value.findIndex((x) => x.name === s.name) < i) ctx.issues.push({ code: 'custom', path: [i, 'name'], message: `duplicate source name ${JSON.stringify(s.name)}`, input: s.name });
        });
      }),
    /** Herald's own registry server (the legacy v1 API), embedded in `herald serve` when configured. */
    registry: strict({
      address: nonEmptyString().default('127.0.0.1'),
      port: intIn(0, 65535).default(18002),
      /** `sqlite` (default, `db`) or `kubernetes` (RegistryHost resources in `namespace`, shared by every replica). */
      backend: oneOf(['sqlite', 'kubernetes'], 'must be sqlite or kubernetes').default('sqlite'),
      db: optionalFile(),
      kubeconfig: optionalFile(),
      namespace: nonEmptyString().default(REGISTRY_NAMESPACE),
      /** `token` (default): writes need the bearer token of `tokenFile` ('' allows no writes); `none`: open, as the original. */
      auth: oneOf(['token', 'none'], 'must be token or none').default('token'),
      /** File holding the bearer token that writes need; '' allows no writes. */
      tokenFile: optionalFile(),
      ttlSeconds: intIn(1, 86_400 * 30).default(600),
      /** Accept IPv6 hosts (the original accepts IPv4 only). */
      ipv6: bool().default(false),
      /** The `env` of GET answers; absent: $APPLICATION_ENV or `development`, as the original. */
      env: nonEmptyString().optional(),
    })
      .check((ctx) => {
        if (ctx.value.backend === 'sqlite' && ctx.value.db === '') ctx.issues.push({ code: 'custom', path: ['db'], message: 'is required with backend sqlite', input: ctx.value });
      })
      .optional(),
    /** A policy file (config/policy-file.ts): defaults for every cluster and per-service overrides; '' for none. */
    policyFile: optionalFile(),
    /** Bursts coalesce for delayMs, never longer than maxDelayMs; DRAINING and removals go out at once. */
    batching: strict({ delayMs: intIn(0, 60_000).default(100), maxDelayMs: intIn(0, 600_000).default(1000) })
      .check((ctx) => {
        if (ctx.value.maxDelayMs < ctx.value.delayMs) ctx.issues.push({ code: 'custom', path: ['maxDelayMs'], message: 'must be at least delayMs', input: ctx.value });
      })
      .prefault({}),
    /** Views (pipeline/views.ts): how many distinct configurations may exist, and when idle ones go. */
    views: strict({
      maxViews: intIn(1, 100_000).default(VIEW_DEFAULTS.maxViews),
      /** Zones always known, besides those of the served endpoints; a proxy in any other zone gets the no-zone view. */
      zones: stringList().default([]),
      idleGraceSeconds: intIn(0, 86_400).default(VIEW_DEFAULTS.idleGraceMs / 1000),
      /** Above this RSS idle views go at once and no new view is made; 0: no budget. */
      memoryBudgetMb: intIn(0, 1 << 20).default(VIEW_DEFAULTS.memoryBudgetBytes / (1 << 20)),
    }).prefault({}),
    /** Log a response that has waited this long for its ACK. */
    ackTimeoutMs: intIn(1000, 3_600_000).default(30_000),
  });
}

export type HeraldConfig = DeepReadonly<z.output<ReturnType<typeof configSchema>>>;
export type SourceConfig = HeraldConfig['sources'][number];
export type FileSourceConfig = Extract<SourceConfig, { kind: 'file' }>;
export type KubernetesSourceConfig = Extract<SourceConfig, { kind: 'kubernetes' }>;
export type RegistrySourceConfig = Extract<SourceConfig, { kind: 'registry' }>;
export type RegistryServerConfig = NonNullable<HeraldConfig['registry']>;
export type Endpoint = HeraldConfig['xds'];
export type GuardConfig = SourceConfig['guard'];

/** Parses and validates a config document. `baseDir` anchors relative paths. Throws one Error listing every problem. */
export function parseConfig(text: string, baseDir: string): HeraldConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new Error(`config: yaml: ${(err as Error).message}`);
  }
  const r = configSchema(baseDir).safeParse(doc);
  if (r.success) return r.data;
  const problems = problemsOf(r.error.issues);
  throw new Error(`config has ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
}

export function loadConfig(file: string): HeraldConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`config: cannot read ${file}: ${(err as Error).message}`);
  }
  return parseConfig(text, path.dirname(path.resolve(file)));
}
