// Filters to an SQL WHERE clause: over the local store's `entries` table (SQLite, `?` placeholders),
// or over the team log's `bot_audit.team_entries` (PostgreSQL, `$n` placeholders, jsonb fields).
// Every value is a bound parameter; the SQL text is built only from fixed fragments chosen by
// dialect, column and operator.
import type { Filter } from './filter';
import { validateFilter } from './parse';
import { resolveTime } from './time';

export type SqlParam = string | number;

export interface SqlWhere {
  /** A boolean SQL expression ("1" when there are no filters). */
  sql: string;
  params: SqlParam[];
}

const NUMERIC_RE = /^-?\d{1,15}(\.\d{1,15})?$/;

/** The number an entity ID compares as, or null when it is not a number. */
export function entityNumber(entityId: string): number | null {
  return NUMERIC_RE.test(entityId) ? Number(entityId) : null;
}

/** Escapes a LIKE pattern's wildcards (the clause uses ESCAPE '\'). */
export function likeContains(value: string): string {
  return '%' + value.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}

/**
 * An FTS4 MATCH expression for a search text: its words as one phrase. Punctuation separates words
 * for the tokenizer anyway, so it is dropped first; that way FTS syntax in the text (quotes, `*`
 * prefixes, `^`, OR, NEAR, -) is searched for as plain words and never interpreted. Undefined when
 * the text has no word at all.
 */
export function ftsPhrase(text: string): string | undefined {
  const words = searchWords(text);
  return words ? `"${words}"` : undefined;
}

/** The words of a search text, separated by single spaces, punctuation dropped; undefined when there are none. */
function searchWords(text: string): string | undefined {
  return text.replace(/[^\p{L}\p{N}\p{M}]+/gu, ' ').trim() || undefined;
}

const CMP = { equals: '=', notEquals: '<>', greaterThan: '>', lessThan: '<' } as const;

/** SQLite's LIKE folds ASCII letters only; so does this. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Whether `name` contains `part` the way `name LIKE '%part%'` decides it (ASCII case-insensitive). */
export function likeContainsMatch(name: string, part: string): boolean {
  return asciiLower(name).includes(asciiLower(part));
}

/** The SQL a query compiles to: SQLite's (the local log, sql.js) or PostgreSQL's (the team log). */
export type SqlDialect = 'sqlite' | 'postgres';

export interface BuildOptions {
  /**
   * Every entity name in the log, when the caller knows them. "Contains" then becomes an indexed
   * `entity_name IN (…)` over the names that contain the text, instead of a LIKE scan of every entry.
   */
  entityNames?: readonly string[];
  /**
   * PostgreSQL: for the text of an entity-name "contains" condition, every entity name in the team
   * log that contains it, as ILIKE finds them (the team reader asks the server just before). The
   * condition then becomes `entity_name IN (…)`, which an index on (entity_name, seq) walks newest
   * first, instead of an ILIKE over every entry until a page is full. A text not in the map stays an
   * ILIKE; so does "does not contain".
   */
  entityNamesContaining?: ReadonlyMap<string, readonly string[]>;
  /**
   * Write numeric entity-ID ranges as a union of two index ranges (numbers, then text IDs) instead
   * of one OR. Best when few entries match; with many, scanning newest-first finds a page sooner.
   * SQLite only (it names the local log's `entries` table); PostgreSQL plans the OR itself.
   */
  entityIdUnion?: boolean;
  /** Default 'sqlite': `?` placeholders over the local log's `entries` table. */
  dialect?: SqlDialect;
  /**
   * PostgreSQL: the number of the clause's first placeholder (default 1), for a clause that follows
   * other parameters of the same statement (`$1` the origin, the clause from `$2`, say).
   */
  firstParam?: number;
  /**
   * PostgreSQL: what an `id` condition reads. 'origin' (default): `origin_id`, the entry's ID in the
   * log it came from (a query within one origin); 'seq': the team log's own gapless sequence, the IDs
   * a reader of the whole team log gives out (src/core/team/reader.ts).
   */
  teamIds?: 'origin' | 'seq';
}

/** The expressions a dialect reads an entry's fields with. */
interface Columns {
  id: string;
  user: string;
  action: string;
  entityName: string;
  entityId: string;
  /** The entity ID as a number, NULL when it is not one (entityNumber's rule). */
  entityNum: string;
  bot: string;
  outcome: string;
  recorded: string;
}

/** How one dialect writes what buildWhere needs: fixed fragments only, never a value. */
interface Dialect {
  /** The placeholder of the n-th parameter of a statement (1-based). */
  param(n: number): string;
  cols: Columns;
  /** Always true, always false. */
  yes: string;
  no: string;
  /** Keeps the planner from using an index for `expr` (SQLite's unary "+"). */
  noIndex(expr: string): string;
  /** Text `expr` for `<` and `>`, ordered by its bytes (code points) as SQLite's BINARY collation does. */
  byCodePoint(expr: string): string;
  /** `col` contains the LIKE pattern `ph` (likeContains), case-insensitively. */
  like(col: string, ph: string, not: boolean): string;
  /** The full-text condition for a search phrase bound at `ph`, and the value to bind for `words`. */
  textMatch(ph: string): string;
  textValue(words: string): string;
}

