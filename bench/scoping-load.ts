/**
 * The load client of bench/scoping.ts, a forked child so its CPU is not the server's. It opens N Delta ADS
 * streams, each on its own HTTP/2 connection, and behaves like a sidecar Envoy: node metadata from the parent
 * (namespace, egress scope), CDS wildcard, then an EDS subscription to every cluster CDS gave it; it ACKs every
 * response at once. It reports when every stream holds EDS for all of its clusters, and counts what it received.
 *
 * IPC in:  connect {port, metas: [metadata per stream]} | close
 * IPC out: connected {ms, clusters} | closed | error {message}
 */
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { messageType } from '../src/xds/protos';
import { RESOURCE_TYPES } from '../src/xds/resource-types';

const CDS = RESOURCE_TYPES.cluster.typeUrl;
const EDS = RESOURCE_TYPES.endpoint.typeUrl;
const identity = (b: Buffer) => b;
const send = (msg: unknown) => process.connected && process.send?.(msg);

/** type_url (4), nonce (5), and the names of the resources (field 2: Resource, its name is field 3). */
function read(buf: Buffer): { typeUrl: string; nonce: string; names: string[] } {
  const r = protobuf.Reader.create(buf);
  let typeUrl = '';
  let nonce = '';
  const names: string[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const f = tag >>> 3;
    if (f === 4) typeUrl = r.string();
    else if (f === 5) nonce = r.string();
    else if (f === 2) {
      const end = r.uint32() + r.pos;
      while (r.pos < end) {
        const t = r.uint32();
        if (t >>> 3 === 3) names.push(r.string());
        else r.skipType(t & 7);
      }
    } else r.skipType(tag & 7);
  }
  return { typeUrl, nonce, names };
}

const clients: grpc.Client[] = [];
const calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
const req = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');

function open(port: number, i: number, metadata: Record<string, string>, ready: (clusters: number) => void): void {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': 64 << 20 });
  const call = client.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', identity, identity);
  clients.push(client);
  calls.push(call);
  const write = (fields: Record<string, unknown>) => call.write(Buffer.from(req.encode(req.create(fields)).finish()));
  const fields = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, { stringValue: v }]));
  const clusters = new Set<string>();
  const held = new Set<string>();
  let isReady = false;
  call.on('data', (buf: Buffer) => {
    const m = read(buf);
    write({ typeUrl: m.typeUrl, responseNonce: m.nonce });
    if (m.typeUrl === CDS) {
      const fresh = m.names.filter((n) => !clusters.has(n));
      for (const n of fresh) clusters.add(n);
      if (fresh.length > 0) write({ typeUrl: EDS, resourceNamesSubscribe: fresh });
    } else if (m.typeUrl === EDS) for (const n of m.names) held.add(n);
    if (!isReady && clusters.size > 0 && held.size === clusters.size) {
      isReady = true;
      ready(clusters.size);
    }
  });
  call.on('error', (e: Error) => {
    if (!closing) send({ type: 'error', message: `stream ${i}: ${e.message}` });
  });
  write({ node: { id: `sidecar-${i}`, cluster: 'bench', userAgentName: 'envoy', metadata: { fields } }, typeUrl: CDS, resourceNamesSubscribe: [] });
}

let closing = false;
process.on('message', (cmd: { cmd: 'connect'; port: number; metas: Record<string, string>[] } | { cmd: 'close' }) => {
  if (cmd.cmd === 'close') {
    closing = true;
    for (const c of calls) c.cancel();
    for (const c of clients) c.close();
    send({ type: 'closed' });
    setTimeout(() => process.exit(0), 100);
    return;
  }
  const started = Date.now();
  let next = 0;
  let done = 0;
  let clusters = 0;
  const openOne = () => {
    const i = next++;
    open(cmd.port, i, cmd.metas[i]!, (n) => {
      clusters += n;
      done++;
      if (next < cmd.metas.length) openOne();
      if (done === cmd.metas.length) send({ type: 'connected', ms: Date.now() - started, clusters });
    });
  };
  for (let k = 0; k < Math.min(200, cmd.metas.length); k++) openOne();
});
