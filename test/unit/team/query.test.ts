// The query compiler's PostgreSQL dialect on a real team log: the same query text, compiled for
// SQLite (the local log) and for PostgreSQL (the entries it shipped), finds the same entries.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Client } from 'pg';
import { buildWhere, parseQuery, type Filter } from '../../../src/core/query';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { initTeamLog, originOf, shipToTeam } from '../../../src/core/team';
import { removeDir, sampleEntries, T0, tempDir } from '../store/helpers';
import { startCluster, type TestCluster } from './pg';
import { FIELD_QUERIES } from './queries';

/** A few entries beyond the sample's: IDs that sort differently by language than by code point, LIKE's wildcards in names. */
const EXTRA: NewEntry[] = [
  { user: 'dev@example.com', action: 'UPDATED', entityName: 'Story_Group', entityId: 'a-2', recorded: T0 - 1000 },
  { user: 'dev@example.com', action: 'UPDATED', entityName: '50%_off', entityId: 'a10', recorded: T0 - 2000 },
  { user: 'dev@example.com', action: 'UPDATED', entityName: 'story', entityId: 'B', recorded: T0 - 3000 },
  { user: 'dev@example.com', action: 'UPDATED', entityName: 'story', entityId: '-3', recorded: T0 - 4000 },
];

const QUERIES = ['', 'id:>10 id:<30', '-id:5', ...FIELD_QUERIES, 'nothing-like-this'];

describe('query text on the team log (PostgreSQL dialect)', function () {
  this.timeout(300_000);
  let pg: TestCluster;
  let admin: Client;
  let dir: string;
  let store: AuditStore;
  let origin: string;
  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    dir = tempDir();
    await initTeamLog(admin);
    store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    await store.appendBatch([...sampleEntries(), ...EXTRA]);
    await shipToTeam(store, admin);
    origin = originOf(store)!;
  });
  after(async () => {
    await store?.close();
    await admin?.end();
    pg?.stop();
    if (dir) removeDir(dir);
  });

  const local = (filters: Filter[]): number[] => {
    const ids: number[] = [];
    for (let cursor: string | undefined, guard = 0; guard < 100; guard++) {
      const page = store.query(filters, { limit: 1000, order: 'asc', cursor });
      ids.push(...page.entries.map((e) => e.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return ids;
  };
  const team = async (filters: Filter[], opts: { entityNames?: readonly string[] } = {}): Promise<number[]> => {
    const w = buildWhere(filters, T0 + 3_600_000, { dialect: 'postgres', firstParam: 2, ...opts });
    const { rows } = await admin.query<{ id: number }>(`SELECT origin_id::int AS id FROM bot_audit.team_entries WHERE origin = $1 AND (${w.sql}) ORDER BY origin_id`, [origin, ...w.params]);
    return rows.map((r) => r.id);
  };

  it('finds what the local log finds, for every kind of condition', async () => {
    assert.equal(store.size, 44);
    for (const q of QUERIES) {
      const filters = parseQuery(q);
      const want = local(filters);
      assert.deepEqual(await team(filters), want, `"${q}"`);
      assert.deepEqual(await team(filters, { entityNames: store.distinct().entityNames }), want, `"${q}" with the known entity names`);
    }
    // Not vacuous: every query but the last finds something, and not everything.
    const found = QUERIES.map((q) => local(parseQuery(q)).length);
    assert.deepEqual(QUERIES.filter((_, i) => found[i] === 0), ['nothing-like-this']);
    assert.ok(found.slice(1).every((n) => n < 44));
  });

  it('finds the same with relative times, counted back from the same "now"', async () => {
    const now = T0 + 3_600_000;
    for (const f of [
      { column: 'timestamp', op: 'after', value: { relative: '40m' } },
      { column: 'timestamp', op: 'before', value: { relative: '45m' } },
      { column: 'timestamp', op: 'after', value: T0 + 10 * 60_000 },
    ] as Filter[]) {
      const w = buildWhere([f], now);
      const want = store.unsafeExec(`SELECT id FROM entries WHERE ${w.sql} ORDER BY id`, w.params).map((r) => r[0] as number);
      assert.ok(want.length > 0 && want.length < 44, JSON.stringify(f));
      assert.deepEqual(await team([f]), want, JSON.stringify(f));
    }
  });
});
