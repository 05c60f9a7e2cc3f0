// The full-text index of the sql.js engine (FTS4 table `entries_fts`, since schema 5): the store
// indexes entries itself, in ID order, when idle, before a text search and before a checkpoint.
// See "Full-text index" in README.md. Node only: imports nothing from `vscode`.
import type { Database, Statement } from 'sql.js';
import { StoreError } from './errors';
import { ftsBody, textOf, type SqlValue } from './row';
import { FTS_INSERT_SQL, FTS_UPTO_SQL } from './schema';

/** Full-text indexing when idle: this long after the last new entry, this many entries a turn. */
const FTS_IDLE_MS = 500;
const FTS_IDLE_CHUNK = 500;
/**
 * … but with this many entries waiting, indexing is no longer put off by further appends. A text
 * search indexes what waits first, so this bounds only that search's wait (~40 ms per 1,000), and
 * keeps indexing from taking turns between the calls of a busy bot (a bot that changes 3,000
 * resources ran ~10 % longer with 2,000).
 */
const FTS_MAX_PENDING = 10_000;
/** The columns full-text search indexes, in the order of ftsBody's fields. */
const FTS_COLS = 'SELECT id, outcome_desc, input, return_value, before_json, after_json FROM entries WHERE id > ? ORDER BY id LIMIT ?';

/** What the index needs of its store (AuditStore provides it). */
export interface FullTextHost {
  /** The log's file, for errors. */
  readonly file: string;
  /** True once the store is closed: nothing more is indexed. */
  readonly closed: boolean;
  /** The newest entry ID. */
  lastId(): number;
  /** Puts this process's entries that wait (write-behind) into the database. */
  applyOwn(): void;
  /** The database. */
  db(): Database;
  /** A prepared statement from the store's cache (taking one may free the others when there are many). */
  stmt(sql: string): Statement;
  /** Reports a failure of indexing when idle. */
  warn(message: string): void;
}

export class FullTextIndex {
  /** Entries 1..upTo are in the full-text index; later ones are indexed when idle or before a search. */
  private upTo = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly host: FullTextHost) {}

  /**
   * Reads how far the index of a database (just opened) reaches: docids go in in ID order without
   * gaps, so it is the largest docid of the index's own `entries_fts_docsize` table (one index seek).
   */
  reset(db: Database): void {
    this.upTo = Number(db.exec(FTS_UPTO_SQL)[0].values[0][0]);
  }

  /**
   * Adds up to `max` entries after upTo to the full-text index, in ID order, in one transaction
   * per 5,000. Returns how many entries are still not indexed. Synchronous: nothing else touches the
   * database meanwhile.
   */
  indexPending(max: number): number {
    const host = this.host;
    host.applyOwn();
    const db = host.db();
    const lastId = host.lastId();
    let budget = max;
    while (this.upTo < lastId && budget > 0) {
      const n = Math.min(budget, 5000, lastId - this.upTo);
      const sel = host.stmt(FTS_COLS);
      let upTo = this.upTo;
      db.exec('BEGIN');
      try {
        const batch: [number, string][] = [];
        try {
          sel.bind([this.upTo, n]);
          while (sel.step()) {
            const v = sel.get() as SqlValue[];
            const text = (i: number) => (v[i] === null ? undefined : textOf(v[i]));
            batch.push([v[0] as number, ftsBody({ outcomeDesc: text(1), input: text(2), returnValue: text(3), before: text(4), after: text(5) })]);
          }
        } finally {
          sel.reset();
        }
        // Taken only now: taking a statement may free the cached ones (sel among them) when there are many.
        const ins = host.stmt(FTS_INSERT_SQL);
        for (const [id, body] of batch) {
          if (id !== upTo + 1) throw new StoreError('CORRUPT', `entry ${upTo + 1} is missing (full-text indexing found ${id} next)`, host.file);
          ins.run([id, body]);
          upTo = id;
        }
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
      if (upTo === this.upTo) break;
      budget -= upTo - this.upTo;
      this.upTo = upTo;
    }
    return lastId - this.upTo;
  }

  /**
   * Indexes new entries for full-text search once appends pause (or once FTS_MAX_PENDING wait, even
   * if they do not), a few hundred at a time.
   */
  schedule(): void {
    if (this.host.closed) return;
    if (this.timer && this.host.lastId() - this.upTo >= FTS_MAX_PENDING) return;
    if (this.timer) clearTimeout(this.timer);
    const turn = () => {
      this.timer = undefined;
      if (this.host.closed) return;
      try {
        if (this.indexPending(FTS_IDLE_CHUNK) > 0) this.timer = setTimeout(turn, 0);
      } catch (err) {
        this.host.warn(`full-text indexing failed: ${(err as Error).message}`);
        return;
      }
      this.timer?.unref();
    };
    this.timer = setTimeout(turn, FTS_IDLE_MS);
    this.timer.unref();
  }

  /** Stops indexing when idle (the store closes). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
