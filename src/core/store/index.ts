// The audit store: an append-only, hash-chained, durable log on sql.js, shared by several processes.
// See README.md beside this file for the design (journal, checkpoints, locks, chain, limits) and for
// the modules this class hands its jobs to (open, sync, append, fullText, planner, cursors, window).
// Node only: imports nothing from `vscode`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import type { Database, QueryExecResult, SqlJsStatic, Statement } from 'sql.js';
import { parseQuery, type Filter } from '../query';
import type { AuditLog, Disposable } from './api';
import { CheckpointSchedule, WriteBehindQueue, type AutoCheckpoint, type WriteBehind } from './append';
import { clampLimit, keysetPage, MAX_LIMIT, type Page, type PageOptions } from './cursors';
import { isDamage, StoreError } from './errors';
import { formatter, type ExportFormat } from './formats';
import { FullTextIndex } from './fullText';
import { Journal, replaceFileAtomic, writeFileAtomic, type JournalLine } from './journal';
import { PagedFile, SUM_ALGORITHM } from './pagefile';
import { FileLock } from './lock';
import { loadSql, notWritable, openDatabaseFile, openPaged, removeLeftoverTemps } from './open';
import { QueryPlanner } from './planner';
import { dbToRow, GENESIS_HASH, hashOf, prepareRow, rowToDb, rowToEntry, sealRow, LineBuffer, SELECT_COLS, type PreparedRow, type Row, type SqlValue } from './row';
import { INSERT_SQL, restoreAppendOnly } from './schema';
import { COMPLETE_LINE, firstChangedLine, replayLines, watchJournal } from './sync';
import { storeChain, verifyChain, type VerifyOptions, type VerifyResult } from './verify';
import { Witness, checkMark } from './witness';
import { ACTIONS, type Action, type Entry, type NewEntry } from './types';
import { LogWindow, type WindowOptions, type WindowSource } from './window';

export { ACTIONS, OUTCOMES, OUTCOME_NAMES, isAction, isOutcome, outcomeName } from './types';
export type { Action, Outcome, NewEntry, Entry } from './types';
export { StoreError } from './errors';
export { capText, cutBytes, canonicalJson, GENESIS_HASH } from './row';
export { toAuditEvent, type ExportFormat } from './formats';
export { SCHEMA_VERSION, APPLICATION_ID } from './schema';
export type { Filter } from '../query';
export { LogWindow, type WindowOptions } from './window';
export type { VerifyOptions, VerifyResult } from './verify';
export { defaultStateDir } from './witness';
export type { AuditLog, AuditLogReader, Disposable, Distinct, Awaitable, AuditWindow } from './api';
export type { PageOptions } from './cursors';

export type { AutoCheckpoint, WriteBehind } from './append';

export interface OpenOptions {
  /** Cap for outcome descriptions, inputs, return values and each snapshot, in UTF-8 bytes (default 1 MiB). */
  capBytes?: number;
  /** Path to sql-wasm.wasm; default: resolved from the sql.js package, else beside this bundle. */
  wasmPath?: string;
  /** Notice other processes' appends (fs.watch plus a poll); default true. */
  watch?: boolean;
  /** Poll interval of the watch fallback, ms (default 500). */
  pollMs?: number;
  /** When to fold the journal into the database file; false: only on checkpoint() and close(). */
  autoCheckpoint?: AutoCheckpoint | false;
  /** How long to wait for another process's lock before failing with LOCKED (default 30 s). */
  lockTimeoutMs?: number;
  /**
   * Read only: the store never takes the lock, never opens the journal for writing, never creates,
   * seals, checkpoints or removes a file; reads (the journal's entries included) work, writes fail
   * with READ_ONLY. Also chosen by itself when the folder or the journal cannot be written (a
   * read-only mount, `chattr +i`, modes); see `readOnly` on the store.
   */
  readOnly?: boolean;
  /**
   * A condition matching this many entries or more is too broad to intersect in a count (default
   * 200,000; see countByIntersection). Tests lower it to reach that path with a small log.
   */
  intersectMax?: number;
  /**
   * A query matching more entries than this (default 2,000, or 1 % of the log when that is more)
   * is broad: its pages walk the log in ID order, and a window counts it only when asked (see
   * LogWindow.totalKnown). Tests lower it to reach those paths with a small log.
   */
  broadAbove?: number;
  /**
   * How many of this process's durable entries may wait, after `append()` resolves, to be put in
   * the in-memory database (see "Write-behind" in the store's README): they go in at the next turn
   * of the event loop, before any read, before a checkpoint, or at once when more than this waits.
   * Default: 10,000 entries or 16 MiB of journal lines. false: before `append()` resolves.
   */
  writeBehind?: WriteBehind | false;
  /**
   * A folder outside the log's own (the extension's global storage, the CLI's state folder) where
   * the newest entry this process saw is kept, per log, for verify() to compare against (see
   * witness.ts). None by default.
   */
  witnessDir?: string;
  /**
   * The script of verify()'s worker threads (dist/verify-worker.js), which check parts of a large log
   * in parallel; default: beside this bundle, when it is there. false: verify in this thread only.
   */
  verifyWorker?: string | false;
}

export type { Page } from './cursors';

export interface StoreWarning {
  /**
   * APPLY: entries durable in the journal could not be put in the in-memory database (reads fail until they are).
   * CHECKPOINT: folding the journal into the database file failed; the entries are safe in the journal, and it is retried.
   * TAMPERED: a journal line was changed after it was written (see AuditStore.tampering): kept, and nothing more is written.
   * TRIGGERS: the append-only triggers were missing or changed, and were put back on open.
   * WITNESS: the log contradicts the newest entry this machine saw written (see OpenOptions.witnessDir).
   */
  code: 'TORN_LINE' | 'BAD_LINE' | 'WATCH' | 'APPLY' | 'CHECKPOINT' | 'TAMPERED' | 'TRIGGERS' | 'WITNESS';
  file: string;
  message: string;
  /** Byte offset in the file, when it applies. */
  offset?: number;
}

