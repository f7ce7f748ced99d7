/**
 * The control-plane harness cleans up after itself: stop() is idempotent and leaves no process or
 * data; a failed start says why and leaves nothing running; and when the parent Node process is
 * SIGKILLed (a test runner's timeout), every lab process dies with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startControlPlane, waitFor } from '../src/kube';
import { groupHasLiving } from '../src/kube/process';

/** Processes whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')) found.push(`${pid}: ${cmd.slice(0, 120)}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

test('stop() is idempotent and leaves no process or data behind', async (t) => {
  const cp = await startControlPlane();
  t.diagnostic(`startup ${cp.startupMs} ms`);
  const groups = Object.values(cp.processGroups());
  assert.equal(groups.length, 3, 'etcd, kube-apiserver, kube-controller-manager');
  assert.ok(groups.every((g) => groupHasLiving(g)));
  const t0 = Date.now();
  await Promise.all([cp.stop(), cp.stop()]);
  await cp.stop();
  t.diagnostic(`stop ${Date.now() - t0} ms`);
  assert.deepEqual(groups.filter((g) => groupHasLiving(g)), []);
  assert.equal(existsSync(cp.dataDir), false);
});

test('a failed start names the cause and leaves nothing running', async () => {
  const root = mkdtempSync(join(tmpdir(), 'herald-harness-'));
  try {
    await assert.rejects(startControlPlane({ tmpRoot: root, extraApiserverArgs: ['--no-such-flag'] }), /kube-apiserver exited .*kube-apiserver\.log/);
    assert.deepEqual(processesMentioning(root), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('SIGKILL of the parent process takes every lab process with it', async () => {
  const child = spawn(process.execPath, [join(__dirname, 'kube-harness-child.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const { groups, podIP, dataDir } = JSON.parse(line) as { groups: number[]; podIP: string; dataDir: string };
    assert.equal(groups.length, 4, 'three control-plane components and one pod backend');
    assert.ok(groups.every((g) => groupHasLiving(g)));
    assert.equal((await fetch(`http://${podIP}:8080/`)).status, 200);
    child.kill('SIGKILL');
    await waitFor('every process group gone', () => groups.every((g) => !groupHasLiving(g)), { timeoutMs: 5_000, intervalMs: 50 });
    await assert.rejects(fetch(`http://${podIP}:8080/`));
    assert.deepEqual(processesMentioning(dataDir), []);
    rmSync(dataDir, { recursive: true, force: true }); // the parent died before it could clean up
  } finally {
    child.kill('SIGKILL');
  }
});
