/**
 * Why the store refused or failed. Codes:
 *  - NOT_BOT_AUDIT_DB: the file exists but is not a Bot Audit log (it is left untouched);
 *  - CORRUPT: a Bot Audit file whose structure is damaged (it is left untouched, and nothing more is written);
 *  - NEWER_SCHEMA: written by a newer Bot Audit;
 *  - TAMPERED: an entry of the journal was changed after it was written (its bytes are kept as evidence,
 *    and nothing more is written to the log);
 *  - LOCKED: another process held the lock for too long;
 *  - READ_ONLY: a write to a log opened read-only (asked for, or its folder or journal is not writable);
 *  - INVALID_ENTRY: `append()` got an entry that does not fit the model;
 *  - CLOSED: the store was closed;
 *  - IO: reading or writing a file failed.
 */
export type StoreErrorCode = 'NOT_BOT_AUDIT_DB' | 'CORRUPT' | 'NEWER_SCHEMA' | 'TAMPERED' | 'LOCKED' | 'READ_ONLY' | 'INVALID_ENTRY' | 'CLOSED' | 'IO';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly file?: string;
  constructor(code: StoreErrorCode, message: string, file?: string, options?: { cause?: unknown }) {
    super(file ? `${file}: ${message}` : message, options);
    this.name = 'StoreError';
    this.code = code;
    this.file = file;
  }
}

/** SQLite's words for a damaged file, as sql.js reports them. */
const DAMAGE = /malformed|not a database|SQLITE_CORRUPT|SQLITE_NOTADB|database corruption|file is encrypted/i;

/** Whether an error from sql.js says that the database file is damaged. */
export function isDamage(err: unknown): boolean {
  return err instanceof Error && !(err instanceof StoreError) && DAMAGE.test(err.message);
}
