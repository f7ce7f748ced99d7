/**
 * Replays the request shapes of the original legacy discovery service's API tests (lyft/discovery
 * tests/unit/app/api_test.py and flask_test.py) and the shapes its code answers beyond them, against
 * `herald registry` run as its own process with the original's settings (`--auth none`, IPv4 only, env from
 * APPLICATION_ENV, default `development`), and compares status and body with the original's answers.
 *
 * The answers below were written from the original's code and tests (Flask + flask-restful): `{}` bodies for
 * 200/400 of registration, `{"error": ...}` only where it writes one, 204 for /v1/loadbalancing, an HTML 404 for
 * an unknown URL, flask-restful's JSON 405. Rows where Herald deliberately answers otherwise carry `herald` and
 * `why` (the original crashes with a 500, or has no bound); the test prints how many there are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../support/ports';
import { repoRoot } from '../support/repo';
import { waitFor } from '../support/wait';

const CLI = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
/** `last_check_in` as str() of a naive UTC datetime: microseconds, none when they are 0. */
const CHECK_IN = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/;
const ANY_HTML = /<title>404 Not Found<\/title>/;

type Answer = { status: number; body?: unknown };
interface Case {
  name: string;
  method?: string;
  path: string;
  form?: Record<string, string | number>;
  multipart?: Record<string, string>;
  raw?: { type: string; body: string | Buffer };
  headers?: Record<string, string>;
  original: Answer;
  /** Herald's answer where it deliberately differs, and why. */
  herald?: Answer;
  why?: string;
}

const TAGS = '{"az":"foo", "instance_id":"bar", "region":"baz"}';
const valid = (ip: string, extra: Record<string, string | number> = {}) => ({ ip, service_repo_name: 'bar', port: 1000, revision: 'bjkc7y8cebyyuide2uincbyu', tags: TAGS, ...extra });
const withWeight = (ip: string, w: number) => valid(ip, { tags: JSON.stringify({ az: 'foo', instance_id: 'bar', region: 'baz', load_balancing_weight: w }) });
const autoIp = { auto_ip: 'True', service_repo_name: 'bar', port: 1000, revision: 'bjkc7y8cebyyuide2uincbyu', tags: TAGS };
const hostOf = (service: string, ip: string, tags: Record<string, unknown> = { az: 'foo', instance_id: 'bar', region: 'baz' }, port = 1000, repo = 'bar') => ({
  service,
  ip_address: ip,
  port,
  revision: 'bjkc7y8cebyyuide2uincbyu',
  service_repo_name: repo,
  last_check_in: CHECK_IN,
  tags,
});
const E405 = { message: 'The method is not allowed for the requested URL.' };

