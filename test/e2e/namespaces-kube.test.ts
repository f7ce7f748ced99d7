/**
 * Services by namespace and scoped sidecars, against the real kube-apiserver and the lab kubelet, through real
 * Envoy: two namespaces run a Deployment with the same `app: web` label and different pods. A caller in each
 * namespace reaches its own namespace's pods by the short name `web` and the other's by `web.<namespace>`
 * (and the .svc and .svc.cluster.local forms); /services lists two services. A sidecar scoped to `team-b/web`
 * holds exactly that cluster in its /config_dump, and a change to team-a's web (out of its scope) sends it nothing:
 * its per-stream counters in /proxies stand still while an unscoped sidecar's move.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/config';
import { startHerald, type Running } from '../../src/main';
import { startTestEnvoy, type TestEnvoy } from '../support/envoy';
import { sleep, waitFor } from '../support/wait';
import { startLab, waitDeploymentReady, webApp, type Lab } from '../../lab/src/harness';
import { typeUrl } from '../support/ads-client';

let lab: Lab;
let herald: Running;
const envoys: TestEnvoy[] = [];
const NAMESPACES = ['team-a', 'team-b'];

const admin = async (p: string): Promise<any> => (await fetch(`http://127.0.0.1:${herald.adminPort}${p}`)).json();
/** The namespace of the pod that answered a request through `envoy` with this Host. */
const answeredBy = async (envoy: TestEnvoy, host: string): Promise<string | undefined> => {
  const r = await envoy.get(host);
  if (r.status !== 200) return `status ${r.status}`;
  return (JSON.parse(r.body) as { namespace: string }).namespace;
};

before(async () => {
  lab = await startLab();
  for (const ns of NAMESPACES) await lab.cp.client.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-ns-'));
  herald = await startHerald(
    parseConfig(
      stringify({
        xds: { port: 0 },
        admin: { port: 0 },
        batching: { delayMs: 50, maxDelayMs: 500 },
        sources: [{ kind: 'kubernetes', name: 'k8s', kubeconfig: lab.cp.kubeconfigPath, serviceLabel: 'app', portName: 'http', discovery: 'pods' }],
      }),
      dir,
    ),
  );
  for (const [ns, replicas] of [['team-a', 2], ['team-b', 1]] as const) {
    const r = await lab.cp.kubectl(['apply', '-n', ns, '-f', '-'], webApp('web', { replicas, terminationGracePeriodSeconds: 2 }));
    assert.equal(r.code, 0, r.stderr);
  }
  for (const [ns, replicas] of [['team-a', 2], ['team-b', 1]] as const) await waitDeploymentReady(lab.cp, 'web', replicas, 60_000, ns);
});

after(async () => {
  for (const e of envoys) await e.stop();
  await herald?.stop();
  await lab?.stop();
});

test('the same app label in two namespaces is two services; each caller reaches its own by short name, the other by name.namespace', async () => {
  await waitFor('two services in /services', async () => {
    const names = ((await admin('/services')).services as any[]).map((s) => `${s.name}:${s.endpoints.length}`).sort();
    return names.join(',') === 'team-a/web:2,team-b/web:1';
  }, 30_000);
  const inA = await startTestEnvoy({ xdsPort: herald.xdsPort, protocol: 'delta', nodeId: 'caller-a', namespace: 'team-a' });
  envoys.push(inA);
  const inB = await startTestEnvoy({ xdsPort: herald.xdsPort, protocol: 'sotw', nodeId: 'caller-b', namespace: 'team-b' });
  envoys.push(inB);
  await waitFor('team-a caller to reach web', async () => (await answeredBy(inA, 'web')) === 'team-a', 20_000);
  await waitFor('team-b caller to reach web', async () => (await answeredBy(inB, 'web')) === 'team-b', 20_000);
  for (let i = 0; i < 6; i++) {
    assert.equal(await answeredBy(inA, 'web'), 'team-a', 'short name from team-a: team-a/web');
    assert.equal(await answeredBy(inB, 'web'), 'team-b', 'short name from team-b: team-b/web');
  }
  for (const host of ['web.team-b', 'web.team-b.svc', 'web.team-b.svc.cluster.local']) assert.equal(await answeredBy(inA, host), 'team-b', `${host} from team-a`);
  for (const host of ['web.team-a', 'web.team-a.svc', 'web.team-a.svc.cluster.local']) assert.equal(await answeredBy(inB, host), 'team-a', `${host} from team-b`);
  const dump = await inA.configDump();
  const clusters = dump.configs.find((c: any) => c['@type'].endsWith('ClustersConfigDump')).dynamic_active_clusters.map((c: any) => c.cluster.name).sort();
  assert.deepEqual(clusters, ['web.team-a', 'web.team-b'], 'an unscoped sidecar gets the whole mesh');
});

test('a scoped sidecar holds exactly its declared clusters; a change to an out-of-scope service sends it nothing', async () => {
  const scoped = await startTestEnvoy({ xdsPort: herald.xdsPort, protocol: 'delta', nodeId: 'scoped-a', namespace: 'team-a', egressScope: 'team-b/web' });
  envoys.push(scoped);
  await waitFor('the scoped caller to reach team-b', async () => (await answeredBy(scoped, 'web.team-b')) === 'team-b', 20_000);
  const dump = await scoped.configDump();
  const clusters = dump.configs.find((c: any) => c['@type'].endsWith('ClustersConfigDump')).dynamic_active_clusters.map((c: any) => c.cluster.name);
  assert.deepEqual(clusters, ['web.team-b'], 'exactly the declared cluster');
  assert.equal((await scoped.get('web')).status, 404, 'team-a/web is out of scope: no route');

  const stream = async (node: string) => ((await admin('/proxies')).proxies as any[]).find((p) => p.nodeId === node);
  const counters = (p: any) => Object.fromEntries(Object.entries(p.types).map(([t, s]: [string, any]) => [t, `${s.lastSentVersion}/${s.acks}`]));
  await sleep(500);
  const scopedBefore = counters(await stream('scoped-a'));
  const unscopedBefore = await stream('caller-a');
  // An out-of-scope change: team-a's web grows by one pod.
  assert.equal((await lab.cp.kubectl(['scale', '-n', 'team-a', 'deployment/web', '--replicas=3'])).code, 0);
  await waitDeploymentReady(lab.cp, 'web', 3, 60_000, 'team-a');
  await waitFor('the unscoped caller to be sent the new endpoint', async () => {
    const p = await stream('caller-a');
    return p.types[typeUrl('endpoint')].lastSentVersion !== unscopedBefore.types[typeUrl('endpoint')].lastSentVersion;
  }, 20_000);
  await sleep(500);
  assert.deepEqual(counters(await stream('scoped-a')), scopedBefore, 'the scoped stream was sent nothing (per type: last sent version / ACKs)');
  assert.match((await stream('scoped-a')).view, /\|ns=team-a\|scope=team-b\/web$/);
});
