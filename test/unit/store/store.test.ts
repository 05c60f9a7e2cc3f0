import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { AuditStore, GENESIS_HASH, StoreError, capText, cutBytes, type Entry, type Filter, type NewEntry } from '../../../src/core/store';
import { HASHED_KEYS, LineBuffer, hashRow, sha256, parseRowLine, prepareRow, rowLine, sealRow, type Row } from '../../../src/core/store/row';
import { QueryError, buildWhere, formatQuery } from '../../../src/core/query';
import { removeDir, sampleEntries, T0, tempDir } from './helpers';

/** Reference semantics of one filter, written independently of the SQL builder. */
function matches(e: Entry, f: Filter, now: number): boolean {
  const num = (s: string) => (/^-?\d{1,15}(\.\d{1,15})?$/.test(s) ? Number(s) : null);
  const cmp = <T extends number | string>(a: T, b: T, op: string) =>
    op === 'equals' ? a === b : op === 'notEquals' ? a !== b : op === 'greaterThan' ? a > b : a < b;
  switch (f.column) {
    case 'id':
      return cmp(e.id, f.value, f.op);
    case 'entityId': {
      const a = num(e.entityId);
      const b = num(f.value);
      return a !== null && b !== null ? cmp(a, b, f.op) : cmp(e.entityId, f.value, f.op);
    }
    case 'user':
      return f.op === 'equals' ? e.user === f.value : e.user !== f.value;
    case 'bot':
      return f.op === 'equals' ? e.bot === f.value : e.bot !== f.value;
    case 'entityName': {
      const c = e.entityName.toLowerCase().includes(f.value.toLowerCase());
      return { equals: e.entityName === f.value, notEquals: e.entityName !== f.value, contains: c, notContains: !c }[f.op];
    }
    case 'action':
      return f.value.includes(e.action);
    case 'outcome':
      return e.outcome !== undefined && f.value.includes(e.outcome);
    case 'timestamp': {
      const t = typeof f.value === 'number' ? f.value : now - Number(f.value.relative.slice(0, -1)) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[f.value.relative.slice(-1)]!;
      return f.op === 'after' ? e.recorded > t : e.recorded < t;
    }
    case 'text':
      throw new Error('not modelled');
  }
}

function allIds(store: AuditStore, filters: Filter[] | string, limit = 7, order: 'desc' | 'asc' = 'desc'): number[] {
  const ids: number[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = store.query(filters, { limit, cursor, order });
    ids.push(...page.entries.map((e) => e.id));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
  }
  throw new Error('pagination did not end');
}

