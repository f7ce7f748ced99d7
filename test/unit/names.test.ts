/** Service names, host names, scopes and the view's namespace and scope: table tests. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byServiceId, claimHostNames, envoyName, hostNames, splitServiceId } from '../../src/model/names';
import { inScope, parseScope } from '../../src/model/scope';
import { parseViewKey, viewFromNode, viewKey } from '../../src/translate/view';
import { ViewRegistry } from '../../src/pipeline/views';
import { XdsCache } from '../../src/xds/cache';
import { testTelemetry } from '../support/telemetry';
import type { ResourceInput } from '../../src/xds/encode';
import { parsePolicyFile } from '../../src/config/policy-file';
import { Merger } from '../../src/model/merge';

test('names: ids, Envoy names and the host names a proxy may use', () => {
  assert.deepEqual(splitServiceId('team-a/web'), { namespace: 'team-a', name: 'web' });
  assert.deepEqual(splitServiceId('web'), { namespace: '', name: 'web' });
  assert.equal(envoyName('team-a/web'), 'web.team-a');
  assert.equal(envoyName('web'), 'web', 'an id without namespace keeps its bare name');
  assert.deepEqual(hostNames('team-a/web', 'team-a'), ['web.team-a.svc.cluster.local', 'web.team-a.svc', 'web.team-a', 'web']);
  assert.deepEqual(hostNames('team-a/web', 'team-b', 'corp.example'), ['web.team-a.svc.corp.example', 'web.team-a.svc', 'web.team-a']);
  assert.equal(byServiceId(new Map([['web', 1], ['team-a/web', 2]]), 'team-a/web'), 2, 'namespace/name wins');
  assert.equal(byServiceId({ web: 1 }, 'team-b/web'), 1, 'a bare name applies in every namespace');
});

test('names: a name two services would claim goes to one (the canonical name never to an alias)', () => {
  // `a.b` in namespace c answers to `a.b.c`; service `a` of namespace `b` is `a.b`: its short name from b is `a`.
  const names = claimHostNames(['b/a', 'c/a.b', 'b/a.b'], 'b');
  assert.ok(names.get('b/a')!.includes('a.b'), 'b/a keeps its canonical a.b');
  assert.ok(!names.get('b/a.b')!.includes('a.b'), "b/a.b's short name a.b is b/a's canonical name");
  const all = [...names.values()].flat();
  assert.equal(new Set(all).size, all.length, 'every name once');
});

const scopeCases: Record<string, { text: string; ns?: string; scope: string[] | undefined; problems?: RegExp }> = {
  'one service and a namespace': { text: 'team-b/api, payments/*', scope: ['payments/*', 'team-b/api'] },
  'own namespace, white space and duplicates': { text: './*  ./web,team-a/web', ns: 'team-a', scope: ['team-a/*', 'team-a/web'] },
  'any namespace': { text: '*/api', scope: ['*/api'] },
  'a bad entry is left out, the rest kept': { text: 'team-b/api, nonsense, Bad/x', scope: ['team-b/api'], problems: /"nonsense": must be/ },
  './ without a namespace': { text: './web', ns: '', scope: undefined, problems: /states none/ },
  'nothing valid': { text: ', ,', scope: undefined },
};
for (const [name, c] of Object.entries(scopeCases)) {
  test(`scope: ${name}`, () => {
    const r = parseScope(c.text, c.ns ?? 'team-a');
    assert.deepEqual(r.scope, c.scope);
    if (c.problems) assert.ok(r.problems.some((p) => c.problems!.test(p)), r.problems.join('\n'));
  });
}

test('scope: bounded entries; matching', () => {
  const r = parseScope(Array.from({ length: 70 }, (_, i) => `ns/s${i}`).join(','), 'x');
  assert.equal(r.scope!.length, 64);
  assert.match(r.problems[0]!, /more than 64/);
  assert.ok(inScope(['team-b/*'], 'team-b/api'));
  assert.ok(!inScope(['team-b/*'], 'team-a/api'));
  assert.ok(inScope(['*/api'], 'x/api'));
  assert.ok(inScope(undefined, 'any/thing'), 'no scope: the whole mesh');
});

