/**
 * The file source: watches a services file and hands on a new version only when it is whole and deliberate.
 *
 * - Stable: a version is read (size-bounded, hashed) on the first file event and again `settleMs` later; only
 *   when both samples agree (inode, size, mtime, sha256) is it parsed. A file written in place in chunks is
 *   therefore never parsed half-written as long as its writer pauses less than `settleMs` between chunks.
 *   Atomic renames, editors that delete and recreate, and truncate-then-write all reduce to this.
 * - Bounded: a file over `maxBytes` is refused after one stat; more than `maxEndpoints` endpoints is refused
 *   after parsing; files over `inlineParseBytes` are parsed in a worker thread with a capped heap
 *   (`workerHeapMb`), so the event loop never stalls on a big parse and a huge one cannot exhaust memory.
 * - Lenient per endpoint: one malformed endpoint is skipped (logged with its YAML path and line, counted in
 *   herald_file_skipped_endpoints_total); only a structurally broken file is refused whole.
 * - Suspicious versions wait: an empty file (no bytes, only comments, or `services:` with nothing) is refused
 *   unless `allowEmpty`; a version with more than `maxLossPercent` fewer live (non-DRAINING) endpoints than the
 *   one served is served only after it stayed unchanged for `confirmMs` more (a writer that paused mid-file
 *   will have finished by then).
 * Whatever is refused (unreadable, missing, too big, broken, empty), the last good version stays served; each
 * refusal is logged once per file version and counted in herald_file_rejects_total{source,reason} (and, as for
 * every source, herald_source_errors_total{source}).
 *
 * Ownership: the source owns its timers, watch and Settle tracker; at most one check runs at a time (`busy`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Metrics } from '../../admin/metrics';
import type { Logger } from '../../log/log';
import type { Telemetry } from '../../telemetry';
import type { Source, SourceService, SourceSink, SourceSnapshot } from '../source';
import type { ParseOk } from './services-file';
import { parseServices } from './parse';
import { Settle, readSample, type Sample } from './settle';

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function fileSourceMetrics(m: Metrics) {
  return {
    errors: m.counter('herald_source_errors_total', 'Source inputs rejected, by source', ['source']),
    reloads: m.counter('herald_source_reloads_total', 'Source inputs accepted, by source', ['source']),
    rejects: m.counter('herald_file_rejects_total', 'Services-file versions not served, by source and reason (missing, unreadable, too-big, invalid, too-many-endpoints, empty, suspicious)', ['source', 'reason']),
    skipped: m.counter('herald_file_skipped_endpoints_total', 'Malformed endpoints left out of an otherwise valid services file, by source', ['source']),
    endpoints: m.gauge('herald_file_endpoints', 'Endpoints in the services-file version served, by source', ['source']),
  };
}

export const FILE_SOURCE_DEFAULTS = {
  /** Two reads this far apart must agree. 100 ms: no pause of cp, editors or a shell redirect comes close. */
  settleMs: 100,
  pollMs: 2000,
  allowEmpty: false,
  maxBytes: 8 * 1024 * 1024,
  maxEndpoints: 100_000,
  maxLossPercent: 50,
  confirmMs: 2000,
  inlineParseBytes: 64 * 1024,
  workerHeapMb: 1024,
  /** The worst parse measured within the default limits took about 25 s on a loaded 2-core machine. */
  parseTimeoutMs: 60_000,
} as const;

export interface FileSourceOptions {
  readonly name: string;
  readonly path: string;
  /** Two samples this far apart must agree before a version is parsed. */
  readonly settleMs?: number;
  /** A stat poll, the safety net for filesystems without inotify. */
  readonly pollMs?: number;
  /** An empty file is an empty mesh (otherwise it is refused). */
  readonly allowEmpty?: boolean;
  readonly maxBytes?: number;
  readonly maxEndpoints?: number;
  /** A version with this share (0..100) fewer live endpoints than the served one is suspicious. */
  readonly maxLossPercent?: number;
  /** A suspicious version is served once it stayed unchanged this long. */
  readonly confirmMs?: number;
  readonly inlineParseBytes?: number;
  readonly workerHeapMb?: number;
  readonly parseTimeoutMs?: number;
  /** The instance's metrics and logger. */
  readonly telemetry: Telemetry;
}

type Options = Required<FileSourceOptions>;

/** Why a version lost more than allowed, or undefined. Exported for tests. */
export function lossProblem(servedLive: number, nextLive: number, maxLossPercent: number): string | undefined {
  if (servedLive === 0 || nextLive >= servedLive) return undefined;
  const lost = servedLive - nextLive;
  return lost * 100 > servedLive * maxLossPercent ? `${lost} of ${servedLive} live endpoints gone (more than ${maxLossPercent}%)` : undefined;
}