const DEFAULT_CAP = 1 << 20;

export class AuditStore implements AuditLog {
  readonly file: string;
  readonly journalFile: string;
  readonly lockFile: string;
  /** Problems found and skipped (torn journal lines, …), oldest first. */
  readonly warnings: StoreWarning[] = [];

  private db!: Database;
  /** The database file under this.db: its pages on disk and those written since the last checkpoint. */
  private pages!: PagedFile;
  private insertStmt!: Statement;
  private stmts = new Map<string, Statement>();
  private journal!: Journal;
  private readonly lock: FileLock;
  /** Why the store is read-only (see OpenOptions.readOnly), or undefined when it writes. */
  private readOnlyReason: string | undefined;
  private lastId = 0;
  private lastHash = GENESIS_HASH;
  private dirty = false;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(entries: Entry[]) => void>();
  private readonly warnListeners = new Set<(w: StoreWarning) => void>();
  private distinctCache?: { users: Set<string>; actions: Set<string>; entityNames: Set<string>; bots: Set<string> };
  /** How pages and counts are read (see planner.ts). */
  private readonly planner: QueryPlanner;
  /** The full-text index (see fullText.ts). */
  private readonly fullText: FullTextIndex;
  /** Notices other processes' appends (see OpenOptions.watch). */
  private watch?: { close(): void };
  private catchUpScheduled = false;
  /** When to checkpoint by itself (see append.ts). */
  private readonly checkpoints: CheckpointSchedule;
  private readonly capBytes: number;
  private readonly lockTimeoutMs: number;
  /** The first changed journal line found (see markTampered): nothing more is written. */
  private tampered?: { id: number; offset: number; message: string };
  /** Damage found in the database file (see damaged()): nothing more is written. */
  private damage?: StoreError;
  /** The checksum its checkpoint recorded for the file this.pages reads (JournalHeader.db), when known. */
  private dbSum?: string;
  /** The file this.pages reads was found to match dbSum (or was written by this process). */
  private dbSound = false;
  /** This process's durable entries that wait to go into the database (see append.ts). */
  private readonly waiting: WriteBehindQueue;
  /** Where appendBatch writes its journal lines; kept from batch to batch. */
  private readonly lines = new LineBuffer();
  /** The newest entry seen, kept outside the log's folder (OpenOptions.witnessDir). */
  private readonly witness?: Witness;
  private witnessTimer?: NodeJS.Timeout;

  private constructor(
    file: string,
    private readonly SQL: SqlJsStatic,
    private readonly opts: OpenOptions,
  ) {
    this.file = path.resolve(file);
    this.journalFile = this.file + '.journal';
    this.lockFile = this.file + '.lock';
    this.lock = new FileLock(this.lockFile);
    this.capBytes = Math.max(256, opts.capBytes ?? DEFAULT_CAP);
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 30_000;
    if (opts.witnessDir) this.witness = new Witness(opts.witnessDir, this.file);
    this.planner = new QueryPlanner(
      {
        lastId: () => this.lastId,
        entityNames: () => this.entityNames(),
        indexText: () => this.fullText.indexPending(Infinity),
        rows: (sql, params) => this.rows(sql, params),
        scalar: (sql, params) => this.scalar(sql, params),
      },
      { intersectMax: opts.intersectMax, broadAbove: opts.broadAbove },
    );
    const store = this;
    this.waiting = new WriteBehindQueue(opts.writeBehind, {
      file: this.file,
      get closed() {
        return store.closed;
      },
      insert: (rows) => this.insertRows(rows),
      warn: (message) => this.warn({ code: 'APPLY', file: this.file, message }),
    });
    this.checkpoints = new CheckpointSchedule(opts.autoCheckpoint, {
      get closed() {
        return store.closed;
      },
      journalSize: () => ({ entries: this.lastId - this.journal.header.base, bytes: this.journal.entryBytes }),
      checkpoint: () => this.checkpoint(),
      warn: (message) => this.warn({ code: 'CHECKPOINT', file: this.file, message }),
    });
    this.fullText = new FullTextIndex({
      file: this.file,
      get closed() {
        return store.closed;
      },
      lastId: () => this.lastId,
      applyOwn: () => this.applyOwn(),
      db: () => this.db,
      stmt: (sql) => this.stmt(sql),
      warn: (message) => this.warn({ code: 'WATCH', file: this.file, message }),
    });
  }

  /** True when the store never writes (OpenOptions.readOnly, or the log cannot be written). */
  get readOnly(): boolean {
    return this.readOnlyReason !== undefined;
  }

  /**
   * Opens the log at `file`, creating it when there is none (unless read-only). Fails with StoreError
   * (naming the file) when the file is not a Bot Audit log or is damaged; such a file is never written to.
   */
  static async open(file: string, opts: OpenOptions = {}): Promise<AuditStore> {
    const SQL = await loadSql(opts.wasmPath);
    const store = new AuditStore(file, SQL, opts);
    await store.init();
    return store;
  }

  // ---------------------------------------------------------------- open