const node = (metadata: Record<string, unknown>) => ({ zone: '', userAgent: 'envoy', metadata });
test('view: namespace and scope from node metadata, defaults, and a key that round-trips', () => {
  const d = { egress: '127.0.0.1:15001', namespace: 'default', namespaceScopes: new Map([['team-c', './*, shared/*']]) };
  const a = viewFromNode(node({ HERALD_NAMESPACE: 'team-a', HERALD_EGRESS_SCOPE: 'team-b/api, ./*' }), d);
  assert.deepEqual(a.problems, []);
  assert.deepEqual([a.view.namespace, a.view.scope], ['team-a', ['team-a/*', 'team-b/api']]);
  assert.equal(viewKey(a.view), 'envoy||127.0.0.1:15001|ns=team-a|scope=team-a/*,team-b/api');
  assert.deepEqual(parseViewKey(viewKey(a.view)), a.view);
  assert.equal(viewFromNode(node({}), d).view.namespace, 'default', 'no namespace stated: the default');
  assert.deepEqual(viewFromNode(node({ HERALD_NAMESPACE: 'team-c' }), d).view.scope, ['shared/*', 'team-c/*'], "the namespace's default scope");
  assert.deepEqual(viewFromNode(node({ HERALD_NAMESPACE: 'team-d' }), { ...d, scope: 'namespace' }).view.scope, ['team-d/*'], 'own namespace only, by setting');
  const bad = viewFromNode(node({ HERALD_NAMESPACE: 'Team A', HERALD_EGRESS_SCOPE: 'nonsense' }), d);
  assert.equal(bad.view.namespace, 'default');
  assert.equal(bad.view.scope, undefined);
  assert.ok(bad.problems.some((p) => /HERALD_NAMESPACE: must be a namespace/.test(p)));
  assert.ok(bad.problems.some((p) => /HERALD_EGRESS_SCOPE: no valid entry/.test(p)));
});

test('views: every distinct scope is a view and counts against maxViews', () => {
  const r = new ViewRegistry({ defaultEgress: '127.0.0.1:15001', maxViews: 2, zones: [], idleGraceMs: 1000, memoryBudgetBytes: 0 }, { build: () => undefined, drop: () => undefined }, testTelemetry());
  const res = ['a/x', 'a/y', 'a/z'].map((scope, i) => r.resolve({ id: `n${i}`, cluster: 'c', zone: '', region: '', userAgent: 'envoy', metadata: { HERALD_EGRESS_SCOPE: scope } }));
  assert.ok('view' in res[0]! && 'view' in res[1]!);
  assert.ok('refused' in res[2]!, 'a third scope is refused at maxViews 2');
  r.stop();
});

test('cache: one input object applied to two views is encoded once; both hold the same bytes and version', () => {
  const cache = new XdsCache('t');
  const cla: ResourceInput<'endpoint'> = { name: 'web.a', message: { clusterName: 'web.a', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 80 } } } }], loadBalancingWeight: { value: 1 } }] } };
  cache.apply('v1', [{ kind: 'endpoint', upsert: [cla] }]);
  cache.apply('v2', [{ kind: 'endpoint', upsert: [cla] }]);
  assert.equal(cache.encodings, 1);
  assert.equal(cache.resources('v1', 'endpoint').get('web.a'), cache.resources('v2', 'endpoint').get('web.a'));
  const alone = new XdsCache('t', { shareEncodings: false });
  alone.apply('v1', [{ kind: 'endpoint', upsert: [cla] }]);
  alone.apply('v2', [{ kind: 'endpoint', upsert: [cla] }]);
  assert.equal(alone.encodings, 2, 'without sharing each view encodes');
});

test('policy file: services by namespace/name or bare name (every namespace); namespace default scopes, checked', () => {
  const ok = parsePolicyFile('services:\n  web: { retries: 1 }\n  team-a/web: { retries: 2 }\nnamespaces:\n  team-a: { egress: "./*, shared/*" }\n');
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.namespaceScopes.get('team-a'), './*, shared/*');
  const mesh = new Merger(['s'], ok.policies).merge(new Map([['s', new Map([['team-a/web', { endpoints: [] }], ['team-b/web', { endpoints: [] }]])]]));
  assert.equal(mesh.services.get('team-a/web')!.policy.retries, 2, 'namespace/name wins');
  assert.equal(mesh.services.get('team-b/web')!.policy.retries, 1, 'a bare name applies in every namespace');
  const bad = parsePolicyFile('namespaces:\n  Team_A: { egress: "x" }\n  team-b: { egress: "nonsense" }\n');
  assert.ok(bad.problems.some((p) => /Team_A/.test(p)), bad.problems.join('\n'));
  assert.ok(bad.problems.some((p) => /team-b\.egress: "nonsense": must be/.test(p)), bad.problems.join('\n'));
});