export class FileSource implements Source {
  readonly name: string;
  private readonly o: Options;
  private readonly settle: Settle;
  private watcher: fs.FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  private busy = false;
  private again = false;
  private sink: SourceSink | undefined;
  private stopped = false;
  /** Aborted by stop(): ends a parse still running in a worker. */
  private readonly aborter = new AbortController();
  private served: { snapshot: SourceSnapshot; live: number } | undefined;
  /** A suspicious version waiting for confirmation: its hash and when it was first seen whole. */
  private suspect: { hash: string; since: number } | undefined;
  /** The last refusal logged, so a version that stays refused is logged once. */
  private lastRefusal = '';
  private lastStat = '';
  /** The version whose skipped endpoints were last logged and counted (a version is counted once). */
  private skipLogged = '';
  private readonly m: ReturnType<typeof fileSourceMetrics>;
  private readonly log: Logger;

  constructor(options: FileSourceOptions) {
    this.m = fileSourceMetrics(options.telemetry.metrics);
    this.log = options.telemetry.log;
    this.name = options.name;
    this.o = { ...FILE_SOURCE_DEFAULTS, ...options } as Options;
    this.settle = new Settle(this.o.settleMs);
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    const dir = path.dirname(this.o.path);
    const base = path.basename(this.o.path);
    try {
      this.watcher = fs.watch(dir, (_event, file) => {
        // `..data` and friends: Kubernetes' atomic writer swaps a ConfigMap volume's symlinks, never the file.
        if (file === null || file === base || file.startsWith('..')) this.wake();
      });
      this.watcher.on('error', (err) => this.log.write('warn', 'file watch failed; polling only', { source: this.name, path: this.o.path, error: err.message }));
    } catch (err) {
      this.log.write('warn', 'file watch unavailable; polling only', { source: this.name, path: this.o.path, error: (err as Error).message });
    }
    this.poll = setInterval(() => this.checkStat(), this.o.pollMs);
    this.poll.unref();
    // The first version is read before start resolves (bounded: a file that never settles is left to the timers).
    this.busy = true;
    let next: number | undefined;
    try {
      for (let i = 0; i < 10 && !this.stopped; i++) {
        next = await this.step();
        if (next === undefined) break;
        await new Promise((r) => setTimeout(r, next));
      }
    } finally {
      this.busy = false;
    }
    if (next !== undefined || this.again) this.later(next ?? 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.aborter.abort();
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.poll);
    clearTimeout(this.timer);
  }

  /** A file event: check now unless a check is due within settleMs (a second sample) or running. */
  private wake(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    if (this.timer === undefined || this.timerDue > Date.now() + this.o.settleMs) this.later(0);
  }

