/** Pod → endpoint through its herald.io/ annotations (port, weight, canary): table tests of podEndpoint. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podEndpoint, type PodLite } from '../../src/sources/kubernetes/pods';

const pod = (annotations: Record<string, string>, ports: Record<string, number> = { http: 8080, grpc: 9090 }): PodLite => ({
  namespace: 'default',
  name: 'web-1',
  uid: 'u1',
  service: 'default/web',
  labels: {},
  podIP: '10.0.0.1',
  hostNetwork: false,
  nodeName: 'n1',
  ready: true,
  terminating: false,
  phase: 'Running',
  created: '2026-01-01T00:00:00Z',
  ports,
  allPorts: Object.values(ports),
  annotations,
});

const cases: Record<string, { annotations: Record<string, string>; ports?: Record<string, number>; port?: number; weight?: number; canary?: boolean; skip?: string }> = {
  'no annotations: the portName port, weight 1': { annotations: {}, port: 8080, weight: 1, canary: false },
  'port by number': { annotations: { 'herald.io/port': '15006' }, port: 15006, weight: 1 },
  'port by container port name': { annotations: { 'herald.io/port': 'grpc' }, port: 9090 },
  'weight and canary': { annotations: { 'herald.io/weight': '5', 'herald.io/canary': 'true' }, port: 8080, weight: 5, canary: true },
  'policy annotations do not affect the endpoint': { annotations: { 'herald.io/retries': '1' }, port: 8080, weight: 1 },
  'unknown port name': {
    annotations: { 'herald.io/port': 'admin' },
    skip: 'pods[default/web-1].metadata.annotations[herald.io/port]: "admin" is neither a port number nor a named container port',
  },
  'port out of range': { annotations: { 'herald.io/port': '99999' }, skip: 'pods[default/web-1].metadata.annotations[herald.io/port]: "99999" is neither a port number nor a named container port' },
  'weight above 128': { annotations: { 'herald.io/weight': '129' }, skip: 'pods[default/web-1].metadata.annotations[herald.io/weight]: "129" must be an integer from 1 to 128' },
  'no port at all': { annotations: {}, ports: { a: 1, b: 2 }, skip: 'pods[default/web-1].spec.containers: no container port named "http", no single port, and no herald.io/port annotation' },
};

for (const [name, c] of Object.entries(cases)) {
  test(`pod annotations: ${name}`, () => {
    const r = podEndpoint(pod(c.annotations, c.ports), { portName: 'http', zone: 'a', wasReady: false, source: 'k8s' });
    if (c.skip) return assert.deepEqual(r, { skip: c.skip });
    assert.ok('endpoint' in r, JSON.stringify(r));
    if (c.port !== undefined) assert.equal(r.endpoint.port, c.port);
    if (c.weight !== undefined) assert.equal(r.endpoint.weight, c.weight);
    if (c.canary !== undefined) assert.equal(r.endpoint.labels?.canary === 'true', c.canary);
  });
}
