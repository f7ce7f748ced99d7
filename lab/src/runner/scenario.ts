/**
 * Lab scenarios: named, documented YAML files under lab/scenarios/. A scenario sets the sizes (app replicas,
 * client Envoys, request rate, termination timings) and a list of steps; `short:` holds overrides for the quick
 * form the test suite runs. Parsing validates every field with path-prefixed errors.
 *
 *   name: scale-down
 *   description: 40 → 4 pods in one step
 *   app: { replicas: 40, terminationGracePeriodSeconds: 10, preStopSeconds: 2, drainMs: 500 }
 *   clients: { envoys: 3, rps: 50 }
 *   vms: 0
 *   steps:
 *     - { scale: 4 }
 *     - { sleep: 5 }
 *   short: { app: { replicas: 8 }, steps: [ { scale: 2 }, { sleep: 3 } ] }
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Problems, int, isObject, noUnknownKeys, str } from '../../../src/config/validate';
import type { RegistryFault } from '../registry-faults';

export interface AppSpec {
  readonly replicas: number;
  readonly terminationGracePeriodSeconds: number;
  /** preStop sleep: the pod keeps serving this long after its deletionTimestamp before SIGTERM. */
  readonly preStopSeconds: number;
  /** After SIGTERM the backend keeps serving this long, then exits. */
  readonly drainMs: number;
  readonly maxSurge: string;
  readonly maxUnavailable: string;
}

export type Step =
  | { readonly scale: number }
  | { readonly rollout: number }
  /** Start a scale or one rollout and go on at once (the next steps run while it proceeds). */
  | { readonly scaleAsync: number }
  | { readonly rolloutAsync: true }
  /** Wait until the Deployment is complete: every pod updated and ready, none terminating. */
  | { readonly waitReady: true }
  | { readonly sleep: number }
  | { readonly killHerald: true }
  | { readonly startHerald: true }
  | { readonly registryFault: RegistryFault }
  | { readonly stopApiserver: true }
  | { readonly startApiserver: true }
  | { readonly migrateVms: true };

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly app: AppSpec;
  readonly clients: { readonly envoys: number; readonly rps: number };
  /** VM hosts registered in the legacy registry for the service before the steps run. */
  readonly vms: number;
  readonly steps: readonly Step[];
}

const DEFAULT_APP: AppSpec = { replicas: 4, terminationGracePeriodSeconds: 10, preStopSeconds: 2, drainMs: 500, maxSurge: '25%', maxUnavailable: '0' };
const STEP_KEYS = ['scale', 'rollout', 'scaleAsync', 'rolloutAsync', 'waitReady', 'sleep', 'killHerald', 'startHerald', 'registryFault', 'stopApiserver', 'startApiserver', 'migrateVms'] as const;
const FAULTS: readonly RegistryFault[] = ['none', 'error', 'empty', 'garbage'];

export function scenarioDir(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'lab', 'scenarios');
    if (fs.existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('lab/scenarios not found');
    dir = up;
  }
}

export function listScenarios(): string[] {
  return fs.readdirSync(scenarioDir()).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();
}

function parseApp(raw: unknown, p: Problems, base: AppSpec, where: string): AppSpec {
  if (raw === undefined) return base;
  if (!isObject(raw)) {
    p.add(where, 'must be a mapping');
    return base;
  }
  noUnknownKeys(raw, Object.keys(DEFAULT_APP), where, p);
  return {
    replicas: int(raw, 'replicas', where, p, 0, 200, base.replicas),
    terminationGracePeriodSeconds: int(raw, 'terminationGracePeriodSeconds', where, p, 0, 600, base.terminationGracePeriodSeconds),
    preStopSeconds: int(raw, 'preStopSeconds', where, p, 0, 600, base.preStopSeconds),
    drainMs: int(raw, 'drainMs', where, p, 0, 600_000, base.drainMs),
    maxSurge: raw.maxSurge === undefined ? base.maxSurge : String(raw.maxSurge),
    maxUnavailable: raw.maxUnavailable === undefined ? base.maxUnavailable : String(raw.maxUnavailable),
  };
}

