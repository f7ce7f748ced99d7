/**
 * Herald's connection honours a kubeconfig as kubectl does (src/sources/kubernetes/connect.ts), against the real
 * kube-apiserver: a client-certificate user (files, and inline data), `insecure-skip-tls-verify`, an exec plugin
 * and kubectl's `tokenFile` each let Herald's informer sync and then see a new pod; without a CA and without
 * `insecure-skip-tls-verify` the serving certificate is refused. The certificate user has only Herald's RBAC
 * (deploy/rbac.yaml's ClusterRole, bound to its group), and the apiserver names it in a 403.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { KubeApiError, startControlPlane, CERT_GROUP, CERT_USER, type ControlPlane } from '../../lab/src/kube';
import { connectKubernetes } from '../../src/sources/kubernetes/connect';
import { Informer, type KubeApi } from '../../src/sources/kubernetes/informer';
import { repoRoot } from '../support/repo';
import { testTelemetry } from '../support/telemetry';

let cp: ControlPlane;
let dir: string;

before(async () => {
  cp = await startControlPlane({ controllers: [] });
  dir = fs.mkdtempSync(path.join(cp.dataDir, 'kubeconfigs-'));
  const rbac = await cp.kubectl(['apply', '-f', path.join(repoRoot(), 'deploy', 'rbac.yaml')]);
  assert.equal(rbac.code, 0, rbac.stderr);
  await cp.client.post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'herald-cert-readers' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'herald' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: CERT_GROUP }],
  });
});

after(async () => {
  await cp?.stop();
});

/** Writes a one-context kubeconfig as YAML, the way kubectl's users write them. */
function kubeconfig(name: string, cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'lab', cluster: { server: cp.server, ...cluster } }],
      users: [{ name, user }],
      contexts: [{ name: 'ctx', context: { cluster: 'lab', user: name } }],
      'current-context': 'ctx',
    }),
  );
  return file;
}

const caData = () => ({ 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64') });
let podSeq = 0;

/**
 * Runs Herald's informer on pods through `api` until it has synced (failing on its first error), creates a pod
 * and waits until the informer delivers it.
 */
async function syncs(api: KubeApi): Promise<void> {
  const seen = new Set<string>();
  let failed: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  let onSeen = () => undefined as void;
  const informer = new Informer<string>(api, {
    name: 'kubeconfig-test',
    path: '/api/v1/namespaces/default/pods',
    transform: (raw: { metadata: { name: string } }) => raw.metadata.name,
    equal: (a, b) => a === b,
    onChanges: (changes) => {
      for (const c of changes) if (c.obj) seen.add(c.obj);
      onSeen();
    },
    onError: (err) => failed(err),
    telemetry: testTelemetry(),
  });
  informer.start();
  try {
    await Promise.race([informer.synced(), failure]);
    const name = `kc-pod-${++podSeq}`;
    const arrived = new Promise<void>((resolve) => (onSeen = () => void (seen.has(name) && resolve())));
    await cp.client.post('/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [{ name: 'c', image: 'none' }] },
    });
    await Promise.race([arrived, failure, new Promise((_, reject) => setTimeout(() => reject(new Error(`pod ${name} not seen in 10 s`)), 10_000))]);
  } finally {
    await informer.stop();
  }
}

test('a client-certificate user (certificate and key files, CA file) syncs, with Herald RBAC only', async () => {
  const file = kubeconfig('cert-files', { 'certificate-authority': cp.caFile }, { 'client-certificate': cp.clientCertFile, 'client-key': cp.clientKeyFile });
  const api = connectKubernetes(file);
  try {
    await syncs(api);
    await assert.rejects(api.get('/api/v1/namespaces/default/secrets'), (err: unknown) => {
      assert.ok(err instanceof KubeApiError && err.status === 403, String(err));
      assert.match(err.message, new RegExp(`"${CERT_USER}" cannot list`));
      return true;
    });
  } finally {
    api.close();
  }
});

test('a client-certificate user with inline data (client-certificate-data, certificate-authority-data) syncs', async () => {
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  const file = kubeconfig('cert-data', caData(), { 'client-certificate-data': b64(cp.clientCertFile), 'client-key-data': b64(cp.clientKeyFile) });
  const api = connectKubernetes(file);
  try {
    await syncs(api);
  } finally {
    api.close();
  }
});

test('insecure-skip-tls-verify: true (no CA) syncs', async () => {
  const api = connectKubernetes(kubeconfig('insecure', { 'insecure-skip-tls-verify': true }, { token: cp.token }));
  try {
    await syncs(api);
  } finally {
    api.close();
  }
});

test('without a CA and without insecure-skip-tls-verify the serving certificate is refused', async () => {
  const api = connectKubernetes(kubeconfig('no-ca', {}, { token: cp.token }));
  try {
    await assert.rejects(api.get('/api/v1/namespaces/default/pods'), /certificate/);
  } finally {
    api.close();
  }
});

test('an exec credential plugin syncs', async () => {
  const plugin = path.join(dir, 'credential-plugin.sh');
  const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: cp.token } };
  fs.writeFileSync(plugin, `#!/bin/sh\necho '${JSON.stringify(credential)}'\n`, { mode: 0o755 });
  const api = connectKubernetes(
    kubeconfig('exec', caData(), { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } }),
  );
  try {
    await syncs(api);
  } finally {
    api.close();
  }
});

test("kubectl's tokenFile (relative to the kubeconfig, trailing newline) syncs", async () => {
  fs.writeFileSync(path.join(dir, 'token'), `${cp.token}\n`, { mode: 0o600 });
  const api = connectKubernetes(kubeconfig('token-file', caData(), { tokenFile: 'token' }));
  try {
    await syncs(api);
  } finally {
    api.close();
  }
});
