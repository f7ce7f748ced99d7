/**
 * Wiring and ordered start/stop. Start: cache, publisher, view registry, xDS server, admin, the embedded registry
 * server (if configured), then sources (serving begins once every source has synced). Stop in reverse.
 * The stages and their contracts: docs/contracts.md.
 */
import * as fs from 'node:fs';
import { log } from './log/log';
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
import { loadPolicyFile } from './config/policy-file';
import { resolvePolicy, type ClusterPolicy } from './model/policy';

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
  stop(): Promise<void>;
}

/**
 * The source a config asks for. The Kubernetes client (@kubernetes/client-node) is loaded only by a Kubernetes
 * source, and better-sqlite3 only by the embedded registry server: a Herald without them does not pay their memory.
 */
async function makeSource(c: SourceConfig): Promise<Source> {
  switch (c.kind) {
    case 'file':
      return new FileSource({
        name: c.name,
        path: c.path,
        settleMs: c.settleMs,
        allowEmpty: c.allowEmpty,
        maxBytes: c.maxBytes,
        maxEndpoints: c.maxEndpoints,
        maxLossPercent: c.maxLossPercent,
        confirmMs: c.confirmMs,
      });
    case 'kubernetes': {
      const [{ KubernetesSource }, { connectKubernetes }] = await Promise.all([import('./sources/kubernetes/kubernetes-source'), import('./sources/kubernetes/connect')]);
      return new KubernetesSource({
        name: c.name,
        api: connectKubernetes(c.kubeconfig),
        namespaces: c.namespaces,
        serviceLabel: c.serviceLabel,
        portName: c.portName,
        discovery: c.discovery,
        discoveryOverrides: c.discoveryOverrides,
      });
    }
    case 'registry':
      return new RegistrySource({ name: c.name, url: c.url, services: c.services, intervalMs: c.intervalMs, ttlSeconds: c.ttlSeconds });
  }
}

export function readToken(file: string): string {
  return file ? fs.readFileSync(file, 'utf8').trim() : '';
}

export interface CoreOptions {
  readonly defaultEgress: string;
  readonly policy?: ClusterPolicy;
  readonly views?: Partial<Omit<ViewRegistryOptions, 'defaultEgress'>>;
  readonly xds?: XdsServerOptions;
}

/**
 * The serving core, wired one way: the publisher writes the cache; the view registry decides views and has the
 * publisher build and drop them (the publisher tells it the served zones); the xDS server resolves views through
 * the registry and reads the cache only.
 */
export function createCore(o: CoreOptions): { cache: XdsCache; publisher: Publisher; views: ViewRegistry; xds: XdsServer } {
  const cache = new XdsCache();
  let views: ViewRegistry | undefined;
  const publisher = new Publisher(cache, { ...(o.policy ? { policy: o.policy } : {}), onZones: (zones) => views?.setZones('endpoints', zones) });
  views = new ViewRegistry(
    { defaultEgress: o.defaultEgress, zones: [], ...VIEW_DEFAULTS, ...o.views },
    { build: (key) => publisher.buildView(key), drop: (key) => publisher.dropView(key) },
  );
  return { cache, publisher, views, xds: new XdsServer(cache, views, o.xds) };
}

export async function startHerald(config: HeraldConfig): Promise<Running> {
  const policies = config.policyFile ? loadPolicyFile(config.policyFile) : undefined;
  if (policies && policies.problems.length > 0) throw new Error(`policy file ${config.policyFile}:\n  ${policies.problems.join('\n  ')}`);
  const { cache, publisher, views, xds } = createCore({
    defaultEgress: `${config.sidecar.egress.address}:${config.sidecar.egress.port}`,
    policy: resolvePolicy(policies?.defaults),
    views: { maxViews: config.views.maxViews, zones: config.views.zones, idleGraceMs: config.views.idleGraceSeconds * 1000, memoryBudgetBytes: config.views.memoryBudgetMb * (1 << 20) },
    xds: { ackTimeoutMs: config.ackTimeoutMs, limits: config.xds.limits, admission: config.admission, ...(config.xds.tls ? { tls: config.xds.tls } : {}) },
  });
  const xdsPort = await xds.listen(config.xds.address, config.xds.port);
  const intake = new Intake({
    sources: config.sources.map((s) => ({
      name: s.name,
      guard: { maxRemovalFraction: s.guard.maxRemovalPercent / 100, holdMs: s.guard.holdSeconds * 1000, confirmByReread: s.guard.confirmByReread },
    })),
    batching: config.batching,
    ...(policies ? { policies: policies.policies } : {}),
    publish: (mesh) => publisher.update(mesh),
    onSynced: () => publisher.startServing(),
    onZones: (zones) => views.setZones('topology', zones),
  });
  const adminState: AdminState = {
    ready: () => publisher.serving,
    proxies: () => xds.proxies(),
    mesh: () => publisher.current,
    holds: () => intake.holds(),
    config: (proxy, filter) => proxyConfig(xds, cache, proxy, filter),
  };
  const admin = new AdminServer(adminState, { allowedHosts: config.admin.allowedHosts });
  const adminPort = await admin.listen(config.admin.address, config.admin.port);
  const probes = config.probes ? new AdminServer(adminState, { probesOnly: true }) : undefined;
  const probesPort = config.probes ? await probes!.listen(config.probes.address, config.probes.port) : undefined;
  let registry: RegistryServer | undefined;
  let registryPort: number | undefined;
  if (config.registry) {
    const { RegistryServer } = await import('./sources/registry/server');
    registry = new RegistryServer({ db: config.registry.db, token: readToken(config.registry.tokenFile), ttlSeconds: config.registry.ttlSeconds });
    registryPort = await registry.listen(config.registry.address, config.registry.port);
  }
  const sources: Source[] = [];
  for (const c of config.sources) sources.push(await makeSource(c));
  for (const s of sources) await s.start(intake);
  log('info', 'herald started', { xds: `${config.xds.address}:${xdsPort}`, admin: `${config.admin.address}:${adminPort}`, registryPort, version: cache.prefix });

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
    stop: () =>
      (stopped ??= (async () => {
        for (const s of sources) await s.stop();
        intake.stop();
        views.stop();
        await registry?.close();
        await admin.close();
        await probes?.close();
        await xds.close();
        log('info', 'herald stopped');
      })()),
  };
}
