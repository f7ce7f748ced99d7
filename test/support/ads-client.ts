/**
 * A minimal ADS client for feature tests: real gRPC to Herald, requests encoded and responses decoded with
 * Envoy's schema. It never ACKs on its own; the test decides what to send.
 */
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../../src/xds/protos';
import { RESOURCE_TYPES, type ResourceKind } from '../../src/xds/resource-types';

export const typeUrl = (k: ResourceKind) => RESOURCE_TYPES[k].typeUrl;

export interface Response {
  versionInfo: string;
  nonce: string;
  typeUrl: string;
  /** Decoded resources (SotW: all; Delta: the upserts), by name. */
  resources: Map<string, any>;
  /** Delta: per-resource versions and removals. */
  versions: Map<string, string>;
  removed: string[];
}

export class AdsClient {
  readonly responses: Response[] = [];
  status: grpc.StatusObject | undefined;
  private waiters: Array<() => void> = [];
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly client: grpc.Client;

  constructor(
    port: number,
    readonly protocol: 'sotw' | 'delta',
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    channelOptions: grpc.ChannelOptions = {},
  ) {
    // One connection per client, as each Envoy has its own (grpc-js would otherwise share one connection among
    // every client of the process, and Herald allows 100 streams per connection).
    this.client = new grpc.Client(`127.0.0.1:${port}`, credentials, { 'grpc.use_local_subchannel_pool': 1, ...channelOptions });
    const method = protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
    const id = (b: Buffer) => b;
    this.call = this.client.makeBidiStreamRequest(`/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`, id, id);
    const respType = messageType(protocol === 'sotw' ? 'envoy.service.discovery.v3.DiscoveryResponse' : 'envoy.service.discovery.v3.DeltaDiscoveryResponse');
    this.call.on('data', (b: Buffer) => {
      this.responses.push(this.decode(respType.decode(b) as any));
      this.wake();
    });
    this.call.on('status', (s) => {
      this.status = s;
      this.wake();
    });
    this.call.on('error', () => this.wake());
  }

  private decode(m: any): Response {
    const resources = new Map<string, any>();
    const versions = new Map<string, string>();
    const decodeAny = (any: any) => {
      const url: string = any.type_url ?? any.typeUrl;
      const type = messageType(url.replace('type.googleapis.com/', ''));
      return type.toObject(type.decode(any.value), { enums: String, longs: Number, defaults: false });
    };
    if (this.protocol === 'sotw') {
      for (const any of m.resources) {
        const r: any = decodeAny(any);
        resources.set(r.name ?? r.clusterName, r);
      }
      return { versionInfo: m.versionInfo, nonce: m.nonce, typeUrl: m.typeUrl, resources, versions, removed: [] };
    }
    for (const res of m.resources) {
      resources.set(res.name, decodeAny(res.resource));
      versions.set(res.name, res.version);
    }
    return { versionInfo: m.systemVersionInfo, nonce: m.nonce, typeUrl: m.typeUrl, resources, versions, removed: m.removedResources };
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Sends raw bytes (for malformed-input tests). */
  sendRaw(bytes: Buffer): void {
    this.call.write(bytes);
  }

  /** Sends a request; fields are in protobufjs form for the protocol's request type. */
  send(fields: Record<string, unknown>): void {
    const type = messageType(this.protocol === 'sotw' ? 'envoy.service.discovery.v3.DiscoveryRequest' : 'envoy.service.discovery.v3.DeltaDiscoveryRequest');
    this.call.write(Buffer.from(type.encode(type.fromObject(fields)).finish()));
  }

  /** Waits for the n-th response (1-based) of a type, counting from all received so far. */
  async next(kind: ResourceKind, after = 0, timeoutMs = 5000): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.responses.filter((r) => r.typeUrl === typeUrl(kind))[after];
      if (found) return found;
      if (this.status) throw new Error(`stream ended: ${this.status.code} ${this.status.details}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${kind} response #${after + 1} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  count(kind: ResourceKind): number {
    return this.responses.filter((r) => r.typeUrl === typeUrl(kind)).length;
  }

  /** Waits until the server ends the stream; resolves with its status. */
  async ended(timeoutMs = 5000): Promise<grpc.StatusObject> {
    const deadline = Date.now() + timeoutMs;
    while (!this.status) {
      if (Date.now() > deadline) throw new Error('stream did not end');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.status;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}