const SQLITE: Dialect = {
  param: () => '?',
  cols: {
    id: 'id',
    user: 'user',
    action: 'action',
    entityName: 'entity_name',
    entityId: 'entity_id',
    entityNum: 'entity_num',
    bot: 'bot',
    outcome: 'outcome',
    recorded: 'recorded',
  },
  yes: '1',
  no: '0',
  noIndex: (expr) => `+${expr}`,
  byCodePoint: (expr) => expr,
  // SQLite's LIKE folds ASCII letters only (see likeContainsMatch).
  like: (col, ph, not) => `${col} ${not ? 'NOT LIKE' : 'LIKE'} ${ph} ESCAPE '\\'`,
  textMatch: (ph) => `id IN (SELECT docid FROM entries_fts WHERE entries_fts MATCH ${ph})`,
  // An FTS4 phrase: the words in double quotes (see ftsPhrase).
  textValue: (words) => `"${words}"`,
};

/**
 * The full-text vector of the text the local index's ftsBody covers (outcome description, input,
 * return value, snapshots): the team log's generated column `search` (schema version 2,
 * TEAM_SEARCH_EXPR in src/core/team/schema.ts), which its GIN index covers.
 */
const PG_TEXT = 'search';

/**
 * The team log (src/core/team/schema.ts): an entry's fields are stored columns generated from its
 * jsonb copy (schema version 3), named as the local log's but `user_name`; `id` is `origin_id`, the
 * entry's ID in the log it came from. A row whose text jsonb cannot hold has NULL fields and matches
 * no field condition.
 */
const POSTGRES: Dialect = {
  param: (n) => `$${n}`,
  cols: { ...SQLITE.cols, id: 'origin_id', user: 'user_name' },
  yes: 'true',
  no: 'false',
  noIndex: (expr) => expr,
  // The database's collation may be a language's (en_US sorts "a-2" after "a10"); "C" is byte order.
  byCodePoint: (expr) => `${expr} COLLATE "C"`,
  // ILIKE folds every letter, not only ASCII ones as SQLite's LIKE does. Backslash is LIKE's default escape.
  like: (col, ph, not) => `${col} ${not ? 'NOT ILIKE' : 'ILIKE'} ${ph}`,
  textMatch: (ph) => `${PG_TEXT} @@ phraseto_tsquery('simple', ${ph})`,
  // phraseto_tsquery takes plain words; its parser ignores any operator characters.
  textValue: (words) => words,
};

const DIALECTS: Record<SqlDialect, Dialect> = { sqlite: SQLITE, postgres: POSTGRES };

/**
 * Builds the WHERE expression for AND-combined filters; relative times are counted back from `now`.
 * Every value is a bound parameter, in `params` in the order of the placeholders.
 */
