/**
 * A translator's mistake never reaches a proxy: a misspelled field is a type error at compile time and, should
 * one slip through a cast, an encoding failure that names the resource and the key's path; the previous
 * version stays served. The kind validators (what grpc-js-xds would NACK) run in the same place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../src/model/types';
import { translateCluster } from '../../src/translate/cluster';
import { translateEndpoints } from '../../src/translate/endpoints';
import { parseViewKey } from '../../src/translate/view';
import { XdsCache, type ResourceInput } from '../../src/xds/cache';
import type { Cluster } from '../../src/xds/envoy-messages';

const VIEW = 'envoy|zone-a|127.0.0.1:15001';
const view = parseViewKey(VIEW);

function web(ports: number[]): Service {
  const endpoints = ports.map((port) => ({ address: '10.0.0.1', port, health: 'HEALTHY' as const, zone: 'zone-a', weight: 1, source: 'file', labels: {} }));
  return { name: 'web', endpoints, policy: {} };
}

/** translateCluster with a typo in it, as a careless edit would make: `consecutive5xx` for `consecutive_5xx`. */
function translateClusterWithTypo(service: Service): ResourceInput<'cluster'> {
  const good = translateCluster(service, view);
  const message: Cluster = {
    ...good.message,
    // @ts-expect-error the generated types know OutlierDetection has no `consecutive5xx`: it does not compile
    outlierDetection: { ...good.message.outlierDetection, consecutive5xx: { value: 1 } },
  };
  return { ...good, message };
}

test('a misspelled field in a translator fails encoding, naming resource and path; the previous version stays served', () => {
  const cache = new XdsCache('p');
  const first = cache.apply(VIEW, [
    { kind: 'endpoint', upsert: [translateEndpoints(web([80]), view)] },
    { kind: 'cluster', upsert: [translateCluster(web([80]), view)] },
  ]);
  assert.deepEqual(first.rejected, []);
  const served = cache.resources(VIEW, 'cluster').get('web')!;

  const r = cache.apply(VIEW, [{ kind: 'cluster', upsert: [translateClusterWithTypo(web([80]))] }]);
  assert.deepEqual(r.rejected, ['cluster[web]: outlierDetection.consecutive5xx: unknown field (envoy.config.cluster.v3.OutlierDetection)']);
  assert.deepEqual(r.changes, [], 'nothing changed for any stream');
  assert.equal(cache.resources(VIEW, 'cluster').get('web'), served, 'the previous version, bytes and all, stays served');
});

test('what grpc-js-xds would NACK is refused on the way into the cache, whoever built it; the previous assignment stays', () => {
  const cache = new XdsCache('p');
  cache.apply(VIEW, [{ kind: 'endpoint', upsert: [translateEndpoints(web([80, 81]), view)] }]);
  const served = cache.resources(VIEW, 'endpoint').get('web')!;
  const good = translateEndpoints(web([80, 81]), view).message;
  const locality = good.endpoints![0]!;
  const cases: Record<string, [ResourceInput<'endpoint'>, string]> = {
    'a duplicate address': [
      { name: 'web', message: { ...good, endpoints: [{ ...locality, lbEndpoints: [locality.lbEndpoints![0]!, locality.lbEndpoints![0]!] }] } },
      'endpoint[web]: endpoints[0].lbEndpoints[1]: duplicate address 10.0.0.1:80',
    ],
    'a locality without weight': [
      { name: 'web', message: { ...good, endpoints: [{ ...locality, loadBalancingWeight: undefined }] } },
      'endpoint[web]: endpoints[0]: locality without a positive load_balancing_weight',
    ],
    'a gap in priorities': [
      { name: 'web', message: { ...good, endpoints: [{ ...locality, priority: 1 }] } },
      'endpoint[web]: priorities 1 have a gap (must be 0..n without holes)',
    ],
  };
  for (const [name, [input, reason]] of Object.entries(cases)) {
    const r = cache.apply(VIEW, [{ kind: 'endpoint', upsert: [input] }]);
    assert.deepEqual(r.rejected, [reason], name);
    assert.equal(cache.resources(VIEW, 'endpoint').get('web'), served, `${name}: the previous assignment stays`);
  }
});
