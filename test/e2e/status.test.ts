/**
 * `herald status` and `herald config` against a Herald with two real Envoys: both SYNCED; an invalid resource makes
 * one NACK, status shows the message and exits 1; a stopped Envoy disappears; --json has the documented shape;
 * `herald config` shows a DRAINING endpoint after a drain and the --envoy-admin diff reports in sync.
 * Both commands run as the real CLI, in a child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { startTestEnvoy } from '../support/envoy';
import { repoRoot } from '../support/repo';
import { envoyRejectedCluster } from '../support/envoy-rejected';
import { waitFor } from '../support/wait';

const CLI = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

function herald(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const web = (health = 'HEALTHY'): ServiceSpec[] => [
  {
    name: 'web',
    endpoints: [
      { address: '127.0.0.1', port: 9, zone: 'z1', health },
      { address: '127.0.0.2', port: 9, zone: 'z1' },
    ],
  },
];

test('herald status and herald config with two real Envoys (one SotW, one Delta)', async (t) => {
  const h = await startTestHerald(web());
  const sotw = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'sotw', nodeId: 'envoy-sotw', zone: 'z1' });
  const delta = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'delta', nodeId: 'envoy-delta', zone: 'z1' });
  t.after(async () => {
    await sotw.stop();
    await delta.stop();
    await h.stop();
  });
  const admin = `http://127.0.0.1:${h.adminPort}`;

  // Both SYNCED on every type, in the table and in --json (the documented shape).
  const synced = await waitFor('both Envoys SYNCED on CDS, EDS, LDS and RDS', async () => {
    const r = await herald(['status', '--admin', admin, '--json']);
    const body = JSON.parse(r.stdout);
    const ok = body.proxies.length === 2 && body.proxies.every((p: any) => ['CDS', 'EDS', 'LDS', 'RDS'].every((k) => p.types[k]?.state === 'SYNCED'));
    return ok && r.code === 0 ? body : undefined;
  });
  assert.deepEqual(Object.keys(synced).sort(), ['problems', 'proxies', 'replicas']);
  assert.deepEqual(synced.replicas, [{ admin, ready: true }]);
  for (const p of synced.proxies) {
    assert.deepEqual(Object.keys(p).sort(), ['connectedAt', 'nodeId', 'peer', 'protocol', 'replica', 'service', 'streamId', 'types', 'view']);
    for (const t of Object.values(p.types) as any[]) {
      assert.equal(typeof t.version, 'string');
      assert.equal(t.behind, 0);
    }
  }
  assert.deepEqual(synced.proxies.map((p: any) => [p.nodeId, p.protocol]), [['envoy-delta', 'delta'], ['envoy-sotw', 'sotw']]);
  const table = await herald(['status', '--admin', admin]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^NODE\s+SERVICE\s+PROTO\s+VIEW\s+CONNECTED\s+CDS\s+EDS\s+LDS\s+RDS/);
  assert.match(table.stdout, /envoy-sotw .*SYNCED\s+SYNCED\s+SYNCED\s+SYNCED/);

  // A drain: herald config shows the DRAINING endpoint, and Envoy holds what Herald sent (both protocols).
  h.writeServices(web('DRAINING'));
  for (const e of [sotw, delta]) {
    const node = e === sotw ? 'envoy-sotw' : 'envoy-delta';
    await waitFor(`${node} to see the endpoint DRAINING`, async () => (await e.hosts('web.default')).get('127.0.0.1:9')?.healthStatus?.eds_health_status === 'DRAINING');
    const cfg = await herald(['config', node, '--admin', admin, '--type', 'EDS', '--name', 'web.default']);
    assert.equal(cfg.code, 0, cfg.stderr);
    const sent = JSON.parse(cfg.stdout).streams[0].types.EDS;
    assert.equal(sent.length, 1);
    const lb = sent[0].resource.endpoints.flatMap((l: any) => l.lbEndpoints);
    assert.equal(lb.find((x: any) => x.endpoint.address.socketAddress.address === '127.0.0.1').healthStatus, 'DRAINING');
    const diff = await waitFor(`${node}: the --envoy-admin diff to report in sync`, async () => {
      const r = await herald(['config', node, '--admin', admin, '--envoy-admin', e.adminUrl]);
      return r.code === 0 ? JSON.parse(r.stdout) : undefined;
    });
    const rows = diff.comparisons[0].resources;
    assert.deepEqual([...new Set(rows.map((r: any) => r.type))].sort(), ['CDS', 'EDS', 'LDS', 'RDS']);
    assert.ok(rows.every((r: any) => r.sync === 'in-sync'), JSON.stringify(rows));
  }

  // An invalid resource (schema-valid, rejected by Envoy) makes the SotW Envoy NACK: status shows it and exits 1.
  const view = synced.proxies.find((p: any) => p.nodeId === 'envoy-sotw').view;
  h.cache.apply(view, envoyRejectedCluster('web.default'));
  const nacked = await waitFor('status to show the NACK', async () => {
    const r = await herald(['status', '--admin', admin, '--nack']);
    return r.code === 1 && /NACK: /.test(r.stdout) ? r : undefined;
  });
  assert.match(nacked.stdout, /envoy-sotw .*NACK: .*(timeout|greater than)/i);
  assert.doesNotMatch(nacked.stdout, /envoy-delta/, '--nack shows only the proxy that NACKed');
  assert.match(nacked.stderr, /problem: envoy-sotw CDS: NACK/);

  // A stopped Envoy disappears.
  await delta.stop();
  await waitFor('the stopped Envoy to leave the status', async () => {
    const body = JSON.parse((await herald(['status', '--admin', admin, '--json'])).stdout);
    return body.proxies.length === 1 && body.proxies[0].nodeId === 'envoy-sotw';
  });

  // Several replicas: an unreachable one is reported, the live one still answers.
  const two = await herald(['status', '--admin', `${admin},http://127.0.0.1:9`, '--json']);
  const merged = JSON.parse(two.stdout);
  assert.equal(merged.replicas.length, 2);
  assert.ok(merged.replicas[1].error, 'the unreachable replica carries its error');
  assert.equal(merged.proxies[0].replica, admin);
});
