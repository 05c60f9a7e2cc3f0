// The query planner of the sql.js engine: how a page and a count of filters are read from SQLite.
// It builds SQL from the query compiler's WHERE clauses (src/core/query/sql.ts, every value a bound
// parameter) and plans what SQLite's own planner cannot know (gapless IDs, the known entity names,
// the sizes of index sets). It reads through a PlanSource, as a window reads through its
// WindowSource, and never touches the database, the journal or the lock itself.
import { buildWhere, entityNumber, indexProbe, likeContainsMatch, validateFilter, type Filter, type SqlWhere } from '../query';
import { SELECT_COLS, type Row, type SqlValue } from './row';
import { ACTIONS } from './types';

/** What the planner needs of its store (AuditStore provides it). */
export interface PlanSource {
  /** The newest entry ID: IDs run 1..lastId without gaps. */
  lastId(): number;
  /** Every entity name in the log: "contains" becomes an indexed `IN` over those that match. */
  entityNames(): string[];
  /** Called before a full-text condition is read: everything not yet indexed is indexed first. */
  indexText(): void;
  /** The rows of a SELECT of every row column (SELECT_COLS). */
  rows(sql: string, params: SqlValue[]): Row[];
  /** The first column of the first row, or null when there is none. */
  scalar(sql: string, params: SqlValue[]): SqlValue;
}

export interface PlannerOptions {
  /** See OpenOptions.intersectMax. */
  intersectMax?: number;
  /** See OpenOptions.broadAbove. */
  broadAbove?: number;
}

/** Counts intersect the IDs of two conditions when both match fewer entries than this (see countByIntersection). */
const INTERSECT_MAX = 200_000;
/** See OpenOptions.broadAbove. */
const BROAD_ABOVE = 2000;
/** The count cache's key of a WHERE clause. */
const countKey = (w: SqlWhere): string => w.sql + '\0' + JSON.stringify(w.params);

/** A condition whose matching IDs one index gives without reading entries. */
function isIndexedSet(f: Filter): boolean {
  switch (f.column) {
    case 'user':
    case 'bot':
    case 'entityId':
      return f.op === 'equals';
    case 'entityName':
      return f.op === 'equals' || f.op === 'contains';
    case 'action':
    case 'outcome':
    case 'timestamp':
    case 'text':
      return true;
    default:
      return false;
  }
}

export class QueryPlanner {
  private readonly intersectMax: number;
  private readonly broadAbove: number;
  private countCache = new Map<string, number>();
  /** How many entries in the database have a numeric entity ID, once counted (see countTextIds). */
  private numericIds: number | undefined;

  constructor(
    private readonly source: PlanSource,
    opts: PlannerOptions = {},
  ) {
    this.intersectMax = Math.max(1, opts.intersectMax ?? INTERSECT_MAX);
    this.broadAbove = Math.max(0, Math.floor(opts.broadAbove ?? BROAD_ABOVE));
  }

  /** The log grew (or was read again): remembered counts no longer hold. */
  forgetCounts(): void {
    this.countCache.clear();
  }

  /** `numeric` of the entries just put in the database have a numeric entity ID. */
  noteInserted(numeric: number): void {
    if (this.numericIds !== undefined) this.numericIds += numeric;
  }

  /** The database was replaced: nothing counted of it holds. */
  reset(): void {
    this.countCache.clear();
    this.numericIds = undefined;
  }

  /** The WHERE clause for filters; "contains" on entity names goes through the known names and their index. */
  where(fl: Filter[], now: number, selective = false): SqlWhere {
    // Full-text search sees every entry: whatever is not indexed yet is indexed first.
    if (fl.some((f) => f.column === 'text')) this.source.indexText();
    return buildWhere(fl, now, { entityNames: this.source.entityNames(), entityIdUnion: selective });
  }

  /** The most matches a narrow query has (OpenOptions.broadAbove). */
  private narrowMax(): number {
    return Math.max(this.broadAbove, Math.floor(this.source.lastId() / 100));
  }

  private scalar(sql: string, params: SqlValue[]): SqlValue {
    return this.source.scalar(sql, params);
  }

