/**
 * The rollout lab's proof in the suite: every scenario in its --short form, in Herald's default mode
 * (pods-draining), through `herald lab --json`: no failed request, no undead host; and the VM scenarios with the
 * Kubernetes-backed registry (`--registry kubernetes`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { listScenarios } from '../src/runner/scenario';
import { HERALD_CLI } from '../src/product';

const run = promisify(execFile);

for (const scenario of listScenarios()) {
  test(`lab ${scenario} --short (pods-draining): zero failed requests, no undead hosts`, async (t) => {
    const { stdout } = await run(process.execPath, [HERALD_CLI, 'lab', scenario, '--short', '--json', '--out', path.join('lab-results', 'short')], { maxBuffer: 16 << 20, timeout: 240_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    t.diagnostic(`${result.requests} requests, by status ${JSON.stringify(result.by_status)}, convergence p50/p99/max ${result.convergence_ms.p50}/${result.convergence_ms.p99}/${result.convergence_ms.max} ms, panics ${result.panic_events}, ${result.duration_s} s`);
    assert.equal(result.scenario, scenario);
    assert.ok(result.requests > 100, 'the load generator sent traffic');
    assert.equal(result.non_2xx, 0, `failed requests: ${JSON.stringify(result.by_status)}`);
    assert.equal(result.undead_hosts, 0);
    assert.equal(result.convergence_ms.unconverged, 0, 'every event converged');
  });
}

// The VM scenarios again with the Kubernetes-backed registry: the registry server stores hosts as RegistryHosts in
// the lab's apiserver and Herald's registry source watches them. registry-outage's faults then hit the heartbeats
// and its server process is killed for a while: every registered VM must stay in every Envoy throughout.
for (const scenario of ['hybrid-migration', 'registry-outage']) {
  test(`lab ${scenario} --short --registry kubernetes: zero failed requests, no undead or lost hosts`, async (t) => {
    const { stdout } = await run(process.execPath, [HERALD_CLI, 'lab', scenario, '--short', '--registry', 'kubernetes', '--json', '--out', path.join('lab-results', 'short')], { maxBuffer: 16 << 20, timeout: 240_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    t.diagnostic(`${result.requests} requests, by status ${JSON.stringify(result.by_status)}, convergence p50/p99/max ${result.convergence_ms.p50}/${result.convergence_ms.p99}/${result.convergence_ms.max} ms, panics ${result.panic_events}, ${result.duration_s} s`);
    assert.equal(result.scenario, scenario);
    assert.equal(result.registry, 'kubernetes');
    assert.ok(result.requests > 100, 'the load generator sent traffic');
    assert.equal(result.non_2xx, 0, `failed requests: ${JSON.stringify(result.by_status)}`);
    assert.equal(result.undead_hosts, 0);
    assert.equal(result.vm_hosts_lost, 0, 'no registered VM host left any Envoy');
    assert.equal(result.convergence_ms.unconverged, 0, 'every event converged');
    // Deregistrations reach Envoy through the watch, not the TTL (20 s in the lab).
    assert.ok(result.convergence_ms.max < 5000, `convergence max ${result.convergence_ms.max} ms`);
  });
}
