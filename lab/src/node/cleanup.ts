/**
 * Teardown of a real-node run, keyed by its run id, that works whoever calls it: the harness on stop(),
 * the guard process when the harness dies (SIGKILL included), or the next run's start-up sweep.
 *
 * A run's state is its folder `<root>/<id>/` with run.json (RunRecord) written before anything is
 * started. cleanupRun() is idempotent and never throws; it:
 *  1. SIGKILLs every process that belongs to the run: whose command line names the run folder, whose
 *     cgroup path holds the run's cgroup root, or that lives in the run's network namespace;
 *  2. unmounts whatever is mounted under the run folder (the node's mounts live in a mount namespace of
 *     their own and vanish with its processes; this is the belt to those braces);
 *  3. deletes the network namespace (its links, addresses, routes, iptables rules and per-namespace
 *     sysctls go with it), the host's blackhole route for the node's addresses, and the cgroups of the
 *     run root in every hierarchy;
 *  4. writes back every host sysctl in the record whose value changed;
 *  5. removes the run's shim sockets from /run/containerd/s (named from its task ids, so another run's
 *     are never touched), /run/containerd if the run created it and it is empty, and the folder.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What a run needs to be undone; written at start, before any change is made. */
export interface RunRecord {
  id: string;
  /** The harness process and its start time (field 22 of /proc/pid/stat), so a reused pid is not mistaken for it. */
  ownerPid: number;
  ownerStart: string;
  guardPid?: number;
  netns: string;
  /** The kubelet's cgroupRoot without the leading slash, e.g. herald-node-ab12cd. */
  cgroupName: string;
  /** Host sysctls as they were (path under /proc/sys → value). */
  sysctls: Record<string, string>;
  /** Which of /run/containerd, /run/containerd/s existed before the run. */
  shimDirsExisted?: Record<string, boolean>;
  /** The host route this run added (`blackhole <range>`), so host-side traffic to node addresses is dropped. */
  hostBlackhole?: string;
}

/** Host sysctls the kubelet, kube-proxy or CNI plugins are known to change; recorded and restored. */
export const WATCHED_SYSCTLS = [
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'net/ipv4/ip_forward',
  'net/bridge/bridge-nf-call-iptables',
  'net/netfilter/nf_conntrack_max',
] as const;

export const SHIM_SOCKET_DIR = '/run/containerd/s';

/** The folder that holds every run's folder: $HERALD_NODE_ROOT, else /tmp/herald-node. */
export function runsRoot(): string {
  return process.env['HERALD_NODE_ROOT'] ?? '/tmp/herald-node';
}

export function readSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of WATCHED_SYSCTLS) {
    try {
      out[s] = fs.readFileSync(`/proc/sys/${s}`, 'utf8').trim();
    } catch {
      /* not present on this kernel */
    }
  }
  return out;
}

export function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function readOr(file: string, fallback = ''): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function netnsInode(netns: string): string | undefined {
  try {
    return `net:[${fs.statSync(`/run/netns/${netns}`).ino}]`;
  } catch {
    return undefined;
  }
}

