/**
 * Real Envoy to Herald over mTLS, bootstrapped by `herald bootstrap --tls-ca --tls-cert --tls-key` (through
 * bootstrapCommand), in SotW and Delta: a proxy whose SPIFFE certificate matches its claim connects and routes;
 * a proxy without a client certificate, with one from another CA, or claiming another service's identity is
 * refused and never configured (the last with PERMISSION_DENIED, counted by Herald).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapCommand } from '../../src/cli/bootstrap';
import { startEnvoy, type EnvoyProcess } from '../../src/envoy/process';
import { startBackend } from '../support/backends';
import { makeTestPki, type KeyPair, type TestPki } from '../support/certs';
import { httpRequest } from '../support/envoy';
import { startTestHerald, type TestHerald } from '../support/herald';
import { freePort } from '../support/ports';
import { sleep, waitFor } from '../support/wait';

interface Proxy {
  readonly envoy: EnvoyProcess;
  readonly egressPort: number;
}

async function proxy(h: TestHerald, pki: TestPki, protocol: 'sotw' | 'delta', o: { cluster: string; namespace: string; pair?: KeyPair; ca?: string }): Promise<Proxy> {
  const adminPort = await freePort();
  const egressPort = await freePort();
  const argv = [
    '--node-id', `${o.cluster}-${adminPort}.${o.namespace}`,
    '--cluster', o.cluster,
    '--namespace', o.namespace,
    '--xds', `127.0.0.1:${h.xdsPort}`,
    '--protocol', protocol,
    '--admin-port', String(adminPort),
    '--egress', `127.0.0.1:${egressPort}`,
    '--ready-port', '0',
    '--tls-ca', o.ca ?? pki.ca,
    '--tls-server-name', 'localhost',
    ...(o.pair ? ['--tls-cert', o.pair.cert, '--tls-key', o.pair.key] : []),
  ];
  const cmd = bootstrapCommand(argv, {});
  assert.ok('bootstrap' in cmd, JSON.stringify(cmd));
  const envoy = await startEnvoy({ adminPort, bootstrap: cmd.bootstrap });
  return { envoy, egressPort };
}

async function deniedCount(h: TestHerald): Promise<number> {
  const m = /herald_xds_identity_denied_total\{reason="identity"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${h.adminPort}/metrics`)).text());
  return m ? Number(m[1]) : 0;
}

for (const protocol of ['sotw', 'delta'] as const) {
  describe(`real Envoy over mTLS (${protocol})`, () => {
    test('a matching identity is configured; no certificate, a foreign CA, or another service\'s claim is refused', async (t) => {
      const pki = makeTestPki();
      const backend = await startBackend('web-1');
      const h = await startTestHerald([{ name: 'web', endpoints: [{ address: '127.0.0.1', port: backend.port }] }], {
        xds: { tls: { certFile: pki.server.cert, keyFile: pki.server.key, clientCaFile: pki.ca, trustDomain: 'cluster.local' } },
      });
      const proxies: Proxy[] = [];
      t.after(async () => {
        for (const p of proxies) await p.envoy.stop();
        await h.stop();
        await backend.close();
        pki.remove();
      });
      const webCert = pki.issue('web', 'URI:spiffe://cluster.local/ns/shop/sa/web');

      const good = await proxy(h, pki, protocol, { cluster: 'web', namespace: 'shop', pair: webCert });
      proxies.push(good);
      await waitFor('the mTLS proxy ready (connected and configured)', () => good.envoy.isReady(), 20_000);
      await waitFor('a request through the mTLS proxy', async () => (await httpRequest(good.egressPort, '/', { host: 'web' })).backend === 'web-1');
      const listed = (await h.adminGet('/proxies')).proxies;
      assert.equal(listed.length, 1);
      assert.equal(listed[0].identity, 'spiffe://cluster.local/ns/shop/sa/web');
      assert.equal(listed[0].protocol, protocol);

      const noCert = await proxy(h, pki, protocol, { cluster: 'web', namespace: 'shop' });
      const foreign = await proxy(h, pki, protocol, { cluster: 'web', namespace: 'shop', pair: pki.issueUntrusted('web-foreign', 'URI:spiffe://cluster.local/ns/shop/sa/web') });
      const impostor = await proxy(h, pki, protocol, { cluster: 'api', namespace: 'shop', pair: webCert });
      proxies.push(noCert, foreign, impostor);
      await waitFor('the impostor refused with PERMISSION_DENIED', async () => (await deniedCount(h)) >= 1, 20_000);
      // Give the refused proxies time in which a wrongly accepted one would have been configured (~100 ms here).
      await sleep(3000);
      for (const [name, p] of [['no client certificate', noCert], ['foreign CA', foreign], ['impostor', impostor]] as const) {
        assert.equal(await p.envoy.isReady(), false, `${name}: not configured`);
        const dump = await p.envoy.configDump();
        const clusters = dump.configs.find((c: any) => c['@type'].endsWith('ClustersConfigDump'));
        assert.equal((clusters.dynamic_active_clusters ?? []).length, 0, `${name}: no cluster from Herald`);
      }
      const after = (await h.adminGet('/proxies')).proxies;
      assert.deepEqual(after.map((p: any) => p.cluster), ['web'], 'only the honest proxy holds a stream');
      // The refused TLS handshakes show on the proxies' side as failed connections.
      const failures = async (p: Proxy) => {
        const body = (await p.envoy.admin('/stats?filter=^cluster\\.herald_xds\\.(ssl\\.connection_error|ssl\\.fail_verify_error|upstream_cx_connect_fail|upstream_cx_destroy_remote)$')).body;
        return [...body.matchAll(/: (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
      };
      assert.ok((await failures(noCert)) > 0, 'no-certificate proxy saw its connections fail');
      assert.ok((await failures(foreign)) > 0, 'foreign-CA proxy saw its connections fail');
    });
  });
}
