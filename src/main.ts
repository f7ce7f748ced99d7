/**
 * Wiring and ordered start/stop. Start: cache, publisher, view registry, xDS server, admin, the embedded registry
 * server (if configured), then sources (serving begins once every source has synced). Stop in reverse.
 * Each instance has its own Telemetry (metrics registry and logger), created here and handed to every stage.
 * The stages and their contracts: docs/contracts.md.
 */
import * as fs from 'node:fs';
import type { HeraldConfig, SourceConfig } from './config/config';
import { XdsCache } from './xds/cache';
import { XdsServer, type XdsServerOptions } from './xds/server';
import { Publisher } from './pipeline/publisher';
import { Intake } from './pipeline/intake';
import { VIEW_DEFAULTS, ViewRegistry, type ViewRegistryOptions } from './pipeline/views';
import { AdminServer, type AdminState } from './admin/server';
import { proxyConfig } from './admin/proxy-config';
import type { Source } from './sources/source';
import { FileSource } from './sources/file/file-source';
import { RegistrySource } from './sources/registry/registry-source';
import type { RegistryServer } from './sources/registry/server';
import { inNamespace } from './sources/namespaced';
import type { RegistryHostCache } from './sources/registry/kube-backend';
import { loadPolicyFile } from './config/policy-file';
import { resolvePolicy, type ClusterPolicy } from './model/policy';
import { Convergence, EventLog } from './pipeline/convergence';
import { createTelemetry, type Telemetry } from './telemetry';

export interface Running {
  readonly xdsPort: number;
  readonly adminPort: number;
  /** The embedded registry server's port, when configured. */
  readonly registryPort?: number;
  /** The probes listener's port (/healthz, /readyz, /metrics only), when configured. */
  readonly probesPort?: number;
  readonly cache: XdsCache;
  readonly xds: XdsServer;
  readonly publisher: Publisher;
  readonly views: ViewRegistry;
  readonly intake: Intake;
  readonly convergence: Convergence;
  readonly events: EventLog;
  /** This instance's metrics (what its /metrics serves) and logger. */
  readonly telemetry: Telemetry;
  stop(): Promise<void>;
}

/**
 * The source a config asks for. The Kubernetes client (@kubernetes/client-node) is loaded only by a Kubernetes
 * source or backend, and better-sqlite3 only by the embedded registry server: a Herald without them does not pay
 * their memory. `hosts`: the embedded registry server's RegistryHost watch, shared with a source reading the same
 * namespace. `defaultNamespace`: the service namespace of file and registry sources that do not name one.
 */
async function makeSource(c: SourceConfig, defaultNamespace: string, telemetry: Telemetry, hosts?: { cache: RegistryHostCache; kubeconfig: string; namespace: string }): Promise<Source> {
  switch (c.kind) {
    case 'file':
      return inNamespace(new FileSource({
        name: c.name,
        path: c.path,
        settleMs: c.settleMs,
        allowEmpty: c.allowEmpty,
        maxBytes: c.maxBytes,
        maxEndpoints: c.maxEndpoints,
        maxLossPercent: c.maxLossPercent,
        confirmMs: c.confirmMs,
        telemetry,
      }), c.serviceNamespace ?? defaultNamespace);
    case 'kubernetes': {
      const [{ KubernetesSource }, { connectKubernetes }] = await Promise.all([import('./sources/kubernetes/kubernetes-source'), import('./sources/kubernetes/connect')]);
      return new KubernetesSource({
        name: c.name,
        api: connectKubernetes(c.kubeconfig),
        namespaces: c.namespaces,
        serviceLabel: c.serviceLabel,
        identity: c.identity,
        portName: c.portName,
        discovery: c.discovery,
        discoveryOverrides: c.discoveryOverrides,
        telemetry,
      });
    }
    case 'registry':
      if (c.backend === 'kubernetes') {
        const { KubeRegistrySource } = await import('./sources/registry/kube-backend-source');
        if (hosts && hosts.kubeconfig === c.kubeconfig && hosts.namespace === c.namespace) {
          return inNamespace(new KubeRegistrySource({ name: c.name, services: c.services, ttlSeconds: c.ttlSeconds, cache: hosts.cache, ownsCache: false, telemetry }), c.serviceNamespace ?? defaultNamespace);
        }
        const [{ RegistryHostCache }, { connectKubernetes }] = await Promise.all([import('./sources/registry/kube-backend'), import('./sources/kubernetes/connect')]);
        const cache = new RegistryHostCache(connectKubernetes(c.kubeconfig), c.namespace, `registryhosts-${c.name}`, telemetry);
        return inNamespace(new KubeRegistrySource({ name: c.name, services: c.services, ttlSeconds: c.ttlSeconds, cache, ownsCache: true, telemetry }), c.serviceNamespace ?? defaultNamespace);
      }
      return inNamespace(new RegistrySource({ name: c.name, url: c.url, services: c.services, intervalMs: c.intervalMs, ttlSeconds: c.ttlSeconds, telemetry }), c.serviceNamespace ?? defaultNamespace);
  }
}

