/**
 * The registry source on RegistryHosts (kube-backend-source.ts) fed by a stand-in for its cache: a watch event
 * deleting a host removes it at once (not at its TTL), as the informer reports it (key namespace/name).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeRegistrySource } from '../../src/sources/registry/kube-backend-source';
import type { CachedHost, RegistryHostCache } from '../../src/sources/registry/kube-backend-hosts';
import type { Change } from '../../src/sources/kubernetes/informer';
import type { SourceSnapshot } from '../../src/sources/source';
import { testTelemetry } from '../support/telemetry';

const host = (ip: string, rv: string): CachedHost => ({ name: `rh-${ip}`, resourceVersion: rv, service: 'legacy', ip, port: 8080, revision: 'r1', serviceRepoName: '', lastCheckIn: Date.now(), tags: { az: 'zone-a', region: 'r', instance_id: ip } });

test('kubernetes registry source: a deleted RegistryHost leaves at once', async () => {
  const store = new Map<string, CachedHost>([['ns/rh-127.3.0.1', host('127.3.0.1', '1')], ['ns/rh-127.3.0.2', host('127.3.0.2', '2')]]);
  let listener: ((changes: readonly Change<CachedHost>[], relist: boolean) => void) | undefined;
  const cache = { synced: true, all: () => store.values(), onChange: (l: typeof listener) => ((listener = l), () => undefined), start: async () => undefined, stop: async () => undefined } as unknown as RegistryHostCache;
  const snapshots: SourceSnapshot[] = [];
  const source = new KubeRegistrySource({ name: 'vms', services: ['legacy'], ttlSeconds: 600, cache, ownsCache: false, telemetry: testTelemetry() });
  await source.start({ update: (_n: string, s: SourceSnapshot) => void snapshots.push(s) } as never);
  const ips = () => snapshots.at(-1)!.get('legacy')?.endpoints.map((e) => e.address).sort();
  assert.deepEqual(ips(), ['127.3.0.1', '127.3.0.2']);
  const old = store.get('ns/rh-127.3.0.1')!;
  store.delete('ns/rh-127.3.0.1');
  listener!([{ type: 'DELETED', key: 'ns/rh-127.3.0.1', old }], false);
  assert.deepEqual(ips(), ['127.3.0.2']);
  await source.stop();
});
