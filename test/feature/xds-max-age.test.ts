/**
 * Maximum stream age (xds.maxStreamAgeSeconds): over real gRPC, a stream that delivered its configuration is
 * ended with status OK within its jittered age, leaves /proxies, and a new stream from the same node is served at
 * once; 0 keeps streams open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AdsClient, typeUrl } from '../support/ads-client';
import { startHerald } from '../../src/main';
import { parseConfig } from '../../src/config/config';
import { MAX_AGE_JITTER } from '../../src/xds/server';
import { writeServicesFile } from '../support/herald';
import { sleep } from '../support/wait';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';

async function herald(maxStreamAgeSeconds: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-maxage-'));
  writeServicesFile(path.join(dir, 'services.yaml'), [{ name: 'alpha', endpoints: [{ address: '10.0.0.1', port: 80 }] }]);
  const config = parseConfig(
    stringify({ xds: { address: '127.0.0.1', port: 0, maxStreamAgeSeconds }, admin: { address: '127.0.0.1', port: 0 }, sources: [{ kind: 'file', name: 'file', path: 'services.yaml' }] }),
    dir,
  );
  const running = await startHerald(config);
  const proxies = async () => ((await (await fetch(`http://127.0.0.1:${running.adminPort}/proxies`)).json()) as any).proxies as any[];
  return { running, proxies };
}

for (const protocol of ['sotw', 'delta'] as const) {
  test(`max stream age (${protocol}): the stream ends with OK within its jittered age, and the node reconnects`, async (t) => {
    const { running, proxies } = await herald(1);
    const clients: AdsClient[] = [];
    t.after(async () => {
      for (const c of clients) c.close();
      await running.stop();
    });
    const open = () => {
      const c = new AdsClient(running.xdsPort, protocol);
      clients.push(c);
      c.send(protocol === 'sotw' ? { node: { id: 'aged' }, typeUrl: typeUrl('cluster') } : { node: { id: 'aged' }, typeUrl: typeUrl('cluster'), resourceNamesSubscribe: ['*'] });
      return c;
    };
    const started = Date.now();
    const first = open();
    await first.next('cluster');
    assert.equal((await proxies()).length, 1);
    const status = await first.ended(5000);
    const age = Date.now() - started;
    assert.equal(status.code, grpc.status.OK, `ended with ${status.code} ${status.details}`);
    assert.ok(age >= 1000 * (1 - MAX_AGE_JITTER) - 50, `ended after ${age} ms, not before its age`);
    assert.ok(age <= 1000 * (1 + MAX_AGE_JITTER) + 1000, `ended after ${age} ms`);
    assert.equal((await proxies()).length, 0, 'an aged stream leaves /proxies');
    const second = open();
    await second.next('cluster', 0, 2000);
    assert.equal((await proxies()).length, 1, 'the node is served again on a new stream');
    const metrics = await (await fetch(`http://127.0.0.1:${running.adminPort}/metrics`)).text();
    assert.match(metrics, /herald_xds_streams_aged_total(\{[^}]*\})? [1-9]/);
  });
}

test('max stream age 0: streams stay open', async (t) => {
  const { running, proxies } = await herald(0);
  const c = new AdsClient(running.xdsPort, 'sotw');
  t.after(async () => {
    c.close();
    await running.stop();
  });
  c.send({ node: { id: 'forever' }, typeUrl: typeUrl('cluster') });
  await c.next('cluster');
  await sleep(1500);
  assert.equal(c.status, undefined);
  assert.equal((await proxies()).length, 1);
});