/** Pids of the run's processes (never this process). */
export function runProcesses(runDir: string, rec: Pick<RunRecord, 'cgroupName' | 'netns'>): number[] {
  const inode = netnsInode(rec.netns);
  const out: number[] = [];
  for (const d of listDir('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const stat = readOr(`/proc/${d}/stat`);
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (!stat || state === 'Z' || state === 'X') continue;
    const cmdline = readOr(`/proc/${d}/cmdline`).replace(/\0/g, ' ');
    let mine = cmdline.includes(runDir) || readOr(`/proc/${d}/cgroup`).includes(`/${rec.cgroupName}`);
    if (!mine && inode) {
      try {
        mine = fs.readlinkSync(`/proc/${d}/ns/net`) === inode;
      } catch {
        /* gone */
      }
    }
    if (mine) out.push(Number(d));
  }
  return out;
}

/** Mount points under `dir` in this process's mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readOr('/proc/self/mountinfo')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/**
 * The shim sockets of the run's containerd: containerd 1.6 names each one
 * /run/containerd/s/<sha256 of "<containerd address>/<namespace>/<task id>"> (runtime/v2/shim
 * SocketAddress), whatever its own state dir; the task ids are the run's state folders.
 */
export function shimSockets(runDir: string): string[] {
  const address = path.join(runDir, 'containerd.sock');
  const tasks = path.join(runDir, 'containerd', 'state', 'io.containerd.runtime.v2.task');
  return listDir(tasks).flatMap((ns) =>
    listDir(path.join(tasks, ns)).map((id) => path.join(SHIM_SOCKET_DIR, createHash('sha256').update(path.join(address, ns, id)).digest('hex'))),
  );
}

/** Every cgroup folder of the run (all hierarchies), deepest first. */
export function runCgroups(cgroupName: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    out.push(dir);
    for (const e of listDir(dir)) {
      const p = path.join(dir, e);
      try {
        if (fs.statSync(p).isDirectory()) walk(p);
      } catch {
        /* gone */
      }
    }
  };
  for (const h of listDir('/sys/fs/cgroup')) {
    const root = path.join('/sys/fs/cgroup', h, cgroupName);
    if (fs.existsSync(root)) walk(root);
  }
  return out.sort((a, b) => b.length - a.length);
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CleanupReport {
  killed: number;
  unmounted: number;
  cgroupsRemoved: number;
  sysctlsRestored: string[];
  problems: string[];
}

/** Undoes the run whose folder is `runDir` (see the module comment). Idempotent; never throws. */
export async function cleanupRun(runDir: string, log: (m: string) => void = () => undefined): Promise<CleanupReport> {
  const report: CleanupReport = { killed: 0, unmounted: 0, cgroupsRemoved: 0, sysctlsRestored: [], problems: [] };
  let rec: RunRecord;
  try {
    rec = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as RunRecord;
  } catch {
    if (fs.existsSync(runDir)) fs.rmSync(runDir, { recursive: true, force: true });
    return report;
  }
  // 1. Processes: kill until none is left (containers may fork while we look).
  const deadline = Date.now() + 15_000;
  for (;;) {
    const pids = runProcesses(runDir, rec);
    if (pids.length === 0) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
        report.killed += 1;
      } catch {
        /* gone */
      }
    }
    if (Date.now() > deadline) {
      report.problems.push(`processes still alive: ${pids.join(' ')}`);
      break;
    }
    await pause(100);
  }
  // 2. Mounts under the run folder (host mount namespace).
  for (const m of mountsUnder(runDir)) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      report.unmounted += 1;
    } catch {
      report.problems.push(`umount ${m} failed`);
    }
  }
  // 3. Network namespace and cgroups.
  if (fs.existsSync(`/run/netns/${rec.netns}`)) {
    try {
      execFileSync('ip', ['netns', 'delete', rec.netns], { stdio: 'ignore' });
    } catch {
      report.problems.push(`ip netns delete ${rec.netns} failed`);
    }
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const left = runCgroups(rec.cgroupName);
    if (left.length === 0) break;
    for (const cg of left) {
      try {
        fs.rmdirSync(cg);
        report.cgroupsRemoved += 1;
      } catch {
        /* busy: its processes are still exiting */
      }
    }
    if (attempt === 19) report.problems.push(`cgroups left: ${runCgroups(rec.cgroupName).join(' ')}`);
    else if (runCgroups(rec.cgroupName).length > 0) await pause(100);
  }
  if (rec.hostBlackhole) {
    try {
      execFileSync('ip', ['route', 'del', 'blackhole', rec.hostBlackhole], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  // 4. Host sysctls.
  for (const [s, before] of Object.entries(rec.sysctls)) {
    const now = readOr(`/proc/sys/${s}`).trim();
    if (now === '' || now === before) continue;
    try {
      fs.writeFileSync(`/proc/sys/${s}`, before);
      report.sysctlsRestored.push(`${s}: ${now} → ${before}`);
    } catch (err) {
      report.problems.push(`restore ${s}: ${(err as Error).message}`);
    }
  }
  // 5. Shim sockets and the folder (its logs are kept beside it when $HERALD_LAB_KEEP=1).
  if (process.env['HERALD_LAB_KEEP'] === '1') {
    try {
      const keep = `${runDir}.logs`;
      fs.mkdirSync(keep, { recursive: true });
      for (const f of listDir(runDir)) if (f.endsWith('.log')) fs.copyFileSync(path.join(runDir, f), path.join(keep, f));
      if (fs.existsSync(path.join(runDir, 'pod-logs'))) fs.cpSync(path.join(runDir, 'pod-logs'), path.join(keep, 'pod-logs'), { recursive: true });
    } catch (err) {
      report.problems.push(`keeping logs: ${(err as Error).message}`);
    }
  }
  for (const sock of shimSockets(runDir)) fs.rmSync(sock, { force: true });
  for (const d of [SHIM_SOCKET_DIR, path.dirname(SHIM_SOCKET_DIR)]) {
    if (rec.shimDirsExisted?.[d] === false && listDir(d).length === 0) fs.rmSync(d, { recursive: true, force: true });
  }
  try {
    fs.rmSync(runDir, { recursive: true, force: true });
  } catch (err) {
    report.problems.push(`rm ${runDir}: ${(err as Error).message}`);
  }
  log(`cleanup ${rec.id}: killed ${report.killed}, unmounted ${report.unmounted}, cgroups removed ${report.cgroupsRemoved}` +
    `${report.sysctlsRestored.length ? `, sysctls restored: ${report.sysctlsRestored.join(', ')}` : ''}` +
    `${report.problems.length ? `; problems: ${report.problems.join('; ')}` : ''}`);
  return report;
}

/** True while the run's owner (pid with the recorded start time) or its guard is alive. */
export function runIsLive(rec: RunRecord): boolean {
  if (processStart(rec.ownerPid) === rec.ownerStart) return true;
  return rec.guardPid !== undefined && processStart(rec.guardPid) !== undefined && readOr(`/proc/${rec.guardPid}/cmdline`).includes(rec.id);
}

/** Cleans every run under runsRoot() whose owner and guard are gone, and stray herald-node namespaces. */
export async function sweepStaleRuns(log: (m: string) => void = () => undefined): Promise<number> {
  let n = 0;
  const root = runsRoot();
  const live = new Set<string>();
  for (const id of listDir(root)) {
    const dir = path.join(root, id);
    let rec: RunRecord | undefined;
    try {
      rec = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunRecord;
    } catch {
      rec = undefined;
    }
    if (rec && runIsLive(rec)) {
      live.add(rec.netns);
      continue;
    }
    if (!fs.statSync(dir).isDirectory()) continue;
    await cleanupRun(dir, log);
    n += 1;
  }
  for (const ns of listDir('/run/netns')) {
    if (ns.startsWith('herald-node-') && !live.has(ns)) {
      try {
        execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
        log(`deleted stray network namespace ${ns}`);
      } catch {
        /* in use or gone */
      }
    }
  }
  return n;
}
