// Keyset pages: the cursor a page gives out for the next one, and a page read from a planner by it.
// A cursor names the last ID served, the "now" that relative times counted back from, and the order,
// so that the pages of one listing agree however the log grows meanwhile. Engine-neutral: no SQL.
import { QueryError, type Filter } from '../query';
import type { Entry } from './types';

export interface PageOptions {
  limit?: number;
  cursor?: string;
  order?: 'desc' | 'asc';
}

/** A page of entries (or of an engine's rows, on their way to entries). */
export interface Page<E = Entry> {
  entries: E[];
  nextCursor?: string;
  total: number;
}

/** The most entries one page (or one call of entriesAfter, byTrace, latest) returns. */
export const MAX_LIMIT = 1000;

/** A caller's limit as a whole number of entries from 1 to MAX_LIMIT. */
export function clampLimit(limit: number): number {
  return Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit)));
}

export interface Cursor {
  id: number;
  now: number;
  order: 'desc' | 'asc';
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.id, c.now, c.order === 'asc' ? 1 : 0])).toString('base64url');
}

export function decodeCursor(s: string): Cursor {
  try {
    const [id, now, asc] = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as [number, number, number];
    if (Number.isSafeInteger(id) && Number.isFinite(now) && (asc === 0 || asc === 1)) return { id, now, order: asc ? 'asc' : 'desc' };
  } catch {
    /* fall through */
  }
  throw new QueryError('the page cursor is not one this store gave out', -1);
}

/** What a keyset page reads: a planner's count and its page after a keyset (QueryPlanner has both). */
export interface KeysetSource<R extends { id: number }> {
  count(filters: Filter[], now: number): number;
  page(filters: Filter[], now: number, total: number | undefined, after: number | undefined, order: 'desc' | 'asc', limit: number): R[];
}

/** Where a page starts: its size, order, pinned "now" and keyset (after the cursor's last ID), from the caller's options. */
export interface PageStart {
  limit: number;
  order: 'desc' | 'asc';
  now: number;
  after: number | undefined;
}

/** Reads a caller's page options and cursor (QueryError for a cursor of another order, or none of ours). */
export function pageStart(page: PageOptions): PageStart {
  const limit = clampLimit(page.limit ?? 100);
  let order = page.order ?? 'desc';
  let now = Date.now();
  let after: number | undefined;
  if (page.cursor) {
    const c = decodeCursor(page.cursor);
    if (page.order && page.order !== c.order) throw new QueryError(`the cursor continues a "${c.order}" listing, not "${page.order}"`, -1);
    order = c.order;
    now = c.now;
    after = c.id;
  }
  return { limit, order, now, after };
}

/** The page from `rows`, read with a limit of `start.limit + 1`: the extra row, if any, says there is a next page. */
export function pageOf<R extends { id: number }>(start: PageStart, rows: R[], total: number): Page<R> {
  const more = rows.length > start.limit;
  if (more) rows.length = start.limit;
  return more ? { entries: rows, total, nextCursor: encodeCursor({ id: rows[rows.length - 1].id, now: start.now, order: start.order }) } : { entries: rows, total };
}

/**
 * A page of rows matching all filters, newest first by default, by keyset pagination: `nextCursor`
 * continues after its last row. `total` counts all matches. A cursor pins "now" for relative times,
 * so the pages of one listing agree. (An engine that reads asynchronously uses pageStart and pageOf.)
 */
export function keysetPage<R extends { id: number }>(source: KeysetSource<R>, filters: Filter[], page: PageOptions): Page<R> {
  const start = pageStart(page);
  const total = source.count(filters, start.now);
  return pageOf(start, source.page(filters, start.now, total, start.after, start.order, start.limit + 1), total);
}
