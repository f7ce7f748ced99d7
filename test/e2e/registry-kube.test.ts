/**
 * The Kubernetes-backed registry against the real kube-apiserver (lab/src/kube): the CRD and the least RBAC
 * of deploy/, two Herald replicas as their own processes, each with its registry server on RegistryHosts and its
 * registry source watching them, running with a token of the herald ServiceAccount and nothing else.
 *
 *  - a VM registers through replica A; a real Envoy streaming from replica B receives it;
 *  - replica A is killed (SIGKILL); the VM's heartbeats through B keep it alive past several TTLs;
 *  - heartbeats stop: its TTL expiry removes it once (Envoy's host set goes present → absent exactly once, the
 *    RegistryHost is deleted), with no flapping;
 *  - a burst of 200 heartbeats/s (20 VMs, each every 0.1 s) through B is held: every answer 200, no VM leaves
 *    Envoy; latency printed. Heartbeats are coalesced into about one apiserver write per VM per refresh interval
 *    (TTL/20, at least 1 s: here 1 s, since the test's TTL is 4 s).
 * Skips, saying why, when the Kubernetes binaries are not built (`make kube`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { kubeBinariesPresent, kubeBinDir, startControlPlane, type ControlPlane } from '../../lab/src/kube';
import { writeKubeconfig } from '../../lab/src/kube/kubeconfig';
import { collectionPath } from '../../src/sources/registry/kube-backend';
import { startTestEnvoy } from '../support/envoy';
import { freePort } from '../support/ports';
import { repoRoot } from '../support/repo';
import { sleep, waitFor } from '../support/wait';

const ROOT = repoRoot();
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const NS = 'herald-system';
const TTL = 4;
const TOKEN = 'vm-token';
const skip = kubeBinariesPresent() ? false : `the Kubernetes binaries are not built in ${kubeBinDir()}: run \`make kube\``;

async function kubectlOk(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

interface Replica {
  readonly name: string;
  readonly xdsPort: number;
  readonly adminPort: number;
  readonly registryPort: number;
  readonly child: ChildProcess;
  log(): string;
}

async function startReplica(name: string, dir: string, kubeconfig: string): Promise<Replica> {
  const [xdsPort, adminPort, registryPort] = [await freePort(), await freePort(), await freePort()];
  const config = {
    xds: { address: '127.0.0.1', port: xdsPort },
    admin: { address: '127.0.0.1', port: adminPort },
    batching: { delayMs: 20, maxDelayMs: 200 },
    registry: { port: registryPort, backend: 'kubernetes', kubeconfig, namespace: NS, tokenFile: 'token', ttlSeconds: TTL },
    // No guard: this test asserts the TTL expiry itself reaches Envoy once (the default holds it like a pod removal).
    sources: [{ kind: 'registry', name: 'vms', backend: 'kubernetes', kubeconfig, namespace: NS, services: ['legacy', 'burst'], ttlSeconds: TTL, guard: { holdSeconds: 0 } }],
  };
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { env: { ...process.env, HERALD_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await waitFor(`replica ${name} ready`, async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined))?.status === 200, 30_000, 100);
  return { name, xdsPort, adminPort, registryPort, child, log: () => out };
}

function register(port: number, service: string, ip: string, hostPort = 8080): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/v1/registration/${service}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: new URLSearchParams({ ip, port: String(hostPort), revision: 'r1', service_repo_name: 'vms', tags: JSON.stringify({ az: 'zone-a', region: 'region-1', instance_id: `i-${ip}` }) }),
  });
}

test('Kubernetes-backed registry: two replicas, kill one, heartbeats through the other, one TTL expiry, a 200/s burst', { skip, timeout: 240_000 }, async (t) => {
  const cp = await startControlPlane({ controllers: [] });
  t.after(() => cp.stop());
  // The shipped CRD and least RBAC, and a token of the ServiceAccount they bind.
  await kubectlOk(cp, ['apply', '-f', path.join(ROOT, 'deploy', 'namespace.yaml'), '-f', path.join(ROOT, 'deploy', 'registry-crd.yaml')]);
  await kubectlOk(cp, ['apply', '-n', NS, '-f', path.join(ROOT, 'deploy', 'serviceaccount.yaml'), '-f', path.join(ROOT, 'deploy', 'registry-rbac.yaml')]);
  await kubectlOk(cp, ['wait', '--for=condition=Established', 'crd/registryhosts.herald.io', '--timeout=30s']);
  const token = (await kubectlOk(cp, ['create', 'token', 'herald', '-n', NS, '--duration=30m'])).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-registry-kube-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, { name: 'herald-sa', server: cp.server, caPem: cp.caPem, token });
  fs.writeFileSync(path.join(dir, 'token'), TOKEN);
  const sa = `system:serviceaccount:${NS}:herald`;
  for (const [verb, res, ns] of [['create', 'registryhosts.herald.io', 'default'], ['list', 'pods', NS], ['get', 'secrets', NS]] as const) {
    assert.equal((await cp.kubectl(['auth', 'can-i', verb, res, `--as=${sa}`, '-n', ns])).stdout.trim(), 'no', `${verb} ${res} in ${ns} must be denied`);
  }

  const a = await startReplica('a', dir, kubeconfig);
  t.after(() => a.child.kill('SIGKILL'));
  const b = await startReplica('b', dir, kubeconfig);
  t.after(() => b.child.kill('SIGTERM'));
  const envoy = await startTestEnvoy({ xdsPort: b.xdsPort, protocol: 'delta', nodeId: 'vm-client', waitReady: false });
  t.after(() => envoy.stop());

  // Envoy's view of `legacy`, sampled every 100 ms: transitions of the VM's presence.
  const vm = '127.3.0.1:8080';
  const timeline: Array<{ at: number; present: boolean }> = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const present = (await envoy.hosts('legacy.default').catch(() => new Map())).has(vm);
      if (timeline.at(-1)?.present !== present) timeline.push({ at: Date.now(), present });
      await sleep(100);
    }
  })();
  t.after(async () => {
    sampling = false;
    await sampler;
  });

  // Registers through A; Envoy on B has it.
  const registered = Date.now();
  assert.equal((await register(a.registryPort, 'legacy', '127.3.0.1')).status, 200);
  await waitFor('the VM in Envoy streaming from replica B', () => timeline.at(-1)?.present === true, 15_000, 50);
  const seenMs = timeline.at(-1)!.at - registered;
  const hosts = await envoy.hosts('legacy.default');
  assert.equal(hosts.get(vm)!.zone, 'zone-a');
  const viaB: any = await (await fetch(`http://127.0.0.1:${b.registryPort}/v1/registration/legacy`)).json();
  assert.deepEqual(viaB.hosts.map((h: any) => h.ip_address), ['127.3.0.1'], 'replica B serves the host registered through A');

  // A dies; heartbeats through B keep the VM for 3 TTLs.
  a.child.kill('SIGKILL');
  const beatsFrom = Date.now();
  const statuses: number[] = [];
  let lastBeat = 0;
  while (Date.now() - beatsFrom < 3 * TTL * 1000) {
    const sentAt = Date.now();
    statuses.push((await register(b.registryPort, 'legacy', '127.3.0.1')).status);
    lastBeat = sentAt;
    await sleep(1000);
  }
  assert.ok(statuses.every((s) => s === 200), `heartbeats through B: ${statuses.join(',')}`);
  assert.deepEqual(timeline.map((x) => x.present), [false, true].slice(timeline[0]!.present ? 1 : 0), 'present throughout, never dropped');

  // Heartbeats stop: the TTL removes it, once.
  await waitFor('the VM to expire from Envoy', () => timeline.at(-1)?.present === false, 4 * TTL * 1000, 50);
  const expiredAfter = timeline.at(-1)!.at - lastBeat;
  assert.ok(expiredAfter >= TTL * 1000 - 200 && expiredAfter < TTL * 1000 + 3000, `expired ${expiredAfter} ms after the last heartbeat (TTL ${TTL} s)`);
  await sleep(2 * TTL * 1000);
  const transitions = timeline.filter((x, i) => i > 0 || x.present).map((x) => x.present);
  assert.deepEqual(transitions, [true, false], `present → absent once, no flapping: ${JSON.stringify(timeline)}`);
  const left: any = await cp.client.get(collectionPath(NS));
  assert.deepEqual(left.items.filter((i: any) => i.spec.service === 'legacy'), [], 'the RegistryHost was deleted by the expirer');

  // A burst: 20 VMs (registered first) each heartbeating every 0.1 s through B, for 5 s (200 heartbeats/s).
  const vms = Array.from({ length: 20 }, (_, i) => `127.4.0.${i + 1}`);
  const registeredAll = await Promise.all(vms.map((ip) => register(b.registryPort, 'burst', ip)));
  assert.ok(registeredAll.every((r) => r.status === 200));
  const latencies: number[] = [];
  const codes = new Map<number, number>();
  await waitFor('every burst VM in Envoy', async () => (await envoy.hosts('burst.default')).size === vms.length, 15_000, 100);
  // Meanwhile: Envoy's count of burst VMs (it must stay at 100) and replica B's admin latency (its event loop).
  let watching = true;
  let minInEnvoy = vms.length;
  const adminMs: number[] = [];
  const watcher = (async () => {
    while (watching) {
      minInEnvoy = Math.min(minInEnvoy, (await envoy.hosts('burst.default')).size);
      const t0 = performance.now();
      await fetch(`http://127.0.0.1:${b.adminPort}/healthz`);
      adminMs.push(performance.now() - t0);
      await sleep(100);
    }
  })();
  // Open loop: one heartbeat every 5 ms, round-robin over the VMs, not waiting for answers.
  const cpuOf = (pid: number) => {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in ms (100 ticks/s)
  };
  const cpuBefore = cpuOf(b.child.pid!);
  const inflight: Promise<void>[] = [];
  const burstStart = Date.now();
  let sent = 0;
  while (sent < 1000) {
    // 1,000 heartbeats on a 5 ms schedule; catches up when the loop wakes late (a loaded machine).
    const due = Math.min(1000, Math.floor((Date.now() - burstStart) / 5) + 1);
    for (; sent < due; sent++) {
      const ip = vms[sent % vms.length]!;
      const t0 = performance.now();
      inflight.push(
        register(b.registryPort, 'burst', ip).then(
          (r) => {
            latencies.push(performance.now() - t0);
            codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
          },
          () => void codes.set(0, (codes.get(0) ?? 0) + 1),
        ),
      );
    }
    if (sent < 1000) await sleep(5);
  }
  const offered = sent / ((Date.now() - burstStart) / 1000);
  await Promise.all(inflight);
  watching = false;
  await watcher;
  const cpuMs = cpuOf(b.child.pid!) - cpuBefore;
  const burstSeconds = (Date.now() - burstStart) / 1000; // until the last answer
  latencies.sort((x, y) => x - y);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(0);
  const writes = ((await (await fetch(`http://127.0.0.1:${b.adminPort}/metrics`)).text()).match(/^herald_registry_kube_writes_total\{[^}]*outcome="ok"[^}]*\} \d+/gm) ?? []).join('; ');
  process.stdout.write(
    `# registered via A → Envoy on B: ${seenMs} ms; expiry ${expiredAfter} ms after the last heartbeat (TTL ${TTL} s)\n` +
      `# burst: ${sent} heartbeats offered at ${offered.toFixed(0)}/s, all answered in ${burstSeconds.toFixed(1)} s (${(sent / burstSeconds).toFixed(0)}/s), statuses ${JSON.stringify(Object.fromEntries(codes))}, latency p50 ${pct(50)} ms p99 ${pct(99)} ms max ${pct(100)} ms; replica B /healthz max ${Math.max(...adminMs).toFixed(0)} ms, CPU ${cpuMs} ms (${((cpuMs * 1000) / sent).toFixed(0)} µs per heartbeat); apiserver writes: ${writes}\n`,
  );
  assert.deepEqual([...codes.keys()], [200], `every heartbeat answered 200: ${JSON.stringify(Object.fromEntries(codes))}`);
  assert.ok(offered >= 190, `the burst was offered at ${offered.toFixed(0)}/s`);
  assert.equal(minInEnvoy, vms.length, 'no VM left Envoy during the burst');
});
