// The team log's schema on a real PostgreSQL: init is safe to run twice, the table is append-only
// even for its owner, and the writer role may only INSERT (the origin's columns) and SELECT.
import * as assert from 'node:assert/strict';
import type { Client } from 'pg';
import { GENESIS_HASH, sha256 } from '../../../src/core/store/row';
import * as path from 'node:path';
import { AuditStore } from '../../../src/core/store';
import { initTeamLog, READER_ROLE, shipToTeam, TEAM_SCHEMA_VERSION, verifyTeamLog, WRITER_ROLE } from '../../../src/core/team';
import { removeDir, tempDir } from '../store/helpers';
import { startCluster, type TestCluster } from './pg';

/**
 * Inserts entry 1 of a made-up origin as the client's user (the server fills in the rest), or with
 * `change`, a row that breaks the origin's chain in that way. Returns the origin.
 */
async function insertEntry(c: Client, tag: string, change: (row: Record<string, unknown>) => void = () => undefined) {
  const text = JSON.stringify({ action: 'LOGIN', entityId: tag, entityName: 'session', id: 1, prevHash: GENESIS_HASH, recorded: 1, user: 'u', uuid: 'u' });
  const row: Record<string, unknown> = { origin: sha256(text), origin_id: 1, origin_hash: sha256(text), origin_prev: GENESIS_HASH, entry_text: text };
  change(row);
  const r = await c.query(
    'INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry_text) VALUES ($1, $2, $3, $4, $5) RETURNING seq, team_prev, team_hash',
    [row.origin, row.origin_id, row.origin_hash, row.origin_prev, row.entry_text],
  );
  return { origin: row.origin as string, row: r.rows[0] };
}

/** A made-up origin's entries 1..n (their texts chained by prevHash), as append_entries takes them. */
function run(tag: string, n: number) {
  const ids: number[] = [];
  const hashes: string[] = [];
  const prevs: string[] = [];
  const texts: string[] = [];
  let prev = GENESIS_HASH;
  for (let id = 1; id <= n; id++) {
    const text = JSON.stringify({ action: 'UPDATED', entityId: String(id), entityName: 'story', id, prevHash: prev, tag, user: 'u' });
    ids.push(id);
    prevs.push(prev);
    texts.push(text);
    prev = sha256(text);
    hashes.push(prev);
  }
  return { origin: hashes[0], ids, hashes, prevs, texts };
}

type Run = ReturnType<typeof run>;

/** Calls append_entries with entries `from`..`to` (1-based, inclusive) of `r`; the IDs it inserted. */
async function append(c: Client, r: Run, from = 1, to = r.ids.length): Promise<number[]> {
  const s = (a: unknown[]) => a.slice(from - 1, to);
  const res = await c.query<{ id: string }>('SELECT bot_audit.append_entries($1, $2::bigint[], $3::text[], $4::text[], $5::text[]) AS id', [
    r.origin,
    s(r.ids),
    s(r.hashes),
    s(r.prevs),
    s(r.texts),
  ]);
  return res.rows.map((x) => Number(x.id));
}

const FORGED = JSON.stringify({ id: 1, prevHash: GENESIS_HASH, user: 'forger' });

