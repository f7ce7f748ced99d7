/**
 * The Kubernetes source through its real informers over a fake apiserver (test/support/fake-kube.ts): pod →
 * endpoint rules, EndpointSlice modes, the service index (pods moving between services), zones from nodes, and
 * what each update carries. Each case: objects before start, then steps (each settled), then the expected
 * endpoints of the service and the skip reasons counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubernetesSource, kubeSourceMetrics, type KubernetesSourceOptions } from '../../src/sources/kubernetes/kubernetes-source';
import { ServiceIndex } from '../../src/sources/kubernetes/service-index';
import type { Change } from '../../src/sources/kubernetes/informer';
import type { SourceSnapshot, UpdateMeta } from '../../src/sources/source';
import { FakeKube, kubeError, node, pod, slice } from '../support/fake-kube';
import { testTelemetry } from '../support/telemetry';

interface Update {
  readonly snapshot: SourceSnapshot;
  readonly synced: boolean;
  readonly meta: UpdateMeta | undefined;
}

const REASONS = ['malformed', 'address-conflict', 'no-ip', 'not-ready', 'finished', 'bad-policy-annotation'] as const;
type Reason = (typeof REASONS)[number];

/**
 * `address:port HEALTH zone` (zone `-` when none), plus ` w=N` for a weight other than 1 and ` canary`. Services
 * are `<namespace>/<name>`; a bare name means namespace default, where the fixtures' pods live.
 */
function eps(snapshot: SourceSnapshot, service: string): string[] | 'absent' {
  const s = snapshot.get(service.includes('/') ? service : `default/${service}`);
  if (!s) return 'absent';
  return s.endpoints.map((e) => `${e.address}:${e.port} ${e.health} ${e.zone || '-'}${e.weight !== 1 ? ` w=${e.weight}` : ''}${e.labels.canary ? ' canary' : ''}`);
}

async function startSource(kube: FakeKube, o: Partial<KubernetesSourceOptions> = {}) {
  const updates: Update[] = [];
  const telemetry = testTelemetry();
  const skipped = kubeSourceMetrics(telemetry.metrics).skipped;
  const skipCounts = () => Object.fromEntries(REASONS.map((r) => [r, skipped.get({ reason: r })])) as Record<Reason, number>;
  const src = new KubernetesSource({ name: 'k8s', api: kube, namespaces: [], serviceLabel: 'app', portName: 'http', discovery: 'pods', discoveryOverrides: {}, telemetry, ...o });
  await src.start({ update: (_source, snapshot, synced, meta) => void updates.push({ snapshot, synced, meta }) });
  await kube.until('the first synced update', () => updates.some((u) => u.synced));
  await kube.settled();
  // Every informer is watching: pods and nodes, or slices (nodes only serve pods).
  const mode = o.discovery ?? 'pods';
  const overrides = Object.values(o.discoveryOverrides ?? {});
  const usesPods = mode === 'pods' || overrides.includes('pods');
  // Pods and nodes (plus Services with identity `service`), and slices.
  const informers = (usesPods ? (o.identity === 'service' ? 3 : 2) : 0) + (mode !== 'pods' || overrides.some((m) => m !== 'pods') ? 1 : 0);
  await kube.until(`${informers} watches`, () => kube.watching() === informers);
  return { src, updates, last: () => updates.at(-1)!, skipCounts };
}

interface Case {
  readonly before: readonly any[];
  readonly steps?: ReadonlyArray<(kube: FakeKube) => void>;
  readonly service?: string;
  readonly expect: string[] | 'absent';
  /** Skip reasons that must have been counted. */
  readonly counted?: readonly Reason[];
  readonly options?: Partial<KubernetesSourceOptions>;
}

const zoneA = node('node-a', 'zone-a');
const older = '2026-01-01T00:00:00Z';
const newer = '2026-01-02T00:00:00Z';

