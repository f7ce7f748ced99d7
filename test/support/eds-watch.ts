/**
 * An xDS client that watches ClusterLoadAssignments over Delta ADS, ACKs everything, and records every update
 * with its arrival time: what a proxy would see, for asserting order (DRAINING before removal) and counting pushes.
 */
import { AdsClient, typeUrl } from './ads-client';

export interface SeenEndpoint {
  readonly address: string;
  readonly port: number;
  readonly health: string;
  readonly zone: string;
  readonly priority: number;
}

export interface EdsUpdate {
  readonly at: number;
  readonly service: string;
  /** address:port → endpoint; empty when the assignment was removed. */
  readonly endpoints: ReadonlyMap<string, SeenEndpoint>;
}

export class EdsWatch {
  readonly history: EdsUpdate[] = [];
  private readonly client: AdsClient;
  private seen = 0;
  private timer: NodeJS.Timeout;

  constructor(xdsPort: number, services: string[], nodeId = 'eds-watch', zone = '') {
    this.client = new AdsClient(xdsPort, 'delta');
    this.client.send({ node: { id: nodeId, locality: { zone } }, typeUrl: typeUrl('endpoint'), resourceNamesSubscribe: services });
    this.timer = setInterval(() => this.drain(), 5);
  }

  subscribe(services: string[]): void {
    this.client.send({ typeUrl: typeUrl('endpoint'), resourceNamesSubscribe: services });
  }

  private drain(): void {
    const all = this.client.responses;
    while (this.seen < all.length) {
      const r = all[this.seen++]!;
      if (r.typeUrl !== typeUrl('endpoint')) continue;
      const at = Date.now();
      for (const [service, cla] of r.resources) {
        const endpoints = new Map<string, SeenEndpoint>();
        for (const loc of cla.endpoints ?? []) {
          for (const e of loc.lbEndpoints ?? []) {
            const a = e.endpoint.address.socketAddress;
            endpoints.set(`${a.address}:${a.portValue}`, { address: a.address, port: a.portValue, health: e.healthStatus ?? 'UNKNOWN', zone: loc.locality?.zone ?? '', priority: loc.priority ?? 0 });
          }
        }
        this.history.push({ at, service, endpoints });
      }
      for (const service of r.removed) this.history.push({ at, service, endpoints: new Map() });
      this.client.send({ typeUrl: typeUrl('endpoint'), responseNonce: r.nonce });
    }
  }

  latest(service: string): ReadonlyMap<string, SeenEndpoint> {
    for (let i = this.history.length - 1; i >= 0; i--) if (this.history[i]!.service === service) return this.history[i]!.endpoints;
    return new Map();
  }

  updates(service: string): EdsUpdate[] {
    return this.history.filter((u) => u.service === service);
  }

  /** Resolves with the first update (at or after index `from` of this service's updates) that satisfies `pred`. */
  async until(service: string, pred: (eps: ReadonlyMap<string, SeenEndpoint>) => boolean, timeoutMs = 20_000, from = 0): Promise<EdsUpdate> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.drain();
      const found = this.updates(service).slice(from).find((u) => pred(u.endpoints));
      if (found) return found;
      if (Date.now() > deadline) {
        const last = [...this.latest(service).values()].map((e) => `${e.address}:${e.port}=${e.health}`).join(', ');
        throw new Error(`timed out after ${timeoutMs} ms waiting for an EDS update of ${service} (latest: ${last || 'none'})`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.client.close();
  }
}

export function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
