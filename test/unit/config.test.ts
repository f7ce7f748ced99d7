/** Config and services-file parsing: every bad input yields path-prefixed problems, never a throw of another kind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/config';
import { parseServicesFile } from '../../src/sources/file/services-file';

const badServices: Record<string, { yaml: string; problem: RegExp }> = {
  'not yaml': { yaml: 'services: [', problem: /^yaml: / },
  'root is a list': { yaml: '- a', problem: /^\(root\): must be a mapping/ },
  'services not a list': { yaml: 'services: 3', problem: /^services: must be a list/ },
  'port out of range': { yaml: 'services: [{name: web, endpoints: [{address: 10.0.0.1, port: 70000}]}]', problem: /^services\[0\]\.endpoints\[0\]\.port: must be an integer from 1 to 65535/ },
  'host name instead of address': { yaml: 'services: [{name: web, endpoints: [{address: web.local, port: 80}]}]', problem: /^services\[0\]\.endpoints\[0\]\.address: must be an IPv4 or IPv6/ },
  'colons that are no IPv6 address': { yaml: 'services: [{name: web, endpoints: [{address: ":::", port: 80}]}]', problem: /^services\[0\]\.endpoints\[0\]\.address: must be an IPv4 or IPv6/ },
  'bad health': { yaml: 'services: [{name: web, endpoints: [{address: 10.0.0.1, port: 80, health: OK}]}]', problem: /\.health: must be one of HEALTHY/ },
  'duplicate endpoint': { yaml: 'services: [{name: web, endpoints: [{address: 10.0.0.1, port: 80}, {address: 10.0.0.1, port: 80}]}]', problem: /endpoints\[1\]: duplicate endpoint 10\.0\.0\.1:80/ },
  'duplicate service': { yaml: 'services: [{name: web}, {name: web}]', problem: /^services\[1\]\.name: duplicate service/ },
  'upper-case name': { yaml: 'services: [{name: Web}]', problem: /^services\[0\]\.name: must be lower-case/ },
  'typo in a field': { yaml: 'services: [{name: web, endpoints: [{adress: 10.0.0.1, port: 80}]}]', problem: /endpoints\[0\]\.adress: unknown field/ },
  'weight zero': { yaml: 'services: [{name: web, endpoints: [{address: 10.0.0.1, port: 80, weight: 0}]}]', problem: /\.weight: must be an integer from 1 to 128/ },
};

for (const [name, c] of Object.entries(badServices)) {
  test(`services file rejects: ${name}`, () => {
    const r = parseServicesFile(c.yaml, 'file');
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.problems.some((p) => c.problem.test(p)), r.problems.join('\n'));
  });
}

test('services file: a good file parses with defaults and sorted endpoints', () => {
  const r = parseServicesFile('services:\n  - name: web\n    endpoints:\n      - {address: 10.0.0.2, port: 80, zone: b}\n      - {address: 10.0.0.1, port: 80, health: DRAINING}\n', 'file');
  assert.ok(r.ok);
  const web = r.snapshot.get('web')!;
  assert.deepEqual(
    web.endpoints.map((e) => [e.address, e.health, e.zone, e.weight, e.source]),
    [
      ['10.0.0.1', 'DRAINING', '', 1, 'file'],
      ['10.0.0.2', 'HEALTHY', 'b', 1, 'file'],
    ],
  );
});

test('services file: empty file is an empty mesh', () => {
  const r = parseServicesFile('', 'file');
  assert.ok(r.ok && r.snapshot.size === 0);
});

const badConfigs: Record<string, { yaml: string; problem: RegExp }> = {
  'no sources': { yaml: 'xds: {port: 1}', problem: /sources: at least one source/ },
  'unknown source kind': { yaml: 'sources: [{kind: ftp}]', problem: /sources\[0\]\.kind: must be one of/ },
  'port is a string': { yaml: 'xds: {port: "x"}\nsources: [{kind: file, path: s.yaml}]', problem: /xds\.port: must be an integer/ },
  'unknown top-level key': { yaml: 'xdss: {}\nsources: [{kind: file, path: s.yaml}]', problem: /\n  xdss: unknown field \(expected one of xds, admin, / },
  'broken yaml': { yaml: 'sources: [', problem: /config: yaml:/ },
};

for (const [name, c] of Object.entries(badConfigs)) {
  test(`config rejects: ${name}`, () => {
    assert.throws(() => parseConfig(c.yaml, '/tmp'), c.problem);
  });
}

test('config: defaults and relative paths', () => {
  const c = parseConfig('sources: [{kind: file, path: s.yaml}]', '/etc/herald');
  assert.equal(c.xds.port, 18000);
  assert.equal(c.admin.address, '127.0.0.1');
  const s0 = c.sources[0]!;
  assert.ok(s0.kind === 'file' && s0.path === '/etc/herald/s.yaml');
});

test('services file: IPv6 addresses are canonical, so two spellings of one address collide', () => {
  const r = parseServicesFile('services: [{name: web, endpoints: [{address: "2001:DB8:0:0::1", port: 80}]}]', 'file');
  assert.ok(r.ok);
  assert.equal(r.snapshot.get('web')!.endpoints[0]!.address, '2001:db8::1');
  const dup = parseServicesFile('services: [{name: web, endpoints: [{address: "2001:DB8::1", port: 80}, {address: "2001:db8:0::1", port: 80}]}]', 'file');
  assert.equal(dup.ok, false);
});

const moreBadConfigs: Record<string, { yaml: string; problems: string[] }> = {
  'guard out of range, with its path': { yaml: 'sources: [{kind: file, path: s.yaml, guard: {maxRemovalPercent: 150}}]', problems: ['sources[0].guard.maxRemovalPercent: must be an integer from 0 to 100'] },
  'typo in a guard': { yaml: 'sources: [{kind: kubernetes, guard: {holdSecond: 5}}]', problems: ['sources[0].guard.holdSecond: unknown field (expected one of maxRemovalPercent, holdSeconds, confirmByReread)'] },
  'every unknown key is its own problem': {
    yaml: 'sources: [{kind: file, path: s.yaml, pth: x, nme: y}]',
    problems: [
      'sources[0].pth: unknown field (expected one of kind, name, path, settleMs, allowEmpty, maxBytes, maxEndpoints, maxLossPercent, confirmMs, guard, serviceNamespace)',
      'sources[0].nme: unknown field (expected one of kind, name, path, settleMs, allowEmpty, maxBytes, maxEndpoints, maxLossPercent, confirmMs, guard, serviceNamespace)',
    ],
  },
  'duplicate source names': { yaml: 'sources: [{kind: file, path: a.yaml}, {kind: file, name: file-0, path: b.yaml}]', problems: ['sources[1].name: duplicate source name "file-0"'] },
  'bad discovery override': { yaml: 'sources: [{kind: kubernetes, discoveryOverrides: {legacy-api: slices}}]', problems: ['sources[0].discoveryOverrides.legacy-api: must be one of pods, endpointslices-ready, endpointslices-terminating'] },
  'namespaces not a list': { yaml: 'sources: [{kind: kubernetes, namespaces: default}]', problems: ['sources[0].namespaces: must be a list of non-empty strings'] },
  'registry source without services or a URL scheme': {
    yaml: 'sources: [{kind: registry, url: "127.0.0.1:18002"}]',
    problems: ['sources[0].url: must be an http:// or https:// URL', 'sources[0].services: must name at least one service'],
  },
  'source kind missing': { yaml: 'sources: [{name: x}]', problems: ['sources[0].kind: must be one of: file, kubernetes, registry'] },
  'source not a mapping': { yaml: 'sources: [file]', problems: ['sources[0]: must be a mapping'] },
  'sources not a list': { yaml: 'sources: {kind: file}', problems: ['sources: must be a list'] },
  'batching max below delay': { yaml: 'batching: {delayMs: 500, maxDelayMs: 100}\nsources: [{kind: file, path: s.yaml}]', problems: ['batching.maxDelayMs: must be at least delayMs'] },
  'endpoint not a mapping': { yaml: 'admin: 18001\nsources: [{kind: file, path: s.yaml}]', problems: ['admin: must be a mapping with address and port'] },
  'registry server without db': { yaml: 'registry: {port: 1}\nsources: [{kind: file, path: s.yaml}]', problems: ['registry.db: is required with backend sqlite'] },
  'ack timeout too small': { yaml: 'ackTimeoutMs: 10\nsources: [{kind: file, path: s.yaml}]', problems: ['ackTimeoutMs: must be an integer from 1000 to 3600000'] },
  'root not a mapping': { yaml: '- a', problems: ['(root): must be a mapping'] },
  'negative max stream age': { yaml: 'xds: {maxStreamAgeSeconds: -1}\nsources: [{kind: file, path: s.yaml}]', problems: ['xds.maxStreamAgeSeconds: must be an integer from 0 to 86400'] },
};

for (const [name, c] of Object.entries(moreBadConfigs)) {
  test(`config rejects: ${name}`, () => {
    assert.throws(
      () => parseConfig(c.yaml, '/tmp'),
      (err: Error) => {
        assert.equal(err.message, `config has ${c.problems.length} problem(s):\n  ${c.problems.join('\n  ')}`);
        return true;
      },
    );
  });
}

test('config: every default comes from the schema; a partial guard keeps its kind defaults; names default to kind-index', () => {
  const c = parseConfig(
    'sources:\n  - {kind: kubernetes, guard: {holdSeconds: 5}}\n  - {kind: registry, url: "http://r:1//", services: [a]}\n  - {kind: file, path: s.yaml}\nregistry: {db: r.sqlite}\npolicyFile: p.yaml\n',
    '/etc/herald',
  );
  assert.deepEqual(
    { xds: c.xds, admin: c.admin, sidecar: c.sidecar, batching: c.batching, ackTimeoutMs: c.ackTimeoutMs, policyFile: c.policyFile, registry: c.registry, views: c.views, admission: c.admission, mesh: c.mesh },
    {
      mesh: { defaultNamespace: 'default', clusterDomain: 'cluster.local', defaultEgressScope: 'mesh' },
      views: { maxViews: 128, zones: [], idleGraceSeconds: 60, memoryBudgetMb: 2048 },
      xds: { address: '127.0.0.1', port: 18000, maxStreamAgeSeconds: 300, limits: { maxRequestBytes: 4 << 20, maxNamesPerRequest: 50_000, maxBufferedBytes: 16 << 20, maxBlockedMs: 30_000 } },
      admin: { address: '127.0.0.1', port: 18001, allowedHosts: [] },
      admission: { newStreamsPerSecond: 200, burst: 400, maxStreams: 10_000, maxStreamsPerConnection: 100 },
      sidecar: { egress: { address: '127.0.0.1', port: 15001 } },
      batching: { delayMs: 100, maxDelayMs: 1000 },
      ackTimeoutMs: 30_000,
      policyFile: '/etc/herald/p.yaml',
      registry: { address: '127.0.0.1', port: 18002, backend: 'sqlite', db: '/etc/herald/r.sqlite', kubeconfig: '', namespace: 'herald-system', auth: 'token', tokenFile: '', ttlSeconds: 600, ipv6: false },
    },
  );
  assert.deepEqual(c.sources, [
    {
      kind: 'kubernetes',
      name: 'kubernetes-0',
      kubeconfig: '',
      namespaces: [],
      serviceLabel: 'app',
      identity: 'label',
      portName: 'http',
      discovery: 'pods',
      discoveryOverrides: {},
      guard: { maxRemovalPercent: 50, holdSeconds: 5, confirmByReread: true },
    },
    {
      kind: 'registry',
      name: 'registry-1',
      backend: 'http',
      url: 'http://r:1',
      kubeconfig: '',
      namespace: 'herald-system',
      services: ['a'],
      intervalMs: 5000,
      ttlSeconds: 600,
      guard: { maxRemovalPercent: 50, holdSeconds: 600, confirmByReread: false },
    },
    {
      kind: 'file',
      name: 'file-2',
      path: '/etc/herald/s.yaml',
      settleMs: 100,
      allowEmpty: false,
      maxBytes: 8 << 20,
      maxEndpoints: 100_000,
      maxLossPercent: 50,
      confirmMs: 2000,
      guard: { maxRemovalPercent: 50, holdSeconds: 0, confirmByReread: true },
    },
  ]);
  assert.equal(parseConfig('sources: [{kind: file, path: s.yaml}]', '/x').registry, undefined, 'no registry server unless configured');
});
