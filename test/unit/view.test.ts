/** Views: from node metadata to a key and back; proxies with equal settings share a key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseViewKey, viewFromNode, viewKey, type ProxyView } from '../../src/translate/view';

const DEFAULT_EGRESS = '127.0.0.1:15001';
const node = (metadata: Record<string, unknown>, zone = 'a', userAgent = 'envoy') => ({ zone, userAgent, metadata });

const cases: Record<string, { metadata: Record<string, unknown>; userAgent?: string; key: string; problems?: RegExp }> = {
  'plain sidecar (the key is unchanged from before ingress existed)': { metadata: {}, key: 'envoy|a|127.0.0.1:15001' },
  'own egress': { metadata: { HERALD_EGRESS: '127.0.0.1:16001' }, key: 'envoy|a|127.0.0.1:16001' },
  'ingress with default health path': { metadata: { HERALD_INGRESS: '0.0.0.0:15006', HERALD_APP_PORT: '8080' }, key: 'envoy|a|127.0.0.1:15001|0.0.0.0:15006|8080|/healthz' },
  'ingress with numeric app port and own path': { metadata: { HERALD_INGRESS: '0.0.0.0:15006', HERALD_APP_PORT: 8080, HERALD_HEALTH_PATH: '/ready' }, key: 'envoy|a|127.0.0.1:15001|0.0.0.0:15006|8080|/ready' },
  'grpc by user agent ignores sidecar metadata': { metadata: { HERALD_INGRESS: '0.0.0.0:15006', HERALD_APP_PORT: '8080' }, userAgent: 'gRPC Node Pure-JS', key: 'grpc|a|' },
  'grpc declared': { metadata: { HERALD_FLAVOR: 'grpc' }, key: 'grpc|a|' },
  'envoy declared beats a grpc user agent': { metadata: { HERALD_FLAVOR: 'envoy' }, userAgent: 'grpc', key: 'envoy|a|127.0.0.1:15001' },
  'ingress without app port: no ingress, a problem': { metadata: { HERALD_INGRESS: '0.0.0.0:15006' }, key: 'envoy|a|127.0.0.1:15001', problems: /HERALD_APP_PORT: must be a port 1\.\.65535 \(got ""\); no ingress listener/ },
  'bad app port': { metadata: { HERALD_INGRESS: '0.0.0.0:15006', HERALD_APP_PORT: '80x' }, key: 'envoy|a|127.0.0.1:15001', problems: /HERALD_APP_PORT: must be a port/ },
  'bad ingress address': { metadata: { HERALD_INGRESS: '15006', HERALD_APP_PORT: '8080' }, key: 'envoy|a|127.0.0.1:15001', problems: /HERALD_INGRESS: must be host:port/ },
  'bad egress falls back to the default': { metadata: { HERALD_EGRESS: 'localhost' }, key: 'envoy|a|127.0.0.1:15001', problems: /HERALD_EGRESS: must be host:port/ },
  'metadata of the wrong type': { metadata: { HERALD_EGRESS: { a: 1 } }, key: 'envoy|a|127.0.0.1:15001', problems: /HERALD_EGRESS: must be a string/ },
};

for (const [name, c] of Object.entries(cases)) {
  test(`view: ${name}`, () => {
    const { view, problems } = viewFromNode(node(c.metadata, 'a', c.userAgent), DEFAULT_EGRESS);
    assert.equal(viewKey(view), c.key);
    if (c.problems) assert.ok(problems.some((p) => c.problems!.test(p)), problems.join('\n'));
    else assert.deepEqual(problems, []);
    assert.deepEqual(parseViewKey(viewKey(view)), view, 'the key round-trips');
  });
}

test('view: separators inside fields are escaped and round-trip', () => {
  const view: ProxyView = { flavor: 'envoy', zone: 'z|1%', egress: '[::1]:15001', ingress: { listen: '[::]:15006', appPort: 8080, healthPath: '/a|b' } };
  const key = viewKey(view);
  assert.equal(key.split('|').length, 6);
  assert.deepEqual(parseViewKey(key), view);
});

test('view: two proxies with the same settings share a key; any difference splits them', () => {
  const base = { HERALD_INGRESS: '0.0.0.0:15006', HERALD_APP_PORT: '8080' };
  const k = (m: Record<string, unknown>, zone = 'a') => viewKey(viewFromNode(node(m, zone), DEFAULT_EGRESS).view);
  assert.equal(k(base), k({ ...base }));
  assert.notEqual(k(base), k({ ...base, HERALD_APP_PORT: '9090' }));
  assert.notEqual(k(base), k({ ...base, HERALD_HEALTH_PATH: '/ready' }));
  assert.notEqual(k(base), k(base, 'b'));
  assert.notEqual(k(base), k({}));
});
