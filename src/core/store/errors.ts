/**
 * Why the store refused or failed. Codes:
 *  - NOT_BOT_AUDIT_DB: the file exists but is not a Bot Audit log (it is left untouched);
 *  - CORRUPT: a Bot Audit file whose structure is damaged (it is left untouched);
 *  - NEWER_SCHEMA: written by a newer Bot Audit;
 *  - LOCKED: another process held the lock for too long;
 *  - INVALID_ENTRY: `append()` got an entry that does not fit the model;
 *  - CLOSED: the store was closed;
 *  - IO: reading or writing a file failed.
 */
export class StoreError extends Error {
  readonly code: string;
  readonly file?: string;
  constructor(code: string, message: string, file?: string, options?: { cause?: unknown }) {
    super(file ? `${file}: ${message}` : message, options);
    this.name = 'StoreError';
    this.code = code;
    this.file = file;
  }
}
