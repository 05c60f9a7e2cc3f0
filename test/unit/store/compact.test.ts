// The compact store: full-text indexing off the append path (always complete for searches), and
// migration of older files.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import initSqlJs from 'sql.js';
import { AuditStore } from '../../../src/core/store';
import { GENESIS_HASH, hashRow, ROW_FIELDS, type Row } from '../../../src/core/store/record';
import { entityNumber } from '../../../src/core/query/sql';
import { createSchemaAt, INSERT_SQL, SCHEMA_VERSION } from '../../../src/core/store/schema';
import { removeDir, sampleEntries, tempDir } from './helpers';

/** How far the in-memory full-text index of a store reaches. */
function indexedUpTo(s: AuditStore): number {
  return s.unsafeExec('SELECT coalesce(max(docid), 0) FROM entries_fts_docsize')[0][0] as number;
}

function indexedCount(s: AuditStore): number {
  return s.unsafeExec('SELECT count(*) FROM entries_fts_docsize')[0][0] as number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('store: deferred full-text index', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir, 'audit.db');
  });
  afterEach(() => removeDir(dir));

  it('does not index on the append path', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await s.appendBatch(sampleEntries());
    assert.equal(indexedUpTo(s), 0);
    await s.close();
  });

  it('finds an entry right after append(), by page, count, window, latest and export', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await s.appendBatch(sampleEntries());
    const e = await s.append({ user: 'u', action: 'EXECUTED', entityName: 'bot', entityId: 'b', outcomeDesc: 'ERROR flibbertigibbet upstream' });
    assert.deepEqual(s.query('"flibbertigibbet"').entries.map((x) => x.id), [e.id]);
    assert.equal(s.query('"flibbertigibbet"').total, 1);
    assert.equal(s.count('"zanzibar"'), 1);
    assert.equal(s.count('"quokka sighting"'), 1);
    assert.equal(indexedUpTo(s), s.size);
    assert.equal(indexedCount(s), s.size, 'each entry indexed once');
    const e2 = await s.append({ user: 'u', action: 'UPDATED', entityName: 'story', entityId: '1', before: { a: 'x' }, after: { a: 'snollygoster' } });
    const w = s.window('"snollygoster"');
    assert.equal(w.total, 1);
    assert.deepEqual(w.rows(0, 10).map((x) => x.id), [e2.id]);
    assert.deepEqual(s.latest('"snollygoster"').map((x) => x.id), [e2.id]);
    const e3 = await s.append({ user: 'u', action: 'EXECUTED', entityName: 'bot', entityId: 'b', input: '{"word":"cattywampus"}' });
    let out = '';
    const sink = new (require('node:stream').Writable)({
      write(c: Buffer, _e: string, cb: () => void) {
        out += c.toString();
        cb();
      },
    });
    assert.equal(await s.exportTo('"cattywampus"', 'ndjson', sink), 1);
    assert.equal((JSON.parse(out.trim()) as { id: number }).id, e3.id);
    assert.equal(indexedCount(s), s.size);
    await s.close();
  });

  it('indexes when idle, a batch at a time', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    const many = Array.from({ length: 1200 }, (_, i) => ({ user: 'u', action: 'EXECUTED' as const, entityName: 'bot', entityId: 'b', outcomeDesc: `run ${i} word${i}` }));
    await s.appendBatch(many);
    assert.equal(indexedUpTo(s), 0);
    for (let i = 0; i < 100 && indexedUpTo(s) < s.size; i++) await sleep(50);
    assert.equal(indexedUpTo(s), 1200);
    assert.equal(indexedCount(s), 1200);
    assert.deepEqual(s.query('"word777"').entries.map((e) => e.id), [778]);
    await s.close();
  });

  it('writes a complete index at a checkpoint, and indexes the journal after reopening', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await s.appendBatch(sampleEntries());
    await s.checkpoint();
    const SQL = await initSqlJs();
    const onDisk = new SQL.Database(fs.readFileSync(file));
    assert.equal(onDisk.exec('SELECT max(docid), count(*) FROM entries_fts_docsize')[0].values[0].join(), '40,40');
    onDisk.close();
    // Left in the journal (no checkpoint): a second store replays it and searches it.
    await s.append({ user: 'u', action: 'EXECUTED', entityName: 'bot', entityId: 'b', outcomeDesc: 'tail word bumfuzzle' });
    const t = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    assert.equal(indexedUpTo(t), 40);
    assert.deepEqual(t.query('"bumfuzzle"').entries.map((e) => e.id), [41]);
    assert.equal(t.count('"zanzibar"'), 1);
    assert.equal(indexedCount(t), 41);
    await t.close();
    await s.close();
  });

  it("finds another store's new entries", async () => {
    const a = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    const b = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await a.appendBatch(sampleEntries());
    assert.equal(b.count('"zanzibar"'), 1);
    await b.append({ user: 'u', action: 'EXECUTED', entityName: 'bot', entityId: 'b', outcomeDesc: 'from b: lollygag' });
    assert.deepEqual(a.query('"lollygag"').entries.map((e) => e.id), [41]);
    assert.equal(indexedCount(a), 41);
    assert.equal(b.count('"lollygag"'), 1);
    assert.equal(indexedCount(b), 41);
    await a.close();
    await b.close();
  });

  it('migrates a schema-4 database (indexed by its trigger) forward, keeping entries, hashes and search', async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    createSchemaAt(db, 4);
    assert.equal(db.exec('PRAGMA user_version')[0].values[0][0], 4);
    // Schema 4 stored every column as plain text (hashes as hex, snapshots as JSON text).
    const insert = db.prepare(INSERT_SQL);
    let prev = GENESIS_HASH;
    const rows: Row[] = [];
    for (let id = 1; id <= 5; id++) {
      const r = {
        id,
        uuid: `00000000-0000-4000-8000-00000000000${id}`,
        recorded: 1_700_000_000_000 + id,
        user: 'old',
        action: id % 2 ? 'EXECUTED' : 'UPDATED',
        entityName: 'story',
        entityId: String(id),
        ...(id % 2 ? { outcomeDesc: `old run ${id} ${id === 3 ? 'kerfuffle' : ''}`.trim() } : { before: '{"a":1}', after: `{"a":"v${id}"}` }),
        prevHash: prev,
      } as Row;
      r.hash = hashRow(r);
      prev = r.hash;
      rows.push(r);
      insert.run([...ROW_FIELDS.map((k) => (r[k] === undefined ? null : (r[k] as string | number))), entityNumber(r.entityId)]);
    }
    insert.free();
    assert.equal(db.exec('SELECT count(*) FROM entries_fts_docsize')[0].values[0][0], 5, 'the v4 trigger indexed them');
    fs.writeFileSync(file, db.export());
    db.close();
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    assert.equal(s.unsafeExec('PRAGMA user_version')[0][0], SCHEMA_VERSION);
    assert.equal(s.unsafeExec("SELECT count(*) FROM sqlite_schema WHERE name = 'entries_fts_insert'")[0][0], 0);
    assert.deepEqual(s.verify(), { ok: true, count: 5, headHash: rows[4].hash });
    assert.deepEqual(s.query('"kerfuffle"').entries.map((e) => e.id), [3]);
    assert.deepEqual(s.query('"v4"').entries.map((e) => e.id), [4]);
    const e = await s.append({ user: 'new', action: 'EXECUTED', entityName: 'bot', entityId: 'b', outcomeDesc: 'new kerfuffle' });
    assert.equal(e.prevHash, rows[4].hash);
    assert.deepEqual(s.query('"kerfuffle"').entries.map((x) => x.id), [6, 3]);
    assert.equal(indexedCount(s), 6, 'old entries are not indexed twice');
    await s.close();
    const again = await AuditStore.open(file, { watch: false });
    assert.equal(again.unsafeExec('PRAGMA user_version')[0][0], SCHEMA_VERSION);
    assert.equal(again.verify().ok, true);
    assert.deepEqual(again.get(3)!.outcomeDesc, 'old run 3 kerfuffle');
    assert.deepEqual(again.get(4)!.after, { a: 'v4' });
    await again.close();
  });
});
