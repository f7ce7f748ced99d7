/**
 * `herald lab <scenario|all> [--mode M|all] [--replicas N] [--registry sqlite|kubernetes] [--node lab|real] [--short] [--json] [--out DIR]`:
 * runs rollout-lab scenarios on this machine (real control plane, lab kubelet or a real node, Herald replicas, client Envoys, load) and
 * prints a result table; with --json the last line of stdout is one JSON object (an array when several runs were
 * asked for).
 */
import { parseArgs } from 'node:util';
import { listScenarios, loadScenario } from './runner/scenario';
import { LAB_MODES, LAB_NODES, LAB_REGISTRIES, LAB_TOPOLOGY, type LabMode, type LabNode, type LabRegistry } from './runner/environment';
import { realNodeRefusal, runScenario, type LabResult } from './runner/run';
import { restartBench } from './runner/restart-bench';
import { leave } from './leave';

export const LAB_USAGE = `usage: herald lab <scenario|all> [--mode ${LAB_MODES.join('|')}|all] [--replicas N] [--max-stream-age S] [--registry ${LAB_REGISTRIES.join('|')}] [--node ${LAB_NODES.join('|')}] [--short] [--json] [--out DIR]
  --replicas N          Herald processes, every client Envoy bootstrapped with all (default ${LAB_TOPOLOGY.replicas}, as deployed; 1 shows what one instance costs)
  --max-stream-age S    Herald's xds.maxStreamAgeSeconds (default ${LAB_TOPOLOGY.maxStreamAgeSeconds} in the lab, so a run shows streams rebalancing; 0: never)
  --registry R          the VM registry's storage: sqlite (default; Herald's registry source polls it over HTTP) or
                        kubernetes (RegistryHost resources in the lab's apiserver, watched by Herald's registry source)
  --node N              lab (default): the lab kubelet runs each pod as a backend process; real: a real node
                        (containerd, kubelet, kube-proxy in a network namespace; root, \`make node kube\`) runs the
                        lab backend image (built by images/build.sh); scenarios with VMs, registry faults or an
                        apiserver outage are lab-only (docs/lab/real-node.md)
scenarios: ${'{scenarios}'}
       herald lab restart-bench [--pods N] [--services S] [--restarts R] [--json]
  how long a restarted Herald takes to serve (/readyz 200) with N ready pods (default 10000) in the real apiserver
`;

