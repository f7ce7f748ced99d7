/** The services file parser: malformed endpoints are skipped with path and line, structure errors refuse the file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServicesFile } from '../../src/sources/file/services-file';

const FILE = `services:
  - name: web
    endpoints:
      - {address: 10.0.0.1, port: 80}
      - {address: "fe80::1%eth0", port: 80}
      - {address: 10.0.0.2, port: 0}
      - {address: 10.0.0.3, port: 80, colour: red}
      - {address: 10.0.0.1, port: 80}
      - {address: 10.0.0.4, port: 80, health: DRAINING}
  - name: api
    endpoints:
      - {address: web.local, port: 80}
      - {address: "2001:db8::1", port: 81}
`;

test('services file (lenient): each malformed endpoint is skipped with its path, line and reason; the rest is kept', () => {
  const r = parseServicesFile(FILE, 'file', { strict: false });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.snapshot.get('web')!.endpoints.map((e) => `${e.address}:${e.port}`), ['10.0.0.1:80', '10.0.0.4:80']);
  assert.deepEqual(r.snapshot.get('api')!.endpoints.map((e) => `${e.address}:${e.port}`), ['2001:db8::1:81']);
  assert.equal(r.endpoints, 3);
  assert.equal(r.live, 2);
  assert.deepEqual(r.skipped, [
    'services[0].endpoints[1].address: "fe80::1%eth0": an IPv6 zone id (%...) is not allowed (line 5)',
    'services[0].endpoints[2].port: must be an integer from 1 to 65535 (line 6)',
    'services[0].endpoints[3].colour: unknown field (expected one of address, port, zone, weight, health, labels) (line 7)',
    'services[0].endpoints[4]: duplicate endpoint 10.0.0.1:80 (line 8)',
    'services[1].endpoints[0].address: must be an IPv4 or IPv6 address (line 12)',
  ]);
});

test('services file (strict, the default): any skipped endpoint refuses the file', () => {
  const r = parseServicesFile(FILE, 'file');
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.problems.length, 5);
});

const structural: Record<string, { yaml: string; problem: RegExp }> = {
  'yaml syntax, with its line': { yaml: 'services:\n  - name: web\n    endpoints: [\n', problem: /^yaml: .*\(line \d+\)/ },
  'a service that is no mapping': { yaml: 'services: [3]', problem: /^services\[0\]: must be a mapping/ },
  'a bad service name, with its line': { yaml: 'services:\n  - name: ok\n  - name: Bad\n', problem: /^services\[1\]\.name: must be lower-case.*\(line 3\)/ },
  'a typo in a service field': { yaml: 'services: [{name: web, endpoint: []}]', problem: /^services\[0\]\.endpoint: unknown field/ },
  'endpoints not a list': { yaml: 'services: [{name: web, endpoints: 3}]', problem: /^services\[0\]\.endpoints: must be a list/ },
  'duplicate keys': { yaml: 'services: []\nservices: []\n', problem: /^yaml: .*unique/ },
  'too many endpoints': { yaml: 'services: [{name: web, endpoints: [{address: 10.0.0.1, port: 1}, {address: 10.0.0.2, port: 1}, {address: 10.0.0.3, port: 1}]}]', problem: /^services: 3 endpoints, more than the limit of 2/ },
};
for (const [name, c] of Object.entries(structural)) {
  test(`services file refuses the whole file: ${name}`, () => {
    const r = parseServicesFile(c.yaml, 'file', { strict: false, maxEndpoints: 2 });
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.problems.some((p) => c.problem.test(p)), r.problems.join('\n'));
  });
}

test('services file: "empty" means no statement at all, not an explicit empty list', () => {
  for (const text of ['', '\n\n', '# nothing yet\n', 'services:\n']) {
    const r = parseServicesFile(text, 'file');
    assert.ok(r.ok && r.empty && r.snapshot.size === 0, JSON.stringify(text));
  }
  const list = parseServicesFile('services: []\n', 'file');
  assert.ok(list.ok && !list.empty);
});
