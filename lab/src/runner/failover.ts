/**
 * What the lab measures about its Herald replicas, from their /proxies (the server's own stream start times):
 *   - after a kill, each proxy that streamed from the killed replica: the time until it streams again from a live
 *     one (`connectedAt` of its new stream − the kill);
 *   - the number of streams each replica serves, over time (a sample whenever it changes), which shows streams
 *     spreading again over the replicas after one returns.
 *
 * Ownership: the monitor owns its poll timer and its records; the runner tells it about kills (killed()).
 */
import type { HeraldReplicas } from './heralds';

export interface Reconnect {
  readonly node: string;
  readonly from: string;
  readonly to: string;
  readonly ms: number;
}

export interface StreamsSample {
  /** Seconds since the monitor's time origin. */
  readonly s: number;
  /** Replica name → streams of the watched proxies. */
  readonly streams: Readonly<Record<string, number>>;
}

interface Pending {
  readonly node: string;
  readonly from: string;
  readonly at: number;
}

export class FailoverMonitor {
  readonly reconnects: Reconnect[] = [];
  readonly timeline: StreamsSample[] = [];
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private last = '';

  /** `nodes`: the node ids of the proxies to watch; `origin`: the time origin of the timeline (ms since the epoch). */
  constructor(
    private readonly heralds: HeraldReplicas,
    private readonly nodes: ReadonlySet<string>,
    private readonly origin: number,
    private readonly intervalMs = 50,
  ) {}

  start(): void {
    this.polling = true;
    const tick = async () => {
      if (!this.polling) return;
      await this.poll().catch(() => undefined);
      if (this.polling) this.timer = setTimeout(tick, this.intervalMs);
    };
    void tick();
  }

  /** Records that replica `from` was killed at `at` while `nodes` streamed from it. */
  killed(from: string, nodes: readonly string[], at: number): void {
    for (const node of nodes) if (this.nodes.has(node)) this.pending.push({ node, from, at });
  }

  /** Kills whose proxies have not reconnected yet, with their age. */
  outstanding(): Array<{ node: string; from: string; ageMs: number }> {
    const now = Date.now();
    return this.pending.map((p) => ({ node: p.node, from: p.from, ageMs: now - p.at }));
  }

  async stop(): Promise<void> {
    this.polling = false;
    clearTimeout(this.timer);
    await this.poll().catch(() => undefined);
  }

  private async poll(): Promise<void> {
    const streams = await this.heralds.streams();
    const counts: Record<string, number> = {};
    for (const name of [...streams.keys()].sort()) counts[name] = streams.get(name)!.filter((s) => this.nodes.has(s.nodeId)).length;
    const key = JSON.stringify(counts);
    if (key !== this.last) {
      this.last = key;
      this.timeline.push({ s: Math.round((Date.now() - this.origin) / 100) / 10, streams: counts });
    }
    this.pending = this.pending.filter((p) => {
      for (const [name, list] of streams) {
        // A stream started after the kill, on any live replica (with one replica: the same one, restarted).
        const s = list.find((x) => x.nodeId === p.node && x.connectedAt >= p.at);
        if (s) {
          this.reconnects.push({ node: p.node, from: p.from, to: name, ms: s.connectedAt - p.at });
          return false;
        }
      }
      return true;
    });
  }
}
