/**
 * The Envoy runner's contract that no Envoy outlives the process that started it: a child process starts a real
 * Envoy, reports its pid and is then SIGKILLed (no exit handler runs); the Envoy must be gone within 2 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));

test('envoy runner: an Envoy dies with the process that started it, even one SIGKILLed', async () => {
  const runner = path.join(__dirname, '..', 'src', 'envoy', 'process.js');
  const script = `const { startEnvoy } = require(${JSON.stringify(runner)});
    (async () => {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const e = await startEnvoy({ bootstrap: { admin: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }, adminPort: port });
      process.send({ pid: e.pid });
    })();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { pid: number }) => resolve(m.pid));
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before starting Envoy`)));
  });
  assert.ok(alive(pid), 'Envoy runs');
  assert.equal(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'envoy', 'the pid is Envoy itself (setpriv execs it in place)');
  child.kill('SIGKILL');
  const deadline = Date.now() + 2000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const left = alive(pid);
  if (left) process.kill(pid, 'SIGKILL');
  assert.equal(left, false, 'no Envoy left after its parent was SIGKILLed');
});
