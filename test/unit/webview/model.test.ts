// The audit-log page's pure parts, in Node: columns, time, virtual scrolling, the row cache, the
// page queue, the detail cache, filter rows ↔ query text, links and the outcome-description reader.
import * as assert from 'node:assert/strict';
import { outcomeSummary, parseOutcomeDesc, STACK_LOCATION_RE } from '../../../src/core/format/outcomeDesc';
import { QueryError } from '../../../src/core/query';
import { decodeLogLink, encodeLogLink } from '../../../src/panels/links';
import { asPageState, isWebviewCommand, type EntryDetail, type EntryRow } from '../../../src/panels/protocol';
import {
  columnsFor,
  completeFilter,
  DetailCache,
  formatCount,
  formatTimestamp,
  fromDateTimeInput,
  gridTemplate,
  layout,
  MAX_SCROLL_PX,
  newDraft,
  PAGE_SIZE,
  PageQueue,
  partsFromQuery,
  queryFromParts,
  RowCache,
  scrollIntoView,
  scrollTopFor,
  toDateTimeInput,
  zoneLabel,
} from '../../../webview/auditLog/model';

const row = (id: number): EntryRow => ({ id, user: 'u', action: 'CREATED', entityName: 'story', entityId: String(id), recorded: 0 });

describe('audit log page: columns', () => {
  it('bot events use Medplum’s Event-tab columns, the log all of them, history a compare column', () => {
    assert.deepEqual(
      columnsFor({ kind: 'botEvents', bot: 'b', query: '' }).map((c) => c.label),
      ['ID', 'Outcome', 'Outcome Desc', 'Last Updated'],
    );
    assert.deepEqual(
      columnsFor({ kind: 'log' }).map((c) => c.key),
      ['id', 'user', 'action', 'entityName', 'entityId', 'recorded', 'bot', 'outcome', 'desc'],
    );
    assert.equal(columnsFor({ kind: 'history', entityName: 'story', entityId: '1' })[0].key, 'compare');
  });

  it('builds a grid template from saved widths, with a floor, the last column flexible', () => {
    const cols = columnsFor({ kind: 'botEvents', bot: 'b', query: '' });
    assert.equal(gridTemplate(cols, { id: 90, outcome: 3 }), '90px 40px 240px minmax(184px, 1fr)');
  });
});

describe('audit log page: time', () => {
  const t = Date.UTC(2026, 10, 23, 19, 5, 2, 345);
  it('formats UTC the same width in every row', () => {
    assert.equal(formatTimestamp(t, true), '2026-11-23 19:05:02');
    for (const n of [0, 7, 999, 1000, 20005, 999999, 1000005, 123456789]) assert.equal(formatCount(n), n.toLocaleString('en-US'));
    assert.equal(formatTimestamp(Date.UTC(2026, 0, 1, 0, 0, 0), true), '2026-01-01 00:00:00');
  });
  it('names the zone in the header', () => {
    assert.equal(zoneLabel(true), 'UTC');
    assert.match(zoneLabel(false, t, 'Europe/Berlin'), /^UTC[+-]\d\d:\d\d Europe\/Berlin$/);
  });
  it('round-trips a date-time input in UTC and local time', () => {
    const whole = Math.floor(t / 1000) * 1000;
    for (const utc of [true, false]) assert.equal(fromDateTimeInput(toDateTimeInput(whole, utc), utc), whole);
    assert.equal(fromDateTimeInput('2026-11-23T19:05', true), Date.UTC(2026, 10, 23, 19, 5));
    assert.equal(fromDateTimeInput('', true), undefined);
    assert.equal(fromDateTimeInput('yesterday', true), undefined);
  });
});

