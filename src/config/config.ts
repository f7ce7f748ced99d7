/**
 * Herald's configuration file (herald.yaml): one schema, validated once, defaults in one place. Paths in it are
 * relative to the file's directory.
 *
 *   xds:     { address: 127.0.0.1, port: 18000 }
 *   admin:   { address: 127.0.0.1, port: 18001 }
 *   sidecar: { egress: { address: 127.0.0.1, port: 15001 } }
 *   sources:
 *     - { kind: file, name: file, path: services.yaml }
 *     - { kind: kubernetes, name: k8s, serviceLabel: app, portName: http, discovery: pods }
 *     - { kind: registry, name: vms, url: http://127.0.0.1:18002, services: [legacy-api] }
 *   registry: { address: 127.0.0.1, port: 18002, db: registry.sqlite, tokenFile: registry.token }
 *   batching: { delayMs: 100, maxDelayMs: 1000 }
 *   policyFile: policies.yaml          # cluster defaults and per-service overrides (read at start)
 *
 * Every source may carry `guard: { maxRemovalPercent, holdSeconds, confirmByReread }`; defaults per kind below.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Problems, bool, int, isObject, noUnknownKeys, str } from './validate';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface GuardConfig {
  readonly maxRemovalPercent: number;
  readonly holdSeconds: number;
  readonly confirmByReread: boolean;
}

interface SourceBase {
  readonly name: string;
  readonly guard: GuardConfig;
}

export interface FileSourceConfig extends SourceBase {
  readonly kind: 'file';
  readonly path: string;
}

export type DiscoveryMode = 'pods' | 'endpointslices-ready' | 'endpointslices-terminating';
export const DISCOVERY_MODES: readonly DiscoveryMode[] = ['pods', 'endpointslices-ready', 'endpointslices-terminating'];

export interface KubernetesSourceConfig extends SourceBase {
  readonly kind: 'kubernetes';
  /** A kubeconfig file; '' means in-cluster, then $KUBECONFIG, then ~/.kube/config. */
  readonly kubeconfig: string;
  readonly namespaces: readonly string[];
  readonly serviceLabel: string;
  readonly portName: string;
  readonly discovery: DiscoveryMode;
  readonly discoveryOverrides: Readonly<Record<string, DiscoveryMode>>;
}

export interface RegistrySourceConfig extends SourceBase {
  readonly kind: 'registry';
  /** `http` (default): poll `url`; `kubernetes`: watch RegistryHost resources in `namespace`. */
  readonly backend: 'http' | 'kubernetes';
  readonly url: string;
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly services: readonly string[];
  readonly intervalMs: number;
  readonly ttlSeconds: number;
}

export type SourceConfig = FileSourceConfig | KubernetesSourceConfig | RegistrySourceConfig;

/** Herald's own registry server (the legacy v1 API), embedded in `herald serve` when configured. */
export interface RegistryServerConfig {
  readonly address: string;
  readonly port: number;
  /** `sqlite` (default, `db`) or `kubernetes` (RegistryHost resources in `namespace`, shared by every replica). */
  readonly backend: 'sqlite' | 'kubernetes';
  readonly db: string;
  readonly kubeconfig: string;
  readonly namespace: string;
  /** `token` (default): writes need the bearer token of `tokenFile` ('' allows no writes); `none`: open, as the original. */
  readonly auth: 'token' | 'none';
  readonly tokenFile: string;
  readonly ttlSeconds: number;
  /** Accept IPv6 hosts (the original accepts IPv4 only). */
  readonly ipv6: boolean;
  /** The `env` of GET answers; undefined: $APPLICATION_ENV or `development`, as the original. */
  readonly env?: string;
}

export interface HeraldConfig {
  readonly xds: Endpoint;
  readonly admin: Endpoint;
  readonly sidecar: { readonly egress: Endpoint };
  readonly sources: readonly SourceConfig[];
  readonly registry?: RegistryServerConfig;
  /** A policy file (model/policy.ts parsePolicyFile): defaults for every cluster and per-service overrides. */
  readonly policyFile: string;
  readonly batching: { readonly delayMs: number; readonly maxDelayMs: number };
  /** Log a response that has waited this long for its ACK. */
  readonly ackTimeoutMs: number;
}

