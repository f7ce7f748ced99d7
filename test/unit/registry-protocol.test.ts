/**
 * Table tests of the registry source's parsing: every `last_check_in` form the original writes (in-memory and
 * DynamoDB backends), every weight form it may store, region/zone, and per-host skips with reasons.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCheckIn, parseCheckIn, parseRegistryAnswer } from '../../src/sources/registry/protocol';

const T = Date.UTC(2026, 11, 1, 6, 16, 28);

test('parseCheckIn: every form the original writes, and what is not a time', () => {
  const cases: Record<string, [string, number]> = {
    'in-memory backend, microseconds': ['2026-12-01 06:16:28.999940', T + 999.94],
    'in-memory backend, microseconds 0 (no fraction)': ['2026-12-01 06:16:28', T],
    'DynamoDB backend (+00:00)': ['2026-12-01 06:16:28.999940+00:00', T + 999.94],
    'DynamoDB, no fraction': ['2026-12-01 06:16:28+00:00', T],
    'another offset (+05:30)': ['2026-12-01 11:46:28.500000+05:30', T + 500],
    'a negative offset': ['2026-12-01 01:16:28-05:00', T],
    'offset without colon': ['2026-12-01 07:16:28+0100', T],
    'offset with seconds (Python 3.7+)': ['2026-12-01 06:16:58+00:00:30', T],
    'Z': ['2026-12-01T06:16:28.000001Z', T + 0.001],
    'T separator, naive': ['2026-12-01T06:16:28.25', T + 250],
    'nanoseconds': ['2026-12-01 06:16:28.123456789', T + 123.456789],
  };
  for (const [name, [text, want]] of Object.entries(cases)) assert.ok(Math.abs(parseCheckIn(text) - want) < 1e-6, `${name}: ${text} → ${parseCheckIn(text)}, want ${want}`);
  const bad: Record<string, string> = {
    empty: '',
    'date only': '2026-12-01',
    'impossible date': '2026-02-30 00:00:00',
    'hour 24': '2026-12-01 24:00:00',
    'offset hour 25': '2026-12-01 06:16:28+25:00',
    words: 'timestamp',
    'epoch number': '1764569788',
  };
  for (const [name, text] of Object.entries(bad)) assert.ok(Number.isNaN(parseCheckIn(text)), `${name}: ${JSON.stringify(text)} must not parse`);
});

test('formatCheckIn: str() of a UTC datetime (microseconds, none when 0), naive or aware', () => {
  const cases: Record<string, [number, 'naive' | 'aware', string]> = {
    microseconds: [T + 999.94, 'naive', '2026-12-01 06:16:28.999940'],
    'whole second': [T, 'naive', '2026-12-01 06:16:28'],
    'one microsecond': [T + 0.001, 'naive', '2026-12-01 06:16:28.000001'],
    'aware (DynamoDB)': [T + 12.5, 'aware', '2026-12-01 06:16:28.012500+00:00'],
    'rounds up into the next second': [T + 999.9996, 'naive', '2026-12-01 06:16:29'],
  };
  for (const [name, [ms, form, want]] of Object.entries(cases)) {
    assert.equal(formatCheckIn(ms, form), want, name);
    assert.ok(Math.abs(parseCheckIn(want) - ms) < 0.001, `${name}: round trip`);
  }
});

const host = (over: Record<string, unknown> = {}, tags: Record<string, unknown> = {}) => ({
  service: 'legacy',
  ip_address: '10.0.0.1',
  port: 8080,
  revision: 'r1',
  service_repo_name: 'repo',
  last_check_in: formatCheckIn(T - 1000),
  tags: { az: 'us-east-1a', region: 'us-east-1', instance_id: 'i-1', ...tags },
  ...over,
});
const parse = (hosts: unknown[]) => {
  const r = parseRegistryAnswer({ service: 'legacy', env: 'production', hosts }, 'legacy', { ttlMs: 600_000, now: T, source: 'vms' });
  assert.ok(r.ok);
  return r;
};

test('parseRegistryAnswer: weights are clamped or defaulted per host with a note, never dropping the host', () => {
  const cases: Record<string, [unknown, number, boolean]> = {
    'absent → 1': [undefined, 1, false],
    'integer in range': [7, 7, false],
    'numeric text (as tags JSON often holds it)': ['3', 3, false],
    'above Herald’s 128 (the original stores any weight)': [500, 128, true],
    'above as text': ['1000', 128, true],
    zero: [0, 1, true],
    negative: [-4, 1, true],
    fractional: [2.6, 3, true],
    'not a number': ['heavy', 1, true],
    boolean: [true, 1, true],
    null: [null, 1, false],
  };
  for (const [name, [w, want, noted]] of Object.entries(cases)) {
    const r = parse([host({}, w === undefined ? {} : { load_balancing_weight: w })]);
    assert.equal(r.endpoints.length, 1, `${name}: kept`);
    assert.equal(r.endpoints[0]!.weight, want, name);
    assert.equal(r.notes.length, noted ? 1 : 0, `${name}: ${r.notes.join('; ')}`);
    if (noted) assert.match(r.notes[0]!, /registry\[legacy\]\.hosts\[0\]\(10\.0\.0\.1\)\.tags\.load_balancing_weight/);
  }
});

test('parseRegistryAnswer: zone, region, canary, instance; numeric az; every check-in form kept', () => {
  const r = parse([
    host({ ip_address: '10.0.0.1', last_check_in: '2026-12-01 06:16:27.999940+00:00' }, { canary: true }),
    host({ ip_address: '10.0.0.2', last_check_in: '2026-12-01 06:16:27' }, { az: 3, region: 'eu-west-1' }),
    host({ ip_address: '10.0.0.3', last_check_in: '2026-12-01 06:16:27.5' }, { canary: 'true', region: undefined }),
  ]);
  assert.deepEqual(r.skipped, []);
  assert.deepEqual(
    r.endpoints.map((e) => [e.address, e.zone, e.region, e.labels.canary, e.labels.instance]),
    [
      ['10.0.0.1', 'us-east-1a', 'us-east-1', 'true', 'i-1'],
      ['10.0.0.2', '3', 'eu-west-1', undefined, 'i-1'],
      ['10.0.0.3', 'us-east-1a', undefined, 'true', 'i-1'],
    ],
  );
});

test('parseRegistryAnswer: one malformed host is skipped with its reason; the rest are kept', () => {
  const cases: Record<string, [Record<string, unknown>, RegExp]> = {
    'IPv6 zone id': [{ ip_address: 'fe80::1%eth0' }, /hosts\[1\]\(fe80::1%eth0\)\.ip_address: .*zone id/],
    'host name': [{ ip_address: 'vm-1.internal' }, /ip_address: "vm-1\.internal" is not an IPv4 or IPv6 address/],
    'no ip': [{ ip_address: undefined }, /ip_address: undefined is missing/],
    'port 0': [{ port: 0 }, /\.port: 0 is not a port/],
    'port text': [{ port: 'http' }, /\.port: "http" is not a port/],
    'port 70000 (the original stores it)': [{ port: 70000 }, /is not a port/],
    'bad time': [{ last_check_in: 'yesterday' }, /last_check_in: "yesterday" is not a time/],
    duplicate: [{ ip_address: '10.0.0.1' }, /duplicate 10\.0\.0\.1:8080/],
  };
  for (const [name, [over, why]] of Object.entries(cases)) {
    const r = parse([host({ ip_address: '10.0.0.1' }), host({ ip_address: '10.0.0.9', ...over }), host({ ip_address: '10.0.0.2' })]);
    assert.deepEqual(r.endpoints.map((e) => e.address), ['10.0.0.1', '10.0.0.2'], `${name}: the others kept`);
    assert.equal(r.skipped.length, 1, name);
    assert.match(r.skipped[0]!, why, name);
  }
  const notObject = parse([host(), 'nope']);
  assert.equal(notObject.endpoints.length, 1);
  assert.match(notObject.skipped[0]!, /hosts\[1\]: not an object/);
});

test('parseRegistryAnswer: TTL expiry, IPv6 canonical text, and answers that are not the shape at all', () => {
  const r = parse([host({ last_check_in: formatCheckIn(T - 600_001) }), host({ ip_address: '2001:DB8:0::1', last_check_in: formatCheckIn(T - 600_000) })]);
  assert.equal(r.expired, 1);
  assert.deepEqual(r.endpoints.map((e) => e.address), ['2001:db8::1']);
  for (const body of [null, [], 'x', { hosts: 'no' }, {}]) assert.equal(parseRegistryAnswer(body, 'legacy', { ttlMs: 1, now: T, source: 'vms' }).ok, false, JSON.stringify(body));
});