describe('audit log page: virtual scrolling', () => {
  const H = 24;
  it('maps 1:1 for small results and draws only what is in view', () => {
    const l = layout(1000, H, 480, 2400);
    assert.equal(l.height, 24_000);
    assert.equal(l.first, 98); // row 100 at the top, two rows of overscan
    assert.equal(l.top, 98 * H);
    assert.ok(l.count <= 480 / H + 1 + 4);
  });

  it('reaches the first and the last of a million rows with a capped scroller', () => {
    const total = 1_000_000;
    const vp = 600;
    const top = layout(total, H, vp, 0, 0);
    assert.equal(top.height, MAX_SCROLL_PX);
    assert.equal(top.first, 0);
    const end = layout(total, H, vp, MAX_SCROLL_PX - vp, 0);
    // The last row is drawn inside the viewport.
    assert.ok(end.first + end.count >= total, `last drawn ${end.first + end.count}`);
    const lastY = end.top + (total - 1 - end.first) * H - (MAX_SCROLL_PX - vp);
    assert.ok(lastY >= 0 && lastY + H <= vp, `last row at ${lastY}`);
    // Halfway down is halfway through the rows.
    const mid = layout(total, H, vp, (MAX_SCROLL_PX - vp) / 2, 0);
    assert.ok(Math.abs(mid.first - (total - vp / H) / 2) < 2, String(mid.first));
  });

  it('scrollTopFor and layout agree, scaled or not', () => {
    for (const total of [500, 1_000_000]) {
      for (const index of [0, 7, Math.floor(total / 3), total - 30]) {
        const st = scrollTopFor(index, total, H, 600);
        assert.equal(layout(total, H, 600, st, 0).first, index, `${total}/${index}`);
      }
    }
  });

  it('scrolls as little as needed to bring a row into view', () => {
    assert.equal(scrollIntoView(5, 1000, H, 480, 0), 0);
    assert.equal(scrollIntoView(25, 1000, H, 480, 0), (25 - 20 + 1) * H);
    assert.equal(scrollIntoView(3, 1000, H, 480, 10 * H), 3 * H);
  });

  it('draws nothing for an empty result', () => {
    assert.deepEqual(layout(0, H, 480, 0), { height: 0, first: 0, top: 0, count: 0 });
  });
});

describe('audit log page: row cache', () => {
  it('serves rows by position and asks only for missing pages, once', () => {
    const c = new RowCache(1000);
    c.put(0, Array.from({ length: PAGE_SIZE }, (_, i) => row(1000 - i)));
    assert.equal(c.get(5)?.id, 995);
    assert.equal(c.get(150), undefined);
    assert.deepEqual(c.missing(0, 250), [1, 2]);
    assert.deepEqual(c.missing(0, 250), [], 'asked pages are not asked again');
    c.unask(2);
    assert.deepEqual(c.missing(0, 250), [2]);
    c.put(100, Array.from({ length: PAGE_SIZE }, (_, i) => row(900 - i)));
    assert.equal(c.get(100)?.id, 900);
    assert.equal(c.find(899), 101);
  });

  it('keeps a bounded number of pages, dropping the least recently used', () => {
    const c = new RowCache(100_000, 3);
    for (let p = 0; p < 5; p++) c.put(p * PAGE_SIZE, Array.from({ length: PAGE_SIZE }, (_, i) => row(p * PAGE_SIZE + i + 1)));
    assert.equal(c.pageCount, 3);
    assert.equal(c.get(0), undefined);
    assert.equal(c.get(4 * PAGE_SIZE)?.id, 401);
  });

  it('treats a short last page as complete', () => {
    const c = new RowCache(130);
    c.put(100, Array.from({ length: 30 }, (_, i) => row(i + 1)));
    assert.deepEqual(c.missing(100, 130), []);
  });

  it('takes a count that comes after the first page, keeping its rows', () => {
    // A broad query: the first page comes with "at least 100", the count after.
    const c = new RowCache(100);
    c.put(0, Array.from({ length: PAGE_SIZE }, (_, i) => row(5000 - i)));
    assert.deepEqual(c.missing(0, 300), [], 'nothing past the rows in hand yet');
    c.setTotal(250);
    assert.equal(c.total, 250);
    assert.equal(c.get(99)?.id, 4901);
    assert.deepEqual(c.missing(0, 300), [1, 2]);
  });
});

