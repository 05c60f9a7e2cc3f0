// The database schema, its version, and forward migrations.
import type { Database } from 'sql.js';
import { entityNumber } from '../query/sql';
import { ROW_COLUMNS } from './row';

/** `PRAGMA application_id`: "BAud". Marks a SQLite file as a Bot Audit log. */
export const APPLICATION_ID = 0x42417564;

/** `PRAGMA user_version`: the schema version this code writes. */
export const SCHEMA_VERSION = 7;

const TABLE_V1 = `
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries(
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL,
  recorded INTEGER NOT NULL,
  user TEXT NOT NULL,
  action TEXT NOT NULL,
  entity_name TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  bot TEXT,
  outcome INTEGER,
  failure_kind TEXT,
  outcome_desc TEXT,
  period_start INTEGER,
  period_end INTEGER,
  trace_id TEXT,
  content_type TEXT,
  input TEXT,
  before_json TEXT,
  after_json TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);`;

const TRIGGERS = `
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE is refused'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: DELETE is refused'); END;`;

/** Schema version 1, kept to build old files in tests and to document what migration 1→2 changes. */
export const SCHEMA_V1 = `
PRAGMA application_id = ${APPLICATION_ID};
${TABLE_V1}
${TRIGGERS}
CREATE INDEX entries_user ON entries(user);
CREATE INDEX entries_action ON entries(action);
CREATE INDEX entries_entity ON entries(entity_name, entity_id);
CREATE INDEX entries_recorded ON entries(recorded);
CREATE VIRTUAL TABLE entries_fts USING fts4(content="", body, tokenize=unicode61);
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
  INSERT INTO entries_fts(docid, body) VALUES (new.id,
    coalesce(new.outcome_desc, '') || ' ' || coalesce(new.input, '') || ' ' || coalesce(new.before_json, '') || ' ' || coalesce(new.after_json, ''));
END;
INSERT INTO meta(key, value) VALUES ('format', 'bot-audit');
PRAGMA user_version = 1;`;

/**
 * Each migration takes the schema from version i+1 to i+2 (index 0: 1→2). Migrations only add:
 * entries are never rewritten, so every hash stays valid.
 */
const MIGRATIONS: string[] = [
  // 1→2: run return values, replays, numeric entity IDs, per-column indexes for bot and outcome,
  // entity history by ID, and the return value in full-text search.
  `
  ALTER TABLE entries ADD COLUMN return_value TEXT;
  ALTER TABLE entries ADD COLUMN replay_of INTEGER;
  ALTER TABLE entries ADD COLUMN entity_num REAL;
  DROP INDEX entries_entity;
  CREATE INDEX entries_entity_name ON entries(entity_name);
  CREATE INDEX entries_entity_id ON entries(entity_id, entity_name);
  CREATE INDEX entries_entity_num ON entries(entity_num) WHERE entity_num IS NOT NULL;
  CREATE INDEX entries_bot ON entries(bot) WHERE bot IS NOT NULL;
  CREATE INDEX entries_outcome ON entries(outcome) WHERE outcome IS NOT NULL;
  DROP TRIGGER entries_fts_insert;
  CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts(docid, body) VALUES (new.id,
      coalesce(new.outcome_desc, '') || ' ' || coalesce(new.input, '') || ' ' || coalesce(new.return_value, '') || ' ' ||
      coalesce(new.before_json, '') || ' ' || coalesce(new.after_json, ''));
  END;
  PRAGMA user_version = 2;`,
  // 2→3: text entity IDs get their own index, so that "entity-id:>42" (numbers compare as numbers,
  // text as text) is two index ranges instead of a scan.
  `
  CREATE INDEX entries_entity_text ON entries(entity_id) WHERE entity_num IS NULL;
  PRAGMA user_version = 3;`,
  // 3→4: who a bot acted for, beside its own user (Bot/<name>) on the changes it makes; and the
  // entries of one run (its trace ID), for "what this run changed".
  `
  ALTER TABLE entries ADD COLUMN on_behalf_of TEXT;
  CREATE INDEX entries_trace ON entries(trace_id) WHERE trace_id IS NOT NULL;
  PRAGMA user_version = 4;`,
  // 4→5: full-text indexing leaves the append path. The store indexes entries itself, in ID order, in
  // batches (when idle, before a checkpoint, and before any full-text query), so the insert trigger
  // goes. Every entry so far was indexed by the trigger; the index's own docsize table tells how far
  // it reaches (its largest docid), so no extra bookkeeping is stored.
  `
  DROP TRIGGER entries_fts_insert;
  PRAGMA user_version = 5;`,
  // 5→6: a compact stored form for new rows (row.ts: uuid and hashes as BLOBs, long texts
  // compressed). Older rows stay as they are and read the same; older code cannot read the new
  // rows, hence the version.
  `
  PRAGMA user_version = 6;`,
  // 6→7: a bot's entries by outcome ("the failures of triage"), so that counting them reads one
  // index range per outcome instead of intersecting two large sets of IDs.
  `
  CREATE INDEX entries_bot_outcome ON entries(bot, outcome) WHERE bot IS NOT NULL;
  PRAGMA user_version = 7;`,
];

