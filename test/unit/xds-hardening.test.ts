/**
 * Table tests of the xDS hardening pieces: certificate identity against a node's claim, the admission token
 * bucket, the wire-level name counter and field walker, and the admin Host parsing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certIdentity, identityProblem, nodeClaim } from '../../src/xds/identity';
import { DEFAULT_ADMISSION, DEFAULT_STREAM_LIMITS, TokenBucket } from '../../src/xds/limits';
import { countFields, DELTA_NAME_FIELDS, SOTW_NAME_FIELDS, walkFields } from '../../src/xds/wire';
import { hostOf } from '../../src/admin/server';
import { messageType } from '../../src/xds/protos';
import { deltaCodec, sotwCodec } from '../../src/xds/codec';

const IDENTITY: Record<string, { san: string; ns: string; svc: string; td?: string; ok: boolean }> = {
  'SPIFFE matching namespace and service account': { san: 'URI:spiffe://cluster.local/ns/shop/sa/web', ns: 'shop', svc: 'web', ok: true },
  'SPIFFE, another service': { san: 'URI:spiffe://cluster.local/ns/shop/sa/web', ns: 'shop', svc: 'api', ok: false },
  'SPIFFE, another namespace': { san: 'URI:spiffe://cluster.local/ns/shop/sa/web', ns: 'billing', svc: 'web', ok: false },
  'SPIFFE, the configured trust domain': { san: 'URI:spiffe://prod.example/ns/shop/sa/web', ns: 'shop', svc: 'web', td: 'prod.example', ok: true },
  'SPIFFE, another trust domain': { san: 'URI:spiffe://evil.example/ns/shop/sa/web', ns: 'shop', svc: 'web', td: 'prod.example', ok: false },
  'SPIFFE with extra path segments': { san: 'URI:spiffe://cluster.local/ns/shop/sa/web/extra', ns: 'shop', svc: 'web', ok: false },
  'DNS service.namespace.svc': { san: 'DNS:web.shop.svc', ns: 'shop', svc: 'web', ok: true },
  'DNS with the cluster domain': { san: 'DNS:web.shop.svc.cluster.local', ns: 'shop', svc: 'web', ok: true },
  'DNS, case-insensitive': { san: 'DNS:Web.Shop.SVC', ns: 'shop', svc: 'web', ok: true },
  'DNS of another service': { san: 'DNS:api.shop.svc', ns: 'shop', svc: 'web', ok: false },
  'DNS lookalike (prefix without a dot)': { san: 'DNS:web.shop.svcx', ns: 'shop', svc: 'web', ok: false },
  'one of several SANs matches': { san: 'DNS:other.example, URI:spiffe://cluster.local/ns/shop/sa/web, IP Address:10.0.0.1', ns: 'shop', svc: 'web', ok: true },
  'no namespace claimed': { san: 'URI:spiffe://cluster.local/ns/shop/sa/web', ns: '', svc: 'web', ok: false },
  'no SAN at all': { san: '', ns: 'shop', svc: 'web', ok: false },
};

for (const [name, c] of Object.entries(IDENTITY)) {
  test(`identity: ${name}`, () => {
    const node = { id: 'n', cluster: c.svc, zone: '', region: '', userAgent: '', metadata: c.ns ? { HERALD_NAMESPACE: c.ns } : {} };
    const problem = identityProblem(certIdentity({ subjectaltname: c.san }), nodeClaim(node), c.td ?? '');
    assert.equal(problem === undefined, c.ok, problem ?? 'accepted');
  });
}

test('token bucket: a burst, then the rate', () => {
  let now = 0;
  const b = new TokenBucket(10, 3, () => now);
  assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
  now += 100; // one token per 100 ms
  assert.deepEqual([b.take(), b.take()], [true, false]);
  now += 10_000; // never more than the burst
  assert.equal([1, 2, 3, 4].filter(() => b.take()).length, 3);
  assert.ok(new TokenBucket(0, 1, () => now).take(), 'rate 0: unlimited');
});

test('countFields and the hand decoders agree with protobufjs; malformed bytes are errors', () => {
  const delta = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  const bytes = Buffer.from(
    delta
      .encode(
        delta.fromObject({
          node: { id: 'n1', cluster: 'c', metadata: { fields: { HERALD_NAMESPACE: { stringValue: 'shop' } } } },
          typeUrl: 't',
          resourceNamesSubscribe: ['a', 'b'],
          resourceNamesUnsubscribe: ['c'],
          initialResourceVersions: { x: '1', 'ü-y': '2' },
          responseNonce: 'nonce-1',
          errorDetail: { code: 3, message: 'bad' },
        }),
      )
      .finish(),
  );
  assert.equal(countFields(bytes, DELTA_NAME_FIELDS), 5);
  const d = deltaCodec().decode(bytes);
  assert.ok(!('error' in d));
  assert.deepEqual(d.request.subscribe, ['a', 'b']);
  assert.deepEqual(d.request.unsubscribe, ['c']);
  assert.deepEqual([...(d.request.initialVersions as ReadonlyArray<readonly [string, string]>)], [['x', '1'], ['ü-y', '2']]);
  assert.equal(d.request.nonce, 'nonce-1');
  assert.deepEqual(d.request.errorDetail, { code: 3, message: 'bad' });
  assert.equal(d.node?.id, 'n1');
  assert.equal(d.node?.metadata.HERALD_NAMESPACE, 'shop');

  const sotw = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const sb = Buffer.from(sotw.encode(sotw.fromObject({ versionInfo: 'v', node: { id: 'n2' }, resourceNames: ['a', 'b', 'c'], typeUrl: 't2', responseNonce: 'z' })).finish());
  assert.equal(countFields(sb, SOTW_NAME_FIELDS), 3);
  const s = sotwCodec().decode(sb);
  assert.ok(!('error' in s));
  assert.deepEqual(s.request.resourceNames, ['a', 'b', 'c']);
  assert.equal(s.request.typeUrl, 't2');
  assert.equal(s.node?.id, 'n2');

  for (const bad of [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), Buffer.from([0x1a, 0x05, 0x61]), Buffer.from([0x00])]) {
    assert.equal(countFields(bad, SOTW_NAME_FIELDS), -1);
    assert.ok(walkFields(bad, () => {}) !== undefined);
    assert.ok('error' in sotwCodec().decode(bad));
  }
});

test('admin Host parsing', () => {
  const cases: Record<string, string> = { 'localhost:18001': 'localhost', '[::1]:18001': '::1', '[::1]': '::1', '127.0.0.1': '127.0.0.1', 'Example.COM': 'example.com', '::1': '::1' };
  for (const [header, host] of Object.entries(cases)) assert.equal(hostOf(header), host, header);
});

test('config: xds.tls, xds.limits, admission, admin.allowedHosts and probes parse; bad values are listed', async () => {
  const { parseConfig } = await import('../../src/config/config');
  const c = parseConfig(
    [
      'xds: { address: 0.0.0.0, port: 18000, tls: { certFile: tls/tls.crt, keyFile: tls/tls.key, clientCaFile: tls/ca.crt, trustDomain: td }, limits: { maxNamesPerRequest: 1000 } }',
      'admission: { newStreamsPerSecond: 50, maxStreams: 100 }',
      'admin: { address: 127.0.0.1, port: 18001, allowedHosts: [herald.internal] }',
      'probes: { address: 0.0.0.0, port: 18003 }',
      'sources: [{ kind: file, path: s.yaml }]',
    ].join('\n'),
    '/etc/herald',
  );
  assert.deepEqual(c.xds.tls, { certFile: '/etc/herald/tls/tls.crt', keyFile: '/etc/herald/tls/tls.key', clientCaFile: '/etc/herald/tls/ca.crt', verifyNodeIdentity: true, trustDomain: 'td' });
  assert.deepEqual(c.xds.limits, { ...DEFAULT_STREAM_LIMITS, maxNamesPerRequest: 1000 });
  assert.deepEqual(c.admission, { ...DEFAULT_ADMISSION, newStreamsPerSecond: 50, maxStreams: 100 });
  assert.deepEqual(c.admin.allowedHosts, ['herald.internal']);
  assert.deepEqual(c.probes, { address: '0.0.0.0', port: 18003 });
  const plain = parseConfig('sources: [{ kind: file, path: s.yaml }]', '/');
  assert.equal(plain.xds.tls, undefined, 'plaintext by default');
  assert.equal(plain.probes, undefined);
  assert.throws(
    () => parseConfig('xds: { tls: { certFile: a }, limits: { maxRequestBytes: 10, bogus: 1 } }\nadmission: { burst: 0 }\nsources: [{ kind: file, path: s.yaml }]', '/'),
    (e: Error) => /xds\.tls\.keyFile/.test(e.message) && /xds\.limits\.maxRequestBytes/.test(e.message) && /bogus/.test(e.message) && /admission\.burst/.test(e.message),
  );
});
