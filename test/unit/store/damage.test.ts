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

describe('store: the first write checks the database file without holding up the thread (issue 20)', function () {
  this.timeout(120_000);
  let file: string;
  useTempLog((_d, f) => {
    file = f;
  });

  async function bigLog(): Promise<void> {
    const s = await AuditStore.open(file, { watch: false });
    const rand = prng(20);
    // Text that does not compress: the file must span several of the checksum's 4 MB chunks.
    const noise = () => Array.from({ length: 200 }, () => Math.floor(rand() * 2 ** 31).toString(36)).join('');
    for (let b = 0; b < 8; b++) {
      await s.appendBatch(Array.from({ length: 1000 }, (_, i) => ({ user: 'dev@example.com', action: 'EXECUTED' as const, entityName: 'Bot', entityId: `bots/b-${i % 50}.ts`, input: `${b}-${i}-${noise()}` })));
    }
    await s.close();
    assert.ok(fs.statSync(file).size > 12 << 20, `a file of several 4 MB chunks (${fs.statSync(file).size} bytes)`);
  }

  it('the event loop turns while the checksum is read, a chunk at a time; the append then lands', async () => {
    await bigLog();
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    try {
      let turns = 0;
      let counting = true;
      const tick = () => {
        turns++;
        if (counting) setImmediate(tick);
      };
      setImmediate(tick);
      const e = await s.append({ user: 'dev@example.com', action: 'LOGIN', entityName: 'Session', entityId: 's-1' });
      counting = false;
      assert.ok(turns >= 3, `the event loop turned ${turns} time(s) during the first append`);
      assert.equal(s.get(e.id)?.action, 'LOGIN');
      assert.equal(s.checkDatabaseFile(), undefined);
    } finally {
      await s.close();
    }
  });

  it('a byte changed in the middle of a large file is still CORRUPT on the first append, and nothing is written', async () => {
    await bigLog();
    const buf = fs.readFileSync(file);
    const at = Math.floor(buf.length / 2) + 123;
    buf[at] ^= 0x20;
    fs.writeFileSync(file, buf);
    const journal = fs.readFileSync(file + '.journal');
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    try {
      await assert.rejects(s.append({ user: 'dev@example.com', action: 'LOGIN', entityName: 'Session', entityId: 's-1' }), (e: unknown) => e instanceof StoreError && e.code === 'CORRUPT' && way.test(e.message));
    } finally {
      await s.close();
    }
    assert.deepEqual(fs.readFileSync(file), buf);
    assert.deepEqual(fs.readFileSync(file + '.journal'), journal);
  });
});
