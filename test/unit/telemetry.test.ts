/**
 * Telemetry belongs to an instance: a Logger's level and rate-limit windows are its own, and two Heralds in one
 * process have separate /metrics, separate log levels and separate rate limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { Logger } from '../../src/log/log';
import { adminMetrics } from '../../src/admin/server';
import { startTestHerald } from '../support/herald';
import { capturingTelemetry } from '../support/telemetry';

function collect(level: 'debug' | 'info' | 'warn' | 'error') {
  const lines: Array<Record<string, unknown>> = [];
  return { log: new Logger({ level, sink: { write: (l: string) => lines.push(JSON.parse(l)) } }), lines };
}

test('logger: one JSON line per call at or above its level; the level is the instance’s', () => {
  const a = collect('info');
  const b = collect('warn');
  a.log.write('info', 'hello', { n: 1 });
  b.log.write('info', 'hello', { n: 1 });
  a.log.write('debug', 'hidden');
  assert.deepEqual(a.lines.map(({ t, ...rest }) => (assert.match(String(t), /^\d{4}-\d\d-\d\dT/), rest)), [{ level: 'info', msg: 'hello', n: 1 }]);
  assert.deepEqual(b.lines, []);
  assert.equal(a.log.enabled('debug'), false);
  a.log.setLevel('debug');
  assert.equal(a.log.enabled('debug'), true);
  assert.equal(b.log.enabled('info'), false, 'setting one logger’s level leaves the other’s');
});

test('logger: limited logs once per window and key, then says how many were suppressed; windows are per logger', async () => {
  const a = collect('info');
  const b = collect('info');
  for (let i = 0; i < 5; i++) a.log.limited('k', 'warn', 'noisy', { i }, 30);
  b.log.limited('k', 'warn', 'noisy', { i: 0 }, 30);
  assert.deepEqual(a.lines.map((l) => l.i), [0]);
  assert.deepEqual(b.lines.map((l) => l.i), [0], 'another logger’s window does not suppress this one');
  await new Promise((r) => setTimeout(r, 50));
  a.log.limited('k', 'warn', 'noisy', { i: 9 }, 30);
  assert.deepEqual(a.lines.map((l) => [l.i, l.suppressed]), [[0, undefined], [9, 4]]);
});

test('logger: a flood of distinct live keys is bounded: the oldest windows go (their next line logs), recent ones stay', () => {
  const a = collect('info');
  for (let i = 0; i < 25_000; i++) a.log.limited(`key-${i}`, 'warn', 'flood', { i }, 60_000);
  assert.equal(a.lines.length, 25_000, 'every new key logs once');
  a.log.limited('key-0', 'warn', 'flood', { i: 0 }, 60_000);
  assert.equal(a.lines.length, 25_001, 'the oldest window was dropped at the bound, so its key logs again');
  a.log.limited('key-24999', 'warn', 'flood', { i: 24_999 }, 60_000);
  assert.equal(a.lines.length, 25_001, 'a recent window still suppresses');
});

function refused(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/proxies', agent: false, setHost: false, headers: { host: 'evil.example' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('two Heralds in one process: separate /metrics, separate log levels, separate rate limits', async (t) => {
  const services = [{ name: 'web', endpoints: [{ address: '10.0.0.1', port: 80 }] }];
  const ta = capturingTelemetry('info');
  const tb = capturingTelemetry('warn');
  const a = await startTestHerald(services, { telemetry: ta });
  t.after(() => a.stop());
  const b = await startTestHerald(services, { telemetry: tb });
  t.after(() => b.stop());
  assert.equal(a.telemetry, ta);
  assert.equal(b.telemetry, tb);

  // One metric incremented in A only (twice), then once in B.
  assert.equal(await refused(a.adminPort), 403);
  assert.equal(await refused(a.adminPort), 403);
  const text = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(await text(a.adminPort), /^herald_admin_host_refused_total 2$/m);
  assert.match(await text(b.adminPort), /^herald_admin_host_refused_total 0$/m);
  assert.equal(await refused(b.adminPort), 403);
  assert.match(await text(a.adminPort), /^herald_admin_host_refused_total 2$/m);
  assert.match(await text(b.adminPort), /^herald_admin_host_refused_total 1$/m);
  assert.equal(adminMetrics(a.telemetry.metrics).hostRefused.get(), 2, 'the handle startHerald returned reads the same series');
  // Each instance serves its own process metrics too.
  assert.match(await text(b.adminPort), /^herald_build_info\{/m);

  // Log levels: A (info) logged its start; B (warn) did not. Rate limits: the refusal's key is the same in both,
  // and each instance logged its first refusal (A's second one was suppressed by A's window).
  const msgs = (lines: ReadonlyArray<Record<string, unknown>>) => lines.map((l) => l.msg);
  assert.ok(msgs(ta.lines).includes('herald started'));
  assert.ok(!msgs(tb.lines).includes('herald started'));
  assert.equal(msgs(ta.lines).filter((m) => m === 'admin request refused: Host not allowed').length, 1);
  assert.equal(msgs(tb.lines).filter((m) => m === 'admin request refused: Host not allowed').length, 1);
  assert.ok(tb.lines.every((l) => l.level === 'warn' || l.level === 'error'), 'B wrote nothing below warn');
});
