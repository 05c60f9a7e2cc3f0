// The audit-log page's pure parts: columns, time formatting, the virtual scroll arithmetic, the
// row cache, the queue of pages asked for, the detail cache and the filter-row drafts. No DOM here,
// so the unit tests run it in Node.
import { columnSpec, formatQuery, parseQuery, type Column, type Filter } from '../../src/core/query';
import type { EntryDetail, EntryRow, LogVariant } from '../../src/panels/protocol';

// ------------------------------------------------------------------ columns

export type ColumnKey = 'compare' | 'id' | 'user' | 'action' | 'entityName' | 'entityId' | 'recorded' | 'bot' | 'outcome' | 'desc';

export interface ColumnDef {
  key: ColumnKey;
  label: string;
  width: number;
  /** Can't be hidden. */
  fixed?: boolean;
}

const ALL: Record<ColumnKey, ColumnDef> = {
  compare: { key: 'compare', label: 'Compare', width: 76, fixed: true },
  id: { key: 'id', label: 'ID', width: 72, fixed: true },
  user: { key: 'user', label: 'User', width: 160 },
  action: { key: 'action', label: 'Action', width: 96 },
  entityName: { key: 'entityName', label: 'Entity Name', width: 120 },
  entityId: { key: 'entityId', label: 'Entity ID', width: 120 },
  recorded: { key: 'recorded', label: 'Timestamp', width: 184 },
  bot: { key: 'bot', label: 'Bot', width: 104 },
  outcome: { key: 'outcome', label: 'Outcome', width: 116 },
  desc: { key: 'desc', label: 'Outcome Desc', width: 240 },
};

/** The columns of a variant, in order. Bot events use Medplum's Event tab: ID, Outcome, Outcome Desc, Last Updated. */
export function columnsFor(variant: LogVariant): ColumnDef[] {
  switch (variant.kind) {
    case 'botEvents':
      return [ALL.id, ALL.outcome, ALL.desc, { ...ALL.recorded, label: 'Last Updated' }];
    case 'history':
      return [ALL.compare, ALL.id, ALL.user, ALL.action, ALL.recorded, ALL.bot, ALL.outcome, ALL.desc];
    case 'log':
      return [ALL.id, ALL.user, ALL.action, ALL.entityName, ALL.entityId, ALL.recorded, ALL.bot, ALL.outcome, ALL.desc];
  }
}

export const MIN_COLUMN_WIDTH = 40;

/** A column's width in px: the user's, else its default; never under MIN_COLUMN_WIDTH. */
export function columnWidth(c: ColumnDef, widths: Record<string, number>): number {
  return Math.max(MIN_COLUMN_WIDTH, Math.round(widths[c.key] ?? c.width));
}

/** The CSS grid template for the visible columns: fixed widths, the last one takes what is left. */
export function gridTemplate(cols: readonly ColumnDef[], widths: Record<string, number>): string {
  return cols
    .map((c, i) => {
      const w = columnWidth(c, widths);
      return i === cols.length - 1 ? `minmax(${w}px, 1fr)` : `${w}px`;
    })
    .join(' ');
}

// ------------------------------------------------------------------ time

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * `1,000,005`: a count with thousands separators. Written out rather than `toLocaleString`, whose
 * first call loads ICU's number formats (tens of ms) on the way to the first rows.
 */
export function formatCount(n: number): string {
  const s = String(Math.trunc(n));
  return s.replace(/\B(?=(\d{3})+$)/g, ',');
}

