// The one interface of an audit log that the editor's views, the CLI and the runner use, whatever
// keeps it: the local log in sql.js (AuditStore, index.ts) today, a team log in PostgreSQL later.
// Nothing here names an engine: no SQL, no sql.js types. Reads may answer at once (sql.js reads
// in this thread) or later (a PostgreSQL client); callers `await` them either way.
import type { Filter } from '../query';
import type { Page, PageOptions } from './cursors';
import type { ExportFormat } from './formats';
import type { Action, Entry, NewEntry } from './types';
import type { VerifyOptions, VerifyResult } from './verify';
import type { WindowOptions } from './window';

/** A value now, or a promise of it: an engine that reads in this thread answers at once. */
export type Awaitable<T> = T | Promise<T>;

export interface Disposable {
  dispose(): void;
}

/** The distinct values of the filter dropdowns. */
export interface Distinct {
  users: string[];
  actions: Action[];
  entityNames: string[];
  bots: string[];
}

/**
 * Rows of one query by position, for a virtualized table, pinned at the newest entry when it opened
 * (LogWindow in window.ts, which works through a WindowSource). An engine that reads remotely counts
 * the matches before `window()` resolves, so that `total` is known.
 */
export interface AuditWindow {
  /** The caller's filters (parsed if a query string was given). */
  readonly filters: Filter[];
  readonly order: 'desc' | 'asc';
  /** Reading it may count every match (a broad query's count can take a while): see totalKnown. */
  readonly total: number;
  /** Whether `total` comes without counting. */
  readonly totalKnown: boolean;
  /** The newest entry ID when the window opened: IDs have no gaps, so the size of the whole log then. */
  readonly maxId: number;
  /** The matches at positions start..start + count - 1 (fewer at the end). */
  rows(start: number, count: number): Awaitable<Entry[]>;
  /** The position of the entry with this ID, undefined when it does not match. */
  indexOf(id: number): Awaitable<number | undefined>;
  /** Matches appended since the window opened. */
  newSince(): Awaitable<number>;
}

/**
 * Reading an audit log. IDs run 1..size without gaps; every filter takes the filter model or query
 * text (QueryError on bad text). Lists are capped at 1,000 entries a call.
 */
export interface AuditLogReader {
  /**
   * The newest ID (0 when the log is empty). An engine that reads remotely gives the newest it has
   * seen (every read and every notice of new entries moves it).
   */
  readonly size: number;
  /** The hash of the newest entry (of the newest seen, as `size`). */
  readonly headHash: string;
  /** The entry with this ID. */
  get(id: number): Awaitable<Entry | undefined>;
  /** A page of matches, newest first by default, by keyset: pass `nextCursor` back for the next page. */
  query(filters: Filter[] | string, page?: PageOptions): Awaitable<Page>;
  /** How many entries match. */
  count(filters: Filter[] | string): Awaitable<number>;
  /** The newest `limit` matches, without counting every match. */
  latest(filters: Filter[] | string, limit?: number): Awaitable<Entry[]>;
  /**
   * The last run of each of these bots, by the entity ID the runner files its runs under: the newest
   * EXECUTED entry of entity name `Bot` and that ID (as `latest` of botRunsFilter), for many bots at
   * once. A bot that never ran has no key.
   */
  lastRuns(entityIds: readonly string[]): Awaitable<Map<string, Entry>>;
  /** A window on the matches for a virtualized table (see AuditWindow). */
  window(filters: Filter[] | string, opts?: WindowOptions): Awaitable<AuditWindow>;
  /** Every entry of one run (one trace ID), oldest first. */
  byTrace(traceId: string, limit?: number): Awaitable<Entry[]>;
  /** All entries of one entity, oldest first. */
  history(entityName: string, entityId: string): Awaitable<Entry[]>;
  /** The distinct users, actions, entity names and bots, for the filter dropdowns. */
  distinct(): Awaitable<Distinct>;
  /** Entries after `afterId`, oldest first, at most `limit` (≤ 1,000); only those `actions` when given. */
  entriesAfter(afterId: number, limit?: number, actions?: readonly Action[]): Awaitable<Entry[]>;
  /** Streams the matches to `out` as CSV, NDJSON or a FHIR Bundle; returns how many were written. */
  exportTo(filters: Filter[] | string, format: ExportFormat, out: NodeJS.WritableStream, opts?: { order?: 'desc' | 'asc'; end?: boolean }): Promise<number>;
  /** Checks the chain (and whatever else the engine can check); `damage` when the storage itself is damaged. */
  audit(opts?: VerifyOptions): Awaitable<VerifyResult & { damage?: string }>;
  /** Called with new entries, this process's and other writers'. */
  onDidAppend(listener: (entries: Entry[]) => void): Disposable;
}

/** An audit log that this process appends to. Appends resolve once the entries are durable. */
export interface AuditLog extends AuditLogReader {
  /** The largest snapshot (canonical JSON, UTF-8 bytes) stored whole. */
  readonly snapshotCapBytes: number;
  append(e: NewEntry): Promise<Entry>;
  /** Appends entries in order, with consecutive IDs, in one durable write. */
  appendBatch(es: NewEntry[]): Promise<Entry[]>;
  /** Appends what `build` returns, decided while no other writer can append (see AuditStore.appendWith). */
  appendWith(build: (lastId: number) => NewEntry[] | Promise<NewEntry[]>): Promise<Entry[]>;
}
