/** Informer lag: the time Kubernetes stamped a change, from the fields it gives (table test). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changeStamp } from '../../src/sources/kubernetes/lag';

test('changeStamp: deletion accepted, else the newest managedFields time, else none', () => {
  const cases: Record<string, { obj: unknown; want: string | undefined }> = {
    'pod being deleted: deletionTimestamp minus the grace period': {
      obj: { metadata: { deletionTimestamp: '2026-12-01T10:00:30Z', deletionGracePeriodSeconds: 30, managedFields: [{ time: '2026-12-01T09:00:00Z' }] } },
      want: '2026-12-01T10:00:00.000Z',
    },
    'newest managedFields entry': {
      obj: { metadata: { managedFields: [{ time: '2026-12-01T09:00:00Z' }, { time: '2026-12-01T09:05:00Z' }, { manager: 'x' }] } },
      want: '2026-12-01T09:05:00.000Z',
    },
    'no time given': { obj: { metadata: { name: 'p' } }, want: undefined },
    'garbage time': { obj: { metadata: { managedFields: [{ time: 'yesterday' }] } }, want: undefined },
    'no metadata': { obj: null, want: undefined },
  };
  for (const [name, c] of Object.entries(cases)) {
    const got = changeStamp(c.obj);
    assert.equal(got === undefined ? undefined : new Date(got).toISOString(), c.want, name);
  }
});
