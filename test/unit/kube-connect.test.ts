/**
 * Kubeconfig handling that needs no apiserver (src/sources/kubernetes/connect.ts): unusable kubeconfigs are named,
 * plain http is refused, and a credential plugin that never answers fails the request after the bound instead of
 * stalling it. The real-apiserver proofs are in test/e2e/kubeconfig.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { connectKubernetes, kubeConfigAuth, loadKubeConfig } from '../../src/sources/kubernetes/connect';
import { KubeClient } from '../../src/sources/kubernetes/client';

function write(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-kc-'));
  const file = path.join(dir, 'config');
  fs.writeFileSync(file, stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x',
  }));
  return file;
}

test('a missing kubeconfig is named', () => {
  assert.throws(() => connectKubernetes('/nonexistent/kubeconfig'), /kubeconfig \/nonexistent\/kubeconfig: /);
});

test('a kubeconfig without a current context is refused', () => {
  const file = write({ server: 'https://127.0.0.1:1' }, { token: 't' });
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/current-context: x/, 'current-context: nope'));
  assert.throws(() => loadKubeConfig(file), /no current cluster or user/);
});

test('plain http:// is refused', () => {
  assert.throws(() => connectKubernetes(write({ server: 'http://127.0.0.1:8080', 'insecure-skip-tls-verify': true }, { token: 't' })), /only https:\/\/ is supported/);
});

test('a credential plugin that never answers fails the request after the bound', async () => {
  const file = write({ server: 'https://127.0.0.1:1' }, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sleep', args: ['30'], interactiveMode: 'Never' } });
  const client = new KubeClient(kubeConfigAuth(loadKubeConfig(file), 200));
  const started = Date.now();
  await assert.rejects(client.get('/api/v1/pods'), /kubeconfig user "u": credentials: no answer in 200 ms/);
  assert.ok(Date.now() - started < 5_000);
  client.close();
});
