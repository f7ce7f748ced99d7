/** Probes and lifecycle hooks as the lab kubelet runs them against a pod's backend. */
import http from 'node:http';
import { connect } from 'node:net';
import type { Container, HttpGetAction, LifecycleHandler } from './types';
import { sleep } from '../kube/wait';

/** Resolves a probe port (number, or the name of a container port). */
export function resolvePort(port: number | string, container: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/**
 * HTTP GET as the kubelet does it: success for a status 200–399 within `timeoutMs`. With `expectPod`,
 * an answer whose x-backend-pod header names another pod is a failure (a lab guard against a backend
 * of another lab on the same address).
 */
export function httpGet(ip: string, port: number, path: string, timeoutMs: number, expectPod?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: ip, port, path: path || '/', timeout: timeoutMs, agent: false, headers: { 'user-agent': 'kube-probe/lab' } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      const from = res.headers['x-backend-pod'];
      resolve(code >= 200 && code < 400 && (expectPod === undefined || from === undefined || from === expectPod));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
  });
}

/** TCP connect probe. */
export function tcpConnect(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

/** Runs one HTTP GET action against the pod (host defaults to the pod IP). */
export function runHttpGet(action: HttpGetAction, ip: string, container: Container, timeoutMs: number, expectPod?: string): Promise<boolean> {
  const port = resolvePort(action.port, container);
  if (port === undefined) return Promise.resolve(false);
  return httpGet(action.host || ip, port, action.path ?? '/', timeoutMs, expectPod);
}

/**
 * Seconds of a `sleep N` exec command (["sleep","N"], ["/bin/sleep","N"] or [sh,"-c","sleep N"]),
 * or undefined for any other command: the lab runs no other command from a pod spec on the host.
 */
export function sleepSeconds(command: readonly string[] | undefined): number | undefined {
  if (!command || command.length === 0) return undefined;
  const asNumber = (s: string | undefined) => (s !== undefined && /^\d+(\.\d+)?$/.test(s) ? Number(s) : undefined);
  if (/(^|\/)sleep$/.test(command[0] as string) && command.length === 2) return asNumber(command[1]);
  if (/(^|\/)(ba)?sh$/.test(command[0] as string) && command[1] === '-c' && command.length === 3) {
    const m = /^\s*sleep\s+(\d+(\.\d+)?)\s*$/.exec(command[2] as string);
    return m ? Number(m[1]) : undefined;
  }
  return undefined;
}

/**
 * Runs a preStop handler (sleep action, `exec` of `sleep N`, or httpGet) and resolves when it is done
 * or `deadline` (epoch ms) has passed or `signal` aborted, whichever comes first. Returns a note for unsupported handlers.
 */
export async function runPreStop(handler: LifecycleHandler, ip: string, container: Container, deadline: number, signal?: AbortSignal): Promise<string | undefined> {
  const left = () => Math.max(0, deadline - Date.now());
  if (handler.sleep) {
    await sleep(Math.min(handler.sleep.seconds * 1000, left()), signal);
    return undefined;
  }
  if (handler.exec) {
    const secs = sleepSeconds(handler.exec.command);
    if (secs === undefined) return `preStop exec ${JSON.stringify(handler.exec.command)} not supported by the lab kubelet (only sleep N)`;
    await sleep(Math.min(secs * 1000, left()), signal);
    return undefined;
  }
  if (handler.httpGet) {
    await runHttpGet(handler.httpGet, ip, container, Math.max(1, left()));
    return undefined;
  }
  return 'preStop handler not supported by the lab kubelet';
}