  private later(ms: number): void {
    clearTimeout(this.timer);
    this.timerDue = Date.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check();
    }, ms);
  }

  private checkStat(): void {
    fs.stat(this.o.path, { bigint: true }, (err, st) => {
      if (this.stopped) return;
      const sig = err ? `error:${err.code}` : `${st.ino}:${st.size}:${st.mtimeNs}`;
      if (sig !== this.lastStat) this.wake();
    });
  }

  private async check(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    this.again = false;
    let next: number | undefined;
    try {
      next = await this.step();
    } catch (err) {
      this.log.write('error', 'checking the services file failed', { source: this.name, path: this.o.path, error: (err as Error).stack });
    } finally {
      this.busy = false;
    }
    if (this.stopped) return;
    // An event during the check means the file moved on: sample it again now (the settle wait restarts then).
    if (this.again) this.later(0);
    else if (next !== undefined) this.later(next);
  }

  /** One sample and what follows from it; returns when to sample again, if needed. */
  private async step(): Promise<number | undefined> {
    const r = await readSample(this.o.path, this.o.maxBytes);
    if (r.kind !== 'sample') {
      this.settle.reset();
      this.lastStat = r.kind === 'missing' ? 'error:ENOENT' : '';
      if (r.kind === 'moving') return this.o.settleMs;
      if (r.kind === 'too-big') return this.refuse('too-big', `services file is ${r.size} bytes, over the limit of ${this.o.maxBytes}`, `${r.kind}:${r.size}`);
      return this.refuse(r.kind, r.kind === 'missing' ? 'services file is missing' : 'services file unreadable', r.kind, { error: r.error });
    }
    const s = r.sample;
    if (this.lastRefusal.startsWith('missing:') || this.lastRefusal.startsWith('unreadable:')) {
      this.log.write('info', 'services file readable again', { source: this.name, path: this.o.path });
      this.lastRefusal = '';
    }
    this.lastStat = `${s.ino}:${s.size}:${s.mtimeNs}`;
    const d = this.settle.observe(s);
    if (d.kind === 'unchanged') return undefined;
    if (d.kind === 'wait') return d.inMs;
    const parsed = await parseServices(s.text, this.name, {
      maxEndpoints: this.o.maxEndpoints,
      inlineBytes: this.o.inlineParseBytes,
      workerHeapMb: this.o.workerHeapMb,
      timeoutMs: this.o.parseTimeoutMs,
      signal: this.aborter.signal,
    });
    if (this.stopped) return undefined;
    if (!parsed.ok) {
      this.settle.accepted(s);
      const reason = parsed.problems.some((p) => p.includes('more than the limit of'))
        ? 'too-many-endpoints'
        : parsed.problems.some((p) => p.includes('MB of heap'))
          ? 'too-big'
          : 'invalid';
      return this.refuse(reason, 'services file rejected', s.hash, { problems: parsed.problems });
    }
    if (parsed.empty && !this.o.allowEmpty) {
      this.settle.accepted(s);
      return this.refuse('empty', 'services file is empty; an empty mesh needs allowEmpty: true on the source', s.hash);
    }
    if (parsed.skipped.length > 0 && this.skipLogged !== s.hash) {
      this.skipLogged = s.hash;
      this.m.errors.inc({ source: this.name });
      this.m.skipped.inc({ source: this.name }, parsed.skipped.length);
      const listed = parsed.skipped.slice(0, 20);
      this.log.write('warn', 'services file: malformed endpoints skipped, the rest kept', {
        source: this.name,
        path: this.o.path,
        skipped: parsed.skipped.length,
        problems: parsed.skipped.length > listed.length ? [...listed, `... and ${parsed.skipped.length - listed.length} more`] : listed,
      });
    }
    const loss = this.served ? lossProblem(this.served.live, parsed.live, this.o.maxLossPercent) : undefined;
    if (loss) {
      if (this.suspect?.hash !== s.hash) {
        this.suspect = { hash: s.hash, since: s.at };
        this.m.rejects.inc({ source: this.name, reason: 'suspicious' });
        this.log.write('warn', 'services file lost most endpoints; serving it only if it stays unchanged', { source: this.name, path: this.o.path, problem: loss, confirmMs: this.o.confirmMs });
      }
      const left = this.suspect.since + this.o.confirmMs - Date.now();
      if (left > 0) return left;
      this.log.write('warn', 'services file confirmed after a suspicious change; serving it', { source: this.name, path: this.o.path, problem: loss });
    }
    this.settle.accepted(s);
    this.serve(parsed, s.at);
    return undefined;
  }

  private refuse(reason: string, msg: string, version: string, fields: Record<string, unknown> = {}): undefined {
    const key = `${reason}:${version}`;
    if (key === this.lastRefusal) return undefined;
    this.lastRefusal = key;
    this.m.errors.inc({ source: this.name });
    this.m.rejects.inc({ source: this.name, reason });
    this.sink?.error?.(this.name, `${msg} (${reason})`);
    this.log.write('error', `${msg}; keeping the last good content`, { source: this.name, path: this.o.path, reason, ...fields });
    return undefined;
  }

  /** @param readAt epoch ms of the file read that gave `parsed` (the update's observedAt) */
  private serve(parsed: ParseOk, readAt: number): void {
    this.suspect = undefined;
    this.lastRefusal = '';
    const snapshot = keepUnchanged(this.served?.snapshot, parsed.snapshot);
    this.served = { snapshot, live: parsed.live };
    this.m.reloads.inc({ source: this.name });
    this.m.endpoints.set(parsed.endpoints, { source: this.name });
    this.log.write('info', 'services file loaded', { source: this.name, path: this.o.path, services: snapshot.size, endpoints: parsed.endpoints });
    this.sink?.update(this.name, snapshot, true, { observedAt: readAt });
  }
}

/** `next`, with each service equal to its previous version replaced by that previous object (identity = unchanged). */
function keepUnchanged(prev: SourceSnapshot | undefined, next: SourceSnapshot): SourceSnapshot {
  if (!prev) return next;
  const out = new Map<string, SourceService>();
  for (const [name, svc] of next) {
    const old = prev.get(name);
    out.set(name, old && sameService(old, svc) ? old : svc);
  }
  return out;
}

function sameService(a: SourceService, b: SourceService): boolean {
  if (a.endpoints.length !== b.endpoints.length || JSON.stringify(a.policy) !== JSON.stringify(b.policy)) return false;
  return a.endpoints.every((e, i) => {
    const f = b.endpoints[i]!;
    return e.address === f.address && e.port === f.port && e.zone === f.zone && e.weight === f.weight && e.health === f.health && JSON.stringify(e.labels) === JSON.stringify(f.labels);
  });
}