/** In order: later rows see the state earlier ones left. */
const CASES: Case[] = [
  // api_test.py
  { name: 'test_get_no_hosts', path: '/v1/registration/foo', original: { status: 200, body: { hosts: [], service: 'foo', env: 'development' } } },
  { name: 'test_get_service_repo_name_no_hosts', path: '/v1/registration/repo/foo', original: { status: 200, body: { hosts: [], service_repo_name: 'foo', env: 'development' } } },
  { name: 'test_post_invalid_params (every field "0")', method: 'POST', path: '/v1/registration/foo', form: { ip: '0', port: '0', revision: '0', tags: '0', service_repo_name: '0', auto_ip: '0' }, original: { status: 400, body: {} } },
  { name: 'test_post_valid_params', method: 'POST', path: '/v1/registration/foo', form: valid('10.10.10.10'), original: { status: 200, body: {} } },
  { name: 'test_get_with_hosts', path: '/v1/registration/foo', original: { status: 200, body: { service: 'foo', env: 'development', hosts: [hostOf('foo', '10.10.10.10')] } } },
  { name: 'test_get_service_repo_name_with_hosts', path: '/v1/registration/repo/bar', original: { status: 200, body: { service_repo_name: 'bar', env: 'development', hosts: [hostOf('foo', '10.10.10.10')] } } },
  { name: 'test_delete_nonexistent_host', method: 'DELETE', path: '/v1/registration/foo/1.1.1.1', original: { status: 400, body: {} } },
  { name: 'test_delete_invalid_ip_address', method: 'DELETE', path: '/v1/registration/foo/bar', original: { status: 400, body: {} } },
  {
    name: 'test_delete_nonexistent_missing_ip_address (DELETE without an ip)',
    method: 'DELETE',
    path: '/v1/registration/foo',
    original: { status: 500 },
    herald: { status: 405, body: E405 },
    why: 'the original calls delete() without its ip argument and crashes (TypeError)',
  },
  { name: 'test_delete_success', method: 'DELETE', path: '/v1/registration/foo/10.10.10.10', original: { status: 200, body: {} } },
  { name: 'a second DELETE of the same host', method: 'DELETE', path: '/v1/registration/foo/10.10.10.10', original: { status: 400, body: {} } },
  { name: 'after the delete: no hosts', path: '/v1/registration/foo', original: { status: 200, body: { service: 'foo', env: 'development', hosts: [] } } },

  // flask_test.py
  { name: 'test_post_explicit_ip', method: 'POST', path: '/v1/registration/myservice', form: valid('10.10.10.10'), headers: { 'x-forwarded-for': '192.168.216.186' }, original: { status: 200, body: {} } },
  { name: 'test_post_auto_ip_one_hop', method: 'POST', path: '/v1/registration/autosvc', form: autoIp, headers: { 'x-forwarded-for': '192.168.216.186' }, original: { status: 200, body: {} } },
  { name: 'test_post_auto_ip_out_of_range_1', method: 'POST', path: '/v1/registration/autosvc', form: autoIp, headers: { 'x-forwarded-for': '0.168.216.186' }, original: { status: 400, body: {} } },
  { name: 'test_post_auto_ip_out_of_range_2', method: 'POST', path: '/v1/registration/autosvc', form: autoIp, headers: { 'x-forwarded-for': '192.169.216.186' }, original: { status: 400, body: {} } },
  { name: 'test_post_auto_ip_out_of_range_3', method: 'POST', path: '/v1/registration/autosvc', form: autoIp, headers: { 'x-forwarded-for': '192.168.256.186' }, original: { status: 400, body: {} } },
  { name: 'test_post_auto_ip_out_of_range_4', method: 'POST', path: '/v1/registration/autosvc', form: autoIp, headers: { 'x-forwarded-for': '192.168.216.256' }, original: { status: 400, body: {} } },
  { name: 'test_post_auto_ip_two_hops_picks_last', method: 'POST', path: '/v1/registration/autosvc', form: autoIp, headers: { 'x-forwarded-for': '192.168.0.0,192.168.216.186' }, original: { status: 200, body: {} } },
  { name: 'auto_ip: one host, the last hop', path: '/v1/registration/autosvc', original: { status: 200, body: { service: 'autosvc', env: 'development', hosts: [hostOf('autosvc', '192.168.216.186')] } } },
  { name: 'auto_ip without X-Forwarded-For: the peer (loopback) is not 192.168/16', method: 'POST', path: '/v1/registration/autosvc', form: autoIp, original: { status: 400, body: {} } },
  { name: 'test_post_invalid_neither_ip', method: 'POST', path: '/v1/registration/myservice', form: { service_repo_name: 'bar', port: 1000, revision: 'r', tags: TAGS }, original: { status: 400, body: {} } },
  { name: 'test_loadbalancing_set_weight', method: 'POST', path: '/v1/loadbalancing/myservice/10.10.10.10', form: { load_balancing_weight: '10' }, original: { status: 204 } },
  { name: 'test_registration_get_load_balancing_weight', path: '/v1/registration/myservice', original: { status: 200, body: { service: 'myservice', env: 'development', hosts: [hostOf('myservice', '10.10.10.10', { az: 'foo', instance_id: 'bar', region: 'baz', load_balancing_weight: 10 })] } } },
  { name: 'the weight stays after a later registration', method: 'POST', path: '/v1/registration/myservice', form: valid('10.10.10.10'), original: { status: 200, body: {} } },
  { name: 'weight kept (tags merge)', path: '/v1/registration/myservice', original: { status: 200, body: { service: 'myservice', env: 'development', hosts: [hostOf('myservice', '10.10.10.10', { az: 'foo', instance_id: 'bar', region: 'baz', load_balancing_weight: 10 })] } } },
  { name: 'test_loadbalancing_update_weight (register with 10)', method: 'POST', path: '/v1/registration/lbsvc', form: withWeight('10.10.10.10', 10), original: { status: 200, body: {} } },
  { name: 'test_loadbalancing_update_weight (set 50)', method: 'POST', path: '/v1/loadbalancing/lbsvc/10.10.10.10', form: { load_balancing_weight: '50' }, original: { status: 204 } },
  { name: 'test_loadbalancing_update_all_weight (second host)', method: 'POST', path: '/v1/registration/lbsvc', form: withWeight('10.10.10.11', 10), original: { status: 200, body: {} } },
  { name: 'test_loadbalancing_update_all_weight', method: 'POST', path: '/v1/loadbalancing/lbsvc', form: { load_balancing_weight: '50' }, original: { status: 204 } },
  {
    name: 'every host weighted 50',
    path: '/v1/registration/lbsvc',
    original: {
      status: 200,
      body: { service: 'lbsvc', env: 'development', hosts: ['10.10.10.10', '10.10.10.11'].map((ip) => hostOf('lbsvc', ip, { az: 'foo', instance_id: 'bar', region: 'baz', load_balancing_weight: 50 })) },
    },
  },
  { name: 'test_loadbalancing_invalid_host', method: 'POST', path: '/v1/loadbalancing/myservice/10.10.10.99', form: { load_balancing_weight: '10' }, original: { status: 404, body: { error: 'Host not found' } } },
  { name: 'test_loadbalancing_invalid_weight', method: 'POST', path: '/v1/loadbalancing/myservice/10.10.10.10', form: { load_balancing_weight: 'not_an_integer' }, original: { status: 400, body: { error: 'Invalid load_balancing_weight. Supply an integer between 1 and 100.' } } },
  { name: 'test_loadbalancing_weight_out_of_range', method: 'POST', path: '/v1/loadbalancing/myservice/10.10.10.10', form: { load_balancing_weight: '9001' }, original: { status: 400, body: { error: 'Invalid load_balancing_weight. Supply an integer between 1 and 100.' } } },
  { name: 'loadbalancing: weight 0', method: 'POST', path: '/v1/loadbalancing/myservice/10.10.10.10', form: { load_balancing_weight: '0' }, original: { status: 400, body: { error: 'Invalid load_balancing_weight. Supply an integer between 1 and 100.' } } },
  { name: 'loadbalancing: weight missing', method: 'POST', path: '/v1/loadbalancing/myservice/10.10.10.10', form: {}, original: { status: 400, body: { error: "Required parameter 'weight' is missing." } } },
  { name: 'loadbalancing: a service with no hosts', method: 'POST', path: '/v1/loadbalancing/nohosts', form: { load_balancing_weight: '5' }, original: { status: 204 } },
  { name: 'loadbalancing: GET is not a route method', path: '/v1/loadbalancing/myservice', original: { status: 405, body: E405 } },

  // What the original's code answers beyond its tests.
  { name: '/healthcheck', path: '/healthcheck', original: { status: 200, body: 'OK' } },
  { name: 'an unknown URL: HTML 404', path: '/v2/registration/foo', original: { status: 404, body: ANY_HTML } },
  { name: 'a trailing slash: 404', path: '/v1/registration/foo/', original: { status: 404, body: ANY_HTML } },
  { name: 'PUT on a registration: 405', method: 'PUT', path: '/v1/registration/foo', form: valid('10.10.10.10'), original: { status: 405, body: E405 } },
  {
    name: 'GET with an ip in the path',
    path: '/v1/registration/foo/10.10.10.10',
    original: { status: 500 },
    herald: { status: 405, body: E405 },
    why: 'the original calls get() with an unexpected ip argument and crashes (TypeError)',
  },
  { name: 'multipart/form-data registration', method: 'POST', path: '/v1/registration/multi', multipart: { ip: '10.1.0.1', port: '81', revision: 'r2', tags: TAGS }, original: { status: 200, body: {} } },
  { name: 'multipart host listed', path: '/v1/registration/multi', original: { status: 200, body: { service: 'multi', env: 'development', hosts: [hostOf('multi', '10.1.0.1', undefined, 81, '')].map((h) => ({ ...h, revision: 'r2' })) } } },
  { name: 'a JSON body is not a form: no ip', method: 'POST', path: '/v1/registration/foo', raw: { type: 'application/json', body: JSON.stringify(valid('10.10.10.10')) }, original: { status: 400, body: {} } },
  { name: 'a service name with : and @', method: 'POST', path: '/v1/registration/team:api@v2', form: valid('10.2.0.1'), original: { status: 200, body: {} } },
  { name: 'listed under that name', path: '/v1/registration/team%3Aapi%40v2', original: { status: 200, body: { service: 'team:api@v2', env: 'development', hosts: [hostOf('team:api@v2', '10.2.0.1')] } } },
  { name: 'tags that are not JSON', method: 'POST', path: '/v1/registration/foo', form: valid('10.10.10.10', { tags: '{az: foo' }), original: { status: 400, body: { error: 'Invalid json supplied in tags' } } },
  { name: 'tags without az', method: 'POST', path: '/v1/registration/foo', form: valid('10.10.10.10', { tags: '{"instance_id":"bar","region":"baz"}' }), original: { status: 400, body: {} } },
  { name: 'tags without instance_id', method: 'POST', path: '/v1/registration/foo', form: valid('10.10.10.10', { tags: '{"az":"foo","region":"baz"}' }), original: { status: 400, body: {} } },
  { name: 'tags without region', method: 'POST', path: '/v1/registration/foo', form: valid('10.10.10.10', { tags: '{"az":"foo","instance_id":"bar"}' }), original: { status: 400, body: {} } },
  { name: 'tags are only checked for presence (numeric az, any weight)', method: 'POST', path: '/v1/registration/loose', form: valid('10.3.0.1', { tags: '{"az":7,"instance_id":null,"region":"r","load_balancing_weight":500}' }), original: { status: 200, body: {} } },
  { name: 'revision missing', method: 'POST', path: '/v1/registration/foo', form: { ip: '10.10.10.10', port: 1000, tags: TAGS }, original: { status: 400, body: {} } },
  { name: 'port missing', method: 'POST', path: '/v1/registration/foo', form: { ip: '10.10.10.10', revision: 'r', tags: TAGS }, original: { status: 400, body: {} } },
  { name: 'port negative', method: 'POST', path: '/v1/registration/foo', form: valid('10.10.10.10', { port: '-5' }), original: { status: 400, body: {} } },
  {
    name: 'port that is no integer',
    method: 'POST',
    path: '/v1/registration/foo',
    form: valid('10.10.10.10', { port: 'http' }),
    original: { status: 500 },
    herald: { status: 400, body: {} },
    why: 'the original calls int() on it unguarded and crashes (ValueError)',
  },
  {
    name: 'port above 65535',
    method: 'POST',
    path: '/v1/registration/foo',
    form: valid('10.10.10.10', { port: '70000' }),
    original: { status: 200, body: {} },
    herald: { status: 400, body: {} },
    why: 'no proxy can reach such a port; the original stores it and every reader must skip it',
  },
  { name: 'an invalid IPv4 (555.555.555.555)', method: 'POST', path: '/v1/registration/foo', form: valid('555.555.555.555'), original: { status: 400, body: {} } },
  { name: 'an IPv6 host (the original is IPv4 only)', method: 'POST', path: '/v1/registration/foo', form: valid('2001:db8::1'), original: { status: 400, body: {} } },
  { name: 'an IPv6 zone id', method: 'POST', path: '/v1/registration/foo', form: valid('fe80::1%eth0'), original: { status: 400, body: {} } },
  { name: 'DELETE of a zone id', method: 'DELETE', path: '/v1/registration/foo/fe80::1%25eth0', original: { status: 400, body: {} } },
  {
    name: 'an oversized body',
    method: 'POST',
    path: '/v1/registration/foo',
    form: valid('10.10.10.10', { padding: 'x'.repeat(100_000) }),
    original: { status: 200, body: {} },
    herald: { status: 413, body: { error: 'request body larger than 65536 bytes' } },
    why: 'a bound: a registration is a few hundred bytes; 64 KiB is the stated limit',
  },
];