  /**
   * The rows of one page. The plan follows what SQLite's planner cannot know: when few entries
   * match, numeric entity-ID ranges use their indexes; a multi-value "is one of" on action or
   * outcome becomes one newest-first, limited branch per value (each walks its index in ID order),
   * merged, instead of collecting and sorting every match. `total` is the number of matches, or
   * undefined for a query known to be broad and not counted. `offset` skips that many matches
   * after the keyset (windows use it for the short distance from a known position).
   */
  page(fl: Filter[], now: number, total: number | undefined, after: number | undefined, order: 'desc' | 'asc', limit: number, offset = 0): Row[] {
    const selective = total !== undefined && total <= this.narrowMax();
    const dir = order === 'desc' ? 'DESC' : 'ASC';
    const keyset = after === undefined ? '' : order === 'desc' ? ' AND id < ?' : ' AND id > ?';
    const keyParams: SqlValue[] = after === undefined ? [] : [after];
    const split = fl.map((f) => this.branchFilters(f));
    const k = split.findIndex((b) => b !== undefined);
    // Another indexed equality (a user, a bot, …) usually narrows more: then leave the plan to SQLite.
    const otherEquality = fl.some((f, i) => i !== k && (f.op === 'equals' || (f.op === 'oneOf' && f.value.length === 1)));
    if (k >= 0 && !otherEquality) {
      const branches = split[k]!.map((one) => {
        const sub = [...fl];
        sub[k] = one;
        return this.where(sub, now, selective);
      });
      const union = branches.map((b) => `SELECT id FROM (SELECT id FROM entries WHERE (${b.sql})${keyset} ORDER BY id ${dir} LIMIT ?)`).join(' UNION ALL ');
      // The first limit + offset matches overall are among the first limit + offset of each branch.
      // With an offset, skip over IDs only and read just the rows of the page (fewer row lookups).
      const sql = offset
        ? `${SELECT_COLS} WHERE id IN (SELECT id FROM (${union}) ORDER BY id ${dir} LIMIT ? OFFSET ?) ORDER BY id ${dir}`
        : `${SELECT_COLS} WHERE id IN (${union}) ORDER BY id ${dir} LIMIT ?`;
      const params: SqlValue[] = [];
      for (const b of branches) params.push(...b.params, ...keyParams, limit + offset);
      params.push(limit);
      if (offset) params.push(offset);
      return this.source.rows(sql, params);
    }
    const where = this.where(fl, now, selective);
    return this.source.rows(`${SELECT_COLS} WHERE (${where.sql})${keyset} ORDER BY id ${dir} LIMIT ? OFFSET ?`, [...where.params, ...keyParams, limit, offset]);
  }

  /**
   * The single-value filters that together match what `f` matches, when a page is best read as one
   * newest-first branch per value, merged: a multi-value "is one of" on action or outcome, and an
   * entity name "contains" that several known names match (its `IN` would collect and sort every
   * match of every name). Each branch then walks its index in ID order. Undefined otherwise.
   */
  private branchFilters(f: Filter): Filter[] | undefined {
    if ((f.column === 'action' || f.column === 'outcome') && f.op === 'oneOf' && f.value.length > 1 && f.value.length <= 12) {
      return (f.value as (string | number)[]).map((v) => ({ ...f, value: [v] }) as Filter);
    }
    if (f.column === 'entityName' && f.op === 'contains') {
      const names = this.source.entityNames().filter((n) => likeContainsMatch(n, f.value));
      if (names.length > 1 && names.length <= 12) return names.map((value) => ({ column: 'entityName', op: 'equals', value }));
    }
    return undefined;
  }

  private countWhere(where: SqlWhere): number {
    return Number(this.scalar(`SELECT count(*) FROM entries WHERE ${where.sql}`, where.params));
  }

  /**
   * Counts matches, remembering the count until the log grows. IDs run 1..N without gaps, so no
   * filter counts N and a lone ID filter is arithmetic; a lone negation counts as N minus its
   * (indexed) positive; a lone numeric entity-ID range is two index ranges. `remember: false` for
   * one-off counts (a window's indexOf) that would only push useful counts out of the cache.
   */
  count(fl: Filter[], now: number, remember = true): number {
    if (!fl.length) return this.source.lastId();
    const where = this.where(fl, now);
    if (!remember) return this.countUncached(fl, now, where);
    const key = countKey(where);
    return this.countCache.get(key) ?? this.rememberCount(key, this.countUncached(fl, now, where));
  }

