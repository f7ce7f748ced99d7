/**
 * The rollout lab on the real node (`herald lab rollout --short --node real --json`): the lab backend image on a
 * real kubelet and containerd (lab/src/node), two Herald replicas and the client Envoys entered into the node's
 * network namespace, the load and the convergence tracker unchanged: zero failed requests, no undead host, every
 * event converged; and afterwards nothing of the node left on the host (no namespace, no blackhole route).
 * Also, without a node: which scenarios --node real refuses and why, and what the real-node Deployment asks for.
 * The run skips, saying why, only when the machine cannot run a real node (not root, not Linux, no cgroups, or
 * scripts/setup-node.sh / make kube could not provide the tools).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { realNodeSkipReason, NODE_IP } from '../src/node';
import { HERALD_CLI } from '../src/product';
import { appManifest, LAB_BACKEND_IMAGE } from '../src/runner/app';
import { realNodeRefusal } from '../src/runner/run';
import { listScenarios, loadScenario } from '../src/runner/scenario';

/** The processes (pid and command line) holding a pipe, found by its inode in /proc/<pid>/fd. */
function pipeHolders(inode: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === inode) {
          out.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim().slice(0, 200)}`);
          break;
        }
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/**
 * What a process is doing, for one that does not exit: its state, kernel wait channel, CPU so far and RSS (a
 * process busy in a loop, one in a GC storm near its heap limit and one blocked in the kernel look different).
 */
function processState(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const wchan = fs.readFileSync(`/proc/${pid}/wchan`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
    const cpuS = (Number(f[11]) + Number(f[12])) / 100;
    return `state ${f[0]}, wchan ${wchan || '-'}, CPU ${cpuS.toFixed(1)} s, RSS ${Math.round(Number(rss) / 1024)} MB, threads ${f[17]}`;
  } catch {
    return 'exited';
  }
}

/**
 * Runs the lab CLI and settles when it exits (not when its output pipes close: a straggling descendant holding them
 * must not look like a hung run). A run that printed its result but is still alive 20 s later, or any run past
 * `timeoutMs`, is described (state, wait channel, who holds its stdout) and killed; the first keeps its result,
 * with the description in `lingered`.
 */
function runLab(args: readonly string[], timeoutMs: number): Promise<{ stdout: string; stderr: string; lingered?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HERALD_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let inode = '';
    try {
      inode = fs.readlinkSync(`/proc/${child.pid}/fd/1`);
    } catch {
      // exited already
    }
    child.stdout!.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (!lingerTimer && /^\{.*"scenario"/m.test(stdout)) lingerTimer = setTimeout(() => finish('printed its result but did not exit within 20 s'), 20_000);
    });
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    let lingerTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const describe = (why: string) => `${why}: ${processState(child.pid!)}; stdout held by: ${(inode ? pipeHolders(inode) : []).join('; ') || 'nobody'}`;
    const finish = (why: string) => {
      if (settled) return;
      const d = describe(why);
      child.kill('SIGKILL');
      settled = true;
      clearTimeout(overall);
      if (/"scenario"/.test(stdout)) resolve({ stdout, stderr, lingered: d });
      else reject(Object.assign(new Error(`herald lab ${args.join(' ')}: ${d}`), { stderr }));
    };
    const overall = setTimeout(() => finish(`no exit within ${timeoutMs} ms`), timeoutMs);
    child.once('exit', (code, signal) => {
      if (settled) return;
      // What is still in the pipes arrives within moments of the exit, unless someone else holds them.
      setTimeout(() => {
        if (settled) return;
        settled = true;
        clearTimeout(overall);
        clearTimeout(lingerTimer);
        if (code === 0) resolve({ stdout, stderr });
        else reject(Object.assign(new Error(`herald lab ${args.join(' ')} exited with ${signal ?? code}`), { stderr }));
      }, 500);
    });
  });
}


test('lab --node real: refuses, before starting anything, exactly the scenarios that need the lab kubelet', () => {
  const refused = Object.fromEntries(listScenarios().map((n) => [n, realNodeRefusal(loadScenario(n, true))]));
  for (const n of ['rollout', 'scale-up', 'scale-down', 'cp-restart', 'kill-during-rollout', 'kill-during-scale-up', 'kill-during-both', 'rebalance']) {
    assert.equal(refused[n], undefined, `${n} runs on the real node`);
  }
  assert.match(refused['hybrid-migration']!, /^scenario hybrid-migration cannot run with --node real: vms: \d+ .*; step migrateVms \(lab kubelet only\)$/);
  assert.match(refused['registry-outage']!, /registryFault, stopRegistry, startRegistry \(lab kubelet only\)/);
  assert.match(refused['apiserver-outage']!, /stopApiserver, startApiserver \(lab kubelet only\)/);
});

test('lab --node real: the Deployment runs the backend image, non-root, read-only, told its name and IP, with a CPU request', () => {
  const spec = loadScenario('rollout', true).app;
  const [deployment, service] = parseAllDocuments(appManifest('web', spec, 4, 'real')).map((d) => d.toJS());
  const pod = deployment.spec.template.spec;
  const c = pod.containers[0];
  assert.equal(deployment.spec.replicas, 4);
  assert.equal(pod.terminationGracePeriodSeconds, spec.terminationGracePeriodSeconds);
  assert.equal(c.image, LAB_BACKEND_IMAGE);
  assert.equal(c.imagePullPolicy, 'Never');
  assert.deepEqual(c.lifecycle, { preStop: { sleep: { seconds: spec.preStopSeconds } } });
  assert.equal(c.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.ok(c.resources.requests.cpu, 'a CPU request (BestEffort pods stall on a busy machine)');
  const env = Object.fromEntries(c.env.map((e: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }) => [e.name, e.value ?? e.valueFrom!.fieldRef.fieldPath]));
  assert.deepEqual(env, { LAB_DRAIN_MS: String(spec.drainMs), LAB_GRPC_PORT: '0', LAB_HTTP_PORT: '8080', LAB_POD_NAME: 'metadata.name', LAB_POD_NAMESPACE: 'metadata.namespace', LAB_NODE_NAME: 'spec.nodeName', LAB_POD_IP: 'status.podIP' });
  assert.equal(service.kind, 'Service');
  // The lab kubelet's form is unchanged: it starts the backend itself and sets its env.
  const lab = parseAllDocuments(appManifest('web', spec, 4)).map((d) => d.toJS())[0].spec.template.spec.containers[0];
  assert.equal(lab.securityContext, undefined);
  assert.deepEqual(lab.env, [{ name: 'LAB_DRAIN_MS', value: String(spec.drainMs) }, { name: 'LAB_GRPC_PORT', value: '0' }]);
});

test('lab rollout --short --node real: real containers, zero failed requests, no undead hosts, every event converged, nothing left behind', { skip: realNodeSkipReason(), timeout: 280_000 }, async (t) => {
  const began = Date.now();
  const { stdout, stderr, lingered } = await runLab(['lab', 'rollout', '--short', '--node', 'real', '--json', '--out', path.join('lab-results', 'short')], 240_000).catch(
    (err: { stderr?: string; message: string }) => {
      throw new Error(`herald lab rollout --node real failed: ${err.message}\n${(err.stderr ?? '').split('\n').slice(-60).join('\n')}`);
    },
  );
  if (lingered) t.diagnostic(`the lab process ${lingered}`);
  const result = JSON.parse(stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!);
  // Ready times, images, and any handle the lab CLI named as still open when it left (lab/src/leave.ts).
  for (const line of stderr.split('\n').filter((l) => /Ready in|ready in|image |still open .* after the run ended/.test(l))) t.diagnostic(line);
  t.diagnostic(
    `${result.requests} requests, by status ${JSON.stringify(result.by_status)}, convergence p50/p99/max ${result.convergence_ms.p50}/${result.convergence_ms.p99}/${result.convergence_ms.max} ms ` +
      `over ${result.convergence_ms.events} events, panics ${result.panic_events}, run ${result.duration_s} s, whole test ${((Date.now() - began) / 1000).toFixed(1)} s`,
  );
  assert.equal(result.scenario, 'rollout');
  assert.equal(result.node, 'real');
  assert.equal(result.replicas, 2, 'two Herald replicas, as the lab runs them');
  assert.ok(result.requests > 100, 'the load generator sent traffic');
  assert.equal(result.non_2xx, 0, `failed requests: ${JSON.stringify(result.by_status)}`);
  assert.equal(result.undead_hosts, 0);
  assert.equal(result.convergence_ms.unconverged, 0, 'every event converged');
  // 4 pods rolled once: each new pod ready, each old one terminating and gone.
  assert.ok(result.convergence_ms.events >= 12, `events: ${result.convergence_ms.events}`);

  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.doesNotMatch(netns, /herald-node-/, 'no node namespace left');
  const blackhole = execFileSync('ip', ['route', 'show', 'type', 'blackhole'], { encoding: 'utf8' });
  assert.doesNotMatch(blackhole, new RegExp(NODE_IP.split('.').slice(0, 2).join('\\.')), 'no blackhole route left');
});
