// Real files: bad databases, torn journals, tampering, migrations, locks, checkpoints, two stores on one log.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import initSqlJs from 'sql.js';
import { AuditStore, StoreError, type Entry } from '../../../src/core/store';
import { FileLock } from '../../../src/core/store/lock';
import { GENESIS_HASH, hashRow, type Row } from '../../../src/core/store/row';
import { SCHEMA_V1, SCHEMA_VERSION } from '../../../src/core/store/schema';
import { sampleEntries, useTempLog } from './helpers';

const isStoreError = (code: string, re?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof StoreError, String(e));
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

describe('store files', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  useTempLog((d, f) => {
    dir = d;
    file = f;
  });

  it('creates the database, a journal and no leftovers', async () => {
    const s = await AuditStore.open(file, { watch: false });
    await s.append(sampleEntries()[0]);
    assert.ok(fs.existsSync(file));
    assert.ok(fs.existsSync(file + '.journal'));
    assert.ok(!fs.existsSync(file + '.lock'), 'the lock is released between operations');
    await s.close();
    assert.deepEqual(fs.readdirSync(dir).sort(), ['audit.db', 'audit.db.journal']);
    const header = JSON.parse(fs.readFileSync(file + '.journal', 'utf8').trim()) as { base: number };
    assert.equal(header.base, 1, 'close folds the journal into the database');
  });

  it('survives reopening, with or without a checkpoint', async () => {
    const a = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    const first = await a.appendBatch(sampleEntries().slice(0, 5));
    await a.checkpoint();
    const more = await a.appendBatch(sampleEntries().slice(5, 9));
    // Not closed: the last four live only in the journal. A second store (think: after a crash) sees all nine.
    const b = await AuditStore.open(file, { watch: false });
    assert.equal(b.size, 9);
    assert.deepEqual(b.get(9), more[3]);
    assert.deepEqual(b.get(1), first[0]);
    assert.equal(b.verify().ok, true);
    await b.close();
    await a.close();
  });

  it('refuses a file that is not SQLite, and leaves it untouched', async () => {
    fs.writeFileSync(file, 'my important notes\n'.repeat(20));
    const before = fs.readFileSync(file);
    await assert.rejects(AuditStore.open(file, { watch: false }), isStoreError('NOT_BOT_AUDIT_DB', /not an SQLite file/));
    await assert.rejects(AuditStore.open(file, { watch: false }), (e: unknown) => e instanceof StoreError && e.file === file && e.message.includes(file));
    assert.deepEqual(fs.readFileSync(file), before);
    assert.ok(!fs.existsSync(file + '.journal'));
    assert.ok(!fs.existsSync(file + '.lock'));
  });

  it('refuses an empty file, and leaves it untouched', async () => {
    fs.writeFileSync(file, '');
    await assert.rejects(AuditStore.open(file, { watch: false }), isStoreError('NOT_BOT_AUDIT_DB'));
    assert.equal(fs.statSync(file).size, 0);
  });

  it("refuses another application's SQLite database, and leaves it untouched", async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    db.exec("CREATE TABLE customers(name TEXT); INSERT INTO customers VALUES ('Ada');");
    fs.writeFileSync(file, db.export());
    db.close();
    const before = fs.readFileSync(file);
    await assert.rejects(AuditStore.open(file, { watch: false }), isStoreError('NOT_BOT_AUDIT_DB', /SQLite database but not a Bot Audit log/));
    assert.deepEqual(fs.readFileSync(file), before);
  });

  it('refuses a damaged Bot Audit database, and leaves it untouched', async () => {
    const s = await AuditStore.open(file, { watch: false });
    await s.appendBatch(sampleEntries());
    await s.close();
    const buf = fs.readFileSync(file);
    // Wipe everything after the first page (schema) except the header: the b-trees point into garbage.
    for (let i = 4096; i < buf.length; i++) buf[i] = (i * 31) & 0xff;
    fs.writeFileSync(file, buf);
    await assert.rejects(AuditStore.open(file, { watch: false }), isStoreError('CORRUPT', /damaged|malformed/));
    assert.deepEqual(fs.readFileSync(file), buf);
  });

  it('refuses a truncated Bot Audit database, and leaves it untouched', async () => {
    const s = await AuditStore.open(file, { watch: false });
    await s.appendBatch(sampleEntries());
    await s.close();
    const buf = fs.readFileSync(file);
    fs.writeFileSync(file, buf.subarray(0, Math.floor(buf.length / 2)));
    await assert.rejects(AuditStore.open(file, { watch: false }), isStoreError('CORRUPT', /truncated|malformed/));
    assert.equal(fs.statSync(file).size, Math.floor(buf.length / 2));
  });

  it('refuses a database from a newer schema', async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    db.exec(SCHEMA_V1);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    fs.writeFileSync(file, db.export());
    db.close();
    await assert.rejects(AuditStore.open(file, { watch: false }), isStoreError('NEWER_SCHEMA', /newer Bot Audit/));
  });

  it('refuses a journal that is not one, and leaves both files untouched', async () => {
    const s = await AuditStore.open(file, { watch: false });
    await s.close();
    fs.writeFileSync(file + '.journal', 'something else\n');
    await assert.rejects(AuditStore.open(file, { watch: false }), isStoreError('NOT_BOT_AUDIT_DB', /not a Bot Audit journal/));
    assert.equal(fs.readFileSync(file + '.journal', 'utf8'), 'something else\n');
  });

  it('refuses to start over when the database is missing but its journal is not', async () => {
    const s = await AuditStore.open(file, { watch: false });
    await s.appendBatch(sampleEntries().slice(0, 3));
    await s.close();
    fs.renameSync(file, file + '.moved');
    await assert.rejects(AuditStore.open(file, { watch: false }), isStoreError('CORRUPT', /database file is missing/));
    assert.ok(!fs.existsSync(file));
  });

  it('migrates a schema-1 database forward, keeping every entry and hash', async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    db.exec(SCHEMA_V1);
    let prev = GENESIS_HASH;
    const rows: Row[] = [];
    for (let id = 1; id <= 3; id++) {
      const r = { id, uuid: `00000000-0000-4000-8000-00000000000${id}`, recorded: 1_700_000_000_000 + id, user: 'old', action: 'UPDATED', entityName: 'story', entityId: String(id * 10), before: '{"a":1}', after: '{"a":2}', prevHash: prev } as Row;
      r.hash = hashRow(r);
      prev = r.hash;
      rows.push(r);
      db.run(
        'INSERT INTO entries(id, uuid, recorded, user, action, entity_name, entity_id, before_json, after_json, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
        [r.id, r.uuid, r.recorded, r.user, r.action, r.entityName, r.entityId, r.before!, r.after!, r.prevHash, r.hash],
      );
    }
    fs.writeFileSync(file, db.export());
    db.close();
    const s = await AuditStore.open(file, { watch: false });
    assert.equal(s.unsafeExec('PRAGMA user_version')[0][0], SCHEMA_VERSION);
    assert.equal(s.size, 3);
    assert.deepEqual(s.verify(), { ok: true, count: 3, headHash: rows[2].hash });
    assert.deepEqual(s.query('entity-id:>15').entries.map((e) => e.id), [3, 2], 'entity IDs backfilled as numbers');
    const e = await s.append({ user: 'new', action: 'EXECUTED', entityName: 'bot', entityId: 'b', returnValue: 'ok', replayOf: 2 });
    assert.equal(e.id, 4);
    assert.equal(e.prevHash, rows[2].hash);
    await s.close();
    const again = await AuditStore.open(file, { watch: false });
    assert.equal(again.unsafeExec('PRAGMA user_version')[0][0], SCHEMA_VERSION);
    assert.equal(again.get(4)!.replayOf, 2);
    assert.equal(again.verify().ok, true);
    await again.close();
  });

  it('catches a changed byte in the database file with verify()', async () => {
    const s = await AuditStore.open(file, { watch: false });
    await s.appendBatch(sampleEntries().slice(0, 10));
    await s.append({ user: 'Marker-User-Qx7', action: 'LOGIN', entityName: 'access', entityId: '1' });
    await s.appendBatch(sampleEntries().slice(10, 20));
    await s.close();
    const buf = fs.readFileSync(file);
    // The value is in the entry's row and in the user index: change both copies.
    let at = buf.indexOf('Marker-User-Qx7');
    assert.ok(at > 0);
    while (at >= 0) {
      buf[at + 7] = 'V'.charCodeAt(0); // Marker-Vser-Qx7
      at = buf.indexOf('Marker-User-Qx7', at + 1);
    }
    fs.writeFileSync(file, buf);
    const t = await AuditStore.open(file, { watch: false });
    const v = t.verify();
    assert.equal(v.ok, false);
    assert.equal(v.count, 21);
    assert.equal(v.firstBroken!.id, 11);
    assert.match(v.firstBroken!.reason, /does not match its hash/);
    await t.close();
  });

  it('catches a changed hash: the next entry no longer links to it', async () => {
    const s = await AuditStore.open(file, { watch: false });
    const es = await s.appendBatch(sampleEntries().slice(0, 5));
    await s.close();
    const buf = fs.readFileSync(file);
    // Rewrite entry 3's stored hash (its first occurrence is entry 3's own hash column or entry 4's prev_hash).
    // Since schema 6 the database stores hashes as 32 bytes, not hex text.
    const h = Buffer.from(es[2].hash, 'hex');
    let at = buf.indexOf(h);
    const positions: number[] = [];
    while (at >= 0) {
      positions.push(at);
      at = buf.indexOf(h, at + 1);
    }
    assert.ok(positions.length >= 2);
    for (const p of positions) buf[p] ^= 0x01;
    fs.writeFileSync(file, buf);
    const t = await AuditStore.open(file, { watch: false });
    const v = t.verify();
    assert.equal(v.ok, false);
    assert.equal(v.firstBroken!.id, 3);
    await t.close();
  });

  it('skips and reports a torn last journal line, keeps the rest, and appends after it', async () => {
    const a = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await a.appendBatch(sampleEntries().slice(0, 3));
    // A crash in the middle of writing entry 4:
    const full = fs.readFileSync(file + '.journal', 'utf8').split('\n')[1];
    fs.appendFileSync(file + '.journal', full.replace('"id":1', '"id":4').slice(0, 57));
    const b = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    assert.equal(b.size, 3);
    assert.equal(b.warnings.length, 1);
    assert.equal(b.warnings[0].code, 'TORN_LINE');
    assert.match(b.warnings[0].message, /torn/);
    const e = await b.append(sampleEntries()[3]);
    assert.equal(e.id, 4);
    assert.equal(b.verify().ok, true);
    // The first store, reading on, skips the sealed torn line and takes entry 4.
    const warned: string[] = [];
    a.onDidWarn((w) => warned.push(w.code));
    assert.deepEqual(a.get(4), e);
    assert.deepEqual(warned, ['TORN_LINE']);
    await b.close();
    await a.close();
    const c = await AuditStore.open(file, { watch: false });
    assert.deepEqual(c.verify().ok, true);
    assert.equal(c.size, 4);
    await c.close();
  });

  // A journal line whose bytes were changed is tampering, no longer skipped: see tamper.test.ts.

  it('recovers a stale lock left by a dead process', async () => {
    fs.writeFileSync(file + '.lock', JSON.stringify({ pid: 2 ** 22 + 12345, host: require('node:os').hostname(), token: 'dead', time: 0 }));
    const t = Date.now();
    const s = await AuditStore.open(file, { watch: false, lockTimeoutMs: 5000 });
    await s.append(sampleEntries()[0]);
    assert.ok(Date.now() - t < 4000, 'not after the 5 s lock timeout');
    assert.ok(!fs.existsSync(file + '.lock'));
    await s.close();
  });

  it('recovers a lock that nobody refreshed for too long', async () => {
    const lockFile = file + '.lock';
    fs.writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: 'elsewhere', token: 'old', time: 0 }));
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(lockFile, old, old);
    const l = new FileLock(lockFile, 60_000);
    assert.equal(l.tryAcquire(), false, 'the first try breaks the stale lock');
    assert.equal(l.brokenStale, 1);
    assert.equal(l.tryAcquire(), true);
    l.release();
    assert.ok(!fs.existsSync(lockFile));
  });

  it('recovers a lock from before a reboot, even if its pid is alive again', async function () {
    let boot: string;
    try {
      boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      return this.skip(); // not Linux
    }
    const lockFile = file + '.lock';
    const other = boot.replace(/[0-9a-f]/, (c) => (c === '0' ? '1' : '0'));
    fs.writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: require('node:os').hostname(), token: 'pre-reboot', time: 0, boot: other }));
    const s = await AuditStore.open(file, { watch: false, lockTimeoutMs: 2000 });
    await s.close();
  });

  it('waits for a live lock and fails with LOCKED after the timeout', async () => {
    const other = new FileLock(file + '.lock');
    assert.ok(other.tryAcquire());
    await assert.rejects(AuditStore.open(file, { watch: false, lockTimeoutMs: 300 }), isStoreError('LOCKED', new RegExp(`process ${process.pid}`)));
    other.release();
    const s = await AuditStore.open(file, { watch: false });
    await s.close();
  });

  it('lets two stores on one log take turns, across checkpoints', async () => {
    const a = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    const b = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const s = i % 2 ? b : a;
      ids.push((await s.append(sampleEntries()[i])).id);
      if (i === 2) await a.checkpoint();
      if (i === 4) await b.checkpoint();
    }
    assert.deepEqual(ids, [1, 2, 3, 4, 5, 6]);
    assert.equal(a.size, 6);
    assert.equal(b.count([]), 6);
    assert.equal(a.verify().ok, true);
    assert.deepEqual(a.get(6), b.get(6));
    // Two checkpoints in a row while `a` looks away: `a` reloads from the database file.
    await b.append(sampleEntries()[6]);
    await b.checkpoint();
    await b.append(sampleEntries()[7]);
    await b.checkpoint();
    await b.append(sampleEntries()[8]);
    assert.equal(a.query([]).total, 9);
    assert.deepEqual(a.query([], { limit: 3 }).entries.map((e) => e.id), [9, 8, 7]);
    assert.equal(a.verify().ok, true);
    await a.close();
    await b.close();
  });

  it("tells a watching store about another store's appends within a second", async () => {
    const reader = await AuditStore.open(file, { watch: true });
    const writer = await AuditStore.open(file, { watch: false });
    try {
      const seen: Entry[] = [];
      const got = new Promise<number>((resolve) => {
        const t0 = Date.now();
        reader.onDidAppend((es) => {
          seen.push(...es);
          if (seen.length >= 3) resolve(Date.now() - t0);
        });
      });
      await writer.appendBatch(sampleEntries().slice(0, 3));
      const ms = await got;
      assert.ok(ms < 1000, `${ms} ms`);
      assert.deepEqual(seen.map((e) => e.id), [1, 2, 3]);
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it('folds the journal automatically past a threshold', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: { maxJournalEntries: 5 } });
    for (const e of sampleEntries().slice(0, 12)) await s.append(e);
    await s.checkpoint(); // waits for any automatic one in flight
    const header = JSON.parse(fs.readFileSync(file + '.journal', 'utf8').split('\n')[0]) as { base: number };
    assert.equal(header.base, 12);
    await s.close();
  });

  it('folds the journal when idle', async () => {
    const s = await AuditStore.open(file, { watch: false, autoCheckpoint: { idleMs: 100 } });
    await s.append(sampleEntries()[0]);
    await new Promise((r) => setTimeout(r, 400));
    const header = JSON.parse(fs.readFileSync(file + '.journal', 'utf8').split('\n')[0]) as { base: number };
    assert.equal(header.base, 1);
    await s.close();
  });

  it('refuses use after close', async () => {
    const s = await AuditStore.open(file, { watch: false });
    await s.close();
    await s.close();
    assert.throws(() => s.query([]), isStoreError('CLOSED'));
    await assert.rejects(s.append(sampleEntries()[0]), isStoreError('CLOSED'));
  });
});
