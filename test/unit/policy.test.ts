/** Policy overrides: validation, annotations, the policy file, layering. Table tests keyed by case name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadPolicyFile, parsePolicyFile } from '../../src/config/policy-file';
import { DEFAULT_POLICY, mergeOverrides, resolvePolicy, validatePolicyOverrides } from '../../src/model/policy';
import { POLICY_ANNOTATIONS, endpointAnnotations, policyFromAnnotations } from '../../src/sources/kubernetes/annotations';
import { parseServicesFile } from '../../src/sources/file/services-file';

const rejects: Record<string, { raw: unknown; problem: string }> = {
  'not a mapping': { raw: 'fast', problem: 'services[web].policy: must be a mapping' },
  'unknown top-level key': { raw: { zoneAwre: true }, problem: 'services[web].policy.zoneAwre: unknown field (expected one of connectTimeoutMs, ' },
  'unknown nested key': { raw: { healthCheck: { intervall: 5 } }, problem: 'services[web].policy.healthCheck.intervall: unknown field' },
  'nested not a mapping': { raw: { healthCheck: true }, problem: 'services[web].policy.healthCheck: must be a mapping' },
  'health-check timeout zero': { raw: { healthCheck: { timeoutMs: 0 } }, problem: 'services[web].policy.healthCheck.timeoutMs: must be a whole number of milliseconds from 1 to 86400000' },
  'health-check interval negative': { raw: { healthCheck: { intervalMs: -5 } }, problem: 'services[web].policy.healthCheck.intervalMs: must be a whole number of milliseconds from 1' },
  'fractional milliseconds': { raw: { connectTimeoutMs: 1.5 }, problem: 'services[web].policy.connectTimeoutMs: must be a whole number of milliseconds' },
  'connect timeout zero': { raw: { connectTimeoutMs: 0 }, problem: 'services[web].policy.connectTimeoutMs: must be a whole number of milliseconds from 1' },
  'duration as a string': { raw: { requestTimeoutMs: '2s' }, problem: 'services[web].policy.requestTimeoutMs: must be a whole number of milliseconds from 0 (off)' },
  'panic threshold above 100': { raw: { healthyPanicThresholdPercent: 101 }, problem: 'services[web].policy.healthyPanicThresholdPercent: must be a number from 0 to 100' },
  'max ejection percent above 100': { raw: { outlierDetection: { maxEjectionPercent: 150 } }, problem: 'services[web].policy.outlierDetection.maxEjectionPercent: must be an integer from 0 to 100' },
  'healthy threshold zero': { raw: { healthCheck: { healthyThreshold: 0 } }, problem: 'services[web].policy.healthCheck.healthyThreshold: must be an integer from 1 to 1000' },
  'consecutive 5xx zero': { raw: { outlierDetection: { consecutive5xx: 0 } }, problem: 'services[web].policy.outlierDetection.consecutive5xx: must be an integer from 1' },
  'retries above 10': { raw: { retries: 11 }, problem: 'services[web].policy.retries: must be an integer from 0 to 10' },
  'bool as a string': { raw: { zoneAware: 'yes' }, problem: 'services[web].policy.zoneAware: must be true or false' },
  'unknown protocol': { raw: { protocol: 'grpc' }, problem: 'services[web].policy.protocol: must be one of http1, http2' },
  'health path without slash': { raw: { healthCheck: { path: 'healthz' } }, problem: 'services[web].policy.healthCheck.path: must be an HTTP path starting with /' },
  'health path with a space': { raw: { healthCheck: { path: '/health z' } }, problem: 'services[web].policy.healthCheck.path: must be an HTTP path' },
};

for (const [name, c] of Object.entries(rejects)) {
  test(`policy rejects: ${name}`, () => {
    const r = validatePolicyOverrides(c.raw, 'services[web].policy');
    assert.equal(r.problems.length, 1, r.problems.join('\n'));
    assert.ok(r.problems[0]!.startsWith(c.problem), `got: ${r.problems[0]}`);
  });
}

test('policy: every problem is reported, valid fields are kept', () => {
  const r = validatePolicyOverrides({ retries: 1, healthCheck: { timeoutMs: 0, path: '/ready' }, zoneAware: 'no' }, 'p');
  assert.deepEqual(r.problems.length, 2);
  assert.deepEqual(r.overrides, { healthCheck: { path: '/ready' }, retries: 1 });
});

test('policy: a full, valid block passes unchanged, in schema order', () => {
  const raw = {
    protocol: 'http2',
    zoneAware: true,
    retries: 0,
    requestTimeoutMs: 0,
    healthCheck: { unhealthyThreshold: 3, enabled: true, path: '/ready', timeoutMs: 500, intervalMs: 1000, noTrafficIntervalMs: 1000, healthyThreshold: 1 },
    outlierDetection: { consecutive5xx: 5, maxEjectionPercent: 100, successRateMinimumHosts: 5, successRateRequestVolume: 10, successRateStdevFactor: 1900 },
    healthyPanicThresholdPercent: 0,
    ignoreNewHostsUntilFirstHc: false,
    ignoreHealthOnHostRemoval: false,
    connectTimeoutMs: 250,
  };
  const r = validatePolicyOverrides(raw, 'p');
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.overrides, raw);
  assert.deepEqual(Object.keys(r.overrides).slice(0, 3), ['connectTimeoutMs', 'requestTimeoutMs', 'healthCheck'], 'canonical order, so equal policies have equal JSON');
  assert.deepEqual(validatePolicyOverrides(undefined, 'p'), { overrides: {}, problems: [] });
});

const annotationCases: Record<string, { annotations: Record<string, string>; overrides?: unknown; problem?: string }> = {
  'durations with units': {
    annotations: { 'herald.io/health-check-timeout': '500ms', 'herald.io/health-check-interval': '1.5s', 'herald.io/request-timeout': '1m', 'herald.io/connect-timeout': '2s' },
    overrides: { connectTimeoutMs: 2000, requestTimeoutMs: 60_000, healthCheck: { timeoutMs: 500, intervalMs: 1500 } },
  },
  'booleans, numbers, enum, path': {
    annotations: {
      'herald.io/zone-aware': 'true',
      'herald.io/ignore-new-hosts-until-first-hc': 'false',
      'herald.io/retries': '2',
      'herald.io/panic-threshold': '25.5',
      'herald.io/protocol': 'http2',
      'herald.io/health-check-path': '/ready',
      'herald.io/outlier-max-ejection-percent': '10',
    },
    overrides: { healthCheck: { path: '/ready' }, outlierDetection: { maxEjectionPercent: 10 }, healthyPanicThresholdPercent: 25.5, ignoreNewHostsUntilFirstHc: false, retries: 2, zoneAware: true, protocol: 'http2' },
  },
  'other prefixes are ignored': { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'example.com/retries': 'x' }, overrides: {} },
  'endpoint annotations are not policy': { annotations: { 'herald.io/port': '15006', 'herald.io/weight': '3', 'herald.io/canary': 'true', 'herald.io/retries': '1' }, overrides: { retries: 1 } },
  'unknown herald annotation': { annotations: { 'herald.io/zone-awre': 'true' }, problem: 'pods[default/web-1].annotations["herald.io/zone-awre"]: unknown Herald annotation' },
  'duration without a unit': { annotations: { 'herald.io/health-check-timeout': '500' }, problem: 'pods[default/web-1].annotations["herald.io/health-check-timeout"]: must be a duration with a unit' },
  'zero duration': { annotations: { 'herald.io/health-check-timeout': '0s' }, problem: 'pods[default/web-1].annotations["herald.io/health-check-timeout"]: must be a whole number of milliseconds from 1' },
  'sub-millisecond duration': { annotations: { 'herald.io/connect-timeout': '0.5ms' }, problem: 'must be a whole number of milliseconds (got "0.5ms")' },
  'bad boolean': { annotations: { 'herald.io/zone-aware': 'yes' }, problem: 'pods[default/web-1].annotations["herald.io/zone-aware"]: must be "true" or "false"' },
  'percent out of range': { annotations: { 'herald.io/panic-threshold': '150' }, problem: 'must be a number from 0 to 100 (got "150")' },
  'bad protocol': { annotations: { 'herald.io/protocol': 'h2c' }, problem: 'must be one of http1, http2' },
  'threshold zero': { annotations: { 'herald.io/health-check-unhealthy-threshold': '0' }, problem: 'must be an integer from 1 to 1000' },
};

for (const [name, c] of Object.entries(annotationCases)) {
  test(`annotations: ${name}`, () => {
    const r = policyFromAnnotations(c.annotations, 'pods[default/web-1]');
    if (c.problem) {
      assert.equal(r.problems.length, 1, r.problems.join('\n'));
      assert.ok(r.problems[0]!.includes(c.problem), `got: ${r.problems[0]}`);
      assert.deepEqual(r.overrides, {});
    } else {
      assert.deepEqual(r.problems, []);
      assert.deepEqual(r.overrides, c.overrides);
      assert.equal(JSON.stringify(r.overrides), JSON.stringify(validatePolicyOverrides(c.overrides, 'x').overrides), 'canonical key order');
    }
  });
}

test('annotations: every documented annotation maps to a schema field and parses', () => {
  const sample: Record<string, string> = {};
  for (const name of Object.keys(POLICY_ANNOTATIONS)) sample[`herald.io/${name}`] = '';
  const r = policyFromAnnotations(sample, 'x');
  // Every one fails on the empty value with a message about its own type (not "unknown annotation").
  assert.equal(r.problems.length, Object.keys(POLICY_ANNOTATIONS).length, r.problems.join('\n'));
  assert.ok(!r.problems.some((p) => p.includes('unknown Herald annotation')));
});

test('policy file: defaults and services, validated with paths', () => {
  const good = parsePolicyFile('defaults:\n  healthCheck: { intervalMs: 5000 }\nservices:\n  web: { zoneAware: true }\n  api: { protocol: http2 }\n');
  assert.deepEqual(good.problems, []);
  assert.deepEqual(good.defaults, { healthCheck: { intervalMs: 5000 } });
  assert.deepEqual([...good.policies], [
    ['api', { protocol: 'http2' }],
    ['web', { zoneAware: true }],
  ]);
  const bad = parsePolicyFile('defaults: { retries: -1 }\nservices:\n  web: { healthCheck: { timeoutMs: 0 } }\n  Bad_Name: {}\npolicies: {}\n');
  assert.deepEqual(
    bad.problems.map((p) => p.replace(/ \(.*$/, '').replace(/: must.*|: service names.*|: unknown.*/, '')),
    ['policies', 'defaults.retries', 'services[Bad_Name]', 'services[web].healthCheck.timeoutMs'],
  );
  assert.deepEqual(parsePolicyFile('').problems, []);
  assert.match(parsePolicyFile('services: [').problems[0]!, /^yaml: /);
  assert.match(parsePolicyFile('services: [web]').problems[0]!, /^services: must be a mapping/);
});