describe('AuditStore', function () {
  this.timeout(20_000);
  let dir: string;
  let store: AuditStore;
  let all: Entry[];

  before(async () => {
    dir = tempDir();
    store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    all = await store.appendBatch(sampleEntries().slice(0, 20));
    for (const e of sampleEntries().slice(20)) all.push(await store.append(e));
  });
  after(async () => {
    await store.close();
    removeDir(dir);
  });

  it('gives entries gapless IDs, UUIDs and a hash chain', () => {
    assert.deepEqual(
      all.map((e) => e.id),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.equal(all[0].prevHash, GENESIS_HASH);
    for (let i = 1; i < all.length; i++) assert.equal(all[i].prevHash, all[i - 1].hash);
    assert.equal(new Set(all.map((e) => e.uuid)).size, 40);
    assert.match(all[0].uuid, /^[0-9a-f-]{36}$/);
    assert.equal(store.size, 40);
    assert.equal(store.headHash, all[39].hash);
    const v = store.verify();
    assert.deepEqual(v, { ok: true, count: 40, headHash: all[39].hash });
  });

  it('seals each row with the hash of its canonical JSON, and writes that JSON as its journal line', () => {
    const full: NewEntry = {
      ...sampleEntries()[7],
      failureKind: 'timeout',
      returnValue: '{"ok":true}',
      before: { z: 1, a: [{ y: 2, b: 1 }] },
      after: { a: null, z: 'ünï' },
      replayOf: 3,
      onBehalfOf: 'dev@example.com',
      bot: undefined,
    };
    let prev = GENESIS_HASH;
    const all = new LineBuffer();
    const rows: Row[] = [];
    for (const [i, e] of [full, ...sampleEntries()].entries()) {
      const one = new LineBuffer();
      const prepared = prepareRow(e, 1 << 20, T0);
      sealRow({ ...prepared }, i + 1, prev, all);
      const row = sealRow(prepared, i + 1, prev, one);
      // Every row has every key, in canonical order (one shape); the absent ones are undefined.
      assert.deepEqual(Object.keys(row), [...HASHED_KEYS, 'hash'], 'keys in canonical order');
      assert.equal(row.hash, hashRow(row), `entry ${i + 1}`);
      const line = Buffer.concat(one.parts()).toString('utf8');
      assert.equal(line, rowLine(row));
      const present = Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined));
      assert.deepEqual(parseRowLine(line), present);
      for (const k of HASHED_KEYS) if (row[k] === undefined) assert.ok(!line.includes(`"${k}":`), `absent ${k} is left out of the line`);
      assert.throws(() => sealRow(prepared, i + 1, prev, all), /sealed already/);
      rows.push(row);
      prev = row.hash;
    }
    // One buffer for many lines, ASCII ones and one that is not ('ünï'), byte for byte as UTF-8;
    // small chunks, so that lines fill several and one line is larger than a chunk.
    assert.match(rowLine(rows[0]), /ünï/);
    assert.deepEqual(Buffer.concat(all.parts()), Buffer.from(rows.map(rowLine).join(''), 'utf8'));
    const small = new LineBuffer(256);
    const text = 'x'.repeat(1000);
    const want = (json: string) => `${json.slice(0, -1)},"hash":"${sha256(json)}"}\n`;
    for (let round = 0; round < 2; round++) {
      small.reset();
      const jsons = ['{"b":"ü"}', `{"a":"${text}"}`, ...Array.from({ length: 200 }, (_, i) => `{"n":${i}}`)];
      for (const j of jsons) assert.equal(small.add(j), sha256(j));
      assert.ok(small.parts().length > 3, `${small.parts().length} parts`);
      assert.equal(Buffer.concat(small.parts()).toString('utf8'), jsons.map(want).join(''));
      assert.equal(small.byteLength, Buffer.byteLength(jsons.map(want).join('')));
    }
    assert.throws(() => small.add('[1]'), /not a JSON object/);
  });

  it('gives every row its own random version-4 UUID', () => {
    const ids = Array.from({ length: 700 }, () => prepareRow(sampleEntries()[0], 1 << 20, T0).uuid);
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(new Set(ids).size, ids.length);
    // Every hex digit turns up in every random position over 700 UUIDs (256 are made at a time).
    for (const at of [0, 9, 15, 20, 35]) assert.equal(new Set(ids.map((u) => u[at])).size, 16, `position ${at}`);
  });

  it('returns what was appended, snapshots parsed', () => {
    const e = store.get(2)!;
    assert.deepEqual(e, all[1]);
    assert.deepEqual(e.before, { name: 'old 1', tags: ['a'] });
    assert.deepEqual(e.after, { name: 'new 1', tags: ['a', 'b'] });
    const run = store.get(8)!;
    assert.equal(run.action, 'EXECUTED');
    assert.equal(run.bot, 'hello');
    assert.equal(run.outcome, 0);
    assert.equal(run.contentType, 'application/fhir+json');
    assert.equal(run.periodEnd, run.recorded);
    assert.equal(store.get(999), undefined);
  });

  it('hands out entries that copy and serialise with their snapshots', () => {
    const e = store.query('id:2').entries[0];
    const want = { name: 'new 1', tags: ['a', 'b'] };
    assert.deepEqual((JSON.parse(JSON.stringify(e)) as Entry).after, want);
    assert.deepEqual({ ...e }.after, want);
    assert.deepEqual(structuredClone(e).after, want);
    assert.deepEqual(Object.keys(e).includes('before'), true);
    e.after = 'replaced';
    assert.equal(e.after, 'replaced');
    assert.deepEqual(store.get(2)!.after, want);
  });

  it('refuses UPDATE and DELETE in the database itself', () => {
    assert.throws(() => store.unsafeExec("UPDATE entries SET user = 'mallory' WHERE id = 1"), /append-only: UPDATE is refused/);
    assert.throws(() => store.unsafeExec('DELETE FROM entries WHERE id = 1'), /append-only: DELETE is refused/);
    assert.equal(store.get(1)!.user, all[0].user);
    assert.equal(store.verify().ok, true);
  });

  it('rejects malformed entries without taking an ID', async () => {
    await assert.rejects(store.append({ user: '', action: 'CREATED', entityName: 'x', entityId: '1' }), (e: unknown) => e instanceof StoreError && e.code === 'INVALID_ENTRY');
    await assert.rejects(store.append({ user: 'u', action: 'NOPE' as never, entityName: 'x', entityId: '1' }), /action must be one of/);
    await assert.rejects(store.append({ user: 'u', action: 'EXECUTED', entityName: 'x', entityId: '1', outcome: 3 as never }), /outcome must be/);
    assert.equal(store.size, 40);
  });

  describe('filters', () => {
    const now = T0 + 45 * 60_000;
    const cases: Filter[] = [
      { column: 'id', op: 'equals', value: 7 },
      { column: 'id', op: 'notEquals', value: 7 },
      { column: 'id', op: 'greaterThan', value: 33 },
      { column: 'id', op: 'lessThan', value: 4 },
      { column: 'entityId', op: 'equals', value: '10' },
      { column: 'entityId', op: 'equals', value: '10.0' },
      { column: 'entityId', op: 'notEquals', value: '10' },
      { column: 'entityId', op: 'greaterThan', value: '9' },
      { column: 'entityId', op: 'lessThan', value: '10' },
      { column: 'entityId', op: 'greaterThan', value: 'abc' },
      { column: 'entityId', op: 'lessThan', value: 'b' },
      { column: 'entityId', op: 'equals', value: 'x-1' },
      { column: 'user', op: 'equals', value: 'system' },
      { column: 'user', op: 'notEquals', value: 'system' },
      { column: 'action', op: 'oneOf', value: ['UPDATED', 'DELETED'] },
      { column: 'action', op: 'oneOf', value: ['LOGIN'] },
      { column: 'entityName', op: 'equals', value: 'story' },
      { column: 'entityName', op: 'notEquals', value: 'story' },
      { column: 'entityName', op: 'contains', value: 'STORY' },
      { column: 'entityName', op: 'contains', value: '_' },
      { column: 'entityName', op: 'notContains', value: 'tor' },
      { column: 'timestamp', op: 'after', value: T0 + 30 * 60_000 },
      { column: 'timestamp', op: 'before', value: T0 + 5 * 60_000 },
      { column: 'timestamp', op: 'after', value: { relative: '10m' } },
      { column: 'timestamp', op: 'before', value: { relative: '30m' } },
      { column: 'bot', op: 'equals', value: 'hello' },
      { column: 'bot', op: 'notEquals', value: 'hello' },
      { column: 'outcome', op: 'oneOf', value: [8, 12] },
      { column: 'outcome', op: 'oneOf', value: [0] },
    ];
    it('counts every pair of these filters, and three at once, as the reference does', async () => {
      // Pairs of indexed conditions are counted by intersecting their IDs (countByIntersection).
      // A second store on the same log takes conditions of 6 or more entries as broad, so that a
      // broad action beside a narrow condition goes through its complement.
      const text: Filter = { column: 'text', op: 'matches', value: 'timeout' };
      const combos: Filter[][] = [];
      const pool = [...cases, text];
      for (let i = 0; i < pool.length; i++) for (let j = i + 1; j < pool.length; j++) combos.push([pool[i], pool[j]]);
      combos.push([cases[14], cases[12], cases[21]], [cases[25], cases[27], cases[13]], [text, cases[14], cases[27]]);
      // Beside two sets, each filter once more: tested in its own index (indexProbe) or on the row.
      for (const f of pool) combos.push([cases[25], cases[27], f], [cases[14], cases[16], f], [cases[28], cases[13], f]);
      const broadActions: Filter[] = [
        { column: 'action', op: 'oneOf', value: ['CREATED', 'UPDATED', 'DELETED', 'INVITED', 'ACCEPTED', 'LOGIN', 'LOGOUT'] },
        { column: 'action', op: 'oneOf', value: ['CREATED', 'UPDATED', 'DELETED', 'INVITED', 'ACCEPTED', 'LOGIN', 'LOGOUT', 'EXECUTED'] },
      ];
      for (const b of broadActions) for (const f of pool) combos.push([b, f], [f, b, cases[25]]);
      const small = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false, intersectMax: 6 });
      const realNow = Date.now;
      Date.now = () => now;
      try {
        let matching = 0;
        for (const fl of combos) {
          const want = all.filter((e) => fl.every((f) => (f.column === 'text' ? (e.outcomeDesc ?? '').includes('timeout') : matches(e, f, now)))).length;
          if (want > 0) matching++;
          assert.equal(store.count(fl), want, formatQuery(fl));
          assert.equal(small.count(fl), want, `${formatQuery(fl)} (intersecting only below 6)`);
        }
        assert.ok(matching > 50, `${matching} combinations match something`);
      } finally {
        Date.now = realNow;
        await small.close();
      }
    });

    for (const f of cases) {
      it(`${formatQuery([f])}`, () => {
        // Pin "now" for relative times through the cursor-free first page: query at a fixed clock.
        const realNow = Date.now;
        Date.now = () => now;
        try {
          const want = all.filter((e) => matches(e, f, now)).map((e) => e.id).reverse();
          assert.ok(want.length > 0 || f.column === 'entityId', 'the case should match something');
          assert.deepEqual(allIds(store, [f]), want);
          assert.deepEqual(allIds(store, [f], 5, 'asc'), [...want].reverse());
          assert.equal(store.count([f]), want.length);
          assert.equal(store.query(formatQuery([f])).total, want.length);
        } finally {
          Date.now = realNow;
        }
      });
    }

    it('ANDs filters together', () => {
      const fs2: Filter[] = [
        { column: 'action', op: 'oneOf', value: ['UPDATED', 'EXECUTED'] },
        { column: 'entityName', op: 'notContains', value: 'card' },
        { column: 'user', op: 'notEquals', value: 'system' },
      ];
      const want = all.filter((e) => fs2.every((f) => matches(e, f, 0))).map((e) => e.id).reverse();
      assert.ok(want.length > 1);
      assert.deepEqual(allIds(store, fs2), want);
      assert.deepEqual(allIds(store, formatQuery(fs2)), want);
    });

    it('plans entity-ID ranges either way with the same result', () => {
      for (const f of [
        { column: 'entityId', op: 'greaterThan', value: '9' },
        { column: 'entityId', op: 'lessThan', value: '10' },
        { column: 'entityId', op: 'greaterThan', value: '-1' },
      ] as Filter[]) {
        const ids = (union: boolean) => {
          const w = buildWhere([f], 0, { entityIdUnion: union });
          return store.unsafeExec(`SELECT id FROM entries WHERE ${w.sql} ORDER BY id`, w.params).map((r) => r[0]);
        };
        assert.deepEqual(ids(true), ids(false));
        assert.deepEqual(ids(true), all.filter((e) => matches(e, f, 0)).map((e) => e.id));
      }
    });

    it('counts a broad side of an entity-ID range through the narrow side, as the log grows', async () => {
      const own = tempDir();
      // Below 3 matches a side counts as narrow, so nearly every range here takes the complement.
      const s = await AuditStore.open(path.join(own, 'audit.db'), { watch: false, autoCheckpoint: false, intersectMax: 3 });
      try {
        const log = sampleEntries();
        const ranges = ['9', '10', '-1', '0.5', '1000'].flatMap((value) => (['greaterThan', 'lessThan'] as const).map((op) => ({ column: 'entityId', op, value }) as Filter));
        const check = async (entries: Entry[]) => {
          for (const f of ranges) {
            assert.equal(s.count([f]), entries.filter((e) => matches(e, f, 0)).length, formatQuery([f]));
            (s as unknown as { planner: { forgetCounts(): void } }).planner.forgetCounts();
          }
        };
        const got = await s.appendBatch(log.slice(0, 20));
        await check(got);
        // The count of numeric IDs is kept up to date as entries go in: numbers and text both.
        got.push(...(await s.appendBatch([...log.slice(20), { ...log[0], entityId: '12' }, { ...log[0], entityId: 'zz-top' }])));
        await check(got);
        assert.ok(ranges.some((f) => s.count([f]) > 3), 'some side is broad');
      } finally {
        await s.close();
        removeDir(own);
      }
    });

    it('compares entity IDs as numbers when both are numbers', () => {
      const gt9 = store.query([{ column: 'entityId', op: 'greaterThan', value: '9' }], { limit: 1000 }).entries.map((e) => e.entityId);
      assert.ok(gt9.includes('10') && gt9.includes('100') && gt9.includes('010'));
      assert.ok(!gt9.includes('2') && !gt9.includes('7.5'));
      assert.ok(gt9.includes('abc') && gt9.includes('x-1'), 'text IDs compare as text with "9"');
      const eq10 = store.query([{ column: 'entityId', op: 'equals', value: '10' }]).entries.map((e) => e.entityId);
      assert.deepEqual([...new Set(eq10)].sort(), ['010', '10']);
    });

    it('searches full text in outcome descriptions, inputs and snapshots', () => {
      assert.deepEqual(allIds(store, '"zanzibar"'), [16]);
      assert.deepEqual(allIds(store, 'timeout'), [16]);
      assert.deepEqual(allIds(store, 'quokka'), [10]);
      assert.deepEqual(allIds(store, '"quokka sighting"'), [10]);
      assert.deepEqual(allIds(store, '"sighting quokka"'), []);
      assert.deepEqual(allIds(store, 'p31'), [32], 'input');
      assert.deepEqual(allIds(store, 'quokka action:UPDATED'), [10]);
      assert.deepEqual(allIds(store, 'quokka action:CREATED'), []);
      // FTS syntax is searched for, never interpreted.
      assert.deepEqual(allIds(store, '"quokka OR zanzibar"'), []);
      assert.deepEqual(allIds(store, '"quok*"'), []);
      assert.deepEqual(allIds(store, '"NEAR("'), []);
    });

    it("finds nothing and harms nothing with '; DROP TABLE --", () => {
      const evil = "'; DROP TABLE entries; --";
      for (const f of [
        { column: 'user', op: 'equals', value: evil },
        { column: 'entityName', op: 'contains', value: evil },
        { column: 'entityId', op: 'equals', value: evil },
        { column: 'bot', op: 'equals', value: evil },
        { column: 'text', op: 'matches', value: evil },
      ] as Filter[]) {
        assert.equal(store.query([f]).total, 0);
        assert.equal(store.count([f]), 0);
      }
      assert.equal(store.query(`user:"${evil}"`).total, 0);
      assert.equal(store.count([]), 40);
      assert.equal(store.verify().count, 40);
    });

    it('counts ID filters at the edges of the log', () => {
      const cases: [Filter, number][] = [
        [{ column: 'id', op: 'greaterThan', value: 40 }, 0],
        [{ column: 'id', op: 'greaterThan', value: 0 }, 40],
        [{ column: 'id', op: 'lessThan', value: 1 }, 0],
        [{ column: 'id', op: 'lessThan', value: 1000 }, 40],
        [{ column: 'id', op: 'equals', value: 0 }, 0],
        [{ column: 'id', op: 'equals', value: 41 }, 0],
        [{ column: 'id', op: 'notEquals', value: 41 }, 40],
        [{ column: 'id', op: 'notEquals', value: 40 }, 39],
      ];
      for (const [f, n] of cases) {
        assert.equal(store.count([f]), n, formatQuery([f]));
        assert.equal(store.query([f], { limit: 1000 }).entries.length, n, formatQuery([f]));
      }
    });

    it('finds entity names that appear after the first query, also from another store', async () => {
      const dir2 = tempDir();
      const file2 = path.join(dir2, 'a.db');
      const s = await AuditStore.open(file2, { watch: false });
      const other = await AuditStore.open(file2, { watch: false });
      try {
        await s.append({ user: 'u', action: 'CREATED', entityName: 'story', entityId: '1' });
        assert.equal(s.count('entity:~Quest'), 0);
        assert.equal(s.count('-entity:~Quest'), 1);
        await s.append({ user: 'u', action: 'CREATED', entityName: 'form_question', entityId: '2' });
        assert.equal(s.count('entity:~Quest'), 1);
        assert.equal(other.count('entity:~Quest'), 1);
        await other.append({ user: 'u', action: 'CREATED', entityName: 'QUESTION_bank', entityId: '3' });
        assert.deepEqual(s.query('entity:~quest').entries.map((e) => e.id), [3, 2]);
        assert.deepEqual(s.query('-entity:~quest').entries.map((e) => e.id), [1]);
        assert.equal(s.count('-entity:~quest'), 1);
        assert.equal(s.count('entity:~Ü'), 0);
      } finally {
        await other.close();
        await s.close();
        removeDir(dir2);
      }
    });

    it('treats LIKE wildcards in contains as literal characters', () => {
      assert.equal(store.count([{ column: 'entityName', op: 'contains', value: '%' }]), 0);
      assert.equal(store.count([{ column: 'entityName', op: 'contains', value: 's_o' }]), 0);
      assert.equal(store.count([{ column: 'entityName', op: 'contains', value: 'y_g' }]), 8);
    });

    it('throws a QueryError for malformed query text, and runs nothing', () => {
      assert.throws(() => store.query('user:a nope:b'), (e: unknown) => e instanceof QueryError && e.position === 7);
      assert.throws(() => store.count('created:2026'), QueryError);
    });
  });

  describe('pagination', () => {
    it('pages newest first without gaps or repeats, for every page size', () => {
      for (const limit of [1, 3, 7, 39, 40, 41, 1000]) {
        assert.deepEqual(allIds(store, [], limit), all.map((e) => e.id).reverse(), `limit ${limit}`);
        assert.deepEqual(allIds(store, [], limit, 'asc'), all.map((e) => e.id), `asc limit ${limit}`);
      }
    });

    it('gives no cursor on the last page, also when it is exactly full', () => {
      const p = store.query([], { limit: 40 });
      assert.equal(p.entries.length, 40);
      assert.equal(p.nextCursor, undefined);
      assert.equal(p.total, 40);
      const q = store.query([], { limit: 20 });
      assert.ok(q.nextCursor);
      const r = store.query([], { limit: 20, cursor: q.nextCursor });
      assert.equal(r.entries.length, 20);
      assert.equal(r.nextCursor, undefined);
    });

    it('gives the newest matches without counting, the same as the first page', () => {
      for (const q of ['', 'entity:story', 'action:CREATED,UPDATED', 'user:system entity:story']) {
        for (const limit of [1, 3, 100]) {
          assert.deepEqual(
            store.latest(q, limit).map((e) => e.id),
            store.query(q, { limit }).entries.map((e) => e.id),
            `${q} ${limit}`,
          );
        }
      }
      assert.deepEqual(store.latest('user:nobody'), []);
    });

    it('returns an empty page with total 0 when nothing matches', () => {
      assert.deepEqual(store.query('user:nobody'), { entries: [], total: 0 });
    });

    it('clamps the page size', () => {
      assert.equal(store.query([], { limit: 0 }).entries.length, 1);
      assert.equal(store.query([], { limit: -5 }).entries.length, 1);
      assert.equal(store.query([], { limit: 10_000 }).entries.length, 40);
    });

    it('rejects a cursor it did not give out, or one for the other order', () => {
      assert.throws(() => store.query([], { cursor: 'garbage' }), QueryError);
      const p = store.query([], { limit: 5 });
      assert.throws(() => store.query([], { cursor: p.nextCursor, order: 'asc' }), /continues a "desc" listing/);
    });

    it('keeps paging stable while entries are appended', async () => {
      const dir2 = tempDir();
      const s = await AuditStore.open(path.join(dir2, 'a.db'), { watch: false });
      try {
        await s.appendBatch(sampleEntries().slice(0, 10));
        const p1 = s.query([], { limit: 4 });
        assert.deepEqual(p1.entries.map((e) => e.id), [10, 9, 8, 7]);
        await s.appendBatch(sampleEntries().slice(0, 3));
        const p2 = s.query([], { limit: 4, cursor: p1.nextCursor });
        assert.deepEqual(p2.entries.map((e) => e.id), [6, 5, 4, 3]);
        assert.equal(p2.total, 13);
      } finally {
        await s.close();
        removeDir(dir2);
      }
    });

    it('pins "now" for relative times across the pages of one listing', () => {
      const realNow = Date.now;
      let now = T0 + 41 * 60_000;
      Date.now = () => now;
      try {
        const f: Filter[] = [{ column: 'timestamp', op: 'after', value: { relative: '10m' } }];
        const p1 = store.query(f, { limit: 3 });
        assert.equal(p1.total, 8); // recorded at T0+32m … T0+39m
        now += 5 * 60_000; // five minutes later, only 3 of them are in the last 10 minutes
        const p2 = store.query(f, { limit: 100, cursor: p1.nextCursor });
        assert.equal(p2.total, 8);
        assert.equal(p1.entries.length + p2.entries.length, 8);
        assert.equal(store.query(f).total, 3);
      } finally {
        Date.now = realNow;
      }
    });
  });

  it('lists distinct values for the dropdowns', () => {
    const d = store.distinct();
    assert.deepEqual(d.users, ['Bot/hello', 'dev@example.com', 'ops@example.com', 'system']);
    assert.deepEqual(d.actions, ['CREATED', 'UPDATED', 'DELETED', 'INVITED', 'ACCEPTED', 'LOGIN', 'LOGOUT', 'EXECUTED']);
    assert.deepEqual(d.entityNames, ['access', 'bot', 'card', 'story', 'story_group']);
    assert.deepEqual(d.bots, ['hello', 'nightly']);
  });

  it('gives the history of one entity, oldest first', () => {
    const h = store.history('story', '9');
    const want = all.filter((e) => e.entityName === 'story' && e.entityId === '9').map((e) => e.id);
    assert.ok(want.length >= 1);
    assert.deepEqual(h.map((e) => e.id), want);
    assert.deepEqual(store.history('story', 'nope'), []);
  });

  it('tells listeners about its own appends', async () => {
    const dir2 = tempDir();
    const s = await AuditStore.open(path.join(dir2, 'a.db'), { watch: false });
    try {
      const got: number[] = [];
      const sub = s.onDidAppend((es) => got.push(...es.map((e) => e.id)));
      await s.append(sampleEntries()[0]);
      await s.appendBatch(sampleEntries().slice(1, 3));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(got, [1, 2, 3]);
      sub.dispose();
      await s.append(sampleEntries()[0]);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(got, [1, 2, 3]);
    } finally {
      await s.close();
      removeDir(dir2);
    }
  });

  describe('export', () => {
    class Sink extends Writable {
      chunks: string[] = [];
      writes = 0;
      constructor() {
        super({ highWaterMark: 64, decodeStrings: false });
      }
      override _write(chunk: string | Buffer, _enc: BufferEncoding, cb: () => void): void {
        this.writes++;
        this.chunks.push(chunk.toString());
        setImmediate(cb); // slow consumer: exercises backpressure
      }
      text(): string {
        return this.chunks.join('');
      }
    }

    it('streams NDJSON of a filtered view', async () => {
      const sink = new Sink();
      const n = await store.exportTo('action:UPDATED', 'ndjson', sink);
      const lines = sink.text().trim().split('\n').map((l) => JSON.parse(l) as Entry);
      assert.equal(n, 5);
      assert.deepEqual(lines.map((e) => e.id), all.filter((e) => e.action === 'UPDATED').map((e) => e.id).reverse());
      assert.deepEqual(lines[0], all[lines[0].id - 1]);
    });

    it('streams CSV with quoting and a formula guard', async () => {
      const dir2 = tempDir();
      const s = await AuditStore.open(path.join(dir2, 'a.db'), { watch: false });
      try {
        await s.append({ user: '=HYPERLINK("x")', action: 'EXECUTED', entityName: 'bot', entityId: '1', outcome: 4, outcomeDesc: 'line 1\nline "2", done' });
        await s.append({ user: 'dev', action: 'LOGIN', entityName: 'access', entityId: '2' });
        const sink = new Sink();
        assert.equal(await s.exportTo([], 'csv', sink, { order: 'asc' }), 2);
        const text = sink.text();
        const [header] = text.split('\r\n');
        assert.match(header, /^id,uuid,timestamp,user,action,entity_name,entity_id,bot,outcome,outcome_name,/);
        assert.ok(text.includes(`"'=HYPERLINK(""x"")"`));
        assert.ok(text.includes('"line 1\nline ""2"", done"'));
        assert.ok(text.includes(',4,Minor failure,'));
        assert.equal(text.split('\r\n').filter(Boolean).length, 3);
      } finally {
        await s.close();
        removeDir(dir2);
      }
    });

    it('streams a FHIR R4 Bundle of AuditEvents', async () => {
      const sink = new Sink();
      const n = await store.exportTo('action:EXECUTED', 'fhir', sink, { order: 'asc' });
      assert.equal(n, 5);
      assert.ok(sink.writes > 2, 'written in pieces');
      const bundle = JSON.parse(sink.text()) as { resourceType: string; type: string; entry: { fullUrl: string; resource: Record<string, any> }[] };
      assert.equal(bundle.resourceType, 'Bundle');
      assert.equal(bundle.type, 'collection');
      assert.equal(bundle.entry.length, 5);
      const ev = bundle.entry[1].resource;
      const src = all[15];
      assert.equal(bundle.entry[1].fullUrl, `urn:uuid:${src.uuid}`);
      assert.equal(ev.resourceType, 'AuditEvent');
      assert.deepEqual(ev.type, { code: 'execute' });
      assert.equal(ev.action, 'E');
      assert.deepEqual(ev.period, { start: new Date(src.periodStart!).toISOString(), end: new Date(src.periodEnd!).toISOString() });
      assert.equal(ev.recorded, new Date(src.recorded).toISOString());
      assert.equal(ev.outcome, '4');
      assert.equal(ev.outcomeDesc, src.outcomeDesc);
      assert.deepEqual(ev.agent[0], { type: { text: 'bot' }, who: { display: 'nightly' }, requestor: false });
      assert.deepEqual(ev.agent[1], { type: { text: 'user' }, who: { display: src.user }, requestor: true });
      assert.deepEqual(ev.source, { observer: { display: 'nightly' } });
      assert.deepEqual(ev.entity[0], { what: { display: 'Bot/nightly' } });
      assert.ok(ev.entity[1].detail.some((d: { type: string; valueString: string }) => d.type === 'input' && d.valueString === src.input));
      assert.equal(ev.extension[0].extension[0].valueId, 'trace-15');
    });

    it('writes a valid empty document when nothing matches', async () => {
      const sink = new Sink();
      assert.equal(await store.exportTo('user:nobody', 'fhir', sink), 0);
      assert.equal((JSON.parse(sink.text()) as { entry: unknown[] }).entry.length, 0);
    });
  });
});

