/**
 * Wiring and ordered start/stop. Start: cache, publisher, xDS server, admin, the embedded registry server (if
 * configured), then sources (serving begins once every source has synced). Stop in reverse.
 */
import * as fs from 'node:fs';
import { log } from './log/log';
import type { HeraldConfig, SourceConfig } from './config/config';
import { XdsCache } from './xds/cache';
import { XdsServer } from './xds/server';
import { Publisher } from './pipeline/publisher';
import { Intake } from './pipeline/intake';
import { AdminServer } from './admin/server';
import type { Source } from './sources/source';
import { FileSource } from './sources/file/file-source';
import { KubernetesSource } from './sources/kubernetes/kubernetes-source';
import { connectKubernetes } from './sources/kubernetes/connect';
import { RegistrySource } from './sources/registry/registry-source';
import { RegistryServer } from './sources/registry/server';
import { RegistryHostCache, openKubeRegistryBackend } from './sources/registry/kube-backend';
import { KubeRegistrySource } from './sources/registry/kube-backend-source';
import { loadPolicyFile, resolvePolicy } from './model/policy';

export interface Running {
  readonly xdsPort: number;
  readonly adminPort: number;
  /** The embedded registry server's port, when configured. */
  readonly registryPort?: number;
  readonly cache: XdsCache;
  readonly xds: XdsServer;
  readonly publisher: Publisher;
  readonly intake: Intake;
  stop(): Promise<void>;
}

/** `hosts`: the embedded registry server's RegistryHost watch, shared with a source reading the same namespace. */
function makeSource(c: SourceConfig, hosts?: { cache: RegistryHostCache; kubeconfig: string; namespace: string }): Source {
  switch (c.kind) {
    case 'file':
      return new FileSource({ name: c.name, path: c.path });
    case 'kubernetes':
      return new KubernetesSource({
        name: c.name,
        api: connectKubernetes(c.kubeconfig),
        namespaces: c.namespaces,
        serviceLabel: c.serviceLabel,
        portName: c.portName,
        discovery: c.discovery,
        discoveryOverrides: c.discoveryOverrides,
      });
    case 'registry':
      if (c.backend === 'kubernetes') {
        if (hosts && hosts.kubeconfig === c.kubeconfig && hosts.namespace === c.namespace) {
          return new KubeRegistrySource({ name: c.name, services: c.services, ttlSeconds: c.ttlSeconds, cache: hosts.cache, ownsCache: false });
        }
        const cache = new RegistryHostCache(connectKubernetes(c.kubeconfig), c.namespace, `registryhosts-${c.name}`);
        return new KubeRegistrySource({ name: c.name, services: c.services, ttlSeconds: c.ttlSeconds, cache, ownsCache: true });
      }
      return new RegistrySource({ name: c.name, url: c.url, services: c.services, intervalMs: c.intervalMs, ttlSeconds: c.ttlSeconds });
  }
}

export function readToken(file: string): string {
  return file ? fs.readFileSync(file, 'utf8').trim() : '';
}

export async function startHerald(config: HeraldConfig): Promise<Running> {
  const policies = config.policyFile ? loadPolicyFile(config.policyFile) : undefined;
  if (policies && policies.problems.length > 0) throw new Error(`policy file ${config.policyFile}:\n  ${policies.problems.join('\n  ')}`);
  const cache = new XdsCache();
  const publisher = new Publisher(cache, {
    defaultEgress: `${config.sidecar.egress.address}:${config.sidecar.egress.port}`,
    policy: resolvePolicy(policies?.defaults),
  });
  const xds = new XdsServer(cache, publisher, { ackTimeoutMs: config.ackTimeoutMs });
  const xdsPort = await xds.listen(config.xds.address, config.xds.port);
  const intake = new Intake({
    sources: config.sources.map((s) => ({
      name: s.name,
      guard: { maxRemovalFraction: s.guard.maxRemovalPercent / 100, holdMs: s.guard.holdSeconds * 1000, confirmByReread: s.guard.confirmByReread },
    })),
    batching: config.batching,
    ...(policies ? { policies: policies.policies } : {}),
    publish: (mesh) => publisher.update(mesh),
    onSynced: () => publisher.markSynced(),
  });
  const admin = new AdminServer({ ready: () => cache.ready, proxies: () => xds.proxies(), mesh: () => publisher.current, holds: () => intake.holds() });
  const adminPort = await admin.listen(config.admin.address, config.admin.port);
  let registry: RegistryServer | undefined;
  let registryPort: number | undefined;
  let hosts: { cache: RegistryHostCache; kubeconfig: string; namespace: string } | undefined;
  if (config.registry) {
    const r = config.registry;
    const backend = r.backend === 'kubernetes' ? await openKubeRegistryBackend({ kubeconfig: r.kubeconfig, namespace: r.namespace, ttlSeconds: r.ttlSeconds, api: connectKubernetes(r.kubeconfig) }) : undefined;
    registry = new RegistryServer({
      ...(backend ? { backend } : { db: r.db }),
      auth: r.auth,
      token: readToken(r.tokenFile),
      ttlSeconds: r.ttlSeconds,
      ipv6: r.ipv6,
      ...(r.env !== undefined ? { env: r.env } : {}),
    });
    if (backend) hosts = { cache: backend.cache, kubeconfig: r.kubeconfig, namespace: r.namespace };
    registryPort = await registry.listen(config.registry.address, config.registry.port);
  }
  const sources = config.sources.map((c) => makeSource(c, hosts));
  for (const s of sources) await s.start(intake);
  log('info', 'herald started', { xds: `${config.xds.address}:${xdsPort}`, admin: `${config.admin.address}:${adminPort}`, registryPort, version: cache.prefix });

  let stopped: Promise<void> | undefined;
  return {
    xdsPort,
    adminPort,
    ...(registryPort !== undefined ? { registryPort } : {}),
    cache,
    xds,
    publisher,
    intake,
    stop: () =>
      (stopped ??= (async () => {
        for (const s of sources) await s.stop();
        intake.stop();
        await registry?.close();
        await admin.close();
        await xds.close();
        log('info', 'herald stopped');
      })()),
  };
}
