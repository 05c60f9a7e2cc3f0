// TeamLogReader on a real PostgreSQL: two local logs (two origins) shipped into one team log, read
// through the one log interface. The same query texts and filter rows find the entries the two local
// logs find; pages, windows, history, traces, distinct values and exports; full-text search through
// the GIN index; the live tail over LISTEN/NOTIFY, across a server restart; a v1 team log migrated
// forward with its data (to v3's query columns); hostile filter values stay parameters.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Client } from 'pg';
import { buildWhere, likeContains, parseQuery, type Filter } from '../../../src/core/query';
import { AuditStore, type Entry, type NewEntry } from '../../../src/core/store';
import { canonicalRow } from '../../../src/core/store/row';
import { initTeamLog, originOf, shipToTeam, TEAM_SCHEMA_VERSION, TeamLogReader, verifyTeamLog } from '../../../src/core/team';
import { pageSql, splitByValue } from '../../../src/core/team/reader';
import { removeDir, sampleEntries, tempDir } from '../store/helpers';
import { startCluster, type TestCluster } from './pg';
import { FIELD_QUERIES } from './queries';

const HOSTILE = `it's 50%_off'); DROP TABLE bot_audit.team_entries; --`;

/** The second log's entries: other users, names and texts, a hostile name and ID, shared entity names. */
function otherEntries(): NewEntry[] {
  return sampleEntries().map((e, i) => ({
    ...e,
    user: i % 3 ? e.user : 'carol@example.com',
    entityName: i % 7 === 3 ? HOSTILE : e.entityName,
    entityId: i % 11 === 5 ? `'); DROP TABLE x; --` : e.entityId,
    outcomeDesc: e.outcomeDesc === undefined ? undefined : `${e.outcomeDesc} wombat`,
    traceId: e.traceId === undefined ? undefined : `b-${e.traceId}`,
    recorded: e.recorded! + 30_000,
  }));
}

const QUERIES = ['', 'user:carol@example.com', ...FIELD_QUERIES, 'wombat', 'zanzibar wombat', 'nothing-like-this'];