  private rememberCount(key: string, n: number): number {
    if (this.countCache.size > 100) this.countCache.clear();
    this.countCache.set(key, n);
    return n;
  }

  /**
   * The count when it comes at the price of a page: remembered, or a narrow query's (counted up to
   * one past narrowMax, which is quick however large the log). Undefined for a broad query.
   */
  quickCount(fl: Filter[], now: number): number | undefined {
    if (!fl.length) return this.source.lastId();
    const where = this.where(fl, now);
    const key = countKey(where);
    const hit = this.countCache.get(key);
    if (hit !== undefined) return hit;
    const cap = this.narrowMax() + 1;
    const n = Number(this.scalar(`SELECT count(*) FROM (SELECT 1 FROM entries WHERE ${where.sql} LIMIT ${cap})`, where.params));
    return n < cap ? this.rememberCount(key, n) : undefined;
  }

  private countUncached(fl: Filter[], now: number, where: SqlWhere): number {
    if (fl.length === 1) {
      const f = validateFilter(fl[0]);
      const n = this.source.lastId();
      if (f.column === 'id') {
        const v = f.value;
        if (f.op === 'equals') return v >= 1 && v <= n ? 1 : 0;
        if (f.op === 'notEquals') return v >= 1 && v <= n ? n - 1 : n;
        if (f.op === 'greaterThan') return Math.max(0, n - Math.max(0, v));
        return Math.min(n, Math.max(0, v - 1));
      }
      if (f.column === 'entityId' && (f.op === 'greaterThan' || f.op === 'lessThan') && entityNumber(f.value) !== null) {
        const c = f.op === 'greaterThan' ? '>' : '<';
        const nums = Number(this.scalar(`SELECT count(*) FROM entries WHERE entity_num ${c} ?`, [entityNumber(f.value)]));
        return nums + this.countTextIds(c, f.value);
      }
      if (f.op === 'notEquals' || f.op === 'notContains') {
        const positive = { ...f, op: f.op === 'notEquals' ? 'equals' : 'contains' } as Filter;
        return n - this.countWhere(this.where([positive], now));
      }
    }
    return this.countByIntersection(fl, now) ?? this.countWhere(where);
  }

  /**
   * Text entity IDs on one side of `v`, from the partial index of text IDs. A broad side (every
   * bot's name is "greater" than any number, so `entity-id:>49000` matches most of a log) is counted
   * through the other: all text IDs, less those on the other side.
   */
  private countTextIds(c: '>' | '<', v: string): number {
    const side = (op: string, limit?: number) =>
      Number(this.scalar(`SELECT count(*) FROM (SELECT 1 FROM entries WHERE entity_num IS NULL AND entity_id ${op} ?${limit ? ` LIMIT ${limit}` : ''})`, [v]));
    const direct = side(c, this.intersectMax);
    if (direct < this.intersectMax) return direct;
    this.numericIds ??= Number(this.scalar('SELECT count(*) FROM entries WHERE entity_num IS NOT NULL', []));
    return this.source.lastId() - this.numericIds - side(c === '>' ? '<=' : '>=');
  }

