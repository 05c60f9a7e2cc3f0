// The audit store: an append-only, hash-chained, durable log on sql.js, shared by several processes.
// See README.md beside this file for the design (journal, checkpoints, locks, chain, limits).
// Node only: imports nothing from `vscode`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import initSqlJs from 'sql.js';
import type { Database, QueryExecResult, SqlJsStatic, Statement } from 'sql.js';
import { buildWhere, entityNumber, indexProbe, likeContainsMatch, parseQuery, QueryError, validateFilter, type Filter, type SqlWhere } from '../query';
import { isDamage, StoreError } from './errors';
import { formatter, type ExportFormat } from './formats';
import { Journal, replaceFileAtomic, writeFileAtomic } from './journal';
import { PagedFile, SUM_ALGORITHM } from './pagefile';
import { FileLock, pidAlive } from './lock';
import {
  dbToRow,
  ftsBody,
  GENESIS_HASH,
  hashOf,
  hashRow,
  parseRowLine,
  prepareRow,
  ROW_COLUMNS,
  rowToDb,
  rowToEntry,
  sealRow,
  LineBuffer,
  textOf,
  type PreparedRow,
  type Row,
  type SqlValue,
} from './record';
import { APPLICATION_ID, createSchema, FTS_INSERT_SQL, FTS_UPTO_SQL, INSERT_SQL, migrate, restoreAppendOnly, SCHEMA_VERSION } from './schema';
import { storeChain, verifyChain, type VerifyOptions, type VerifyResult } from './verify';
import { Witness, checkMark } from './witness';
import { ACTIONS, type Action, type Entry, type NewEntry } from './types';
import { LogWindow, type WindowOptions, type WindowSource } from './window';

export { ACTIONS, OUTCOMES, OUTCOME_NAMES, isAction, isOutcome } from './types';
export type { Action, Outcome, NewEntry, Entry } from './types';
export { StoreError } from './errors';
export { capText, cutBytes, canonicalJson, GENESIS_HASH } from './record';
export { toAuditEvent, type ExportFormat } from './formats';
export { SCHEMA_VERSION, APPLICATION_ID } from './schema';
export type { Filter } from '../query';
export { LogWindow, type WindowOptions } from './window';
export type { VerifyOptions, VerifyResult } from './verify';
export { defaultStateDir } from './witness';

export interface AutoCheckpoint {
  /** Checkpoint after this long without an append by this process (default 30 s). */
  idleMs?: number;
  /** Checkpoint once the journal holds this many bytes of entries (default 8 MiB). */
  maxJournalBytes?: number;
  /** … or this many entries (default 10,000). */
  maxJournalEntries?: number;
}

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

export interface WriteBehind {
  maxEntries?: number;
  /** Bytes of their journal lines. */
  maxBytes?: number;
}

export interface PageOptions {
  limit?: number;
  cursor?: string;
  order?: 'desc' | 'asc';
}

export interface Page {
  entries: Entry[];
  nextCursor?: string;
  total: number;
}

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

export interface Disposable {
  dispose(): void;
}

const DEFAULT_CAP = 1 << 20;
const SELECT_COLS = `SELECT ${ROW_COLUMNS.join(', ')} FROM entries`;
const MAX_LIMIT = 1000;
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
/**
 * Entries written by this process go into the database this long after the last append (reads
 * put them in first): a bot's calls, one entry each, go in as one transaction instead of one each.
 */
const APPLY_DELAY_MS = 20;
/** The columns full-text search indexes, in the order of ftsBody's fields. */
const FTS_COLS = 'SELECT id, outcome_desc, input, return_value, before_json, after_json FROM entries WHERE id > ? ORDER BY id LIMIT ?';

/** Counts intersect the IDs of two conditions when both match fewer entries than this (see countByIntersection). */
const INTERSECT_MAX = 200_000;
/** The count cache's key of a WHERE clause. */
const countKey = (w: SqlWhere): string => w.sql + '\0' + JSON.stringify(w.params);
/** See OpenOptions.broadAbove. */
const BROAD_ABOVE = 2000;

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

const sqlModules = new Map<string, Promise<SqlJsStatic>>();

function defaultWasmPath(): string {
  try {
    return require.resolve('sql.js/dist/sql-wasm.wasm');
  } catch {
    return path.join(__dirname, 'sql-wasm.wasm');
  }
}

