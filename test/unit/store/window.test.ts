import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { AuditStore, LogWindow, StoreError, type Entry, type Filter, type NewEntry } from '../../../src/core/store';
import type { WindowSource } from '../../../src/core/store/window';
import { QueryError } from '../../../src/core/query';
import { rng as prng } from '../../../bench/data';
import { removeDir, T0, tempDir } from './helpers';

const HOUR = 3_600_000;
const SPAN = 16 * HOUR;
/** The pinned "now" of the windows with relative times: just after the last entry could be recorded. */
const NOW = T0 + SPAN + 60_000;

const ACTIONS = ['CREATED', 'UPDATED', 'DELETED', 'INVITED', 'ACCEPTED', 'LOGIN', 'LOGOUT', 'EXECUTED', 'EXECUTED', 'EXECUTED'] as const;
const NAMES = ['story', 'story_group', 'card', 'access', 'bot', 'Storyboard'];
const USERS = ['dev@example.com', 'system', 'ops@example.com'];

/** n entries with random actions, names, users and times (not in ID order, so time filters are not ID ranges). */
function randomEntries(n: number, seed: number): NewEntry[] {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  return Array.from({ length: n }, (_, i) => {
    const action = pick(ACTIONS);
    const e: NewEntry = { user: pick(USERS), action, entityName: pick(NAMES), entityId: String(1 + Math.floor(r() * 50)), recorded: T0 + Math.floor(r() * SPAN) };
    if (action === 'EXECUTED') {
      e.bot = 'nightly';
      e.outcome = pick([0, 4, 8, 12] as const);
      e.outcomeDesc = `run ${i}`;
    }
    return e;
  });
}

/** Reference semantics of the filters these tests use, written without the store's SQL. */
function matches(e: Entry, f: Filter, now: number): boolean {
  switch (f.column) {
    case 'action':
      return f.value.includes(e.action);
    case 'outcome':
      return e.outcome !== undefined && f.value.includes(e.outcome);
    case 'user':
      return f.op === 'equals' ? e.user === f.value : e.user !== f.value;
    case 'entityName': {
      const c = e.entityName.toLowerCase().includes(f.value.toLowerCase());
      return { equals: e.entityName === f.value, notEquals: e.entityName !== f.value, contains: c, notContains: !c }[f.op];
    }
    case 'timestamp': {
      assert.ok(typeof f.value === 'object');
      const m = /^(\d+)h$/.exec(f.value.relative);
      assert.ok(m, 'the reference knows hours only');
      const t = now - Number(m[1]) * HOUR;
      return f.op === 'after' ? e.recorded > t : e.recorded < t;
    }
    default:
      throw new Error(`not modelled: ${f.column}`);
  }
}

function expected(all: Entry[], w: LogWindow): Entry[] {
  const hit = all.filter((e) => e.id <= w.maxId && w.filters.every((f) => matches(e, f, w.now)));
  return w.order === 'desc' ? hit.reverse() : hit;
}

const ids = (es: Entry[]) => es.map((e) => e.id);

