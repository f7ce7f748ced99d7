/**
 * `herald lab <scenario|all> [--mode M|all] [--registry sqlite|kubernetes] [--short] [--json] [--out DIR]`: runs rollout-lab scenarios on this
 * machine (real control plane, lab kubelet, Herald, client Envoys, load) and prints a result table; with --json
 * the last line of stdout is one JSON object (an array when several runs were asked for).
 */
import { parseArgs } from 'node:util';
import { listScenarios, loadScenario } from './runner/scenario';
import { LAB_MODES, LAB_REGISTRIES, type LabMode, type LabRegistry } from './runner/environment';
import { runScenario, type LabResult } from './runner/run';
import { setLogLevel } from '../../src/log/log';

export const LAB_USAGE = `usage: herald lab <scenario|all> [--mode ${LAB_MODES.join('|')}|all] [--registry ${LAB_REGISTRIES.join('|')}] [--short] [--json] [--out DIR]
  --registry  the VM registry's storage: sqlite (default; Herald's registry source polls it over HTTP) or
              kubernetes (RegistryHost resources in the lab's apiserver, watched by Herald's registry source)
scenarios: ${'{scenarios}'}
`;

function table(results: readonly LabResult[]): string {
  const head = ['scenario', 'mode', 'registry', 'requests', 'non_2xx', 'conv p50', 'conv p99', 'conv max', 'undead', 'panics', 'secs'];
  const rows = results.map((r) => [r.scenario, r.mode, r.registry, r.requests, r.non_2xx, r.convergence_ms.p50, r.convergence_ms.p99, r.convergence_ms.max, r.undead_hosts, r.panic_events, r.duration_s].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}

export async function lab(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { mode: { type: 'string', default: 'pods-draining' }, registry: { type: 'string', default: 'sqlite' }, short: { type: 'boolean' }, json: { type: 'boolean' }, out: { type: 'string', default: 'lab-results' }, help: { type: 'boolean', short: 'h' } },
  });
  const usage = LAB_USAGE.replace('{scenarios}', listScenarios().join(', '));
  if (values.help || positionals.length !== 1) {
    process.stdout.write(usage);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  // The lab's own informers (its kubelet, its convergence tracker) log as Herald does; their recoveries during an
  // outage scenario are expected, so only errors show unless HERALD_LOG_LEVEL says otherwise.
  if (!process.env.HERALD_LOG_LEVEL) setLogLevel('error');
  const names = positionals[0] === 'all' ? listScenarios() : [positionals[0]!];
  const modes: LabMode[] = values.mode === 'all' ? [...LAB_MODES] : [values.mode as LabMode];
  if (!modes.every((m) => LAB_MODES.includes(m))) throw new Error(`--mode must be one of ${LAB_MODES.join(', ')}, all`);
  const registry = values.registry as LabRegistry;
  if (!LAB_REGISTRIES.includes(registry)) throw new Error(`--registry must be one of ${LAB_REGISTRIES.join(', ')}`);
  const results: LabResult[] = [];
  const log = (m: string) => process.stderr.write(`[lab ${new Date().toISOString().slice(11, 23)}] ${m}\n`);
  for (const name of names) {
    const scenario = loadScenario(name, values.short === true);
    for (const mode of modes) {
      log(`${scenario.name} (${mode}${registry === 'sqlite' ? '' : `, registry ${registry}`}${values.short ? ', short' : ''}): ${scenario.description}`);
      const r = await runScenario(scenario, mode, { outDir: values.out!, log, registry });
      results.push(r);
      log(`${r.scenario} (${r.mode}): ${r.requests} requests, ${r.non_2xx} non-2xx ${JSON.stringify(r.by_status)}, chart ${r.chart}`);
    }
  }
  process.stdout.write(table(results) + '\n');
  if (values.json) process.stdout.write(JSON.stringify(results.length === 1 ? results[0] : results) + '\n');
}
