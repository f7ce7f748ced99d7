/**
 * The real node (lab/src/node) leaves nothing behind: after a harness is SIGKILLed with a pod running,
 * and after a start that fails half-way, the machine is as it was: no process of the run, no mount, no
 * link, no route, no network namespace, no cgroup, the same iptables rules (nft and legacy) and the same
 * kernel sysctls (kernel.panic, kernel.panic_on_oops, vm.overcommit_memory, net.ipv4.ip_forward, ...).
 * Skips, saying why, only when the machine cannot run a real node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startControlPlane } from '../../lab/src/kube';
import { imageArchives, readSysctls, realNodeControlPlaneOptions, realNodeSkipReason, runsRoot, startRealNode } from '../../lab/src/node';
import { repoRoot } from '../support/repo';
import { waitFor } from '../support/wait';

const ROOT = repoRoot();

const skip = realNodeSkipReason();

function out(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** What a run may change on the host, in a form that compares equal when nothing changed. */
function snapshot() {
  const allSysctls = ['kernel/panic', 'kernel/panic_on_oops', 'vm/overcommit_memory', 'net/ipv4/ip_forward'];
  const rules = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n');
  const cgroups = fs.readdirSync('/sys/fs/cgroup').flatMap((h) => {
    try {
      return fs.readdirSync(path.join('/sys/fs/cgroup', h)).filter((d) => d.startsWith('herald-node-')).map((d) => `${h}/${d}`);
    } catch {
      return [];
    }
  });
  const procs = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid).filter((d) => {
    try {
      return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(runsRoot());
    } catch {
      return false;
    }
  });
  return {
    sysctls: { ...readSysctls(), ...Object.fromEntries(allSysctls.map((s) => [s, fs.readFileSync(`/proc/sys/${s}`, 'utf8').trim()])) },
    iptables: rules(out('iptables-save', [])),
    iptablesLegacy: rules(out('iptables-legacy-save', [])),
    links: out('ip', ['-o', 'link']).split('\n').map((l) => l.split(':').slice(0, 2).join(':')).join('\n'),
    routes: out('ip', ['route']),
    netns: out('ip', ['netns', 'list']),
    mounts: fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).join('\n'),
    cgroups,
    procs,
    leftovers: ['/run/containerd', '/run/containerd/s', runsRoot()].filter((d) => fs.existsSync(d)).map((d) => `${d}: ${fs.readdirSync(d).join(' ')}`),
  };
}

test('real node cleanup: a SIGKILLed harness with a running pod leaves nothing behind', { skip, timeout: 240_000 }, async (t) => {
  execFileSync('bash', [path.join(ROOT, 'images', 'build.sh'), 'pause', 'herald-echo'], { stdio: 'ignore', timeout: 300_000 });
  const before = snapshot();
  const child = spawn(process.execPath, [path.join(__dirname, 'real-node-cleanup-child.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  t.after(() => child.kill('SIGKILL'));
  const line = await waitFor('the child to run a pod on its real node', () => {
    if (child.exitCode !== null) throw new Error(`child exited ${child.exitCode}: ${stderr}`);
    return stdout.split('\n').find((l) => l.startsWith('{'));
  }, 180_000, 200);
  const { runDir } = JSON.parse(line) as { runDir: string };
  const during = snapshot();
  assert.ok(during.procs.length > 0 && during.cgroups.length > 0, 'the run had processes and cgroups');
  child.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor('the guard to clean up', () => !fs.existsSync(runDir) && snapshot().procs.length === 0, 60_000, 200);
  t.diagnostic(`cleaned up ${Date.now() - killedAt} ms after SIGKILL`);
  const guardLog = `${runDir}.guard.log`;
  if (fs.existsSync(guardLog)) t.diagnostic(fs.readFileSync(guardLog, 'utf8').trim());
  assert.deepEqual(snapshot(), before);
});

test('real node cleanup: a start that fails half-way (containerd up, an image missing) leaves nothing behind', { skip, timeout: 120_000 }, async (t) => {
  const before = snapshot();
  const cp = await startControlPlane(realNodeControlPlaneOptions());
  t.after(() => cp.stop());
  const missing = path.join(os.tmpdir(), 'herald-no-such-image.oci.tar');
  await assert.rejects(startRealNode(cp, { images: [...imageArchives().filter((a) => /pause/.test(a)), missing] }), /importing .*herald-no-such-image/);
  assert.deepEqual(snapshot(), before);
});
