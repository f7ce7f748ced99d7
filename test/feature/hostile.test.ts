/**
 * Hostile clients over real gRPC against an in-process Herald (file source): a stream that does not read is
 * closed and what was buffered for it released; a huge Delta request does not stall other streams; new streams are
 * admitted at the configured rate and total; oversize requests get RESOURCE_EXHAUSTED; guessed nonces ACK nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { AdsClient, typeUrl } from '../support/ads-client';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { sleep, waitFor } from '../support/wait';
import { messageType } from '../../src/xds/protos';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
const node = (id: string) => ({ id, cluster: 'test', locality: { zone: 'z1' } });

/** `services` services of `endpoints` endpoints each: EDS responses of tens of KB per service. */
function mesh(services: number, endpoints: number): ServiceSpec[] {
  return Array.from({ length: services }, (_, s) => ({
    name: `svc-${s}`,
    endpoints: Array.from({ length: endpoints }, (_, i) => ({ address: `10.${s}.${i >> 8}.${i & 255}`, port: 8080, zone: 'z1' })),
  }));
}

function encode(protocol: 'sotw' | 'delta', fields: Record<string, unknown>): Buffer {
  const type = messageType(protocol === 'sotw' ? 'envoy.service.discovery.v3.DiscoveryRequest' : 'envoy.service.discovery.v3.DeltaDiscoveryRequest');
  return Buffer.from(type.encode(type.fromObject(fields)).finish());
}

/**
 * A raw ADS stream: sends pre-encoded requests; with `read: false` it never reads a byte of the responses (no
 * 'data' listener, so grpc-js stops taking data from HTTP/2 and the flow-control window closes).
 */
class RawStream {
  status: grpc.StatusObject | undefined;
  received = 0;
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  constructor(port: number, protocol: 'sotw' | 'delta', read: boolean) {
    // A small window makes "not reading" bite after a few tens of KB.
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc-node.flow_control_window': 65535 } as grpc.ChannelOptions);
    const id = (b: Buffer) => b;
    this.call = this.client.makeBidiStreamRequest(`${ADS}/${protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources'}`, id, id);
    if (read) this.call.on('data', () => this.received++);
    this.call.on('status', (s) => (this.status = s));
    this.call.on('error', () => {});
  }
  send(bytes: Buffer): void {
    this.call.write(bytes);
  }
  async ended(timeoutMs = 10_000): Promise<grpc.StatusObject> {
    return waitFor('stream end', () => this.status, timeoutMs);
  }
  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/**
 * A client that never reads, below gRPC: an HTTP/2 stream carrying gRPC-framed requests, paused from the start
 * so Node stops acknowledging its data and the flow-control window closes (grpc-js's own client would read up to
 * 16 messages ahead of the application).
 */
class NonReadingStream {
  status: number | undefined;
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  constructor(port: number, protocol: 'sotw' | 'delta', initialWindowSize = 65535) {
    this.session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize } });
    this.session.on('error', () => {});
    this.stream = this.session.request({
      ':method': 'POST',
      ':path': `${ADS}/${protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources'}`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.stream.pause();
    this.stream.on('error', () => {});
    this.stream.on('close', () => (this.status = this.stream.rstCode));
  }
  send(bytes: Buffer): void {
    const frame = Buffer.alloc(5 + bytes.length);
    frame.writeUInt32BE(bytes.length, 1);
    bytes.copy(frame, 5);
    this.stream.write(frame);
  }
  close(): void {
    this.session.destroy();
  }
}