describe('LogWindow', function () {
  this.timeout(30_000);
  const N = 1500;
  let dir: string;
  let store: AuditStore;
  let all: Entry[];

  before(async () => {
    dir = tempDir();
    store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    all = await store.appendBatch(randomEntries(N, 7));
  });
  after(async () => {
    await store.close();
    removeDir(dir);
  });

  describe('without filters', () => {
    it('maps positions to IDs newest first, and clamps', () => {
      const w = store.window([]);
      assert.deepEqual([w.order, w.maxId, w.total], ['desc', N, N]);
      assert.deepEqual(ids(w.rows(0, 3)), [N, N - 1, N - 2]);
      assert.deepEqual(ids(w.rows(700, 4)), [N - 700, N - 701, N - 702, N - 703]);
      assert.deepEqual(ids(w.rows(N - 2, 10)), [2, 1]);
      assert.deepEqual(w.rows(N, 5), []);
      assert.deepEqual(w.rows(N + 100, 5), []);
      assert.deepEqual(ids(w.rows(-2, 4)), [N, N - 1]);
      assert.deepEqual(w.rows(5, 0), []);
      assert.deepEqual(w.rows(5, -3), []);
      assert.deepEqual(w.rows(700, 2), [all[N - 701], all[N - 702]]);
    });

    it('maps positions to IDs oldest first in "asc", and clamps', () => {
      const w = store.window('', { order: 'asc' });
      assert.deepEqual([w.order, w.total], ['asc', N]);
      assert.deepEqual(ids(w.rows(0, 3)), [1, 2, 3]);
      assert.deepEqual(ids(w.rows(700, 3)), [701, 702, 703]);
      assert.deepEqual(ids(w.rows(N - 2, 10)), [N - 1, N]);
      assert.deepEqual(w.rows(N, 1), []);
      assert.deepEqual(ids(w.rows(-1, 2)), [1]);
      assert.deepEqual(w.rows(10, 1), [all[10]]);
    });

    it('finds an ID by arithmetic', () => {
      const d = store.window([]);
      const a = store.window([], { order: 'asc' });
      assert.equal(d.indexOf(N), 0);
      assert.equal(d.indexOf(1), N - 1);
      assert.equal(a.indexOf(1), 0);
      assert.equal(a.indexOf(N), N - 1);
      for (const id of [0, -1, N + 1, 1.5, Number.NaN]) {
        assert.equal(d.indexOf(id), undefined, String(id));
        assert.equal(a.indexOf(id), undefined, String(id));
      }
      assert.equal(d.rows(d.indexOf(321)!, 1)[0].id, 321);
      assert.equal(a.rows(a.indexOf(321)!, 1)[0].id, 321);
    });
  });

  describe('with filters', () => {
    const queries: [string, Filter[] | string][] = [
      ['action is one of two values (merged branches)', 'action:UPDATED,DELETED'],
      ['entity contains', 'entity:~story'],
      ['a relative time', 'created:>now-5h'],
      ['several, with a user', 'action:EXECUTED,LOGIN user:ops@example.com -entity:card'],
      ['one of four outcomes', [{ column: 'outcome', op: 'oneOf', value: [4, 8, 12] }]],
    ];
    for (const [label, q] of queries) {
      for (const order of ['desc', 'asc'] as const) {
        it(`serves random requests like a brute-force filter: ${label}, ${order}`, () => {
          const w = store.window(q, { order, now: NOW });
          const want = expected(all, w);
          // The first page comes before the count, as the audit-log page asks for them.
          assert.deepEqual(ids(w.rows(0, 20)), ids(want.slice(0, 20)));
          assert.equal(w.total, want.length);
          assert.ok(want.length > 40 && want.length < N, `a useful filter (${want.length} matches)`);
          const r = prng(label.length * 31 + (order === 'asc' ? 1 : 0));
          let start = 0;
          let count = 20;
          for (let i = 0; i < 120; i++) {
            const kind = Math.floor(r() * 8);
            count = 1 + Math.floor(r() * 40);
            if (kind === 0) start = Math.floor(r() * (w.total + 20)) - 5; // anywhere, a little past both ends
            else if (kind === 1) start = w.total - count; // the last page
            else if (kind === 2) start = w.total - count + Math.floor(r() * 10) - 5; // around the end
            else if (kind === 3) start = Math.floor(r() * 10); // back to the top
            else if (kind === 4) start = Math.max(0, start - count); // the page before
            else start += count; // the page after (half of the moves: scrolling)
            const got = w.rows(start, count);
            const lo = Math.max(0, start);
            assert.deepEqual(ids(got), ids(want.slice(lo, Math.max(lo, start + count))), `request ${i}: rows(${start}, ${count})`);
          }
          assert.deepEqual(w.rows(0, w.total), want);
        });
      }
    }

    it('agrees with rows() in indexOf, on a fresh window and after paging', () => {
      for (const order of ['desc', 'asc'] as const) {
        const w = store.window('action:UPDATED,DELETED entity:~story', { order });
        const want = ids(expected(all, w));
        const check = () => {
          for (let id = 1; id <= N; id += 7) {
            const pos = w.indexOf(id);
            assert.equal(pos, want.includes(id) ? want.indexOf(id) : undefined, `indexOf(${id}) in ${order}`);
            if (pos !== undefined) assert.equal(w.rows(pos, 1)[0].id, id);
          }
        };
        check();
        w.rows(10, 20);
        w.rows(w.total - 15, 15);
        check();
        assert.equal(w.indexOf(want[3]), 3);
        assert.equal(w.indexOf(0), undefined);
        assert.equal(w.indexOf(N + 1), undefined);
      }
    });

    it('serves a broad query\'s pages before counting it, and counts it when asked', async () => {
      // A store that takes more than 40 matches as broad (the default is 2,000).
      const d = tempDir();
      const broad = await AuditStore.open(path.join(d, 'audit.db'), { watch: false, autoCheckpoint: false, broadAbove: 40 });
      try {
        const mine = await broad.appendBatch(randomEntries(N, 7));
        for (const [label, q] of queries) {
          const w = broad.window(q, { now: NOW });
          const want = ids(expected(mine, w));
          assert.equal(w.totalKnown, false, label);
          assert.deepEqual(ids(w.rows(0, 30)), want.slice(0, 30), label);
          assert.deepEqual(ids(w.rows(30, 25)), want.slice(30, 55), label);
          assert.deepEqual(ids(w.rows(10, 5)), want.slice(10, 15), label);
          assert.equal(w.totalKnown, false, `${label}: no count yet`);
          // A walk that comes back short has found the end, and so the count.
          assert.deepEqual(ids(w.rows(want.length - 7, 50)), want.slice(-7), label);
          assert.equal(w.totalKnown, true, label);
          assert.equal(w.total, want.length, label);
          // Asked for, the count is counted (and remembered: the next window knows it at once).
          const v = broad.window(q, { order: 'asc', now: NOW });
          assert.equal(v.totalKnown, false, label);
          assert.equal(v.total, want.length, label);
          assert.deepEqual(ids(v.rows(want.length - 3, 10)), [...want].reverse().slice(-3), label);
          const u = broad.window(q, { now: NOW });
          assert.equal(u.totalKnown, true, label);
          assert.equal(u.total, want.length, label);
        }
        // A narrow query is counted at once: its count costs no more than a page.
        const narrow = broad.window('user:ops@example.com action:LOGIN entity:card');
        const n = mine.filter((e) => e.user === 'ops@example.com' && e.action === 'LOGIN' && e.entityName === 'card').length;
        assert.ok(n > 0 && n <= 40, `${n} matches`);
        assert.equal(narrow.totalKnown, true);
        assert.equal(narrow.total, n);
      } finally {
        await broad.close();
        removeDir(d);
      }
    });

    it('keeps its filters apart from the caller\'s array', () => {
      const fl: Filter[] = [{ column: 'action', op: 'oneOf', value: ['UPDATED'] }];
      const w = store.window(fl);
      const before = ids(w.rows(0, 10));
      (fl[0].value as string[]).push('LOGIN');
      fl.push({ column: 'user', op: 'equals', value: 'system' });
      assert.deepEqual(ids(w.rows(0, 10)), before);
      assert.deepEqual(w.filters, [{ column: 'action', op: 'oneOf', value: ['UPDATED'] }]);
    });
  });

  it('throws QueryError on bad query text and bad options', () => {
    assert.throws(() => store.window('action:NOPE'), QueryError);
    assert.throws(() => store.window('created:>yesterday'), QueryError);
    assert.throws(() => store.window([{ column: 'id', op: 'equals', value: -1 }]), QueryError);
    assert.throws(() => store.window([], { order: 'sideways' as never }), QueryError);
    assert.throws(() => store.window([], { now: Number.NaN }), QueryError);
  });

  describe('while the log grows', () => {
    let d2: string;
    let s2: AuditStore;
    let first: Entry[];
    beforeEach(async () => {
      d2 = tempDir();
      s2 = await AuditStore.open(path.join(d2, 'audit.db'), { watch: false, autoCheckpoint: false });
      first = await s2.appendBatch(randomEntries(300, 11));
    });
    afterEach(async () => {
      await s2.close();
      removeDir(d2);
    });

    it('keeps positions stable and counts the new matches', async () => {
      const q = 'action:UPDATED,EXECUTED';
      const windows = [s2.window(q), s2.window(q, { order: 'asc' }), s2.window([]), s2.window([], { order: 'asc' })];
      const snap = windows.map((w) => ({ total: w.total, ids: ids(w.rows(0, w.total)), mid: w.rows(Math.floor(w.total / 2), 7), at: w.indexOf(150) }));
      for (const w of windows) assert.equal(w.newSince(), 0);
      const more = await s2.appendBatch(randomEntries(120, 12));
      const moreMatching = more.filter((e) => e.action === 'UPDATED' || e.action === 'EXECUTED').length;
      assert.ok(moreMatching > 0);
      windows.forEach((w, i) => {
        assert.equal(w.maxId, 300);
        assert.equal(w.total, snap[i].total);
        assert.deepEqual(ids(w.rows(0, w.total + 50)), snap[i].ids, `window ${i}`);
        assert.deepEqual(w.rows(Math.floor(w.total / 2), 7), snap[i].mid);
        assert.equal(w.indexOf(150), snap[i].at);
        assert.equal(w.indexOf(301), undefined);
        assert.equal(w.newSince(), i < 2 ? moreMatching : 120, `window ${i}`);
      });
      // A window opened now sees them.
      const fresh = s2.window(q);
      assert.equal(fresh.total, snap[0].total + moreMatching);
      assert.deepEqual(ids(fresh.rows(moreMatching, 5)), snap[0].ids.slice(0, 5));
      assert.deepEqual(ids(fresh.rows(0, moreMatching)), ids([...more].reverse().filter((e) => e.action === 'UPDATED' || e.action === 'EXECUTED')));
      assert.equal(first.length, 300);
    });

    it('counts new matches with its pinned "now"', async () => {
      const w = s2.window('created:>now-5h', { now: NOW });
      const want = expected(first, w);
      assert.equal(w.total, want.length);
      await s2.appendBatch([
        { user: 'u', action: 'LOGIN', entityName: 'access', entityId: '1', recorded: NOW - 1000 },
        { user: 'u', action: 'LOGIN', entityName: 'access', entityId: '1', recorded: NOW - 6 * HOUR },
        { user: 'u', action: 'LOGIN', entityName: 'access', entityId: '1', recorded: NOW - 4 * HOUR },
      ]);
      assert.equal(w.newSince(), 2);
      assert.deepEqual(ids(w.rows(0, w.total)), ids(want));
    });

    it('throws like other reads once the store is closed', async () => {
      const w = s2.window('action:UPDATED');
      const u = s2.window([]);
      assert.ok(w.rows(0, 5).length > 0);
      await s2.close();
      for (const fn of [() => w.rows(0, 5), () => u.rows(0, 5), () => w.indexOf(3), () => w.newSince(), () => u.newSince(), () => s2.window([])]) {
        assert.throws(fn, (e: unknown) => e instanceof StoreError && e.code === 'CLOSED');
      }
    });

    it('is empty on an empty log', async () => {
      const d3 = tempDir();
      const s3 = await AuditStore.open(path.join(d3, 'audit.db'), { watch: false });
      try {
        for (const w of [s3.window([]), s3.window('action:UPDATED', { order: 'asc' })]) {
          assert.deepEqual([w.maxId, w.total, w.rows(0, 10), w.indexOf(1), w.newSince()], [0, 0, [], undefined, 0]);
        }
      } finally {
        await s3.close();
        removeDir(d3);
      }
    });
  });

  describe('planning (over a recording source)', () => {
    /** A source over an array that answers like the store and records each page request. */
    function recording(entries: Entry[], keep: (e: Entry) => boolean) {
      const calls: { after: number | undefined; order: string; limit: number; offset: number }[] = [];
      const source: WindowSource = {
        ready: () => undefined,
        lastId: () => entries.length,
        count: (fl) => entries.filter((e) => keep(e) && fl.every((f) => f.column !== 'id' || (f.op === 'lessThan' ? e.id < f.value : f.op === 'greaterThan' ? e.id > f.value : e.id === f.value))).length,
        quickCount: () => undefined, // every query here is broad: counted only when asked
        page: (fl, _now, _total, after, order, limit, offset) => {
          calls.push({ after, order, limit, offset });
          // At most one upper bound on the ID: SQLite would seek by one and filter by the other.
          const bounds = fl.filter((f) => f.column === 'id' && f.op === 'lessThan');
          assert.equal(bounds.length + (order === 'desc' && after !== undefined ? 1 : 0), 1, `one upper bound on the ID, ${JSON.stringify({ fl, after, order })}`);
          const bound = bounds.length ? (bounds[0].value as number) : Infinity;
          let hit = entries.filter((e) => keep(e) && e.id < bound && (after === undefined || (order === 'desc' ? e.id < after : e.id > after)));
          if (order === 'desc') hit = hit.reverse();
          return hit.slice(offset, offset + limit);
        },
      };
      return { source, calls };
    }

    const even = (e: Entry) => e.id % 2 === 0;

    it('continues from a served page by keyset, with no or a short OFFSET', () => {
      const { source, calls } = recording(all, even);
      const w = new LogWindow(source, [{ column: 'user', op: 'notEquals', value: 'nobody' }], {});
      assert.equal(w.total, N / 2);
      assert.deepEqual(ids(w.rows(0, 10)), [1500, 1498, 1496, 1494, 1492, 1490, 1488, 1486, 1484, 1482]);
      assert.deepEqual(calls.pop(), { after: 1501, order: 'desc', limit: 10, offset: 0 });
      assert.deepEqual(ids(w.rows(10, 3)), [1480, 1478, 1476]);
      assert.deepEqual(calls.pop(), { after: 1482, order: 'desc', limit: 3, offset: 0 });
      assert.deepEqual(ids(w.rows(20, 2)), [1460, 1458]);
      assert.deepEqual(calls.pop(), { after: 1476, order: 'desc', limit: 2, offset: 7 });
      // The same page again: from its first row, inclusive.
      assert.deepEqual(ids(w.rows(10, 3)), [1480, 1478, 1476]);
      assert.deepEqual(calls.pop(), { after: 1481, order: 'desc', limit: 3, offset: 0 });
      // The page before a known one: backwards from it.
      assert.deepEqual(ids(w.rows(17, 3)), [1466, 1464, 1462]);
      assert.deepEqual(calls.pop(), { after: 1460, order: 'asc', limit: 3, offset: 0 });
    });

    it('serves the far end backwards from the end, and the middle by an OFFSET walk', () => {
      const { source, calls } = recording(all, even);
      const w = new LogWindow(source, [{ column: 'user', op: 'notEquals', value: 'nobody' }], { order: 'asc' });
      assert.deepEqual(ids(w.rows(w.total - 3, 5)), [1496, 1498, 1500]);
      assert.deepEqual(calls.pop(), { after: 1501, order: 'desc', limit: 3, offset: 0 });
      assert.deepEqual(ids(w.rows(w.total - 13, 10)), [1476, 1478, 1480, 1482, 1484, 1486, 1488, 1490, 1492, 1494]);
      assert.deepEqual(calls.pop(), { after: 1496, order: 'desc', limit: 10, offset: 0 });
      assert.deepEqual(ids(w.rows(300, 2)), [602, 604]);
      assert.deepEqual(calls.pop(), { after: undefined, order: 'asc', limit: 2, offset: 300 });
      assert.deepEqual(ids(w.rows(400, 2)), [802, 804]);
      assert.deepEqual(calls.pop(), { after: 604, order: 'asc', limit: 2, offset: 98 });
      assert.equal(w.indexOf(1000), 499);
      assert.deepEqual(ids(w.rows(500, 1)), [1002]);
      assert.deepEqual(calls.pop(), { after: 1000, order: 'asc', limit: 1, offset: 0 });
    });

    it('remembers a bounded number of anchors', () => {
      const { source, calls } = recording(all, even);
      const w = new LogWindow(source, [{ column: 'user', op: 'notEquals', value: 'nobody' }], {});
      for (let p = 0; p < 700; p += 2) w.rows(p, 1);
      const anchors = (w as unknown as { anchors: Map<number, number> }).anchors;
      assert.ok(anchors.size <= 256, `${anchors.size} anchors`);
      assert.ok(anchors.has(698) && !anchors.has(0));
      calls.length = 0;
      assert.deepEqual(ids(w.rows(1, 1)), [1498]);
      assert.deepEqual(calls.pop(), { after: 1501, order: 'desc', limit: 1, offset: 1 });
    });
  });
});
