// The compact store: full-text indexing off the append path (always complete for searches), the
// compact stored form (binary hashes and UUIDs, compressed long texts), and migration of older files.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import initSqlJs from 'sql.js';
import { AuditStore } from '../../../src/core/store';
import { COMPRESS_MIN, GENESIS_HASH, hashRow, packText, ROW_FIELDS, textOf, type Row } from '../../../src/core/store/row';
import { entityNumber } from '../../../src/core/query/sql';
import { parseQuery } from '../../../src/core/query';
import { createSchemaAt, INSERT_SQL, SCHEMA_VERSION } from '../../../src/core/store/schema';
import { sampleEntries, useTempLog } from './helpers';

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
  let file: string;
  useTempLog((_dir, f) => (file = f));

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

  it('indexes even when appends never pause, once enough entries wait', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    // More than FTS_MAX_PENDING (10,000) waiting.
    await s.appendBatch(Array.from({ length: 10_050 }, (_, i) => ({ user: 'u', action: 'EXECUTED' as const, entityName: 'bot', entityId: 'b', outcomeDesc: `run ${i}` })));
    // One append every 100 ms: never 500 ms of quiet.
    for (let i = 0; i < 30 && indexedUpTo(s) === 0; i++) {
      await s.append({ user: 'u', action: 'LOGIN', entityName: 'access', entityId: '1' });
      await sleep(100);
    }
    assert.ok(indexedUpTo(s) > 0, 'indexing started');
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
    assert.deepEqual(s.unsafeExec('SELECT typeof(uuid), typeof(hash), typeof(prev_hash) FROM entries WHERE id IN (5, 6) ORDER BY id'), [
      ['text', 'text', 'text'],
      ['blob', 'blob', 'blob'],
    ], 'old rows stay as they were, new ones take the compact form');
    await s.close();
    const again = await AuditStore.open(file, { watch: false });
    assert.equal(again.unsafeExec('PRAGMA user_version')[0][0], SCHEMA_VERSION);
    assert.equal(again.verify().ok, true);
    assert.deepEqual(again.get(3)!.outcomeDesc, 'old run 3 kerfuffle');
    assert.deepEqual(again.get(4)!.after, { a: 'v4' });
    await again.close();
  });

  it("migrates a schema-6 database forward with the index of a bot's entries by outcome", async () => {
    const entries = Array.from({ length: 60 }, (_, i) => ({
      user: i % 3 ? 'system' : 'dev@example.com',
      action: 'EXECUTED' as const,
      entityName: 'bot',
      entityId: `b${i % 4}`,
      bot: `b${i % 4}`,
      outcome: ([0, 4, 8, 12] as const)[i % 7 % 4],
    }));
    const first = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await first.appendBatch(entries);
    await first.close();
    // The same file as schema 6 wrote it: without the index.
    const SQL = await initSqlJs();
    const db = new SQL.Database(fs.readFileSync(file));
    db.exec('DROP INDEX entries_bot_outcome; PRAGMA user_version = 6');
    fs.writeFileSync(file, db.export());
    db.close();
    // … and its journal's header as schema 6 wrote it, without the database file's checksum.
    const [header, ...rest] = fs.readFileSync(file + '.journal', 'utf8').split('\n');
    const { db: _sum, ...older } = JSON.parse(header) as { db?: string };
    fs.writeFileSync(file + '.journal', [JSON.stringify(older), ...rest].join('\n'));
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    assert.equal(s.unsafeExec('PRAGMA user_version')[0][0], SCHEMA_VERSION);
    const plan = s.unsafeExec("EXPLAIN QUERY PLAN SELECT count(*) FROM entries WHERE bot = 'b1' AND outcome IN (8, 12)").map((r) => String(r[3]));
    assert.ok(plan.some((p) => p.includes('entries_bot_outcome')), plan.join('; '));
    for (const q of ['bot:b1 outcome:8,12', 'bot:b2 outcome:0 -user:system', 'action:EXECUTED bot:b3 outcome:4,8,12 user:dev@example.com']) {
      const fl = parseQuery(q);
      const want = entries.filter((e) => fl.every((f) => (f.column === 'bot' ? e.bot === f.value : f.column === 'outcome' ? (f.value as number[]).includes(e.outcome) : f.column === 'action' ? (f.value as string[]).includes(e.action) : f.op === 'equals' ? e.user === f.value : e.user !== f.value))).length;
      assert.ok(want > 0, q);
      assert.equal(s.count(fl), want, q);
    }
    assert.equal(s.verify().ok, true);
    await s.close();
    const again = await AuditStore.open(file, { watch: false });
    assert.equal(again.unsafeExec("SELECT count(*) FROM sqlite_schema WHERE name = 'entries_bot_outcome'")[0][0], 1, 'the migration was checkpointed');
    await again.close();
  });
});