const podCases: Record<string, Case> = {
  'Ready → HEALTHY, with its node’s zone': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' })],
    expect: ['10.1.0.1:8080 HEALTHY zone-a'],
  },
  'Ready, then NotReady → UNHEALTHY (kept, not routed)': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' })],
    steps: [(k) => k.put(pod({ name: 'web-1', ip: '10.1.0.1', ready: false }))],
    expect: ['10.1.0.1:8080 UNHEALTHY zone-a'],
  },
  'never Ready → not in the mesh yet (the service exists, empty)': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', ready: false })],
    expect: [],
    counted: ['not-ready'],
  },
  'deletionTimestamp → DRAINING at once, even while Ready': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' }), pod({ name: 'web-2', ip: '10.1.0.2' })],
    steps: [(k) => k.put(pod({ name: 'web-1', ip: '10.1.0.1', deleting: true }))],
    expect: ['10.1.0.1:8080 DRAINING zone-a', '10.1.0.2:8080 HEALTHY zone-a'],
  },
  'NotReady after Ready, then deleting → DRAINING': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' })],
    steps: [(k) => k.put(pod({ name: 'web-1', ip: '10.1.0.1', ready: false })), (k) => k.put(pod({ name: 'web-1', ip: '10.1.0.1', ready: false, deleting: true }))],
    expect: ['10.1.0.1:8080 DRAINING zone-a'],
  },
  'pod gone → removed, and the service with its last pod': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' })],
    steps: [(k) => k.put(pod({ name: 'web-1', ip: '10.1.0.1', deleting: true })), (k) => k.remove('Pod', 'default', 'web-1')],
    expect: 'absent',
  },
  'a pod re-created under the same name is a new pod: never Ready → absent': {
    before: [zoneA, pod({ name: 'web-1', uid: 'u1', ip: '10.1.0.1' })],
    steps: [(k) => k.remove('Pod', 'default', 'web-1'), (k) => k.put(pod({ name: 'web-1', uid: 'u2', ip: '10.1.0.1', ready: false }))],
    expect: [],
  },
  'no IP yet → absent, counted': {
    before: [zoneA, pod({ name: 'web-1', ip: '' })],
    expect: [],
    counted: ['no-ip'],
  },
  'a finished pod (Succeeded) → absent, counted': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', phase: 'Succeeded' })],
    expect: [],
    counted: ['finished'],
  },
  'herald.io/port as a number wins over the port named portName': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', ports: [['http', 8080], ['admin', 9901]], annotations: { 'herald.io/port': '9000' } })],
    expect: ['10.1.0.1:9000 HEALTHY zone-a'],
  },
  'herald.io/port naming a container port': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', ports: [['http', 8080], ['grpc', 9090]], annotations: { 'herald.io/port': 'grpc' } })],
    expect: ['10.1.0.1:9090 HEALTHY zone-a'],
  },
  'herald.io/port naming no container port → skipped, counted': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', annotations: { 'herald.io/port': 'nope' } }), pod({ name: 'web-2', ip: '10.1.0.2' })],
    expect: ['10.1.0.2:8080 HEALTHY zone-a'],
    counted: ['malformed'],
  },
  'herald.io/port out of range → skipped, counted': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', annotations: { 'herald.io/port': '70000' } })],
    expect: [],
    counted: ['malformed'],
  },
  'herald.io/weight out of range → skipped, counted': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', annotations: { 'herald.io/weight': '0' } })],
    expect: [],
    counted: ['malformed'],
  },
  'weight and canary annotations': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', annotations: { 'herald.io/weight': '7', 'herald.io/canary': 'true' } })],
    expect: ['10.1.0.1:8080 HEALTHY zone-a w=7 canary'],
  },
  'no port named portName: the only declared port': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', ports: [9000] })],
    expect: ['10.1.0.1:9000 HEALTHY zone-a'],
  },
  'no port named portName and several ports → skipped, counted': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', ports: [9000, 9001] })],
    expect: [],
    counted: ['malformed'],
  },
  'host networking: a second pod on the same address:port is skipped; the older keeps it': {
    before: [
      zoneA,
      pod({ name: 'web-new', ip: '192.168.0.5', hostNetwork: true, created: newer }),
      pod({ name: 'web-old', ip: '192.168.0.5', hostNetwork: true, created: older, annotations: { 'herald.io/weight': '3' } }),
    ],
    expect: ['192.168.0.5:8080 HEALTHY zone-a w=3'],
    counted: ['address-conflict'],
  },
  'the zone follows a node relabel': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' })],
    steps: [(k) => k.put(node('node-a', 'zone-b'))],
    expect: ['10.1.0.1:8080 HEALTHY zone-b'],
  },
  'a pod on a node Herald does not know has no zone': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', node: 'node-x' })],
    expect: ['10.1.0.1:8080 HEALTHY -'],
  },
  'a pod without the service label is not in the mesh': {
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1', app: null })],
    expect: 'absent',
  },
  'pods outside the configured namespaces are not watched': {
    options: { namespaces: ['prod'] },
    service: 'prod/web',
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' }), pod({ name: 'web-2', namespace: 'prod', ip: '10.1.0.2' })],
    expect: ['10.1.0.2:8080 HEALTHY zone-a'],
  },
};

