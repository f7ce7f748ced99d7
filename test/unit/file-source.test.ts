/**
 * The file source against real files in a temp dir (the sink is a recorder): whichever way a file is written,
 * only whole versions are handed on; empty, oversize, broken and mass-loss versions are held back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { FileSource, fileSourceMetrics, type FileSourceOptions } from '../../src/sources/file/file-source';
import type { SourceSnapshot } from '../../src/sources/source';
import { sleep, waitFor } from '../support/wait';
import { testTelemetry } from '../support/telemetry';

function servicesText(n: number, port = 8000, services = 1): string {
  let s = 'services:\n';
  for (let k = 0; k < services; k++) {
    s += `  - name: svc-${k}\n    endpoints:\n`;
    for (let i = 0; i < n; i++) s += `      - {address: 10.${k}.${(i >> 8) & 255}.${i & 255}, port: ${port}, zone: a}\n`;
  }
  return s;
}

const count = (s: SourceSnapshot) => [...s.values()].reduce((n, v) => n + v.endpoints.length, 0);

let seq = 0;
async function start(initial: string | undefined, o: Partial<FileSourceOptions> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-filesrc-'));
  const file = path.join(dir, 'services.yaml');
  if (initial !== undefined) fs.writeFileSync(file, initial);
  const name = `file-${++seq}`;
  const updates: Array<{ at: number; snapshot: SourceSnapshot }> = [];
  const telemetry = testTelemetry();
  const metrics = fileSourceMetrics(telemetry.metrics);
  const src = new FileSource({ name, path: file, ...o, telemetry });
  await src.start({ update: (_s, snapshot) => updates.push({ at: Date.now(), snapshot }) });
  return { dir, file, name, updates, src, metrics, rejected: (reason: string) => metrics.rejects.get({ source: name, reason }) };
}

test('file source: start reads the first version before resolving; an atomic rename is served once', async (t) => {
  const s = await start(servicesText(10));
  t.after(() => s.src.stop());
  assert.equal(s.updates.length, 1);
  assert.equal(count(s.updates[0]!.snapshot), 10);
  fs.writeFileSync(`${s.file}.tmp`, servicesText(12));
  const t0 = Date.now();
  fs.renameSync(`${s.file}.tmp`, s.file);
  await waitFor('the renamed version', () => s.updates.length === 2);
  assert.equal(count(s.updates[1]!.snapshot), 12);
  assert.ok(s.updates[1]!.at - t0 >= 100, 'not before settleMs');
  await sleep(300);
  assert.equal(s.updates.length, 2, 'one update per version');
});

test('file source: a file rewritten in place in chunks with pauses shorter than settleMs is never seen half-written', async (t) => {
  const s = await start(servicesText(400));
  t.after(() => s.src.stop());
  for (const port of [8001, 8002]) {
    const text = servicesText(400, port);
    const fd = fs.openSync(s.file, 'r+');
    fs.ftruncateSync(fd, 0);
    for (let off = 0; off < text.length; off += 2048) {
      fs.writeSync(fd, text.slice(off, off + 2048), off);
      await sleep(40);
    }
    fs.closeSync(fd);
    await waitFor(`port ${port} served`, () => s.updates.at(-1)!.snapshot.get('svc-0')!.endpoints[0]!.port === port);
  }
  for (const u of s.updates) {
    assert.equal(count(u.snapshot), 400, 'every version handed on is whole');
    assert.equal(new Set(u.snapshot.get('svc-0')!.endpoints.map((e) => e.port)).size, 1);
  }
  assert.equal(s.updates.length, 3);
});

test('file source: a file that disappears keeps the last good version; deleted and recreated, the new one is served', async (t) => {
  const s = await start(servicesText(5), { pollMs: 100 });
  t.after(() => s.src.stop());
  fs.unlinkSync(s.file);
  await waitFor('the missing file to be counted', () => s.rejected('missing') === 1);
  await sleep(300);
  assert.equal(s.rejected('missing'), 1, 'logged and counted once per disappearance');
  assert.equal(s.updates.length, 1);
  fs.writeFileSync(s.file, servicesText(6));
  await waitFor('the recreated version', () => s.updates.length === 2);
  assert.equal(count(s.updates[1]!.snapshot), 6);
});

test('file source: an emptied file is refused unless allowEmpty; an empty start never syncs', async (t) => {
  const s = await start(servicesText(5));
  t.after(() => s.src.stop());
  fs.truncateSync(s.file, 0);
  await waitFor('the empty file to be refused', () => s.rejected('empty') === 1);
  await sleep(2500);
  assert.equal(s.updates.length, 1, 'the last good version stays, also past confirmMs');

  const e = await start('', {});
  t.after(() => e.src.stop());
  assert.equal(e.updates.length, 0);
  assert.equal(e.rejected('empty'), 1);

  const a = await start(servicesText(5), { allowEmpty: true, confirmMs: 300 });
  t.after(() => a.src.stop());
  fs.truncateSync(a.file, 0);
  await waitFor('the empty file to be served after confirmation', () => a.updates.length === 2);
  assert.equal(a.updates[1]!.snapshot.size, 0);
});

test('file source: a version that loses most endpoints is served only once it stayed unchanged for confirmMs', async (t) => {
  // confirmMs well above a settle + parse even on a loaded machine: the complete version must beat it by far.
  const s = await start(servicesText(10), { confirmMs: 3000 });
  t.after(() => s.src.stop());
  fs.writeFileSync(s.file, servicesText(3));
  await waitFor('the drop to be flagged', () => s.rejected('suspicious') === 1);
  const flagged = Date.now();
  fs.writeFileSync(s.file, servicesText(10, 9000)); // the writer finished: not suspicious, served at once
  await waitFor('the complete version', () => s.updates.length === 2);
  assert.equal(count(s.updates[1]!.snapshot), 10);
  assert.ok(Date.now() - flagged < 3000, 'served at once, not after confirmMs');
  fs.writeFileSync(s.file, servicesText(2));
  await waitFor('the deliberate drop, after confirmation', () => s.updates.length === 3, 10_000);
  assert.equal(count(s.updates[2]!.snapshot), 2);
  assert.equal(s.rejected('suspicious'), 2);
});

test('file source: oversize, too many endpoints and broken files are refused, the last good stays; malformed endpoints are skipped', async (t) => {
  const s = await start(servicesText(5), { maxBytes: 4096, maxEndpoints: 50 });
  t.after(() => s.src.stop());
  fs.writeFileSync(s.file, servicesText(200));
  await waitFor('too-big', () => s.rejected('too-big') === 1);
  fs.writeFileSync(s.file, servicesText(30, 8000, 2));
  await waitFor('too-many-endpoints', () => s.rejected('too-many-endpoints') === 1);
  fs.writeFileSync(s.file, 'services: [ {{{');
  await waitFor('invalid', () => s.rejected('invalid') === 1);
  assert.equal(s.updates.length, 1);
  fs.writeFileSync(s.file, servicesText(5) + '      - {address: "fe80::1%eth0", port: 80}\n      - {address: 10.9.9.9, port: 80}\n');
  await waitFor('the version with one bad endpoint', () => s.updates.length === 2);
  assert.equal(count(s.updates[1]!.snapshot), 6);
  assert.equal(s.metrics.skipped.get({ source: s.name }), 1);
});

test('file source: a large file is parsed off the event loop (worker), a file over maxBytes costs nothing', async (t) => {
  const s = await start(servicesText(10));
  t.after(() => s.src.stop());
  const big = servicesText(1000, 8000, 20); // 20k endpoints, about 1 MB
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  fs.writeFileSync(s.file, big);
  await waitFor('the large version', () => s.updates.length === 2, 60_000);
  h.disable();
  assert.equal(count(s.updates[1]!.snapshot), 20_000);
  const maxMs = h.max / 1e6;
  // Parsed on the main thread, 20k endpoints would stall it about a second (50 µs each); in the worker, far less.
  assert.ok(maxMs < 500, `event loop stalled ${maxMs.toFixed(0)} ms while a 1 MB file was parsed`);
});

test('file source: a ConfigMap volume swap (..data symlink renamed over) is seen by the watch, not only the poll', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-cm-'));
  const version = (n: number) => {
    const d = path.join(dir, `..v${n}`);
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'services.yaml'), servicesText(n));
    fs.symlinkSync(`..v${n}`, path.join(dir, '..data_tmp'));
    fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  };
  version(3);
  fs.symlinkSync('..data/services.yaml', path.join(dir, 'services.yaml'));
  const updates: SourceSnapshot[] = [];
  const src = new FileSource({ name: `file-${++seq}`, path: path.join(dir, 'services.yaml'), pollMs: 60_000, telemetry: testTelemetry() });
  await src.start({ update: (_s, snapshot) => updates.push(snapshot) });
  t.after(() => src.stop());
  assert.equal(count(updates[0]!), 3);
  version(4);
  await waitFor('the swapped version', () => updates.length === 2, 2000);
  assert.equal(count(updates[1]!), 4);
});