/** The text full-text search indexes for an entry (the same concatenation the trigger of versions 2–4 used). */
export const FTS_INSERT_SQL = 'INSERT INTO entries_fts(docid, body) VALUES (?, ?)';
/** How far the full-text index reaches: entries 1..N are indexed (docids are inserted in ID order). */
export const FTS_UPTO_SQL = 'SELECT coalesce(max(docid), 0) FROM entries_fts_docsize';

/** Creates the current schema in an empty database. */
export function createSchema(db: Database): void {
  db.exec(SCHEMA_V1);
  migrate(db, 1);
}

/** Creates the schema of an older version in an empty database (to build old files in tests). */
export function createSchemaAt(db: Database, version: number): void {
  db.exec(SCHEMA_V1);
  migrate(db, 1, version);
}

/** Migrates forward from `from` to `to` (default SCHEMA_VERSION), in one transaction. Returns the number of steps. */
export function migrate(db: Database, from: number, to = SCHEMA_VERSION): number {
  if (from >= to) return 0;
  db.create_function('bot_audit_entity_num', (v: unknown) => entityNumber(String(v)));
  db.exec('BEGIN');
  try {
    for (let v = from; v < to; v++) db.exec(MIGRATIONS[v - 1]);
    if (from < 2) {
      // Backfill entity_num: an ALTER of a derived, unhashed column. UPDATE is refused by the
      // append-only trigger, so the trigger is lifted for this one statement inside the transaction.
      db.exec(`DROP TRIGGER entries_no_update;
        UPDATE entries SET entity_num = bot_audit_entity_num(entity_id);
        CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE is refused'); END;`);
    }
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
  return to - from;
}

/**
 * Puts back the append-only triggers when they are missing or not the ones this schema makes (a
 * trigger of the same name that does nothing would let UPDATE and DELETE through). Returns the names
 * of those it restored; the caller reports them and writes the database.
 */
export function restoreAppendOnly(db: Database): string[] {
  const norm = (sql: string) => sql.replace(/\s+/g, ' ').trim();
  const wanted = TRIGGERS.split(';\n')
    .map(norm)
    .filter(Boolean)
    .map((sql) => ({ name: /^CREATE TRIGGER (\w+)/.exec(sql)![1], sql: sql.replace(/;$/, '') }));
  const have = new Map((db.exec("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'entries'")[0]?.values ?? []).map((r) => [String(r[0]), norm(String(r[1]))]));
  const restored: string[] = [];
  for (const t of wanted) {
    if (have.get(t.name) === t.sql) continue;
    db.exec(`DROP TRIGGER IF EXISTS ${t.name}; ${t.sql};`);
    restored.push(t.name);
  }
  return restored;
}

/** The insert of one row: the columns of ROW_COLUMNS, then the derived entity_num. */
const INSERT_COLUMNS = [...ROW_COLUMNS, 'entity_num'];
export const INSERT_SQL = `INSERT INTO entries(${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(',')})`;
