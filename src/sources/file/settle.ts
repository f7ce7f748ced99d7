/**
 * Reading a file so that a half-written one is never taken for a whole one: a sample is the file's identity
 * (inode, size, mtime in ns) and a hash of its bytes, read within a size bound; a version is stable once two
 * samples taken at least `settleMs` apart agree. The Settle tracker is the pure decision part (unit-tested),
 * readSample the I/O part.
 */
import * as fs from 'node:fs/promises';
import { createHash } from 'node:crypto';

export interface Sample {
  readonly ino: bigint;
  readonly size: number;
  readonly mtimeNs: bigint;
  /** sha256 of the bytes read, hex. */
  readonly hash: string;
  readonly text: string;
  /** When the sample was taken (ms, monotonic enough: Date.now of the reader). */
  readonly at: number;
}

export type ReadResult =
  | { readonly kind: 'sample'; readonly sample: Sample }
  | { readonly kind: 'missing'; readonly error: string }
  | { readonly kind: 'unreadable'; readonly error: string }
  | { readonly kind: 'too-big'; readonly size: number }
  /** The file changed while it was being read (size or mtime moved): read again later. */
  | { readonly kind: 'moving' };

/** Same identity, size, mtime and bytes. */
export function sameVersion(a: Sample, b: Sample): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.hash === b.hash;
}

/**
 * Reads `file` whole when it is at most `maxBytes` long. The size is checked before reading (so a huge file
 * costs one stat) and the read itself stops at `maxBytes + 1` bytes, so a file growing during the read cannot
 * exceed the bound either. The file is stat'ed again through the open descriptor after the read: a size or
 * mtime that moved means a writer is active (`moving`).
 */
export async function readSample(file: string, maxBytes: number, now: () => number = Date.now): Promise<ReadResult> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? { kind: 'missing', error: e.message } : { kind: 'unreadable', error: e.message };
  }
  try {
    const before = await fh.stat({ bigint: true });
    if (!before.isFile()) return { kind: 'unreadable', error: `${file} is not a regular file` };
    if (before.size > BigInt(maxBytes)) return { kind: 'too-big', size: Number(before.size) };
    const buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, Number(before.size) + 64 * 1024));
    let length = 0;
    for (;;) {
      if (length === buf.length) break;
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) return { kind: 'too-big', size: length };
    const after = await fh.stat({ bigint: true });
    if (after.size !== before.size || after.mtimeNs !== before.mtimeNs || Number(after.size) !== length) return { kind: 'moving' };
    const bytes = buf.subarray(0, length);
    return {
      kind: 'sample',
      sample: {
        ino: after.ino,
        size: length,
        mtimeNs: after.mtimeNs,
        hash: createHash('sha256').update(bytes).digest('hex'),
        text: bytes.toString('utf8'),
        at: now(),
      },
    };
  } catch (err) {
    return { kind: 'unreadable', error: (err as Error).message };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

export type Decision =
  /** The same bytes as the version last handed on (even under a new inode or mtime): nothing to do. */
  | { readonly kind: 'unchanged' }
  /** A new version seen for the first time (or changed since the last sample): sample again in `inMs`. */
  | { readonly kind: 'wait'; readonly inMs: number }
  /** Two samples `settleMs` apart agree: this version is complete as far as reading can tell. */
  | { readonly kind: 'stable'; readonly sample: Sample };

/**
 * Decides, sample by sample, when a file version is stable. Owned by one file source; not shared.
 * `accepted(sample)` records the version that was handed on (served, or refused for good), so reading it
 * again is `unchanged`.
 */
export class Settle {
  private pending: Sample | undefined;
  private last: Sample | undefined;

  constructor(private readonly settleMs: number) {}

  observe(sample: Sample): Decision {
    if (this.last && this.last.size === sample.size && this.last.hash === sample.hash) {
      this.pending = undefined;
      return { kind: 'unchanged' };
    }
    const p = this.pending;
    if (p && sameVersion(p, sample)) {
      const waited = sample.at - p.at;
      if (waited >= this.settleMs) return { kind: 'stable', sample };
      return { kind: 'wait', inMs: this.settleMs - waited };
    }
    this.pending = sample;
    return { kind: 'wait', inMs: this.settleMs };
  }

  /** The version handed on; later samples of the same bytes are `unchanged`. */
  accepted(sample: Sample): void {
    this.last = sample;
    this.pending = undefined;
  }

  /** Forgets the pending sample (the file vanished or moved): the next sample starts a new wait. */
  reset(): void {
    this.pending = undefined;
  }

  /** The version last handed on, if any. */
  get current(): Sample | undefined {
    return this.last;
  }
}
