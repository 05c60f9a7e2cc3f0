// What follows an append outside the writers' lock: the write-behind of this process's durable
// entries into its in-memory database, and when to fold the journal into the database file
// (checkpoints). The append itself (lock, journal, chain) is AuditStore's appendLocked, and the
// checkpoint its writeCheckpoint; see "Write-behind" and "Checkpoints" in README.md.
// Node only: imports nothing from `vscode`.
import { StoreError } from './errors';
import type { Row } from './row';

export interface AutoCheckpoint {
  /** Checkpoint after this long without an append by this process (default 30 s). */
  idleMs?: number;
  /** Checkpoint once the journal holds this many bytes of entries (default 8 MiB). */
  maxJournalBytes?: number;
  /** … or this many entries (default 10,000). */
  maxJournalEntries?: number;
}

export interface WriteBehind {
  /** How long after the last append the waiting entries go in (default APPLY_DELAY_MS). */
  applyDelayMs?: number;
  maxEntries?: number;
  /** Bytes of their journal lines. */
  maxBytes?: number;
}

/**
 * Entries written by this process go into the database this long after the last append (reads
 * put them in first): a bot's calls, one entry each, go in as one transaction instead of one each.
 */
const APPLY_DELAY_MS = 20;

/**
 * Entries this process has made durable in the journal but not yet put in the database, oldest
 * first. Everything that reads the database puts them in first (catchUp, indexPending,
 * writeCheckpoint), so whenever it is read it holds entries 1..lastId without gaps; other
 * processes' entries may go in before them.
 */
export class WriteBehindQueue {
  /** The waiting entries, oldest first. */
  rows: Row[] = [];
  /** Bytes of their journal lines. */
  private bytes = 0;
  private timer?: NodeJS.Timeout;
  private readonly limits: Required<WriteBehind> | false;

  constructor(
    opts: WriteBehind | false | undefined,
    private readonly host: {
      /** The log's file, for errors. */
      readonly file: string;
      readonly closed: boolean;
      /** Inserts rows into the database in one transaction, or none of them. */
      insert(rows: Row[]): void;
      /** A failure to put them in when appends paused (reads report it again). */
      warn(message: string): void;
    },
  ) {
    this.limits = opts === false ? false : { applyDelayMs: APPLY_DELAY_MS, maxEntries: 10_000, maxBytes: 16 << 20, ...(opts ?? {}) };
  }

  /**
   * Adds the rows of an append that is durable now (`bytes`: their journal lines). True when they
   * must go in at once (more than the bounds wait, or write-behind is off); else they go in when
   * appends pause (see schedule).
   */
  add(rows: Row[], bytes: number): boolean {
    for (const r of rows) this.rows.push(r);
    this.bytes += bytes;
    const wb = this.limits;
    return !wb || this.rows.length > wb.maxEntries || this.bytes > wb.maxBytes;
  }

  /**
   * Puts this process's durable entries that wait (see OpenOptions.writeBehind) into the database.
   * Throws when that fails; they then stay waiting, and every read fails the same way rather than
   * answer without them.
   */
  flush(): void {
    if (!this.rows.length) return;
    const rows = this.rows;
    try {
      this.host.insert(rows);
    } catch (err) {
      throw new StoreError(
        'IO',
        `entries ${rows[0].id}–${rows[rows.length - 1].id} are in the journal but could not be put in the database: ${(err as Error).message}`,
        this.host.file,
        { cause: err },
      );
    }
    this.drop();
  }

  /** Forgets the waiting entries: the database has them already (a file reloaded past them). */
  drop(): void {
    this.rows = [];
    this.bytes = 0;
  }

  /** Applies waiting entries once appends pause for applyDelayMs (APPLY_DELAY_MS). */
  schedule(): void {
    // One timer, restarted by each append (no new timer per append).
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.host.closed) return;
      try {
        this.flush();
      } catch (err) {
        this.host.warn((err as Error).message);
      }
    }, this.limits ? this.limits.applyDelayMs : APPLY_DELAY_MS);
    this.timer.unref();
  }

  /** Stops the timer (the store closes). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** When to checkpoint by itself (OpenOptions.autoCheckpoint): a full journal at once, else once appends pause. */
export class CheckpointSchedule {
  /** The last checkpoint failed: the next append retries it at once, not after the idle time. */
  due = false;
  private scheduled = false;
  private idleTimer?: NodeJS.Timeout;
  private readonly auto: Required<AutoCheckpoint> | false;

  constructor(
    opts: AutoCheckpoint | false | undefined,
    private readonly host: {
      readonly closed: boolean;
      /** Entries and bytes of entries in the journal. */
      journalSize(): { entries: number; bytes: number };
      checkpoint(): Promise<void>;
      /** A checkpoint that ran by itself failed (the entries are safe in the journal). */
      warn(message: string): void;
    },
  ) {
    this.auto = opts === false ? false : { idleMs: 30_000, maxJournalBytes: 8 << 20, maxJournalEntries: 10_000, ...(opts ?? {}) };
  }

  /** Whether the journal holds as many entries or bytes as autoCheckpoint folds at. */
  journalFull(): boolean {
    if (!this.auto) return false;
    const { entries, bytes } = this.host.journalSize();
    return entries >= this.auto.maxJournalEntries || bytes >= this.auto.maxJournalBytes;
  }

  /** After an append by this process (which writes): checkpoints now, or restarts the idle timer. */
  afterAppend(): void {
    if (!this.auto) return;
    if (this.due || this.journalFull()) {
      this.run();
      return;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.run(), this.auto.idleMs);
    this.idleTimer.unref();
  }

  /** Runs a checkpoint unless one is running; a failure is a warning. */
  private run(): void {
    if (this.scheduled || this.host.closed) return;
    this.scheduled = true;
    this.host
      .checkpoint()
      .catch((err) => this.host.warn((err as Error).message))
      .finally(() => {
        this.scheduled = false;
      });
  }

  /** A checkpoint was written (or the store closes): no idle checkpoint is needed. */
  cancelIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }
}
