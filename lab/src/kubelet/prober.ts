/**
 * Readiness of one backend process, as the kubelet's prober decides it. With an httpGet (or
 * tcpSocket) readinessProbe: probe every period, Ready after successThreshold successes in a row,
 * NotReady after failureThreshold failures in a row; until the first success it probes every 100 ms
 * (a lab shortcut, so pods become Ready without waiting a whole period). Without one (or with an exec
 * probe, which the lab does not run): Ready as soon as the HTTP port accepts connections, and then
 * for as long as the process lives. The period is min(periodSeconds, the kubelet's probe period),
 * because the API defaults periodSeconds to 10 s.
 *
 * Owned by one PodWorker, which calls stop() when the process is gone.
 */
import { sleep } from '../kube/wait';
import { resolvePort, runHttpGet, tcpConnect } from './probe';
import type { Container } from './types';

export class ReadinessProber {
  private stopped = false;
  private ready = false;
  private readonly timers = new AbortController();

  constructor(
    private readonly container: Container,
    /** The pod's name: an HTTP answer whose x-backend-pod header names another pod is a failure. */
    private readonly podName: string,
    private readonly ip: string,
    private readonly httpPort: number,
    private readonly kubeletPeriodMs: number,
    /** Called on every change of readiness (never twice with the same value). */
    private readonly onChange: (ready: boolean) => void,
  ) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.timers.abort();
  }

  private set(ready: boolean): void {
    if (this.stopped || ready === this.ready) return;
    this.ready = ready;
    this.onChange(ready);
  }

  private async run(): Promise<void> {
    const probe = this.container.readinessProbe;
    const check = this.checker();
    if (!probe || !check) {
      while (!this.stopped && !(await tcpConnect(this.ip, this.httpPort, 1_000))) await sleep(100, this.timers.signal);
      this.set(true);
      return;
    }
    await sleep((probe.initialDelaySeconds ?? 0) * 1000, this.timers.signal);
    const period = Math.min((probe.periodSeconds ?? 10) * 1000, this.kubeletPeriodMs);
    const successThreshold = probe.successThreshold ?? 1;
    const failureThreshold = probe.failureThreshold ?? 3;
    let everReady = false;
    let successes = 0;
    let failures = 0;
    while (!this.stopped) {
      const ok = await check();
      if (this.stopped) return;
      if (ok) {
        failures = 0;
        if (++successes >= successThreshold) {
          everReady = true;
          this.set(true);
        }
      } else {
        successes = 0;
        if (++failures >= failureThreshold) this.set(false);
      }
      await sleep(everReady ? period : Math.min(period, 100), this.timers.signal);
    }
  }

  private checker(): (() => Promise<boolean>) | undefined {
    const probe = this.container.readinessProbe;
    const timeoutMs = (probe?.timeoutSeconds ?? 1) * 1000;
    if (probe?.httpGet) {
      const action = probe.httpGet;
      return () => runHttpGet(action, this.ip, this.container, timeoutMs, this.podName);
    }
    if (probe?.tcpSocket) {
      const port = resolvePort(probe.tcpSocket.port, this.container);
      if (port === undefined) return undefined;
      return () => tcpConnect(this.ip, port, timeoutMs);
    }
    return undefined;
  }
}