export function readToken(file: string): string {
  return file ? fs.readFileSync(file, 'utf8').trim() : '';
}

export interface CoreOptions {
  readonly defaultEgress: string;
  readonly policy?: ClusterPolicy;
  /** The cluster domain of `<name>.<namespace>.svc.<domain>` names. */
  readonly clusterDomain?: string;
  /** Benchmarks only: views share no translation and no encoding. */
  readonly share?: boolean;
  readonly views?: Partial<Omit<ViewRegistryOptions, 'defaultEgress'>>;
  readonly xds?: Omit<XdsServerOptions, 'telemetry' | 'convergence'>;
  /** The instance's metrics and logger; absent: a fresh pair (returned with the core). */
  readonly telemetry?: Telemetry;
}

/**
 * The serving core, wired one way: the publisher writes the cache; the view registry decides views and has the
 * publisher build and drop them (the publisher tells it the served zones); the xDS server resolves views through
 * the registry and reads the cache only.
 */
export function createCore(o: CoreOptions): { cache: XdsCache; publisher: Publisher; views: ViewRegistry; xds: XdsServer; convergence: Convergence; events: EventLog; telemetry: Telemetry } {
  const telemetry = o.telemetry ?? createTelemetry();
  const cache = new XdsCache(undefined, { shareEncodings: o.share !== false });
  const convergence = new Convergence(telemetry);
  const events = new EventLog();
  let views: ViewRegistry | undefined;
  const publisher = new Publisher(cache, {
    ...(o.policy ? { policy: o.policy } : {}),
    ...(o.clusterDomain ? { clusterDomain: o.clusterDomain } : {}),
    shareTranslations: o.share !== false,
    onZones: (zones) => views?.setZones('endpoints', zones),
    convergence,
    events,
    telemetry,
  });
  views = new ViewRegistry(
    { defaultEgress: o.defaultEgress, zones: [], ...VIEW_DEFAULTS, ...o.views },
    { build: (key) => publisher.buildView(key), drop: (key) => publisher.dropView(key) },
    telemetry,
  );
  return { cache, publisher, views, xds: new XdsServer(cache, views, { ...o.xds, convergence, telemetry }), convergence, events, telemetry };
}

export interface StartOptions {
  /** The instance's metrics and logger; absent: a fresh registry and a logger at HERALD_LOG_LEVEL (default info) on stderr. */
  readonly telemetry?: Telemetry;
}

/** Starts one Herald instance. Everything it measures and logs goes to its own `telemetry` (returned in Running). */
export async function startHerald(config: HeraldConfig, options: StartOptions = {}): Promise<Running> {
  const telemetry = options.telemetry ?? createTelemetry();
  const { log } = telemetry;
  const policies = config.policyFile ? loadPolicyFile(config.policyFile) : undefined;
  if (policies && policies.problems.length > 0) throw new Error(`policy file ${config.policyFile}:\n  ${policies.problems.join('\n  ')}`);
  // What started, in order: stop (or a failed start) undoes it in reverse, so nothing stays bound or running.
  const started: Array<() => unknown> = [];
  const undo = async () => {
    for (const close of started.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        log.write('error', 'stopping a part of Herald failed', { error: (err as Error).message });
      }
    }
  };
  telemetry.metrics.collectProcessMetrics(require('../../package.json').version);
  try {
    return await startParts(config, policies, telemetry, started, undo);
  } catch (err) {
    await undo();
    throw err;
  }
}

