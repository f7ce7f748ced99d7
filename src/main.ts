/**
 * Wiring and ordered start/stop. Start: cache, publisher, xDS server, admin, then sources (serving begins once
 * every source has synced). Stop: sources, then admin and xDS (streams end), in reverse.
 */
import { log } from './log/log';
import type { HeraldConfig, SourceConfig } from './config/config';
import { XdsCache } from './xds/cache';
import { XdsServer } from './xds/server';
import { Publisher } from './pipeline/publisher';
import { AdminServer } from './admin/server';
import { mergeSources } from './model/merge';
import type { Source, SourceSnapshot } from './sources/source';
import { FileSource } from './sources/file/file-source';

export interface Running {
  readonly xdsPort: number;
  readonly adminPort: number;
  readonly cache: XdsCache;
  readonly xds: XdsServer;
  readonly publisher: Publisher;
  stop(): Promise<void>;
}

function makeSource(c: SourceConfig): Source {
  switch (c.kind) {
    case 'file':
      return new FileSource({ name: c.name, path: c.path });
  }
}

export async function startHerald(config: HeraldConfig): Promise<Running> {
  const cache = new XdsCache();
  const publisher = new Publisher(cache, { defaultEgress: `${config.sidecar.egress.address}:${config.sidecar.egress.port}` });
  const xds = new XdsServer(cache, publisher, { ackTimeoutMs: config.ackTimeoutMs });
  const xdsPort = await xds.listen(config.xds.address, config.xds.port);
  const admin = new AdminServer({ ready: () => cache.ready, proxies: () => xds.proxies(), mesh: () => publisher.current });
  const adminPort = await admin.listen(config.admin.address, config.admin.port);

  const order = config.sources.map((s) => s.name);
  const snapshots = new Map<string, SourceSnapshot>();
  const synced = new Set<string>();
  const sources = config.sources.map(makeSource);
  const sink = {
    update(source: string, snapshot: SourceSnapshot, isSynced: boolean) {
      snapshots.set(source, snapshot);
      if (isSynced) synced.add(source);
      publisher.update(mergeSources(order, snapshots));
      if (!cache.ready && synced.size === order.length) {
        publisher.markSynced();
        log('info', 'every source synced; serving', { sources: order });
      }
    },
  };
  for (const s of sources) await s.start(sink);
  log('info', 'herald started', { xds: `${config.xds.address}:${xdsPort}`, admin: `${config.admin.address}:${adminPort}`, version: cache.prefix });

  let stopped: Promise<void> | undefined;
  return {
    xdsPort,
    adminPort,
    cache,
    xds,
    publisher,
    stop: () =>
      (stopped ??= (async () => {
        for (const s of sources) await s.stop();
        await admin.close();
        await xds.close();
        log('info', 'herald stopped');
      })()),
  };
}