function parseSteps(raw: unknown, p: Problems, where: string): Step[] {
  if (!Array.isArray(raw)) {
    p.add(where, 'must be a list of steps');
    return [];
  }
  return raw.flatMap((s, i): Step[] => {
    const sp = `${where}[${i}]`;
    if (!isObject(s) || Object.keys(s).length !== 1) {
      p.add(sp, `must be a mapping with exactly one of ${STEP_KEYS.join(', ')}`);
      return [];
    }
    const [key, value] = Object.entries(s)[0]!;
    switch (key) {
      case 'scale':
      case 'scaleAsync':
      case 'rollout':
      case 'sleep':
        return [{ [key]: int(s, key, sp, p, key === 'rollout' ? 1 : 0, 600) } as Step];
      case 'registryFault':
        if (!FAULTS.includes(value as RegistryFault)) {
          p.add(`${sp}.registryFault`, `must be one of ${FAULTS.join(', ')}`);
          return [];
        }
        return [{ registryFault: value as RegistryFault }];
      case 'rolloutAsync':
      case 'waitReady':
      case 'killHerald':
      case 'startHerald':
      case 'stopApiserver':
      case 'startApiserver':
      case 'migrateVms':
        return [{ [key]: true } as Step];
      default:
        p.add(`${sp}.${key}`, `unknown step (expected one of ${STEP_KEYS.join(', ')})`);
        return [];
    }
  });
}

/** Parses a scenario document; `short` applies the document's `short:` overrides. Throws listing every problem. */
export function parseScenario(text: string, short: boolean): Scenario {
  const doc: unknown = parseYaml(text);
  const p = new Problems();
  if (!isObject(doc)) throw new Error('scenario: (root): must be a mapping');
  noUnknownKeys(doc, ['name', 'description', 'app', 'clients', 'vms', 'steps', 'short'], '(root)', p);
  const name = str(doc, 'name', '(root)', p);
  const description = str(doc, 'description', '(root)', p);
  let app = parseApp(doc.app, p, DEFAULT_APP, 'app');
  const clientsRaw = isObject(doc.clients) ? doc.clients : {};
  let clients = { envoys: int(clientsRaw, 'envoys', 'clients', p, 1, 10, 3), rps: int(clientsRaw, 'rps', 'clients', p, 1, 1000, 50) };
  let vms = int(doc, 'vms', '(root)', p, 0, 50, 0);
  let steps = parseSteps(doc.steps, p, 'steps');
  if (short && doc.short !== undefined) {
    if (!isObject(doc.short)) p.add('short', 'must be a mapping');
    else {
      const s = doc.short;
      noUnknownKeys(s, ['app', 'clients', 'vms', 'steps'], 'short', p);
      app = parseApp(s.app, p, app, 'short.app');
      if (isObject(s.clients)) clients = { envoys: int(s.clients, 'envoys', 'short.clients', p, 1, 10, clients.envoys), rps: int(s.clients, 'rps', 'short.clients', p, 1, 1000, clients.rps) };
      vms = int(s, 'vms', 'short', p, 0, 50, vms);
      if (s.steps !== undefined) steps = parseSteps(s.steps, p, 'short.steps');
    }
  }
  if (!p.ok) throw new Error(`scenario ${name || '?'} has ${p.list.length} problem(s):\n  ${p.list.join('\n  ')}`);
  return { name, description, app, clients, vms, steps };
}

export function loadScenario(nameOrPath: string, short: boolean): Scenario {
  const file = nameOrPath.endsWith('.yaml') ? nameOrPath : path.join(scenarioDir(), `${nameOrPath}.yaml`);
  if (!fs.existsSync(file)) throw new Error(`no scenario ${JSON.stringify(nameOrPath)}; known: ${listScenarios().join(', ')}`);
  return parseScenario(fs.readFileSync(file, 'utf8'), short);
}