/** Deep comparison where a RegExp in `want` matches a string. */
function matches(got: unknown, want: unknown, where: string): void {
  if (want instanceof RegExp) return assert.match(String(got), want, where);
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${where}: want a list, got ${JSON.stringify(got)}`);
    assert.equal((got as unknown[]).length, want.length, `${where}: length of ${JSON.stringify(got)}`);
    want.forEach((w, i) => matches((got as unknown[])[i], w, `${where}[${i}]`));
    return;
  }
  if (typeof want === 'object' && want !== null) {
    assert.ok(typeof got === 'object' && got !== null, `${where}: want an object, got ${JSON.stringify(got)}`);
    assert.deepEqual(Object.keys(got as object).sort(), Object.keys(want).sort(), `${where}: keys of ${JSON.stringify(got)}`);
    for (const [k, v] of Object.entries(want)) matches((got as Record<string, unknown>)[k], v, `${where}.${k}`);
    return;
  }
  assert.deepEqual(got, want, where);
}

async function send(base: string, c: Case): Promise<{ status: number; body: unknown; reason: string | null }> {
  const init: RequestInit = { method: c.method ?? 'GET', headers: { ...(c.headers ?? {}) } };
  if (c.form) {
    init.body = new URLSearchParams(Object.entries(c.form).map(([k, v]): [string, string] => [k, String(v)]));
  } else if (c.multipart) {
    const fd = new FormData();
    for (const [k, v] of Object.entries(c.multipart)) fd.append(k, v);
    init.body = fd;
  } else if (c.raw) {
    (init.headers as Record<string, string>)['content-type'] = c.raw.type;
    init.body = c.raw.body;
  }
  const res = await fetch(`${base}${c.path}`, init);
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: res.status, body, reason: res.headers.get('x-herald-reason') };
}

async function startRegistry(args: string[], env: NodeJS.ProcessEnv = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-replay-'));
  const port = await freePort();
  const childEnv = { ...process.env, ...env };
  if (!('APPLICATION_ENV' in env)) delete childEnv.APPLICATION_ENV;
  const child = spawn(process.execPath, [CLI, 'registry', '--db', path.join(dir, 'r.sqlite'), '--port', String(port), ...args], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`herald registry on ${port} (${stderr})`, async () => (await fetch(`${base}/healthcheck`).catch(() => undefined))?.status === 200, 15_000, 100);
  return { base, dir, stop: () => child.kill('SIGTERM') };
}

test('herald registry answers the original API tests’ request shapes as the original does', async (t) => {
  const reg = await startRegistry(['--auth', 'none']);
  t.after(() => reg.stop());
  const differences: string[] = [];
  for (const c of CASES) {
    const want = c.herald ?? c.original;
    const got = await send(reg.base, c);
    const where = `${c.name}: ${c.method ?? 'GET'} ${c.path}`;
    assert.equal(got.status, want.status, `${where}: status (body ${JSON.stringify(got.body)}, reason ${got.reason})`);
    if (want.body !== undefined) matches(got.body, want.body, where);
    if (want.status >= 400 && want.status !== 404 && want.status !== 405) assert.ok(got.reason, `${where}: a refusal says why in x-herald-reason`);
    if (c.herald) differences.push(`${c.name}: original ${c.original.status}, Herald ${c.herald.status} (${c.why})`);
  }
  process.stdout.write(`# replayed ${CASES.length} request shapes; ${differences.length} deliberate differences:\n${differences.map((d) => `#   ${d}`).join('\n')}\n`);
});