export function buildWhere(filters: readonly Filter[], now: number, opts: BuildOptions = {}): SqlWhere {
  const d = DIALECTS[opts.dialect ?? 'sqlite'];
  if (!d) throw new Error(`unknown SQL dialect ${String(opts.dialect)}`);
  const first = opts.firstParam ?? 1;
  if (!Number.isSafeInteger(first) || first < 1) throw new Error(`the first parameter's number must be a whole number from 1, not ${String(first)}`);
  const c = d === POSTGRES && opts.teamIds === 'seq' ? { ...d.cols, id: 'seq' } : d.cols;
  const parts: string[] = [];
  const params: SqlParam[] = [];
  /** Binds a value and returns its placeholder. */
  const bind = (v: SqlParam): string => {
    params.push(v);
    return d.param(first + params.length - 1);
  };
  const list = (vs: readonly SqlParam[]): string => vs.map(bind).join(',');
  filters.forEach((f, i) => {
    validateFilter(f, i);
    switch (f.column) {
      case 'id':
        parts.push(`${c.id} ${CMP[f.op]} ${bind(f.value)}`);
        break;
      case 'entityId': {
        const n = entityNumber(f.value);
        const ordered = f.op === 'greaterThan' || f.op === 'lessThan';
        if (n === null) {
          parts.push(`${ordered ? d.byCodePoint(c.entityId) : c.entityId} ${CMP[f.op]} ${bind(f.value)}`);
        } else if (f.op === 'equals') {
          parts.push(`${c.entityNum} = ${bind(n)}`);
        } else if (f.op === 'notEquals') {
          parts.push(`(${c.entityNum} IS NULL OR ${c.entityNum} <> ${bind(n)})`);
        } else {
          // Both numeric: compare as numbers; otherwise as text.
          const op = CMP[f.op];
          if (opts.entityIdUnion && d === SQLITE) {
            const num = bind(n);
            parts.push(`id IN (SELECT id FROM entries WHERE entity_num ${op} ${num} UNION ALL SELECT id FROM entries WHERE entity_num IS NULL AND entity_id ${op} ${bind(f.value)})`);
          } else {
            // "+" keeps SQLite from merging both indexes over every match: scanning newest-first is faster here.
            const num = d.noIndex(c.entityNum);
            const ph = bind(n);
            parts.push(`(${num} ${op} ${ph} OR (${num} IS NULL AND ${d.byCodePoint(d.noIndex(c.entityId))} ${op} ${bind(f.value)}))`);
          }
        }
        break;
      }
      case 'user':
        parts.push(f.op === 'equals' ? `${c.user} = ${bind(f.value)}` : `${c.user} <> ${bind(f.value)}`);
        break;
      case 'bot':
        parts.push(f.op === 'equals' ? `${c.bot} = ${bind(f.value)}` : `(${c.bot} IS NULL OR ${c.bot} <> ${bind(f.value)})`);
        break;
      case 'entityName':
        if (f.op === 'equals' || f.op === 'notEquals') {
          parts.push(`${c.entityName} ${CMP[f.op]} ${bind(f.value)}`);
        } else if (f.op === 'contains' && d === POSTGRES && opts.entityNamesContaining?.has(f.value)) {
          const names = opts.entityNamesContaining.get(f.value)!;
          parts.push(names.length ? `${c.entityName} IN (${list(names)})` : d.no);
        } else if (opts.entityNames) {
          const names = opts.entityNames.filter((n) => likeContainsMatch(n, f.value));
          const not = f.op === 'notContains';
          if (!names.length) parts.push(not ? d.yes : d.no);
          else parts.push(`${c.entityName} ${not ? 'NOT IN' : 'IN'} (${list(names)})`);
        } else {
          parts.push(d.like(c.entityName, bind(likeContains(f.value)), f.op === 'notContains'));
        }
        break;
      case 'action':
        parts.push(`${c.action} IN (${list(f.value)})`);
        break;
      case 'outcome':
        parts.push(`${c.outcome} IN (${list(f.value)})`);
        break;
      case 'timestamp':
        parts.push(`${c.recorded} ${f.op === 'after' ? '>' : '<'} ${bind(resolveTime(f.value, now))}`);
        break;
      case 'text': {
        const words = searchWords(f.value);
        if (words === undefined) {
          parts.push(d.no); // only punctuation: no word can match
        } else {
          parts.push(d.textMatch(bind(d.textValue(words))));
        }
        break;
      }
    }
  });
  return { sql: parts.length ? parts.join(' AND ') : d.yes, params };
}

/**
 * SQLite only (the local log's indexes). A test of one filter for the entry whose ID is `idExpr`, made in the filter's own index alone:
 * `EXISTS (… INDEXED BY entries_user WHERE user = ? AND id = t.id)` seeks one (value, ID) pair and
 * never reads the entry, whose row lies somewhere in a large file. Undefined for a filter that has
 * no such index (ID, entity-ID, time and full-text conditions), or a "contains" that matches more
 * than a few names.
 */
export function indexProbe(f: Filter, idExpr: string, opts: Pick<BuildOptions, 'entityNames'> = {}): SqlWhere | undefined {
  validateFilter(f);
  const probe = (index: string, test: string, values: readonly SqlParam[], negate: boolean): SqlWhere => ({
    sql: `${negate ? 'NOT ' : ''}EXISTS (SELECT 1 FROM entries x INDEXED BY ${index} WHERE ${test} AND x.id = ${idExpr})`,
    params: [...values],
  });
  const oneOf = (column: string, values: readonly SqlParam[]) => (values.length === 1 ? `x.${column} = ?` : `x.${column} IN (${values.map(() => '?').join(',')})`);
  switch (f.column) {
    case 'user':
      return probe('entries_user', 'x.user = ?', [f.value], f.op === 'notEquals');
    case 'bot':
      // `bot IS NULL OR bot <> ?` is exactly "not bot = ?".
      return probe('entries_bot', 'x.bot = ?', [f.value], f.op === 'notEquals');
    case 'action':
      return probe('entries_action', oneOf('action', f.value), f.value, false);
    case 'outcome':
      return probe('entries_outcome', oneOf('outcome', f.value), f.value, false);
    case 'entityName': {
      if (f.op === 'equals' || f.op === 'notEquals') return probe('entries_entity_name', 'x.entity_name = ?', [f.value], f.op === 'notEquals');
      const names = opts.entityNames?.filter((n) => likeContainsMatch(n, f.value));
      if (!names || names.length > 12) return undefined;
      // No name contains the text: "contains" matches nothing, "not contains" everything.
      if (!names.length) return { sql: f.op === 'contains' ? '0' : '1', params: [] };
      return probe('entries_entity_name', oneOf('entity_name', names), names, f.op === 'notContains');
    }
    default:
      return undefined;
  }
}
