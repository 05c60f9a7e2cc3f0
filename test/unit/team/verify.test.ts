// verifyTeamLog's checks, done by the server in SQL (and, with `full`, its parse checks), against a
// team log changed behind the triggers' back in every way it names: each reason, at the right seq,
// and the same result (count, heads, origins up to the first broken entry) as a row-by-row check of
// every row in this process, the reference below. Each test gets its own copy of one team log (a
// database made from a template), so that no change leaks into the next.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Client } from 'pg';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { GENESIS_HASH, sha256 } from '../../../src/core/store/row';
import { jsonbCanHold, teamLink } from '../../../src/core/team/schema';
import { EXIT } from '../../../src/cli/main';
import { initTeamLog, originOf, shipToTeam, TeamLogReader, verifyTeamLog, type TeamVerifyResult } from '../../../src/core/team';
import { cli, oneLine, workspace } from '../cli/helpers';
import { removeDir, tempDir } from '../store/helpers';
import { startCluster, type TestCluster } from './pg';

const TABLE = 'bot_audit.team_entries';

/** `n` entries of user `who`; entry 4 has text jsonb cannot hold (a NUL, a lone surrogate), so its `entry` is NULL. */
function entries(who: string, n: number): NewEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    user: who,
    action: 'UPDATED' as const,
    entityName: 'story',
    entityId: String(i),
    outcomeDesc: i === 3 ? 'a NUL \u0000 and a lone \ud800 surrogate' : undefined,
    before: { n: i },
    after: { n: i + 1 },
  }));
}

interface RefRow {
  seq: string;
  origin: string;
  origin_id: string;
  origin_hash: string;
  origin_prev: string;
  entry_text: string;
  entry_json: string | null;
  team_prev: string;
  team_hash: string;
}

/**
 * The reference: every row read into this process and checked one by one, in seq order, as
 * verifyTeamLog did before its checks moved to the server (the same checks, in the same order, with
 * the same reasons); `full` adds the parse checks.
 */
async function reference(c: Client, full: boolean): Promise<TeamVerifyResult> {
  const { rows } = await c.query<RefRow>(`SELECT seq, origin, origin_id, origin_hash, origin_prev, entry_text, entry::text AS entry_json, team_prev, team_hash FROM ${TABLE} ORDER BY seq`);
  const origins = new Map<string, { count: number; headHash: string }>();
  let lastSeq = 0;
  let teamHead = GENESIS_HASH;
  const check = (r: RefRow, seq: number, o: { count: number; headHash: string } | undefined): string | undefined => {
    if (seq !== lastSeq + 1) return `team entries ${lastSeq + 1}..${seq - 1} are missing`;
    if (r.team_prev !== teamHead) return 'its team_prev is not the previous entry\'s team_hash';
    if (r.team_hash !== sha256(teamLink(r.team_prev, r.origin, r.origin_id, r.origin_hash))) return 'its team_hash does not match its fields';
    const id = Number(r.origin_id);
    const expected = (o?.count ?? 0) + 1;
    if (id !== expected) return id < expected ? `entry ${id} of this origin came again` : `entries ${expected}..${id - 1} of this origin are missing`;
    if (r.origin_prev !== (o?.headHash ?? GENESIS_HASH)) return `its origin_prev is not the hash of entry ${id - 1} of this origin`;
    if (sha256(r.entry_text) !== r.origin_hash) return 'its entry_text does not give its origin_hash (the entry was changed)';
    if (id === 1 && r.origin !== r.origin_hash) return 'its origin is not the hash of its entry 1';
    if (!full) return undefined;
    let fields: { id?: unknown; prevHash?: unknown } | null;
    try {
      fields = JSON.parse(r.entry_text) as typeof fields;
    } catch {
      return 'its entry_text is not JSON';
    }
    if (fields?.id !== id || fields?.prevHash !== r.origin_prev) return 'its entry_text names another ID or previous hash than its columns';
    if ((r.entry_json === null) === jsonbCanHold(r.entry_text)) return 'its entry (jsonb) is not its entry_text';
    if (r.entry_json !== null && !isDeepStrictEqual(JSON.parse(r.entry_json), fields)) return 'its entry (jsonb) is not its entry_text';
    return undefined;
  };
  let firstBroken: TeamVerifyResult['firstBroken'];
  for (const r of rows) {
    const seq = Number(r.seq);
    const o = origins.get(r.origin);
    const reason = check(r, seq, o);
    if (reason) {
      firstBroken = { seq, origin: r.origin, originId: Number(r.origin_id), reason };
      break;
    }
    origins.set(r.origin, { count: (o?.count ?? 0) + 1, headHash: r.origin_hash });
    lastSeq = seq;
    teamHead = r.team_hash;
  }
  return {
    ok: !firstBroken,
    count: rows.length,
    headHash: teamHead,
    origins: [...origins].map(([origin, o]) => ({ origin, count: o.count, headHash: o.headHash })),
    ...(firstBroken ? { firstBroken } : {}),
  };
}

