/**
 * The lab's Herald replicas: N processes (the production topology runs two) reading the same inputs, each with
 * its own xDS and admin port, so scenarios can kill one and start it again. Every client Envoy is bootstrapped
 * with all of them (`herald bootstrap --xds a,b`).
 *
 * Ownership: HeraldReplicas owns the replica processes; only its methods start or kill them. It also keeps the
 * measurements of its own actions: when each replica was killed, and how long each start took to /readyz 200.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { ManagedProcess } from '../kube/process';
import { waitFor } from '../kube/wait';
import { HERALD_CLI } from '../product';

export interface Replica {
  /** a, b, c, ... */
  readonly name: string;
  readonly xdsPort: number;
  readonly adminPort: number;
  readonly config: string;
  proc: ManagedProcess | undefined;
}

/** One stream as a replica's /proxies shows it. */
export interface StreamInfo {
  readonly nodeId: string;
  /** Server clock, ms since the epoch. */
  readonly connectedAt: number;
}

export interface Start {
  readonly replica: string;
  /** Spawn → /readyz 200 (every source synced, the cache built). */
  readonly ms: number;
  /** Whether the replica had run before (a restart after a kill), not its first start. */
  readonly restart: boolean;
}

export class HeraldReplicas {
  readonly replicas: Replica[];
  readonly starts: Start[] = [];

  /**
   * `config(name, xdsPort, adminPort)` gives a replica's herald.yaml content; each is written to
   * `<dir>/herald-<name>.yaml` and logs to `<dir>/herald-<name>.log`.
   */
  constructor(
    private readonly dir: string,
    ports: ReadonlyArray<readonly [number, number]>,
    config: (xdsPort: number, adminPort: number) => Record<string, unknown>,
    /** A network namespace to run the replicas in (the real node's); their admin ports must then be forwarded to host loopback. */
    private readonly netns?: string,
  ) {
    this.replicas = ports.map(([xdsPort, adminPort], i) => {
      const name = String.fromCharCode(97 + i);
      const file = path.join(dir, `herald-${name}.yaml`);
      fs.writeFileSync(file, stringify(config(xdsPort, adminPort)));
      return { name, xdsPort, adminPort, config: file, proc: undefined };
    });
  }

  /** The `--xds` value of a client bootstrap: every replica. */
  xdsList(): string {
    return this.replicas.map((r) => `127.0.0.1:${r.xdsPort}`).join(',');
  }

  live(): Replica[] {
    return this.replicas.filter((r) => r.proc && !r.proc.exit);
  }

  /** Starts a replica (if it is not running) and waits until it serves; records how long that took. */
  async start(r: Replica, timeoutMs = 60_000): Promise<number> {
    if (r.proc && !r.proc.exit) return 0;
    const restart = this.starts.some((s) => s.replica === r.name);
    const t0 = Date.now();
    const proc = (r.proc = ManagedProcess.spawn({
      name: `herald-${r.name}`,
      ...(this.netns
        ? { command: 'nsenter', args: [`--net=/run/netns/${this.netns}`, '--', process.execPath, HERALD_CLI, 'serve', '--config', r.config] }
        : { command: process.execPath, args: [HERALD_CLI, 'serve', '--config', r.config] }),
      logFile: path.join(this.dir, `herald-${r.name}.log`),
      env: { ...process.env, HERALD_LOG_LEVEL: 'info' },
    }));
    await waitFor(`Herald ${r.name} /readyz`, async () => (await fetch(`http://127.0.0.1:${r.adminPort}/readyz`)).status === 200, {
      timeoutMs,
      intervalMs: 25,
      abortIf: () => (proc.exit ? `herald ${r.name} exited (${JSON.stringify(proc.exit)}); see ${proc.logFile}` : undefined),
    });
    const ms = Date.now() - t0;
    this.starts.push({ replica: r.name, ms, restart });
    return ms;
  }

  /** SIGKILLs a replica: no goodbye to any proxy. */
  async kill(r: Replica): Promise<void> {
    // kill() returns once no process of the group is left, possibly before the exit event: forget it here, so
    // that live() and start() never see a dead process as running.
    const proc = r.proc;
    r.proc = undefined;
    await proc?.kill();
  }

  /** The streams each live replica serves now (a replica that does not answer shows none). */
  async streams(): Promise<Map<string, StreamInfo[]>> {
    const out = new Map<string, StreamInfo[]>();
    await Promise.all(
      this.replicas.map(async (r) => {
        if (!r.proc || r.proc.exit) return out.set(r.name, []);
        try {
          const res = await fetch(`http://127.0.0.1:${r.adminPort}/proxies?limit=1000`, { signal: AbortSignal.timeout(2000) });
          const body = (await res.json()) as { proxies: Array<{ nodeId: string; connectedAt: string }> };
          out.set(r.name, body.proxies.map((p) => ({ nodeId: p.nodeId, connectedAt: Date.parse(p.connectedAt) })));
        } catch {
          out.set(r.name, []);
        }
      }),
    );
    return out;
  }

  /** The live replica that most proxies stream from (the first on a tie), or undefined when none is live. */
  async busiest(): Promise<Replica | undefined> {
    const streams = await this.streams();
    let best: Replica | undefined;
    for (const r of this.live()) if (!best || streams.get(r.name)!.length > streams.get(best.name)!.length) best = r;
    return best;
  }

  async stop(): Promise<void> {
    for (const r of this.replicas) await r.proc?.kill().catch(() => undefined);
  }
}