/** `2026-11-23 19:05:02` in UTC or local time: sortable, compact, the same width in every row. */
export function formatTimestamp(ms: number, utc: boolean): string {
  const d = new Date(ms);
  return utc
    ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The zone for the Timestamp header: `UTC`, or `UTC+01:00 Europe/Berlin`. */
export function zoneLabel(utc: boolean, at = Date.now(), zoneName?: string): string {
  if (utc) return 'UTC';
  const off = -new Date(at).getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const name = zoneName ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}${name ? ` ${name}` : ''}`;
}

/** The value of a `datetime-local` input for an instant. */
export function toDateTimeInput(ms: number, utc: boolean): string {
  return formatTimestamp(ms, utc).replace(' ', 'T');
}

/** An instant from a `datetime-local` input (`2026-11-23T19:05` or with seconds); undefined when empty or bad. */
export function fromDateTimeInput(text: string, utc: boolean): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  const t = utc ? Date.UTC(y, mo - 1, d, h, mi, s) : new Date(y, mo - 1, d, h, mi, s).getTime();
  return Number.isFinite(t) ? t : undefined;
}

// ------------------------------------------------------------------ virtual scrolling

/**
 * Past this height the scrollbar is scaled. Chromium caps an element's height near 33.5M px, and
 * scroll offsets and transforms are single floats, exact for whole pixels only below 2^24 (16.7M).
 * The higher the cap, the more rows are 1:1 with the scrollbar, and the fewer rows a frame must
 * draw anew when a scaled list scrolls (1M rows of 24 px: 1.5 rows per pixel instead of 3 at 8M).
 */
export const MAX_SCROLL_PX = 16_000_000;

export interface VirtualLayout {
  /** The scroller's content height. */
  height: number;
  /** The first row to draw. */
  first: number;
  /** Where, in content pixels, that row's top goes. */
  top: number;
  /** How many rows to draw. */
  count: number;
}

/**
 * Which rows to draw for a scroll position. Up to MAX_SCROLL_PX the scroller is 1:1 with rows;
 * beyond it the scroll position maps proportionally onto rows, so the first and the last of a
 * million rows are both reachable and rows still move smoothly under the wheel.
 */
export function layout(total: number, rowHeight: number, viewport: number, scrollTop: number, overscan = 2): VirtualLayout {
  const visible = Math.ceil(viewport / rowHeight) + 1;
  const natural = total * rowHeight;
  if (total === 0) return { height: 0, first: 0, top: 0, count: 0 };
  let exact: number;
  let height: number;
  if (natural <= MAX_SCROLL_PX) {
    height = natural;
    exact = scrollTop / rowHeight;
  } else {
    height = MAX_SCROLL_PX;
    const range = Math.max(1, height - viewport);
    const rowsRange = Math.max(0, total - Math.floor(viewport / rowHeight));
    exact = (Math.min(Math.max(0, scrollTop), range) / range) * rowsRange;
  }
  exact = Math.min(Math.max(0, exact), Math.max(0, total - 1));
  // A scaled position that scrollTopFor made for row i can come back as i − 1e-10: that is row i.
  const first = Math.min(Math.floor(exact + 1e-6), Math.max(0, total - 1));
  const top = scrollTop - (exact - first) * rowHeight;
  const start = Math.max(0, first - overscan);
  return { height, first: start, top: top - (first - start) * rowHeight, count: Math.min(total - start, visible + overscan * 2) };
}

/** The scroll position that puts row `index` at the top of the viewport. */
export function scrollTopFor(index: number, total: number, rowHeight: number, viewport: number): number {
  const natural = total * rowHeight;
  if (natural <= MAX_SCROLL_PX) return index * rowHeight;
  const range = Math.max(1, MAX_SCROLL_PX - viewport);
  const rowsRange = Math.max(1, total - Math.floor(viewport / rowHeight));
  return (Math.min(index, rowsRange) / rowsRange) * range;
}

/** The scroll position that brings row `index` into view, moving as little as possible. */
export function scrollIntoView(index: number, total: number, rowHeight: number, viewport: number, scrollTop: number): number {
  const l = layout(total, rowHeight, viewport, scrollTop, 0);
  const y = l.top - scrollTop + (index - l.first) * rowHeight;
  if (y >= 0 && y + rowHeight <= viewport) return scrollTop;
  if (y < 0) return scrollTopFor(index, total, rowHeight, viewport);
  return scrollTopFor(Math.max(0, index - Math.floor(viewport / rowHeight) + 1), total, rowHeight, viewport);
}

// ------------------------------------------------------------------ row cache

export const PAGE_SIZE = 100;

/**
 * Rows by position, in pages of PAGE_SIZE, for one query result. Holds at most `maxPages` pages
 * (least recently used go first), so memory stays flat however far the user scrolls.
 */
export class RowCache {
  private pages = new Map<number, EntryRow[]>();
  private pending = new Set<number>();

  constructor(
    private count: number,
    private readonly maxPages = 60,
  ) {}

  get total(): number {
    return this.count;
  }

  /** The count came in after the first rows (a result sent `counting`); the rows held stay. */
  setTotal(total: number): void {
    this.count = total;
  }

  get(index: number): EntryRow | undefined {
    const p = Math.floor(index / PAGE_SIZE);
    const page = this.pages.get(p);
    if (!page) return undefined;
    // Refresh recency.
    this.pages.delete(p);
    this.pages.set(p, page);
    return page[index - p * PAGE_SIZE];
  }

  /** Stores rows from `start`; pages are filled whole or partly (the last page). */
  put(start: number, rows: readonly EntryRow[]): void {
    for (let i = 0; i < rows.length; ) {
      const idx = start + i;
      const p = Math.floor(idx / PAGE_SIZE);
      const page = this.pages.get(p) ?? [];
      const off = idx - p * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, rows.length - i);
      for (let k = 0; k < n; k++) page[off + k] = rows[i + k];
      this.pages.delete(p);
      this.pages.set(p, page);
      if (this.isComplete(p, page)) this.pending.delete(p);
      i += n;
    }
    while (this.pages.size > this.maxPages) {
      const oldest = this.pages.keys().next().value as number;
      this.pages.delete(oldest);
    }
  }

  private isComplete(p: number, page: EntryRow[]): boolean {
    const want = Math.min(PAGE_SIZE, this.total - p * PAGE_SIZE);
    for (let k = 0; k < want; k++) if (!page[k]) return false;
    return true;
  }

  /** Pages that rows [from, to) need and that are neither held nor asked for; marks them asked. */
  missing(from: number, to: number): number[] {
    const out: number[] = [];
    const a = Math.max(0, Math.floor(from / PAGE_SIZE));
    const b = Math.floor((Math.min(this.total, to) - 1) / PAGE_SIZE);
    for (let p = a; p <= b; p++) {
      const page = this.pages.get(p);
      if ((page && this.isComplete(p, page)) || this.pending.has(p)) continue;
      this.pending.add(p);
      out.push(p);
    }
    return out;
  }

  /** Forget that a page was asked for (its answer was dropped). */
  unask(p: number): void {
    this.pending.delete(p);
  }

  get pageCount(): number {
    return this.pages.size;
  }

  /** The position of an entry ID among held rows, if held. */
  find(id: number): number | undefined {
    for (const [p, page] of this.pages) {
      const k = page.findIndex((r) => r?.id === id);
      if (k >= 0) return p * PAGE_SIZE + k;
    }
    return undefined;
  }
}

/**
 * The pages of rows the table wants, asked of the host a few at a time (`maxInFlight`), those
 * nearest the view first. A wanted page that the view has left far behind by the time its turn
 * comes is not asked for: the row cache forgets it was wanted, so that it is wanted again if the
 * view comes back.
 */
export class PageQueue {
  private readonly queue: number[] = [];
  private inflight = 0;

  constructor(
    private readonly maxInFlight = 2,
    /** How far from the view (in rows) a page may start and still be asked for. */
    private readonly reach = PAGE_SIZE * 3,
  ) {}

  /** A new query: nothing is wanted, and no answer is awaited, any more. */
  reset(): void {
    this.queue.length = 0;
    this.inflight = 0;
  }

  /** Pages the table needs (the row cache's `missing`). */
  want(pages: readonly number[]): void {
    this.queue.push(...pages);
  }

  /** The host answered one of the pages asked for. */
  answered(): void {
    this.inflight = Math.max(0, this.inflight - 1);
  }

  /** How many pages are asked for and not answered yet. */
  get inFlight(): number {
    return this.inflight;
  }

  /**
   * The pages to ask for now, nearest `center` (a row index) first, counted as asked; pages too far
   * from it are dropped, and `cache.unask`ed.
   */
  next(center: number, cache: Pick<RowCache, 'unask'>): number[] {
    const out: number[] = [];
    while (this.inflight < this.maxInFlight && this.queue.length) {
      this.queue.sort((a, b) => Math.abs(a * PAGE_SIZE - center) - Math.abs(b * PAGE_SIZE - center));
      const p = this.queue.shift()!;
      if (Math.abs(p * PAGE_SIZE - center) > this.reach) {
        cache.unask(p);
        continue;
      }
      this.inflight++;
      out.push(p);
    }
    return out;
  }
}

/** An entry's details as the host answers for them: the entry, or why it could not be read. */
export interface DetailAnswer {
  entry?: EntryDetail;
  error?: string;
}

/**
 * Entry details asked of the host: the last `max` answers kept; one question per entry, however many
 * callers wait for it (the detail pane, the quick view, a comparison).
 */
export class DetailCache {
  private readonly held = new Map<number, EntryDetail>();
  private readonly waiters = new Map<number, ((a: DetailAnswer) => void)[]>();

  constructor(
    /** Asks the host for an entry's details (it answers through `answer`). */
    private readonly ask: (id: number) => void,
    private readonly max = 50,
  ) {}

  get(id: number): Promise<DetailAnswer> {
    const hit = this.held.get(id);
    if (hit) return Promise.resolve({ entry: hit });
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
      if (list.length === 1) this.ask(id);
    });
  }

  /**
   * The host's answer for entry `id`: given to everyone waiting, and kept when it has the entry. An
   * answer no one waits for (asked before `clear`, for the log open then) is dropped.
   */
  answer(id: number, entry: EntryDetail | undefined, error?: string): void {
    const waiters = this.waiters.get(id) ?? [];
    this.waiters.delete(id);
    if (!waiters.length) return;
    if (entry) {
      this.held.set(id, entry);
      if (this.held.size > this.max) this.held.delete(this.held.keys().next().value as number);
    }
    for (const w of waiters) w({ entry, error });
  }

  /**
   * Forgets every entry, and answers those still waiting with `error`: another log is open (the
   * Local / Team switch), whose entry N is another entry.
   */
  clear(error: string): void {
    this.held.clear();
    const waiting = [...this.waiters.values()].flat();
    this.waiters.clear();
    for (const w of waiting) w({ entry: undefined, error });
  }

  get size(): number {
    return this.held.size;
  }
}

// ------------------------------------------------------------------ filter rows

/** A filter row as the user edits it: the value may be missing while they choose it. */
export interface Draft {
  column: Exclude<Column, 'text'>;
  op: Filter['op'];
  value?: Filter['value'];
}

/** The filter-row columns (full text has its own search box). */
export const DRAFT_COLUMNS = (['id', 'user', 'action', 'entityName', 'entityId', 'timestamp', 'bot', 'outcome'] as const).map((c) => columnSpec(c));

export function newDraft(column: Draft['column']): Draft {
  return { column, op: columnSpec(column).ops[0].op };
}

/** Whether a draft is a whole filter (it then goes into the query text). */
export function completeFilter(d: Draft): Filter | undefined {
  if (d.value === undefined) return undefined;
  if (Array.isArray(d.value) && d.value.length === 0) return undefined;
  if (typeof d.value === 'string' && d.value.trim() === '') return undefined;
  if (typeof d.value === 'number' && !Number.isFinite(d.value)) return undefined;
  return { column: d.column, op: d.op, value: d.value } as Filter;
}

/** The query text for filter rows and a search box. Incomplete rows are left out. */
export function queryFromParts(drafts: readonly Draft[], search: string): string {
  const filters = drafts.map(completeFilter).filter((f): f is Filter => !!f);
  if (search.trim()) filters.push({ column: 'text', op: 'matches', value: search.trim() });
  return formatQuery(filters);
}

/** Filter rows and search text from query text; throws QueryError when the text is not valid. */
export function partsFromQuery(query: string): { drafts: Draft[]; search: string } {
  const filters = parseQuery(query);
  return {
    drafts: filters.filter((f) => f.column !== 'text').map((f) => ({ column: f.column as Draft['column'], op: f.op, value: f.value })),
    search: filters
      .filter((f): f is Extract<Filter, { column: 'text' }> => f.column === 'text')
      .map((f) => f.value)
      .join(' '),
  };
}
