// Write-behind: an append resolves once its entries are durable in the journal; they go into the
// in-memory database after, and nothing that reads the store can tell the difference.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import initSqlJs from 'sql.js';
import { Writable } from 'node:stream';
import { AuditStore, StoreError, type StoreWarning } from '../../../src/core/store';
import { sampleEntries, useTempLog } from './helpers';

/** How many of the store's own entries wait to be put in its database (internal state). */
function waiting(store: AuditStore): number {
  return (store as unknown as { waiting: { rows: unknown[] } }).waiting.rows.length;
}

/** Rows in the database file on disk, read with sql.js apart from the store. */
async function rowsOnDisk(file: string): Promise<number> {
  const SQL = await initSqlJs();
  const db = new SQL.Database(fs.readFileSync(file));
  try {
    return db.exec('SELECT count(*) FROM entries')[0].values[0][0] as number;
  } finally {
    db.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('store write-behind', function () {
  this.timeout(30_000);
  let file: string;
  useTempLog((_d, f) => {
    file = f;
  });

  it('resolves with the entries durable and still waiting, and puts them in once appends pause', async () => {
    // A pause of a second, so that a busy machine's slow appends still count as appends "a few milliseconds apart".
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false, writeBehind: { applyDelayMs: 1_000 } });
    try {
      const got = await s.appendBatch(sampleEntries().slice(0, 5));
      assert.deepEqual(got.map((e) => e.id), [1, 2, 3, 4, 5]);
      assert.equal(waiting(s), 5);
      // Durable already: the journal holds all five lines.
      assert.equal(fs.readFileSync(file + '.journal', 'utf8').trim().split('\n').length, 1 + 5);
      // Appends a few milliseconds apart (a bot's calls) wait together, and go in as one.
      for (let i = 0; i < 5; i++) {
        await s.append(sampleEntries()[i]);
        await sleep(2);
      }
      assert.equal(waiting(s), 10);
      for (let t = 0; t < 500 && waiting(s) > 0; t++) await sleep(20);
      assert.equal(waiting(s), 0);
      assert.equal(s.count([]), 10);
    } finally {
      await s.close();
    }
  });

  it('answers every read right after an append with its entries', async () => {
    const all = sampleEntries();
    const reads: [string, (s: AuditStore) => unknown, unknown][] = [
      ['get', (s) => s.get(2)?.entityId, all[1].entityId],
      ['size', (s) => s.size, 2],
      ['count', (s) => s.count([]), 2],
      ['query', (s) => s.query([]).entries.map((e) => e.id), [2, 1]],
      ['latest', (s) => s.latest([], 1)[0].id, 2],
      ['window', (s) => s.window([]).rows(0, 5).map((e) => e.id), [2, 1]],
      ['history', (s) => s.history(all[1].entityName, all[1].entityId).map((e) => e.id), [2]],
      ['distinct', (s) => s.distinct().users.includes(all[1].user), true],
      ['verify', (s) => s.verify().count, 2],
      ['full text', (s) => s.count('"zanzibar"'), 1],
    ];
    for (const [i, [name, read, want]] of reads.entries()) {
      const s = await AuditStore.open(`${file}-${i}`, { watch: false, autoCheckpoint: false });
      try {
        await s.append(all[0]);
        await s.append({ ...all[1], outcomeDesc: 'found in zanzibar' });
        assert.equal(waiting(s), 2, name);
        assert.deepEqual(read(s), want, name);
        assert.equal(waiting(s), 0, name);
      } finally {
        await s.close();
      }
    }
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    try {
      await s.append(all[0]);
      let csv = '';
      await s.exportTo([], 'csv', new Writable({ write: (c, _e, cb) => ((csv += String(c)), cb()) }));
      assert.equal(csv.trim().split('\n').length, 2, 'export: a header and the entry');
    } finally {
      await s.close();
    }
  });

  it('puts them in before a checkpoint writes the database file', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await s.appendBatch(sampleEntries().slice(0, 7));
    assert.equal(waiting(s), 7);
    await s.checkpoint();
    assert.equal(await rowsOnDisk(file), 7);
    await s.appendBatch(sampleEntries().slice(7, 10));
    await s.close(); // close checkpoints too
    assert.equal(await rowsOnDisk(file), 10);
    const again = await AuditStore.open(file, { watch: false });
    assert.deepEqual(again.verify(), { ok: true, count: 10, headHash: again.headHash });
    await again.close();
  });

  it('keeps the database gapless when another store appends in between', async () => {
    const a = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    const b = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    try {
      const all = sampleEntries();
      await a.appendBatch([{ ...all[0], outcomeDesc: 'alpha zanzibar' }, all[1]]);
      await b.appendBatch([{ ...all[2], outcomeDesc: 'beta zanzibar' }]);
      // a's next append reads b's entry under the lock, after putting its own two in.
      await a.appendBatch([all[3]]);
      assert.deepEqual(a.query([], { order: 'asc' }).entries.map((e) => e.id), [1, 2, 3, 4]);
      assert.equal(a.count('"zanzibar"'), 2);
      assert.equal(a.verify().ok, true);
      assert.equal(b.count('"zanzibar"'), 2);
      assert.equal(b.size, 4);
      // a's entry waits while b checkpoints twice: a's next append reloads the database file, which has it.
      await a.append(all[4]);
      assert.equal(waiting(a), 1);
      await b.append(all[5]);
      await b.checkpoint();
      await b.append(all[6]);
      await b.checkpoint();
      await a.append(all[7]);
      assert.deepEqual(a.query([], { order: 'asc' }).entries.map((e) => e.id), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(waiting(a), 0);
      assert.equal(a.verify().ok, true);
      assert.equal(a.count('"zanzibar"'), 2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('puts them in at once past its bound, or always with writeBehind: false', async () => {
    const bounded = await AuditStore.open(file, { watch: false, autoCheckpoint: false, writeBehind: { maxEntries: 3 } });
    await bounded.appendBatch(sampleEntries().slice(0, 3));
    assert.equal(waiting(bounded), 3);
    await bounded.append(sampleEntries()[3]);
    assert.equal(waiting(bounded), 0, 'four waiting is past the bound of three');
    await bounded.close();
    fs.rmSync(file);
    fs.rmSync(file + '.journal');

    const byText = await AuditStore.open(file, { watch: false, autoCheckpoint: false, writeBehind: { maxBytes: 2000 } });
    await byText.append(sampleEntries()[0]);
    assert.equal(waiting(byText), 1);
    await byText.append({ ...sampleEntries()[1], outcomeDesc: 'x'.repeat(3000) });
    assert.equal(waiting(byText), 0, 'the text waiting is past the bound');
    await byText.close();
    fs.rmSync(file);
    fs.rmSync(file + '.journal');

    const off = await AuditStore.open(file, { watch: false, autoCheckpoint: false, writeBehind: false });
    await off.appendBatch(sampleEntries().slice(0, 3));
    assert.equal(waiting(off), 0);
    await off.close();
  });

  it('keeps an append that is durable when its entries cannot go into the database; reads fail until they do', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false, writeBehind: false });
    const warnings: StoreWarning[] = [];
    s.onDidWarn((w) => warnings.push(w));
    const inner = s as unknown as { insertStmt: { run: (v: unknown) => unknown } };
    const real = inner.insertStmt.run.bind(inner.insertStmt);
    let broken = true;
    inner.insertStmt.run = (v) => {
      if (broken) throw new Error('out of memory');
      return real(v);
    };
    try {
      const [e] = await s.appendBatch(sampleEntries().slice(0, 1));
      assert.equal(e.id, 1, 'the append resolves: its entry is durable, and failing it would invite a duplicate');
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0].code, 'APPLY');
      assert.match(warnings[0].message, /entries 1–1 are in the journal but could not be put in the database: out of memory/);
      assert.throws(
        () => s.query([]),
        (err: unknown) => err instanceof StoreError && err.code === 'IO' && /out of memory/.test(err.message),
      );
      broken = false;
      assert.deepEqual(s.query([]).entries.map((x) => x.id), [1]);
      assert.equal(s.verify().ok, true);
    } finally {
      await s.close();
    }
    const again = await AuditStore.open(file, { watch: false });
    assert.equal(again.size, 1);
    await again.close();
  });
});
