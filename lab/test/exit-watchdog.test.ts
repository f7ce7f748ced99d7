/**
 * The lab CLI's exit watchdog, in a child process of its own: a run whose event loop is held by a handle, and one
 * whose main thread never returns to the event loop, both leave within moments of the watchdog's deadline with the
 * run's exit code, saying what held them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const WATCHDOG = path.join(__dirname, '..', 'src', 'exit-watchdog.js');

function run(body: string): { status: number | null; stderr: string; ms: number } {
  const began = Date.now();
  const r = spawnSync(process.execPath, ['-e', `const { watchExit } = require(${JSON.stringify(WATCHDOG)}); process.exitCode = 3; watchExit((m) => process.stderr.write(m + '\\n'), '[t] ', 1000); ${body}`], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr, ms: Date.now() - began };
}

test('a process held by a handle after its run names the handle and exits with the run code', () => {
  const r = run("require('node:net').createServer().listen(0, '127.0.0.1');");
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /still open 1 s after the run ended: .*Server.*; exiting/);
});

test('a process whose main thread spins in microtasks is paused, says where, and exits with the run code', () => {
  const r = run('function spinForever() { Promise.resolve().then(spinForever); } setTimeout(spinForever, 10);');
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /\[t\] main thread has not run a timer for \d+ ms; it is in: spinForever /);
});

test('a process that leaves on its own is not held by the watchdog', () => {
  const r = run('');
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(r.ms < 900, `left after ${r.ms} ms, before the watchdog's deadline`);
});