describe('team log: schema', function () {
  this.timeout(120_000);
  let pg: TestCluster;
  let owner: Client;
  before(async () => {
    pg = await startCluster();
    owner = await pg.connect();
  });
  after(async () => {
    await owner?.end();
    pg?.stop();
  });

  it('a user who may not create roles gets the schema and a notice for each missing role', async () => {
    await owner.query('CREATE ROLE plain LOGIN');
    await owner.query('CREATE DATABASE plain_team OWNER plain');
    const { Client } = await import('pg');
    const c = new Client({ connectionString: pg.url('plain').replace(/\/postgres$/, '/plain_team') });
    await c.connect();
    try {
      const r = await initTeamLog(c);
      assert.deepEqual(r.rolesCreated, []);
      assert.equal(r.notices.length, 2);
      assert.match(r.notices[0], new RegExp(`role ${WRITER_ROLE} not created: this user may not create roles`));
      assert.equal((await c.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n, 0);
    } finally {
      await c.end();
    }
  });

  it('init creates the schema and the roles, and a second init changes nothing', async () => {
    const first = await initTeamLog(owner);
    assert.deepEqual([first.from, first.version], [0, TEAM_SCHEMA_VERSION]);
    assert.deepEqual(first.rolesCreated, [WRITER_ROLE, READER_ROLE]);
    assert.deepEqual(first.notices, []);
    await insertEntry(owner, 'a');
    const second = await initTeamLog(owner);
    assert.deepEqual([second.from, second.version, second.rolesCreated, second.notices], [TEAM_SCHEMA_VERSION, TEAM_SCHEMA_VERSION, [], []]);
    const meta = await owner.query("SELECT value FROM bot_audit.meta WHERE key = 'schema_version'");
    assert.equal(meta.rows[0].value, String(TEAM_SCHEMA_VERSION));
    assert.equal((await owner.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n, 1, 'the entry is still there');
  });

  it('the server assigns seq and the team chain by the documented formula, whatever the client sends', async () => {
    const last = (await owner.query('SELECT seq, team_hash FROM bot_audit.team_entries ORDER BY seq DESC LIMIT 1')).rows[0];
    const { origin, row: r } = await insertEntry(owner, 'b');
    assert.equal(Number(r.seq), Number(last.seq) + 1);
    assert.equal(r.team_prev, last.team_hash);
    assert.equal(r.team_hash, sha256(`${last.team_hash}:${origin}:1:${origin}`), 'entry 1\'s hash is its origin');
    // A seq or chain the client names is overwritten (for the owner; a writer may not name them at all).
    const forged = await owner.query(
      `INSERT INTO bot_audit.team_entries (seq, origin, origin_id, origin_hash, origin_prev, entry_text, team_prev, team_hash)
       VALUES (1000, $1, 1, $1, $2, $3, $2, $2) RETURNING seq, team_prev`,
      [sha256(FORGED), GENESIS_HASH, FORGED],
    );
    assert.equal(Number(forged.rows[0].seq), Number(r.seq) + 1);
    assert.equal(forged.rows[0].team_prev, r.team_hash);
  });

  it('an entry that breaks its origin\'s chain is refused at the door, and one already there is skipped by ON CONFLICT', async () => {
    const { origin } = await insertEntry(owner, 'door');
    const cases: [string, (row: Record<string, unknown>) => void, RegExp][] = [
      ['a gap', (row) => Object.assign(row, { origin, origin_id: 3, origin_prev: origin }), /entry 3 of origin \w+ does not follow entry 1 there/],
      ['another previous hash', (row) => Object.assign(row, { origin, origin_id: 2, origin_prev: GENESIS_HASH }), /entry 2 of origin \w+ does not follow entry 1 there/],
      ['a text that does not give its hash', (row) => Object.assign(row, { origin_hash: 'f'.repeat(64), origin: 'f'.repeat(64) }), /does not give its origin_hash/],
      ['an entry 1 that is not its origin\'s name', (row) => Object.assign(row, { origin: 'e'.repeat(64) }), /origin e+ is not the hash of its entry 1/],
    ];
    for (const [what, change, message] of cases) await assert.rejects(insertEntry(owner, 'door', change), message, what);
    const again = await owner.query(
      "INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry_text) VALUES ($1, 1, $1, $2, 'x') ON CONFLICT (origin, origin_id) DO NOTHING RETURNING seq",
      [origin, GENESIS_HASH],
    );
    assert.equal(again.rows.length, 0);
    await assert.rejects(insertEntry(owner, 'door'), /duplicate key value violates unique constraint/);
  });

  it('the server makes the jsonb copy and the query columns from entry_text, whatever the client sends', async () => {
    const text = JSON.stringify({ action: 'UPDATED', bot: 'triage', entityId: '42', entityName: 'story', id: 1, outcome: 4, prevHash: GENESIS_HASH, recorded: 1700000000000, traceId: 't-1', user: 'alice' });
    const o = sha256(text);
    const r = await owner.query(
      `INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry, entry_text) VALUES ($1, 1, $1, $2, '{"user":"mallory","action":"LOGIN"}', $3)
       RETURNING entry, action, user_name, bot, entity_name, entity_id, entity_num, outcome, recorded, trace_id`,
      [o, GENESIS_HASH, text],
    );
    assert.deepEqual(r.rows[0].entry, JSON.parse(text));
    assert.deepEqual(
      { ...r.rows[0], entry: undefined },
      { entry: undefined, action: 'UPDATED', user_name: 'alice', bot: 'triage', entity_name: 'story', entity_id: '42', entity_num: '42', outcome: 4, recorded: '1700000000000', trace_id: 't-1' },
    );
  });

  it('a text jsonb cannot hold (NUL, a lone surrogate) gets no jsonb copy and matches no field, and is still taken', async () => {
    for (const [tag, value] of [['nul', 'a\\u0000b'], ['surrogate', '\\ud83d'], ['both, after an escaped backslash', '\\\\\\u0000\\udc00']]) {
      const text = `{"action":"LOGIN","id":1,"note":"${value}","prevHash":"${GENESIS_HASH}","tag":"${tag}","user":"u"}`;
      const o = sha256(text);
      const r = await owner.query(
        'INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry_text) VALUES ($1, 1, $1, $2, $3) RETURNING entry, action, user_name, entry_text',
        [o, GENESIS_HASH, text],
      );
      assert.deepEqual(r.rows[0], { entry: null, action: null, user_name: null, entry_text: text }, tag);
    }
    // An escaped backslash before "u0000" is no escape: that text jsonb holds.
    const text = `{"action":"LOGIN","id":1,"note":"\\\\u0000","prevHash":"${GENESIS_HASH}","user":"u"}`;
    const r = await owner.query('INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry_text) VALUES ($1, 1, $1, $2, $3) RETURNING entry', [sha256(text), GENESIS_HASH, text]);
    assert.equal(r.rows[0].entry.note, '\\u0000');
  });

  it('an entry_text that is not a JSON object naming its own ID and previous hash is refused at the door', async () => {
    const cases: [string, string, RegExp][] = [
      ['not JSON', 'x', /invalid input syntax for type json/],
      ['an array', `[1, "${GENESIS_HASH}"]`, /names another ID or previous hash than its columns/],
      ['another ID', JSON.stringify({ id: 2, prevHash: GENESIS_HASH }), /names another ID or previous hash than its columns/],
      ['another previous hash', JSON.stringify({ id: 1, prevHash: 'a'.repeat(64) }), /names another ID or previous hash than its columns/],
      ['no ID', JSON.stringify({ prevHash: GENESIS_HASH }), /names another ID or previous hash than its columns/],
      ['another ID, in a text jsonb cannot hold', `{"id":2,"note":"\\u0000","prevHash":"${GENESIS_HASH}"}`, /names another ID or previous hash than its columns/],
    ];
    for (const [what, text, message] of cases) {
      await assert.rejects(
        owner.query('INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry_text) VALUES ($1, 1, $1, $2, $3)', [sha256(text), GENESIS_HASH, text]),
        message,
        what,
      );
    }
  });

  it('the insert trigger finds the newest entries by index, whatever the statistics say (no scan of the table per row)', async () => {
    await owner.query('CREATE DATABASE fresh_team');
    const { Client: PgClient } = await import('pg');
    const c = new PgClient({ connectionString: pg.url().replace(/\/postgres$/, '/fresh_team') });
    await c.connect();
    const dir = tempDir();
    const store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    try {
      // A fresh team log is analyzed empty: a plan made from those statistics would scan it for every row.
      await initTeamLog(c);
      await store.appendBatch(Array.from({ length: 1500 }, (_, i) => ({ user: 'u', action: 'UPDATED' as const, entityName: 'story', entityId: String(i), after: { i } })));
      await shipToTeam(store, c);
      await c.end();
      // Statistics reach other sessions when the shipper's session flushes them (at its end here).
      const own = new PgClient({ connectionString: pg.url().replace(/\/postgres$/, '/fresh_team') });
      await own.connect();
      try {
        let s: { ins: string; scans: string } | undefined;
        for (let i = 0; i < 300; i++) {
          s = (await own.query<{ ins: string; scans: string }>("SELECT n_tup_ins AS ins, seq_scan AS scans FROM pg_stat_user_tables WHERE relname = 'team_entries'")).rows[0];
          if (Number(s.ins) >= 1500) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(Number(s!.ins), 1500, 'the statistics came');
        // A few come from the shipper's own lookups and the first plans; a scan per row would be 1,500 or more.
        assert.ok(Number(s!.scans) < 150, `${s!.scans} sequential scans of the team log for 1,500 inserted entries`);
      } finally {
        await own.end();
      }
    } finally {
      await store.close();
      removeDir(dir);
    }
  });

  it('append_entries appends a run of one origin: seq and the team chain by the formula, the jsonb copy, the query columns', async () => {
    const last = (await owner.query('SELECT seq, team_hash FROM bot_audit.team_entries ORDER BY seq DESC LIMIT 1')).rows[0];
    const r = run('append', 5);
    assert.deepEqual(await append(owner, r), [1, 2, 3, 4, 5]);
    const rows = (await owner.query('SELECT seq, origin_id, team_prev, team_hash, entry, entity_name, entity_id, user_name FROM bot_audit.team_entries WHERE origin = $1 ORDER BY seq', [r.origin])).rows;
    let prev = last.team_hash as string;
    rows.forEach((row, i) => {
      assert.equal(Number(row.seq), Number(last.seq) + i + 1);
      assert.equal(row.team_prev, prev);
      assert.equal(row.team_hash, sha256(`${prev}:${r.origin}:${i + 1}:${r.hashes[i]}`));
      assert.deepEqual(row.entry, JSON.parse(r.texts[i]));
      assert.deepEqual([row.entity_name, row.entity_id, row.user_name], ['story', String(i + 1), 'u']);
      prev = row.team_hash;
    });
    // Entries there already are skipped (not returned); the rest of the run goes in after them.
    const more = run('append', 8);
    assert.deepEqual(await append(owner, more, 3, 8), [6, 7, 8]);
    assert.deepEqual(await append(owner, more), []);
    // A direct INSERT (the row trigger) continues the same chains.
    const next = run('append', 9);
    const d = await owner.query(
      'INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry_text) VALUES ($1, 9, $2, $3, $4) RETURNING seq, team_prev',
      [next.origin, next.hashes[8], next.prevs[8], next.texts[8]],
    );
    assert.equal(d.rows[0].team_prev, (await owner.query('SELECT team_hash FROM bot_audit.team_entries WHERE seq = $1', [Number(d.rows[0].seq) - 1])).rows[0].team_hash);
    const v = await verifyTeamLog(owner, { full: true });
    assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
  });

  it('append_entries refuses a run that breaks a rule, with the row trigger\'s reasons, and inserts none of it', async () => {
    const r = run('refused', 6);
    assert.deepEqual(await append(owner, r, 1, 2), [1, 2]);
    const count = async () => (await owner.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n as number;
    const before = await count();
    const bad = (change: (x: Run) => void): Run => {
      const x = structuredClone(r);
      change(x);
      return x;
    };
    const cases: [string, Run, number, number, RegExp][] = [
      ['a gap before the run', r, 4, 6, /entry 4 of origin \w+ does not follow entry 2 there/],
      ['another previous hash inside the run', bad((x) => (x.prevs[4] = GENESIS_HASH)), 3, 6, /entry 5 of origin \w+ does not follow entry 4 there/],
      ['a text that does not give its hash', bad((x) => (x.texts[3] = x.texts[3].replace('refused', 'REFUSED'))), 3, 6, /entry 4 of origin \w+ does not give its origin_hash/],
      ['a text naming another ID', bad((x) => {
        x.texts[2] = x.texts[2].replace('"id":3', '"id":33');
        x.hashes[2] = sha256(x.texts[2]);
        x.prevs[3] = x.hashes[2];
      }), 3, 4, /entry 3 of origin \w+ names another ID or previous hash than its columns/],
      ['IDs that are not consecutive', bad((x) => (x.ids[4] = 9)), 3, 6, /consecutive IDs/],
    ];
    for (const [what, x, from, to, message] of cases) {
      await assert.rejects(append(owner, x, from, to), (e: Error & { code?: string }) => message.test(e.message) && (message.source.includes('consecutive') || e.code === '23000'), what);
      assert.equal(await count(), before, what);
    }
    const name = run('refused-name', 1);
    name.origin = 'e'.repeat(64);
    await assert.rejects(append(owner, name), /origin e+ is not the hash of its entry 1/);
    assert.deepEqual(await append(owner, r, 3, 6), [3, 4, 5, 6], 'the run itself goes in');
  });

  it('append_entries keeps the text jsonb cannot hold, without a jsonb copy', async () => {
    const text = `{"action":"LOGIN","id":1,"note":"a\\u0000b","prevHash":"${GENESIS_HASH}","user":"u"}`;
    const o = sha256(text);
    const r: Run = { origin: o, ids: [1], hashes: [o], prevs: [GENESIS_HASH], texts: [text] };
    assert.deepEqual(await append(owner, r), [1]);
    const row = (await owner.query('SELECT entry, user_name, entry_text FROM bot_audit.team_entries WHERE origin = $1', [o])).rows[0];
    assert.deepEqual(row, { entry: null, user_name: null, entry_text: text });
  });

  it('a writer may append through append_entries but cannot skip the row trigger; a reader may not append', async () => {
    await owner.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'appender') THEN CREATE ROLE appender LOGIN IN ROLE ${WRITER_ROLE}; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'looker') THEN CREATE ROLE looker LOGIN IN ROLE ${READER_ROLE}; END IF; END $$`);
    const w = await pg.connect('appender');
    const rd = await pg.connect('looker');
    try {
      const r = run('writer-append', 3);
      assert.deepEqual(await append(w, r), [1, 2, 3]);
      await assert.rejects(append(rd, run('reader-append', 1)), /permission denied for function append_entries/);
      // The setting append_entries uses gets a writer nothing: the row trigger still makes seq and the chain.
      await w.query("SELECT set_config('bot_audit.appending', 'on', false)");
      const { row } = await insertEntry(w, 'writer-flag');
      const prev = (await w.query('SELECT team_hash FROM bot_audit.team_entries WHERE seq = $1', [Number(row.seq) - 1])).rows[0].team_hash;
      assert.equal(row.team_prev, prev);
      await assert.rejects(
        w.query("INSERT INTO bot_audit.team_entries (seq, origin, origin_id, origin_hash, origin_prev, entry_text, team_prev, team_hash) VALUES (99999, $1, 1, $1, $2, $3, $2, $2)", [sha256(FORGED), GENESIS_HASH, FORGED]),
        /permission denied/,
      );
      assert.equal((await verifyTeamLog(owner)).ok, true);
    } finally {
      await w.end();
      await rd.end();
    }
  });

  it('a version 3 team log migrates to version 4 (twice is safe), keeps its rows, and takes appends after them', async () => {
    await owner.query('CREATE DATABASE v3_team');
    const { Client: PgClient } = await import('pg');
    const c = new PgClient({ connectionString: pg.url().replace(/\/postgres$/, '/v3_team') });
    await c.connect();
    try {
      assert.equal((await initTeamLog(c, { version: 3 })).version, 3);
      const r = run('v3', 6);
      for (let i = 0; i < 3; i++) {
        await c.query('INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry_text) VALUES ($1, $2, $3, $4, $5)', [r.origin, r.ids[i], r.hashes[i], r.prevs[i], r.texts[i]]);
      }
      const before = (await c.query('SELECT * FROM bot_audit.team_entries ORDER BY seq')).rows;
      const up = await initTeamLog(c);
      assert.deepEqual([up.from, up.version], [3, TEAM_SCHEMA_VERSION]);
      assert.deepEqual((await initTeamLog(c)).from, TEAM_SCHEMA_VERSION, 'twice is safe');
      assert.deepEqual((await c.query('SELECT * FROM bot_audit.team_entries ORDER BY seq')).rows, before);
      assert.deepEqual(await append(c, r), [4, 5, 6]);
      const lz4 = (await c.query("SELECT 'lz4' = ANY (enumvals) AS has FROM pg_settings WHERE name = 'default_toast_compression'")).rows[0].has as boolean;
      const methods = (await c.query("SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'bot_audit.team_entries'::regclass AND attname IN ('entry_text', 'entry', 'search') ORDER BY attname")).rows;
      assert.deepEqual(methods.map((m) => m.attcompression), lz4 ? ['l', 'l', 'l'] : ['', '', ''], 'new values compressed with lz4 where the server has it');
      const options = (await c.query("SELECT reloptions FROM pg_class WHERE oid = 'bot_audit.team_entries'::regclass")).rows[0].reloptions as string[];
      assert.deepEqual(options, ['toast_tuple_target=8160']);
      assert.equal((await verifyTeamLog(c, { full: true })).ok, true);
    } finally {
      await c.end();
    }
  });

  for (const [what, sql] of [
    ['UPDATE', "UPDATE bot_audit.team_entries SET entry_text = '{}' WHERE seq = 1"],
    ['DELETE', 'DELETE FROM bot_audit.team_entries WHERE seq = 1'],
    ['TRUNCATE', 'TRUNCATE bot_audit.team_entries'],
  ]) {
    it(`${what} is refused even for the owner (a superuser)`, async () => {
      const before = (await owner.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n;
      await assert.rejects(owner.query(sql), new RegExp(`team entries are append-only: ${what} is refused`));
      assert.equal((await owner.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n, before);
    });
  }

  it('a login role in bot_audit_writer may INSERT and SELECT, and nothing else', async () => {
    await owner.query(`CREATE ROLE shipper LOGIN IN ROLE ${WRITER_ROLE}`);
    const w = await pg.connect('shipper');
    try {
      const { origin: o, row } = await insertEntry(w, 'writer');
      assert.ok(row.seq);
      assert.ok((await w.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n >= 1);
      await assert.rejects(w.query("UPDATE bot_audit.team_entries SET entry_text = '{}' WHERE origin = $1", [o]), /permission denied/);
      await assert.rejects(w.query('DELETE FROM bot_audit.team_entries WHERE origin = $1', [o]), /permission denied/);
      await assert.rejects(w.query('TRUNCATE bot_audit.team_entries'), /permission denied/);
      await assert.rejects(
        w.query("INSERT INTO bot_audit.team_entries (seq, origin, origin_id, origin_hash, origin_prev, entry_text) VALUES (99, $1, 2, $1, $1, '{}')", [o]),
        /permission denied/,
        'seq is the server\'s',
      );
      await assert.rejects(
        w.query("INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry, entry_text) VALUES ($1, 2, $1, $1, '{}', '{}')", [o]),
        /permission denied/,
        'the jsonb copy is the server\'s',
      );
      await assert.rejects(w.query("UPDATE bot_audit.meta SET value = '0'"), /permission denied/);
    } finally {
      await w.end();
    }
  });

  it('a login role in bot_audit_reader may only SELECT', async () => {
    await owner.query(`CREATE ROLE reviewer LOGIN IN ROLE ${READER_ROLE}`);
    const r = await pg.connect('reviewer');
    try {
      assert.ok((await r.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n >= 1);
      await assert.rejects(insertEntry(r, 'reader'), /permission denied/);
    } finally {
      await r.end();
    }
  });
});
