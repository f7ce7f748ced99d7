/**
 * Table tests of the lab kubelet's and backend's pure parts (no processes): loopback IPAM, placement,
 * the preStop `sleep N` parser, pod status building and the backend's configuration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipam } from '../src/kubelet/ipam';
import { chooseNode, type Placement } from '../src/kubelet/scheduler';
import { sleepSeconds } from '../src/kubelet/probe';
import { buildPodStatus, ConditionClock, type RuntimeState } from '../src/kubelet/status';
import type { RegisteredNode } from '../src/kubelet/nodes';
import type { Pod } from '../src/kubelet/types';
import { parseConfig } from '../src/backend/config';

test('Ipam hands out loopback addresses in rotation, skips .0/.255, reuses freed ones last', () => {
  const ipam = new Ipam('127.1.0.0/23', 254);
  assert.equal(ipam.allocate('a'), '127.1.0.254');
  assert.equal(ipam.allocate('b'), '127.1.1.1', '.255 and .0 skipped');
  ipam.release('127.1.0.254');
  assert.equal(ipam.allocate('c'), '127.1.1.2', 'a freed address is not reused at once');
  assert.equal(ipam.claim('127.1.1.1', 'x'), false, 'taken by b');
  assert.equal(ipam.claim('127.1.0.9', 'x'), true);
  assert.equal(ipam.contains('127.1.1.200'), true);
  assert.equal(ipam.contains('127.1.2.1'), false);
  assert.throws(() => new Ipam('10.0.0.0/16'), /not in 127\.0\.0\.0\/8/);
  const tiny = new Ipam('127.9.9.0/30', 0);
  assert.deepEqual([tiny.allocate('1'), tiny.allocate('2'), tiny.allocate('3')], ['127.9.9.1', '127.9.9.2', '127.9.9.3']);
  assert.throws(() => tiny.allocate('4'), /exhausted/);
});

const nodes: RegisteredNode[] = ['a', 'b', 'c'].map((z) => ({
  name: `n-${z}`,
  zone: `zone-${z}`,
  address: '127.0.100.1',
  labels: { 'topology.kubernetes.io/zone': `zone-${z}`, 'kubernetes.io/hostname': `n-${z}` },
}));
const pod = (uid: string, owner = 'rs1', nodeSelector?: Record<string, string>): Pod => ({
  metadata: { name: uid, namespace: 'default', uid, ownerReferences: owner ? [{ kind: 'ReplicaSet', name: owner, uid: owner }] : [] },
  spec: { containers: [{ name: 'c' }], ...(nodeSelector ? { nodeSelector } : {}) },
});

const placementCases: Record<string, { pod: Pod; placed: Placement[]; want: string | undefined }> = {
  'empty cluster: first node': { pod: pod('p1'), placed: [], want: 'n-a' },
  'spread one owner over the nodes': { pod: pod('p3'), placed: [{ uid: 'p1', node: 'n-a', owner: 'rs1' }, { uid: 'p2', node: 'n-b', owner: 'rs1' }], want: 'n-c' },
  'other owners count only as a tie-break': {
    pod: pod('p2'),
    placed: [{ uid: 'x1', node: 'n-a', owner: 'rs9' }, { uid: 'x2', node: 'n-a', owner: 'rs9' }, { uid: 'p1', node: 'n-b', owner: 'rs1' }],
    want: 'n-c',
  },
  'nodeSelector pins the zone': { pod: pod('p4', 'rs1', { 'topology.kubernetes.io/zone': 'zone-b' }), placed: [{ uid: 'p1', node: 'n-b', owner: 'rs1' }], want: 'n-b' },
  'nodeSelector matching nothing': { pod: pod('p5', 'rs1', { disk: 'ssd' }), placed: [], want: undefined },
};

for (const [name, c] of Object.entries(placementCases)) {
  test(`chooseNode: ${name}`, () => {
    assert.equal(chooseNode(c.pod, nodes, c.placed)?.name, c.want);
  });
}

test('sleepSeconds accepts only sleep commands', () => {
  const cases: Array<[string[] | undefined, number | undefined]> = [
    [['sleep', '5'], 5],
    [['/bin/sleep', '1.5'], 1.5],
    [['/bin/sh', '-c', 'sleep 3'], 3],
    [['sh', '-c', ' sleep 2 '], 2],
    [['bash', '-c', 'sleep 2; rm -rf /'], undefined],
    [['rm', '-rf', '/'], undefined],
    [['sleep'], undefined],
    [undefined, undefined],
  ];
  for (const [cmd, want] of cases) assert.equal(sleepSeconds(cmd), want, JSON.stringify(cmd));
});

test('buildPodStatus: Running and ready, conditions keep their transition times', () => {
  const p: Pod = { ...pod('p1'), spec: { containers: [{ name: 'app', image: 'img' }, { name: 'side' }] } };
  const clock = new ConditionClock();
  const rt: RuntimeState = {
    phase: 'Running',
    hostIP: '127.0.100.2',
    podIP: '127.1.0.7',
    startTime: 't0',
    state: { running: { startedAt: 't1' } },
    lastState: {},
    started: true,
    ready: false,
    restartCount: 0,
  };
  const s1 = buildPodStatus(p, rt, clock, 'T1');
  assert.equal(s1.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
  assert.equal(s1.conditions?.find((c) => c.type === 'Ready')?.reason, 'ContainersNotReady');
  const s2 = buildPodStatus(p, { ...rt, ready: true }, clock, 'T2');
  const s3 = buildPodStatus(p, { ...rt, ready: true }, clock, 'T3');
  assert.deepEqual(s3.conditions?.map((c) => [c.type, c.status, c.lastTransitionTime]), [
    ['PodReadyToStartContainers', 'True', 'T1'],
    ['Initialized', 'True', 'T1'],
    ['Ready', 'True', 'T2'],
    ['ContainersReady', 'True', 'T2'],
    ['PodScheduled', 'True', 'T1'],
  ]);
  assert.deepEqual(s2.podIPs, [{ ip: '127.1.0.7' }]);
  assert.deepEqual(s3.containerStatuses?.map((c) => [c.name, c.image, c.ready]), [
    ['app', 'img', true],
    ['side', 'lab-backend', true],
  ]);
});

test('backend config: env, flags over env, bad values named', () => {
  assert.deepEqual(parseConfig({ LAB_POD_NAME: 'p', LAB_POD_IP: '127.1.0.3', LAB_DRAIN_MS: '50' }, []), {
    podName: 'p',
    namespace: 'default',
    nodeName: '',
    ip: '127.1.0.3',
    httpPort: 8080,
    grpcPort: 9090,
    drainMs: 50,
  });
  assert.equal(parseConfig({ LAB_POD_NAME: 'p', LAB_HTTP_PORT: '1' }, ['--http-port=8081']).httpPort, 8081);
  assert.equal(parseConfig({}, ['--pod-name', 'q', '--grpc-port', '0']).grpcPort, 0);
  assert.throws(() => parseConfig({}, []), /LAB_POD_NAME/);
  assert.throws(() => parseConfig({ LAB_POD_NAME: 'p', LAB_DRAIN_MS: '-1' }, []), /drain ms/);
  assert.throws(() => parseConfig({ LAB_POD_NAME: 'p' }, ['--bogus']), /unknown argument/);
});