function loadSql(wasmPath?: string): Promise<SqlJsStatic> {
  const p = wasmPath ?? defaultWasmPath();
  let m = sqlModules.get(p);
  if (!m) {
    m = (async () => {
      let wasmBinary: Buffer;
      try {
        wasmBinary = fs.readFileSync(p);
      } catch (err) {
        throw new StoreError('IO', `cannot read sql.js's WebAssembly file: ${(err as Error).message}`, p, { cause: err });
      }
      return initSqlJs({ wasmBinary: wasmBinary.buffer.slice(wasmBinary.byteOffset, wasmBinary.byteOffset + wasmBinary.byteLength) as ArrayBuffer });
    })();
    m.catch(() => sqlModules.delete(p));
    sqlModules.set(p, m);
  }
  return m;
}

const SQLITE_MAGIC = 'SQLite format 3\0';

/**
 * How a whole journal line ends: its hash, then the closing brace (the hash is the last key). A line
 * that does not parse but ends so was written whole and changed since; one that does not is torn.
 */
const COMPLETE_LINE = /"hash":"[0-9a-f]{64}"\}\s*$/;

/** The first 16 bytes of a file (fewer if it is shorter) and its size. */
function readHead(file: string): { head: string; size: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(16);
    const n = fs.readSync(fd, buf, 0, 16, 0);
    return { head: buf.toString('latin1', 0, n), size };
  } finally {
    fs.closeSync(fd);
  }
}

/** Opens a database file in sql.js, read from disk page by page (see pagefile.ts). */
function openPaged(SQL: SqlJsStatic, file: string): { db: Database; pages: PagedFile } {
  const pages = new PagedFile(file);
  try {
    return { db: new SQL.Database(pages as unknown as Uint8Array), pages };
  } catch (err) {
    pages.close();
    throw err;
  }
}

interface Cursor {
  id: number;
  now: number;
  order: 'desc' | 'asc';
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.id, c.now, c.order === 'asc' ? 1 : 0])).toString('base64url');
}

function decodeCursor(s: string): Cursor {
  try {
    const [id, now, asc] = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as [number, number, number];
    if (Number.isSafeInteger(id) && Number.isFinite(now) && (asc === 0 || asc === 1)) return { id, now, order: asc ? 'asc' : 'desc' };
  } catch {
    /* fall through */
  }
  throw new QueryError('the page cursor is not one this store gave out', -1);
}

export class AuditStore {
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
  private countCache = new Map<string, number>();
  private watcher?: fs.FSWatcher;
  private pollTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private ftsTimer?: NodeJS.Timeout;
  /** Entries 1..ftsUpTo are in the full-text index; later ones are indexed when idle or before a search. */
  private ftsUpTo = 0;
  private catchUpScheduled = false;
  private checkpointScheduled = false;
  /** The last checkpoint failed: the next append retries it at once, not after the idle time. */
  private checkpointDue = false;
  private readonly capBytes: number;
  private readonly auto: Required<AutoCheckpoint> | false;
  private readonly lockTimeoutMs: number;
  private readonly intersectMax: number;
  private readonly broadAbove: number;
  private readonly writeBehind: Required<WriteBehind> | false;
  /** The first changed journal line found (see markTampered): nothing more is written. */
  private tampered?: { id: number; offset: number; message: string };
  /** Damage found in the database file (see damaged()): nothing more is written. */
  private damage?: StoreError;
  /** The checksum its checkpoint recorded for the file this.pages reads (JournalHeader.db), when known. */
  private dbSum?: string;
  /** The file this.pages reads was found to match dbSum (or was written by this process). */
  private dbSound = false;
  /**
   * Entries this process has made durable in the journal but not yet put in the database, oldest
   * first. Everything that reads the database puts them in first (catchUp, indexPending,
   * writeCheckpoint), so whenever it is read it holds entries 1..lastId without gaps; other
   * processes' entries may go in before them.
   */
  private unapplied: Row[] = [];
  private unappliedBytes = 0;
  private applyTimer?: NodeJS.Timeout;
  /** How many entries in the database have a numeric entity ID, once counted (see countTextIds). */
  private numericIds: number | undefined;
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
    this.auto =
      opts.autoCheckpoint === false
        ? false
        : { idleMs: 30_000, maxJournalBytes: 8 << 20, maxJournalEntries: 10_000, ...(opts.autoCheckpoint ?? {}) };
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 30_000;
    this.intersectMax = Math.max(1, opts.intersectMax ?? INTERSECT_MAX);
    this.broadAbove = Math.max(0, Math.floor(opts.broadAbove ?? BROAD_ABOVE));
    this.writeBehind = opts.writeBehind === false ? false : { maxEntries: 10_000, maxBytes: 16 << 20, ...(opts.writeBehind ?? {}) };
    if (opts.witnessDir) this.witness = new Witness(opts.witnessDir, this.file);
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