async function metric(adminPort: number, re: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

test('a stream that does not read is closed after maxBlockedMs, its buffer released; a reading stream carries on', async (t) => {
  const h = await startTestHerald(mesh(20, 400), { xds: { limits: { maxBlockedMs: 1000 } } });
  const stuck = new NonReadingStream(h.xdsPort, 'sotw');
  const honest = new AdsClient(h.xdsPort, 'sotw');
  t.after(async () => {
    stuck.close();
    honest.close();
    await h.stop();
  });
  // EDS names are the services' resource names: file services are in namespace default.
  const names = mesh(20, 1).map((s) => `${s.name}.default`);
  stuck.send(encode('sotw', { node: node('stuck'), typeUrl: typeUrl('cluster') }));
  stuck.send(encode('sotw', { typeUrl: typeUrl('endpoint'), resourceNames: names }));
  await waitFor('bytes buffered for the stuck stream', () => h.xds.bufferedBytes() > 100_000, 5000);
  honest.send({ node: node('honest'), typeUrl: typeUrl('endpoint'), resourceNames: names });
  const eds = await honest.next('endpoint');
  assert.equal(eds.resources.size, 20);

  // Reset (RST_STREAM CANCEL): a status could not get past the unread data.
  assert.equal(await waitFor('stuck stream reset', () => stuck.status, 10_000), http2.constants.NGHTTP2_CANCEL);
  assert.equal(await metric(h.adminPort, /herald_xds_streams_closed_total\{reason="blocked"\} (\d+)/), 1);
  await waitFor('buffer released', () => h.xds.bufferedBytes() === 0, 5000);
  const proxies = (await h.adminGet('/proxies')).proxies;
  assert.deepEqual(proxies.map((p: any) => p.nodeId), ['honest'], 'the stuck stream is gone');
  // The honest stream still converges.
  honest.send({ typeUrl: typeUrl('endpoint'), resourceNames: names, responseNonce: eds.nonce });
  h.writeServices(mesh(20, 401));
  const eds2 = await honest.next('endpoint', 1);
  assert.equal(eds2.resources.size, 20);
});

test('a stream whose queued responses pass maxBufferedBytes is closed at once', async (t) => {
  const h = await startTestHerald(mesh(20, 400), { xds: { limits: { maxBufferedBytes: 65536, maxBlockedMs: 60_000 } } });
  // A flow-control window of 0: nothing written to the stream can leave. The small CDS response is taken into the
  // stream's buffer (under the transport's high-water mark), and the large EDS response queues behind it.
  const stuck = new NonReadingStream(h.xdsPort, 'sotw', 0);
  t.after(async () => {
    stuck.close();
    await h.stop();
  });
  stuck.send(encode('sotw', { node: node('stuck'), typeUrl: typeUrl('cluster') }));
  await waitFor('the CDS response buffered', () => h.xds.bufferedBytes() > 0, 5000);
  assert.equal((await h.adminGet('/proxies')).proxies.length, 1, 'one response is let through');
  stuck.send(encode('sotw', { typeUrl: typeUrl('endpoint'), resourceNames: mesh(20, 1).map((s) => `${s.name}.default`) }));
  assert.equal(await waitFor('stuck stream reset', () => stuck.status, 5000), http2.constants.NGHTTP2_CANCEL);
  assert.equal(await metric(h.adminPort, /herald_xds_streams_closed_total\{reason="buffer"\} (\d+)/), 1);
  assert.equal(h.xds.bufferedBytes(), 0);
});

test('behind a response the transport has not taken nothing more is queued: changes and requests wait', async (t) => {
  const h = await startTestHerald(mesh(20, 400), { xds: { limits: { maxBlockedMs: 60_000 } } });
  const stuck = new NonReadingStream(h.xdsPort, 'sotw');
  t.after(async () => {
    stuck.close();
    await h.stop();
  });
  stuck.send(encode('sotw', { node: node('stuck'), typeUrl: typeUrl('endpoint'), resourceNames: mesh(20, 1).map((s) => `${s.name}.default`) }));
  await waitFor('the big EDS response buffered', () => h.xds.bufferedBytes() > 65536, 5000);
  const held = h.xds.bufferedBytes();
  stuck.send(encode('sotw', { typeUrl: typeUrl('cluster') }));
  h.writeServices(mesh(20, 401));
  await sleep(500);
  assert.equal(h.xds.bufferedBytes(), held, 'neither the CDS response nor the changed EDS was queued');
  assert.equal(await metric(h.adminPort, /herald_xds_streams_blocked (\d+)/), 1);
  assert.equal((await h.adminGet('/proxies')).proxies.length, 1);
});

/** The longest event-loop stall (Herald runs in this process) while a Delta stream sends `names` initial versions. */
async function stallFor(port: number, names: number): Promise<{ worst: number; mb: number; stream: RawStream }> {
  const initial: Record<string, string> = {};
  for (let i = 0; i < names; i++) initial[`ghost-cluster-${i}`] = 'v1';
  const bytes = encode('delta', { node: node(`huge-${names}`), typeUrl: typeUrl('cluster'), initialResourceVersions: initial });
  const stream = new RawStream(port, 'delta', true);
  await sleep(100);
  let last = performance.now();
  let worst = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  try {
    stream.send(bytes);
    await waitFor('the huge request answered', () => stream.received > 0 || stream.status, 30_000, 5);
    await sleep(50);
  } finally {
    clearInterval(tick);
  }
  return { worst, mb: bytes.length / 1e6, stream };
}

test('a 150k-name Delta request is handled in linear time: the stall other streams see grows with names, not their square', async (t) => {
  const h = await startTestHerald(mesh(5, 3), { xds: { limits: { maxNamesPerRequest: 200_000, maxRequestBytes: 16 << 20 } } });
  const other = new AdsClient(h.xdsPort, 'sotw');
  const streams: RawStream[] = [];
  t.after(async () => {
    other.close();
    for (const s of streams) s.close();
    await h.stop();
  });
  other.send({ node: node('other'), typeUrl: typeUrl('cluster') });
  const cds = await other.next('cluster');
  other.send({ typeUrl: typeUrl('cluster'), responseNonce: cds.nonce });
  const small = await stallFor(h.xdsPort, 30_000);
  const big = await stallFor(h.xdsPort, 150_000);
  streams.push(small.stream, big.stream);
  t.diagnostic(`longest event-loop stall: 30k names ${small.worst.toFixed(0)} ms, 150k names ${big.worst.toFixed(0)} ms (${big.mb.toFixed(1)} MB)`);
  assert.equal(big.stream.status, undefined, 'served, not refused, under raised limits');
  // Linear: 5× the names costs about 5× (quadratic, as before, cost 25×: 150k names stalled 29 s).
  assert.ok(big.worst < 12 * Math.max(small.worst, 20), `30k: ${small.worst.toFixed(0)} ms, 150k: ${big.worst.toFixed(0)} ms`);
  h.writeServices(mesh(6, 3));
  await other.next('cluster', 1);
});

test('oversize requests get RESOURCE_EXHAUSTED with the limit named, counted; the default name limit refuses 150k names', async (t) => {
  const h = await startTestHerald(mesh(2, 1), { xds: { limits: { maxRequestBytes: 65536 } } });
  const big = new RawStream(h.xdsPort, 'sotw', true);
  const many = new RawStream(h.xdsPort, 'delta', true);
  t.after(async () => {
    big.close();
    many.close();
    await h.stop();
  });
  big.send(encode('sotw', { node: node('big'), typeUrl: typeUrl('endpoint'), resourceNames: ['x'.repeat(70_000)] }));
  const s1 = await big.ended();
  assert.equal(s1.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(s1.details, /maxRequestBytes/);
  assert.equal(await metric(h.adminPort, /herald_xds_bad_requests_total\{reason="too-large"\} (\d+)/), 1);
  await h.stop();

  const h2 = await startTestHerald(mesh(2, 1));
  t.after(() => h2.stop());
  const many2 = new RawStream(h2.xdsPort, 'delta', true);
  t.after(() => many2.close());
  const initial: Record<string, string> = {};
  for (let i = 0; i < 150_000; i++) initial[`c${i}`] = '1';
  many2.send(encode('delta', { node: node('many'), typeUrl: typeUrl('cluster'), initialResourceVersions: initial }));
  const s2 = await many2.ended();
  assert.equal(s2.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(s2.details, /150000 resources.*maxNamesPerRequest/);
  assert.equal(await metric(h2.adminPort, /herald_xds_bad_requests_total\{reason="too-many-names"\} (\d+)/), 1);
});

test('a storm of new streams is admitted at the configured rate; past maxStreams a stream gets UNAVAILABLE', async (t) => {
  const h = await startTestHerald(mesh(2, 1), { config: { admission: { newStreamsPerSecond: 20, burst: 5, maxStreams: 0 } } });
  const clients: RawStream[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await h.stop();
  });
  const started = performance.now();
  for (let i = 0; i < 60; i++) {
    const c = new RawStream(h.xdsPort, 'sotw', true);
    c.send(encode('sotw', { node: node(`storm-${i}`), typeUrl: typeUrl('cluster') }));
    clients.push(c);
  }
  await waitFor('every stream answered or refused', () => clients.every((c) => c.received > 0 || c.status), 15_000);
  const elapsed = (performance.now() - started) / 1000;
  const refused = clients.filter((c) => c.status?.code === grpc.status.UNAVAILABLE);
  const admitted = clients.filter((c) => c.received > 0);
  assert.equal(admitted.length + refused.length, 60);
  assert.ok(admitted.length >= 5 && admitted.length <= 5 + Math.ceil(20 * elapsed) + 1, `admitted ${admitted.length} in ${elapsed.toFixed(2)} s`);
  assert.ok(refused.length > 0);
  assert.match(refused[0]!.status!.details, /newStreamsPerSecond/);
  assert.equal(await metric(h.adminPort, /herald_xds_streams_refused_total\{reason="rate"\} (\d+)/), refused.length);
  await h.stop();

  const h2 = await startTestHerald(mesh(2, 1), { config: { admission: { maxStreams: 3 } } });
  t.after(() => h2.stop());
  const four = Array.from({ length: 4 }, (_, i) => new RawStream(h2.xdsPort, 'sotw', true));
  t.after(() => four.forEach((c) => c.close()));
  for (const [i, c] of four.entries()) {
    c.send(encode('sotw', { node: node(`cap-${i}`), typeUrl: typeUrl('cluster') }));
    await waitFor('answered or refused', () => c.received > 0 || c.status, 5000);
  }
  assert.equal(four.filter((c) => c.received > 0).length, 3);
  assert.equal(four[3]!.status?.code, grpc.status.UNAVAILABLE);
  assert.match(four[3]!.status!.details, /maxStreams/);
  four[0]!.close();
  await sleep(200);
  const fifth = new RawStream(h2.xdsPort, 'sotw', true);
  t.after(() => fifth.close());
  fifth.send(encode('sotw', { node: node('cap-5'), typeUrl: typeUrl('cluster') }));
  await waitFor('a closed stream frees its slot', () => fifth.received > 0, 5000);
});

test('guessed nonces ACK nothing: nonces are random per stream', async (t) => {
  const h = await startTestHerald(mesh(2, 1));
  const a = new AdsClient(h.xdsPort, 'sotw');
  const b = new AdsClient(h.xdsPort, 'sotw');
  t.after(async () => {
    a.close();
    b.close();
    await h.stop();
  });
  a.send({ node: node('a'), typeUrl: typeUrl('cluster') });
  b.send({ node: node('b'), typeUrl: typeUrl('cluster') });
  const ca = await a.next('cluster');
  const cb = await b.next('cluster');
  assert.notEqual(ca.nonce, cb.nonce);
  assert.ok(ca.nonce.length >= 16, `nonce ${ca.nonce} carries a random part`);
  // What a client that never read would try: the old sequential nonces, and the other stream's nonce.
  for (const guess of ['1', '2', '0', cb.nonce]) a.send({ typeUrl: typeUrl('cluster'), responseNonce: guess });
  await sleep(200);
  const p = (await h.adminGet('/proxies')).proxies.find((x: any) => x.nodeId === 'a');
  assert.equal(p.types[typeUrl('cluster')].lastAckedVersion, '', 'nothing was ACKed');
  assert.ok(p.types[typeUrl('cluster')].waitingForAckMs >= 0, 'the response still awaits its ACK');
  h.writeServices(mesh(3, 1));
  await sleep(300);
  assert.equal(a.count('cluster'), 1, 'no further response while the real nonce is unanswered');
  a.send({ typeUrl: typeUrl('cluster'), responseNonce: ca.nonce });
  const next = await a.next('cluster', 1);
  assert.equal(next.resources.size, 3);
});
