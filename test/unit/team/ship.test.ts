// Shipping local logs into one team log on a real PostgreSQL, and verifying it: three logs written by
// their own processes arrive once each, in order per origin; a second ship ships nothing; a fork (a
// restored backup of either side) is refused; an entry changed or removed on the server is named.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { canonicalJson, canonicalRow, sha256, type Row } from '../../../src/core/store/row';
import { initTeamLog, originOf, shipToTeam, TeamLogError, verifyTeamLog } from '../../../src/core/team';
import { removeDir, startChild, tempDir } from '../store/helpers';
import { startCluster, type TestCluster } from './pg';

/** `n` entries of user `who`, one of them with text jsonb cannot hold (a NUL, a lone surrogate). */
function entries(who: string, n: number, from = 0): NewEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    user: who,
    action: 'UPDATED' as const,
    entityName: 'story',
    entityId: String(from + i),
    outcomeDesc: i === 3 ? `a NUL \u0000 and a lone \ud800 surrogate` : undefined,
    before: { n: from + i },
    after: { n: from + i + 1, note: i === 5 ? 'quote " backslash \\ u0000' : 'ok' },
  }));
}

/** Thrown from onBatch to stop a shipper after its first batch. */
class StopAfterOne extends Error {}

async function teamRows(c: Client, origin?: string): Promise<{ origin: string; origin_id: number; origin_hash: string }[]> {
  const { rows } = await c.query(
    `SELECT origin, origin_id::int AS origin_id, origin_hash FROM bot_audit.team_entries ${origin ? 'WHERE origin = $1' : ''} ORDER BY seq`,
    origin ? [origin] : [],
  );
  return rows;
}

/** Runs `sql` as the superuser with the append-only triggers off: someone with the server's keys, behind our back. */
async function behindOurBack(c: Client, sql: string, params: unknown[] = []): Promise<void> {
  await c.query('ALTER TABLE bot_audit.team_entries DISABLE TRIGGER USER');
  try {
    await c.query(sql, params);
  } finally {
    await c.query('ALTER TABLE bot_audit.team_entries ENABLE TRIGGER USER');
  }
}