function table(results: readonly LabResult[]): string {
  const head = ['scenario', 'mode', 'registry', 'node', 'replicas', 'requests', 'non_2xx', 'conv p50', 'conv p99', 'conv max', 'undead', 'vm lost', 'panics', 'reconnect p50', 'reconnect max', 'restart ms', 'secs'];
  const rows = results.map((r) =>
    [
      r.scenario,
      r.mode,
      r.registry,
      r.node,
      r.replicas,
      r.requests,
      r.non_2xx,
      r.convergence_ms.p50,
      r.convergence_ms.p99,
      r.convergence_ms.max,
      r.undead_hosts,
      r.vm_hosts_lost,
      r.panic_events,
      r.reconnect_ms.samples.length ? r.reconnect_ms.p50 : '-',
      r.reconnect_ms.samples.length ? r.reconnect_ms.max : '-',
      r.restart_ms.length ? r.restart_ms.join('/') : '-',
      r.duration_s,
    ].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}

export async function lab(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      mode: { type: 'string', default: 'pods-draining' },
      replicas: { type: 'string', default: String(LAB_TOPOLOGY.replicas) },
      'max-stream-age': { type: 'string', default: String(LAB_TOPOLOGY.maxStreamAgeSeconds) },
      registry: { type: 'string', default: 'sqlite' },
      node: { type: 'string', default: 'lab' },
      short: { type: 'boolean' },
      json: { type: 'boolean' },
      out: { type: 'string', default: 'lab-results' },
      help: { type: 'boolean', short: 'h' },
      pods: { type: 'string', default: '10000' },
      services: { type: 'string', default: '100' },
      restarts: { type: 'string', default: '5' },
    },
  });
  const usage = LAB_USAGE.replace('{scenarios}', listScenarios().join(', '));
  if (values.help || positionals.length !== 1) {
    process.stdout.write(usage);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  // The lab's own informers (its kubelet, its convergence tracker) log at `error` unless HERALD_LOG_LEVEL says
  // otherwise (telemetry.ts).
  const log = (m: string) => process.stderr.write(`[lab ${new Date().toISOString().slice(11, 23)}] ${m}\n`);
  if (positionals[0] === 'restart-bench') {
    const int = (flag: 'pods' | 'services' | 'restarts', min: number, max: number): number => {
      const v = values[flag]!;
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`--${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
      return Number(v);
    };
    const r = await restartBench({ pods: int('pods', 1, 65_000), services: int('services', 1, 10_000), restarts: int('restarts', 1, 50), log });
    process.stdout.write(`${r.pods} pods in ${r.services} services: created ${r.create_per_s}/s, made ready ${r.status_per_s}/s; Herald start → /readyz 200: ${r.start_ms.join(', ')} ms (first cold); restart p50 ${r.restart_ms.p50} ms, max ${r.restart_ms.max} ms; ${r.endpoints_served} endpoints served\n`);
    if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
    leave(log);
    return;
  }
  const names = positionals[0] === 'all' ? listScenarios() : [positionals[0]!];
  const modes: LabMode[] = values.mode === 'all' ? [...LAB_MODES] : [values.mode as LabMode];
  if (!modes.every((m) => LAB_MODES.includes(m))) throw new Error(`--mode must be one of ${LAB_MODES.join(', ')}, all`);
  const replicas = Number(values.replicas);
  if (!/^\d+$/.test(values.replicas!) || replicas < 1 || replicas > 5) throw new Error(`--replicas must be an integer from 1 to 5 (got ${JSON.stringify(values.replicas)})`);
  const maxStreamAgeSeconds = Number(values['max-stream-age']);
  if (!/^\d+$/.test(values['max-stream-age']!) || maxStreamAgeSeconds > 86_400) throw new Error(`--max-stream-age must be an integer from 0 to 86400 (got ${JSON.stringify(values['max-stream-age'])})`);
  const topology = { replicas, maxStreamAgeSeconds };
  const registry = values.registry as LabRegistry;
  if (!LAB_REGISTRIES.includes(registry)) throw new Error(`--registry must be one of ${LAB_REGISTRIES.join(', ')} (got ${JSON.stringify(values.registry)})`);
  const node = values.node as LabNode;
  if (!LAB_NODES.includes(node)) throw new Error(`--node must be one of ${LAB_NODES.join(', ')} (got ${JSON.stringify(values.node)})`);
  const scenarios = names.map((name) => loadScenario(name, values.short === true));
  if (node === 'real') {
    // Refuse before anything starts; with `all`, run what the real node can.
    const refusals = scenarios.map(realNodeRefusal);
    if (names.length === 1 && refusals[0]) throw new Error(refusals[0]);
    for (const r of refusals) if (r) log(`skipped: ${r}`);
    scenarios.splice(0, scenarios.length, ...scenarios.filter((_, i) => !refusals[i]));
  }
  const results: LabResult[] = [];
  for (const scenario of scenarios) {
    for (const mode of modes) {
      log(`${scenario.name} (${mode}, ${replicas} Herald replica${replicas === 1 ? '' : 's'}${registry === 'sqlite' ? '' : `, registry ${registry}`}${node === 'lab' ? '' : ', real node'}${values.short ? ', short' : ''}): ${scenario.description}`);
      const r = await runScenario(scenario, mode, { outDir: values.out!, log, topology, registry, node });
      results.push(r);
      log(`${r.scenario} (${r.mode}): ${r.requests} requests, ${r.non_2xx} non-2xx ${JSON.stringify(r.by_status)}, chart ${r.chart}`);
    }
  }
  process.stdout.write(table(results) + '\n');
  if (values.json) process.stdout.write(JSON.stringify(results.length === 1 ? results[0] : results) + '\n');
  leave(log);
}

