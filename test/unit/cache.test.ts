/** XdsCache: encode once, stable versions, per-resource change sets, validation and consistency. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdsCache, type CacheChange, type ResourceInput } from '../../src/xds/cache';

function cla(name: string, port: number): ResourceInput {
  return { name, message: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } } }], loadBalancingWeight: { value: 1 } }] } };
}
function cluster(name: string): ResourceInput {
  return { name, message: { name, type: 'EDS', edsClusterConfig: { edsConfig: { ads: {} } } }, dependents: [{ kind: 'endpoint', name }] };
}

test('identical content keeps its version and bytes; a change bumps only that resource', () => {
  const c = new XdsCache('p');
  const seen: CacheChange[][] = [];
  c.subscribe((ch) => seen.push([...ch]));
  c.apply('v', [{ kind: 'endpoint', upsert: [cla('a', 1), cla('b', 2)] }]);
  const a1 = c.resources('v', 'endpoint').get('a')!;
  const b1 = c.resources('v', 'endpoint').get('b')!;
  const r = c.apply('v', [{ kind: 'endpoint', upsert: [cla('a', 1), cla('b', 3)] }]);
  assert.deepEqual(r.changes, [{ view: 'v', kind: 'endpoint', names: ['b'] }]);
  const a2 = c.resources('v', 'endpoint').get('a')!;
  assert.equal(a2.version, a1.version, 'unchanged resource keeps its version');
  assert.equal(a2.any, a1.any, 'and its encoded bytes');
  assert.notEqual(c.resources('v', 'endpoint').get('b')!.version, b1.version);
  assert.ok(a1.version.startsWith('p-'), 'versions carry the process prefix');
  assert.equal(seen.length, 2);
  assert.equal(c.apply('v', [{ kind: 'endpoint', upsert: [cla('a', 1)] }]).changes.length, 0, 'no-op batch emits nothing');
});

test('the version prefix differs between cache instances (a restarted process)', () => {
  assert.notEqual(new XdsCache().prefix, new XdsCache().prefix);
});

test('replace removes what the batch does not name', () => {
  const c = new XdsCache('p');
  c.apply('v', [{ kind: 'endpoint', upsert: [cla('a', 1), cla('b', 2)] }]);
  const r = c.apply('v', [{ kind: 'endpoint', replace: true, upsert: [cla('a', 1)] }]);
  assert.deepEqual([...c.resources('v', 'endpoint').keys()], ['a']);
  assert.deepEqual(r.changes, [{ view: 'v', kind: 'endpoint', names: ['b'] }]);
});

test('a resource that fails validation is rejected with a path and the previous version stays', () => {
  const c = new XdsCache('p');
  c.apply('v', [{ kind: 'endpoint', upsert: [cla('a', 1)] }]);
  const before = c.resources('v', 'endpoint').get('a');
  const bad = { name: 'a', message: { clusterName: 'a', endpoints: 'not-a-list' } } as unknown as ResourceInput<'endpoint'>;
  const r = c.apply('v', [{ kind: 'endpoint', upsert: [bad] }]);
  assert.equal(r.rejected.length, 1);
  assert.match(r.rejected[0]!, /^endpoint\[a\]: /);
  assert.equal(c.resources('v', 'endpoint').get('a'), before);
  const misnamed = c.apply('v', [{ kind: 'endpoint', upsert: [{ name: 'x', message: { clusterName: 'y' } }] }]);
  assert.match(misnamed.rejected[0]!, /clusterName must equal the resource name/);
});

test('consistency: a cluster without its endpoints is not published', () => {
  const c = new XdsCache('p');
  const r = c.apply('v', [{ kind: 'cluster', upsert: [cluster('a')] }]);
  assert.match(r.rejected[0]!, /cluster\[a\]: depends on missing endpoint\[a\]/);
  assert.equal(c.resources('v', 'cluster').size, 0);
  c.apply('v', [
    { kind: 'endpoint', upsert: [cla('a', 1)] },
    { kind: 'cluster', upsert: [cluster('a')] },
  ]);
  assert.equal(c.resources('v', 'cluster').size, 1);
  const removal = c.apply('v', [{ kind: 'endpoint', remove: ['a'] }]);
  assert.equal(removal.rejected.length, 1, 'removing endpoints a cluster needs rolls the cluster back... ');
  assert.equal(c.resources('v', 'cluster').size, 0, '...out, since it has no previous consistent state');
});

test('the same input object again is not encoded again', () => {
  const c = new XdsCache('p');
  const input = cla('a', 1);
  c.apply('v', [{ kind: 'endpoint', upsert: [input] }]);
  const first = c.resources('v', 'endpoint').get('a')!;
  // Inputs are immutable by contract; breaking it here shows the second apply does not encode: were it encoded,
  // the now-invalid message would be rejected.
  (input.message as Record<string, unknown>).endpoints = 'not-a-list';
  const r = c.apply('v', [{ kind: 'endpoint', upsert: [input] }]);
  assert.deepEqual(r, { changes: [], rejected: [] });
  assert.equal(c.resources('v', 'endpoint').get('a'), first);
});

test('views are independent', () => {
  const c = new XdsCache('p');
  c.apply('v1', [{ kind: 'endpoint', upsert: [cla('a', 1)] }]);
  assert.equal(c.resources('v2', 'endpoint').size, 0);
  assert.deepEqual(c.viewNames(), ['v1']);
});

test('batch: the changes of every apply inside it reach the listeners once, after the last view is applied', () => {
  const c = new XdsCache('p');
  c.apply('v1', [{ kind: 'endpoint', upsert: [cla('a', 1)] }]);
  c.apply('v2', [{ kind: 'endpoint', upsert: [cla('a', 1)] }]);
  const seen: Array<{ changes: CacheChange[]; v2: string | undefined }> = [];
  c.subscribe((ch) => seen.push({ changes: [...ch], v2: c.resources('v2', 'endpoint').get('a')?.version }));
  const returned = c.batch(() => {
    c.apply('v1', [{ kind: 'endpoint', upsert: [cla('a', 2)] }]);
    assert.equal(seen.length, 0, 'nothing told before the batch ends');
    c.batch(() => c.apply('v2', [{ kind: 'endpoint', upsert: [cla('a', 2)] }]));
    assert.equal(seen.length, 0, 'a nested batch joins the outer one');
    return 7;
  });
  assert.equal(returned, 7);
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]!.changes, [
    { view: 'v1', kind: 'endpoint', names: ['a'] },
    { view: 'v2', kind: 'endpoint', names: ['a'] },
  ]);
  assert.equal(seen[0]!.v2, c.resources('v2', 'endpoint').get('a')!.version, 'listeners see every view applied');
  assert.equal(c.batch(() => c.apply('v1', [{ kind: 'endpoint', upsert: [cla('a', 2)] }])).changes.length, 0);
  assert.equal(seen.length, 1, 'an empty batch tells nothing');
});
