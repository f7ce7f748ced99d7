/**
 * Real Envoy, bootstrapped by the real `herald bootstrap` command, started before Herald: its /ready (admin,
 * and the readiness listener a kubelet probes) stays non-200 while Herald is down, and still while Herald is up
 * and connected but not synced (nothing is served before every source has synced), and turns 200 only once
 * Herald has configured it. This is what makes a native sidecar's startupProbe hold the app back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { startEnvoy } from '../../lab/src/envoy/process';
import { startBackend } from '../support/backends';
import { httpRequest } from '../support/envoy';
import { startTestHerald, writeServicesFile, type TestHerald } from '../support/herald';
import { freePort } from '../support/ports';
import { repoRoot } from '../support/repo';
import { sleep, waitFor } from '../support/wait';

/** /ready through the readiness listener: the status, or 'refused'. */
async function probe(port: number): Promise<number | 'refused'> {
  try {
    return (await httpRequest(port, '/ready')).status;
  } catch (err) {
    if (/ECONNREFUSED/.test((err as Error).message)) return 'refused';
    throw err;
  }
}

test('/ready stays non-200 until Herald has configured Envoy (Herald down, then up but unsynced)', async (t) => {
  const [xdsPort, adminPort, readyPort, egressPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'bootstrap', '--xds', `127.0.0.1:${xdsPort}`, '--admin-port', String(adminPort), '--ready-port', String(readyPort)], {
    env: { ...process.env, POD_NAME: 'web-1', POD_NAMESPACE: 'shop', HERALD_ZONE: 'a', HERALD_EGRESS: `127.0.0.1:${egressPort}` },
  });
  const bootstrap = JSON.parse(stdout);
  assert.equal(bootstrap.node.id, 'web-1.shop');
  // --yaml and --out give the same bootstrap (Envoy reads either); Envoy below runs the JSON one.
  const outFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'herald-bootstrap-')), 'bootstrap.yaml');
  await promisify(execFile)(process.execPath, [cli, 'bootstrap', '--yaml', '--out', outFile, '--xds', `127.0.0.1:${xdsPort}`, '--admin-port', String(adminPort), '--ready-port', String(readyPort)], {
    env: { ...process.env, POD_NAME: 'web-1', POD_NAMESPACE: 'shop', HERALD_ZONE: 'a', HERALD_EGRESS: `127.0.0.1:${egressPort}` },
  });
  assert.deepEqual(parseYaml(fs.readFileSync(outFile, 'utf8')), bootstrap);
  fs.rmSync(path.dirname(outFile), { recursive: true, force: true });
  const web = await startBackend('web-1');
  const envoy = await startEnvoy({ adminPort, bootstrap });
  let h: TestHerald | undefined;
  t.after(async () => {
    await envoy.stop();
    await h?.stop();
    await web.close();
  });
  const t0 = Date.now();

  // Herald is not running.
  for (let i = 0; i < 10; i++) {
    assert.notEqual((await envoy.admin('/ready')).status, 200, 'not ready without Herald');
    assert.equal(await probe(readyPort), 'refused', 'the readiness listener is not even open');
    await sleep(300);
  }

  // Herald is up, Envoy connects, but Herald's source has not synced (its file is broken): still not ready.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-ready-'));
  fs.writeFileSync(path.join(dir, 'services.yaml'), 'services: [ {{{');
  h = await startTestHerald([], { dir, xdsPort });
  const herald = h;
  await waitFor('Envoy connected to the unsynced Herald', async () => (await herald.adminGet('/proxies')).proxies.some((p: any) => p.nodeId === 'web-1.shop'), 20_000, 100);
  const connectedMs = Date.now() - t0;
  for (let i = 0; i < 6; i++) {
    assert.notEqual((await envoy.admin('/ready')).status, 200, 'connected but not configured: not ready');
    assert.equal(await probe(readyPort), 'refused');
    await sleep(250);
  }

  // The source syncs: Herald serves, Envoy is configured, /ready turns 200.
  const synced = Date.now();
  // In the proxy's namespace (POD_NAMESPACE shop), so the short name `web` is this service.
  writeServicesFile(h.servicesFile, [{ name: 'shop/web', endpoints: [{ address: '127.0.0.1', port: web.port, zone: 'a' }] }]);
  await waitFor('/ready 200', async () => (await envoy.admin('/ready')).status === 200, 10_000, 10);
  const readyMs = Date.now() - synced;
  const viaListener = await httpRequest(readyPort, '/ready');
  assert.equal(viaListener.status, 200);
  assert.equal(viaListener.body.trim(), 'LIVE');
  assert.equal((await httpRequest(readyPort, '/stats')).status, 404, 'the readiness listener exposes /ready only');
  const first = await httpRequest(egressPort, '/', { host: 'web' });
  assert.equal(first.backend, 'web-1', 'ready means routable: the first request succeeds');
  t.diagnostic(`Envoy connected ${connectedMs} ms after its start (Herald started ~3 s in; xDS retry back-off); source synced → /ready 200 in ${readyMs} ms`);
});
