/**
 * Lab scenarios: named, documented YAML files under lab/scenarios/. A scenario sets the sizes (app replicas,
 * client Envoys, request rate, termination timings) and a list of steps; `short:` holds overrides for the quick
 * form the test suite runs. The zod schema below validates every field (path-prefixed errors, unknown keys
 * refused) and is the one place for the defaults; the types are derived from it.
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
import { z } from 'zod';
import { type DeepReadonly, intIn, nonEmptyString, oneOf, problemsOf, strict } from '../../../src/config/schema';
import type { RegistryFault } from '../registry-faults';

/** A Deployment's surge or unavailability: a number of pods or a percentage (`25%`). */
const podCount = () => z.union([z.string(), z.number()], { error: 'must be a number of pods or a percentage like 25%' }).transform(String);

const APP = {
  replicas: intIn(0, 200),
  terminationGracePeriodSeconds: intIn(0, 600),
  /** preStop sleep: the pod keeps serving this long after its deletionTimestamp before SIGTERM. */
  preStopSeconds: intIn(0, 600),
  /** After SIGTERM the backend keeps serving this long, then exits. */
  drainMs: intIn(0, 600_000),
  maxSurge: podCount(),
  maxUnavailable: podCount(),
};
const CLIENTS = { envoys: intIn(1, 10), rps: intIn(1, 1000) };
const VMS = intIn(0, 50);

const FLAG = z.literal(true, { error: 'must be true' });
const seconds = (min: number) => intIn(min, 600);
const FAULTS = ['none', 'error', 'empty', 'garbage'] as const satisfies readonly RegistryFault[];

/** Every step: its key and its value. */
const STEPS = {
  scale: seconds(0),
  rollout: seconds(1),
  /** Start a scale or one rollout and go on at once (the next steps run while it proceeds). */
  scaleAsync: seconds(0),
  rolloutAsync: FLAG,
  /** Wait until the Deployment is complete: every pod updated and ready, none terminating. */
  waitReady: FLAG,
  sleep: seconds(0),
  killHerald: FLAG,
  startHerald: FLAG,
  registryFault: oneOf(FAULTS),
  /** SIGKILL Herald's registry server process / start it again (same port, same storage). */
  stopRegistry: FLAG,
  startRegistry: FLAG,
  stopApiserver: FLAG,
  startApiserver: FLAG,
  migrateVms: FLAG,
};
type StepKey = keyof typeof STEPS;
/** One step: a mapping with exactly one of the STEPS keys. */
export type Step = { [K in StepKey]: { readonly [P in K]: z.output<(typeof STEPS)[P]> } }[StepKey];

const EXACTLY_ONE = `must be a mapping with exactly one of ${Object.keys(STEPS).join(', ')}`;
const STEP = strict(
  Object.fromEntries(Object.entries(STEPS).map(([k, v]) => [k, v.optional()])) as { [K in StepKey]: z.ZodOptional<(typeof STEPS)[K]> },
  { what: 'step', notMapping: EXACTLY_ONE },
)
  .check((ctx) => {
    if (Object.keys(ctx.value).length !== 1) ctx.issues.push({ code: 'custom', message: EXACTLY_ONE, input: ctx.value });
  })
  .transform((s) => s as Step);
const STEP_LIST = z.array(STEP, { error: 'must be a list of steps' });

const SCENARIO = strict({
  name: nonEmptyString(),
  description: nonEmptyString(),
  app: strict({
    replicas: APP.replicas.default(4),
    terminationGracePeriodSeconds: APP.terminationGracePeriodSeconds.default(10),
    preStopSeconds: APP.preStopSeconds.default(2),
    drainMs: APP.drainMs.default(500),
    maxSurge: APP.maxSurge.default('25%'),
    maxUnavailable: APP.maxUnavailable.default('0'),
  }).prefault({}),
  clients: strict({ envoys: CLIENTS.envoys.default(3), rps: CLIENTS.rps.default(50) }).prefault({}),
  /** VM hosts registered in the legacy registry for the service before the steps run. */
  vms: VMS.default(0),
  steps: STEP_LIST,
  /** Overrides for the quick form the test suite runs, laid over the fields above. */
  short: strict({
    app: strict(APP).partial().optional(),
    clients: strict(CLIENTS).partial().optional(),
    vms: VMS.optional(),
    steps: STEP_LIST.optional(),
  }).optional(),
});

export type Scenario = DeepReadonly<Omit<z.output<typeof SCENARIO>, 'short'>>;
export type AppSpec = Scenario['app'];

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

/** Parses a scenario document; `short` applies the document's `short:` overrides. Throws listing every problem. */
export function parseScenario(text: string, short: boolean): Scenario {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`scenario: yaml: ${(err as Error).message}`);
  }
  const r = SCENARIO.safeParse(doc);
  if (!r.success) {
    const name = (doc as { name?: unknown } | null)?.name;
    const problems = problemsOf(r.error.issues);
    throw new Error(`scenario ${typeof name === 'string' && name ? name : '?'} has ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  }
  const { short: s, ...full } = r.data;
  if (!short || !s) return full;
  return { ...full, app: { ...full.app, ...s.app }, clients: { ...full.clients, ...s.clients }, vms: s.vms ?? full.vms, steps: s.steps ?? full.steps };
}

export function loadScenario(nameOrPath: string, short: boolean): Scenario {
  const file = nameOrPath.endsWith('.yaml') ? nameOrPath : path.join(scenarioDir(), `${nameOrPath}.yaml`);
  if (!fs.existsSync(file)) throw new Error(`no scenario ${JSON.stringify(nameOrPath)}; known: ${listScenarios().join(', ')}`);
  return parseScenario(fs.readFileSync(file, 'utf8'), short);
}
