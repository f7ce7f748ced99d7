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