async function startParts(
  config: HeraldConfig,
  policies: ReturnType<typeof loadPolicyFile> | undefined,
  telemetry: Telemetry,
  started: Array<() => unknown>,
  undo: () => Promise<void>,
): Promise<Running> {
  const { log } = telemetry;
  const { cache, publisher, views, xds, convergence, events } = createCore({
    telemetry,
    defaultEgress: `${config.sidecar.egress.address}:${config.sidecar.egress.port}`,
    policy: resolvePolicy(policies?.defaults),
    clusterDomain: config.mesh.clusterDomain,
    views: {
      defaultNamespace: config.mesh.defaultNamespace,
      defaultScope: config.mesh.defaultEgressScope,
      ...(policies ? { namespaceScopes: policies.namespaceScopes } : {}),
      maxViews: config.views.maxViews, zones: config.views.zones, idleGraceMs: config.views.idleGraceSeconds * 1000, memoryBudgetBytes: config.views.memoryBudgetMb * (1 << 20),
    },
    xds: {
      ackTimeoutMs: config.ackTimeoutMs,
      limits: config.xds.limits,
      admission: config.admission,
      maxStreamAgeMs: config.xds.maxStreamAgeSeconds * 1000,
      ...(config.xds.tls ? { tls: config.xds.tls } : {}),
    },
  });
  started.push(() => xds.close());
  const xdsPort = await xds.listen(config.xds.address, config.xds.port);
  const intake = new Intake({
    sources: config.sources.map((s) => ({
      name: s.name,
      guard: { maxRemovalFraction: s.guard.maxRemovalPercent / 100, holdMs: s.guard.holdSeconds * 1000, confirmByReread: s.guard.confirmByReread },
    })),
    batching: config.batching,
    ...(policies ? { policies: policies.policies } : {}),
    publish: (mesh, meta) => publisher.update(mesh, meta),
    onSynced: () => publisher.startServing(),
    onZones: (zones) => views.setZones('topology', zones),
    events,
    telemetry,
  });
  started.push(() => {
    intake.stop();
    views.stop();
  });
  const adminState: AdminState = {
    ready: () => publisher.serving,
    proxies: (query) => xds.proxyPage(query),
    summaries: () => xds.summaries(),
    mesh: () => publisher.current,
    holds: () => intake.holds(),
    config: (proxy, filter) => proxyConfig(xds, cache, proxy, filter),
    convergence: (limit) => convergence.report(limit),
    events: (limit) => events.recent(limit),
    sources: () => intake.sources(),
  };
  const admin = new AdminServer(adminState, { allowedHosts: config.admin.allowedHosts, telemetry });
  started.push(() => admin.close());
  const adminPort = await admin.listen(config.admin.address, config.admin.port);
  let probesPort: number | undefined;
  if (config.probes) {
    const probes = new AdminServer(adminState, { probesOnly: true, telemetry });
    started.push(() => probes.close());
    probesPort = await probes.listen(config.probes.address, config.probes.port);
  }
  let registryPort: number | undefined;
  let hosts: { cache: RegistryHostCache; kubeconfig: string; namespace: string } | undefined;
  if (config.registry) {
    const r = config.registry;
    const { RegistryServer } = await import('./sources/registry/server');
    const openKube = async () => {
      const [{ openKubeRegistryBackend }, { connectKubernetes }] = await Promise.all([import('./sources/registry/kube-backend'), import('./sources/kubernetes/connect')]);
      return openKubeRegistryBackend({ kubeconfig: r.kubeconfig, namespace: r.namespace, ttlSeconds: r.ttlSeconds, api: connectKubernetes(r.kubeconfig), telemetry });
    };
    const backend = r.backend === 'kubernetes' ? await openKube() : undefined;
    const registry = new RegistryServer({
      ...(backend ? { backend } : { db: r.db }),
      auth: r.auth,
      token: readToken(r.tokenFile),
      ttlSeconds: r.ttlSeconds,
      ipv6: r.ipv6,
      ...(r.env !== undefined ? { env: r.env } : {}),
      telemetry,
    });
    started.push(() => registry.close());
    if (backend) hosts = { cache: backend.cache, kubeconfig: r.kubeconfig, namespace: r.namespace };
    registryPort = await registry.listen(config.registry.address, config.registry.port);
  }
  for (const c of config.sources) {
    const source = await makeSource(c, config.mesh.defaultNamespace, telemetry, hosts);
    started.push(() => source.stop());
    await source.start(intake);
  }
  log.write('info', 'herald started', { xds: `${config.xds.address}:${xdsPort}`, admin: `${config.admin.address}:${adminPort}`, registryPort, version: cache.prefix });

  let stopped: Promise<void> | undefined;
  return {
    xdsPort,
    adminPort,
    ...(registryPort !== undefined ? { registryPort } : {}),
    ...(probesPort !== undefined ? { probesPort } : {}),
    cache,
    xds,
    publisher,
    views,
    intake,
    convergence,
    events,
    telemetry,
    stop: () =>
      (stopped ??= (async () => {
        await undo();
        log.write('info', 'herald stopped');
      })()),
  };
}
