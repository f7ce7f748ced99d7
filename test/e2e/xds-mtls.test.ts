/**
 * Real Envoy to Herald over mTLS, bootstrapped by `herald bootstrap --tls-ca --tls-cert --tls-key` (through
 * bootstrapCommand), in SotW and Delta: a proxy whose SPIFFE certificate matches its claim connects and routes;
 * a proxy without a client certificate, with one from another CA, or claiming another service's identity is
 * refused and never configured (the last with PERMISSION_DENIED, counted by Herald).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bootstrapCommand } from '../../src/cli/bootstrap';
import { startEnvoy, type EnvoyProcess } from '../../lab/src/envoy/process';
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

async function proxy(
  h: TestHerald,
  pki: TestPki,
  protocol: 'sotw' | 'delta',
  o: { cluster: string; namespace: string; pair?: KeyPair; ca?: string; sdsDir?: string },
): Promise<Proxy> {
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
    ...(o.sdsDir ? ['--tls-sds-dir', o.sdsDir] : []),
  ];
  const cmd = bootstrapCommand(argv, {});
  assert.ok('bootstrap' in cmd, JSON.stringify(cmd));
  for (const [file, content] of Object.entries(cmd.files ?? {})) fs.writeFileSync(file, JSON.stringify(content));
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
      // In the proxies' namespace (shop), so their short name `web` is this service.
      const h = await startTestHerald([{ name: 'shop/web', endpoints: [{ address: '127.0.0.1', port: backend.port }] }], {
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

test('--tls-sds-dir: Envoy re-reads its rotated client certificate (files moved into place, as a Secret volume does)', async (t) => {
  const pki = makeTestPki();
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-client-tls-'));
  const sdsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-sds-'));
  const place = (pair: KeyPair) => {
    fs.copyFileSync(pair.cert, path.join(certDir, 'tls.crt.new'));
    fs.copyFileSync(pair.key, path.join(certDir, 'tls.key.new'));
    fs.renameSync(path.join(certDir, 'tls.key.new'), path.join(certDir, 'tls.key'));
    fs.renameSync(path.join(certDir, 'tls.crt.new'), path.join(certDir, 'tls.crt'));
  };
  place(pki.issue('web-a', 'URI:spiffe://cluster.local/ns/shop/sa/web'));
  const xds = { tls: { certFile: pki.server.cert, keyFile: pki.server.key, clientCaFile: pki.ca } };
  let h = await startTestHerald([{ name: 'web', endpoints: [{ address: '127.0.0.1', port: 9 }] }], { xds });
  const dir = h.dir;
  const xdsPort = h.xdsPort;
  let envoy: Proxy | undefined;
  t.after(async () => {
    await envoy?.envoy.stop();
    await h.stop();
    pki.remove();
    fs.rmSync(certDir, { recursive: true, force: true });
    fs.rmSync(sdsDir, { recursive: true, force: true });
  });
  envoy = await proxy(h, pki, 'delta', { cluster: 'web', namespace: 'shop', pair: { cert: path.join(certDir, 'tls.crt'), key: path.join(certDir, 'tls.key') }, sdsDir });
  await waitFor('configured over mTLS with the first certificate', () => envoy!.envoy.isReady(), 20_000);
  assert.equal((await h.adminGet('/proxies')).proxies[0].identity, 'spiffe://cluster.local/ns/shop/sa/web');

  place(pki.issue('web-b', 'URI:spiffe://cluster.local/ns/shop/sa/web,DNS:rotated.web.shop.svc'));
  await sleep(1500);
  // A new connection shows which certificate Envoy now presents: restart Herald on the same port.
  await h.stop();
  h = await startTestHerald([], { xds, xdsPort, dir });
  const p = await waitFor(
    'Envoy reconnected with the rotated certificate',
    async () => (await h.adminGet('/proxies')).proxies.find((x: any) => x.identity?.includes('DNS:rotated.web.shop.svc')),
    30_000,
    200,
  );
  assert.equal(p.cluster, 'web');
});
