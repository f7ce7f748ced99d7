/**
 * The failure switches of one backend, set at run time through its control endpoint. This object is
 * the only owner of that state; the HTTP and gRPC servers read it per request.
 */
export interface SwitchState {
  /** When true, the readiness endpoint answers 503. */
  failReadiness: boolean;
  /** When set, ordinary requests answer this HTTP status (gRPC: UNAVAILABLE for ≥ 500). */
  status: number | null;
  /** Delay in ms before answering ordinary requests (HTTP and gRPC). */
  delayMs: number;
}

export class FailureSwitches {
  private state: SwitchState = { failReadiness: false, status: null, delayMs: 0 };

  snapshot(): SwitchState {
    return { ...this.state };
  }

  setFailReadiness(fail: boolean): void {
    this.state = { ...this.state, failReadiness: fail };
  }

  /** `code` must be an HTTP status 100–599, or null to answer normally again. */
  setStatus(code: number | null): void {
    if (code !== null && (!Number.isInteger(code) || code < 100 || code > 599)) throw new Error(`bad status code ${code}`);
    this.state = { ...this.state, status: code };
  }

  setDelay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`bad delay ${ms}`);
    this.state = { ...this.state, delayMs: ms };
  }

  reset(): void {
    this.state = { failReadiness: false, status: null, delayMs: 0 };
  }
}