describe('audit log page: page queue', () => {
  const unasked: number[] = [];
  const cache = { unask: (p: number) => unasked.push(p) };
  beforeEach(() => {
    unasked.length = 0;
  });

  it('asks for two pages at a time, nearest the view first, and for more as answers come', () => {
    const q = new PageQueue();
    q.want([0, 1, 2, 3]);
    assert.deepEqual(q.next(2 * PAGE_SIZE, cache), [2, 1]);
    assert.equal(q.inFlight, 2);
    assert.deepEqual(q.next(2 * PAGE_SIZE, cache), [], 'no more while two are awaited');
    q.answered();
    assert.deepEqual(q.next(2 * PAGE_SIZE, cache), [3]);
    q.answered();
    q.answered();
    assert.deepEqual(q.next(2 * PAGE_SIZE, cache), [0]);
    assert.deepEqual(unasked, []);
  });

  it('drops the pages the view has left far behind, and has the cache forget them', () => {
    const q = new PageQueue();
    q.want([0, 1, 10, 11]);
    // The view is at page 11 by the time the pages are asked for: 0 and 1 are more than 3 pages away.
    assert.deepEqual(q.next(11 * PAGE_SIZE, cache), [11, 10]);
    q.answered();
    q.answered();
    assert.deepEqual(q.next(11 * PAGE_SIZE, cache), []);
    assert.deepEqual(unasked.sort((a, b) => a - b), [0, 1]);
  });

  it('forgets what was wanted and awaited when a new query starts', () => {
    const q = new PageQueue();
    q.want([0, 1, 2]);
    assert.deepEqual(q.next(0, cache), [0, 1]);
    q.reset();
    assert.equal(q.inFlight, 0);
    assert.deepEqual(q.next(0, cache), [], 'page 2 is no longer wanted');
    q.answered();
    assert.equal(q.inFlight, 0, 'a late answer does not count below zero');
  });
});

describe('audit log page: detail cache', () => {
  const detailOf = (id: number): EntryDetail => ({ ...row(id), uuid: `u${id}`, hash: 'h', prevHash: 'p' });

  it('asks the host once per entry, whoever waits, and keeps the answer', async () => {
    const asked: number[] = [];
    const c = new DetailCache((id) => asked.push(id));
    const a = c.get(7);
    const b = c.get(7);
    assert.deepEqual(asked, [7]);
    c.answer(7, detailOf(7));
    assert.equal((await a).entry?.id, 7);
    assert.equal((await b).entry?.id, 7);
    assert.equal((await c.get(7)).entry?.uuid, 'u7');
    assert.deepEqual(asked, [7], 'a kept answer is not asked again');
  });

  it('gives an error to everyone waiting, keeps nothing, and asks again next time', async () => {
    const asked: number[] = [];
    const c = new DetailCache((id) => asked.push(id));
    const a = c.get(3);
    c.answer(3, undefined, 'no such entry');
    assert.deepEqual(await a, { entry: undefined, error: 'no such entry' });
    assert.equal(c.size, 0);
    void c.get(3);
    assert.deepEqual(asked, [3, 3]);
  });

  it('keeps the last answers only, dropping the oldest', async () => {
    const asked: number[] = [];
    const c = new DetailCache((id) => asked.push(id), 2);
    for (const id of [1, 2, 3]) {
      void c.get(id);
      c.answer(id, detailOf(id));
    }
    assert.equal(c.size, 2);
    void c.get(1);
    assert.deepEqual(asked, [1, 2, 3, 1], 'the oldest was dropped');
    assert.equal((await c.get(3)).entry?.id, 3);
  });
});

describe('audit log page: detail cache across logs', () => {
  it('forgets every entry when another log opens, answers those waiting, and drops the old log\'s late answers', async () => {
    const asked: number[] = [];
    const c = new DetailCache((id) => asked.push(id));
    const local = (id: number): EntryDetail => ({ ...row(id), user: 'local', uuid: `l${id}`, hash: 'h', prevHash: 'p' });
    void c.get(5);
    c.answer(5, local(5));
    const waiting = c.get(6);
    c.clear('another log was opened');
    assert.deepEqual(await waiting, { entry: undefined, error: 'another log was opened' });
    assert.equal(c.size, 0);
    c.answer(6, local(6)); // the local log's answer, late
    assert.equal(c.size, 0, 'a late answer of the last log is not kept');
    const team = c.get(5);
    assert.deepEqual(asked, [5, 6, 5], 'entry 5 is asked again, of the team log');
    c.answer(5, { ...local(5), user: 'team', uuid: 't5' });
    assert.equal((await team).entry?.uuid, 't5');
  });
});

describe('audit log page: filter rows and query text', () => {
  it('round-trips rows, search text and query text', () => {
    const q = 'action:UPDATED,DELETED entity:~story -user:system created:>now-7d outcome:8,12 "time out"';
    const parts = partsFromQuery(q);
    assert.equal(parts.search, 'time out');
    assert.deepEqual(
      parts.drafts.map((d) => d.column),
      ['action', 'entityName', 'user', 'timestamp', 'outcome'],
    );
    assert.equal(queryFromParts(parts.drafts, parts.search), q);
  });

  it('leaves incomplete rows out of the text until they have a value', () => {
    const d = newDraft('user');
    assert.equal(d.op, 'equals');
    assert.equal(completeFilter(d), undefined);
    assert.equal(queryFromParts([d, { column: 'action', op: 'oneOf', value: [] }], ''), '');
    d.value = 'dev@example.com';
    assert.equal(queryFromParts([d], ''), 'user:dev@example.com');
    assert.equal(queryFromParts([{ column: 'timestamp', op: 'after', value: { relative: '15m' } }], 'boom'), 'created:>now-15m "boom"');
  });

  it('says what is wrong with bad text, and where', () => {
    assert.throws(() => partsFromQuery('action:SMILED'), (e: unknown) => e instanceof QueryError && /SMILED/.test(e.message) && e.position === 7);
  });
});