export const DEFAULTS = {
  xds: { address: '127.0.0.1', port: 18000 },
  admin: { address: '127.0.0.1', port: 18001 },
  egress: { address: '127.0.0.1', port: 15001 },
  ackTimeoutMs: 30_000,
  batching: { delayMs: 100, maxDelayMs: 1000 },
  registry: { address: '127.0.0.1', port: 18002, ttlSeconds: 600, namespace: 'herald-system' },
  /** A file edit is deliberate: no guard. Kubernetes removals without a deletionTimestamp are held 30 s. A
   *  registry can answer empty lists during an outage, so its holds last the hosts' TTL and reads never confirm. */
  guard: {
    file: { maxRemovalPercent: 50, holdSeconds: 0, confirmByReread: true },
    kubernetes: { maxRemovalPercent: 50, holdSeconds: 30, confirmByReread: true },
    registry: { maxRemovalPercent: 50, holdSeconds: 600, confirmByReread: false },
  },
  kubernetes: { serviceLabel: 'app', portName: 'http', discovery: 'pods' as DiscoveryMode },
  registrySource: { intervalMs: 5000, ttlSeconds: 600 },
} as const;

function endpoint(raw: unknown, pathName: string, p: Problems, fallback: Endpoint): Endpoint {
  if (raw === undefined) return fallback;
  if (!isObject(raw)) {
    p.add(pathName, 'must be a mapping with address and port');
    return fallback;
  }
  noUnknownKeys(raw, ['address', 'port'], pathName, p);
  return { address: str(raw, 'address', pathName, p, fallback.address), port: int(raw, 'port', pathName, p, 0, 65535, fallback.port) };
}

