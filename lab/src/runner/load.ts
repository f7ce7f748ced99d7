/**
 * The load generator: a fixed request rate through each client Envoy's egress listener to the service, retries
 * off (Envoy's route has none by default, and the generator never retries), recording each response's status,
 * latency and answering backend. Requests are not skipped when earlier ones are slow: the rate is open-loop.
 */
import * as http from 'node:http';

export interface RequestRecord {
  /** ms since the generator started. */
  readonly t: number;
  readonly client: number;
  /** HTTP status, or a connection failure as `error:<code>`. */
  readonly status: string;
  readonly latencyMs: number;
  readonly backend: string;
}

export interface LoadTarget {
  readonly egressPort: number;
  readonly host: string;
}

export class LoadGenerator {
  readonly records: RequestRecord[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly agents: http.Agent[] = [];
  private inflight = 0;
  readonly startedAt = Date.now();

  constructor(targets: readonly LoadTarget[], rps: number, private readonly timeoutMs = 10_000) {
    targets.forEach((target, client) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
      this.agents.push(agent);
      const every = 1000 / rps;
      let next = Date.now();
      const tick = () => {
        const now = Date.now();
        while (next <= now) {
          this.fire(target, client, agent);
          next += every;
        }
        this.timers[client] = setTimeout(tick, Math.max(1, next - Date.now()));
      };
      tick();
    });
  }

  private fire(target: LoadTarget, client: number, agent: http.Agent): void {
    const start = Date.now();
    this.inflight++;
    const done = (status: string, backend = '') => {
      this.inflight--;
      this.records.push({ t: start - this.startedAt, client, status, latencyMs: Date.now() - start, backend });
    };
    const req = http.request({ host: '127.0.0.1', port: target.egressPort, path: '/', headers: { host: target.host }, agent, timeout: this.timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => done(String(res.statusCode), String(res.headers['x-backend-pod'] ?? '')));
      res.on('error', () => done('error:response'));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => done(`error:${err.code ?? 'unknown'}`));
    req.end();
  }

  /** Stops sending and waits (bounded) for requests in flight. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    const deadline = Date.now() + this.timeoutMs + 1000;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const a of this.agents) a.destroy();
  }
}