describe('caps', function () {
  this.timeout(20_000);
  it('keeps head and tail of long values with an explicit marker', () => {
    const s = 'A'.repeat(600) + 'B'.repeat(600);
    const c = capText(s, 500);
    assert.ok(Buffer.byteLength(c) <= 500);
    assert.match(c, /^A+…\[cut \d+ bytes\]…B+$/);
    assert.equal(c.replace(/…\[cut \d+ bytes\]…/, '').length + cutBytes(c), 1200);
    assert.equal(capText('short', 500), 'short');
    assert.equal(cutBytes('short'), 0);
  });

  it('never splits a UTF-8 character', () => {
    const s = '€'.repeat(1000); // 3 bytes each
    for (const cap of [300, 301, 302, 303]) {
      const c = capText(s, cap);
      assert.ok(!c.includes('\uFFFD'));
      assert.ok(Buffer.byteLength(c) <= cap);
      assert.equal(Buffer.byteLength(c.replace(/…\[cut \d+ bytes\]…/, '')) + cutBytes(c), 3000);
    }
  });

  it('stores oversized descriptions, inputs and snapshots capped, without blocking the log', async () => {
    const dir = tempDir();
    const s = await AuditStore.open(path.join(dir, 'a.db'), { watch: false, capBytes: 4096 });
    try {
      const big = 'x'.repeat(3000) + 'MIDDLE' + 'y'.repeat(3000);
      const t = Date.now();
      const e = await s.append({
        user: 'u',
        action: 'UPDATED',
        entityName: 'story',
        entityId: '1',
        outcomeDesc: big,
        input: big,
        before: { text: big },
        after: { small: true },
      });
      assert.ok(Date.now() - t < 2000);
      for (const v of [e.outcomeDesc!, e.input!, e.before as string]) {
        assert.equal(typeof v, 'string');
        assert.ok(Buffer.byteLength(v) <= 4096);
        assert.match(v, /…\[cut \d+ bytes\]…/);
        assert.ok(!v.includes('MIDDLE'));
      }
      assert.ok((e.before as string).startsWith('{"text":"xxx'));
      assert.deepEqual(e.after, { small: true });
      const next = await s.append({ user: 'u', action: 'CREATED', entityName: 'story', entityId: '2' });
      assert.equal(next.id, 2);
      assert.deepEqual(s.get(1), e);
      assert.equal(s.verify().ok, true);
      // A 20 MB input is cut to the cap too.
      const huge = await s.append({ user: 'u', action: 'EXECUTED', entityName: 'bot', entityId: '3', input: 'z'.repeat(20 << 20) });
      assert.ok(Buffer.byteLength(huge.input!) <= 4096);
      assert.equal(cutBytes(huge.input), (20 << 20) - Buffer.byteLength(huge.input!.replace(/…\[cut \d+ bytes\]…/, '')));
    } finally {
      await s.close();
      removeDir(dir);
    }
  });

  it('keeps values at the default cap (1 MiB) whole', async () => {
    const dir = tempDir();
    const s = await AuditStore.open(path.join(dir, 'a.db'), { watch: false });
    try {
      const v = 'q'.repeat(1 << 20);
      const e = await s.append({ user: 'u', action: 'EXECUTED', entityName: 'bot', entityId: '1', outcomeDesc: v });
      assert.equal(e.outcomeDesc, v);
      const e2 = await s.append({ user: 'u', action: 'EXECUTED', entityName: 'bot', entityId: '1', outcomeDesc: v + 'q' });
      assert.ok(cutBytes(e2.outcomeDesc) > 0);
    } finally {
      await s.close();
      removeDir(dir);
    }
  });

  it('fails with an IO error when the folder is not writable (skipped as root)', function () {
    if (process.getuid?.() === 0) this.skip(); // root ignores permissions
    const dir = tempDir();
    fs.chmodSync(dir, 0o500);
    return AuditStore.open(path.join(dir, 'a.db'), { watch: false, lockTimeoutMs: 500 })
      .then(
        () => assert.fail('should not open'),
        (e: unknown) => assert.ok(e instanceof StoreError && e.code === 'IO', String(e)),
      )
      .finally(() => {
        fs.chmodSync(dir, 0o700);
        removeDir(dir);
      });
  });
});