  /** Why this log cannot be written, when the folder or the journal is not writable; undefined when it can be. */
  private notWritable(): string | undefined {
    for (const p of [path.dirname(this.file), this.journalFile]) {
      try {
        fs.accessSync(p, fs.constants.W_OK);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        return `${p} is not writable (${code})`;
      }
    }
    return undefined;
  }

  private async init(): Promise<void> {
    this.readOnlyReason = this.opts.readOnly ? 'opened read-only' : this.notWritable();
    if (this.readOnlyReason) return this.initReadOnly();
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
    } catch (err) {
      throw new StoreError('IO', `cannot create the folder: ${(err as Error).message}`, path.dirname(this.file), { cause: err });
    }
    await this.lock.acquire(this.lockTimeoutMs);
    try {
      this.removeLeftoverTemps();
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
    else if (this.journalFull()) {
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

  private removeLeftoverTemps(): void {
    const dir = path.dirname(this.file);
    const base = path.basename(this.file);
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const m = /\.tmp-(\d+)-[a-z0-9]+$/.exec(n);
      if (!m || !(n.startsWith(base + '.tmp-') || n.startsWith(base + '.journal.tmp-'))) continue;
      if (!pidAlive(Number(m[1]))) fs.rmSync(path.join(dir, n), { force: true });
    }
  }

  /** Opens the database file in sql.js (read from disk as pages are needed), or creates it. Throws StoreError without writing anything on a bad file. */
  private loadDatabase(): void {
    let head: string | undefined;
    let size = 0;
    try {
      ({ head, size } = readHead(this.file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StoreError('IO', `cannot read: ${(err as Error).message}`, this.file, { cause: err });
      }
    }
    if (head === undefined) {
      const existing = Journal.open(this.journalFile);
      const base = existing?.header.base ?? 0;
      existing?.close();
      if (base > 0) {
        throw new StoreError('CORRUPT', `the database file is missing, but its journal ${this.journalFile} follows entry ${base}; restore the database file from a backup`, this.file);
      }
      const fresh = new this.SQL.Database();
      createSchema(fresh);
      const image = fresh.export();
      fresh.close();
      writeFileAtomic(this.file, image);
      ({ db: this.db, pages: this.pages } = openPaged(this.SQL, this.file));
      this.setUp();
      return;
    }
    if (size < 100 || head !== SQLITE_MAGIC) {
      throw new StoreError(
        'NOT_BOT_AUDIT_DB',
        `is not a Bot Audit database: it is not an SQLite file (${size} bytes, starting ${JSON.stringify(head)}); it was left untouched`,
        this.file,
      );
    }
    let opened: { db: Database; pages: PagedFile };
    try {
      opened = openPaged(this.SQL, this.file);
    } catch (err) {
      throw new StoreError('IO', `cannot read: ${(err as Error).message}`, this.file, { cause: err });
    }
    const { db, pages } = opened;
    const drop = () => {
      db.close();
      pages.close();
    };
    size = pages.byteLength;
    let appId: number;
    let version: number;
    try {
      appId = db.exec('PRAGMA application_id')[0].values[0][0] as number;
      version = db.exec('PRAGMA user_version')[0].values[0][0] as number;
    } catch (err) {
      drop();
      throw this.damaged((err as Error).message, err);
    }
    if (appId !== APPLICATION_ID) {
      drop();
      throw new StoreError(
        'NOT_BOT_AUDIT_DB',
        `is an SQLite database but not a Bot Audit log (application_id ${appId}, expected ${APPLICATION_ID}); it was left untouched`,
        this.file,
      );
    }
    if (version > SCHEMA_VERSION) {
      drop();
      throw new StoreError('NEWER_SCHEMA', `was written by a newer Bot Audit (schema ${version}; this one reads up to ${SCHEMA_VERSION}); update the extension`, this.file);
    }
    try {
      const pageCount = db.exec('PRAGMA page_count')[0].values[0][0] as number;
      const pageSize = db.exec('PRAGMA page_size')[0].values[0][0] as number;
      if (pageCount * pageSize > size) throw new Error(`the file is truncated (${size} bytes, its header says ${pageCount * pageSize})`);
      if (version < 1) throw new Error(`schema version ${version} is not a Bot Audit schema`);
      if (migrate(db, version) > 0) this.dirty = true;
      this.db = db;
      this.pages = pages;
      this.setUp();
      const last = this.db.exec('SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1');
      if (last.length) {
        this.lastId = last[0].values[0][0] as number;
        this.lastHash = hashOf(last[0].values[0][1] as SqlValue);
      }
    } catch (err) {
      drop();
      if (err instanceof StoreError) throw err;
      throw this.damaged(`${(err as Error).message} (or it is not a Bot Audit log)`, err);
    }
  }

  private setUp(): void {
    this.db.exec('PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY;');
    for (const s of this.stmts.values()) s.free();
    this.stmts.clear();
    this.insertStmt = this.db.prepare(INSERT_SQL);
    this.ftsUpTo = Number(this.db.exec(FTS_UPTO_SQL)[0].values[0][0]);
    this.countCache.clear();
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
      this.countCache.clear();
      this.scheduleFtsIndex();
    }
    return added;
  }

  /**
   * Applies journal lines in order. A line that is not complete JSON and does not look like a whole
   * entry is torn (a crash mid-write, sealed by the next writer): skipped with a warning. Any other
   * line that is not an entry, or whose hash does not match its content, or that does not follow the
   * entry before it, was changed after it was written: see markTampered. An entry that still has its
   * place (the next ID) goes into the database as it reads now, so that reads show it and verify()
   * names it; the entries after it are read on as they chain to it.
   */
  private applyLines(lines: { text: string; offset: number }[], added: Row[]): void {
    const rows: Row[] = [];
    let lastId = this.lastId;
    let lastHash = this.lastHash;
    const flush = () => {
      if (!rows.length) return;
      this.insertRows(rows);
      this.lastId = lastId;
      this.lastHash = lastHash;
      for (const r of rows) this.noteDistinct(r);
      added.push(...rows);
      rows.length = 0;
    };
    for (const line of lines) {
      let row: Row;
      try {
        row = JSON.parse(line.text) as Row;
      } catch (err) {
        if (!COMPLETE_LINE.test(line.text)) {
          this.warn({ code: 'TORN_LINE', file: this.journalFile, offset: line.offset, message: `a torn journal line (${Buffer.byteLength(line.text)} bytes at byte ${line.offset}) was skipped` });
          continue;
        }
        flush();
        this.markTampered(lastId + 1, line.offset, `is not valid JSON (${(err as Error).message})`);
        return;
      }
      if (!row || typeof row !== 'object' || !Number.isSafeInteger(row.id) || typeof row.hash !== 'string' || typeof row.prevHash !== 'string') {
        flush();
        this.markTampered(lastId + 1, line.offset, 'is not an entry');
        return;
      }
      if (row.id <= lastId) continue; // already in the database file
      let problem: string | undefined;
      if (row.id !== lastId + 1) problem = row.id > lastId + 1 ? `is entry ${row.id}: entries ${lastId + 1}–${row.id - 1} are missing` : `is entry ${row.id} again, out of order`;
      else if (row.prevHash !== lastHash) problem = `does not link to entry ${lastId}: its previous hash is not that entry's hash (an entry was changed, removed or inserted)`;
      else if (hashRow(row) !== row.hash) problem = 'does not match its hash: its content was changed';
      if (!problem) {
        rows.push(row);
        lastId = row.id;
        lastHash = row.hash;
        continue;
      }
      flush();
      this.markTampered(lastId + 1, line.offset, problem);
      if (row.id !== lastId + 1) return; // it has no place: nothing after it can be placed either
      try {
        rows.push(row);
        lastId = row.id;
        lastHash = row.hash;
        flush();
      } catch {
        return; // values no entry can have: the entries before it are what can be read
      }
    }
    flush();
  }

  /** The last entry the database file had when this journal began (its header's base). */
  private baseId(): number {
    return this.journal.header.base;
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
    let lastId = this.baseId();
    let lastHash = this.journal.header.baseHash;
    for (const line of this.journal.readAll()) {
      let row: Row | undefined;
      try {
        row = parseRowLine(line.text);
      } catch {
        if (!COMPLETE_LINE.test(line.text)) continue; // a torn line, sealed
      }
      if (row && row.id <= lastId) continue;
      if (!row || row.id !== lastId + 1 || row.prevHash !== lastHash) {
        this.markTampered(lastId + 1, line.offset, row ? 'no longer links to the entry before it' : 'no longer matches its hash, or is no longer an entry');
        break;
      }
      const ours = this.rows(`${SELECT_COLS} WHERE id = ?`, [row.id])[0];
      if (ours && ours.hash !== row.hash) {
        this.markTampered(row.id, line.offset, 'is no longer the entry that was written (its hash changed)');
        break;
      }
      lastId = row.id;
      lastHash = row.hash;
    }
    this.markTampered(lastId + 1, this.journal.pos, 'follows bytes of the journal that were changed after they were written');
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
    if (this.numericIds !== undefined) this.numericIds += numeric;
  }

  /**
   * Puts this process's durable entries that wait (see OpenOptions.writeBehind) into the database.
   * Throws when that fails; they then stay waiting, and every read fails the same way rather than
   * answer without them.
   */
  private applyOwn(): void {
    if (!this.unapplied.length) return;
    const rows = this.unapplied;
    try {
      this.insertRows(rows);
    } catch (err) {
      throw new StoreError(
        'IO',
        `entries ${rows[0].id}–${rows[rows.length - 1].id} are in the journal but could not be put in the database: ${(err as Error).message}`,
        this.file,
        { cause: err },
      );
    }
    this.unapplied = [];
    this.unappliedBytes = 0;
  }

  /** Applies waiting entries once appends pause for APPLY_DELAY_MS. */
  private scheduleApply(): void {
    // One timer, restarted by each append (no new timer per append).
    if (this.applyTimer) {
      this.applyTimer.refresh();
      return;
    }
    this.applyTimer = setTimeout(() => {
      this.applyTimer = undefined;
      if (this.closed) return;
      try {
        this.applyOwn();
      } catch (err) {
        this.warn({ code: 'APPLY', file: this.file, message: (err as Error).message });
      }
    }, APPLY_DELAY_MS);
    this.applyTimer.unref();
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
    this.numericIds = undefined;
    const h = this.journal.header;
    this.dbSum = h.base === lastId && typeof h.db === 'string' ? h.db : undefined;
    this.dbSound = false;
    // The file goes past our last entry (its journal's base does), so it has our waiting ones too.
    this.unapplied = [];
    this.unappliedBytes = 0;
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
    try {
      const base = path.basename(this.journalFile);
      this.watcher = fs.watch(path.dirname(this.journalFile), { persistent: false }, (_ev, name) => {
        if (!name || name === base) poll();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      /* no fs.watch here: the poll alone */
    }
    this.pollTimer = setInterval(poll, Math.max(50, this.opts.pollMs ?? 500));
    this.pollTimer.unref();
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
    const n = Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit)));
    if (afterId >= this.lastId) return [];
    if (!actions) return this.rows(`${SELECT_COLS} WHERE id > ? ORDER BY id LIMIT ?`, [afterId, n]).map(rowToEntry);
    const marks = actions.map(() => '?').join(', ');
    return this.rows(`${SELECT_COLS} WHERE id > ? AND action IN (${marks}) ORDER BY id LIMIT ?`, [afterId, ...actions, n]).map(rowToEntry);
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
    for (const r of rows) this.unapplied.push(r);
    this.unappliedBytes += lines.byteLength;
    const wb = this.writeBehind;
    if (!wb || this.unapplied.length > wb.maxEntries || this.unappliedBytes > wb.maxBytes) {
      try {
        this.applyOwn();
      } catch (err) {
        // The entries are durable: failing the append would invite a duplicate. Reads report it.
        this.warn({ code: 'APPLY', file: this.file, message: (err as Error).message });
      }
    } else this.scheduleApply();
    this.countCache.clear();
    this.scheduleFtsIndex();
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
    if (!this.auto || this.readOnly) return;
    if (this.checkpointDue || this.journalFull()) {
      this.scheduleCheckpoint();
      return;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.scheduleCheckpoint(), this.auto.idleMs);
    this.idleTimer.unref();
  }