describe('team log: shipping and verify', function () {
  this.timeout(300_000);
  let pg: TestCluster;
  let admin: Client;
  let dir: string;
  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    dir = tempDir();
  });
  after(async () => {
    await admin?.end();
    pg?.stop();
    removeDir(dir);
  });
  beforeEach(async () => {
    // A fresh team log for each test: the schema dropped (the owner may drop what it may not change) and made again.
    await admin.query('DROP SCHEMA IF EXISTS bot_audit CASCADE');
    await initTeamLog(admin);
  });

  it('three logs, each written by its own process, ship into one team log: every entry once, in order per origin', async () => {
    const files = ['alice', 'bob', 'ci'].map((who) => path.join(dir, who, 'audit.db'));
    for (const f of files) fs.mkdirSync(path.dirname(f), { recursive: true });
    const counts = [700, 350, 1];
    const children = files.map((file, i) => startChild('appender', [JSON.stringify({ file, count: counts[i], user: `user${i}`, batch: 50 })]));
    for (const c of children) assert.deepEqual(await c.exited, { code: 0, signal: null }, c.stderr.join(''));
    const stores = await Promise.all(files.map((f) => AuditStore.open(f, { watch: false })));
    const clients: Client[] = [];
    try {
      await stores[0].appendBatch(entries('alice', 20));
      const sizes = stores.map((s) => s.size);
      assert.deepEqual(sizes, [720, 350, 1]);
      for (const _ of stores) clients.push(await pg.connect());
      // All three at once, in small batches, so that their transactions interleave.
      const shipped = await Promise.all(stores.map((s, i) => shipToTeam(s, clients[i], { batchSize: 64 })));
      assert.deepEqual(shipped.map((r) => r.shipped), sizes);
      assert.deepEqual(shipped.map((r) => r.teamHead), sizes);
      for (const [i, s] of stores.entries()) {
        const origin = originOf(s)!;
        assert.equal(shipped[i].origin, origin);
        const rows = await teamRows(admin, origin);
        assert.deepEqual(rows.map((r) => r.origin_id), Array.from({ length: sizes[i] }, (_, k) => k + 1), 'each entry once, in ID order');
        for (const r of rows) assert.equal(r.origin_hash, s.get(r.origin_id)!.hash);
      }
      const again = await Promise.all(stores.map((s, i) => shipToTeam(s, clients[i])));
      assert.deepEqual(again.map((r) => r.shipped), [0, 0, 0], 'shipping again ships nothing new');
      const v = await verifyTeamLog(admin);
      assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
      assert.equal(v.count, 720 + 350 + 1);
      assert.deepEqual(
        new Map(v.origins.map((o) => [o.origin, [o.count, o.headHash]])),
        new Map(stores.map((s) => [originOf(s)!, [s.size, s.headHash]])),
      );
      // Text jsonb cannot hold is kept whole in entry_text, its entry NULL; the rest have their jsonb.
      const nulls = await admin.query('SELECT origin_id::int AS id FROM bot_audit.team_entries WHERE entry IS NULL');
      assert.deepEqual(nulls.rows.map((r) => r.id), [704], 'the entry with a NUL in its outcome description');
      const after = await admin.query("SELECT entry->>'after' AS after FROM bot_audit.team_entries WHERE origin = $1 AND origin_id = 706", [originOf(stores[0])]);
      assert.equal(JSON.parse(after.rows[0].after).note, 'quote " backslash \\ u0000');
    } finally {
      for (const c of clients) await c.end();
      for (const s of stores) await s.close();
    }
  });

  it('a member ships as a bot_audit_writer, and a reviewer verifies as a bot_audit_reader', async () => {
    await admin.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'member') THEN CREATE ROLE member LOGIN IN ROLE bot_audit_writer; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reviewer') THEN CREATE ROLE reviewer LOGIN IN ROLE bot_audit_reader; END IF;
    END $$`);
    const store = await AuditStore.open(path.join(dir, 'member.db'), { watch: false });
    const member = await pg.connect('member');
    const reviewer = await pg.connect('reviewer');
    try {
      await store.appendBatch(entries('member', 30));
      assert.equal((await shipToTeam(store, member, { batchSize: 8 })).shipped, 30);
      assert.equal((await shipToTeam(store, member)).shipped, 0);
      const v = await verifyTeamLog(reviewer);
      assert.deepEqual([v.ok, v.count], [true, 30]);
      await store.appendBatch(entries('member', 5, 30));
      await assert.rejects(shipToTeam(store, reviewer), /permission denied for function append_entries/);
      assert.equal((await verifyTeamLog(reviewer)).count, 30, 'nothing shipped by a reviewer');
    } finally {
      await member.end();
      await reviewer.end();
      await store.close();
    }
  });

  it('a batch rolled back mid-way, then shipped again: nothing lost, nothing twice', async () => {
    const store = await AuditStore.open(path.join(dir, 'rollback.db'), { watch: false });
    const c = await pg.connect();
    try {
      await store.appendBatch(entries('dev', 300));
      await shipToTeam(store, c, { batchSize: 100 });
      await store.appendBatch(entries('dev', 250, 300));
      // A shipper that dies inside its transaction: its rows are never seen, as after a kill.
      const origin = originOf(store)!;
      await c.query('BEGIN');
      const e = store.get(301)!;
      const text = canonicalRow({ ...e, before: canonicalJson(e.before), after: canonicalJson(e.after) } as unknown as Row);
      await c.query('INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry_text) VALUES ($1, 301, $2, $3, $4)', [origin, e.hash, e.prevHash, text]);
      assert.equal((await c.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n, 301, 'in the transaction');
      await c.query('ROLLBACK');
      const r = await shipToTeam(store, c, { batchSize: 100 });
      assert.equal(r.shipped, 250);
      assert.deepEqual((await teamRows(admin, origin)).map((x) => x.origin_id), Array.from({ length: 550 }, (_, k) => k + 1));
      assert.equal((await verifyTeamLog(admin)).ok, true);
    } finally {
      await c.end();
      await store.close();
    }
  });

  it('a team log restored from a backup that lacks the last entries gets them again', async () => {
    const store = await AuditStore.open(path.join(dir, 'restored-team.db'), { watch: false });
    try {
      await store.appendBatch(entries('dev', 40));
      await shipToTeam(store, admin);
      await behindOurBack(admin, 'DELETE FROM bot_audit.team_entries WHERE seq > 25');
      const r = await shipToTeam(store, admin);
      assert.deepEqual([r.shipped, r.teamHead], [15, 40]);
      const v = await verifyTeamLog(admin);
      assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
      assert.equal(v.count, 40);
    } finally {
      await store.close();
    }
  });

  describe('a fork is refused, and nothing of it is shipped', () => {
    let live: AuditStore;
    let backup: AuditStore;
    beforeEach(async () => {
      const sub = fs.mkdtempSync(path.join(dir, 'fork-'));
      live = await AuditStore.open(path.join(sub, 'audit.db'), { watch: false });
      await live.appendBatch(entries('dev', 20));
      await live.checkpoint();
      await live.close();
      // The backup: the log's files as they were at 20 entries.
      fs.cpSync(path.join(sub), path.join(sub, '..', `${path.basename(sub)}-backup`), { recursive: true });
      live = await AuditStore.open(path.join(sub, 'audit.db'), { watch: false });
      await live.appendBatch(entries('dev', 10, 20));
      await shipToTeam(live, admin);
      backup = await AuditStore.open(path.join(`${sub}-backup`, 'audit.db'), { watch: false });
      assert.equal(originOf(backup), originOf(live), 'a restored backup is the same origin');
    });
    afterEach(async () => {
      await live.close();
      await backup.close();
    });

    it('the team log has more of this origin than the local log (a restored local backup)', async () => {
      await assert.rejects(shipToTeam(backup, admin), (e: unknown) => {
        assert.ok(e instanceof TeamLogError);
        assert.equal(e.code, 'FORK');
        assert.match(e.message, /the team log has entries 1\.\.30 of this log .* but the local log ends at entry 20/);
        return true;
      });
      assert.equal((await teamRows(admin, originOf(live))).length, 30);
    });

    it('the local log has another entry at the team log\'s head ID', async () => {
      await backup.appendBatch(entries('someone else', 15, 100));
      await assert.rejects(shipToTeam(backup, admin), (e: unknown) => {
        assert.ok(e instanceof TeamLogError);
        assert.equal(e.code, 'FORK');
        assert.match(e.message, /entry 30 of this log .* has hash .* in the team log but .* here: the two logs forked/);
        return true;
      });
      assert.equal((await teamRows(admin, originOf(live))).length, 30, 'nothing shipped');
      assert.equal((await verifyTeamLog(admin)).ok, true);
    });
  });

  describe('verify names what was changed on the server behind our back', () => {
    let stores: AuditStore[];
    let origins: string[];
    beforeEach(async () => {
      stores = [];
      for (const who of ['a', 'b']) {
        const s = await AuditStore.open(path.join(fs.mkdtempSync(path.join(dir, 'tamper-')), 'audit.db'), { watch: false });
        await s.appendBatch(entries(who, 30));
        stores.push(s);
      }
      origins = stores.map((s) => originOf(s)!);
      // Interleaved: 10 of a, 10 of b, 20 of a, 20 of b.
      for (const s of stores) await shipToTeam(s, admin, { batchSize: 10, onBatch: () => { throw new StopAfterOne(); } }).catch((e) => assert.ok(e instanceof StopAfterOne));
      for (const s of stores) await shipToTeam(s, admin);
      assert.equal((await verifyTeamLog(admin)).ok, true);
    });
    afterEach(async () => {
      for (const s of stores) await s.close();
    });

    it('an entry_text edited with the triggers off', async () => {
      const { rows } = await admin.query('SELECT seq::int AS seq, origin, origin_id::int AS id FROM bot_audit.team_entries ORDER BY seq OFFSET 45 LIMIT 1');
      await behindOurBack(admin, "UPDATE bot_audit.team_entries SET entry_text = replace(entry_text, '\"user\":\"b\"', '\"user\":\"x\"'), entry = replace(entry_text, '\"user\":\"b\"', '\"user\":\"x\"')::jsonb WHERE seq = $1", [rows[0].seq]);
      const v = await verifyTeamLog(admin);
      assert.equal(v.ok, false);
      assert.deepEqual(v.firstBroken, { seq: rows[0].seq, origin: rows[0].origin, originId: rows[0].id, reason: 'its entry_text does not give its origin_hash (the entry was changed)' });
      assert.equal(v.count, 60);
    });

    it('an entry (jsonb) edited alone: only a full verify checks the jsonb copy', async () => {
      await behindOurBack(admin, "UPDATE bot_audit.team_entries SET entry = jsonb_set(entry, '{user}', '\"x\"') WHERE seq = 7");
      assert.equal((await verifyTeamLog(admin)).ok, true, 'the hashed text and both chains hold');
      const v = await verifyTeamLog(admin, { full: true });
      assert.deepEqual([v.ok, v.firstBroken?.seq, v.firstBroken?.origin, v.firstBroken?.originId], [false, 7, origins[0], 7]);
      assert.match(v.firstBroken!.reason, /entry \(jsonb\) is not its entry_text/);
    });

    it('a row deleted from the middle', async () => {
      await behindOurBack(admin, 'DELETE FROM bot_audit.team_entries WHERE seq = 15');
      const v = await verifyTeamLog(admin);
      assert.equal(v.ok, false);
      assert.equal(v.firstBroken!.seq, 16);
      assert.equal(v.firstBroken!.reason, 'team entries 15..15 are missing');
      assert.equal(v.count, 59);
    });

    it('a row deleted and the team chain written again over the rest: the origin\'s gap is named', async () => {
      // Someone who renumbers the seqs after removing b's entry 3 (seq 13) and recomputes the team chain.
      await behindOurBack(admin, 'DELETE FROM bot_audit.team_entries WHERE seq = 13');
      const { rows } = await admin.query('SELECT seq::int AS seq, origin, origin_id, origin_hash, team_hash FROM bot_audit.team_entries WHERE seq >= 12 ORDER BY seq');
      let prev: string = rows[0].team_hash;
      for (const r of rows.slice(1)) {
        const hash = sha256(`${prev}:${r.origin}:${r.origin_id}:${r.origin_hash}`);
        await behindOurBack(admin, 'UPDATE bot_audit.team_entries SET seq = $1, team_prev = $2, team_hash = $3 WHERE seq = $4', [r.seq - 1, prev, hash, r.seq]);
        prev = hash;
      }
      const v = await verifyTeamLog(admin);
      assert.deepEqual(v.firstBroken, { seq: 13, origin: origins[1], originId: 4, reason: 'entries 3..3 of this origin are missing' });
      assert.equal(v.count, 59);
    });
  });
});