describe('who a bot acted for', function () {
  this.timeout(20_000);
  it('keeps onBehalfOf beside the bot’s user, inside the hash', async () => {
    const dir = tempDir();
    const store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    try {
      const e = await store.append({ user: 'Bot/crud', onBehalfOf: 'dev@example.com', action: 'CREATED', entityName: 'Patient', entityId: 'p-1', after: { resourceType: 'Patient' } });
      assert.equal(store.get(e.id)?.onBehalfOf, 'dev@example.com');
      const plain = await store.append({ user: 'dev@example.com', action: 'LOGIN', entityName: 'Session', entityId: 's' });
      assert.equal(store.get(plain.id)?.onBehalfOf, undefined);
      assert.equal(store.verify().ok, true);
      // One run's entries, by its trace ID.
      await store.append({ user: 'Bot/crud', action: 'UPDATED', entityName: 'Patient', entityId: 'p-1', traceId: 't-9' });
      const run = await store.append({ user: 'dev@example.com', action: 'EXECUTED', entityName: 'Bot', entityId: 'bots/crud.ts', traceId: 't-9', outcome: 0 });
      assert.deepEqual(store.byTrace('t-9').map((x) => x.id), [run.id - 1, run.id]);
      assert.deepEqual(store.byTrace('nope'), []);
      // Changing who it was on behalf of breaks the chain.
      store.unsafeExec("DROP TRIGGER entries_no_update");
      store.unsafeExec("UPDATE entries SET on_behalf_of = 'someone@else' WHERE id = 1");
      const v = store.verify();
      assert.equal(v.ok, false);
      assert.equal(v.firstBroken?.id, 1);
    } finally {
      await store.close();
      removeDir(dir);
    }
  });
});

