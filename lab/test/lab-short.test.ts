/**
 * The rollout lab's proof in the suite, part 1: the scenarios that are not about Herald's replicas, each in its
 * --short form with two Herald replicas (short-run.ts). Part 2, lab-short-ha.test.ts, has the deployment and
 * kill scenarios.
 */
import { listScenarios } from '../src/runner/scenario';
import { HA_SCENARIOS, NOT_IN_SUITE, shortRunTest } from './short-run';

for (const scenario of listScenarios()) if (!HA_SCENARIOS.includes(scenario) && !NOT_IN_SUITE.has(scenario)) shortRunTest(scenario);