test('herald registry settings: token auth (default), --ipv6, --env / APPLICATION_ENV, --check-in-format aware', async (t) => {
  const tokenFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'herald-replay-token-')), 'token');
  fs.writeFileSync(tokenFile, 'tok\n');
  const strict = await startRegistry(['--token-file', tokenFile, '--ipv6', '--check-in-format', 'aware'], { APPLICATION_ENV: 'production' });
  t.after(() => strict.stop());
  const post = (headers: Record<string, string>, ip = '10.9.0.1') => send(strict.base, { name: 'auth', method: 'POST', path: '/v1/registration/svc', form: valid(ip), headers, original: { status: 0 } });
  const noToken = await post({});
  assert.equal(noToken.status, 401);
  assert.match(noToken.reason ?? '', /bearer token/);
  assert.equal((await post({ authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await post({ authorization: 'Bearer tok' })).status, 200);
  assert.equal((await post({ authorization: 'Bearer tok' }, '2001:DB8::7')).status, 200, 'IPv6 with --ipv6');
  const zone = await post({ authorization: 'Bearer tok' }, 'fe80::1%eth0');
  assert.equal(zone.status, 400);
  assert.match(zone.reason ?? '', /zone id/);
  const del = await send(strict.base, { name: 'del', method: 'DELETE', path: '/v1/registration/svc/10.9.0.1', original: { status: 0 } });
  assert.equal(del.status, 401, 'DELETE needs the token too');
  const got = (await send(strict.base, { name: 'get', path: '/v1/registration/svc', original: { status: 0 } })).body as any;
  assert.equal(got.env, 'production', 'APPLICATION_ENV, as the original reads it');
  assert.deepEqual(got.hosts.map((h: any) => h.ip_address), ['10.9.0.1', '2001:db8::7']);
  for (const h of got.hosts) assert.match(h.last_check_in, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);

  const named = await startRegistry(['--auth', 'none', '--env', 'staging'], { APPLICATION_ENV: 'production' });
  t.after(() => named.stop());
  assert.equal(((await send(named.base, { name: 'env', path: '/v1/registration/x', original: { status: 0 } })).body as any).env, 'staging');
});
