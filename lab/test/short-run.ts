/**
 * One lab scenario in its --short form through `herald lab --json`, with the assertions every short run shares:
 * no failed request, no undead host, every event converged, and after each Herald kill every proxy that streamed
 * from the killed replica streams again from a live one; no registered VM host missing from any Envoy (the guard
 * holds a registry answering nothing); with `--registry kubernetes` also deregistrations through the watch (not
 * the TTL). The lab-short*.test.ts files split the scenarios
 * between them so that no file runs past the runner's per-file timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadScenario } from '../src/runner/scenario';
import { HERALD_CLI } from '../src/product';

const run = promisify(execFile);

/** lab-short-ha.test.ts: the deployment and kill scenarios of issue 12 (two replicas, zero loss). */
export const HA_SCENARIOS: readonly string[] = ['rollout', 'scale-up', 'cp-restart', 'kill-during-both'];

/**
 * Left out of the suite to keep its time down, each covered by another run: kill-during-rollout by cp-restart
 * (the same kill in a rollout, a shorter outage), kill-during-scale-up by kill-during-both; rebalance shows a
 * distribution over a minute and more (docs/lab/results.md), its kill is the same as cp-restart's.
 */
export const NOT_IN_SUITE: ReadonlySet<string> = new Set(['kill-during-rollout', 'kill-during-scale-up', 'rebalance']);

/**
 * Registers the test of one scenario, in Herald's default mode (pods-draining) and the lab's default topology
 * (two replicas); `registry`: the lab's --registry (default sqlite).
 */
export function shortRunTest(scenario: string, o: { registry?: 'sqlite' | 'kubernetes' } = {}): void {
  const registry = o.registry ?? 'sqlite';
  const extra = registry === 'sqlite' ? [] : ['--registry', registry];
  test(`lab ${scenario} --short${extra.length ? ` ${extra.join(' ')}` : ''} (pods-draining, 2 Herald replicas): zero failed requests, no undead or lost hosts`, async (t) => {
    const { stdout } = await run(process.execPath, [HERALD_CLI, 'lab', scenario, '--short', ...extra, '--json', '--out', path.join('lab-results', 'short')], { maxBuffer: 16 << 20, timeout: 240_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    t.diagnostic(
      `${result.requests} requests, by status ${JSON.stringify(result.by_status)}, convergence p50/p99/max ${result.convergence_ms.p50}/${result.convergence_ms.p99}/${result.convergence_ms.max} ms, panics ${result.panic_events}, ` +
        `reconnects ${JSON.stringify(result.reconnect_ms.samples)} ms, restarts ${JSON.stringify(result.restart_ms)} ms, ${result.duration_s} s`,
    );
    assert.equal(result.scenario, scenario);
    assert.equal(result.replicas, 2, 'the lab runs two Herald replicas by default');
    assert.equal(result.registry, registry);
    assert.ok(result.requests > 100, 'the load generator sent traffic');
    assert.equal(result.non_2xx, 0, `failed requests: ${JSON.stringify(result.by_status)}`);
    assert.equal(result.undead_hosts, 0);
    assert.equal(result.convergence_ms.unconverged, 0, 'every event converged');
    assert.equal(result.vm_hosts_lost, 0, 'no registered VM host left any Envoy');
    if (registry === 'kubernetes') {
      // Deregistrations reach Envoy through the watch, not the TTL (20 s in the lab).
      assert.ok(result.convergence_ms.max < 5000, `convergence max ${result.convergence_ms.max} ms`);
    }
    const steps = loadScenario(scenario, true).steps;
    const kills = steps.filter((s) => 'killHerald' in s).length;
    if (kills > 0) {
      assert.ok(result.reconnect_ms.samples.length >= kills, `every kill left proxies to reconnect: ${JSON.stringify(result.reconnect_ms)}`);
      assert.equal(result.reconnect_ms.unreconnected, 0, 'every proxy of a killed replica streams again');
      assert.equal(result.restart_ms.length, steps.filter((s) => 'startHerald' in s).length, 'every restart timed');
    }
  });
}
