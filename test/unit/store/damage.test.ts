// A damaged database file is never written to: damage found on open, on a read, or by the checksum
// the last checkpoint recorded gets CORRUPT (or, for a changed entry, a broken chain) and no write;
// never a plain Error, never an append past it (issue 18, defect 9).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { AuditStore, StoreError } from '../../../src/core/store';
import { flip, prng, sampleEntries, useTempLog } from './helpers';

const way = /restore .*audit\.db from a copy|move it aside/;

describe('store: a damaged database file', function () {
  this.timeout(60_000);
  let file: string;
  useTempLog((_d, f) => {
    file = f;
  });

  it('30 seeded trials of 4 flipped bytes: a clean verify, or CORRUPT/broken chain and no write; never a plain error', async () => {
    const s = await AuditStore.open(file, { watch: false });
    const base = sampleEntries();
    for (let i = 0; i < 8; i++) await s.appendBatch(base.map((e) => ({ ...e, entityId: `${e.entityId}-${i}` })));
    await s.close();
    const pristine = fs.readFileSync(file);
    const journal = fs.readFileSync(file + '.journal');
    const rand = prng(18_009);
    const seen = { clean: 0, corrupt: 0, broken: 0 };
    for (let trial = 0; trial < 30; trial++) {
      const buf = Buffer.from(pristine);
      const at = flip(buf, rand);
      fs.writeFileSync(file, buf);
      fs.writeFileSync(file + '.journal', journal);
      const what = `trial ${trial}, bytes ${at.join(', ')}`;
      let verdict: 'clean' | 'corrupt' | 'broken';
      let store: AuditStore | undefined;
      try {
        store = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
        const v = store.verify();
        verdict = v.ok ? 'clean' : 'broken';
        if (v.ok) {
          const problem = store.checkDatabaseFile();
          if (problem) verdict = 'corrupt';
        }
      } catch (err) {
        assert.ok(err instanceof StoreError || /malformed|not a database/.test(String(err)), `${what}: ${String(err)}`);
        if (err instanceof StoreError) {
          assert.ok(['CORRUPT', 'NOT_BOT_AUDIT_DB', 'NEWER_SCHEMA'].includes(err.code), `${what}: ${err.code} ${err.message}`);
          if (err.code === 'CORRUPT') assert.match(err.message, way, what);
        }
        verdict = 'corrupt';
      }
      seen[verdict]++;
      if (store && verdict !== 'clean') {
        // The writer's side: no append, no checkpoint, the file as it was.
        await assert.rejects(store.append(base[0]), (e: unknown) => e instanceof StoreError && e.code === 'CORRUPT' && way.test(e.message), what);
        await store.close();
        assert.deepEqual(fs.readFileSync(file), buf, `${what}: audit.db untouched`);
        assert.deepEqual(fs.readFileSync(file + '.journal'), journal, `${what}: journal untouched`);
      } else await store?.close();
    }
    // With this seed: flips in entries (a broken chain) and elsewhere (the checksum, or SQLite itself).
    assert.ok(seen.corrupt > 0 && seen.broken > 0, JSON.stringify(seen));
  });

  it('a reader that meets damage gets CORRUPT with the way out, not a plain error', async () => {
    const s = await AuditStore.open(file, { watch: false });
    for (let i = 0; i < 8; i++) await s.appendBatch(sampleEntries());
    await s.close();
    const buf = fs.readFileSync(file);
    // A page of the entries table in the middle of the file, overwritten: its b-tree page header is garbage.
    const page = 4096 * Math.floor(buf.length / 4096 / 2);
    buf.fill(0xa5, page, page + 64);
    fs.writeFileSync(file, buf);
    let err: unknown;
    try {
      const r = await AuditStore.open(file, { watch: false });
      try {
        for (let id = 1; id <= r.size; id++) r.get(id);
        r.query('finished', { limit: 1000 });
        r.query([], { limit: 1000 });
      } finally {
        await r.close();
      }
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof StoreError, `a StoreError: ${String(err)}`);
    assert.equal(err.code, 'CORRUPT');
    assert.match(err.message, way);
    assert.deepEqual(fs.readFileSync(file), buf);
  });
});