  /**
   * Several indexed conditions: SQLite walks one index and reads every entry it finds to test the
   * others, and those entries lie all over the file (`bot:triage outcome:8,12` read 70,000 rows to
   * find 2,800). Instead, no entry is read that an index can answer for:
   * - the sets of IDs that indexes give are sized (counted up to intersectMax), and a set of a few
   *   thousand IDs goes straight to testing the other filters in their own indexes (indexProbe);
   * - otherwise the two narrowest sets are intersected from their indexes alone, and the rest tested
   *   among the IDs in both;
   * - a broad action filter beside a narrow condition is counted through its complement: the
   *   matches without it, less those with one of the other actions (`action:EXECUTED` of one bot:
   *   all its entries, less the few that are not runs);
   * - else the narrowest set, when the rest can all be tested in their indexes.
   * Only a filter with no index of its own (ID, entity ID, time, text) reads entries, and only those
   * that passed everything else. Undefined when nothing narrow enough is there to start from.
   */
  private countByIntersection(fl: Filter[], now: number): number | undefined {
    const max = this.intersectMax;
    const capped = (w: SqlWhere) => Number(this.scalar(`SELECT count(*) FROM (SELECT 1 FROM entries WHERE ${w.sql} LIMIT ${max})`, w.params));
    const names = this.source.entityNames();
    const probed = (fs: Filter[]) => fs.every((f) => indexProbe(f, 'id', { entityNames: names }));
    type IdSet = { fs: Filter[]; w: SqlWhere; size: number };
    const except = (...xs: (IdSet | undefined)[]) => fl.filter((f) => !xs.some((x) => x?.fs.includes(f)));
    const among = (x: IdSet) => this.countAmong({ sql: `SELECT id FROM entries WHERE ${x.w.sql}`, params: x.w.params }, except(x), now, names);
    // The sets of IDs an index gives. One bot's entries with some outcomes are one set, ranges of
    // entries_bot_outcome; it is sized first, being the narrowest as a rule.
    const bot = fl.find((f) => f.column === 'bot' && f.op === 'equals');
    const outcome = fl.find((f) => f.column === 'outcome');
    const candidates: Filter[][] = bot && outcome ? [[bot, outcome]] : [];
    for (const f of fl) if (isIndexedSet(f) && !candidates[0]?.includes(f)) candidates.push([f]);
    const sets: IdSet[] = [];
    for (const fs of candidates) {
      const w = this.where(fs, now);
      const x = { fs, w, size: capped(w) };
      if (x.size === 0) return 0;
      const rest = except(x);
      if (!rest.length && x.size < max) return x.size; // counted whole: the cap was not reached
      // A few thousand IDs go straight to testing the rest in their own indexes (about a microsecond
      // per ID and test), when the rest all have one; the other sets need not be sized then.
      if (probed(rest) && x.size * rest.length <= max / 10) return among(x);
      sets.push(x);
    }
    if (!sets.length) return undefined;
    sets.sort((a, b) => a.size - b.size);
    const [a, b] = sets;
    if (a.size >= max) return undefined;
    if (b && b.size < max) {
      // The narrowest condition's IDs become a list that the other's index walk looks each ID up in:
      // building the list costs more per ID than the walk. "+id" keeps SQLite from walking a's
      // index instead (and reading each entry to test b). Not INTERSECT: merging wants both sides
      // in ID order, which SQLite gets for a range on `recorded` by scanning the whole table.
      const both = `SELECT id FROM entries WHERE ${b.w.sql} AND +id IN (SELECT id FROM entries WHERE ${a.w.sql})`;
      return this.countAmong({ sql: both, params: [...b.w.params, ...a.w.params] }, except(a, b), now, names);
    }
    const broad = sets.find((x) => x.size >= max && x.fs[0].column === 'action');
    if (broad) {
      const wanted = (broad.fs[0] as Extract<Filter, { column: 'action' }>).value as readonly string[];
      const others = ACTIONS.filter((x) => !wanted.includes(x));
      const without = except(broad);
      if (!others.length) return this.count(without, now);
      const complement: Filter = { column: 'action', op: 'oneOf', value: others };
      // The complement must be narrow itself, or its count would come back here.
      if (capped(this.where([complement], now)) < max) return this.count(without, now) - this.count([...without, complement], now);
    }
    // Otherwise the narrowest set, with the rest tested in their indexes, when they all have one.
    return probed(except(a)) ? among(a) : undefined;
  }

  /** How many of the entries with the IDs `ids` selects match every filter of `rest` (`names`: every entity name, for indexProbe). */
  private countAmong(ids: SqlWhere, rest: Filter[], now: number, names: readonly string[]): number {
    const probes: SqlWhere[] = [];
    const unprobed: Filter[] = [];
    for (const f of rest) {
      const p = indexProbe(f, 't.id', { entityNames: names });
      if (p) probes.push(p);
      else unprobed.push(f);
    }
    let sql = ids.sql;
    const params = [...ids.params];
    if (probes.length) {
      sql = `SELECT t.id FROM (${sql}) t WHERE ${probes.map((p) => p.sql).join(' AND ')}`;
      for (const p of probes) params.push(...p.params);
    }
    if (!unprobed.length) return Number(this.scalar(`SELECT count(*) FROM (${sql})`, params));
    const r = this.where(unprobed, now);
    return Number(this.scalar(`SELECT count(*) FROM entries WHERE id IN (${sql}) AND ${r.sql}`, [...params, ...r.params]));
  }
}
