/**
 * Control planes past one instance: two Herald processes' worth of servers read the same input; a real Envoy
 * bootstrapped with both streams from one. When that one dies, Envoy keeps serving, moves to the other, and the
 * next edit reaches it through the survivor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend } from '../support/backends';
import { startTestEnvoy } from '../support/envoy';
import { startTestHerald, type ServiceSpec, type TestHerald } from '../support/herald';
import { waitFor } from '../support/wait';

for (const protocol of ['sotw', 'delta'] as const) {
  test(`two Herald instances (${protocol}): Envoy fails over to the survivor and keeps converging`, async (t) => {
    const [b1, b2] = await Promise.all([startBackend('b1'), startBackend('b2')]);
    const web = (port: number): ServiceSpec[] => [{ name: 'web', endpoints: [{ address: '127.0.0.1', port }] }];
    const first = await startTestHerald(web(b1!.port));
    // The second instance reads the same services file, as replicas read the same Kubernetes API.
    const second = await startTestHerald([], { dir: first.dir });
    const envoy = await startTestEnvoy({ xdsPort: first.xdsPort, moreXdsPorts: [second.xdsPort], protocol, nodeId: `ha-${protocol}` });
    const heralds = [first, second];
    t.after(async () => {
      await envoy.stop();
      for (const h of heralds) await h.stop();
      await b1!.close();
      await b2!.close();
    });
    await waitFor('traffic through Envoy', async () => (await envoy.get('web')).backend === 'b1');
    const connected = async (h: TestHerald) => ((await h.adminGet('/proxies')).proxies as any[]).some((p) => p.nodeId === `ha-${protocol}`);
    const serving = await waitFor('Envoy streaming from one instance', async () => ((await connected(first)) ? first : (await connected(second)) ? second : undefined));
    const survivor = serving === first ? second : first;

    await serving.stop();
    for (let i = 0; i < 5; i++) assert.equal((await envoy.get('web')).backend, 'b1', 'serving while its instance is gone');
    await waitFor('Envoy to stream from the survivor', () => connected(survivor), 20_000, 100);
    survivor.writeServices(web(b2!.port));
    await waitFor('an edit to reach Envoy through the survivor', async () => (await envoy.get('web')).backend === 'b2', 10_000);
  });
}
