/**
 * The stream state machine, table-driven: each case runs against SotW, Delta or both, with real encoded
 * resources from an XdsCache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdsCache, type ResourceInput } from '../../src/xds/cache';
import { DELTA, SOTW, StreamState, type Outgoing, type ProtocolTraits, type XdsRequest } from '../../src/xds/stream-state';
import { RESOURCE_TYPES, type ResourceKind } from '../../src/xds/resource-types';
import { SharedResponses } from '../../src/xds/shared-responses';
import { deltaCodec, sotwCodec } from '../../src/xds/codec';
import type { CachedResource } from '../../src/xds/cache';
import { prng } from '../support/prng';

/** A view's resources that count the names looked up (to show a response reads only what changed). */
class CountingMap implements ReadonlyMap<string, CachedResource> {
  gets = 0;
  constructor(private readonly m: () => ReadonlyMap<string, CachedResource>) {}
  get size() {
    return this.m().size;
  }
  get(k: string) {
    this.gets++;
    return this.m().get(k);
  }
  has(k: string) {
    this.gets++;
    return this.m().has(k);
  }
  forEach(f: (v: CachedResource, k: string, map: ReadonlyMap<string, CachedResource>) => void) {
    this.m().forEach(f);
  }
  keys() {
    return this.m().keys();
  }
  values() {
    return this.m().values();
  }
  entries() {
    return this.m().entries();
  }
  [Symbol.iterator]() {
    return this.m()[Symbol.iterator]();
  }
}

const VIEW = 'v';
const url = (k: ResourceKind) => RESOURCE_TYPES[k].typeUrl;

function cluster(name: string, timeoutS = 1): ResourceInput {
  return {
    name,
    message: { name, type: 'EDS', edsClusterConfig: { edsConfig: { ads: {} }, serviceName: name }, connectTimeout: { seconds: timeoutS } },
    dependents: [{ kind: 'endpoint', name }],
  };
}
function cla(name: string, ports: number[]): ResourceInput {
  return {
    name,
    message: {
      clusterName: name,
      endpoints: [{ lbEndpoints: ports.map((p) => ({ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: p } } } })), loadBalancingWeight: { value: 1 } }],
    },
  };
}

class Harness {
  readonly cache = new XdsCache('test');
  readonly state: StreamState;
  ready = true;
  /** The state's clock (ms). */
  clock = 1_000;
  constructor(readonly traits: ProtocolTraits) {
    this.state = new StreamState(traits, (k) => this.cache.resources(VIEW, k), () => this.cache.nextVersion(), () => this.clock);
    // As the server does: a cache change marks the names it touched for streams that care.
    this.cache.subscribe((changes) => {
      for (const c of changes) this.state.noteChange(c.kind, c.names);
    });
  }
  put(clusters: Record<string, number[]>): void {
    const names = Object.keys(clusters);
    this.cache.apply(VIEW, [
      { kind: 'endpoint', replace: true, upsert: names.map((n) => cla(n, clusters[n]!)) },
      { kind: 'cluster', replace: true, upsert: names.map((n) => cluster(n)) },
    ]);
  }
  /** A subscription request in the protocol's own terms: SotW names are the full set, Delta names are a diff. */
  /** SotW requests repeat the whole subscription, ACKs included (as Envoy does). */
  private readonly sotwNames = new Map<ResourceKind, string[]>();
  subscribe(kind: ResourceKind, names: string[], extra: Partial<XdsRequest> = {}) {
    this.sotwNames.set(kind, names);
    const req: XdsRequest = this.traits.namesAreFullSet
      ? { typeUrl: url(kind), nonce: '', resourceNames: names, ...extra }
      : { typeUrl: url(kind), nonce: '', subscribe: names, ...extra };
    return this.state.handleRequest(req);
  }
  ack(out: Outgoing, names?: string[]) {
    if (names) this.sotwNames.set(out.kind, names);
    const sotw = this.traits.namesAreFullSet ? { resourceNames: this.sotwNames.get(out.kind) ?? [] } : {};
    return this.state.handleRequest({ typeUrl: url(out.kind), nonce: out.nonce, ...sotw });
  }
  nack(out: Outgoing, message: string) {
    const sotw = this.traits.namesAreFullSet ? { resourceNames: this.sotwNames.get(out.kind) ?? [] } : {};
    return this.state.handleRequest({ typeUrl: url(out.kind), nonce: out.nonce, errorDetail: { code: 3, message }, ...sotw });
  }
  next(kind: ResourceKind): Outgoing | undefined {
    return this.state.nextResponse(kind, this.ready);
  }
  names(out: Outgoing | undefined): string[] {
    return out ? out.resources.map((r) => r.name) : [];
  }
}