describe('the last run of many bots at once (the Bots view, issue 20)', function () {
  this.timeout(20_000);
  it('lastRuns gives each bot the entry latest() of its runs filter gives, in one pass', async () => {
    const dir = tempDir();
    const store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    try {
      const runsOf = (entityId: string): Filter[] => [
        { column: 'action', op: 'oneOf', value: ['EXECUTED'] },
        { column: 'entityName', op: 'equals', value: 'Bot' },
        { column: 'entityId', op: 'equals', value: entityId },
      ];
      const ids = ['bots/a.ts', 'bots/b.ts', '123', 'medplum-id-1', 'bots/only-edited.ts', 'bots/never.ts'];
      for (let i = 0; i < 30; i++) {
        const entityId = ids[i % 4];
        await store.append({ user: 'dev@example.com', action: 'EXECUTED', entityName: 'Bot', entityId, outcome: i % 3 === 0 ? 8 : 0, outcomeDesc: `run ${i}` });
        // Newer entries that are not runs of these bots: other actions, another entity name with the same ID.
        await store.append({ user: 'dev@example.com', action: 'UPDATED', entityName: 'Bot', entityId });
        await store.append({ user: 'Bot/x', action: 'EXECUTED', entityName: 'Patient', entityId });
      }
      await store.append({ user: 'dev@example.com', action: 'UPDATED', entityName: 'Bot', entityId: 'bots/only-edited.ts' });
      const last = store.lastRuns(ids);
      for (const id of ids) assert.deepEqual(last.get(id), store.latest(runsOf(id), 1)[0], id);
      assert.deepEqual([...last.keys()].sort(), ['123', 'bots/a.ts', 'bots/b.ts', 'medplum-id-1']);
      assert.equal(last.get('bots/a.ts')?.outcomeDesc, 'run 28');
      assert.equal(store.lastRuns([]).size, 0);
    } finally {
      await store.close();
      removeDir(dir);
    }
  });
});