describe('store: compact stored form', function () {
  this.timeout(30_000);
  let file: string;
  useTempLog((_dir, f) => (file = f));

  const bigSnapshot = (tag: string) => ({
    id: 7,
    name: `Grüße ${tag} 東京`,
    steps: Array.from({ length: 60 }, (_, i) => ({ position: i, text: `step ${i} says hello to the patient, ${tag}`, buttons: ['yes', 'no'] })),
  });
  const longLog = Array.from({ length: 40 }, (_, i) => `2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z INFO line ${i} of a long log ✓`).join('\n');

  it('keeps long values compressed and gives back exactly what was appended', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    const noise = Array.from({ length: 300 }, (_, i) => ((i * 2654435761) >>> 0).toString(36)).join('');
    const e = await s.append({
      user: 'u',
      action: 'UPDATED',
      entityName: 'story',
      entityId: '7',
      before: bigSnapshot('before'),
      after: bigSnapshot('after'),
      outcomeDesc: longLog,
      input: JSON.stringify(bigSnapshot('input')),
      returnValue: noise,
    });
    const short = await s.append({ user: 'u', action: 'EXECUTED', entityName: 'bot', entityId: 'b', outcomeDesc: 'short', input: '{}' });
    const types = s.unsafeExec('SELECT typeof(uuid), length(uuid), typeof(hash), length(hash), length(prev_hash), typeof(before_json), typeof(after_json), typeof(outcome_desc), typeof(input), typeof(return_value) FROM entries WHERE id = ?', [e.id])[0];
    assert.deepEqual(s.unsafeExec('SELECT typeof(after_json), typeof(before_json) FROM entries WHERE id = ?', [e.id])[0], ['blob', 'blob']);
    assert.deepEqual(types, ['blob', 16, 'blob', 32, 32, 'blob', 'blob', 'blob', 'blob', 'blob']);
    assert.deepEqual(s.unsafeExec('SELECT typeof(outcome_desc), typeof(input) FROM entries WHERE id = ?', [short.id])[0], ['text', 'text']);
    const stored = s.unsafeExec('SELECT length(before_json) FROM entries WHERE id = ?', [e.id])[0][0] as number;
    assert.ok(stored < JSON.stringify(bigSnapshot('before')).length / 3, `compressed to ${stored} bytes`);
    const check = (x: ReturnType<AuditStore['get']>) => {
      assert.ok(x);
      assert.equal(x.uuid, e.uuid);
      assert.equal(x.hash, e.hash);
      assert.equal(x.prevHash, e.prevHash);
      assert.deepEqual(x.before, bigSnapshot('before'));
      assert.deepEqual(x.after, bigSnapshot('after'));
      assert.equal(x.outcomeDesc, longLog);
      assert.equal(x.input, JSON.stringify(bigSnapshot('input')));
      assert.equal(x.returnValue, noise);
    };
    check(s.get(e.id));
    check(s.history('story', '7')[0]);
    assert.equal(s.count('"says hello to the patient after"'), 1, 'full text sees into compressed snapshots');
    assert.equal(s.count('"line 33 of a long log"'), 1);
    assert.deepEqual(s.verify(), { ok: true, count: 2, headHash: short.hash });
    await s.close();
    const t = await AuditStore.open(file, { watch: false });
    check(t.get(e.id));
    assert.equal(t.get(short.id)!.outcomeDesc, 'short');
    assert.equal(t.verify().ok, true);
    let out = '';
    const sink = new (require('node:stream').Writable)({
      write(c: Buffer, _e: string, cb: () => void) {
        out += c.toString();
        cb();
      },
    });
    await t.exportTo('entity:story', 'ndjson', sink);
    assert.deepEqual((JSON.parse(out.trim()) as { after: unknown }).after, bigSnapshot('after'));
    await t.close();
  });

  it('lists entries with compressed snapshots without decompressing them', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    const e = await s.append({ user: 'u', action: 'UPDATED', entityName: 'story', entityId: '8', before: bigSnapshot('a'), after: bigSnapshot('b') });
    await s.append({ user: 'u', action: 'LOGIN', entityName: 'access', entityId: '1' });
    await s.checkpoint();
    // The module object itself (a namespace import is read-only): row.ts calls through it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const z = require('node:zlib') as typeof import('node:zlib');
    const real = z.inflateRawSync;
    let inflated = 0;
    z.inflateRawSync = ((...args: Parameters<typeof real>) => {
      inflated++;
      return real(...args);
    }) as typeof real;
    try {
      const page = s.query('entity:story entity-id:8');
      assert.equal(inflated, 0, 'listing decompresses nothing');
      const [x] = page.entries;
      assert.ok(Object.keys(x).includes('before') && Object.keys(x).includes('after'));
      assert.equal(inflated, 0, 'nor does looking at the keys');
      assert.deepEqual(x.after, bigSnapshot('b'));
      assert.equal(inflated, 1, 'reading a snapshot decompresses it');
      assert.equal(x.id, e.id);
      assert.ok(!Object.keys(s.query('action:LOGIN').entries[0]).includes('before'), 'an entry without snapshots has no such keys');
    } finally {
      z.inflateRawSync = real;
      await s.close();
    }
  });

  it('compresses only long values that shrink', () => {
    assert.equal(packText('short'), 'short');
    assert.equal(packText('é'.repeat(COMPRESS_MIN / 2 - 1)), 'é'.repeat(COMPRESS_MIN / 2 - 1), 'under the size in UTF-8 bytes');
    const packed = packText('é'.repeat(COMPRESS_MIN / 2));
    assert.ok(packed instanceof Uint8Array && packed[0] === 1);
    assert.equal(textOf(packed), 'é'.repeat(COMPRESS_MIN / 2));
  });

  it('round-trips a capped value', async () => {
    const s = await AuditStore.open(file, { watch: false, capBytes: 4096 });
    const e = await s.append({ user: 'u', action: 'CREATED', entityName: 'story', entityId: '1', after: { big: 'x'.repeat(10_000) }, outcomeDesc: 'y'.repeat(10_000) });
    const got = s.get(e.id)!;
    assert.equal(typeof got.after, 'string');
    assert.match(got.after as string, /…\[cut \d+ bytes\]…/);
    assert.match(got.outcomeDesc!, /…\[cut \d+ bytes\]…/);
    assert.ok(Buffer.byteLength(got.outcomeDesc!) <= 4096);
    assert.equal(s.verify().ok, true);
    await s.close();
  });

  it('reports a damaged compressed value through verify(), without throwing', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await s.append({ user: 'u', action: 'LOGIN', entityName: 'access', entityId: '1' });
    const e = await s.append({ user: 'u', action: 'UPDATED', entityName: 'story', entityId: '7', before: bigSnapshot('a'), after: bigSnapshot('b') });
    await s.append({ user: 'u', action: 'LOGOUT', entityName: 'access', entityId: '1' });
    // Change one byte of the compressed snapshot, and break the codec byte of the other (test only: the trigger is lifted).
    s.unsafeExec('DROP TRIGGER entries_no_update');
    s.unsafeExec("UPDATE entries SET after_json = CAST(substr(after_json, 1, 40) || x'00' || substr(after_json, 42) AS BLOB) WHERE id = ?", [e.id]);
    s.unsafeExec("UPDATE entries SET before_json = CAST(x'09' || substr(before_json, 2) AS BLOB) WHERE id = ?", [e.id]);
    const v = s.verify();
    assert.equal(v.ok, false);
    assert.equal(v.firstBroken!.id, e.id);
    assert.match(v.firstBroken!.reason, /does not match its hash/);
    assert.match(String(s.get(e.id)!.before), /damaged stored value/);
    await s.close();
  });
});