  /** Whether the journal holds as many entries or bytes as autoCheckpoint folds at. */
  private journalFull(): boolean {
    if (!this.auto) return false;
    const pending = this.lastId - this.journal.header.base;
    return pending >= this.auto.maxJournalEntries || this.journal.entryBytes >= this.auto.maxJournalBytes;
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointScheduled || this.closed) return;
    this.checkpointScheduled = true;
    this.checkpoint()
      .catch((err) => this.warn({ code: 'CHECKPOINT', file: this.file, message: (err as Error).message }))
      .finally(() => {
        this.checkpointScheduled = false;
      });
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
            this.checkpointDue = false;
          } catch (err) {
            this.checkpointDue = true;
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
    this.indexPending(Infinity);
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
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }

  // ---------------------------------------------------------------- full-text index

  /**
   * Adds up to `max` entries after ftsUpTo to the full-text index, in ID order, in one transaction
   * per 5,000. Returns how many entries are still not indexed. Synchronous: nothing else touches the
   * database meanwhile.
   */
  private indexPending(max: number): number {
    this.applyOwn();
    let budget = max;
    while (this.ftsUpTo < this.lastId && budget > 0) {
      const n = Math.min(budget, 5000, this.lastId - this.ftsUpTo);
      const sel = this.stmt(FTS_COLS);
      let upTo = this.ftsUpTo;
      this.db.exec('BEGIN');
      try {
        const batch: [number, string][] = [];
        try {
          sel.bind([this.ftsUpTo, n]);
          while (sel.step()) {
            const v = sel.get() as SqlValue[];
            const text = (i: number) => (v[i] === null ? undefined : textOf(v[i]));
            batch.push([v[0] as number, ftsBody({ outcomeDesc: text(1), input: text(2), returnValue: text(3), before: text(4), after: text(5) })]);
          }
        } finally {
          sel.reset();
        }
        // Taken only now: taking a statement may free the cached ones (sel among them) when there are many.
        const ins = this.stmt(FTS_INSERT_SQL);
        for (const [id, body] of batch) {
          if (id !== upTo + 1) throw new StoreError('CORRUPT', `entry ${upTo + 1} is missing (full-text indexing found ${id} next)`, this.file);
          ins.run([id, body]);
          upTo = id;
        }
        this.db.exec('COMMIT');
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw err;
      }
      if (upTo === this.ftsUpTo) break;
      budget -= upTo - this.ftsUpTo;
      this.ftsUpTo = upTo;
    }
    return this.lastId - this.ftsUpTo;
  }

  /**
   * Indexes new entries for full-text search once appends pause (or once FTS_MAX_PENDING wait, even
   * if they do not), a few hundred at a time.
   */
  private scheduleFtsIndex(): void {
    if (this.closed) return;
    if (this.ftsTimer && this.lastId - this.ftsUpTo >= FTS_MAX_PENDING) return;
    if (this.ftsTimer) clearTimeout(this.ftsTimer);
    const turn = () => {
      this.ftsTimer = undefined;
      if (this.closed) return;
      try {
        if (this.indexPending(FTS_IDLE_CHUNK) > 0) this.ftsTimer = setTimeout(turn, 0);
      } catch (err) {
        this.warn({ code: 'WATCH', file: this.file, message: `full-text indexing failed: ${(err as Error).message}` });
        return;
      }
      this.ftsTimer?.unref();
    };
    this.ftsTimer = setTimeout(turn, FTS_IDLE_MS);
    this.ftsTimer.unref();
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

  /** The WHERE clause for filters; "contains" on entity names goes through the known names and their index. */
  private where(fl: Filter[], now: number, selective = false): SqlWhere {
    // Full-text search sees every entry: whatever is not indexed yet is indexed first.
    if (fl.some((f) => f.column === 'text')) this.indexPending(Infinity);
    return buildWhere(fl, now, { entityNames: this.entityNames(), entityIdUnion: selective });
  }

  private entityNames(): string[] {
    return [...this.distinctSets().entityNames];
  }

  /** The most matches a narrow query has (OpenOptions.broadAbove). */
  private narrowMax(): number {
    return Math.max(this.broadAbove, Math.floor(this.lastId / 100));
  }

  /**
   * The rows of one page. The plan follows what SQLite's planner cannot know: when few entries
   * match, numeric entity-ID ranges use their indexes; a multi-value "is one of" on action or
   * outcome becomes one newest-first, limited branch per value (each walks its index in ID order),
   * merged, instead of collecting and sorting every match. `total` is the number of matches, or
   * undefined for a query known to be broad and not counted. `offset` skips that many matches
   * after the keyset (windows use it for the short distance from a known position).
   */
  private pageRows(fl: Filter[], now: number, total: number | undefined, after: number | undefined, order: 'desc' | 'asc', limit: number, offset = 0): Row[] {
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
      return this.rows(sql, params);
    }
    const where = this.where(fl, now, selective);
    return this.rows(`${SELECT_COLS} WHERE (${where.sql})${keyset} ORDER BY id ${dir} LIMIT ? OFFSET ?`, [...where.params, ...keyParams, limit, offset]);
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
      const names = this.entityNames().filter((n) => likeContainsMatch(n, f.value));
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
  private countFilters(fl: Filter[], now: number, remember = true): number {
    if (!fl.length) return this.lastId;
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
  private quickCount(fl: Filter[], now: number): number | undefined {
    if (!fl.length) return this.lastId;
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
      const n = this.lastId;
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
    return this.lastId - this.numericIds - side(c === '>' ? '<=' : '>=');
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
    const names = this.entityNames();
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
      if (!others.length) return this.countFilters(without, now);
      const complement: Filter = { column: 'action', op: 'oneOf', value: others };
      // The complement must be narrow itself, or its count would come back here.
      if (capped(this.where([complement], now)) < max) return this.countFilters(without, now) - this.countFilters([...without, complement], now);
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

  /**
   * A page of entries matching all filters, newest first by default, by keyset pagination: pass
   * `nextCursor` back to get the next page. `total` counts all matches. A cursor pins "now" for
   * relative times, so the pages of one listing agree.
   */
  query(filters: Filter[] | string, page: PageOptions = {}): Page {
    this.assertOpen();
    this.catchUp();
    const fl = this.toFilters(filters);
    const limit = Math.min(MAX_LIMIT, Math.max(1, Math.floor(page.limit ?? 100)));
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
    const total = this.countFilters(fl, now);
    const rows = this.pageRows(fl, now, total, after, order, limit + 1);
    const more = rows.length > limit;
    if (more) rows.length = limit;
    const entries = rows.map(rowToEntry);
    return more ? { entries, total, nextCursor: encodeCursor({ id: rows[rows.length - 1].id, now, order }) } : { entries, total };
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
      count: (fl, now, remember) => this.countFilters(fl, now, remember),
      quickCount: (fl, now) => this.quickCount(fl, now),
      page: (fl, now, total, after, order, limit, offset) => this.pageRows(fl, now, total, after, order, limit, offset).map(rowToEntry),
    };
    return new LogWindow(source, this.toFilters(filters), opts);
  }

  /** Every entry of one run (one trace ID), oldest first: the run and what it changed. */
  byTrace(traceId: string, limit = MAX_LIMIT): Entry[] {
    this.assertOpen();
    this.catchUp();
    return this.rows(`${SELECT_COLS} WHERE trace_id = ? ORDER BY id ASC LIMIT ?`, [traceId, Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit)))]).map(rowToEntry);
  }

  /**
   * The newest `limit` entries that match, without counting every match: for narrow filters (one
   * entity, one bot) where a view needs only the last few, such as the Bots view's last outcome.
   */
  latest(filters: Filter[] | string, limit = 1): Entry[] {
    this.assertOpen();
    this.catchUp();
    const n = Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit)));
    return this.pageRows(this.toFilters(filters), Date.now(), 0, undefined, 'desc', n).map(rowToEntry);
  }

  /** How many entries match all filters. */
  count(filters: Filter[] | string): number {
    this.assertOpen();
    this.catchUp();
    return this.countFilters(this.toFilters(filters), Date.now());
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
    const where = this.where(fl, now);
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
    this.watcher?.close();
    this.watcher = undefined;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.ftsTimer) clearTimeout(this.ftsTimer);
    if (this.applyTimer) clearTimeout(this.applyTimer);
    this.applyTimer = undefined;
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
