/**
 * The file source: watches a services file and emits its content on every change. A broken edit is logged and
 * counted, and the last good content stays in force. Watching uses fs.watch on the file's directory (editors
 * replace files by rename) plus a slow stat poll as a safety net for filesystems without inotify.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log } from '../../log/log';
import { counter } from '../../admin/metrics';
import type { Source, SourceSink } from '../source';
import { parseServicesFile } from './services-file';

const mErrors = counter('herald_source_errors_total', 'Source inputs rejected, by source');
const mReloads = counter('herald_source_reloads_total', 'Source inputs accepted, by source');

export interface FileSourceOptions {
  readonly name: string;
  readonly path: string;
  /** Coalesces bursts of file events (editors write several times). */
  readonly debounceMs?: number;
  readonly pollMs?: number;
}

export class FileSource implements Source {
  readonly name: string;
  private watcher: fs.FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastText: string | undefined;
  private lastMtime = 0;
  private sink: SourceSink | undefined;
  private synced = false;
  private stopped = false;

  constructor(private readonly options: FileSourceOptions) {
    this.name = options.name;
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.reload();
    const dir = path.dirname(this.options.path);
    const base = path.basename(this.options.path);
    try {
      this.watcher = fs.watch(dir, (_event, file) => {
        if (file === null || file === base) this.schedule();
      });
      this.watcher.on('error', (err) => log('warn', 'file watch failed; polling only', { source: this.name, error: err.message }));
    } catch (err) {
      log('warn', 'file watch unavailable; polling only', { source: this.name, error: (err as Error).message });
    }
    this.poll = setInterval(() => this.checkMtime(), this.options.pollMs ?? 2000);
    this.poll.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.watcher = undefined;
  }

  private schedule(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      if (this.stopped) return;
      try {
        this.reload();
      } catch (err) {
        log('error', 'applying the services file failed', { source: this.name, error: (err as Error).stack });
      }
    }, this.options.debounceMs ?? 50);
  }

  private checkMtime(): void {
    fs.stat(this.options.path, (err, st) => {
      if (!this.stopped && !err && st.mtimeMs !== this.lastMtime) this.schedule();
    });
  }

  private reload(): void {
    let text: string;
    try {
      const st = fs.statSync(this.options.path);
      this.lastMtime = st.mtimeMs;
      text = fs.readFileSync(this.options.path, 'utf8');
    } catch (err) {
      mErrors.inc({ source: this.name });
      log('error', 'services file unreadable; keeping the last good content', { source: this.name, path: this.options.path, error: (err as Error).message });
      return;
    }
    if (text === this.lastText) return;
    const parsed = parseServicesFile(text, this.name);
    if (!parsed.ok) {
      mErrors.inc({ source: this.name });
      log('error', 'services file rejected; keeping the last good content', { source: this.name, path: this.options.path, problems: parsed.problems });
      return;
    }
    this.lastText = text;
    this.synced = true;
    mReloads.inc({ source: this.name });
    log('info', 'services file loaded', { source: this.name, services: parsed.snapshot.size });
    this.sink?.update(this.name, parsed.snapshot, this.synced);
  }
}