test('policy file: loadPolicyFile reads a file; an unreadable one is a problem, not a throw', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-policy-'));
  const file = path.join(dir, 'policy.yaml');
  fs.writeFileSync(file, 'services:\n  web: { retries: 1 }\n');
  assert.deepEqual(loadPolicyFile(file).policies.get('web'), { retries: 1 });
  const missing = loadPolicyFile(path.join(dir, 'nope.yaml'));
  assert.equal(missing.problems.length, 1);
  assert.match(missing.problems[0]!, /nope\.yaml: cannot read/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('layering: each higher layer wins field by field, nested fields merged, 0 and false included', () => {
  const lowest = { healthCheck: { intervalMs: 5000, path: '/ready' }, retries: 1 };
  const middle = { healthCheck: { path: '/live' }, zoneAware: true };
  const highest = { retries: 0, healthCheck: { timeoutMs: 500 } };
  const merged = mergeOverrides(mergeOverrides(lowest, middle), highest);
  assert.deepEqual(merged, { healthCheck: { path: '/live', timeoutMs: 500, intervalMs: 5000 }, retries: 0, zoneAware: true });
  const p = resolvePolicy(merged);
  assert.equal(p.healthCheck.intervalMs, 5000);
  assert.equal(p.healthCheck.unhealthyThreshold, DEFAULT_POLICY.healthCheck.unhealthyThreshold);
  assert.equal(p.retries, 0);
  assert.equal(p.outlierDetection.consecutive5xx, 3);
  assert.deepEqual(mergeOverrides(undefined, undefined), {});
});

test('services file: a bad policy is rejected with its path, a good one is kept', () => {
  const bad = parseServicesFile('services: [{name: web, policy: {healthCheck: {timeoutMs: 0}, zoneAwre: true}}]', 'file');
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.ok(bad.problems.some((p) => p.startsWith('services[0].policy.healthCheck.timeoutMs: must be')), bad.problems.join('\n'));
    assert.ok(bad.problems.some((p) => p.startsWith('services[0].policy.zoneAwre: unknown field')), bad.problems.join('\n'));
  }
  const good = parseServicesFile('services: [{name: web, policy: {zoneAware: true, healthCheck: {path: /ready}}}]', 'file');
  assert.ok(good.ok);
  if (good.ok) assert.deepEqual(good.snapshot.get('web')!.policy, { healthCheck: { path: '/ready' }, zoneAware: true });
});

const endpointCases: Record<string, { annotations: Record<string, string>; expect: unknown }> = {
  'none: weight 1, not a canary': { annotations: {}, expect: { port: undefined, weight: 1, canary: false } },
  'port number, weight, canary': { annotations: { 'herald.io/port': '8080', 'herald.io/weight': '7', 'herald.io/canary': 'true' }, expect: { port: 8080, weight: 7, canary: true } },
  'port name': { annotations: { 'herald.io/port': 'grpc' }, expect: { port: 'grpc', weight: 1, canary: false } },
  'canary other than true is no canary': { annotations: { 'herald.io/canary': 'yes' }, expect: { port: undefined, weight: 1, canary: false } },
  'port zero': { annotations: { 'herald.io/port': '0' }, expect: { problem: 'pods[a/b].metadata.annotations[herald.io/port]: "0" is neither a port number nor a named container port' } },
  'port too big': { annotations: { 'herald.io/port': '70000' }, expect: { problem: 'pods[a/b].metadata.annotations[herald.io/port]: "70000" is neither a port number nor a named container port' } },
  'weight zero': { annotations: { 'herald.io/weight': '0' }, expect: { problem: 'pods[a/b].metadata.annotations[herald.io/weight]: "0" must be an integer from 1 to 128' } },
  'weight not a number': { annotations: { 'herald.io/weight': 'heavy' }, expect: { problem: 'pods[a/b].metadata.annotations[herald.io/weight]: "heavy" must be an integer from 1 to 128' } },
};

for (const [name, c] of Object.entries(endpointCases)) {
  test(`endpoint annotations: ${name}`, () => {
    assert.deepEqual(endpointAnnotations(c.annotations, 'pods[a/b]'), c.expect);
  });
}

test('annotations: valid ones are kept when others are wrong', () => {
  const r = policyFromAnnotations({ 'herald.io/retries': '2', 'herald.io/zone-aware': 'maybe', 'herald.io/bogus': 'x' }, 'pods[a/b].metadata');
  assert.deepEqual(r.overrides, { retries: 2 });
  assert.deepEqual(r.problems, [
    'pods[a/b].metadata.annotations["herald.io/zone-aware"]: must be "true" or "false" (got "maybe")',
    'pods[a/b].metadata.annotations["herald.io/bogus"]: unknown Herald annotation (expected one of herald.io/protocol, herald.io/zone-aware, herald.io/retries, herald.io/connect-timeout, herald.io/request-timeout, herald.io/health-check, herald.io/health-check-path, herald.io/health-check-timeout, herald.io/health-check-interval, herald.io/health-check-no-traffic-interval, herald.io/health-check-healthy-threshold, herald.io/health-check-unhealthy-threshold, herald.io/outlier-consecutive-5xx, herald.io/outlier-max-ejection-percent, herald.io/outlier-success-rate-minimum-hosts, herald.io/outlier-success-rate-request-volume, herald.io/outlier-success-rate-stdev-factor, herald.io/panic-threshold, herald.io/ignore-new-hosts-until-first-hc, herald.io/ignore-health-on-host-removal, herald.io/update-merge-window)',
  ]);
});

test('policy: the defaults are a valid override block', () => {
  assert.deepEqual(validatePolicyOverrides(DEFAULT_POLICY, 'defaults').problems, []);
});
