/**
 * The load client of the fan-out and memory benchmarks, run as a forked child so its CPU does not count as the
 * server's. It opens N real ADS streams (SotW or Delta) over gRPC, each on its own HTTP/2 connection like a
 * sidecar Envoy: each subscribes to CDS (wildcard) and to EDS for one service, ACKs every response at once, and
 * reports over IPC when every stream holds its first configuration and, after `arm`, the receipt times of the
 * next `count` EDS responses.
 *
 * Requests are encoded with protobufjs from src/xds/protos.ts; responses are read with a protobufjs Reader
 * (version, type URL and nonce only: the resources are not decoded, as the ACK does not need them).
 *
 * IPC in:  connect {port, protocol, n, groups, first?, zonePrefix?} | arm {id, count} | close
 * IPC out: connected {ms, streams, failed} | armed {id} | receipts {id, times, bytes, cpuUs} | closed | error {message}
 */
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { messageType } from '../src/xds/protos';
import { RESOURCE_TYPES } from '../src/xds/resource-types';
import { epochNow } from './common';

type Protocol = 'sotw' | 'delta';

interface ConnectCmd {
  readonly cmd: 'connect';
  readonly port: number;
  readonly protocol: Protocol;
  readonly n: number;
  /** Stream i subscribes to EDS for service `svc-(i % groups)`. */
  readonly groups: number;
  /** Index of the first stream (node ids are `bench-<index>`), so repeated connects add distinct proxies. */
  readonly first?: number;
  /** Stream i states zone `<zonePrefix><i>` (a client lying about its zone); default: no zone. */
  readonly zonePrefix?: string;
}
type Cmd = ConnectCmd | { readonly cmd: 'arm'; readonly id: number; readonly count: number } | { readonly cmd: 'close' };

const CDS = RESOURCE_TYPES.cluster.typeUrl;
const EDS = RESOURCE_TYPES.endpoint.typeUrl;
const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
const identity = (b: Buffer) => b;

function send(msg: unknown): void {
  if (process.connected) process.send?.(msg);
}


/** version (field 1), type_url (4) and nonce (5): the same numbers in DiscoveryResponse and DeltaDiscoveryResponse. */
function envelope(buf: Buffer): { version: string; typeUrl: string; nonce: string } {
  const r = protobuf.Reader.create(buf);
  let version = '';
  let typeUrl = '';
  let nonce = '';
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        version = r.string();
        break;
      case 4:
        typeUrl = r.string();
        break;
      case 5:
        nonce = r.string();
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return { version, typeUrl, nonce };
}

class Load {
  private readonly clients: grpc.Client[] = [];
  private readonly calls: Array<grpc.ClientDuplexStream<Buffer, Buffer>> = [];
  private armed: { id: number; count: number; times: number[]; bytes: number; cpu: NodeJS.CpuUsage } | undefined;
  private failed = 0;
  private closing = false;

  constructor(private readonly c: ConnectCmd) {}

  /** Opens every stream, at most `window` still waiting for their first configuration at a time. */
  async connect(window = 100): Promise<void> {
    let next = 0;
    let done = 0;
    await new Promise<void>((resolve) => {
      const openOne = () => {
        const i = next++;
        this.open(i, () => {
          done++;
          if (next < this.c.n) openOne();
          if (done === this.c.n) resolve();
        });
      };
      for (let k = 0; k < Math.min(window, this.c.n); k++) openOne();
    });
  }

  private open(k: number, ready: () => void): void {
    const { protocol, port } = this.c;
    const i = (this.c.first ?? 0) + k;
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      // One HTTP/2 connection per stream, as with real sidecars (grpc-js would otherwise share one).
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 64 << 20,
    });
    const method = protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
    const call = client.makeBidiStreamRequest(`${ADS}/${method}`, identity, identity);
    this.clients.push(client);
    this.calls.push(call);
    const svc = `svc-${i % this.c.groups}`;
    const names = (typeUrl: string) => (typeUrl === EDS ? [svc] : []);
    const reqType = messageType(protocol === 'sotw' ? 'envoy.service.discovery.v3.DiscoveryRequest' : 'envoy.service.discovery.v3.DeltaDiscoveryRequest');
    const write = (fields: Record<string, unknown>) => call.write(Buffer.from(reqType.encode(reqType.create(fields)).finish()));
    const node = { id: `bench-${i}`, cluster: 'bench', userAgentName: 'envoy', locality: { zone: this.c.zonePrefix !== undefined ? `${this.c.zonePrefix}${i}` : '' } };
    let gotCds = false;
    let gotEds = false;
    let isReady = false;
    call.on('data', (buf: Buffer) => {
      const at = epochNow();
      const env = envelope(buf);
      // ACK at once: the same subscription (SotW restates it; Delta only names the nonce).
      if (protocol === 'sotw') write({ versionInfo: env.version, responseNonce: env.nonce, typeUrl: env.typeUrl, resourceNames: names(env.typeUrl) });
      else write({ typeUrl: env.typeUrl, responseNonce: env.nonce });
      if (env.typeUrl === CDS) gotCds = true;
      if (env.typeUrl === EDS) {
        gotEds = true;
        const a = this.armed;
        if (a && isReady) {
          a.times.push(at);
          a.bytes += buf.length;
          if (a.times.length === a.count) {
            this.armed = undefined;
            const cpu = process.cpuUsage(a.cpu);
            send({ type: 'receipts', id: a.id, times: a.times, bytes: a.bytes, cpuUs: cpu.user + cpu.system });
          }
        }
      }
      if (!isReady && gotCds && gotEds) {
        isReady = true;
        ready();
      }
    });
    call.on('error', (err: Error) => {
      this.failed++;
      if (!isReady) {
        isReady = true;
        ready();
      }
      if (this.failed <= 3 && !this.closing) send({ type: 'error', message: `stream ${i}: ${err.message}` });
    });
    if (protocol === 'sotw') {
      write({ node, typeUrl: CDS, resourceNames: [] });
      write({ typeUrl: EDS, resourceNames: [svc] });
    } else {
      write({ node, typeUrl: CDS, resourceNamesSubscribe: [] });
      write({ typeUrl: EDS, resourceNamesSubscribe: [svc] });
    }
  }

  arm(id: number, count: number): void {
    this.armed = { id, count, times: [], bytes: 0, cpu: process.cpuUsage() };
  }

  get failures(): number {
    return this.failed;
  }

  close(): void {
    this.closing = true;
    for (const c of this.calls) c.cancel();
    for (const c of this.clients) c.close();
  }
}

/** Every connect adds streams; `arm` watches the latest set, `close` closes them all. */
const loads: Load[] = [];

process.on('message', (m: Cmd) => {
  void (async () => {
    try {
      switch (m.cmd) {
        case 'connect': {
          const started = performance.now();
          const load = new Load(m);
          loads.push(load);
          await load.connect();
          send({ type: 'connected', ms: performance.now() - started, streams: m.n, failed: load.failures });
          break;
        }
        case 'arm':
          loads[loads.length - 1]?.arm(m.id, m.count);
          send({ type: 'armed', id: m.id });
          break;
        case 'close':
          for (const load of loads) load.close();
          send({ type: 'closed' });
          setTimeout(() => process.exit(0), 50);
          break;
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});

process.on('disconnect', () => process.exit(0));
