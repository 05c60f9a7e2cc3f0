// A window on the audit log for a virtualized table: entries by position, answered by keyset from
// positions already known. The SQL stays in the store (planner.ts); a window only decides where to
// start (which keyset, which order, how short an OFFSET). Node only: imports nothing from `vscode`.
import { QueryError, type Filter } from '../query';
import type { Entry } from './types';

export interface WindowOptions {
  /** 'desc' (default): position 0 is the newest match; 'asc': the oldest. */
  order?: 'desc' | 'asc';
  /** The "now" that relative times count back from (default: when the window opens). */
  now?: number;
}

/**
 * What a window needs from its store (AuditStore.window() provides it; not for other callers).
 * `count` and `page` take the store's filters as they are and plan them the way the store does.
 */
export interface WindowSource {
  /** Throws when the store is closed; catches up with other processes' appends. */
  ready(): void;
  /** The newest entry ID now. */
  lastId(): number;
  /** How many entries match; `remember: false` keeps a one-off count out of the store's cache. */
  count(filters: Filter[], now: number, remember?: boolean): number;
  /**
   * How many entries match, when that costs no more than a page: a remembered count, or a narrow
   * query's. Undefined for a broad query, whose count can take a while (all of a big index).
   */
  quickCount(filters: Filter[], now: number): number | undefined;
  /**
   * Matches in `order`, after the keyset `after` (exclusive), skipping `offset`, at most `limit`.
   * `total` (the number of matches, undefined when broad and not counted yet) guides the plan.
   */
  page(filters: Filter[], now: number, total: number | undefined, after: number | undefined, order: 'desc' | 'asc', limit: number, offset: number): Entry[];
}

/** How many positions → IDs a window remembers (least recently used go first). */
const MAX_ANCHORS = 256;

/** Where a walk starts: a known position (with its ID), or an end of the window (ID unknown). */
interface Anchor {
  pos: number;
  id: number | undefined;
}

const whole = (x: number) => (Number.isNaN(x) ? 0 : Math.floor(x));

/**
 * The entries matching some filters, pinned at the newest entry when the window opened, by position.
 * Without filters IDs are gapless, so a position is an ID by arithmetic. With filters, every page
 * served leaves its first and last positions as anchors; a request continues by keyset from the
 * nearest anchor before it, or walks back from the nearest one after it (or from the window's far
 * end) in the opposite order, whichever skips fewer matches. Only a jump into a part of the window
 * nobody has looked at yet pays for an OFFSET walk.
 */
export class LogWindow {
  /** The caller's filters (parsed if a query string was given). */
  readonly filters: Filter[];
  readonly order: 'desc' | 'asc';
  /** The pinned "now" for relative-time filters. */
  readonly now: number;
  /** The newest entry ID when the window was opened; later entries are not in it. */
  readonly maxId: number;
  /** Matches with id <= maxId, once counted (see totalKnown). */
  private known: number | undefined;

  /** The filters as planned (a private copy, safe from changes to `filters`). */
  private readonly user: Filter[];
  /** `user` plus id <= maxId. */
  private readonly bounded: Filter[];
  /** Known positions → IDs, least recently used first. */
  private readonly anchors = new Map<number, number>();

  /** Use AuditStore.window(). */
  constructor(
    private readonly source: WindowSource,
    filters: Filter[],
    opts: WindowOptions = {},
  ) {
    const order = opts.order ?? 'desc';
    if (order !== 'desc' && order !== 'asc') throw new QueryError(`a window's order is "desc" or "asc", not ${JSON.stringify(order)}`, -1);
    const now = opts.now ?? Date.now();
    if (typeof now !== 'number' || !Number.isFinite(now)) throw new QueryError(`a window's "now" must be a time in milliseconds, not ${String(now)}`, -1);
    if (!Array.isArray(filters)) throw new QueryError('the filters must be a list or a query text', -1);
    this.order = order;
    this.now = now;
    this.filters = structuredClone(filters);
    this.user = structuredClone(filters);
    this.maxId = source.lastId();
    this.bounded = [...this.user, { column: 'id', op: 'lessThan', value: this.maxId + 1 }];
    this.known = this.user.length ? source.quickCount(this.bounded, now) : this.maxId;
  }

  /** Matches with id <= maxId. Reading it counts them, if that was not done yet (see totalKnown). */
  get total(): number {
    return (this.known ??= this.source.count(this.bounded, this.now));
  }

  /**
   * Whether `total` is known without counting. A broad query is counted only when asked: its first
   * pages come by keyset without a count, so a page can show rows before the count is in.
   */
  get totalKnown(): boolean {
    return this.known !== undefined;
  }