/** Waits for `cond`, checking every 20 ms, failing after `ms` with `what`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('team log: TeamLogReader', function () {
  this.timeout(300_000);
  let pg: TestCluster;
  let admin: Client;
  let dir: string;
  let a: AuditStore;
  let b: AuditStore;
  let reader: TeamLogReader;
  /** "origin:originId" of each seq (index seq - 1). */
  const key = (origin: string, id: number) => `${origin}:${id}`;
  /** What the local log finds (through its own query, which indexes for full text first): "origin:id" keys. */
  const localKeys = (store: AuditStore, filters: Filter[]): string[] => {
    const page = store.query(filters, { limit: 1000, order: 'asc' });
    assert.equal(page.nextCursor, undefined);
    return page.entries.map((e) => key(originOf(store)!, e.id));
  };

  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    dir = tempDir();
    await initTeamLog(admin);
    a = await AuditStore.open(path.join(dir, 'a.db'), { watch: false, autoCheckpoint: false });
    b = await AuditStore.open(path.join(dir, 'b.db'), { watch: false, autoCheckpoint: false });
    const other = otherEntries();
    // Interleaved: seq order is neither origin's ID order alone.
    await a.appendBatch(sampleEntries().slice(0, 20));
    await b.appendBatch(other.slice(0, 25));
    await shipToTeam(a, admin);
    await shipToTeam(b, admin);
    await a.appendBatch(sampleEntries().slice(20));
    await b.appendBatch(other.slice(25));
    await shipToTeam(b, admin);
    await shipToTeam(a, admin);
    reader = await TeamLogReader.open(pg.url());
  });
  after(async () => {
    await reader?.close();
    await a?.close();
    await b?.close();
    await admin?.end();
    pg?.stop();
    if (dir) removeDir(dir);
  });

  const teamKeys = (entries: Entry[]) => entries.map((e) => key(e.origin!, e.originId!));
  const all = async (filters: Filter[] | string, order: 'desc' | 'asc', limit: number): Promise<Entry[]> => {
    const out: Entry[] = [];
    for (let cursor: string | undefined, guard = 0; guard < 1000; guard++) {
      const page = await reader.query(filters, { limit, order, cursor });
      out.push(...page.entries);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return out;
  };

  it('numbers entries by seq, 1..size, and says where each came from', async () => {
    assert.equal(reader.size, 80);
    const head = await admin.query('SELECT team_hash FROM bot_audit.team_entries ORDER BY seq DESC LIMIT 1');
    assert.equal(reader.headHash, head.rows[0].team_hash);
    const e = await reader.get(21);
    assert.ok(e);
    assert.equal(e.id, 21);
    assert.equal(e.origin, originOf(b));
    assert.equal(e.originId, 1);
    const local = b.get(1)!;
    assert.deepEqual({ ...e, id: local.id, origin: undefined, originId: undefined }, { ...local, origin: undefined, originId: undefined });
    assert.equal(await reader.get(81), undefined);
    assert.equal(await reader.get(0), undefined);
  });

  it('the same query texts and filter rows find what the two local logs find', async () => {
    const empty: string[] = [];
    for (const q of QUERIES) {
      const filters = parseQuery(q);
      const want = [...localKeys(a, filters), ...localKeys(b, filters)].sort();
      // None of these queries is relative to "now".
      const got = await all(q, 'asc', 1000);
      assert.deepEqual(teamKeys(got).sort(), want, `"${q}"`);
      assert.deepEqual(teamKeys(await all(filters, 'asc', 1000)).sort(), want, `"${q}" as filter rows`);
      assert.equal(await reader.count(q), want.length, `count of "${q}"`);
      if (!want.length) empty.push(q);
    }
    // Not vacuous: only the last query finds nothing.
    assert.deepEqual(empty, ['nothing-like-this']);
    // Found in only one of the logs: not vacuous about origins.
    assert.ok(teamKeys(await all('wombat', 'asc', 100)).every((k) => k.startsWith(originOf(b)!)));
    assert.ok((await reader.count('quokka')) === 2);
  });

  it('an ID condition is the team seq', async () => {
    assert.deepEqual((await all('id:>70 id:<74', 'asc', 10)).map((e) => e.id), [71, 72, 73]);
    assert.deepEqual((await all('-id:5', 'asc', 1000)).length, 79);
  });

  it('keyset pages return every entry once, newest first and oldest first', async () => {
    for (const order of ['desc', 'asc'] as const) {
      const ids = (await all('', order, 7)).map((e) => e.id);
      const want = Array.from({ length: 80 }, (_, i) => i + 1);
      assert.deepEqual(ids, order === 'asc' ? want : want.reverse(), order);
      const filtered = await all('action:UPDATED,EXECUTED', order, 3);
      const fids = filtered.map((e) => e.id);
      assert.equal(new Set(fids).size, fids.length, 'no entry twice');
      assert.deepEqual(fids, [...fids].sort((x, y) => (order === 'asc' ? x - y : y - x)));
      assert.equal(fids.length, await reader.count('action:UPDATED,EXECUTED'));
    }
    const first = await reader.query('', { limit: 5 });
    assert.equal(first.total, 80);
    await assert.rejects(() => reader.query('', { cursor: first.nextCursor, order: 'asc' }), /continues a "desc" listing/);
    await assert.rejects(() => reader.query('', { cursor: 'nonsense' }), /not one this store gave out/);
  });

  it('a condition of several values is read as merged index runs, and finds what the plain condition finds', async () => {
    const names = new Map([['story', ['story', 'story_group']]]);
    const queries = ['action:UPDATED,EXECUTED', 'outcome:4,8', 'bot:nightly outcome:0,12 -user:dev@example.com', 'entity:~story', 'entity:~story action:CREATED,UPDATED,DELETED', 'action:UPDATED,UPDATED'];
    const seqs = async (q: { sql: string; params: unknown[] }) => (await admin.query<{ seq: string }>(q.sql, q.params)).rows.map((r) => Number(r.seq));
    let merged = 0;
    for (const text of queries) {
      const filters = parseQuery(text);
      const split = splitByValue(filters, names);
      if (split) merged++;
      // The plain condition, as a page without the split wrote it.
      const w = buildWhere(filters, Date.now(), { dialect: 'postgres', teamIds: 'seq', entityNamesContaining: names });
      const every = (await admin.query<{ seq: string }>(`SELECT seq FROM bot_audit.team_entries WHERE ${w.sql} ORDER BY seq`, w.params)).rows.map((r) => Number(r.seq));
      assert.ok(every.length >= 2, text);
      for (const order of ['desc', 'asc'] as const) {
        const ordered = order === 'asc' ? every : [...every].reverse();
        for (const [after, offset, limit] of [[undefined, 0, 3], [undefined, 2, 4], [ordered[1], 0, 2], [ordered[1], 1, 100]] as const) {
          const from = after === undefined ? 0 : ordered.indexOf(after) + 1;
          const want = ordered.slice(from + offset, from + offset + limit);
          assert.deepEqual(await seqs(pageSql(filters, Date.now(), after, order, limit, offset, names)), want, `${text} ${order} after ${after} offset ${offset} limit ${limit}`);
        }
      }
    }
    assert.equal(merged, 5, 'all but the repeated action are split');
    assert.deepEqual(splitByValue(parseQuery('action:UPDATED,DELETED user:system'))?.map((f) => f.map((x) => x.value)), [[['UPDATED'], 'system'], [['DELETED'], 'system']]);
    // Each value's run is read newest first from its own index, and merged.
    await admin.query('BEGIN');
    try {
      await admin.query('SET LOCAL enable_seqscan = off');
      const q = pageSql(parseQuery('action:UPDATED,DELETED'), Date.now(), undefined, 'desc', 100, 0);
      const plan = (await admin.query(`EXPLAIN ${q.sql}`, q.params)).rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.match(plan, /Merge Append/, plan);
      assert.match(plan, /Index Only Scan Backward using team_entries_action/, plan);
    } finally {
      await admin.query('ROLLBACK');
    }
  });

  it('full-text search reads the GIN index on the generated tsvector column', async () => {
    const w = buildWhere(parseQuery('"upstream timeout"'), Date.now(), { dialect: 'postgres', teamIds: 'seq' });
    assert.match(w.sql, /\bsearch @@ phraseto_tsquery/);
    await admin.query('BEGIN');
    try {
      await admin.query('SET LOCAL enable_seqscan = off');
      const plan = (await admin.query(`EXPLAIN SELECT seq FROM bot_audit.team_entries WHERE ${w.sql}`, w.params)).rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.match(plan, /Bitmap Index Scan on team_entries_search/, plan);
    } finally {
      await admin.query('ROLLBACK');
    }
    // The column agrees with the text the dialect searched before (and the local index's body).
    const { rows } = await admin.query(
      "SELECT count(*)::int AS n FROM bot_audit.team_entries WHERE search IS DISTINCT FROM to_tsvector('simple', concat_ws(' ', entry->>'outcomeDesc', entry->>'input', entry->>'returnValue', entry->>'before', entry->>'after'))",
    );
    assert.equal(rows[0].n, 0);
  });

  it('windows give rows by position, as the pages do, and count before they open', async () => {
    for (const q of ['', 'action:UPDATED,EXECUTED', 'wombat']) {
      for (const order of ['desc', 'asc'] as const) {
        const want = (await all(q, order, 1000)).map((e) => e.id);
        const w = await reader.window(q, { order });
        assert.equal(w.totalKnown, true);
        assert.equal(w.total, want.length, q);
        assert.equal(w.maxId, 80);
        const got: number[] = [];
        for (let p = 0; p < want.length; p += 4) got.push(...(await w.rows(p, 4)).map((e) => e.id));
        assert.deepEqual(got, want, `${q} ${order} in order`);
        if (want.length > 6) {
          assert.deepEqual((await w.rows(5, 2)).map((e) => e.id), want.slice(5, 7), 'a jump back');
          assert.deepEqual((await w.rows(want.length - 2, 10)).map((e) => e.id), want.slice(-2), 'clamped at the end');
          assert.equal(await w.indexOf(want[6]), 6);
        }
        assert.equal(await w.newSince(), 0);
      }
    }
    const w = await reader.window('user:carol@example.com');
    const missing = (await all('-user:carol@example.com', 'asc', 1))[0].id;
    assert.equal(await w.indexOf(missing), undefined);
  });

  it('history, byTrace, distinct, latest and entriesAfter', async () => {
    const h = await reader.history('story', '9');
    const want = [...localKeys(a, parseQuery('entity:story entity-id:9')), ...localKeys(b, parseQuery('entity:story entity-id:9'))].sort();
    assert.ok(want.length >= 2);
    assert.deepEqual(teamKeys(h).sort(), want);
    assert.deepEqual(h.map((e) => e.id), [...h.map((e) => e.id)].sort((x, y) => x - y));
    assert.deepEqual(await reader.history(HOSTILE, 'no-such-id'), []);
    assert.ok((await reader.history(HOSTILE, (b.get(4)!).entityId)).length >= 1);

    const run = await reader.byTrace('b-trace-15');
    assert.deepEqual(teamKeys(run), [key(originOf(b)!, 16)]);
    assert.deepEqual(teamKeys(await reader.byTrace('trace-15')), [key(originOf(a)!, 16)]);

    const d = await reader.distinct();
    assert.deepEqual(d.users, [...new Set([...a.distinct().users, ...b.distinct().users])].sort((x, y) => x.localeCompare(y)));
    assert.deepEqual(d.entityNames, [...new Set([...a.distinct().entityNames, ...b.distinct().entityNames])].sort((x, y) => x.localeCompare(y)));
    assert.deepEqual(d.bots, ['hello', 'nightly']);
    assert.deepEqual(d.actions, a.distinct().actions);

    assert.deepEqual((await reader.latest('', 3)).map((e) => e.id), [80, 79, 78]);
    assert.deepEqual((await reader.entriesAfter(75)).map((e) => e.id), [76, 77, 78, 79, 80]);
    assert.ok((await reader.entriesAfter(0, 1000, ['LOGIN'])).every((e) => e.action === 'LOGIN'));
  });

  it('a hostile value in filters stays a parameter', async () => {
    const rows: Filter[][] = [
      [{ column: 'entityName', op: 'equals', value: HOSTILE }],
      [{ column: 'entityName', op: 'contains', value: `50%_off'); DROP` }],
      [{ column: 'entityId', op: 'equals', value: `'); DROP TABLE x; --` }],
      [{ column: 'user', op: 'equals', value: `x' OR '1'='1` }],
      [{ column: 'text', op: 'matches', value: `'); DROP TABLE bot_audit.team_entries; --` }],
    ] as Filter[][];
    const found = [];
    for (const f of rows) found.push(await reader.count(f));
    assert.ok(found[0] > 0 && found[0] === found[1], `the name is found as itself: ${found.join(',')}`);
    assert.ok(found[2] > 0);
    assert.equal(found[3], 0);
    assert.equal(found[4], 0);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n, 80, 'the table is still there');
  });

  it('exports CSV (with origin columns), NDJSON and a FHIR Bundle', async () => {
    const grab = async (format: 'csv' | 'ndjson' | 'fhir', q: string, order?: 'asc' | 'desc') => {
      const out = new PassThrough();
      let text = '';
      out.setEncoding('utf8').on('data', (c: string) => (text += c));
      const n = await reader.exportTo(q, format, out, { order, end: true });
      return { n, text };
    };
    const csv = await grab('csv', 'wombat', 'asc');
    const lines = csv.text.trim().split('\r\n');
    assert.equal(csv.n, await reader.count('wombat'));
    assert.equal(lines.length, csv.n + 1);
    assert.match(lines[0], /,hash,origin,origin_id$/);
    assert.ok(lines.slice(1).every((l) => l.endsWith(`,${originOf(b)},${l.split(',').at(-1)}`)));
    const nd = await grab('ndjson', '');
    const parsed = nd.text.trim().split('\n').map((l) => JSON.parse(l) as Entry);
    assert.equal(nd.n, 80);
    assert.deepEqual(parsed.map((e) => e.id), Array.from({ length: 80 }, (_, i) => 80 - i));
    assert.ok(parsed.every((e) => typeof e.origin === 'string' && Number.isInteger(e.originId)));
    const fhir = await grab('fhir', 'action:UPDATED');
    const bundle = JSON.parse(fhir.text) as { entry: { resource: { extension: { url: string; extension: { url: string }[] }[] } }[] };
    assert.equal(bundle.entry.length, fhir.n);
    assert.equal(fhir.n, await reader.count('action:UPDATED'));
    const chain = bundle.entry[0].resource.extension.find((x) => x.url === 'urn:bot-audit:chain')!;
    assert.ok(chain.extension.some((x) => x.url === 'origin') && chain.extension.some((x) => x.url === 'originId'));
  });

  it('audit checks the team log (verifyTeamLog)', async () => {
    const r = await reader.audit();
    const v = await verifyTeamLog(admin);
    assert.deepEqual([r.ok, r.count, r.headHash], [true, 80, v.headHash]);
  });

  it('the live tail hands every new entry to a listener, in order, also across a server restart', async () => {
    const got: Entry[] = [];
    const sub = reader.onDidAppend((es) => got.push(...es));
    try {
      const start = reader.size;
      for (let i = 0; i < 3; i++) {
        await a.appendBatch(sampleEntries().slice(0, 5 + i));
        await shipToTeam(a, admin);
        await b.appendBatch(otherEntries().slice(0, 2));
        await shipToTeam(b, admin);
      }
      const shipped = 5 + 6 + 7 + 3 * 2;
      await until(() => got.length >= shipped, 20_000, `${shipped} entries by notice (got ${got.length})`);
      assert.deepEqual(got.map((e) => e.id), Array.from({ length: shipped }, (_, i) => start + i + 1));
      assert.equal(reader.size, start + shipped);

      // The server goes away: the tail comes back by itself, and misses nothing shipped meanwhile.
      await admin.end();
      pg.stopServer();
      pg.startServer();
      admin = await pg.connect();
      await b.appendBatch(otherEntries().slice(0, 4));
      await shipToTeam(b, admin);
      await a.appendBatch(sampleEntries().slice(0, 3));
      await shipToTeam(a, admin);
      const total = shipped + 7;
      await until(() => got.length >= total, 30_000, `${total} entries after the restart (got ${got.length})`);
      assert.deepEqual(got.map((e) => e.id), Array.from({ length: total }, (_, i) => start + i + 1));
      const last = got[got.length - 1];
      assert.deepEqual([last.origin, last.originId], [originOf(a), a.size]);
    } finally {
      sub.dispose();
    }
  });

  it('a v1 team log migrates to v2 and v3 on init, its data kept, searchable and filterable', async () => {
    await admin.query('CREATE DATABASE old_team');
    const url = pg.url().replace(/\/postgres$/, '/old_team');
    const { Client: PgClient } = await import('pg');
    const c = new PgClient({ connectionString: url });
    await c.connect();
    try {
      assert.deepEqual((await initTeamLog(c, { version: 1 })).version, 1);
      assert.equal((await c.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'bot_audit' AND column_name = 'search'")).rows[0].n, 0);
      // Rows as a shipper of schema versions 1 and 2 sent them: the jsonb copy made by the client.
      let prev = '0'.repeat(64);
      for (const r of b.rowsAfter(0, 1000)) {
        const text = canonicalRow(r);
        await c.query(
          'INSERT INTO bot_audit.team_entries (origin, origin_id, origin_hash, origin_prev, entry, entry_text) VALUES ($1, $2, $3, $4, $5::text::jsonb, $6::text)',
          [originOf(b), r.id, r.hash, prev, text, text],
        );
        prev = r.hash;
      }
      await assert.rejects(() => TeamLogReader.open(url), new RegExp(`schema version 1: bot-audit team init migrates it to ${TEAM_SCHEMA_VERSION}`));
      const before = (await c.query('SELECT seq, origin_hash, entry_text, team_hash FROM bot_audit.team_entries ORDER BY seq')).rows;
      assert.deepEqual((await initTeamLog(c, { version: 2 })).version, 2);
      const r = await initTeamLog(c);
      assert.deepEqual([r.from, r.version], [2, TEAM_SCHEMA_VERSION]);
      assert.deepEqual((await initTeamLog(c)).from, TEAM_SCHEMA_VERSION, 'twice is safe');
      const after = (await c.query('SELECT seq, origin_hash, entry_text, team_hash FROM bot_audit.team_entries ORDER BY seq')).rows;
      assert.deepEqual(after, before);
      assert.equal((await verifyTeamLog(c)).ok, true);
      const old = await TeamLogReader.open(url);
      try {
        assert.equal(old.size, b.size);
        assert.equal(await old.count('wombat'), b.count('wombat'));
        assert.ok((await old.count('wombat')) > 0);
        for (const q of ['user:carol@example.com', ...FIELD_QUERIES]) assert.equal(await old.count(q), b.count(q), q);
        // New entries after the migration: the server's jsonb copy, found by the same filters.
        await shipToTeam(b, c);
        await b.appendBatch(otherEntries().slice(0, 5));
        await shipToTeam(b, c);
        for (const q of ['user:carol@example.com', ...FIELD_QUERIES]) assert.equal(await old.count(q), b.count(q), q);
      } finally {
        await old.close();
      }
    } finally {
      await c.end();
    }
  });
  it('an entity-name "contains" text finds what the server\'s ILIKE finds, names that came later too, and stays a parameter', async () => {
    await admin.query('CREATE DATABASE names_team');
    const url = pg.url().replace(/\/postgres$/, '/names_team');
    const { Client: PgClient } = await import('pg');
    const c = new PgClient({ connectionString: url });
    await c.connect();
    const store = await AuditStore.open(path.join(dir, 'names.db'), { watch: false, autoCheckpoint: false });
    const names = ['Story', 'BACKSTORY', 'card', 'story_board', 'Ärger', 'ärger', '100%_off', HOSTILE];
    await store.appendBatch(Array.from({ length: 64 }, (_, i) => ({ user: 'u', action: 'UPDATED' as const, entityName: names[i % names.length], entityId: String(i) })));
    await initTeamLog(c);
    await shipToTeam(store, c);
    const r = await TeamLogReader.open(url);
    try {
      const ilike = async (text: string) =>
        (await c.query<{ seq: string }>('SELECT seq FROM bot_audit.team_entries WHERE entity_name ILIKE $1 ORDER BY seq DESC', [likeContains(text)])).rows.map((x) => Number(x.seq));
      for (const text of ['story', 'STORY', 'ärger', 'Ä', '%_', '_', 'card', 'nothing', HOSTILE]) {
        const q = [{ column: 'entityName', op: 'contains', value: text }] as Filter[];
        const want = await ilike(text);
        assert.deepEqual((await r.query(q, { limit: 1000 })).entries.map((e) => e.id), want, text);
        assert.equal(await r.count(q), want.length, text);
        const page = await r.query(q, { limit: 3 });
        assert.deepEqual(page.entries.map((e) => e.id), want.slice(0, 3), text);
      }
      // A name that came after the first queries is found too.
      await store.appendBatch([{ user: 'u', action: 'CREATED', entityName: 'mystory', entityId: '1' }]);
      await shipToTeam(store, c);
      const q = [{ column: 'entityName', op: 'contains', value: 'story' }] as Filter[];
      assert.deepEqual((await r.query(q, { limit: 1000 })).entries.map((e) => e.id), await ilike('story'));
      assert.equal((await r.query(q, { limit: 1 })).entries[0].entityName, 'mystory');
      assert.equal(await r.count(q), (await ilike('story')).length);
      assert.equal((await c.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n, 65, 'the hostile name stayed a value');
    } finally {
      await r.close();
      await store.close();
      await c.end();
    }
  });
});

describe('team log: the counts a reader keeps', function () {
  this.timeout(300_000);
  let pg: TestCluster;
  let admin: Client;
  let dir: string;
  let reader: TeamLogReader;
  const truth = async (q: string) => {
    const w = buildWhere(parseQuery(q), Date.now(), { dialect: 'postgres', teamIds: 'seq' });
    return Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM bot_audit.team_entries WHERE ${w.sql}`, w.params)).rows[0].n);
  };
  const QS = ['user:carol@example.com', 'action:UPDATED,DELETED', 'wombat', ...FIELD_QUERIES.slice(0, 4)];

  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    dir = tempDir();
    await initTeamLog(admin);
    reader = await TeamLogReader.open(pg.url());
  });
  after(async () => {
    await reader?.close();
    await admin?.end();
    pg?.stop();
    if (dir) removeDir(dir);
  });

  it('stay exact as the team log grows, for pages, counts and windows, and after a restore from a backup', async () => {
    const a = await AuditStore.open(path.join(dir, 'a.db'), { watch: false, autoCheckpoint: false });
    const b = await AuditStore.open(path.join(dir, 'b.db'), { watch: false, autoCheckpoint: false });
    try {
      const other = otherEntries();
      assert.equal(await reader.count(QS[0]), 0, 'an empty team log counts nothing');
      await a.appendBatch(sampleEntries().slice(0, 15));
      await shipToTeam(a, admin);
      const check = async (what: string) => {
        for (const q of QS) {
          const want = await truth(q);
          assert.equal(await reader.count(q), want, `${what}: count of "${q}"`);
          assert.equal((await reader.query(q, { limit: 5 })).total, want, `${what}: page total of "${q}"`);
          assert.equal((await reader.window(q)).total, want, `${what}: window total of "${q}"`);
        }
      };
      await check('first');
      assert.ok((await truth(QS[1])) > 0, 'not vacuous');
      const older = await reader.window(QS[1]);
      await b.appendBatch(other.slice(0, 20));
      await shipToTeam(b, admin);
      await check('after another origin shipped');
      // A window opened before: its total is of the entries up to its own bound, whatever is kept since.
      assert.equal((await reader.window(QS[1], {})).total, await truth(QS[1]));
      assert.equal(older.total, (await older.rows(0, 1000)).length);
      // The team log restored from a backup, then other entries in the seqs the kept counts had seen.
      await admin.end();
      const backup = pg.backup(); // stops and starts the server
      admin = await pg.connect();
      await a.appendBatch(sampleEntries().slice(15, 30));
      await shipToTeam(a, admin);
      await check('before the restore');
      await admin.end();
      pg.restore(backup);
      admin = await pg.connect();
      await b.appendBatch(other.slice(20, 40));
      await shipToTeam(b, admin);
      await check('after the restore');
    } finally {
      await a.close();
      await b.close();
    }
  });
  it('lastRuns gives each bot what latest() of its runs gives, for many bots in one statement (the Bots view)', async () => {
    const c = await AuditStore.open(path.join(dir, 'c.db'), { watch: false, autoCheckpoint: false });
    try {
      const runsOf = (entityId: string): Filter[] => [
        { column: 'action', op: 'oneOf', value: ['EXECUTED'] },
        { column: 'entityName', op: 'equals', value: 'Bot' },
        { column: 'entityId', op: 'equals', value: entityId },
      ];
      const ids = ['bots/a.ts', 'bots/b.ts', '123', HOSTILE, 'bots/only-edited.ts', 'bots/never.ts'];
      for (let i = 0; i < 24; i++) {
        const entityId = ids[i % 4];
        await c.appendBatch([
          { user: 'dev@example.com', action: 'EXECUTED', entityName: 'Bot', entityId, outcome: i % 3 === 0 ? 8 : 0, outcomeDesc: `run ${i}` },
          // Newer entries that are not runs of these bots: another action, another entity name with the same ID.
          { user: 'dev@example.com', action: 'UPDATED', entityName: 'Bot', entityId },
          { user: 'Bot/x', action: 'EXECUTED', entityName: 'Patient', entityId },
        ]);
      }
      await c.append({ user: 'dev@example.com', action: 'UPDATED', entityName: 'Bot', entityId: 'bots/only-edited.ts' });
      await shipToTeam(c, admin);
      const asked = [...ids, ids[0]];
      const last = await reader.lastRuns(asked);
      for (const id of asked) assert.deepEqual(last.get(id), (await reader.latest(runsOf(id), 1))[0], id);
      assert.deepEqual([...last.keys()].sort(), ids.slice(0, 4).sort());
      assert.equal(last.get('bots/a.ts')?.outcomeDesc, 'run 20');
      assert.equal((await reader.lastRuns([])).size, 0);
    } finally {
      await c.close();
    }
  });
});
