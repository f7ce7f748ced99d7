/**
 * Table tests of the registry server's parts: form bodies as Flask reads them (urlencoded, multipart, anything
 * else empty) and the RegistryHost encoding of the Kubernetes backend (names, check-in text, malformed specs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBody } from '../../src/sources/registry/form';
import { checkInMs, checkInText, compactHost, resourceName } from '../../src/sources/registry/kube-backend';
import { capturingTelemetry } from '../support/telemetry';

const form = (type: string, body: string) => {
  const r = parseBody(type, Buffer.from(body));
  return 'form' in r ? Object.fromEntries(r.form) : r;
};

test('form bodies: urlencoded, multipart (files left out, first value wins), other types empty', () => {
  const mp = (boundary: string, parts: string[]) => parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('') + `--${boundary}--\r\n`;
  const cases: Record<string, [string, string, unknown]> = {
    urlencoded: ['application/x-www-form-urlencoded', 'ip=10.0.0.1&port=80&tags=%7B%22az%22%3A%22a+b%22%7D', { ip: '10.0.0.1', port: '80', tags: '{"az":"a b"}' }],
    'urlencoded with charset, repeated name': ['application/x-www-form-urlencoded; charset=utf-8', 'ip=1.1.1.1&ip=2.2.2.2', { ip: '1.1.1.1' }],
    multipart: [
      'multipart/form-data; boundary=XyZ',
      mp('XyZ', ['Content-Disposition: form-data; name="ip"\r\n\r\n10.0.0.2', 'Content-Disposition: form-data; name="tags"\r\nContent-Type: text/plain\r\n\r\n{"az":"a"}', 'Content-Disposition: form-data; name="f"; filename="x.txt"\r\n\r\nfile body']),
      { ip: '10.0.0.2', tags: '{"az":"a"}' },
    ],
    'multipart, quoted boundary, empty value': ['multipart/form-data; boundary="a b"', mp('a b', ['Content-Disposition: form-data; name="revision"\r\n\r\n']), { revision: '' }],
    'multipart value with CRLF inside': ['multipart/form-data; boundary=B', mp('B', ['Content-Disposition: form-data; name="x"\r\n\r\nline1\r\nline2']), { x: 'line1\r\nline2' }],
    json: ['application/json', '{"ip":"10.0.0.1"}', {}],
    'no content type': ['', 'ip=10.0.0.1', {}],
    'multipart without boundary': ['multipart/form-data', 'x', { problem: 'multipart body without a boundary' }],
    'multipart not terminated': ['multipart/form-data; boundary=B', '--B\r\nContent-Disposition: form-data; name="x"\r\n\r\nv', { problem: 'multipart body is not terminated' }],
  };
  for (const [name, [type, body, want]] of Object.entries(cases)) assert.deepEqual(form(type, body), want, name);
});

test('RegistryHost encoding: stable hashed names, microsecond check-ins, malformed specs left out', () => {
  assert.equal(resourceName('legacy', '10.0.0.1'), resourceName('legacy', '10.0.0.1'));
  assert.notEqual(resourceName('legacy', '10.0.0.1'), resourceName('legacy', '10.0.0.2'));
  assert.notEqual(resourceName('a\nb', 'c'), resourceName('a', 'b\nc'));
  assert.match(resourceName('team:api@v2 / anything', '2001:db8::1'), /^rh-[0-9a-f]{40}$/);
  const ms = Date.UTC(2026, 11, 1, 6, 16, 28, 999) + 0.94;
  assert.equal(checkInText(ms), '2026-12-01T06:16:28.999940Z');
  assert.ok(Math.abs(checkInMs(checkInText(ms)) - ms) < 1e-6);
  assert.equal(checkInMs('2026-12-01T06:16:28Z'), Date.UTC(2026, 11, 1, 6, 16, 28));
  assert.ok(Number.isNaN(checkInMs('2026-12-01 06:16:28')));
  const raw = (spec: unknown) => ({ metadata: { name: 'rh-1', resourceVersion: '7' }, spec });
  const { log, lines } = capturingTelemetry();
  const good = compactHost(raw({ service: 's', ip: '10.0.0.1', port: 80, revision: 'r', lastCheckIn: checkInText(ms), tags: { az: 'a' } }), log);
  assert.deepEqual(good, { name: 'rh-1', resourceVersion: '7', service: 's', ip: '10.0.0.1', port: 80, revision: 'r', serviceRepoName: '', lastCheckIn: checkInMs(checkInText(ms)), tags: { az: 'a' } });
  for (const spec of [undefined, { service: 's', ip: '10.0.0.1', port: 'x', lastCheckIn: checkInText(ms) }, { service: 's', ip: '10.0.0.1', port: 80, lastCheckIn: 'now' }]) {
    assert.equal(compactHost(raw(spec), log), undefined, JSON.stringify(spec));
  }
  // One key per host name: the three malformed versions of rh-1 give one line (rate-limited).
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.name]), [['warn', 'RegistryHost with a malformed spec left out', 'rh-1']]);
});
