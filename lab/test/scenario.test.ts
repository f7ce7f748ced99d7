/** Lab scenarios: every shipped scenario parses (full and short), and bad ones are refused with paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listScenarios, loadScenario, parseScenario } from '../src/runner/scenario';

test('scenarios: every scenario in lab/scenarios parses, in both forms', () => {
  const names = listScenarios();
  assert.ok(names.length >= 5, names.join(', '));
  for (const name of names) {
    for (const short of [false, true]) {
      const s = loadScenario(name, short);
      assert.equal(s.name, name, 'a scenario is named after its file');
      assert.ok(s.steps.length > 0, `${name} has steps`);
      assert.ok(s.clients.envoys >= 1 && s.app.replicas >= 0);
    }
  }
});

test('scenarios: defaults, and short overrides laid over the full form field by field', () => {
  const text = 'name: x\ndescription: d\napp: { replicas: 10, drainMs: 100 }\nsteps: [ { scale: 4 }, { waitReady: true } ]\nshort: { app: { replicas: 2 }, vms: 1 }\n';
  const full = parseScenario(text, false);
  assert.deepEqual(full.app, { replicas: 10, terminationGracePeriodSeconds: 10, preStopSeconds: 2, drainMs: 100, maxSurge: '25%', maxUnavailable: '0' });
  assert.deepEqual(full.clients, { envoys: 3, rps: 50 });
  assert.equal(full.vms, 0);
  assert.deepEqual(full.steps, [{ scale: 4 }, { waitReady: true }]);
  const short = parseScenario(text, true);
  assert.equal(short.app.replicas, 2);
  assert.equal(short.app.drainMs, 100, 'fields short leaves out come from the full form');
  assert.equal(short.vms, 1);
  assert.deepEqual(short.steps, full.steps);
  assert.equal(parseScenario('name: x\ndescription: d\napp: { maxSurge: 1, maxUnavailable: 10% }\nsteps: []\n', false).app.maxSurge, '1');
});

const bad: Record<string, { yaml: string; problem: string }> = {
  'not a mapping': { yaml: '- a', problem: '(root): must be a mapping' },
  'missing name': { yaml: 'description: d\nsteps: []', problem: 'name: must be a non-empty string' },
  'unknown top-level key': { yaml: 'name: x\ndescription: d\nsteps: []\nstep: []', problem: 'step: unknown field (expected one of name, description, app, clients, vms, steps, short)' },
  'replicas out of range': { yaml: 'name: x\ndescription: d\napp: { replicas: 500 }\nsteps: []', problem: 'app.replicas: must be an integer from 0 to 200' },
  'typo in app': { yaml: 'name: x\ndescription: d\napp: { replica: 5 }\nsteps: []', problem: 'app.replica: unknown field' },
  'typo in clients': { yaml: 'name: x\ndescription: d\nclients: { rsp: 5 }\nsteps: []', problem: 'clients.rsp: unknown field' },
  'steps missing': { yaml: 'name: x\ndescription: d', problem: 'steps: must be a list of steps' },
  'two keys in a step': { yaml: 'name: x\ndescription: d\nsteps: [ { scale: 1, sleep: 2 } ]', problem: 'steps[0]: must be a mapping with exactly one of scale, rollout' },
  'unknown step': { yaml: 'name: x\ndescription: d\nsteps: [ { scael: 1 } ]', problem: 'steps[0].scael: unknown step (expected one of scale, ' },
  'rollout zero': { yaml: 'name: x\ndescription: d\nsteps: [ { rollout: 0 } ]', problem: 'steps[0].rollout: must be an integer from 1 to 600' },
  'bad fault': { yaml: 'name: x\ndescription: d\nsteps: [ { registryFault: slow } ]', problem: 'steps[0].registryFault: must be one of none, error, empty, garbage' },
  'flag not true': { yaml: 'name: x\ndescription: d\nsteps: [ { killHerald: } ]', problem: 'steps[0].killHerald: must be true' },
  'bad short step': { yaml: 'name: x\ndescription: d\nsteps: []\nshort: { steps: [ { sleep: -1 } ] }', problem: 'short.steps[0].sleep: must be an integer from 0 to 600' },
  'broken yaml': { yaml: 'name: [', problem: 'scenario: yaml: ' },
};

for (const [name, c] of Object.entries(bad)) {
  test(`scenarios reject: ${name}`, () => {
    assert.throws(
      () => parseScenario(c.yaml, true),
      (err: Error) => {
        assert.ok(err.message.includes(c.problem), err.message);
        return true;
      },
    );
  });
}
