/**
 * Real Envoy through Herald, the way out: the talk's defaults as Envoy holds them (/config_dump), requests by
 * Host over HTTP/1.1 and by :authority over HTTP/2 with prior knowledge reach the named service, an unknown
 * host gets 404, and canary endpoints are counted under Envoy's canary stats. SotW and Delta.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend } from '../support/backends';
import { startTestEnvoy } from '../support/envoy';
import { startTestHerald } from '../support/herald';
import { waitFor } from '../support/wait';

function dumpOf(dump: any, suffix: string): any {
  return dump.configs.find((c: any) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${suffix}`);
}

for (const protocol of ['sotw', 'delta'] as const) {
  describe(`sidecar egress (${protocol})`, () => {
    test('defaults in /config_dump; Host and :authority routing over HTTP/1.1 and HTTP/2; canary stats', async (t) => {
      const web1 = await startBackend('web-1');
      const canary = await startBackend('web-canary');
      const api = await startBackend('api-1');
      const h = await startTestHerald([
        {
          name: 'web',
          endpoints: [
            { address: '127.0.0.1', port: web1.port, zone: 'a' },
            { address: '127.0.0.1', port: canary.port, zone: 'a', labels: { canary: 'true' } },
          ],
        },
        { name: 'api', endpoints: [{ address: '127.0.0.1', port: api.port, zone: 'a' }] },
      ]);
      const envoy = await startTestEnvoy({ xdsPort: h.xdsPort, protocol, nodeId: `egress-${protocol}`, zone: 'a' });
      t.after(async () => {
        await envoy.stop();
        await h.stop();
        await Promise.all([web1.close(), canary.close(), api.close()]);
      });

      // The defaults, as Envoy itself reports them.
      const dump = await envoy.configDump();
      const web = dumpOf(dump, 'ClustersConfigDump').dynamic_active_clusters.find((c: any) => c.cluster.name === 'web.default').cluster;
      assert.equal(web.type, 'EDS');
      assert.equal(web.connect_timeout, '1s');
      assert.equal(web.eds_cluster_config.eds_config.initial_fetch_timeout, '0s', 'a warming cluster waits for its endpoints');
      const hc = web.health_checks[0];
      assert.deepEqual(
        { timeout: hc.timeout, interval: hc.interval, noTraffic: hc.no_traffic_interval, healthy: hc.healthy_threshold, unhealthy: hc.unhealthy_threshold, path: hc.http_health_check.path },
        { timeout: '2s', interval: '15s', noTraffic: '15s', healthy: 1, unhealthy: 2, path: '/healthz' },
      );
      const od = web.outlier_detection;
      assert.deepEqual(
        [od.consecutive_5xx, od.max_ejection_percent, od.success_rate_minimum_hosts, od.success_rate_request_volume, od.success_rate_stdev_factor],
        [3, 5, 20, 50, 1900],
      );
      assert.equal(web.common_lb_config.healthy_panic_threshold.value, 50);
      assert.equal(web.common_lb_config.ignore_new_hosts_until_first_hc, true);
      assert.equal(web.ignore_health_on_host_removal, true);
      const listener = dumpOf(dump, 'ListenersConfigDump').dynamic_listeners.find((l: any) => l.name === 'egress').active_state.listener;
      assert.equal(listener.traffic_direction, 'OUTBOUND');
      assert.equal(listener.address.socket_address.port_value, envoy.egressPort);
      const routes = dumpOf(dump, 'RoutesConfigDump').dynamic_route_configs.find((r: any) => r.route_config.name === 'egress').route_config;
      const webRoute = routes.virtual_hosts.find((v: any) => v.name === 'web.default').routes[0].route;
      assert.equal(webRoute.timeout, '15s');
      assert.equal(webRoute.retry_policy, undefined, 'no retries by default');

      // HTTP/1.1 by Host (with or without a port), HTTP/2 prior knowledge by :authority.
      await waitFor('web reachable through egress', async () => (await envoy.get('web')).status === 200);
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add((await envoy.get('web')).backend!);
      assert.deepEqual([...seen].sort(), ['web-1', 'web-canary'], 'Host: web reaches only web endpoints, both of them');
      assert.equal((await envoy.get('web:8080')).status, 200, 'the Host port is ignored');
      assert.equal((await envoy.get('api')).backend, 'api-1');
      assert.equal((await envoy.get('nosuch')).status, 404, 'an unknown service is a 404 from Envoy');
      const h2 = await envoy.h2get('api');
      assert.equal(h2.status, 200);
      assert.equal(h2.backend, 'api-1', 'HTTP/2 prior knowledge, routed by :authority');
      const h2web = await envoy.h2get('web', '/h2');
      assert.equal(h2web.status, 200);
      assert.ok(['web-1', 'web-canary'].includes(h2web.backend!));

      // Canary: Envoy counts requests served by canary-labelled endpoints separately.
      const before = (await envoy.stat('cluster.web.default.canary.upstream_rq_200')) ?? 0;
      const canaryBefore = canary.hits.get('/') ?? 0;
      for (let i = 0; i < 10; i++) assert.equal((await envoy.get('web')).status, 200);
      const servedByCanary = (canary.hits.get('/') ?? 0) - canaryBefore;
      assert.ok(servedByCanary > 0, 'round robin sent some requests to the canary');
      assert.equal(((await envoy.stat('cluster.web.default.canary.upstream_rq_200')) ?? 0) - before, servedByCanary, 'canary.upstream_rq_200 counts exactly the canary-served requests');
    });
  });
}