describe('team log: verify on the server', function () {
  this.timeout(300_000);
  let pg: TestCluster;
  let admin: Client;
  let dir: string;
  /** The two origins: a's entries are seq 1..10 and 21..40, b's 11..20 and 41..60 (runs start at 1, 11, 21 and 41). */
  let a: string;
  let b: string;
  let db: Client;
  let dbUrl: string;
  let copies = 0;

  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    dir = tempDir();
    await admin.query('CREATE DATABASE team_template');
    const tpl = new Client({ connectionString: pg.url().replace(/\/postgres$/, '/team_template') });
    await tpl.connect();
    const stores: AuditStore[] = [];
    try {
      await initTeamLog(tpl);
      for (const who of ['a', 'b']) {
        const s = await AuditStore.open(path.join(dir, who, 'audit.db'), { watch: false });
        await s.appendBatch(entries(who, 30));
        stores.push(s);
      }
      // Interleaved: 10 of a, 10 of b, 20 of a, 20 of b.
      for (const s of stores) await shipToTeam(s, tpl, { batchSize: 10, onBatch: () => { throw new Error('one batch'); } }).catch(() => undefined);
      for (const s of stores) await shipToTeam(s, tpl);
      [a, b] = stores.map((s) => originOf(s)!);
      const { rows } = await tpl.query<{ seq: number; origin: string }>(`SELECT seq::int AS seq, origin FROM ${TABLE} WHERE seq IN (1, 11, 21, 41)`);
      assert.deepEqual(rows.map((r) => r.origin), [a, b, a, b]);
    } finally {
      await tpl.end();
      for (const s of stores) await s.close();
    }
  });
  after(async () => {
    await admin?.end();
    pg?.stop();
    if (dir) removeDir(dir);
  });
  beforeEach(async () => {
    const name = `team_copy_${++copies}`;
    await admin.query(`CREATE DATABASE ${name} TEMPLATE team_template`);
    dbUrl = pg.url().replace(/\/postgres$/, `/${name}`);
    db = new Client({ connectionString: dbUrl });
    await db.connect();
  });
  afterEach(async () => {
    await db?.end();
  });

  /** Runs `sql` as the superuser with the table's triggers off: someone with the server's keys. */
  async function behindOurBack(sql: string, params: unknown[] = []): Promise<void> {
    await db.query(`ALTER TABLE ${TABLE} DISABLE TRIGGER USER`);
    try {
      await db.query(sql, params);
    } finally {
      await db.query(`ALTER TABLE ${TABLE} ENABLE TRIGGER USER`);
    }
  }

  /** The newest entry of an origin: its ID and hash. */
  async function originHead(origin: string): Promise<{ id: number; hash: string }> {
    const { rows } = await db.query(`SELECT origin_id::int AS id, origin_hash AS hash FROM ${TABLE} WHERE origin = $1 ORDER BY origin_id DESC LIMIT 1`, [origin]);
    return rows[0];
  }

  /**
   * Appends a row behind the triggers' back whose team chain holds (its seq, team_prev and team_hash
   * as the trigger would make them) and whose origin_hash is its text's: what it breaks is the rest.
   */
  async function appendRaw(r: { origin: string; originId: number; originPrev: string; text: string; entry?: string | null; originHash?: string }): Promise<number> {
    const last = (await db.query<{ seq: string; team_hash: string }>(`SELECT seq, team_hash FROM ${TABLE} ORDER BY seq DESC LIMIT 1`)).rows[0];
    const seq = Number(last.seq) + 1;
    const originHash = r.originHash ?? sha256(r.text);
    const entry = r.entry !== undefined ? r.entry : r.text;
    await behindOurBack(
      `INSERT INTO ${TABLE} (seq, origin, origin_id, origin_hash, origin_prev, entry, entry_text, team_prev, team_hash) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)`,
      [seq, r.origin, r.originId, originHash, r.originPrev, entry, r.text, last.team_hash, sha256(teamLink(last.team_hash, r.origin, r.originId, originHash))],
    );
    return seq;
  }

  /** The next entry of `origin` as its shipper would send it, with `change` applied to its fields. */
  async function nextEntryText(origin: string, change: (e: Record<string, unknown>) => void = () => undefined): Promise<{ id: number; prev: string; text: string }> {
    const head = await originHead(origin);
    const last = JSON.parse((await db.query(`SELECT entry_text FROM ${TABLE} WHERE origin = $1 AND origin_id = $2`, [origin, head.id])).rows[0].entry_text) as Record<string, unknown>;
    const e = { ...last, id: head.id + 1, prevHash: head.hash };
    change(e);
    return { id: head.id + 1, prev: head.hash, text: JSON.stringify(e) };
  }

  /** verifyTeamLog (full or not) gives what the reference gives, and its first broken entry is `seq` (of `origin`, its ID `originId` there) for `reason`. */
  /**
   * verifyTeamLog in one seq range, and in several read over several connections and stitched
   * together (each range count puts the boundaries elsewhere; 60, one row a range, at every row), and
   * in several on one connection when no other can be opened.
   */
  async function verifyEachWay(opts: { full?: boolean }): Promise<TeamVerifyResult[]> {
    const out = [await verifyTeamLog(db, opts)];
    const connect = async () => {
      const c = new Client({ connectionString: dbUrl });
      await c.connect();
      return c;
    };
    for (const ranges of [2, 3, 7, 60]) out.push(await verifyTeamLog(db, { ...opts, ranges, connect }));
    // A server that takes no second connection: the ranges read one after another on the one there is.
    out.push(await verifyTeamLog(db, { ...opts, ranges: 3, connect: () => Promise.reject(new Error('too many connections for role')) }));
    return out;
  }

  async function expectBroken(seq: number, origin: string, originId: number, reason: string, opts: { full?: boolean } = {}): Promise<TeamVerifyResult> {
    const ref = await reference(db, opts.full === true);
    const [v, ...ranged] = await verifyEachWay(opts);
    assert.deepEqual(v.firstBroken, { seq, origin, originId, reason });
    assert.deepEqual(v, ref);
    for (const r of ranged) assert.deepEqual(r, ref);
    return v;
  }

  async function expectSound(opts: { full?: boolean } = {}): Promise<TeamVerifyResult> {
    const ref = await reference(db, opts.full === true);
    const [v, ...ranged] = await verifyEachWay(opts);
    assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
    assert.deepEqual(v, ref);
    for (const r of ranged) assert.deepEqual(r, ref);
    return v;
  }

  it('a sound team log: both verifies hold, with each origin\'s count and head, entries jsonb cannot hold included', async () => {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${TABLE} WHERE entry IS NULL`);
    assert.equal(rows[0].n, 2, 'entry 4 of each origin has no jsonb');
    const v = await expectSound();
    assert.equal(v.count, 60);
    assert.deepEqual(v.origins.map((o) => [o.origin, o.count]), [[a, 30], [b, 30]]);
    assert.deepEqual(v.origins.map((o) => o.headHash), [(await originHead(a)).hash, (await originHead(b)).hash]);
    assert.deepEqual(await expectSound({ full: true }), v);
  });

  it('an empty team log is sound', async () => {
    await behindOurBack(`DELETE FROM ${TABLE}`);
    assert.deepEqual(await verifyTeamLog(db), { ok: true, count: 0, headHash: GENESIS_HASH, origins: [] });
    assert.deepEqual(await verifyTeamLog(db, { full: true }), { ok: true, count: 0, headHash: GENESIS_HASH, origins: [] });
  });

  it('a missing seq: the next one is named', async () => {
    await behindOurBack(`DELETE FROM ${TABLE} WHERE seq = 25`);
    const v = await expectBroken(26, a, 16, 'team entries 25..25 are missing');
    assert.equal(v.count, 59);
    assert.deepEqual(v.origins.map((o) => o.count), [14, 10], 'origins up to the broken entry');
  });

  it('a missing seq 1', async () => {
    await behindOurBack(`DELETE FROM ${TABLE} WHERE seq = 1`);
    await expectBroken(2, a, 2, 'team entries 1..1 are missing');
  });

  it('a gap in seq alone, the team chain intact (the later seqs moved up by ten)', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET seq = -seq WHERE seq > 30`);
    await behindOurBack(`UPDATE ${TABLE} SET seq = 10 - seq WHERE seq < 0`);
    await expectBroken(41, a, 21, 'team entries 31..40 are missing');
  });

  it('a row behind the others at the top of bigint\'s range: the row is named, in one range and in several', async () => {
    const last = (await db.query<{ team_hash: string }>(`SELECT team_hash FROM ${TABLE} ORDER BY seq DESC LIMIT 1`)).rows[0];
    const text = (await nextEntryText(a)).text;
    await behindOurBack(
      `INSERT INTO ${TABLE} (seq, origin, origin_id, origin_hash, origin_prev, entry, entry_text, team_prev, team_hash) VALUES ('9223372036854775807', $1, 31, $2, $3, $4::jsonb, $4, $5, $6)`,
      [a, sha256(text), (await originHead(a)).hash, text, last.team_hash, sha256(teamLink(last.team_hash, a, 31, sha256(text)))],
    );
    for (const ranges of [undefined, 2, 3]) {
      const v = await verifyTeamLog(db, ranges ? { ranges } : {});
      assert.equal(v.ok, false);
      assert.equal(v.firstBroken?.reason, 'team entries 61..9223372036854775806 are missing');
    }
  });

  it('a range that fails fails the verify, once the caller\'s connection is out of its read-only transaction', async () => {
    // The second connection is lost before its range: its range fails at once, while the first is under way.
    const lost = async () => {
      const c = new Client({ connectionString: dbUrl });
      await c.connect();
      await c.end();
      return c;
    };
    await assert.rejects(verifyTeamLog(db, { ranges: 2, connect: lost }), /not queryable/);
    const { rows } = await db.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
    assert.equal(rows[0].transaction_read_only, 'off');
    assert.equal((await verifyTeamLog(db)).ok, true);
  });

  it('a changed team_prev', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET team_prev = repeat('1', 64) WHERE seq = 33`);
    await expectBroken(33, a, 23, 'its team_prev is not the previous entry\'s team_hash');
  });

  it('a changed team_prev, and the team chain hashed again from there: only its link to the entry before breaks', async () => {
    const { rows } = await db.query<{ seq: number; origin: string; origin_id: string; origin_hash: string }>(`SELECT seq::int AS seq, origin, origin_id, origin_hash FROM ${TABLE} WHERE seq >= 33 ORDER BY seq`);
    let prev = '1'.repeat(64);
    for (const r of rows) {
      const hash = sha256(teamLink(prev, r.origin, r.origin_id, r.origin_hash));
      await behindOurBack(`UPDATE ${TABLE} SET team_prev = $1, team_hash = $2 WHERE seq = $3`, [prev, hash, r.seq]);
      prev = hash;
    }
    const v = await expectBroken(33, a, 23, 'its team_prev is not the previous entry\'s team_hash');
    assert.equal(v.headHash, (await db.query(`SELECT team_hash FROM ${TABLE} WHERE seq = 32`)).rows[0].team_hash, 'the head up to the broken entry');
  });

  it('a changed team_hash: that entry, not the next, whose team_prev no longer follows', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET team_hash = repeat('2', 64) WHERE seq = 12`);
    await expectBroken(12, b, 2, 'its team_hash does not match its fields');
  });

  it('a repeated origin entry at the start of a run (the unique key dropped), its team chain sound', async () => {
    await db.query(`ALTER TABLE ${TABLE} DROP CONSTRAINT team_entries_origin_origin_id_key`);
    // Through the insert trigger: the chain trigger lets a repeat through to the unique key, now gone.
    await db.query(`INSERT INTO ${TABLE} (origin, origin_id, origin_hash, origin_prev, entry, entry_text) SELECT origin, origin_id, origin_hash, origin_prev, entry, entry_text FROM ${TABLE} WHERE origin = $1 AND origin_id = 3`, [a]);
    await expectBroken(61, a, 3, 'entry 3 of this origin came again');
  });

  it('a repeated origin entry within a run (the previous row is of its origin)', async () => {
    await db.query(`ALTER TABLE ${TABLE} DROP CONSTRAINT team_entries_origin_origin_id_key`);
    await db.query(`INSERT INTO ${TABLE} (origin, origin_id, origin_hash, origin_prev, entry, entry_text) SELECT origin, origin_id, origin_hash, origin_prev, entry, entry_text FROM ${TABLE} WHERE origin = $1 AND origin_id = 30`, [b]);
    await expectBroken(61, b, 30, 'entry 30 of this origin came again');
  });

  it('an origin gap at the start of a run, its team chain sound', async () => {
    const head = await originHead(a);
    const next = await nextEntryText(a, (e) => (e.id = head.id + 2));
    const seq = await appendRaw({ origin: a, originId: head.id + 2, originPrev: head.hash, text: next.text });
    await expectBroken(seq, a, 32, 'entries 31..31 of this origin are missing');
  });

  it('an origin gap within a run', async () => {
    const head = await originHead(b);
    const next = await nextEntryText(b, (e) => (e.id = head.id + 3));
    const seq = await appendRaw({ origin: b, originId: head.id + 3, originPrev: head.hash, text: next.text });
    await expectBroken(seq, b, 33, 'entries 31..32 of this origin are missing');
  });

  it('a changed origin_prev within a run', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET origin_prev = repeat('3', 64) WHERE seq = 45`);
    await expectBroken(45, b, 15, 'its origin_prev is not the hash of entry 14 of this origin');
  });

  it('a changed origin_prev at the start of a run (its origin\'s entry before is ten rows back)', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET origin_prev = repeat('3', 64) WHERE seq = 41`);
    await expectBroken(41, b, 11, 'its origin_prev is not the hash of entry 10 of this origin');
  });

  it('a changed origin_prev of entry 1', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET origin_prev = repeat('3', 64) WHERE seq = 11`);
    await expectBroken(11, b, 1, 'its origin_prev is not the hash of entry 0 of this origin');
  });

  it('a changed entry_text (its jsonb changed alike)', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET entry_text = replace(entry_text, '"user":"b"', '"user":"x"'), entry = replace(entry_text, '"user":"b"', '"user":"x"')::jsonb WHERE seq = 50`);
    await expectBroken(50, b, 20, 'its entry_text does not give its origin_hash (the entry was changed)');
  });

  it('a wrong origin for entry 1', async () => {
    const text = JSON.stringify({ id: 1, prevHash: GENESIS_HASH, user: 'mallory' });
    const seq = await appendRaw({ origin: 'f'.repeat(64), originId: 1, originPrev: GENESIS_HASH, text });
    await expectBroken(seq, 'f'.repeat(64), 1, 'its origin is not the hash of its entry 1');
  });

  it('two breaks: the lowest seq wins, whichever check finds it', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET team_prev = repeat('1', 64) WHERE seq = 30`);
    await behindOurBack(`UPDATE ${TABLE} SET origin_prev = repeat('3', 64) WHERE seq = 21`);
    await expectBroken(21, a, 11, 'its origin_prev is not the hash of entry 10 of this origin');
    await behindOurBack(`UPDATE ${TABLE} SET entry_text = entry_text || ' ' WHERE seq = 8`);
    await expectBroken(8, a, 8, 'its entry_text does not give its origin_hash (the entry was changed)');
  });

  it('two breaks in one row: the first check in the row-by-row order names it', async () => {
    await behindOurBack(`UPDATE ${TABLE} SET origin_prev = repeat('3', 64), team_hash = repeat('2', 64), entry_text = entry_text || ' ' WHERE seq = 27`);
    await expectBroken(27, a, 17, 'its team_hash does not match its fields');
  });

  describe('what only a full verify checks', () => {
    it('a changed entry (jsonb): not checked by default, named by full', async () => {
      await behindOurBack(`UPDATE ${TABLE} SET entry = jsonb_set(entry, '{user}', '"x"') WHERE seq = 7`);
      await expectSound();
      await expectBroken(7, a, 7, 'its entry (jsonb) is not its entry_text', { full: true });
    });

    it('an entry (jsonb) set to NULL where jsonb can hold its text, and one set where it cannot', async () => {
      await behindOurBack(`UPDATE ${TABLE} SET entry = '{}' WHERE origin = $1 AND origin_id = 4`, [b]);
      await behindOurBack(`UPDATE ${TABLE} SET entry = NULL WHERE seq = 52`);
      await expectSound();
      await expectBroken(14, b, 4, 'its entry (jsonb) is not its entry_text', { full: true });
    });

    it('an entry_text that is not JSON, its hashes sound', async () => {
      const head = await originHead(a);
      const seq = await appendRaw({ origin: a, originId: head.id + 1, originPrev: head.hash, text: '{"id": 31, not JSON', entry: null });
      await expectSound();
      await expectBroken(seq, a, 31, 'its entry_text is not JSON', { full: true });
    });

    it('an entry_text naming another ID, and one naming another previous hash', async () => {
      const next = await nextEntryText(b, (e) => (e.id = 999));
      const seq = await appendRaw({ origin: b, originId: next.id, originPrev: next.prev, text: next.text });
      await expectSound();
      await expectBroken(seq, b, 31, 'its entry_text names another ID or previous hash than its columns', { full: true });
      const other = await nextEntryText(a, (e) => (e.prevHash = 'e'.repeat(64)));
      await appendRaw({ origin: a, originId: other.id, originPrev: other.prev, text: other.text });
      await expectBroken(seq, b, 31, 'its entry_text names another ID or previous hash than its columns', { full: true });
    });

    it('a text the server cannot read as jsonb (a number past its range): compared in this process instead', async () => {
      const next = await nextEntryText(a);
      const text = next.text.replace(/}$/, ',"huge":1e999999}');
      assert.equal(jsonbCanHold(text), true);
      const seq = await appendRaw({ origin: a, originId: next.id, originPrev: next.prev, text, entry: '{}' });
      await expectSound();
      await expectBroken(seq, a, 31, 'its entry (jsonb) is not its entry_text', { full: true });
    });

    it('TeamLogReader.audit: a full check when asked not to be incremental (as a local log\'s --full)', async () => {
      await behindOurBack(`UPDATE ${TABLE} SET entry = jsonb_set(entry, '{user}', '"x"') WHERE seq = 9`);
      const reader = await TeamLogReader.open(dbUrl);
      try {
        assert.equal((await reader.audit()).ok, true);
        assert.equal((await reader.audit({ incremental: true })).ok, true);
        const r = await reader.audit({ incremental: false });
        assert.deepEqual([r.ok, r.firstBroken?.id], [false, 9]);
        assert.match(r.firstBroken!.reason, /^its entry \(jsonb\) is not its entry_text \(origin [0-9a-f]{12}…, entry 9 there\)$/);
      } finally {
        await reader.close();
      }
    });

    it('verify --db … --full: exit 11 naming the entry; without --full, exit 0', async () => {
      await behindOurBack(`UPDATE ${TABLE} SET entry = jsonb_set(entry, '{user}', '"x"') WHERE seq = 44`);
      const ws = workspace('bot-audit-verify-');
      try {
        const plain = cli(ws, 'verify', '--db', dbUrl);
        assert.equal(plain.code, EXIT.ok, plain.stderr);
        assert.match(plain.stdout, /^60\/60 team entries valid, from 2 logs\n/);
        const full = cli(ws, 'verify', '--db', dbUrl, '--full');
        assert.equal(full.code, EXIT.chainBroken, full.stderr);
        assert.equal(full.stdout, '43/60 team entries valid\n');
        oneLine(full.stderr);
        assert.equal(full.stderr, `team entry 44 (origin ${b}, entry 14) is broken: its entry (jsonb) is not its entry_text\n`);
      } finally {
        removeDir(ws);
      }
    });

    it('full: the lowest seq wins between a chain break and a parse break', async () => {
      await behindOurBack(`UPDATE ${TABLE} SET entry = jsonb_set(entry, '{user}', '"x"') WHERE seq = 35`);
      await behindOurBack(`UPDATE ${TABLE} SET team_prev = repeat('1', 64) WHERE seq = 50`);
      await expectBroken(50, b, 20, 'its team_prev is not the previous entry\'s team_hash');
      await expectBroken(35, a, 25, 'its entry (jsonb) is not its entry_text', { full: true });
      await behindOurBack(`UPDATE ${TABLE} SET team_hash = repeat('2', 64) WHERE seq = 20`);
      await expectBroken(20, b, 10, 'its team_hash does not match its fields', { full: true });
    });
  });
});
