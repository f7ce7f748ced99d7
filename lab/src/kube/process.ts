/**
 * Child processes of the lab (etcd, kube-apiserver, pod backends, ...) that never outlive their parent.
 *
 * Each process runs in its own process group under a tiny sh guard. The guard's stdin is a pipe from
 * this Node process that nobody writes to: when this process exits for any reason (normal exit, crash,
 * SIGKILL from a test runner), the pipe closes, the guard reads EOF and SIGKILLs its whole group. On a
 * normal exit an `exit` hook also SIGKILLs every group still registered, synchronously.
 *
 * A ManagedProcess is owned by whoever spawned it; only that owner calls stop()/kill().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

/** Live process groups of this Node process; the exit hook kills whatever is still here. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  });
}

/**
 * True while a process of group `pgid` is alive. Zombies do not count: a killed grandchild is reaped
 * by init, which may take a second here. Reads /proc; elsewhere falls back to kill(-pgid, 0).
 */
export function groupHasLiving(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return signalGroup(pgid, 0);
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** Sends a signal to a process group; false when the group no longer exists. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * The guard, a POSIX sh script (dash on Debian; not bash, which sources ~/.bashrc when its stdin is a
 * socket, as Node's stdin pipe is, and the environment looks like rsh's): starts the command (stdin from /dev/null) in the background and a watchdog that SIGKILLs
 * the whole group (`kill 0`) when the guard's stdin reaches EOF. SIGTERM and SIGINT sent to the guard
 * are forwarded to the command; the guard exits with the command's status (128+N after signal N) and
 * takes the watchdog with it.
 */
const GUARD = [
  'exec 3<&0', // background jobs get /dev/null as stdin; keep the pipe on fd 3 for the watchdog
  '"$@" </dev/null 3<&- &',
  'child=$!',
  "( trap '' TERM INT; read -r _ <&3; kill -9 0 ) &",
  'watchdog=$!',
  'trap \'kill -15 "$child" 2>/dev/null\' TERM',
  'trap \'kill -2 "$child" 2>/dev/null\' INT',
  'while :; do',
  '  wait "$child"; code=$?',
  '  kill -0 "$child" 2>/dev/null || break',
  'done',
  'kill -9 "$watchdog" 2>/dev/null',
  'exit "$code"',
].join('\n');

export interface SpawnOptions {
  /** Human name used in errors (e.g. "etcd", "pod default/web-1"). */
  name: string;
  command: string;
  args: string[];
  /** File that receives stdout and stderr (appended). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The command's exit status as a shell reports it: its exit code, or 128+N when signal N ended it
 * (the guard passes 128+N on; a group SIGKILL ends the guard itself, which also means 137).
 */
export function exitStatus(e: ExitInfo): number {
  if (e.code !== null) return e.code;
  return 128 + (e.signal ? (constants.signals[e.signal] ?? 0) : 0);
}

/** One child process (and everything it started) in a process group of its own. */
export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  /** Process group id (the guard's pid). */
  readonly pgid: number;
  /** Resolves when the guard exits, i.e. when the command itself has exited or the group was killed. */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private readonly child: ChildProcess;

  private constructor(opts: SpawnOptions, child: ChildProcess) {
    this.name = opts.name;
    this.logFile = opts.logFile;
    this.child = child;
    if (child.pid === undefined) throw new Error(`${opts.name}: spawn failed`);
    this.pgid = child.pid;
    liveGroups.add(this.pgid);
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  /** Starts `command args` in a new process group; never throws for a command that fails later. */
  static spawn(opts: SpawnOptions): ManagedProcess {
    installExitHook();
    const fd = openSync(opts.logFile, 'a');
    try {
      const child = spawn('/bin/sh', ['-c', GUARD, 'lab-guard', opts.command, ...opts.args], {
        detached: true,
        stdio: ['pipe', fd, fd],
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      });
      const proc = new ManagedProcess(opts, child);
      // Neither the guard nor its stdin pipe may keep this process alive: its exit is what kills them.
      child.unref();
      (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      child.stdin?.on('error', () => undefined);
      return proc;
    } finally {
      closeSync(fd);
    }
  }

  /** Exit status once the command has exited, else undefined. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** True while any process of the group is alive (zombies excluded). */
  groupAlive(): boolean {
    return groupHasLiving(this.pgid);
  }

  /**
   * Sends a signal to the command: SIGTERM and SIGINT go through the guard to the command alone, any
   * other signal (SIGKILL, SIGSTOP, ...) to every process of the group. No-op once it is gone.
   */
  signal(signal: NodeJS.Signals): void {
    if (signal === 'SIGTERM' || signal === 'SIGINT') {
      try {
        process.kill(this.pgid, signal);
      } catch {
        /* already gone */
      }
    } else {
      signalGroup(this.pgid, signal);
    }
  }

  /** SIGKILLs the whole group at once and waits until no process of it is left. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.waitGroupGone(10_000);
    liveGroups.delete(this.pgid);
  }

  /**
   * Graceful stop: SIGTERM (or `signal`) to the group, then SIGKILL after `graceMs`; resolves when no
   * process of the group is left. Safe to call more than once and after the process has exited.
   */
  async stop(graceMs = 5_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.groupAlive()) {
      liveGroups.delete(this.pgid);
      return;
    }
    this.signal(signal);
    if (!(await this.waitGroupGone(graceMs))) {
      this.signal('SIGKILL');
      await this.waitGroupGone(10_000);
    }
    liveGroups.delete(this.pgid);
  }

  /** Polls until the group is empty; false on timeout. */
  private async waitGroupGone(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.groupAlive()) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
    return true;
  }
}
