/** The registry keys of herald.yaml: server backend, auth, ipv6, env; source backend and its default guard. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/config';

const REGISTRY_GUARD = { maxRemovalPercent: 50, holdSeconds: 600, confirmByReread: false };
const KUBERNETES_GUARD = { maxRemovalPercent: 50, holdSeconds: 30, confirmByReread: true };

const parse = (doc: unknown) => parseConfig(stringify(doc), '/etc/herald');

test('registry config: defaults keep the original-compatible reads and Herald’s strict writes', () => {
  const c = parse({ registry: { db: 'r.sqlite' }, sources: [{ kind: 'registry', url: 'http://r:8080', services: ['legacy'] }] });
  assert.deepEqual(
    { backend: c.registry!.backend, db: c.registry!.db, auth: c.registry!.auth, ipv6: c.registry!.ipv6, env: c.registry!.env, namespace: c.registry!.namespace },
    { backend: 'sqlite', db: '/etc/herald/r.sqlite', auth: 'token', ipv6: false, env: undefined, namespace: 'herald-system' },
  );
  const s = c.sources[0]!;
  assert.ok(s.kind === 'registry' && s.backend === 'http');
  assert.deepEqual(s.guard, REGISTRY_GUARD);
});

test('registry config: the Kubernetes backend on both sides, auth none, ipv6, env', () => {
  const c = parse({
    registry: { backend: 'kubernetes', kubeconfig: 'kc', namespace: 'vms', auth: 'none', ipv6: true, env: 'production' },
    sources: [{ kind: 'registry', backend: 'kubernetes', namespace: 'vms', services: ['legacy'] }],
  });
  assert.deepEqual(
    { backend: c.registry!.backend, db: c.registry!.db, kubeconfig: c.registry!.kubeconfig, namespace: c.registry!.namespace, auth: c.registry!.auth, ipv6: c.registry!.ipv6, env: c.registry!.env },
    { backend: 'kubernetes', db: '', kubeconfig: '/etc/herald/kc', namespace: 'vms', auth: 'none', ipv6: true, env: 'production' },
  );
  const s = c.sources[0]!;
  assert.ok(s.kind === 'registry' && s.backend === 'kubernetes' && s.url === '' && s.namespace === 'vms');
  assert.deepEqual(s.guard, KUBERNETES_GUARD, 'watched resources are guarded as pods, not as a pollable registry');
});

test('registry config: bad values are named', () => {
  assert.throws(() => parse({ registry: { db: 'r', auth: 'basic' }, sources: [] }), /registry\.auth: must be token or none/);
  assert.throws(() => parse({ registry: { backend: 'dynamodb' }, sources: [] }), /registry\.backend: must be sqlite or kubernetes/);
  assert.throws(() => parse({ sources: [{ kind: 'registry', backend: 'consul', services: ['x'] }] }), /sources\[0\]\.backend: must be http or kubernetes/);
});