interface Case {
  readonly protocols: readonly ProtocolTraits[];
  run(h: Harness): void;
}

const BOTH = [SOTW, DELTA];

const cases: Record<string, Case> = {
  'wildcard CDS first request gets every cluster': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('cluster', []);
      assert.deepEqual(h.names(h.next('cluster')), ['a', 'b']);
    },
  },
  'nothing is sent before the cache is ready': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1] });
      h.ready = false;
      h.subscribe('cluster', []);
      assert.equal(h.next('cluster'), undefined);
      h.ready = true;
      assert.deepEqual(h.names(h.next('cluster')), ['a']);
    },
  },
  'empty wildcard answer lets the client finish initialising': {
    protocols: BOTH,
    run(h) {
      h.subscribe('cluster', []);
      const out = h.next('cluster');
      assert.ok(out);
      assert.equal(out.resources.length, 0);
    },
  },
  'ACK records the acked version and unblocks the next response': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1] });
      h.subscribe('cluster', []);
      const first = h.next('cluster')!;
      h.put({ a: [1], b: [2] });
      assert.equal(h.next('cluster'), undefined, 'one response in flight per type');
      const outcome = h.ack(first);
      assert.deepEqual(outcome, { kind: 'cluster', ack: first.version, sentAt: 1_000 });
      const second = h.next('cluster')!;
      assert.ok(second);
      assert.ok(h.names(second).includes('b'));
      assert.equal(h.state.snapshot().cluster!.lastAckedVersion, first.version);
    },
  },
  'changes made while a response awaits its ACK coalesce into one response': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1] });
      h.subscribe('endpoint', ['a']);
      const first = h.next('endpoint')!;
      h.put({ a: [2] });
      h.put({ a: [3] });
      h.put({ a: [4] });
      h.ack(first);
      const second = h.next('endpoint')!;
      assert.equal(second.resources.length, 1);
      assert.equal(second.resources[0]!.version, h.cache.resources(VIEW, 'endpoint').get('a')!.version);
      h.ack(second);
      assert.equal(h.next('endpoint'), undefined);
    },
  },
  'NACK is recorded and the rejected version is not re-sent in a loop': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1] });
      h.subscribe('cluster', []);
      const out = h.next('cluster')!;
      const outcome = h.nack(out, 'bad cluster');
      assert.deepEqual(outcome, { kind: 'cluster', nack: { version: out.version, message: 'bad cluster' }, sentAt: 1_000 });
      assert.equal(h.next('cluster'), undefined);
      const snap = h.state.snapshot().cluster!;
      assert.equal(snap.lastNack?.message, 'bad cluster');
      assert.equal(snap.lastAckedVersion, '');
      assert.equal(snap.nacks, 1);
      h.cache.apply(VIEW, [{ kind: 'cluster', upsert: [cluster('a', 2)] }]);
      assert.deepEqual(h.names(h.next('cluster')), ['a'], 'a new version goes out');
    },
  },
  'SotW ignores a request with a stale nonce, subscription included': {
    protocols: [SOTW],
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('endpoint', ['a']);
      const out = h.next('endpoint')!;
      const outcome = h.state.handleRequest({ typeUrl: url('endpoint'), nonce: 'not-' + out.nonce, resourceNames: ['a', 'b'] });
      assert.ok('ignored' in outcome && /stale nonce/.test(outcome.ignored));
      assert.deepEqual(h.state.snapshot().endpoint!.subscribed, ['a']);
    },
  },
  'Delta applies subscription changes even with a stale nonce': {
    protocols: [DELTA],
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('endpoint', ['a']);
      const out = h.next('endpoint')!;
      h.state.handleRequest({ typeUrl: url('endpoint'), nonce: 'old', subscribe: ['b'] });
      assert.deepEqual(h.state.snapshot().endpoint!.subscribed, ['a', 'b']);
      h.ack(out);
      assert.deepEqual(h.names(h.next('endpoint')), ['b']);
    },
  },
  'a subscription change repeating the last, already ACKed nonce is applied (as Envoy and gRPC send it)': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('endpoint', ['a']);
      const out = h.next('endpoint')!;
      h.ack(out);
      const req = h.traits.namesAreFullSet ? { resourceNames: ['a', 'b'] } : { subscribe: ['b'] };
      const outcome = h.state.handleRequest({ typeUrl: url('endpoint'), nonce: out.nonce, ...req });
      assert.ok(!('ignored' in outcome), JSON.stringify(outcome));
      assert.deepEqual(h.names(h.next('endpoint')), ['b']);
    },
  },
  'a request answering an older response than the latest is stale': {
    protocols: [SOTW],
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('endpoint', ['a']);
      const first = h.next('endpoint')!;
      h.ack(first, ['a', 'b']);
      const second = h.next('endpoint')!;
      assert.deepEqual(h.names(second), ['b']);
      const outcome = h.state.handleRequest({ typeUrl: url('endpoint'), nonce: first.nonce, resourceNames: ['a'] });
      assert.ok('ignored' in outcome && /stale nonce/.test(outcome.ignored));
      assert.deepEqual(h.state.snapshot().endpoint!.subscribed, ['a', 'b']);
    },
  },
  'a SotW full-state CDS response re-sends only the changed clusters\' endpoints': {
    protocols: [SOTW],
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('cluster', []);
      h.subscribe('endpoint', ['a', 'b']);
      h.ack(h.next('cluster')!);
      h.ack(h.next('endpoint')!);
      h.cache.apply(VIEW, [{ kind: 'cluster', upsert: [cluster('a', 7)] }]);
      assert.deepEqual(h.names(h.next('cluster')), ['a', 'b'], 'full state');
      assert.deepEqual(h.names(h.next('endpoint')), ['a'], 'only a changed, so only a\'s assignment follows');
    },
  },
  'unknown type URL is ignored with a reason': {
    protocols: BOTH,
    run(h) {
      const outcome = h.state.handleRequest({ typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', nonce: '' });
      assert.ok('ignored' in outcome && /unknown type_url/.test(outcome.ignored));
    },
  },
  'named EDS subscription gets only the named assignments': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2], c: [3] });
      h.subscribe('endpoint', ['a', 'c']);
      assert.deepEqual(h.names(h.next('endpoint')), ['a', 'c']);
    },
  },
  'an endpoint change wakes only streams subscribed to it': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('endpoint', ['a']);
      assert.equal(h.state.interestedIn('endpoint', ['b']), false);
      assert.equal(h.state.interestedIn('endpoint', ['a']), true);
    },
  },
  'a changed Cluster makes its unchanged ClusterLoadAssignment go out again': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1] });
      h.subscribe('cluster', []);
      h.subscribe('endpoint', ['a']);
      h.ack(h.next('cluster')!);
      h.ack(h.next('endpoint')!);
      h.cache.apply(VIEW, [{ kind: 'cluster', upsert: [cluster('a', 5)] }]);
      const c = h.next('cluster')!;
      assert.deepEqual(h.names(c), ['a']);
      const e = h.next('endpoint');
      assert.deepEqual(h.names(e), ['a'], 'the endpoints follow the cluster even though they did not change');
    },
  },
  'a removed cluster: SotW omits it from the full state, Delta names it in removed_resources': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('cluster', []);
      h.ack(h.next('cluster')!);
      h.put({ a: [1] });
      const out = h.next('cluster')!;
      if (h.traits === SOTW) {
        assert.deepEqual(h.names(out), ['a']);
        assert.deepEqual(out.removed, []);
      } else {
        assert.deepEqual(h.names(out), []);
        assert.deepEqual(out.removed, ['b']);
      }
    },
  },
  'Delta answers a subscription to a missing resource as removed, once': {
    protocols: [DELTA],
    run(h) {
      h.put({ a: [1] });
      h.subscribe('endpoint', ['zzz']);
      const out = h.next('endpoint')!;
      assert.deepEqual(out.removed, ['zzz']);
      h.ack(out);
      assert.equal(h.next('endpoint'), undefined);
      h.put({ a: [1], zzz: [9] });
      assert.deepEqual(h.names(h.next('endpoint')), ['zzz'], 'it goes out once it exists');
    },
  },
  'Delta initial_resource_versions: current versions are not re-sent, others are': {
    protocols: [DELTA],
    run(h) {
      h.put({ a: [1], b: [2] });
      const va = h.cache.resources(VIEW, 'endpoint').get('a')!.version;
      h.subscribe('endpoint', ['a', 'b'], { initialVersions: { a: va, b: 'from-a-previous-process' } });
      assert.deepEqual(h.names(h.next('endpoint')), ['b']);
    },
  },
  'Delta reconnect with a resource that no longer exists gets it removed': {
    protocols: [DELTA],
    run(h) {
      h.put({ a: [1] });
      h.subscribe('cluster', [], { initialVersions: { gone: 'old-1' } });
      const out = h.next('cluster')!;
      assert.deepEqual(h.names(out), ['a']);
      assert.deepEqual(out.removed, ['gone']);
    },
  },
  'SotW: an empty list after named ones unsubscribes everything (not wildcard)': {
    protocols: [SOTW],
    run(h) {
      h.put({ a: [1] });
      h.subscribe('endpoint', ['a']);
      const out = h.next('endpoint')!;
      h.ack(out, []);
      const snap = h.state.snapshot().endpoint!;
      assert.equal(snap.wildcard, false);
      assert.deepEqual(snap.subscribed, []);
      assert.equal(snap.held, 0);
    },
  },
  'SotW EDS does not send an empty first answer (Envoy would reject it)': {
    protocols: [SOTW],
    run(h) {
      h.subscribe('endpoint', ['not-yet']);
      assert.equal(h.next('endpoint'), undefined);
    },
  },
  'Delta unsubscribe then resubscribe sends the resource again': {
    protocols: [DELTA],
    run(h) {
      h.put({ a: [1] });
      h.subscribe('endpoint', ['a']);
      h.ack(h.next('endpoint')!);
      h.state.handleRequest({ typeUrl: url('endpoint'), nonce: '', unsubscribe: ['a'] });
      assert.equal(h.next('endpoint'), undefined);
      h.state.handleRequest({ typeUrl: url('endpoint'), nonce: '', subscribe: ['a'] });
      assert.deepEqual(h.names(h.next('endpoint')), ['a']);
    },
  },
  'nonces carry a random per-stream part: another stream\'s nonce, or a sequential guess, ACKs nothing': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1] });
      h.subscribe('cluster', []);
      const out = h.next('cluster')!;
      const other = new Harness(h.traits);
      other.put({ a: [1] });
      other.subscribe('cluster', []);
      const theirs = other.next('cluster')!;
      assert.notEqual(out.nonce, theirs.nonce);
      assert.ok(out.nonce.length >= 16);
      for (const guess of ['1', '0', theirs.nonce]) {
        const r = h.state.handleRequest({ typeUrl: url('cluster'), nonce: guess, ...(h.traits.namesAreFullSet ? { resourceNames: [] } : {}) });
        assert.ok(!('ack' in r && r.ack), `guess ${guess} must not ACK`);
      }
      assert.equal(h.state.snapshot().cluster?.lastAckedVersion, '');
      assert.ok('ack' in h.ack(out));
    },
  },
  'a plain ACK does not rescan the subscription (the cost of a request is the names it carries)': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('endpoint', ['a', 'b']);
      h.ack(h.next('endpoint')!, ['a', 'b']);
      assert.equal(h.next('endpoint'), undefined);
      // After the ACK nothing is dirty: nextResponse returns before reading the view's resources.
      let reads = 0;
      const counting = new StreamState(h.traits, (k) => (reads++, h.cache.resources(VIEW, k)), () => h.cache.nextVersion());
      const first = counting.handleRequest(h.traits.namesAreFullSet ? { typeUrl: url('endpoint'), nonce: '', resourceNames: ['a'] } : { typeUrl: url('endpoint'), nonce: '', subscribe: ['a'] });
      assert.ok(!('ignored' in first));
      const out = counting.nextResponse('endpoint', true)!;
      const before = reads;
      counting.handleRequest({ typeUrl: url('endpoint'), nonce: out.nonce, ...(h.traits.namesAreFullSet ? { resourceNames: ['a'] } : {}) });
      assert.equal(counting.nextResponse('endpoint', true), undefined);
      assert.equal(reads, before, 'no resource read after a plain ACK');
    },
  },
  'a change to one name sends only that name and looks up only it': {
    protocols: BOTH,
    run(h) {
      const names = Array.from({ length: 100 }, (_, i) => `s${i}`);
      h.put(Object.fromEntries(names.map((n, i) => [n, [i + 1]])));
      const counting = new CountingMap(() => h.cache.resources(VIEW, 'endpoint'));
      const state = new StreamState(h.traits, (k) => (k === 'endpoint' ? counting : h.cache.resources(VIEW, k)), () => h.cache.nextVersion());
      h.cache.subscribe((changes) => {
        for (const c of changes) state.noteChange(c.kind, c.names);
      });
      state.handleRequest(h.traits.namesAreFullSet ? { typeUrl: url('endpoint'), nonce: '', resourceNames: names } : { typeUrl: url('endpoint'), nonce: '', subscribe: names });
      const first = state.nextResponse('endpoint', true)!;
      assert.equal(first.resources.length, 100);
      state.handleRequest({ typeUrl: url('endpoint'), nonce: first.nonce, ...(h.traits.namesAreFullSet ? { resourceNames: [...names] } : {}) });
      assert.equal(state.nextResponse('endpoint', true), undefined);
      h.cache.apply(VIEW, [{ kind: 'endpoint', upsert: [cla('s42', [9, 10])] }]);
      counting.gets = 0;
      const out = state.nextResponse('endpoint', true)!;
      assert.deepEqual(out.resources.map((r) => r.name), ['s42']);
      assert.ok(counting.gets <= 2, `looked up ${counting.gets} names for a change of one`);
    },
  },
  'a change to a name the stream neither subscribes to nor holds does not wake it': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('endpoint', ['a']);
      h.ack(h.next('endpoint')!);
      assert.equal(h.state.noteChange('endpoint', ['b']), false);
      assert.equal(h.next('endpoint'), undefined);
      assert.equal(h.state.noteChange('endpoint', ['a', 'b']), true);
    },
  },
  'a subscription change sends what became relevant, only that (EDS)': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2], c: [3] });
      h.subscribe('endpoint', ['a']);
      const first = h.next('endpoint')!;
      assert.deepEqual(h.names(first), ['a']);
      h.ack(first);
      const more = h.traits.namesAreFullSet
        ? h.state.handleRequest({ typeUrl: url('endpoint'), nonce: first.nonce, resourceNames: ['a', 'b', 'c'] })
        : h.state.handleRequest({ typeUrl: url('endpoint'), nonce: first.nonce, subscribe: ['b', 'c'] });
      assert.ok(!('ignored' in more));
      assert.deepEqual(h.names(h.next('endpoint')), ['b', 'c']);
    },
  },
  'wildcard: an added resource is sent alone (Delta) or with the rest (SotW CDS); a removed one is named removed (Delta) or left out (SotW)': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2] });
      h.subscribe('cluster', []);
      h.ack(h.next('cluster')!);
      h.put({ a: [1], b: [2], c: [3] });
      const added = h.next('cluster')!;
      assert.deepEqual(h.names(added), h.traits.explicitRemovals ? ['c'] : ['a', 'b', 'c']);
      assert.deepEqual(added.removed, []);
      h.ack(added);
      h.put({ a: [1], c: [3] });
      const gone = h.next('cluster')!;
      assert.ok(gone);
      if (h.traits.explicitRemovals) {
        assert.deepEqual(h.names(gone), []);
        assert.deepEqual(gone.removed, ['b']);
      } else {
        assert.deepEqual(h.names(gone), ['a', 'c']);
      }
      h.ack(gone);
      assert.equal(h.next('cluster'), undefined);
      assert.deepEqual([...h.state.heldVersions('cluster').keys()].sort(), ['a', 'c']);
    },
  },
  'streams due the same content share one version and one encoding; only the nonce differs': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1], b: [2] });
      const shared = new SharedResponses(() => h.cache.nextVersion());
      const slots = shared.slots(h.traits.name, VIEW);
      const codec = h.traits.explicitRemovals ? deltaCodec() : sotwCodec();
      const streams = [0, 1, 2].map(() => new StreamState(h.traits, (k) => h.cache.resources(VIEW, k), shared.versionFor(slots)));
      const sub = (s: StreamState) => s.handleRequest(h.traits.namesAreFullSet ? { typeUrl: url('endpoint'), nonce: '', resourceNames: ['a', 'b'] } : { typeUrl: url('endpoint'), nonce: '', subscribe: ['a', 'b'] });
      const outs = streams.map((s) => (sub(s), s.nextResponse('endpoint', true)!));
      assert.equal(new Set(outs.map((o) => o.version)).size, 1, 'one version for the same content');
      assert.equal(new Set(outs.map((o) => o.nonce)).size, 3, 'a nonce per stream');
      const bytes = outs.map((o) => codec.encode(o, slots.endpoint));
      assert.ok(slots.endpoint.parts, 'the encoding is kept for the other streams');
      const strip = (b: Buffer, nonce: string) => b.toString('latin1').replace(nonce, '');
      assert.equal(strip(bytes[0]!, outs[0]!.nonce), strip(bytes[1]!, outs[1]!.nonce));
      assert.deepEqual(bytes[2], codec.encode(outs[2]!), 'shared bytes equal a fresh encoding');
      // A stream sent the very same content again (a dependent re-sent) gets a version it was not sent last.
      const again = shared.versionFor(slots)('endpoint', outs[0]!.resources, outs[0]!.removed, outs[0]!.version);
      assert.notEqual(again, outs[0]!.version);
    },
  },
  'a SotW ACK whose names bytes repeat the last request\'s reads no names; other bytes are read': {
    protocols: [SOTW],
    run(h) {
      h.put({ a: [1], b: [2] });
      const codec = sotwCodec();
      const req = (names: string[], nonce: string) => {
        const bytes = Buffer.concat([
          ...names.map((n) => Buffer.concat([Buffer.from([0x1a, Buffer.byteLength(n)]), Buffer.from(n)])),
          Buffer.from([0x22, url('endpoint').length]),
          Buffer.from(url('endpoint')),
          ...(nonce ? [Buffer.from([0x2a, nonce.length]), Buffer.from(nonce)] : []),
        ]);
        const d = codec.decode(bytes);
        assert.ok('request' in d);
        return d.request;
      };
      const first = req(['a'], '');
      assert.ok(first.namesBytes);
      h.state.handleRequest(first);
      const out = h.next('endpoint')!;
      assert.deepEqual(h.names(out), ['a']);
      const ack = req(['a'], out.nonce);
      Object.defineProperty(ack, 'resourceNames', { get: () => assert.fail('names read for an ACK repeating them') });
      assert.deepEqual(h.state.handleRequest(ack), { kind: 'endpoint', ack: out.version, sentAt: 1_000 });
      assert.equal(h.next('endpoint'), undefined);
      h.state.handleRequest(req(['a', 'b'], out.nonce));
      assert.deepEqual(h.names(h.next('endpoint')), ['b']);
    },
  },
  'a response left unacknowledged is reported overdue': {
    protocols: BOTH,
    run(h) {
      h.put({ a: [1] });
      h.subscribe('cluster', []);
      h.next('cluster');
      assert.deepEqual(h.state.overdue(-1), ['cluster']);
      assert.deepEqual(h.state.overdue(60_000), []);
    },
  },
};

