// appendWith (a change decided under the writers' lock) and entriesAfter, on a real log file.
import * as assert from 'node:assert/strict';
import { AuditStore } from '../../../src/core/store';
import { useTempLog } from './helpers';

describe('store: appendWith and entriesAfter', () => {
  let file = '';
  useTempLog((_d, f) => (file = f));

  it('build sees the newest ID; what it returns is appended after it; a throw or an empty list appends nothing', async () => {
    const s = await AuditStore.open(file, { watch: false });
    try {
      await s.appendBatch([1, 2, 3].map((i) => ({ user: 'u', action: 'CREATED' as const, entityName: 'Patient', entityId: String(i) })));
      let seen = -1;
      const [e] = await s.appendWith((lastId) => {
        seen = lastId;
        return [{ user: 'u', action: 'UPDATED', entityName: 'Patient', entityId: '1', after: { v: lastId } }];
      });
      assert.equal(seen, 3);
      assert.equal(e.id, 4);
      assert.deepEqual(e.after, { v: 3 });
      await assert.rejects(s.appendWith(() => Promise.reject(new Error('no'))), /no/);
      assert.deepEqual(await s.appendWith(() => []), []);
      assert.equal(s.size, 4);
      // The log stays usable and its chain intact after a refused build.
      await s.append({ user: 'u', action: 'DELETED', entityName: 'Patient', entityId: '2' });
      assert.equal(s.verify().ok, true);
    } finally {
      await s.close();
    }
  });

  it('entriesAfter: oldest first, after an ID, bounded, and only the asked actions', async () => {
    const s = await AuditStore.open(file, { watch: false });
    try {
      const actions = ['CREATED', 'LOGIN', 'UPDATED', 'EXECUTED', 'DELETED'] as const;
      await s.appendBatch(actions.map((action, i) => ({ user: 'u', action, entityName: 'X', entityId: String(i) })));
      assert.deepEqual(s.entriesAfter(0).map((e) => e.id), [1, 2, 3, 4, 5]);
      assert.deepEqual(s.entriesAfter(2, 2).map((e) => e.id), [3, 4]);
      assert.deepEqual(s.entriesAfter(0, 100, ['CREATED', 'UPDATED', 'DELETED']).map((e) => e.action), ['CREATED', 'UPDATED', 'DELETED']);
      assert.deepEqual(s.entriesAfter(5), []);
    } finally {
      await s.close();
    }
  });
});
