// Filters to an SQL WHERE clause over the store's `entries` table. Every value is a bound parameter;
// the SQL text is built only from fixed fragments chosen by column and operator.
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
  const words = text.replace(/[^\p{L}\p{N}\p{M}]+/gu, ' ').trim();
  return words ? `"${words}"` : undefined;
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

export interface BuildOptions {
  /**
   * Every entity name in the log, when the caller knows them. "Contains" then becomes an indexed
   * `entity_name IN (…)` over the names that contain the text, instead of a LIKE scan of every entry.
   */
  entityNames?: readonly string[];
  /**
   * Write numeric entity-ID ranges as a union of two index ranges (numbers, then text IDs) instead
   * of one OR. Best when few entries match; with many, scanning newest-first finds a page sooner.
   */
  entityIdUnion?: boolean;
}

/** Builds the WHERE expression for AND-combined filters; relative times are counted back from `now`. */
export function buildWhere(filters: readonly Filter[], now: number, opts: BuildOptions = {}): SqlWhere {
  const parts: string[] = [];
  const params: SqlParam[] = [];
  filters.forEach((f, i) => {
    validateFilter(f, i);
    switch (f.column) {
      case 'id':
        parts.push(`id ${CMP[f.op]} ?`);
        params.push(f.value);
        break;
      case 'entityId': {
        const n = entityNumber(f.value);
        if (n === null) {
          parts.push(`entity_id ${CMP[f.op]} ?`);
          params.push(f.value);
        } else if (f.op === 'equals') {
          parts.push('entity_num = ?');
          params.push(n);
        } else if (f.op === 'notEquals') {
          parts.push('(entity_num IS NULL OR entity_num <> ?)');
          params.push(n);
        } else {
          // Both numeric: compare as numbers; otherwise as text.
          const c = CMP[f.op];
          parts.push(
            opts.entityIdUnion
              ? `id IN (SELECT id FROM entries WHERE entity_num ${c} ? UNION ALL SELECT id FROM entries WHERE entity_num IS NULL AND entity_id ${c} ?)`
              : // "+" keeps SQLite from merging both indexes over every match: scanning newest-first is faster here.
                `(+entity_num ${c} ? OR (+entity_num IS NULL AND +entity_id ${c} ?))`,
          );
          params.push(n, f.value);
        }
        break;
      }
      case 'user':
        parts.push(f.op === 'equals' ? 'user = ?' : 'user <> ?');
        params.push(f.value);
        break;
      case 'bot':
        parts.push(f.op === 'equals' ? 'bot = ?' : '(bot IS NULL OR bot <> ?)');
        params.push(f.value);
        break;
      case 'entityName':
        if (f.op === 'equals' || f.op === 'notEquals') {
          parts.push(`entity_name ${CMP[f.op]} ?`);
          params.push(f.value);
        } else if (opts.entityNames) {
          const names = opts.entityNames.filter((n) => likeContainsMatch(n, f.value));
          const not = f.op === 'notContains';
          if (!names.length) parts.push(not ? '1' : '0');
          else {
            parts.push(`entity_name ${not ? 'NOT IN' : 'IN'} (${names.map(() => '?').join(',')})`);
            params.push(...names);
          }
        } else {
          parts.push(`entity_name ${f.op === 'contains' ? 'LIKE' : 'NOT LIKE'} ? ESCAPE '\\'`);
          params.push(likeContains(f.value));
        }
        break;
      case 'action':
        parts.push(`action IN (${f.value.map(() => '?').join(',')})`);
        params.push(...f.value);
        break;
      case 'outcome':
        parts.push(`outcome IN (${f.value.map(() => '?').join(',')})`);
        params.push(...f.value);
        break;
      case 'timestamp':
        parts.push(f.op === 'after' ? 'recorded > ?' : 'recorded < ?');
        params.push(resolveTime(f.value, now));
        break;
      case 'text': {
        const phrase = ftsPhrase(f.value);
        if (phrase === undefined) {
          parts.push('0'); // only punctuation: no word can match
        } else {
          parts.push('id IN (SELECT docid FROM entries_fts WHERE entries_fts MATCH ?)');
          params.push(phrase);
        }
        break;
      }
    }
  });
  return { sql: parts.length ? parts.join(' AND ') : '1', params };
}

/**
 * A test of one filter for the entry whose ID is `idExpr`, made in the filter's own index alone:
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