for (const [name, c] of Object.entries(cases)) {
  for (const traits of c.protocols) {
    test(`${name} [${traits.name}]`, () => c.run(new Harness(traits)));
  }
}

/**
 * `behind` (what /status reports) reads only the names marked since the last response, not the subscription: under
 * a random interleaving of cache changes, subscriptions, responses, ACKs and NACKs it must equal the count a full
 * comparison makes (every subscribed resource whose cached version is not the one the client holds).
 */
for (const traits of BOTH) {
  test(`behind equals a full comparison after any sequence of changes, requests and answers [${traits.name}]`, () => {
    const h = new Harness(traits);
    const rand = prng(traits === SOTW ? 7 : 11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
    const inFlight = new Map<ResourceKind, Outgoing>();
    const fullCount = (kind: ResourceKind): number => {
      const snap = h.state.snapshot()[kind];
      if (!snap) return 0;
      const all = h.cache.resources(VIEW, kind);
      const held = h.state.heldVersions(kind);
      const names = snap.wildcard ? [...all.keys()] : snap.subscribed;
      return names.filter((n) => all.has(n) && held.get(n) !== all.get(n)!.version).length;
    };
    h.put({ a: [1], b: [2] });
    h.subscribe('cluster', []);
    h.subscribe('endpoint', ['a']);
    let checked = 0;
    for (let step = 0; step < 400; step++) {
      const op = rand();
      if (op < 0.3) {
        const clusters: Record<string, number[]> = {};
        for (const n of NAMES) if (rand() < 0.6) clusters[n] = [1 + Math.floor(rand() * 3)];
        h.put(clusters);
      } else if (op < 0.45) {
        h.subscribe('endpoint', NAMES.filter(() => rand() < 0.5));
      } else if (op < 0.75) {
        const kind = pick<ResourceKind>(['cluster', 'endpoint']);
        if (!inFlight.has(kind)) {
          const out = h.next(kind);
          if (out) inFlight.set(kind, out);
        }
      } else {
        const kind = pick<ResourceKind>(['cluster', 'endpoint']);
        const out = inFlight.get(kind);
        if (out) {
          inFlight.delete(kind);
          if (rand() < 0.85) h.ack(out);
          else h.nack(out, 'rejected');
        }
      }
      for (const kind of ['cluster', 'endpoint'] as const) {
        assert.equal(h.state.summary()[kind]?.behind ?? 0, fullCount(kind), `step ${step}, ${kind}`);
        if (fullCount(kind) > 0) checked++;
      }
    }
    assert.ok(checked > 50, `the sequence put streams behind often enough to test (${checked} checks with something behind)`);
  });
}
