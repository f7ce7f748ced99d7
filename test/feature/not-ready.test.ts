/** Herald serves nothing until every source has synced once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdsClient, typeUrl } from '../support/ads-client';
import { startTestHerald, writeServicesFile } from '../support/herald';
import { sleep } from '../support/wait';

test('a source that never loaded keeps Herald unready and silent; the first good read starts serving', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-test-'));
  fs.writeFileSync(path.join(dir, 'services.yaml'), 'services: [ {{{');
  const h = await startTestHerald([], { dir });
  const c = new AdsClient(h.xdsPort, 'delta');
  t.after(async () => {
    c.close();
    await h.stop();
  });
  const ready = await fetch(`http://127.0.0.1:${h.adminPort}/readyz`);
  assert.equal(ready.status, 503);
  c.send({ node: { id: 'early' }, typeUrl: typeUrl('cluster') });
  await sleep(300);
  assert.equal(c.count('cluster'), 0, 'no partial mesh is pushed');
  writeServicesFile(h.servicesFile, [{ name: 'alpha', endpoints: [{ address: '10.0.0.1', port: 80 }] }]);
  const cds = await c.next('cluster');
  assert.deepEqual([...cds.resources.keys()], ['alpha.default']);
  assert.equal((await fetch(`http://127.0.0.1:${h.adminPort}/readyz`)).status, 200);
});
