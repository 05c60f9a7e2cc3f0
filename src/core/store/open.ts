// Opening a log's database file in sql.js: loading SQLite's WebAssembly, telling a Bot Audit log from
// any other file, reading it page by page (see pagefile.ts), migrating its schema, and what an open
// tidies first (temp files of dead processes) or checks (whether the log can be written at all).
// Nothing here writes to a file it did not create. Node only: imports nothing from `vscode`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import initSqlJs from 'sql.js';
import type { Database, SqlJsStatic } from 'sql.js';
import { StoreError } from './errors';
import { Journal, writeFileAtomic } from './journal';
import { PagedFile } from './pagefile';
import { pidAlive } from './lock';
import { GENESIS_HASH, hashOf, type SqlValue } from './row';
import { APPLICATION_ID, createSchema, migrate, SCHEMA_VERSION } from './schema';

const sqlModules = new Map<string, Promise<SqlJsStatic>>();

function defaultWasmPath(): string {
  try {
    return require.resolve('sql.js/dist/sql-wasm.wasm');
  } catch {
    return path.join(__dirname, 'sql-wasm.wasm');
  }
}

/** sql.js, loaded once per WebAssembly file (default: from the sql.js package, else beside this bundle). */
export function loadSql(wasmPath?: string): Promise<SqlJsStatic> {
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
export function openPaged(SQL: SqlJsStatic, file: string): { db: Database; pages: PagedFile } {
  const pages = new PagedFile(file);
  try {
    return { db: new SQL.Database(pages as unknown as Uint8Array), pages };
  } catch (err) {
    pages.close();
    throw err;
  }
}

/** Why the log at `file` cannot be written, when its folder or its journal is not writable; undefined when it can be. */
export function notWritable(file: string, journalFile: string): string | undefined {
  for (const p of [path.dirname(file), journalFile]) {
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

/** Removes the temp files (of checkpoints) that processes now dead left beside the log at `file`. */
export function removeLeftoverTemps(file: string): void {
  const dir = path.dirname(file);
  const base = path.basename(file);
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

/** What opening a database file found. */
export interface OpenedFile {
  /** The newest entry in the file (0 and GENESIS_HASH when it has none). */
  lastId: number;
  lastHash: string;
  /** The schema was migrated in memory: the next checkpoint writes it. */
  migrated: boolean;
}

/**
 * Opens the database file in sql.js (read from disk as pages are needed), or creates it (with an
 * empty schema) when there is none and no journal says there should be one. `adopt` takes the
 * database once it is checked and migrated, before its last entry is read; when anything after fails,
 * the database is closed again. Throws StoreError without writing anything on a bad file; `damaged`
 * makes the error for a file SQLite finds malformed.
 */
export function openDatabaseFile(
  SQL: SqlJsStatic,
  file: string,
  journalFile: string,
  damaged: (what: string, cause?: unknown) => StoreError,
  adopt: (db: Database, pages: PagedFile) => void,
): OpenedFile {
  let head: string | undefined;
  let size = 0;
  try {
    ({ head, size } = readHead(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new StoreError('IO', `cannot read: ${(err as Error).message}`, file, { cause: err });
    }
  }
  if (head === undefined) {
    const existing = Journal.open(journalFile);
    const base = existing?.header.base ?? 0;
    existing?.close();
    if (base > 0) {
      throw new StoreError('CORRUPT', `the database file is missing, but its journal ${journalFile} follows entry ${base}; restore the database file from a backup`, file);
    }
    const fresh = new SQL.Database();
    createSchema(fresh);
    const image = fresh.export();
    fresh.close();
    writeFileAtomic(file, image);
    const { db, pages } = openPaged(SQL, file);
    adopt(db, pages);
    return { lastId: 0, lastHash: GENESIS_HASH, migrated: false };
  }
  if (size < 100 || head !== SQLITE_MAGIC) {
    throw new StoreError(
      'NOT_BOT_AUDIT_DB',
      `is not a Bot Audit database: it is not an SQLite file (${size} bytes, starting ${JSON.stringify(head)}); it was left untouched`,
      file,
    );
  }
  let opened: { db: Database; pages: PagedFile };
  try {
    opened = openPaged(SQL, file);
  } catch (err) {
    throw new StoreError('IO', `cannot read: ${(err as Error).message}`, file, { cause: err });
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
    throw damaged((err as Error).message, err);
  }
  if (appId !== APPLICATION_ID) {
    drop();
    throw new StoreError(
      'NOT_BOT_AUDIT_DB',
      `is an SQLite database but not a Bot Audit log (application_id ${appId}, expected ${APPLICATION_ID}); it was left untouched`,
      file,
    );
  }
  if (version > SCHEMA_VERSION) {
    drop();
    throw new StoreError('NEWER_SCHEMA', `was written by a newer Bot Audit (schema ${version}; this one reads up to ${SCHEMA_VERSION}); update the extension`, file);
  }
  try {
    const pageCount = db.exec('PRAGMA page_count')[0].values[0][0] as number;
    const pageSize = db.exec('PRAGMA page_size')[0].values[0][0] as number;
    if (pageCount * pageSize > size) throw new Error(`the file is truncated (${size} bytes, its header says ${pageCount * pageSize})`);
    if (version < 1) throw new Error(`schema version ${version} is not a Bot Audit schema`);
    const migrated = migrate(db, version) > 0;
    adopt(db, pages);
    const last = db.exec('SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1');
    return last.length
      ? { lastId: last[0].values[0][0] as number, lastHash: hashOf(last[0].values[0][1] as SqlValue), migrated }
      : { lastId: 0, lastHash: GENESIS_HASH, migrated };
  } catch (err) {
    drop();
    if (err instanceof StoreError) throw err;
    throw damaged(`${(err as Error).message} (or it is not a Bot Audit log)`, err);
  }
}
