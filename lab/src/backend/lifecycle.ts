/**
 * Lifecycle of one backend: whether it is terminating (SIGTERM received) and how many requests are in
 * flight. main.ts alone calls markTerminating(); the servers call begin()/end() around each request.
 */
export class Lifecycle {
  private terminatingSince: number | null = null;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  get terminating(): boolean {
    return this.terminatingSince !== null;
  }

  get active(): number {
    return this.inFlight;
  }

  markTerminating(): void {
    this.terminatingSince ??= Date.now();
  }

  begin(): void {
    this.inFlight++;
  }

  end(): void {
    this.inFlight--;
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when no request is in flight, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