describe('audit log links', () => {
  it('round-trips every variant, a query, an order and an entry', () => {
    const links = [
      { variant: { kind: 'log' as const }, query: 'action:UPDATED "x y"', order: 'asc' as const, entry: 42 },
      { variant: { kind: 'botEvents' as const, bot: 'hello', query: 'bot:hello' }, query: '' },
      { variant: { kind: 'history' as const, entityName: 'story', entityId: '7' }, query: '', entry: 3 },
    ];
    for (const l of links) assert.deepEqual(decodeLogLink(encodeLogLink(l)), l);
  });

  it('refuses bad links with a reason', () => {
    assert.throws(() => decodeLogLink('entry=abc'), /not an entry ID/);
    assert.throws(() => decodeLogLink('order=sideways'), /order/);
    assert.throws(() => decodeLogLink('variant=%7B%22kind%22%3A%22nope%22%7D'), /variant/);
    assert.throws(() => decodeLogLink('variant=nope'), /not JSON/);
  });
});

describe('audit log protocol guards', () => {
  it('accepts the page’s commands and drops anything else', () => {
    assert.ok(isWebviewCommand({ type: 'query', seq: 1, query: '', order: 'desc' }));
    assert.ok(isWebviewCommand({ type: 'rows', seq: 1, start: 0, count: 100 }));
    assert.ok(!isWebviewCommand({ type: 'query', seq: 1, query: '', order: 'sideways' }));
    assert.ok(!isWebviewCommand({ type: 'rows', seq: 1, start: '0', count: 100 }));
    assert.ok(!isWebviewCommand({ type: 'rows', seq: 1, start: Number.NaN, count: 100 }));
    assert.ok(!isWebviewCommand({ type: 'export', format: 'xml', query: '' }));
    assert.ok(!isWebviewCommand({ type: 'toString' }));
    assert.ok(!isWebviewCommand(null));
  });

  it('reads saved page state defensively', () => {
    assert.equal(asPageState({ query: 1 }), undefined);
    assert.equal(asPageState({ query: '', order: 'desc', variant: { kind: 'weird' } }), undefined);
    const s = asPageState({ query: 'x', order: 'asc', variant: { kind: 'log' }, hidden: ['user', 3] });
    assert.deepEqual(s?.hidden, ['user']);
    assert.equal(s?.detailOpen, true);
  });
});

describe('outcome descriptions', () => {
  const desc = [
    "TypeError: Cannot read properties of undefined (reading 'x')",
    '    at handler (/ws/bots/broken-bot.ts:12:5)',
    '',
    '2026-11-23T16:30:00.123Z [info] starting',
    '2026-11-23T16:30:00.200Z [warn] careful',
  ].join('\n');
  it('reads printed lines, levels and stack frames', () => {
    const lines = parseOutcomeDesc(desc);
    assert.equal(lines[1].frame, true);
    assert.deepEqual(lines[3], { time: '2026-11-23T16:30:00.123Z', level: 'info', text: 'starting' });
    assert.equal(lines[4].level, 'warn');
    const loc = [...lines[1].text.matchAll(STACK_LOCATION_RE)][0];
    assert.deepEqual([loc[1], loc[2], loc[3]], ['/ws/bots/broken-bot.ts', '12', '5']);
  });
  it('summarises with the first line, without the log timestamp', () => {
    assert.equal(outcomeSummary(desc), "TypeError: Cannot read properties of undefined (reading 'x')");
    assert.equal(outcomeSummary('2026-11-23T16:30:00.123Z [info] Hello, Ada'), 'Hello, Ada');
    assert.equal(outcomeSummary('2026-11-23T16:30:00.123Z [warn] low disk'), '[warn] low disk');
    assert.equal(outcomeSummary(undefined), undefined);
    assert.equal(outcomeSummary(''), '');
  });
});
