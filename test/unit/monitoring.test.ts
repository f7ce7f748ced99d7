/**
 * deploy/monitoring/: every series the Grafana dashboard queries is one Herald declares (or a process metric
 * prom-client collects); the ServiceMonitor selects the metrics Service, which selects Herald's pods on their
 * probes port; the plain scrape config keeps that port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { Metrics } from '../../src/admin/metrics';
import { adminMetrics } from '../../src/admin/server';
import { batcherMetrics } from '../../src/pipeline/batcher';
import { convergenceMetrics } from '../../src/pipeline/convergence';
import { guardMetrics } from '../../src/pipeline/guard';
import { intakeMetrics } from '../../src/pipeline/intake';
import { publisherMetrics } from '../../src/pipeline/publisher';
import { viewMetrics } from '../../src/pipeline/views';
import { fileSourceMetrics } from '../../src/sources/file/file-source';
import { informerMetrics } from '../../src/sources/kubernetes/informer';
import { kubeSourceMetrics } from '../../src/sources/kubernetes/kubernetes-source';
import { kubeRegistryBackendMetrics } from '../../src/sources/registry/kube-backend';
import { registryHostsMetrics } from '../../src/sources/registry/kube-backend-source';
import { registrySourceMetrics } from '../../src/sources/registry/registry-source';
import { registryServerMetrics } from '../../src/sources/registry/server';
import { tlsMetrics } from '../../src/xds/tls';
import { xdsServerMetrics } from '../../src/xds/server';
import { repoRoot } from '../support/repo';

/** One instance's registry with every metric any of Herald's stages declares (whichever stages a config starts). */
function everyMetric(): Metrics {
  const m = new Metrics();
  m.collectProcessMetrics('test');
  for (const declare of [
    adminMetrics, batcherMetrics, convergenceMetrics, guardMetrics, intakeMetrics, publisherMetrics, viewMetrics, fileSourceMetrics, informerMetrics,
    kubeSourceMetrics, kubeRegistryBackendMetrics, registryHostsMetrics, registrySourceMetrics, registryServerMetrics, tlsMetrics, xdsServerMetrics,
  ]) declare(m);
  return m;
}

const dir = path.join(repoRoot(), 'deploy', 'monitoring');
const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');

test('grafana dashboard: every queried metric exists', () => {
  const metrics = everyMetric();
  const dash = JSON.parse(read('grafana-dashboard.json'));
  const exprs: string[] = dash.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
  assert.ok(exprs.length > 20);
  const used = new Set(exprs.flatMap((e) => e.match(/\b(herald|process|nodejs)_[a-z0-9_]+/g) ?? []));
  const known = new Set(metrics.names());
  for (const name of used) {
    const base = name.replace(/_(bucket|count|sum)$/, '');
    assert.ok(known.has(base) || known.has(name) || metrics.serves(base) || metrics.serves(name), `${name} is not a metric Herald serves`);
  }
  for (const must of ['herald_convergence_seconds', 'herald_convergence_last_ack_seconds', 'herald_xds_responses_total', 'herald_batcher_delay_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
    assert.ok([...used].some((u) => u.startsWith(must)), `the dashboard shows ${must}`);
  }
});

test('ServiceMonitor → metrics Service → Herald pods on the probes port; the scrape config keeps that port', () => {
  const svc = parse(read('service-metrics.yaml'));
  const sm = parse(read('servicemonitor.yaml'));
  const deployment = parseAllDocuments(fs.readFileSync(path.join(repoRoot(), 'deploy', 'deployment.yaml'), 'utf8')).map((d) => d.toJS()).find((d) => d?.kind === 'Deployment');
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v, `ServiceMonitor selects the metrics Service by ${k}`);
  assert.equal(sm.spec.endpoints[0].port, svc.spec.ports[0].name);
  const podLabels = deployment.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(podLabels[k], v, `the Service selects Herald's pods by ${k}`);
  const ports = deployment.spec.template.spec.containers.flatMap((c: any) => c.ports ?? []);
  const probes = ports.find((p: any) => p.name === svc.spec.ports[0].targetPort);
  assert.equal(probes?.containerPort, 18003);
  const scrape = parse(read('prometheus-scrape.yaml'));
  const keep = scrape.scrape_configs[0].relabel_configs.find((r: any) => r.source_labels[0] === '__meta_kubernetes_pod_container_port_name');
  assert.equal(keep.regex, 'probes');
  const kust = parse(read('kustomization.yaml'));
  for (const f of kust.resources) assert.ok(fs.existsSync(path.join(dir, f)), f);
});