  /**
   * Entries at positions [start, start+count) in the window's order, clamped to [0,total). Synchronous.
   * Before a broad query is counted, the far end is unknown: a request walks from an anchor, and a
   * forward walk that comes back short has found the end, and so the count.
   */
  rows(start: number, count: number): Entry[] {
    this.source.ready();
    const s = whole(start);
    const lo = Math.max(0, s);
    const want = s + Math.max(0, whole(count));
    const hi = this.known === undefined ? want : Math.min(this.known, want);
    if (!(hi > lo)) return [];
    const n = hi - lo;
    if (!this.user.length) {
      // IDs 1..maxId without gaps: desc position p is ID maxId - p, asc position p is ID p + 1.
      return this.walk(this.order === 'desc' ? this.maxId - lo + 1 : lo, this.order, n, 0);
    }
    const last = hi - 1;
    let fwd: Anchor = { pos: 0, id: undefined };
    let back: Anchor | undefined = this.known === undefined ? undefined : { pos: this.known - 1, id: undefined };
    for (const [pos, id] of this.anchors) {
      if (pos <= lo && pos >= fwd.pos) fwd = { pos, id };
      if (pos >= last && (back === undefined || pos <= back.pos)) back = { pos, id };
    }
    let rows: Entry[];
    if (back === undefined || lo - fwd.pos <= back.pos - last) {
      this.touch(fwd);
      const k = this.keyset(fwd, lo - fwd.pos, this.order);
      rows = this.walk(k.after, this.order, n, k.offset);
    } else {
      this.touch(back);
      const reverse = this.order === 'desc' ? 'asc' : 'desc';
      const k = this.keyset(back, back.pos - last, reverse);
      rows = this.walk(k.after, reverse, n, k.offset).reverse();
    }
    if (rows.length && (rows.length === n || this.known === undefined)) {
      this.remember(lo, rows[0].id);
      this.remember(lo + rows.length - 1, rows[rows.length - 1].id);
    }
    if (rows.length === n) return rows;
    if (this.known === undefined) {
      // Short, so forward (a walk back from an anchor finds every position before it): the end.
      if (rows.length || lo === 0) this.known = lo + rows.length;
    } else {
      this.anchors.clear(); // cannot happen in an append-only log; never build on a wrong anchor
    }
    return rows;
  }

  /** The position of entry `id` in this window, or undefined when it does not match / is newer than maxId. */
  indexOf(id: number): number | undefined {
    this.source.ready();
    if (!Number.isSafeInteger(id) || id < 1 || id > this.maxId) return undefined;
    if (!this.user.length) return this.order === 'desc' ? this.maxId - id : id - 1;
    for (const [pos, known] of this.anchors) {
      if (known === id) {
        this.touch({ pos, id });
        return pos;
      }
    }
    const count = (extra: Filter[]) => this.source.count([...this.user, ...extra], this.now, false);
    if (count([{ column: 'id', op: 'equals', value: id }]) === 0) return undefined;
    // The matches newer than `id`, counted over whichever side of it spans fewer IDs.
    const newer =
      this.maxId - id <= id - 1
        ? count([
            { column: 'id', op: 'greaterThan', value: id },
            { column: 'id', op: 'lessThan', value: this.maxId + 1 },
          ])
        : this.total - 1 - count([{ column: 'id', op: 'lessThan', value: id }]);
    const pos = this.order === 'desc' ? newer : this.total - 1 - newer;
    this.remember(pos, id);
    return pos;
  }

  /** How many matching entries were appended after maxId (for a "N new entries" pill). */
  newSince(): number {
    this.source.ready();
    const last = this.source.lastId();
    if (last <= this.maxId) return 0;
    if (!this.user.length) return last - this.maxId;
    return this.source.count([...this.user, { column: 'id', op: 'greaterThan', value: this.maxId }], this.now);
  }

  /**
   * `n` matches in `dir` after the keyset `after`, skipping `offset`. A newest-first walk is bounded
   * by its keyset alone, which is never above maxId + 1: given two upper bounds on the ID, SQLite
   * seeks by one and filters by the other, and may walk down from maxId instead of from the anchor.
   * An oldest-first walk keeps id <= maxId as its upper bound, the keyset as its lower one.
   */
  private walk(after: number | undefined, dir: 'desc' | 'asc', n: number, offset: number): Entry[] {
    if (dir === 'desc') return this.source.page(this.user, this.now, this.known, after ?? this.maxId + 1, 'desc', n, offset);
    return this.source.page(this.bounded, this.now, this.known, after, 'asc', n, offset);
  }

  /** The keyset and offset of a walk in `dir` from `a` to the position `distance` away. */
  private keyset(a: Anchor, distance: number, dir: 'desc' | 'asc'): { after: number | undefined; offset: number } {
    // An end of the window: from its first match in `dir`.
    if (a.id === undefined) return { after: undefined, offset: distance };
    // The anchor itself is wanted: IDs are whole numbers, so "from it, inclusive" is a strict keyset one step outside it.
    if (distance === 0) return { after: dir === 'desc' ? a.id + 1 : a.id - 1, offset: 0 };
    return { after: a.id, offset: distance - 1 };
  }

  private touch(a: Anchor): void {
    if (a.id === undefined || this.anchors.get(a.pos) !== a.id) return;
    this.anchors.delete(a.pos);
    this.anchors.set(a.pos, a.id);
  }

  private remember(pos: number, id: number): void {
    this.anchors.delete(pos);
    this.anchors.set(pos, id);
    if (this.anchors.size > MAX_ANCHORS) this.anchors.delete(this.anchors.keys().next().value!);
  }
}
