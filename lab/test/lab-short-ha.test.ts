/**
 * The rollout lab's proof in the suite, part 2: a rollout, a scale-up, and Herald SIGKILLed and restarted during
 * a rollout (cp-restart) and during a rollout and a scale-up at once (kill-during-both), each in its --short form
 * with two Herald replicas: zero failed requests, and every proxy of the killed replica streams again.
 */
import { HA_SCENARIOS, shortRunTest } from './short-run';

for (const scenario of HA_SCENARIOS) shortRunTest(scenario);
