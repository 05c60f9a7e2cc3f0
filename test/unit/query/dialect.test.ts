// The query compiler's two dialects: SQLite (the local log) and PostgreSQL (the team log). What each
// writes, text and parameters, and that no value ever reaches the SQL text of either.
import * as assert from 'node:assert/strict';
import { buildWhere, parseQuery, type Filter, type SqlWhere } from '../../../src/core/query';

const pg = (q: string | Filter[], firstParam?: number, now = 1_000_000_000_000): SqlWhere =>
  buildWhere(typeof q === 'string' ? parseQuery(q) : q, now, { dialect: 'postgres', firstParam });

const ENTITY_NUM = 'entity_num';

describe('SQL builder: PostgreSQL dialect', () => {
  it('numbers placeholders $1… in the order of the parameters', () => {
    assert.deepEqual(pg('user:dev@example.com action:CREATED,UPDATED outcome:8'), {
      sql: `user_name = $1 AND action IN ($2,$3) AND outcome IN ($4)`,
      params: ['dev@example.com', 'CREATED', 'UPDATED', 8],
    });
  });

  it('starts at firstParam, for a clause after other parameters', () => {
    assert.deepEqual(pg('id:>5 -bot:nightly', 2), {
      sql: `origin_id > $2 AND (bot IS NULL OR bot <> $3)`,
      params: [5, 'nightly'],
    });
    // A reader of the whole team log numbers entries by seq.
    assert.deepEqual(buildWhere(parseQuery('id:>5'), 0, { dialect: 'postgres', teamIds: 'seq' }), { sql: 'seq > $1', params: [5] });
    assert.throws(() => pg('id:>5', 0), /first parameter/);
    assert.throws(() => pg('id:>5', 1.5), /first parameter/);
  });

  it('reads fields from the entry jsonb, times and outcomes as numbers', () => {
    assert.deepEqual(pg([{ column: 'timestamp', op: 'after', value: { relative: '15m' } }]), {
      sql: `recorded > $1`,
      params: [1_000_000_000_000 - 15 * 60_000],
    });
    assert.deepEqual(pg([{ column: 'timestamp', op: 'before', value: 1234 }]), { sql: `recorded < $1`, params: [1234] });
    assert.deepEqual(pg('entity:story -entity:card'), { sql: `entity_name = $1 AND entity_name <> $2`, params: ['story', 'card'] });
  });

  it('compares numeric entity IDs as numbers, others as text, without SQLite\'s "+" hints', () => {
    assert.deepEqual(pg('entity-id:12'), { sql: `${ENTITY_NUM} = $1`, params: [12] });
    assert.deepEqual(pg('-entity-id:12'), { sql: `(${ENTITY_NUM} IS NULL OR ${ENTITY_NUM} <> $1)`, params: [12] });
    assert.deepEqual(pg('entity-id:abc'), { sql: `entity_id = $1`, params: ['abc'] });
    const range = buildWhere([{ column: 'entityId', op: 'greaterThan', value: '7.5' }], 0, { dialect: 'postgres', entityIdUnion: true });
    assert.deepEqual(range, {
      sql: `(${ENTITY_NUM} > $1 OR (${ENTITY_NUM} IS NULL AND entity_id COLLATE "C" > $2))`,
      params: [7.5, '7.5'],
    });
    assert.ok(!range.sql.includes('+'), 'no unary plus (an error on text in PostgreSQL)');
    assert.ok(!range.sql.includes('entries'), 'never the local table');
  });

  it('writes "contains" as ILIKE with the pattern bound, or IN over the known names', () => {
    assert.deepEqual(pg([{ column: 'entityName', op: 'contains', value: '50%_off\\' }]), {
      sql: `entity_name ILIKE $1`,
      params: ['%50\\%\\_off\\\\%'],
    });
    assert.deepEqual(pg([{ column: 'entityName', op: 'notContains', value: 'st' }]), { sql: `entity_name NOT ILIKE $1`, params: ['%st%'] });
    const names = ['story', 'story_group', 'card'];
    const f: Filter[] = [{ column: 'entityName', op: 'contains', value: 'STORY' }];
    assert.deepEqual(buildWhere(f, 0, { dialect: 'postgres', entityNames: names, firstParam: 3 }), { sql: `entity_name IN ($3,$4)`, params: ['story', 'story_group'] });
    assert.deepEqual(buildWhere([{ column: 'entityName', op: 'contains', value: 'zzz' }], 0, { dialect: 'postgres', entityNames: names }), { sql: 'false', params: [] });
    assert.deepEqual(buildWhere([{ column: 'entityName', op: 'notContains', value: 'zzz' }], 0, { dialect: 'postgres', entityNames: names }), { sql: 'true', params: [] });
  });

  it('searches text with a tsvector phrase of the words, operators and quotes dropped, in the indexed column', () => {
    // `search`: the team log's generated tsvector (schema version 2), which its GIN index covers.
    assert.deepEqual(pg([{ column: 'text', op: 'matches', value: '"upstream timeout" OR zanzibar*' }]), {
      sql: `search @@ phraseto_tsquery('simple', $1)`,
      params: ['upstream timeout OR zanzibar'],
    });
    assert.deepEqual(pg([{ column: 'text', op: 'matches', value: '!! --' }]), { sql: 'false', params: [] });
  });

  it('is "true" for no filters', () => {
    assert.deepEqual(pg([]), { sql: 'true', params: [] });
  });
});

describe('SQL builder: SQLite dialect (the default)', () => {
  it('writes what it always wrote', () => {
    const q = parseQuery('user:dev@example.com action:CREATED,UPDATED entity:~st% entity-id:>7.5 "quokka"');
    const want = {
      sql:
        `user = ? AND action IN (?,?) AND entity_name LIKE ? ESCAPE '\\' AND (+entity_num > ? OR (+entity_num IS NULL AND +entity_id > ?))` +
        ` AND id IN (SELECT docid FROM entries_fts WHERE entries_fts MATCH ?)`,
      params: ['dev@example.com', 'CREATED', 'UPDATED', '%st\\%%', 7.5, '7.5', '"quokka"'],
    };
    assert.deepEqual(buildWhere(q, 0), want);
    assert.deepEqual(buildWhere(q, 0, { dialect: 'sqlite' }), want);
    assert.equal(buildWhere([], 0).sql, '1');
  });
});
