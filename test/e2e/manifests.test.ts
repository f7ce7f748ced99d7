/**
 * The Kubernetes manifests (deploy/, deploy/example/) against the real kube-apiserver (lab/src/kube):
 * - their content holds what the design promises (least-privilege RBAC, 2+ replicas with a PDB, probes,
 *   a native Envoy sidecar gated on /ready with a draining preStop), and what they hand Herald is valid for
 *   Herald (the ConfigMap's herald.yaml, the example's herald.io annotations);
 * - `kubectl apply --dry-run=server -k` accepts both kustomizations;
 * - Herald, run with a token of the manifests' ServiceAccount and nothing else, syncs (lists and watches pods,
 *   nodes and EndpointSlices), and that account can do nothing more.
 * Skips, saying why, when the Kubernetes binaries are not built (`make kube`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { kubeBinariesPresent, kubeBinDir, startControlPlane, type ControlPlane } from '../../lab/src/kube';
import { writeKubeconfig } from '../../lab/src/kube/kubeconfig';
import { parseConfig } from '../../src/config/config';
import { startHerald } from '../../src/main';
import { parsePolicyFile } from '../../src/config/policy-file';
import { policyFromAnnotations } from '../../src/sources/kubernetes/annotations';
import { repoRoot } from '../support/repo';
import { waitFor } from '../support/wait';

const ROOT = repoRoot();
const DEPLOY = path.join(ROOT, 'deploy');
const EXAMPLE = path.join(DEPLOY, 'example');
const SA = 'system:serviceaccount:herald-system:herald';
const skip = kubeBinariesPresent() ? false : `the Kubernetes binaries are not built in ${kubeBinDir()}: run \`make kube\``;

async function kubectlOk(cp: ControlPlane, args: string[]): Promise<string> {
  const r = await cp.kubectl(args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const docsOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS());
const find = (docs: any[], kind: string, name?: string) => docs.find((d) => d.kind === kind && (!name || d.metadata.name === name));

test('manifests: content, server-side dry-run, and Herald running on exactly their RBAC', { skip, timeout: 120_000 }, async (t) => {
  const cp = await startControlPlane({ controllers: [] });
  t.after(() => cp.stop());

  // What kustomize renders.
  const herald = docsOf(await kubectlOk(cp, ['kustomize', DEPLOY]));
  const example = docsOf(await kubectlOk(cp, ['kustomize', EXAMPLE]));
  const role = find(herald, 'ClusterRole', 'herald');
  assert.deepEqual(role.rules, [
    { apiGroups: [''], resources: ['pods', 'nodes', 'services'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
  ]);
  const binding = find(herald, 'ClusterRoleBinding', 'herald');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'herald', namespace: 'herald-system' }]);
  const deployment = find(herald, 'Deployment', 'herald');
  assert.ok(deployment.spec.replicas >= 2);
  assert.equal(deployment.spec.template.spec.serviceAccountName, 'herald');
  const c = deployment.spec.template.spec.containers[0];
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.ok(find(herald, 'PodDisruptionBudget', 'herald').spec.minAvailable >= 1);
  assert.equal(find(herald, 'Service', 'herald-xds').spec.ports[0].port, 18000);
  const heraldYaml = find(herald, 'ConfigMap', 'herald-config').data['herald.yaml'];
  const config = parseConfig(heraldYaml, '/etc/herald'); // throws, listing every problem, if Herald would refuse it
  assert.equal(config.admin.address, '127.0.0.1', 'the full admin API stays inside the pod');
  assert.equal(config.probes?.address, '0.0.0.0', 'the probes listener is reachable by the kubelet');
  assert.equal(c.readinessProbe.httpGet.port, 'probes');
  assert.ok(config.xds.tls?.clientCaFile, 'xDS is served over mTLS');
  assert.equal(config.policyFile, '/etc/herald/policies.yaml');
  const policiesYaml = find(herald, 'ConfigMap', 'herald-config').data['policies.yaml'];
  assert.deepEqual(parsePolicyFile(policiesYaml).problems, [], 'the shipped policy file is valid');

  const pod = find(example, 'Deployment', 'web').spec.template;
  const envoy = pod.spec.initContainers.find((x: any) => x.name === 'envoy');
  const bootstrapStep = pod.spec.initContainers.find((x: any) => x.name === 'herald-bootstrap');
  assert.ok(pod.spec.initContainers.indexOf(bootstrapStep) < pod.spec.initContainers.indexOf(envoy), 'bootstrap written before Envoy starts');
  assert.deepEqual(bootstrapStep.args.slice(0, 1), ['bootstrap']);
  assert.equal(envoy.restartPolicy, 'Always', 'native sidecar');
  assert.equal(envoy.startupProbe.httpGet.path, '/ready');
  assert.ok(envoy.lifecycle.preStop.exec.command.join(' ').includes('/drain_listeners?graceful'));
  const policy = policyFromAnnotations(pod.metadata.annotations, 'deploy/example web');
  assert.deepEqual(policy.problems, [], 'the example annotations are valid Herald policy');
  assert.equal(policy.overrides.zoneAware, true);

  // Server-side dry-run of both kustomizations (their namespaces created for real first: a dry-run creates nothing).
  await kubectlOk(cp, ['apply', '-f', path.join(DEPLOY, 'namespace.yaml'), '-f', path.join(EXAMPLE, 'namespace.yaml')]);
  const dry = await kubectlOk(cp, ['apply', '--dry-run=server', '-k', DEPLOY]);
  for (const kind of ['serviceaccount/herald', 'clusterrole.rbac.authorization.k8s.io/herald', 'deployment.apps/herald', 'service/herald-xds', 'poddisruptionbudget.policy/herald', 'configmap/herald-config']) {
    assert.match(dry, new RegExp(`${kind.replace(/\./g, '\\.')} (created|configured|unchanged) \\(server dry run\\)`), dry);
  }
  const dryExample = await kubectlOk(cp, ['apply', '--dry-run=server', '-k', EXAMPLE]);
  assert.match(dryExample, /deployment\.apps\/web created \(server dry run\)/, dryExample);

  // Now for real (no controllers run, so no pods), and the ServiceAccount's powers: exactly the role.
  await kubectlOk(cp, ['apply', '-k', DEPLOY]);
  const can = async (verb: string, resource: string) => (await cp.kubectl(['auth', 'can-i', verb, resource, `--as=${SA}`, '--all-namespaces'])).stdout.trim();
  for (const [verb, resource] of [['list', 'pods'], ['watch', 'pods'], ['get', 'nodes'], ['watch', 'nodes'], ['list', 'endpointslices.discovery.k8s.io'], ['watch', 'endpointslices.discovery.k8s.io'], ['list', 'services'], ['watch', 'services']]) {
    assert.equal(await can(verb!, resource!), 'yes', `${verb} ${resource}`);
  }
  for (const [verb, resource] of [['list', 'secrets'], ['get', 'configmaps'], ['update', 'services'], ['create', 'pods'], ['delete', 'pods'], ['update', 'endpointslices.discovery.k8s.io'], ['patch', 'nodes'], ['list', 'endpoints']]) {
    assert.equal(await can(verb!, resource!), 'no', `${verb} ${resource} must be denied`);
  }

  // Herald with the ConfigMap's config and that account's token syncs: every informer lists and watches.
  const token = (await kubectlOk(cp, ['create', 'token', 'herald', '-n', 'herald-system', '--duration=10m'])).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-rbac-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, { name: 'herald-sa', server: cp.server, caPem: cp.caPem, token });
  fs.writeFileSync(path.join(dir, 'policies.yaml'), policiesYaml);
  const doc = parseYaml(heraldYaml);
  doc.xds = { address: '127.0.0.1', port: 0 };
  doc.admin = { address: '127.0.0.1', port: 0 };
  doc.probes = { address: '127.0.0.1', port: 0 };
  // The deployed config (pods) plus one service in an EndpointSlice mode, so the slice informer runs too.
  doc.sources = doc.sources.map((s: any) => ({ ...s, kubeconfig, discoveryOverrides: { 'some-service': 'endpointslices-terminating' } }));
  const running = await startHerald(parseConfig(stringify(doc), dir));
  t.after(async () => {
    await running.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const started = Date.now();
  const admin = (p: string) => fetch(`http://127.0.0.1:${running.adminPort}${p}`);
  // Lists: every informer has filled its store (a 403 would leave it unset and count errors).
  await waitFor('every informer to list with the ServiceAccount token', async () => {
    const metrics = await (await admin('/metrics')).text();
    return ['pods', 'nodes', 'endpointslices'].every((i) => new RegExp(`^herald_kube_objects\\{informer="${i}"\\} \\d+`, 'm').test(metrics));
  }, 20_000, 100);
  await waitFor('Herald /readyz 200 (every source synced)', async () => (await admin('/readyz')).status === 200, 10_000, 100);
  const listedMs = Date.now() - started;
  // Watches: a pod created now reaches Herald's model.
  await kubectlOk(cp, ['run', 'rbac-probe', '-n', 'herald-example', '--image=example.invalid/none', '--labels=app=rbac-probe', '--restart=Never']);
  await waitFor('the watched pod to reach Herald', async () => ((await (await admin('/services')).json()) as any).services.some((s: any) => s.name === 'herald-example/rbac-probe'), 20_000, 100);
  const metrics = await (await admin('/metrics')).text();
  assert.doesNotMatch(metrics, /^herald_kube_errors_total\{[^}]*\} [1-9]/m, 'no list/watch error (no 403) on the way');
  t.diagnostic(`with the manifests' RBAC: informers listed and Herald ready in ${listedMs} ms; a new pod watched in ${Date.now() - started} ms`);
});