async function runCase(c: Case): Promise<void> {
  const kube = new FakeKube();
  for (const o of c.before) kube.put(o);
  const { src, last, skipCounts } = await startSource(kube, c.options);
  const before = Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<Reason, number>;
  try {
    for (const step of c.steps ?? []) {
      step(kube);
      await kube.settled();
    }
    assert.deepEqual(eps(last().snapshot, c.service ?? 'web'), c.expect);
    const after = skipCounts();
    for (const r of c.counted ?? []) assert.ok(after[r] > before[r], `skip reason ${r} counted`);
    for (const r of REASONS) if (!(c.counted ?? []).includes(r) && r !== 'not-ready') assert.equal(after[r], before[r], `skip reason ${r} not counted`);
  } finally {
    await src.stop();
  }
}

for (const [name, c] of Object.entries(podCases)) test(`kubernetes pods: ${name}`, () => runCase(c));

const sliceCases: Record<string, Case> = {
  'terminating mode: ready → HEALTHY, terminating → DRAINING, not ready → absent; zone from the slice': {
    options: { discovery: 'endpointslices-terminating' },
    before: [
      slice('web-abc', 'web', [['http', 8080]], [
        { ip: '10.2.0.1', zone: 'zone-a' },
        { ip: '10.2.0.2', ready: false, serving: true, terminating: true, zone: 'zone-b' },
        { ip: '10.2.0.3', ready: false },
      ]),
    ],
    expect: ['10.2.0.1:8080 HEALTHY zone-a', '10.2.0.2:8080 DRAINING zone-b'],
  },
  'ready mode: only ready endpoints; a terminating one vanishes': {
    options: { discovery: 'endpointslices-ready' },
    before: [slice('web-abc', 'web', [['http', 8080]], [{ ip: '10.2.0.1' }, { ip: '10.2.0.2', ready: false, terminating: true }])],
    expect: ['10.2.0.1:8080 HEALTHY -'],
  },
  'terminating mode: an endpoint turning terminating goes DRAINING, then leaves with the slice entry': {
    options: { discovery: 'endpointslices-terminating' },
    before: [slice('web-abc', 'web', [['http', 8080]], [{ ip: '10.2.0.1' }, { ip: '10.2.0.2' }])],
    steps: [
      (k) => k.put(slice('web-abc', 'web', [['http', 8080]], [{ ip: '10.2.0.1' }, { ip: '10.2.0.2', ready: false, terminating: true }])),
      (k) => k.put(slice('web-abc', 'web', [['http', 8080]], [{ ip: '10.2.0.1' }])),
    ],
    expect: ['10.2.0.1:8080 HEALTHY -'],
  },
  'the port named portName among several; a slice without it and with several ports is ignored': {
    options: { discovery: 'endpointslices-terminating' },
    before: [
      slice('web-a', 'web', [['metrics', 9100], ['http', 8080]], [{ ip: '10.2.0.1' }]),
      slice('web-b', 'web', [['metrics', 9100], ['grpc', 9090]], [{ ip: '10.2.0.2' }]),
      slice('web-c', 'web', [['only', 7000]], [{ ip: '10.2.0.3' }]),
    ],
    expect: ['10.2.0.1:8080 HEALTHY -', '10.2.0.3:7000 HEALTHY -'],
  },
  'two slices naming one address:port: the first by name wins': {
    options: { discovery: 'endpointslices-terminating' },
    before: [
      slice('web-b', 'web', [['http', 8080]], [{ ip: '10.2.0.1', ready: false, terminating: true }]),
      slice('web-a', 'web', [['http', 8080]], [{ ip: '10.2.0.1', zone: 'zone-a' }]),
    ],
    expect: ['10.2.0.1:8080 HEALTHY zone-a'],
  },
  'the last slice deleted → the service is removed': {
    options: { discovery: 'endpointslices-terminating' },
    before: [slice('web-a', 'web', [['http', 8080]], [{ ip: '10.2.0.1' }])],
    steps: [(k) => k.remove('EndpointSlice', 'default', 'web-a')],
    expect: 'absent',
  },
  'per-service override: a slices service beside pods services reads slices only': {
    options: { discovery: 'pods', discoveryOverrides: { legacy: 'endpointslices-terminating' } },
    service: 'legacy',
    before: [zoneA, pod({ name: 'legacy-1', app: 'legacy', ip: '10.1.0.9' }), slice('legacy-a', 'legacy', [['http', 8080]], [{ ip: '10.2.0.9', terminating: true, ready: false }])],
    expect: ['10.2.0.9:8080 DRAINING -'],
  },
  'per-service override: the pods service ignores its slices': {
    options: { discovery: 'pods', discoveryOverrides: { legacy: 'endpointslices-terminating' } },
    before: [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' }), slice('web-a', 'web', [['http', 8080]], [{ ip: '10.2.0.1' }])],
    expect: ['10.1.0.1:8080 HEALTHY zone-a'],
  },
};

for (const [name, c] of Object.entries(sliceCases)) test(`kubernetes endpointslices: ${name}`, () => runCase(c));

test('kubernetes: a pod relabelled to another service moves in one update; the untouched service keeps its object', async () => {
  const kube = new FakeKube();
  for (const o of [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' }), pod({ name: 'web-2', ip: '10.1.0.2' }), pod({ name: 'db-1', app: 'db', ip: '10.1.0.5' })]) kube.put(o);
  const { src, updates, last } = await startSource(kube);
  try {
    const before = last().snapshot;
    const n = updates.length;
    kube.put(pod({ name: 'web-2', app: 'api', ip: '10.1.0.2' }));
    await kube.settled();
    assert.equal(updates.length, n + 1, 'one update for the move');
    const after = last().snapshot;
    assert.deepEqual(eps(after, 'web'), ['10.1.0.1:8080 HEALTHY zone-a']);
    assert.deepEqual(eps(after, 'api'), ['10.1.0.2:8080 HEALTHY zone-a']);
    assert.equal(after.get('default/db'), before.get('default/db'), 'an unchanged service keeps its SourceService object');
    assert.equal(last().meta?.fullRead, false, 'a watch event is not a full read');
    kube.put(pod({ name: 'web-1', app: 'api', ip: '10.1.0.1' }));
    await kube.settled();
    assert.equal(eps(last().snapshot, 'web'), 'absent', 'the service leaves with its last pod');
  } finally {
    await src.stop();
  }
});

test('kubernetes: nothing is synced until pods and nodes are listed; the first synced update is complete and a full read', async () => {
  const kube = new FakeKube();
  for (const o of [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' }), pod({ name: 'api-1', app: 'api', ip: '10.1.0.3' })]) kube.put(o);
  const { src, updates } = await startSource(kube);
  try {
    const first = updates.find((u) => u.synced)!;
    assert.deepEqual(eps(first.snapshot, 'web'), ['10.1.0.1:8080 HEALTHY zone-a']);
    assert.deepEqual(eps(first.snapshot, 'api'), ['10.1.0.3:8080 HEALTHY zone-a']);
    assert.equal(first.meta?.fullRead, true);
    for (const u of updates.slice(0, updates.indexOf(first))) assert.equal(u.synced, false);
  } finally {
    await src.stop();
  }
});

test('kubernetes: a relist after 410 re-reads the pods (a full read) and updates only what changed', async () => {
  const kube = new FakeKube();
  for (const o of [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' }), pod({ name: 'web-2', ip: '10.1.0.2' }), pod({ name: 'db-1', app: 'db', ip: '10.1.0.5' })]) kube.put(o);
  const { src, last } = await startSource(kube);
  try {
    const before = last().snapshot;
    kube.stallWatches('/pods');
    kube.remove('Pod', 'default', 'web-2');
    kube.compact();
    kube.expireWatches('/pods');
    await kube.until('the relist', () => kube.callsOf('list', 'pods').length === 2);
    await kube.settled();
    assert.deepEqual(eps(last().snapshot, 'web'), ['10.1.0.1:8080 HEALTHY zone-a']);
    assert.equal(last().meta?.fullRead, true, 'a pod relist may confirm a guard hold');
    assert.equal(last().snapshot.get('default/db'), before.get('default/db'));
  } finally {
    await src.stop();
  }
});

test('kubernetes: a failed list reaches the sink as a source error naming the resource; a 410 does not', async () => {
  const kube = new FakeKube();
  for (const o of [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' })]) kube.put(o);
  const errors: string[] = [];
  let synced = false;
  const src = new KubernetesSource({ name: 'k8s', api: kube, namespaces: [], serviceLabel: 'app', portName: 'http', discovery: 'pods', discoveryOverrides: {}, telemetry: testTelemetry() });
  await src.start({ update: (_s, _snap, isSynced) => void (synced ||= isSynced), error: (source, message) => void errors.push(`${source} ${message}`) });
  try {
    await kube.until('synced', () => synced);
    await kube.settled();
    kube.failNext('list', kubeError(403, 'Forbidden', 'pods is forbidden'), (path) => path.endsWith('/pods'));
    kube.expireWatches('/pods');
    await kube.until('the failed relist reported', () => errors.length > 0);
    assert.deepEqual(errors, ['k8s pods: pods is forbidden'], 'the 403 is reported, the 410 before it is not');
  } finally {
    await src.stop();
  }
});

test('kubernetes: a node relist re-reads nodes, not pods: its update is not a full read (it confirms no hold)', async () => {
  const kube = new FakeKube();
  for (const o of [zoneA, pod({ name: 'web-1', ip: '10.1.0.1' })]) kube.put(o);
  const { src, updates, last } = await startSource(kube);
  try {
    const n = updates.length;
    kube.stallWatches('/nodes');
    kube.put(node('node-a', 'zone-c'));
    kube.compact();
    kube.expireWatches('/nodes');
    await kube.until('the node relist', () => kube.callsOf('list', 'nodes').length === 2);
    await kube.settled();
    assert.ok(updates.length > n);
    assert.deepEqual(eps(last().snapshot, 'web'), ['10.1.0.1:8080 HEALTHY zone-c']);
    assert.equal(last().meta?.fullRead, false);
  } finally {
    await src.stop();
  }
});

// ---------------------------------------------------------------------------------------------------------
// The ServiceIndex alone.

interface Member {
  readonly service: string;
  readonly n: number;
}

const indexCases: Record<string, { steps: Array<Array<Change<Member>>>; dirty: string[]; members: Record<string, number[]> }> = {
  'an added object dirties its service': {
    steps: [[{ type: 'ADDED', key: 'a', obj: { service: 'web', n: 1 } }]],
    dirty: ['web'],
    members: { web: [1] },
  },
  'a relabel dirties the old and the new service and moves the member': {
    steps: [
      [{ type: 'ADDED', key: 'a', obj: { service: 'web', n: 1 } }, { type: 'ADDED', key: 'b', obj: { service: 'web', n: 2 } }],
      [{ type: 'MODIFIED', key: 'a', old: { service: 'web', n: 1 }, obj: { service: 'api', n: 1 } }],
    ],
    dirty: ['web', 'api'],
    members: { web: [2], api: [1] },
  },
  'a deletion dirties its service; the last member takes the service with it': {
    steps: [[{ type: 'ADDED', key: 'a', obj: { service: 'web', n: 1 } }], [{ type: 'DELETED', key: 'a', old: { service: 'web', n: 1 } }]],
    dirty: ['web'],
    members: { web: [] },
  },
  'a modification in place keeps one member with the new value': {
    steps: [[{ type: 'ADDED', key: 'a', obj: { service: 'web', n: 1 } }], [{ type: 'MODIFIED', key: 'a', old: { service: 'web', n: 1 }, obj: { service: 'web', n: 5 } }]],
    dirty: ['web'],
    members: { web: [5] },
  },
};

for (const [name, c] of Object.entries(indexCases)) {
  test(`service index: ${name}`, () => {
    const idx = new ServiceIndex<Member>();
    let dirty = new Set<string>();
    for (const step of c.steps) dirty = idx.apply(step);
    assert.deepEqual([...dirty].sort(), [...c.dirty].sort());
    for (const [service, ns] of Object.entries(c.members)) {
      assert.deepEqual(idx.members(service).map((m) => m.n).sort(), ns, service);
      assert.equal(idx.has(service), ns.length > 0);
    }
  });
}

test('kubernetes identity service: a pod is in every Service of its namespace that selects it; a Service change moves pods', async () => {
  const kube = new FakeKube();
  const service = (namespace: string, name: string, selector: Record<string, string>) => ({ kind: 'Service', metadata: { namespace, name }, spec: { selector } });
  for (const o of [
    zoneA,
    pod({ name: 'web-1', ip: '10.1.0.1', labels: { tier: 'front' } }),
    pod({ name: 'web-2', namespace: 'team-b', ip: '10.1.0.2', labels: { tier: 'front' } }),
    service('default', 'frontend', { tier: 'front' }),
    service('default', 'all-web', { app: 'web' }),
    service('default', 'headless-no-selector', {}),
  ]) kube.put(o);
  const { src, last } = await startSource(kube, { identity: 'service' });
  try {
    const snap = last().snapshot;
    assert.deepEqual([...snap.keys()].sort(), ['default/all-web', 'default/frontend'], 'named by Service, within the pod namespace; team-b has no Service');
    assert.deepEqual(eps(snap, 'frontend'), ['10.1.0.1:8080 HEALTHY zone-a']);
    assert.deepEqual(eps(snap, 'all-web'), ['10.1.0.1:8080 HEALTHY zone-a']);
    kube.put(service('team-b', 'frontend', { tier: 'front' }));
    await kube.settled();
    assert.deepEqual(eps(last().snapshot, 'team-b/frontend'), ['10.1.0.2:8080 HEALTHY zone-a'], 'a new Service takes in its pods');
    kube.put(service('default', 'frontend', { tier: 'back' }));
    await kube.settled();
    assert.equal(eps(last().snapshot, 'frontend'), 'absent', 'a Service whose selector no longer matches loses the pod');
    assert.deepEqual(eps(last().snapshot, 'all-web'), ['10.1.0.1:8080 HEALTHY zone-a']);
  } finally {
    await src.stop();
  }
});
