/** The settle decision (pure) and the bounded, change-detecting read of a services file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Settle, readSample, type Sample } from '../../src/sources/file/settle';

const sample = (hash: string, at: number, over: Partial<Sample> = {}): Sample => ({ ino: 1n, size: hash.length, mtimeNs: 1n, hash, text: hash, at, ...over });

type Step = [Sample, string, 'accept'?];
const cases: Record<string, Step[]> = {
  'a version is stable once a second sample settleMs later agrees': [
    [sample('a', 0), 'wait:100'],
    [sample('a', 100), 'stable'],
  ],
  'an early second sample waits out the rest of the settle time': [
    [sample('a', 0), 'wait:100'],
    [sample('a', 40), 'wait:60'],
    [sample('a', 100), 'stable'],
  ],
  'a file still being written starts the wait again': [
    [sample('a', 0), 'wait:100'],
    [sample('ab', 100, { mtimeNs: 2n }), 'wait:100'],
    [sample('abc', 200, { mtimeNs: 3n }), 'wait:100'],
    [sample('abc', 300, { mtimeNs: 3n }), 'stable'],
  ],
  'same bytes, new mtime (touch, or rewrite in place) is not stable yet': [
    [sample('a', 0), 'wait:100'],
    [sample('a', 100, { mtimeNs: 2n }), 'wait:100'],
    [sample('a', 200, { mtimeNs: 2n }), 'stable'],
  ],
  'a new inode (rename over) is a new version': [
    [sample('a', 0), 'wait:100'],
    [sample('a', 100, { ino: 2n }), 'wait:100'],
  ],
  'the accepted version read again is unchanged, even under a new inode': [
    [sample('a', 0), 'wait:100'],
    [sample('a', 100), 'stable', 'accept'],
    [sample('a', 5000), 'unchanged'],
    [sample('a', 6000, { ino: 9n, mtimeNs: 9n }), 'unchanged'],
    [sample('b', 7000), 'wait:100'],
    [sample('b', 7100), 'stable'],
  ],
};

for (const [name, steps] of Object.entries(cases)) {
  test(`settle: ${name}`, () => {
    const s = new Settle(100);
    steps.forEach(([smp, want, accept], i) => {
      const d = s.observe(smp);
      assert.equal(d.kind === 'wait' ? `wait:${d.inMs}` : d.kind, want, `step ${i}`);
      if (accept) s.accepted(smp);
    });
  });
}

test('readSample: missing, too big (one stat, no read), not a file, and a whole file with its hash', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-settle-'));
  const f = path.join(dir, 's.yaml');
  assert.equal((await readSample(f, 100)).kind, 'missing');
  fs.writeFileSync(f, 'x'.repeat(101));
  assert.deepEqual(await readSample(f, 100), { kind: 'too-big', size: 101 });
  assert.equal((await readSample(dir, 100)).kind, 'unreadable');
  fs.writeFileSync(f, 'services: []\n');
  const r = await readSample(f, 100);
  assert.ok(r.kind === 'sample');
  assert.equal(r.sample.text, 'services: []\n');
  assert.equal(r.sample.size, 13);
  assert.match(r.sample.hash, /^[0-9a-f]{64}$/);
});