  private async init(): Promise<void> {
    this.readOnlyReason = this.opts.readOnly ? 'opened read-only' : notWritable(this.file, this.journalFile);
    if (this.readOnlyReason) return this.initReadOnly();
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
    } catch (err) {
      throw new StoreError('IO', `cannot create the folder: ${(err as Error).message}`, path.dirname(this.file), { cause: err });
    }
    await this.lock.acquire(this.lockTimeoutMs);
    try {
      removeLeftoverTemps(this.file);
      this.loadDatabase();
      this.checkAppendOnly();
      this.openJournal();
      this.applyNew(true);
    } catch (err) {
      this.journal?.close();
      if (this.db) this.db.close();
      this.pages?.close();
      throw err;
    } finally {
      this.lock.release();
    }
    if (this.dirty) await this.checkpoint();
    else if (this.checkpoints.journalFull()) {
      // A journal that earlier checkpoints could not fold (a full disk, say) is folded now, if it can be.
      await this.checkpoint().catch((err) => this.warn({ code: 'CHECKPOINT', file: this.file, message: (err as Error).message }));
    }
    this.noteWitness();
    if (this.opts.watch !== false) this.startWatching();
  }

  /**
   * Opens the log without the lock and without writing: the database file, then the journal for
   * reading. A checkpoint by a writer between the two (the journal then follows an entry the file
   * read does not have) is met by reading both again.
   */
  private async initReadOnly(): Promise<void> {
    if (!fs.existsSync(this.file)) throw new StoreError('IO', 'does not exist (a log opened read-only is never created)', this.file);
    for (let attempt = 0; ; attempt++) {
      try {
        this.loadDatabase();
        this.openJournal();
        this.checkAppendOnly();
        this.applyNew(false);
        break;
      } catch (err) {
        this.journal?.close();
        if (this.db) this.closeDatabase();
        this.pages?.close();
        this.db = undefined as unknown as Database;
        const raced = err instanceof StoreError && err.code === 'CORRUPT' && /older than its journal|does not match the database|does not follow entry/.test(err.message);
        if (!raced || attempt >= 3) throw err;
        this.lastId = 0;
        this.lastHash = GENESIS_HASH;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    this.noteWitness();
    if (this.opts.watch !== false) this.startWatching();
  }

  /** Throws READ_ONLY when the store is read-only. */
  private assertWritable(): void {
    if (this.readOnlyReason) throw new StoreError('READ_ONLY', `the log is read-only (${this.readOnlyReason}); nothing was written`, this.file);
  }

  /** Puts back dropped or changed append-only triggers (written by the checkpoint that ends the open), and reports it. */
  private checkAppendOnly(): void {
    const restored = restoreAppendOnly(this.db);
    if (!restored.length) return;
    const where = this.readOnly ? 'this read-only open left the file as it is; the next writer puts them back' : 'they were put back';
    if (!this.readOnly) this.dirty = true;
    this.warn({ code: 'TRIGGERS', file: this.file, message: `the append-only triggers ${restored.join(' and ')} were missing or changed; ${where} (something other than Bot Audit changed the database: run verify)` });
  }

  /** Records the newest entry in the witness, unless the log contradicts what it holds (then warns). */
  private noteWitness(): void {
    if (!this.witness || this.closed) return;
    if (this.witnessTimer) clearTimeout(this.witnessTimer);
    this.witnessTimer = undefined;
    try {
      this.applyOwn();
      const hashAt = (id: number) => {
        const r = this.db.exec('SELECT hash FROM entries WHERE id = ?', [id]);
        return r.length ? hashOf(r[0].values[0][0] as SqlValue) : undefined;
      };
      // A reader checks what this machine saw written; only a writer moves it.
      const seen = this.readOnly ? this.witness.read()?.head : undefined;
      const c = this.readOnly
        ? seen
          ? checkMark(seen, this.lastId, hashAt, 'this machine last saw it')
          : ({ ok: true } as const)
        : this.witness.noteHead({ id: this.lastId, hash: this.lastHash }, this.lastId, hashAt);
      if (!c.ok) this.warn({ code: 'WITNESS', file: this.witness.file, message: `${c.reason}; run verify` });
    } catch (err) {
      this.warn({ code: 'WITNESS', file: this.witness.file, message: `the newest entry could not be recorded outside the log: ${(err as Error).message}` });
    }
  }

  /** Opens the database file in sql.js (read from disk as pages are needed), or creates it. Throws StoreError without writing anything on a bad file. */
  private loadDatabase(): void {
    const opened = openDatabaseFile(
      this.SQL,
      this.file,
      this.journalFile,
      (what, cause) => this.damaged(what, cause),
      (db, pages) => {
        this.db = db;
        this.pages = pages;
        this.setUp();
      },
    );
    if (opened.migrated) this.dirty = true;
    this.lastId = opened.lastId;
    this.lastHash = opened.lastHash;
  }

  private setUp(): void {
    this.db.exec('PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY;');
    for (const s of this.stmts.values()) s.free();
    this.stmts.clear();
    this.insertStmt = this.db.prepare(INSERT_SQL);
    this.fullText.reset(this.db);
    this.planner.forgetCounts();
    this.distinctCache = undefined;
  }

  private openJournal(): void {
    const j = Journal.open(this.journalFile, this.readOnly);
    if (!j) {
      if (this.readOnly) {
        this.journal = Journal.absent(this.journalFile, this.lastId, this.lastHash);
        return;
      }
      // A new log, or one whose journal is gone: its checksum is taken now.
      this.dbSum = this.pages.baseSum();
      this.dbSound = true;
      this.journal = Journal.create(this.journalFile, this.lastId, this.lastHash, this.dbSum);
      return;
    }
    // The header describes this file when it follows its last entry (not after a crash between a
    // checkpoint's two steps, when the file is newer than the journal).
    this.dbSum = j.header.base === this.lastId && typeof j.header.db === 'string' ? j.header.db : undefined;
    this.dbSound = false;
    const { base, baseHash } = j.header;
    if (base > this.lastId) {
      j.close();
      throw new StoreError('CORRUPT', `the journal ${this.journalFile} follows entry ${base}, but the database ends at entry ${this.lastId}; the database file is older than its journal`, this.file);
    }
    if (base > 0) {
      const h = this.db.exec('SELECT hash FROM entries WHERE id = ?', [base]);
      if (!h.length || hashOf(h[0].values[0][0] as SqlValue) !== baseHash) {
        j.close();
        throw new StoreError('CORRUPT', `the journal follows entry ${base} with hash ${baseHash.slice(0, 12)}…, which does not match the database`, this.journalFile);
      }
    }
    this.journal = j;
  }

  // ---------------------------------------------------------------- reading the journal

  private warn(w: StoreWarning): void {
    this.warnings.push(w);
    if (this.warnings.length > 1000) this.warnings.splice(0, this.warnings.length - 1000);
    for (const l of this.warnListeners) {
      try {
        l(w);
      } catch {
        /* a listener's problem */
      }
    }
  }

  /**
   * Applies the journal's new lines to the in-memory database (other processes' appends, or all of
   * it on open). `underLock`: the caller holds the lock, so a line without its newline is torn.
   * Returns the rows added.
   */
  private applyNew(underLock: boolean): Row[] {
    const added: Row[] = [];
    for (let round = 0; round < 8; round++) {
      const { lines, sealed } = this.journal.readNew(underLock);
      // A last line that was written whole but for its newline is an entry like any other (and is
      // checked like any other); only an incomplete one is torn.
      if (sealed && COMPLETE_LINE.test(sealed.text)) lines.push(sealed);
      else if (sealed) {
        this.warn({
          code: 'TORN_LINE',
          file: this.journalFile,
          offset: sealed.offset,
          message: `the journal's last line (${Buffer.byteLength(sealed.text)} bytes at byte ${sealed.offset}) is torn, probably by a crash while writing; it was skipped and kept in the journal, every entry before it is kept`,
        });
      }
      if (lines.length) this.applyLines(lines, added);
      if (!this.journal.replaced()) break;
      // A checkpoint replaced the journal: the old one is read to its end above; continue in the new one.
      const next = Journal.open(this.journalFile, this.readOnly);
      if (!next) {
        if (underLock && !this.tampered) {
          // The journal was deleted from outside: keep what we have durable.
          this.writeCheckpoint();
        }
        break;
      }
      this.journal.close();
      this.journal = next;
      if (next.header.base > this.lastId) {
        // Several checkpoints happened since we last looked: what we missed is in the database file.
        added.push(...this.reloadFromDisk());
      }
    }
    if (added.length) {
      this.planner.forgetCounts();
      this.fullText.schedule();
    }
    return added;
  }

  /** Applies journal lines in order (see replayLines), adding the rows that went into the database to `added`. */
  private applyLines(lines: JournalLine[], added: Row[]): void {
    replayLines(lines, this.lastId, this.lastHash, {
      insert: (rows) => {
        this.insertRows(rows);
        const last = rows[rows.length - 1];
        this.lastId = last.id;
        this.lastHash = last.hash;
        for (const r of rows) this.noteDistinct(r);
        added.push(...rows);
      },
      torn: (line) =>
        this.warn({ code: 'TORN_LINE', file: this.journalFile, offset: line.offset, message: `a torn journal line (${Buffer.byteLength(line.text)} bytes at byte ${line.offset}) was skipped` }),
      tampered: (id, offset, problem) => this.markTampered(id, offset, problem),
    });
  }

  /**
   * Records that the journal line at `offset` (entry `id`'s place) was changed after it was written.
   * From now on nothing is written: no append (it would continue the chain over the changed line), no
   * checkpoint (it would replace the journal, the evidence). Reads go on, with this warning.
   */
  private markTampered(id: number, offset: number, problem: string): void {
    if (this.tampered) return;
    const message =
      `entry ${id} of the journal (the line at byte ${offset}) ${problem}. It was changed after it was written: ` +
      `the journal is kept as it is, as evidence, and nothing more is written to this log. Keep a copy of ${this.journalFile}; ` +
      `to record again, restore the journal from a copy, or move ${path.basename(this.file)} and its journal aside together and start a new log`;
    this.tampered = { id, offset, message };
    this.warn({ code: 'TAMPERED', file: this.journalFile, offset, message });
  }

  /** The first changed journal line found, if any (see markTampered). */
  get tampering(): { id: number; offset: number; message: string } | undefined {
    return this.tampered;
  }

  /** Throws TAMPERED once a changed journal line was found. */
  private assertUntampered(): void {
    if (this.tampered) throw new StoreError('TAMPERED', this.tampered.message, this.journalFile);
  }

  /**
   * Records damage to the database file (SQLite found it malformed, or it no longer matches its
   * checksum) and returns the error to throw: CORRUPT, with the way out. From now on nothing is written.
   */
  private damaged(what: string, cause?: unknown): StoreError {
    this.damage ??= new StoreError(
      'CORRUPT',
      `is damaged: ${what}. Nothing was written to it. Restore ${path.basename(this.file)} from a copy, or move it aside ` +
        `(with its journal, to start a new log); the journal ${path.basename(this.journalFile)} holds the entries after the last checkpoint`,
      this.file,
      { cause },
    );
    return this.damage;
  }

  /**
   * Whether the database file is still the one its last checkpoint wrote (the checksum in the
   * journal's header), reading it whole (about 0.2 s per GB here). A problem as text, or undefined
   * when it matches or nothing was recorded to compare with. Read only: for `verify`, and before the
   * first write of a process.
   */
  checkDatabaseFile(): string | undefined {
    this.assertOpen();
    if (this.damage) return this.damage.message;
    if (this.dbSound || !this.dbSum) return undefined;
    const algorithm = this.dbSum.split(':')[0];
    if (algorithm !== 'crc32' && algorithm !== 'sha256') return undefined;
    if (algorithm === 'crc32' && SUM_ALGORITHM !== 'crc32') return undefined; // this Node cannot compute it
    const now = this.pages.baseSum(algorithm);
    if (now === this.dbSum) {
      this.dbSound = true;
      return undefined;
    }
    const [, , size] = now.split(':');
    const [, , was] = this.dbSum.split(':');
    return this.damaged(`it no longer matches the checksum its last checkpoint recorded (${size === was ? `${size} bytes, other content` : `${size} bytes, was ${was}`}): it was damaged or changed since it was written`).message;
  }

  /** Throws CORRUPT when the database file is damaged (see checkDatabaseFile): never written past. */
  private assertSound(): void {
    if (this.checkDatabaseFile() !== undefined) throw this.damage!;
  }

  /**
   * Before a checkpoint replaces the journal: the bytes this process read or wrote must still be
   * there. If a line was changed in place since, the changed line is found and marked (and the
   * checkpoint refused), so that the checkpoint does not fold the evidence away.
   */
  private checkJournalUnchanged(): void {
    if (this.journal.unchanged()) return;
    const changed = firstChangedLine(this.journal, (id) => this.rows(`${SELECT_COLS} WHERE id = ?`, [id])[0]?.hash);
    this.markTampered(changed.id, changed.offset, changed.problem);
  }

  /** Inserts rows into the database in one transaction, or none of them. */
  private insertRows(rows: Row[]): void {
    let numeric = 0;
    this.db.exec('BEGIN');
    try {
      for (const r of rows) {
        const values = rowToDb(r);
        if (values[values.length - 1] !== null) numeric++; // entity_num
        this.insertStmt.run(values);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    this.planner.noteInserted(numeric);
  }

  /**
   * Puts this process's durable entries that wait (see OpenOptions.writeBehind) into the database.
   * Throws when that fails; they then stay waiting, and every read fails the same way rather than
   * answer without them.
   */
  private applyOwn(): void {
    this.waiting.flush();
  }

  /** Frees the prepared statements, then closes the database and its file. */
  private closeDatabase(): void {
    for (const s of this.stmts.values()) s.free();
    this.stmts.clear();
    this.insertStmt.free();
    this.db.close();
    this.pages.close();
  }

  /** Opens the database file again (after writing it whole), with the same entries. */
  private reopenPaged(): void {
    this.closeDatabase();
    ({ db: this.db, pages: this.pages } = openPaged(this.SQL, this.file));
    this.setUp();
  }

  /** Replaces the in-memory database with the file on disk; returns the rows it has beyond ours. */
  private reloadFromDisk(): Row[] {
    const before = this.lastId;
    const { db, pages } = openPaged(this.SQL, this.file);
    let last: QueryExecResult[];
    try {
      last = db.exec('SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1');
    } catch (err) {
      db.close();
      pages.close();
      throw new StoreError('CORRUPT', `is damaged: ${(err as Error).message}`, this.file, { cause: err });
    }
    const lastId = last.length ? (last[0].values[0][0] as number) : 0;
    if (lastId < this.journal.header.base) {
      db.close();
      pages.close();
      throw new StoreError('CORRUPT', `the database ends at entry ${lastId} but the journal follows entry ${this.journal.header.base}`, this.file);
    }
    this.closeDatabase();
    this.db = db;
    this.pages = pages;
    this.setUp();
    this.planner.reset();
    const h = this.journal.header;
    this.dbSum = h.base === lastId && typeof h.db === 'string' ? h.db : undefined;
    this.dbSound = false;
    // The file goes past our last entry (its journal's base does), so it has our waiting ones too.
    this.waiting.drop();
    this.lastId = lastId;
    this.lastHash = last.length ? hashOf(last[0].values[0][1] as SqlValue) : GENESIS_HASH;
    return this.rows(`${SELECT_COLS} WHERE id > ? ORDER BY id LIMIT 10000`, [before]);
  }

  /** Catches up with other processes' appends (outside the lock) and tells listeners. */
  private catchUp(): void {
    if (this.closed) return;
    // Not caught: a read must not answer without entries this process has made durable.
    this.applyOwn();
    let added: Row[];
    try {
      added = this.applyNew(false);
    } catch (err) {
      this.warn({ code: 'WATCH', file: this.journalFile, message: `reading other processes' appends failed: ${(err as Error).message}` });
      return;
    }
    if (added.length) this.emitSoon(added);
  }

  private emitSoon(rows: Row[]): void {
    if (!this.listeners.size) return;
    setImmediate(() => this.emit(rows.map(rowToEntry)));
  }

  private emit(entries: Entry[]): void {
    for (const l of [...this.listeners]) {
      try {
        l(entries);
      } catch {
        /* a listener's problem */
      }
    }
  }

  private startWatching(): void {
    const poll = () => {
      if (this.catchUpScheduled || this.closed) return;
      this.catchUpScheduled = true;
      setImmediate(() => {
        this.catchUpScheduled = false;
        try {
          this.catchUp();
        } catch (err) {
          this.warn({ code: 'APPLY', file: this.file, message: (err as Error).message });
        }
      });
    };
    this.watch = watchJournal(this.journalFile, this.opts.pollMs ?? 500, poll);
  }

  // ---------------------------------------------------------------- appending

  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('CLOSED', 'the store is closed', this.file);
  }

  /** Appends one entry. Resolves once it is durable (survives a kill -9 right after). */
  async append(e: NewEntry): Promise<Entry> {
    const [entry] = await this.appendBatch([e]);
    return entry;
  }

  /** Appends entries in order, with consecutive IDs, in one durable write. */
  async appendBatch(es: NewEntry[]): Promise<Entry[]> {
    this.assertOpen();
    this.assertWritable();
    this.assertUntampered();
    if (this.damage) throw this.damage;
    if (!Array.isArray(es)) throw new StoreError('INVALID_ENTRY', 'appendBatch takes an array of entries');
    const now = Date.now();
    const prepared = es.map((e) => prepareRow(e, this.capBytes, now));
    if (!prepared.length) return [];
    return this.serial(() => this.appendLocked(() => prepared));
  }

  /**
   * Appends what `build` returns, decided under the writers' lock: when `build` runs, every
   * entry of every process up to `lastId` can be read (entriesAfter), and no other writer can
   * append until this append is durable. It may throw (or return nothing) to append nothing.
   * For changes that depend on the log's current state, such as a FHIR update with If-Match.
   */
  async appendWith(build: (lastId: number) => NewEntry[] | Promise<NewEntry[]>): Promise<Entry[]> {
    this.assertOpen();
    this.assertWritable();
    this.assertUntampered();
    return this.serial(() =>
      this.appendLocked(async () => {
        this.applyOwn();
        const es = await build(this.lastId);
        const now = Date.now();
        return es.map((e) => prepareRow(e, this.capBytes, now));
      }),
    );
  }

  /** The largest snapshot (canonical JSON, UTF-8 bytes) that is stored whole, not cut to its head and tail. */
  get snapshotCapBytes(): number {
    return this.capBytes;
  }

  /** Entries after `afterId`, oldest first, at most `limit` (≤ 1,000); only those `actions` when given. */
  entriesAfter(afterId: number, limit = 1000, actions?: readonly Action[]): Entry[] {
    this.assertOpen();
    this.catchUp();
    const n = clampLimit(limit);
    if (afterId >= this.lastId) return [];
    if (!actions) return this.rowsAfter(afterId, n).map(rowToEntry);
    const marks = actions.map(() => '?').join(', ');
    return this.rows(`${SELECT_COLS} WHERE id > ? AND action IN (${marks}) ORDER BY id LIMIT ?`, [afterId, ...actions, n]).map(rowToEntry);
  }

  /**
   * The stored rows after `afterId`, in ID order, at most `limit`: snapshots as the canonical JSON
   * text that was hashed, never parsed. For the team shipper, which sends that text byte for byte
   * (parsing snapshots into values and writing them again took most of its time).
   */
  rowsAfter(afterId: number, limit = 1000): Row[] {
    this.assertOpen();
    this.catchUp();
    if (afterId >= this.lastId) return [];
    return this.rows(`${SELECT_COLS} WHERE id > ? ORDER BY id LIMIT ?`, [afterId, clampLimit(limit)]);
  }

  private async appendLocked(prepare: () => PreparedRow[] | Promise<PreparedRow[]>): Promise<Entry[]> {
    this.assertOpen();
    if (!this.lock.tryAcquire()) await this.lock.acquire(this.lockTimeoutMs);
    let others: Row[];
    const rows: Row[] = [];
    const lines = this.lines;
    lines.reset();
    try {
      others = this.applyNew(true);
      this.assertUntampered();
      this.assertSound();
      const prepared = await prepare();
      if (!prepared.length) {
        if (others.length) this.emitSoon(others);
        return [];
      }
      let id = this.lastId;
      let prev = this.lastHash;
      for (const p of prepared) {
        const row = sealRow(p, ++id, prev, lines);
        prev = row.hash;
        rows.push(row);
      }
      try {
        this.journal.append(lines.parts());
      } catch (err) {
        throw err instanceof StoreError ? err : new StoreError('IO', `append failed: ${(err as Error).message}`, this.journalFile, { cause: err });
      }
      this.lastId = id;
      this.lastHash = prev;
    } finally {
      this.lock.release();
    }
    // Durable now. The database, which only this process reads, follows outside the lock.
    if (this.waiting.add(rows, lines.byteLength)) {
      try {
        this.applyOwn();
      } catch (err) {
        // The entries are durable: failing the append would invite a duplicate. Reads report it.
        this.warn({ code: 'APPLY', file: this.file, message: (err as Error).message });
      }
    } else this.waiting.schedule();
    this.planner.forgetCounts();
    this.fullText.schedule();
    for (const r of rows) this.noteDistinct(r);
    if (others.length) this.emitSoon(others);
    const entries = rows.map(rowToEntry);
    if (this.listeners.size) setImmediate(() => this.emit(entries));
    this.afterAppend();
    return entries;
  }

  private afterAppend(): void {
    // The witness follows within a second (and on close), not on every append's path.
    if (this.witness && !this.witnessTimer && !this.readOnly) {
      this.witnessTimer = setTimeout(() => this.noteWitness(), 1000);
      this.witnessTimer.unref();
    }
    if (!this.readOnly) this.checkpoints.afterAppend();
  }

  /**
   * Folds the journal into the database file: exports the database, writes it to a temp file,
   * fsyncs, renames it over the file, then starts a fresh journal the same way.
   */
  checkpoint(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.assertWritable();
      await this.lock.acquire(this.lockTimeoutMs);
      let others: Row[] = [];
      try {
        others = this.applyNew(true);
        this.assertUntampered();
        this.assertSound();
        if (this.lastId !== this.journal.header.base || this.dirty) {
          const from = this.journal.header.base + 1;
          try {
            this.writeCheckpoint();
            this.checkpoints.due = false;
          } catch (err) {
            this.checkpoints.due = true;
            if (err instanceof StoreError) throw err;
            const which = from === this.lastId ? `Entry ${from} is` : `Entries ${from}–${this.lastId} are`;
            const safe = this.lastId >= from ? ` ${which} safe in the journal; the checkpoint is retried later.` : '';
            throw new StoreError('IO', `cannot fold the journal into the database file (checkpoint): ${(err as Error).message}.${safe}`, this.file, { cause: err });
          }
        }
      } finally {
        this.lock.release();
      }
      if (others.length) this.emitSoon(others);
    });
  }

  /** Under the lock: database file then a fresh journal, each atomically. */
  private writeCheckpoint(): void {
    this.lock.refresh();
    this.checkJournalUnchanged();
    this.assertUntampered();
    this.assertSound();
    this.applyOwn();
    // The file always carries a complete full-text index, so that opening it indexes only the journal.
    this.fullText.indexPending(Infinity);
    if (this.pages.detached) {
      // sql.js copied the file into memory (see pagefile.ts): write that copy, then read the file again.
      let data: Uint8Array | undefined = this.db.export();
      writeFileAtomic(this.file, data);
      data = undefined;
      this.reopenPaged();
    } else {
      // The file on disk plus the pages written since: copied by the kernel where it can, then patched.
      replaceFileAtomic(this.file, (fd, tmp) => this.pages.writeTo(fd, tmp, this.file));
      this.pages.rebase(fs.openSync(this.file, 'r'));
    }
    // The new file's checksum, for the next writer to compare before it writes (a read of the file
    // the kernel just copied, from the operating system's cache).
    this.dbSum = this.pages.baseSum();
    this.dbSound = true;
    const j = Journal.create(this.journalFile, this.lastId, this.lastHash, this.dbSum);
    this.journal.close();
    this.journal = j;
    this.dirty = false;
    this.checkpoints.cancelIdle();
  }

  // ---------------------------------------------------------------- reading

  private stmt(sql: string): Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      if (this.stmts.size > 200) {
        for (const x of this.stmts.values()) x.free();
        this.stmts.clear();
      }
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  private rows(sql: string, params: SqlValue[]): Row[] {
    const out: Row[] = [];
    try {
      const s = this.stmt(sql);
      try {
        s.bind(params);
        while (s.step()) out.push(dbToRow(s.get() as SqlValue[]));
      } finally {
        s.reset();
      }
    } catch (err) {
      throw isDamage(err) ? this.damaged((err as Error).message, err) : err;
    }
    return out;
  }

  private scalar(sql: string, params: SqlValue[]): SqlValue {
    try {
      const s = this.stmt(sql);
      try {
        s.bind(params);
        return s.step() ? (s.get()[0] as SqlValue) : null;
      } finally {
        s.reset();
      }
    } catch (err) {
      throw isDamage(err) ? this.damaged((err as Error).message, err) : err;
    }
  }

  private toFilters(filters: Filter[] | string): Filter[] {
    return typeof filters === 'string' ? parseQuery(filters) : filters;
  }

  /** The entry with this ID. */
  get(id: number): Entry | undefined {
    this.assertOpen();
    this.catchUp();
    const [r] = this.rows(`${SELECT_COLS} WHERE id = ?`, [id]);
    return r && rowToEntry(r);
  }

  /** The newest ID (0 when the log is empty); IDs run 1..lastId without gaps. */
  get size(): number {
    this.assertOpen();
    this.catchUp();
    return this.lastId;
  }

  /** The hash of the newest entry: keep it elsewhere to prove later that nothing before it changed. */
  get headHash(): string {
    this.assertOpen();
    this.catchUp();
    return this.lastHash;
  }

  private entityNames(): string[] {
    return [...this.distinctSets().entityNames];
  }

  /**
   * A page of entries matching all filters, newest first by default, by keyset pagination: pass
   * `nextCursor` back to get the next page. `total` counts all matches. A cursor pins "now" for
   * relative times, so the pages of one listing agree.
   */
  query(filters: Filter[] | string, page: PageOptions = {}): Page {
    this.assertOpen();
    this.catchUp();
    const rows = keysetPage(this.planner, this.toFilters(filters), page);
    return { ...rows, entries: rows.entries.map(rowToEntry) };
  }

  /**
   * A window on the entries matching `filters` for a virtualized table, which asks for rows by
   * position: `rows(start, count)`. The window is pinned at the newest entry when it opens (later
   * entries are not in it, so positions stay put while the log grows; `newSince()` counts them)
   * and at one "now" for relative times. A query string is parsed (QueryError on bad text).
   */
  window(filters: Filter[] | string, opts: WindowOptions = {}): LogWindow {
    this.assertOpen();
    this.catchUp();
    const source: WindowSource = {
      ready: () => {
        this.assertOpen();
        this.catchUp();
      },
      lastId: () => this.lastId,
      count: (fl, now, remember) => this.planner.count(fl, now, remember),
      quickCount: (fl, now) => this.planner.quickCount(fl, now),
      page: (fl, now, total, after, order, limit, offset) => this.planner.page(fl, now, total, after, order, limit, offset).map(rowToEntry),
    };
    return new LogWindow(source, this.toFilters(filters), opts);
  }

  /** Every entry of one run (one trace ID), oldest first: the run and what it changed. */
  byTrace(traceId: string, limit = MAX_LIMIT): Entry[] {
    this.assertOpen();
    this.catchUp();
    return this.rows(`${SELECT_COLS} WHERE trace_id = ? ORDER BY id ASC LIMIT ?`, [traceId, clampLimit(limit)]).map(rowToEntry);
  }

  /**
   * The newest `limit` entries that match, without counting every match: for narrow filters (one
   * entity, one bot) where a view needs only the last few, such as the Bots view's last outcome.
   */
  latest(filters: Filter[] | string, limit = 1): Entry[] {
    this.assertOpen();
    this.catchUp();
    return this.planner.page(this.toFilters(filters), Date.now(), 0, undefined, 'desc', clampLimit(limit)).map(rowToEntry);
  }

  /**
   * The last run of each bot (see AuditLogReader.lastRuns) in two statements, not one query per bot:
   * each ID's newest EXECUTED entry found on the entity index, then those rows read by ID.
   */
  lastRuns(entityIds: readonly string[]): Map<string, Entry> {
    this.assertOpen();
    this.catchUp();
    const out = new Map<string, Entry>();
    if (!entityIds.length) return out;
    const newest = this.db.exec(
      `SELECT (SELECT id FROM entries WHERE entity_id = j.value AND entity_name = 'Bot' AND action = 'EXECUTED' ORDER BY id DESC LIMIT 1) FROM json_each(?) j`,
      [JSON.stringify(entityIds)],
    );
    const ids = newest.length ? newest[0].values.map((r) => r[0]).filter((id): id is number => typeof id === 'number') : [];
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      for (const row of this.rows(`${SELECT_COLS} WHERE id IN (${part.map(() => '?').join(',')})`, part)) out.set(row.entityId, rowToEntry(row));
    }
    return out;
  }

  /** How many entries match all filters. */
  count(filters: Filter[] | string): number {
    this.assertOpen();
    this.catchUp();
    return this.planner.count(this.toFilters(filters), Date.now());
  }

  private noteDistinct(r: Row): void {
    const d = this.distinctCache;
    if (!d) return;
    d.users.add(r.user);
    d.actions.add(r.action);
    d.entityNames.add(r.entityName);
    if (r.bot !== undefined) d.bots.add(r.bot);
  }

  private distinctSets(): NonNullable<AuditStore['distinctCache']> {
    if (!this.distinctCache) {
      // A skip-scan over each index: one index seek per distinct value, not a scan of the log.
      const skip = (col: string) => {
        const res = this.db.exec(
          `WITH RECURSIVE v(x) AS (SELECT min(${col}) FROM entries WHERE ${col} IS NOT NULL UNION ALL SELECT (SELECT min(${col}) FROM entries WHERE ${col} > v.x) FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL`,
        );
        return new Set(res.length ? res[0].values.map((r) => String(r[0])) : []);
      };
      this.distinctCache = { users: skip('user'), actions: skip('action'), entityNames: skip('entity_name'), bots: skip('bot') };
    }
    return this.distinctCache;
  }

  /** The distinct users, actions, entity names and bots in the log, for the filter dropdowns. */
  distinct(): { users: string[]; actions: Action[]; entityNames: string[]; bots: string[] } {
    this.assertOpen();
    this.catchUp();
    const d = this.distinctSets();
    const sorted = (s: Set<string>) => [...s].sort((a, b) => a.localeCompare(b));
    return {
      users: sorted(d.users),
      actions: ACTIONS.filter((a) => d.actions.has(a)),
      entityNames: sorted(d.entityNames),
      bots: sorted(d.bots),
    };
  }

  /** All entries of one entity, oldest first. */
  history(entityName: string, entityId: string): Entry[] {
    this.assertOpen();
    this.catchUp();
    return this.rows(`${SELECT_COLS} WHERE entity_id = ? AND entity_name = ? ORDER BY id ASC`, [String(entityId), entityName]).map(rowToEntry);
  }

  /**
   * Recomputes the hash chain: every ID present in order, every entry's previous hash equal to the
   * hash before it, and every hash equal to the SHA-256 of the entry's canonical JSON; from entry 1,
   * or with `incremental` from the entry after the last verification (see verify.ts). Then compares
   * the log with the witness (OpenOptions.witnessDir) and `expectHead`. A function is taken as
   * `onProgress(done, total)`, called every 10,000 entries.
   */
  verify(opts: VerifyOptions | ((done: number, total: number) => void) = {}): VerifyResult {
    this.assertOpen();
    this.catchUp();
    return verifyChain(storeChain(this.db, this.pages, this.lastId, this.opts.verifyWorker), typeof opts === 'function' ? { onProgress: opts } : opts, this.witness);
  }

  /**
   * Everything an auditor asks of the log, for the CLI's `verify` and the editor's command alike:
   * `verify()`; a changed journal line (see `tampering`), which breaks the chain at its entry even
   * when it could not be read as an entry at its place; and, when every entry checks out, the
   * database file against the checksum of its last checkpoint (`damage`: the rest of the file,
   * indexes and free space, must still be what was written).
   */
  audit(opts: VerifyOptions = {}): VerifyResult & { damage?: string } {
    let r = this.verify(opts);
    const t = this.tampered;
    if (t && (r.ok || (r.firstBroken && r.firstBroken.id > t.id))) {
      r = { ok: false, count: Math.max(r.count, t.id), headHash: r.headHash, firstBroken: { id: t.id, reason: t.message } };
    }
    const damage = r.ok ? this.checkDatabaseFile() : undefined;
    return damage ? { ...r, damage } : r;
  }

  /**
   * Streams the entries matching the filters to `out` as CSV, NDJSON or a FHIR R4 Bundle of
   * AuditEvents, in `order` (default newest first), in batches, waiting for `drain`. Does not end
   * `out` unless `end` is true. Returns the number of entries written.
   */
  async exportTo(
    filters: Filter[] | string,
    format: ExportFormat,
    out: NodeJS.WritableStream,
    opts: { order?: 'desc' | 'asc'; end?: boolean } = {},
  ): Promise<number> {
    this.assertOpen();
    this.catchUp();
    const fl = this.toFilters(filters);
    const now = Date.now();
    const fmt = formatter(format, now);
    const where = this.planner.where(fl, now);
    const desc = (opts.order ?? 'desc') === 'desc';
    const maxId = this.lastId;
    const write = async (chunk: string) => {
      if (chunk && !out.write(chunk)) await once(out, 'drain');
    };
    await write(fmt.head);
    let n = 0;
    let edge = desc ? maxId + 1 : 0;
    for (;;) {
      this.assertOpen();
      const sql = `${SELECT_COLS} WHERE (${where.sql}) AND id ${desc ? '<' : '>'} ? AND id <= ? ORDER BY id ${desc ? 'DESC' : 'ASC'} LIMIT 500`;
      const rows = this.rows(sql, [...where.params, edge, maxId]);
      if (!rows.length) break;
      let chunk = '';
      for (const r of rows) chunk += fmt.entry(rowToEntry(r), n++);
      await write(chunk);
      edge = rows[rows.length - 1].id;
    }
    await write(fmt.tail);
    if (opts.end) {
      out.end();
      await once(out, 'finish').catch(() => undefined);
    }
    return n;
  }

  /** Called with new entries, this process's and other processes' (within about a second). */
  onDidAppend(listener: (entries: Entry[]) => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Called when the store skips something it found damaged (a torn journal line, …). */
  onDidWarn(listener: (w: StoreWarning) => void): Disposable {
    this.warnListeners.add(listener);
    return { dispose: () => this.warnListeners.delete(listener) };
  }

  /** Checkpoints if needed, then releases files and memory. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return this.queue.then(() => undefined);
    this.stopTimers();
    try {
      if (!this.readOnly && !this.tampered && !this.damage) await this.checkpoint();
    } catch (err) {
      // What was appended is durable in the journal: closing does not fail for it, and the next
      // process to open the log folds the journal.
      this.warn({ code: 'CHECKPOINT', file: this.file, message: (err as Error).message });
    } finally {
      await this.serial(() => {
        if (this.closed) return;
        this.noteWitness();
        this.closed = true;
        this.journal.close();
        this.closeDatabase();
        this.listeners.clear();
        this.warnListeners.clear();
      });
    }
  }

  private stopTimers(): void {
    this.watch?.close();
    this.watch = undefined;
    this.checkpoints.cancelIdle();
    this.fullText.stop();
    this.waiting.stop();
    if (this.witnessTimer) clearTimeout(this.witnessTimer);
  }

  /** Runs read-only SQL on the in-memory database (for tests and diagnostics). Writes are refused by the schema's triggers. */
  unsafeExec(sql: string, params: SqlValue[] = []): SqlValue[][] {
    this.assertOpen();
    this.applyOwn();
    const s = this.db.prepare(sql);
    try {
      s.bind(params);
      const out: SqlValue[][] = [];
      while (s.step()) out.push(s.get() as SqlValue[]);
      return out;
    } finally {
      s.free();
    }
  }
}
