/**
 * xDS over mTLS with node identity, through a grpc-js client: a certificate whose SPIFFE or DNS SAN matches the
 * node's claim (namespace in metadata HERALD_NAMESPACE, service in node.cluster) is served; another claim gets
 * PERMISSION_DENIED (logged, counted); no certificate or one from another CA never reaches xDS; the server
 * certificate is reloaded when its files change, and a broken replacement leaves the old one in use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { AdsClient, typeUrl } from '../support/ads-client';
import { startTestHerald, type TestHerald } from '../support/herald';
import { makeTestPki, type KeyPair, type TestPki } from '../support/certs';
import { waitFor } from '../support/wait';

const SERVICES = [{ name: 'web', endpoints: [{ address: '10.0.0.1', port: 80 }] }];
const claim = (id: string, cluster: string, namespace: string) => ({
  id,
  cluster,
  metadata: { fields: { HERALD_NAMESPACE: { stringValue: namespace } } },
});

function client(h: TestHerald, pki: TestPki, pair?: KeyPair, ca = pki.ca): AdsClient {
  const creds = grpc.credentials.createSsl(
    fs.readFileSync(ca),
    pair ? fs.readFileSync(pair.key) : null,
    pair ? fs.readFileSync(pair.cert) : null,
  );
  return new AdsClient(h.xdsPort, 'sotw', creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
}

async function metric(h: TestHerald, re: RegExp): Promise<number> {
  const m = re.exec(await (await fetch(`http://127.0.0.1:${h.adminPort}/metrics`)).text());
  return m ? Number(m[1]) : 0;
}

test('mTLS: a matching SPIFFE or DNS identity is served; another claim is PERMISSION_DENIED; no or foreign certificates never connect', async (t) => {
  const pki = makeTestPki();
  const h = await startTestHerald(SERVICES, { xds: { tls: { certFile: pki.server.cert, keyFile: pki.server.key, clientCaFile: pki.ca } } });
  const clients: AdsClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await h.stop();
    pki.remove();
  });
  const web = pki.issue('web', 'URI:spiffe://cluster.local/ns/shop/sa/web');
  const ok = client(h, pki, web);
  clients.push(ok);
  ok.send({ node: claim('web-1.shop', 'web', 'shop'), typeUrl: typeUrl('cluster') });
  assert.deepEqual([...(await ok.next('cluster')).resources.keys()], ['web.default'], 'the file service web is default/web');
  const proxies = (await h.adminGet('/proxies')).proxies;
  assert.equal(proxies[0].identity, 'spiffe://cluster.local/ns/shop/sa/web');

  const dns = client(h, pki, pki.issue('web-dns', 'DNS:web.shop.svc.cluster.local'));
  clients.push(dns);
  dns.send({ node: claim('web-2.shop', 'web', 'shop'), typeUrl: typeUrl('cluster') });
  await dns.next('cluster');

  // The web certificate claiming to be api (or web in another namespace) is refused.
  for (const [cluster, ns] of [['api', 'shop'], ['web', 'billing'], ['web', '']] as const) {
    const liar = client(h, pki, web);
    clients.push(liar);
    liar.send({ node: claim(`liar-${cluster}-${ns}`, cluster, ns), typeUrl: typeUrl('cluster') });
    const s = await liar.ended();
    assert.equal(s.code, grpc.status.PERMISSION_DENIED, `${cluster}/${ns}: ${s.details}`);
  }
  assert.equal(await metric(h, /herald_xds_identity_denied_total\{reason="identity"\} (\d+)/), 3);

  // No client certificate, or one from another CA: the TLS handshake fails, xDS never sees the stream.
  const anonymous = client(h, pki);
  const foreign = client(h, pki, pki.issueUntrusted('web-foreign', 'URI:spiffe://cluster.local/ns/shop/sa/web'));
  clients.push(anonymous, foreign);
  for (const c of [anonymous, foreign]) {
    c.send({ node: claim('sneaky', 'web', 'shop'), typeUrl: typeUrl('cluster') });
    assert.equal((await c.ended(10_000)).code, grpc.status.UNAVAILABLE);
  }
  assert.equal((await h.adminGet('/proxies')).proxies.length, 2, 'only the two honest streams');

  // Plaintext to a TLS port does not work either.
  const plain = new AdsClient(h.xdsPort, 'sotw');
  clients.push(plain);
  plain.send({ node: claim('plain', 'web', 'shop'), typeUrl: typeUrl('cluster') });
  assert.equal((await plain.ended(10_000)).code, grpc.status.UNAVAILABLE);
});

function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: fs.readFileSync(ca), ALPNProtocols: ['h2'] }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.on('error', reject);
  });
}

test('TLS without client certificates; the server certificate is reloaded when its files change, a broken one is refused', async (t) => {
  const pki = makeTestPki();
  const certFile = `${pki.dir}/live.crt`;
  const keyFile = `${pki.dir}/live.key`;
  fs.copyFileSync(pki.server.cert, certFile);
  fs.copyFileSync(pki.server.key, keyFile);
  const h = await startTestHerald(SERVICES, { xds: { tls: { certFile, keyFile, reloadIntervalMs: 200 } } });
  const clients: AdsClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await h.stop();
    pki.remove();
  });
  // No client CA: any client that trusts Herald is served, without an identity check.
  const c = client(h, pki);
  clients.push(c);
  c.send({ node: { id: 'anyone', cluster: 'whatever' }, typeUrl: typeUrl('cluster') });
  await c.next('cluster');
  const before = await servedSerial(h.xdsPort, pki.ca);

  const next = pki.issue('server-2', 'DNS:localhost,IP:127.0.0.1', true);
  fs.copyFileSync(next.cert, certFile);
  fs.copyFileSync(next.key, keyFile);
  const after = await waitFor('the new certificate served', async () => {
    const s = await servedSerial(h.xdsPort, pki.ca);
    return s !== before ? s : undefined;
  });
  assert.notEqual(after, before);

  // A half-written / mismatched pair is not used: the last good certificate stays.
  fs.writeFileSync(keyFile, fs.readFileSync(pki.server.key));
  await waitFor('the failed reload counted', async () => (await metric(h, /herald_xds_tls_reloads_total\{outcome="failed"\} (\d+)/)) > 0);
  assert.equal(await servedSerial(h.xdsPort, pki.ca), after);
  const again = client(h, pki);
  clients.push(again);
  again.send({ node: { id: 'anyone-2', cluster: 'whatever' }, typeUrl: typeUrl('cluster') });
  await again.next('cluster');
});