/** Parses and validates a config document. `baseDir` anchors relative paths. Throws one Error listing every problem. */
export function parseConfig(text: string, baseDir: string): HeraldConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new Error(`config: yaml: ${(err as Error).message}`);
  }
  const p = new Problems();
  if (!isObject(doc)) throw new Error('config: (root): must be a mapping');
  noUnknownKeys(doc, ['xds', 'admin', 'sidecar', 'sources', 'registry', 'batching', 'policyFile', 'ackTimeoutMs'], '(root)', p);
  const policyFile = doc.policyFile === undefined ? '' : path.resolve(baseDir, str(doc, 'policyFile', '(root)', p));
  const xds = endpoint(doc.xds, 'xds', p, DEFAULTS.xds);
  const admin = endpoint(doc.admin, 'admin', p, DEFAULTS.admin);
  let egress: Endpoint = DEFAULTS.egress;
  if (doc.sidecar !== undefined) {
    if (!isObject(doc.sidecar)) p.add('sidecar', 'must be a mapping');
    else {
      noUnknownKeys(doc.sidecar, ['egress'], 'sidecar', p);
      egress = endpoint(doc.sidecar.egress, 'sidecar.egress', p, DEFAULTS.egress);
    }
  }
  const sources: SourceConfig[] = [];
  const rawSources = doc.sources ?? [];
  if (!Array.isArray(rawSources)) p.add('sources', 'must be a list');
  else
    rawSources.forEach((s, i) => {
      const sp = `sources[${i}]`;
      if (!isObject(s)) return p.add(sp, 'must be a mapping');
      const parsed = parseSource(s, sp, baseDir, p, i);
      if (!parsed) return;
      if (sources.some((x) => x.name === parsed.name)) p.add(`${sp}.name`, `duplicate source name ${JSON.stringify(parsed.name)}`);
      sources.push(parsed);
    });
  if (sources.length === 0 && p.ok) p.add('sources', 'at least one source is required');
  const ackTimeoutMs = int(doc, 'ackTimeoutMs', '(root)', p, 1000, 3_600_000, DEFAULTS.ackTimeoutMs);
  let batching: HeraldConfig['batching'] = DEFAULTS.batching;
  if (doc.batching !== undefined) {
    if (!isObject(doc.batching)) p.add('batching', 'must be a mapping');
    else {
      noUnknownKeys(doc.batching, ['delayMs', 'maxDelayMs'], 'batching', p);
      const delayMs = int(doc.batching, 'delayMs', 'batching', p, 0, 60_000, DEFAULTS.batching.delayMs);
      const maxDelayMs = int(doc.batching, 'maxDelayMs', 'batching', p, 0, 600_000, DEFAULTS.batching.maxDelayMs);
      if (maxDelayMs < delayMs) p.add('batching.maxDelayMs', 'must be at least delayMs');
      batching = { delayMs, maxDelayMs };
    }
  }
  let registry: RegistryServerConfig | undefined;
  if (doc.registry !== undefined) {
    if (!isObject(doc.registry)) p.add('registry', 'must be a mapping');
    else {
      const r = doc.registry;
      noUnknownKeys(r, ['address', 'port', 'backend', 'db', 'kubeconfig', 'namespace', 'auth', 'tokenFile', 'ttlSeconds', 'ipv6', 'env'], 'registry', p);
      const backend = r.backend === undefined ? 'sqlite' : r.backend;
      if (backend !== 'sqlite' && backend !== 'kubernetes') p.add('registry.backend', 'must be sqlite or kubernetes');
      const auth = r.auth === undefined ? 'token' : r.auth;
      if (auth !== 'token' && auth !== 'none') p.add('registry.auth', 'must be token or none');
      registry = {
        address: str(r, 'address', 'registry', p, DEFAULTS.registry.address),
        port: int(r, 'port', 'registry', p, 0, 65535, DEFAULTS.registry.port),
        backend: backend === 'kubernetes' ? 'kubernetes' : 'sqlite',
        db: backend === 'kubernetes' ? '' : path.resolve(baseDir, str(r, 'db', 'registry', p)),
        kubeconfig: r.kubeconfig === undefined ? '' : path.resolve(baseDir, str(r, 'kubeconfig', 'registry', p)),
        namespace: str(r, 'namespace', 'registry', p, DEFAULTS.registry.namespace),
        auth: auth === 'none' ? 'none' : 'token',
        tokenFile: r.tokenFile === undefined ? '' : path.resolve(baseDir, str(r, 'tokenFile', 'registry', p)),
        ttlSeconds: int(r, 'ttlSeconds', 'registry', p, 1, 86_400 * 30, DEFAULTS.registry.ttlSeconds),
        ipv6: bool(r, 'ipv6', 'registry', p, false),
        ...(r.env !== undefined ? { env: str(r, 'env', 'registry', p) } : {}),
      };
    }
  }
  if (!p.ok) throw new Error(`config has ${p.list.length} problem(s):\n  ${p.list.join('\n  ')}`);
  return { xds, admin, sidecar: { egress }, sources, ackTimeoutMs, batching, policyFile, ...(registry ? { registry } : {}) };
}

function stringList(obj: Record<string, unknown>, key: string, path: string, p: Problems): string[] {
  const v = obj[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
    p.add(`${path}.${key}`, 'must be a list of non-empty strings');
    return [];
  }
  return v as string[];
}

function parseGuard(raw: unknown, path: string, p: Problems, fallback: GuardConfig): GuardConfig {
  if (raw === undefined) return fallback;
  if (!isObject(raw)) {
    p.add(path, 'must be a mapping');
    return fallback;
  }
  noUnknownKeys(raw, ['maxRemovalPercent', 'holdSeconds', 'confirmByReread'], path, p);
  return {
    maxRemovalPercent: int(raw, 'maxRemovalPercent', path, p, 0, 100, fallback.maxRemovalPercent),
    holdSeconds: int(raw, 'holdSeconds', path, p, 0, 86_400, fallback.holdSeconds),
    confirmByReread: bool(raw, 'confirmByReread', path, p, fallback.confirmByReread),
  };
}

function discoveryMode(v: unknown, path: string, p: Problems): DiscoveryMode {
  if (typeof v === 'string' && (DISCOVERY_MODES as readonly string[]).includes(v)) return v as DiscoveryMode;
  p.add(path, `must be one of ${DISCOVERY_MODES.join(', ')}`);
  return 'pods';
}

