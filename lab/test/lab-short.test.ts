/**
 * The rollout lab's proof in the suite, part 1: the scenarios that are not about Herald's replicas, each in its
 * --short form with two Herald replicas (short-run.ts); and the VM scenarios again with the Kubernetes-backed
 * registry (`--registry kubernetes`). Part 2, lab-short-ha.test.ts, has the deployment and kill scenarios.
 */
import { listScenarios } from '../src/runner/scenario';
import { HA_SCENARIOS, NOT_IN_SUITE, shortRunTest } from './short-run';

for (const scenario of listScenarios()) if (!HA_SCENARIOS.includes(scenario) && !NOT_IN_SUITE.has(scenario)) shortRunTest(scenario);

// The registry server stores hosts as RegistryHosts in the lab's apiserver and every replica's registry source
// watches them. registry-outage's faults then hit the heartbeats and its server process is killed for a while:
// every registered VM must stay in every Envoy throughout.
for (const scenario of ['hybrid-migration', 'registry-outage']) shortRunTest(scenario, { registry: 'kubernetes' });
