/**
 * lab/src/leave.ts in a child process: a lab command ends with its run's exit code, at once, naming a handle that
 * would otherwise keep it up; one with nothing left open says nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const LEAVE = path.join(__dirname, '..', 'src', 'leave.js');

/** Runs `body`, which calls done() when its run is over. */
function run(body: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', `const { leave } = require(${JSON.stringify(LEAVE)}); process.exitCode = 3; const done = () => leave((m) => process.stderr.write(m + '\\n')); ${body}`], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

test('a run that left a server listening ends anyway, with its exit code, naming what was open', () => {
  const r = run("require('node:net').createServer().listen(0, '127.0.0.1', done)");
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /^still open 1000 ms after the run ended: Server\n$/);
});

test('a handle that closes within the grace is not named', () => {
  const r = run("const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { done(); setTimeout(() => s.close(), 200); })");
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stderr, '');
});

test('a run with nothing left open ends with its exit code and says nothing', () => {
  const r = run('setTimeout(done, 10)');
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stderr, '');
});