function parseSource(s: Record<string, unknown>, sp: string, baseDir: string, p: Problems, i: number): SourceConfig | undefined {
  const kind = str(s, 'kind', sp, p);
  switch (kind) {
    case 'file': {
      noUnknownKeys(s, ['kind', 'name', 'path', 'guard'], sp, p);
      return {
        kind,
        name: str(s, 'name', sp, p, `file-${i}`),
        path: path.resolve(baseDir, str(s, 'path', sp, p)),
        guard: parseGuard(s.guard, `${sp}.guard`, p, DEFAULTS.guard.file),
      };
    }
    case 'kubernetes': {
      noUnknownKeys(s, ['kind', 'name', 'kubeconfig', 'namespaces', 'serviceLabel', 'portName', 'discovery', 'discoveryOverrides', 'guard'], sp, p);
      const overrides: Record<string, DiscoveryMode> = {};
      if (s.discoveryOverrides !== undefined) {
        if (!isObject(s.discoveryOverrides)) p.add(`${sp}.discoveryOverrides`, 'must be a mapping of service name to discovery mode');
        else for (const [svc, m] of Object.entries(s.discoveryOverrides)) overrides[svc] = discoveryMode(m, `${sp}.discoveryOverrides.${svc}`, p);
      }
      const d = DEFAULTS.kubernetes;
      return {
        kind,
        name: str(s, 'name', sp, p, `kubernetes-${i}`),
        kubeconfig: s.kubeconfig === undefined ? '' : path.resolve(baseDir, str(s, 'kubeconfig', sp, p)),
        namespaces: stringList(s, 'namespaces', sp, p),
        serviceLabel: str(s, 'serviceLabel', sp, p, d.serviceLabel),
        portName: str(s, 'portName', sp, p, d.portName),
        discovery: s.discovery === undefined ? d.discovery : discoveryMode(s.discovery, `${sp}.discovery`, p),
        discoveryOverrides: overrides,
        guard: parseGuard(s.guard, `${sp}.guard`, p, DEFAULTS.guard.kubernetes),
      };
    }
    case 'registry': {
      noUnknownKeys(s, ['kind', 'name', 'backend', 'url', 'kubeconfig', 'namespace', 'services', 'intervalMs', 'ttlSeconds', 'guard'], sp, p);
      const backend = s.backend === undefined ? 'http' : s.backend;
      if (backend !== 'http' && backend !== 'kubernetes') p.add(`${sp}.backend`, 'must be http or kubernetes');
      const url = backend === 'kubernetes' ? '' : str(s, 'url', sp, p);
      if (url && !/^https?:\/\//.test(url)) p.add(`${sp}.url`, 'must be an http:// or https:// URL');
      const services = stringList(s, 'services', sp, p);
      if (services.length === 0) p.add(`${sp}.services`, 'must name at least one service');
      const d = DEFAULTS.registrySource;
      return {
        kind,
        name: str(s, 'name', sp, p, `registry-${i}`),
        backend: backend === 'kubernetes' ? 'kubernetes' : 'http',
        url: url.replace(/\/+$/, ''),
        kubeconfig: s.kubeconfig === undefined ? '' : path.resolve(baseDir, str(s, 'kubeconfig', sp, p)),
        namespace: str(s, 'namespace', sp, p, DEFAULTS.registry.namespace),
        services,
        intervalMs: int(s, 'intervalMs', sp, p, 100, 3_600_000, d.intervalMs),
        ttlSeconds: int(s, 'ttlSeconds', sp, p, 1, 86_400 * 30, d.ttlSeconds),
        // Watched RegistryHosts cannot answer an empty list by mistake as a broken HTTP registry can: guarded as pods.
        guard: parseGuard(s.guard, `${sp}.guard`, p, backend === 'kubernetes' ? DEFAULTS.guard.kubernetes : DEFAULTS.guard.registry),
      };
    }
    default:
      p.add(`${sp}.kind`, 'must be one of: file, kubernetes, registry');
      return undefined;
  }
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
