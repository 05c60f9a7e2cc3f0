// Query text in the style of GitHub's audit log, round-tripping with the filter rows:
//   action:UPDATED,DELETED entity:~story -user:system created:>now-7d outcome:8,12 "timeout"
//
//   id:5  -id:5  id:>5  id:<5                 ID equals / not equals / greater than / less than
//   entity-id:42  -entity-id:42  entity-id:>42  entity-id:<42
//   user:dev@example.com  -user:system        User equals / not equals
//   action:UPDATED,DELETED                    Action is one of
//   entity:story  -entity:story  entity:~sto  -entity:~sto
//                                             Entity Name equals / not equals / contains / not contains
//   created:>now-15m  created:<2026-01-31T12:00Z
//                                             Timestamp after / before (relative: s m h d w)
//   bot:hello  -bot:hello                     Bot equals / not equals
//   outcome:8,12                              Outcome is one of (0 4 8 12, or success/minor/serious/major)
//   timeout  "connection reset"               full-text search in outcome descriptions and snapshots
//
// Values with spaces, quotes, commas or a leading operator character are written in double quotes,
// with \" and \\ as escapes. Anything that does not parse is an error with its position; the parser
// never guesses.
import { ACTIONS, OUTCOMES, type Action, type Outcome } from '../store/types';
import { COLUMNS, type Column, type Filter, type TimeValue } from './filter';
import { formatAbsolute, parseAbsolute, parseRelative } from './time';

export class QueryError extends Error {
  /** 0-based offset into the query text (-1 when the error is about a filter row, not text). */
  readonly position: number;
  readonly length: number;
  /** The reason without the position prefix. */
  readonly reason: string;
  constructor(reason: string, position: number, length = 1) {
    super(position >= 0 ? `at column ${position + 1}: ${reason}` : reason);
    this.name = 'QueryError';
    this.reason = reason;
    this.position = position;
    this.length = Math.max(1, length);
  }
}

const QUALIFIERS: Record<string, Exclude<Column, 'text'>> = {
  id: 'id',
  user: 'user',
  actor: 'user',
  action: 'action',
  entity: 'entityName',
  'entity-name': 'entityName',
  'entity-id': 'entityId',
  created: 'timestamp',
  timestamp: 'timestamp',
  bot: 'bot',
  outcome: 'outcome',
};

const QUALIFIER_LIST = 'id, user, action, entity, entity-id, created, bot, outcome';

const OUTCOME_WORDS: Record<string, Outcome> = { success: 0, minor: 4, serious: 8, major: 12 };

interface ValueToken {
  text: string;
  quoted: boolean;
  start: number;
  end: number;
}

class Scanner {
  pos = 0;
  constructor(readonly src: string) {}
  get done(): boolean {
    return this.pos >= this.src.length;
  }
  peek(): string {
    return this.src[this.pos] ?? '';
  }
  skipSpace(): void {
    while (!this.done && /\s/.test(this.peek())) this.pos++;
  }
  atTermEnd(): boolean {
    return this.done || /\s/.test(this.peek());
  }
  /** Reads a quoted string starting at the current `"`. */
  quoted(): ValueToken {
    const start = this.pos;
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      if (this.done) throw new QueryError('unterminated quoted value: add the closing "', start, this.pos - start);
      const c = this.src[this.pos++];
      if (c === '"') break;
      if (c === '\\') {
        const n = this.src[this.pos];
        if (n !== '"' && n !== '\\') throw new QueryError('in quotes, a backslash may only escape " or \\', this.pos - 1, 2);
        out += n;
        this.pos++;
      } else out += c;
    }
    if (!this.atTermEnd()) throw new QueryError('expected a space after the closing quote', this.pos);
    return { text: out, quoted: true, start, end: this.pos };
  }
  /** Reads an unquoted run up to the next space. */
  bare(): ValueToken {
    const start = this.pos;
    while (!this.atTermEnd()) {
      if (this.peek() === '"') throw new QueryError('a quote may only start a value; put the whole value in quotes', this.pos);
      if (this.peek() === '\\') throw new QueryError('a backslash is only allowed inside quotes', this.pos);
      this.pos++;
    }
    return { text: this.src.slice(start, this.pos), quoted: false, start, end: this.pos };
  }
  value(): ValueToken {
    return this.peek() === '"' ? this.quoted() : this.bare();
  }
}

/** Parses query text into filters. Throws QueryError with the position and reason of the first problem. */
export function parseQuery(text: string): Filter[] {
  const s = new Scanner(text);
  const filters: Filter[] = [];
  for (;;) {
    s.skipSpace();
    if (s.done) break;
    const termStart = s.pos;
    let negated = false;
    if (s.peek() === '-') {
      negated = true;
      s.pos++;
      if (s.atTermEnd()) throw new QueryError('a lone "-" excludes nothing: write -qualifier:value', termStart);
    }
    if (s.peek() === '"') {
      const v = s.quoted();
      if (negated) throw new QueryError('excluding text is not supported; only qualifiers can be negated with "-"', termStart);
      filters.push(textFilter(v));
      continue;
    }
    // A qualifier (word followed by ':') or a bare search word.
    const m = /^([A-Za-z][A-Za-z-]*):/.exec(text.slice(s.pos));
    if (!m) {
      const v = s.bare();
      if (negated) throw new QueryError('excluding text is not supported; only qualifiers can be negated with "-"', termStart);
      if (v.text.includes(':')) {
        throw new QueryError(`"${v.text}" looks like a qualifier but is not one; known qualifiers are ${QUALIFIER_LIST} (quote the text to search for it)`, v.start, v.end - v.start);
      }
      filters.push(textFilter(v));
      continue;
    }
    const key = m[1].toLowerCase();
    const column = QUALIFIERS[key];
    if (!column) {
      throw new QueryError(`unknown qualifier "${m[1]}"; known qualifiers are ${QUALIFIER_LIST} (quote the text to search for it)`, s.pos, m[1].length);
    }
    s.pos += m[0].length;
    if (s.atTermEnd()) throw new QueryError(`${key}: needs a value`, termStart, s.pos - termStart);
    filters.push(qualified(s, column, key, negated, termStart));
  }
  return filters;
}

function textFilter(v: ValueToken): Filter {
  if (v.text.trim() === '') throw new QueryError('empty search text', v.start, v.end - v.start);
  return { column: 'text', op: 'matches', value: v.text };
}

function qualified(s: Scanner, column: Exclude<Column, 'text'>, key: string, negated: boolean, termStart: number): Filter {
  const opPos = s.pos;
  let prefix = '';
  if (s.peek() !== '"') {
    while ('<>=~!'.includes(s.peek()) && !s.atTermEnd()) prefix += s.src[s.pos++];
  }
  if (s.atTermEnd()) throw new QueryError(`${key}:${prefix} needs a value`, termStart, s.pos - termStart);
  const v = s.value();
  const span = (): [number, number] => [v.start, v.end - v.start];
  const noNegation = (what: string) => {
    if (negated) throw new QueryError(`"-" cannot be used with ${what}`, termStart);
  };
  const noPrefix = (allowed: string) => {
    if (prefix) throw new QueryError(`${key}: does not take "${prefix}"${allowed ? `; it takes ${allowed}` : ''}`, opPos, prefix.length);
  };
  const single = () => {
    if (!v.quoted && v.text.includes(',')) {
      throw new QueryError(`${key}: takes one value; commas list values only for action and outcome (quote the value to match a comma)`, ...span());
    }
  };
  const compare = (): 'equals' | 'notEquals' | 'greaterThan' | 'lessThan' => {
    if (prefix === '>=' || prefix === '<=') throw new QueryError(`"${prefix}" is not supported; use ">" or "<"`, opPos, prefix.length);
    if (prefix !== '' && prefix !== '>' && prefix !== '<') throw new QueryError(`${key}: takes ">", "<" or a plain value, not "${prefix}"`, opPos, prefix.length);
    if (!v.quoted && v.text.includes('..')) throw new QueryError('ranges (a..b) are not supported; use two qualifiers, e.g. id:>10 id:<20', ...span());
    if (prefix && negated) throw new QueryError(`"-" cannot be combined with "${prefix}"; flip the comparison instead`, termStart);
    if (prefix === '>') return 'greaterThan';
    if (prefix === '<') return 'lessThan';
    return negated ? 'notEquals' : 'equals';
  };

  switch (column) {
    case 'id': {
      const op = compare();
      if (!/^[0-9]{1,15}$/.test(v.text)) throw new QueryError(`id: expects a whole number, not "${v.text}"`, ...span());
      return { column, op, value: Number(v.text) };
    }
    case 'entityId': {
      const op = compare();
      single();
      if (v.text === '') throw new QueryError('entity-id: needs a value', ...span());
      return { column, op, value: v.text };
    }
    case 'user':
    case 'bot': {
      noPrefix('');
      single();
      if (v.text === '') throw new QueryError(`${key}: needs a value`, ...span());
      return { column, op: negated ? 'notEquals' : 'equals', value: v.text };
    }
    case 'entityName': {
      if (prefix !== '' && prefix !== '~') throw new QueryError(`entity: takes "~" (contains) or a plain value, not "${prefix}"`, opPos, prefix.length);
      single();
      if (v.text === '') throw new QueryError('entity: needs a value', ...span());
      const op = prefix === '~' ? (negated ? 'notContains' : 'contains') : negated ? 'notEquals' : 'equals';
      return { column, op, value: v.text };
    }
    case 'action': {
      noNegation('action (list the actions to keep instead)');
      noPrefix('a comma-separated list');
      return { column, op: 'oneOf', value: list(v, key, (item) => {
        const a = item.toUpperCase();
        return (ACTIONS as readonly string[]).includes(a) ? (a as Action) : undefined;
      }, ACTIONS.join(', ')) };
    }
    case 'outcome': {
      noNegation('outcome (list the outcomes to keep instead)');
      noPrefix('a comma-separated list');
      return { column, op: 'oneOf', value: list(v, key, (item) => {
        const w = OUTCOME_WORDS[item.toLowerCase()];
        if (w !== undefined) return w;
        const n = Number(item);
        return /^\d+$/.test(item) && (OUTCOMES as readonly number[]).includes(n) ? (n as Outcome) : undefined;
      }, '0, 4, 8, 12 (or success, minor, serious, major)') };
    }
    case 'timestamp': {
      noNegation('created (use "<" instead of "-created:>")');
      if (prefix === '>=' || prefix === '<=') throw new QueryError(`"${prefix}" is not supported; use ">" (after) or "<" (before)`, opPos, prefix.length);
      if (prefix !== '>' && prefix !== '<') throw new QueryError('created: needs ">" (after) or "<" (before), e.g. created:>now-7d', opPos, Math.max(1, prefix.length));
      if (!v.quoted && v.text.includes('..')) throw new QueryError('ranges (a..b) are not supported; use created:>a created:<b', ...span());
      return { column, op: prefix === '>' ? 'after' : 'before', value: timeValue(v) };
    }
  }
}

function list<T>(v: ValueToken, key: string, conv: (item: string) => T | undefined, allowed: string): T[] {
  const out: T[] = [];
  let offset = v.quoted ? v.start + 1 : v.start;
  for (const item of v.text.split(',')) {
    if (item === '') throw new QueryError(`${key}: empty item in the list`, offset);
    const x = conv(item);
    if (x === undefined) throw new QueryError(`${key}: "${item}" is not one of ${allowed}`, offset, item.length);
    if (!out.includes(x)) out.push(x);
    offset += item.length + 1;
  }
  return out;
}

function timeValue(v: ValueToken): TimeValue {
  const t = v.text;
  if (t.startsWith('now-')) {
    const rel = t.slice(4);
    if (parseRelative(rel) === undefined) {
      throw new QueryError(`"${t}" is not a relative time; write now-<number><unit> with unit s, m, h, d or w (e.g. now-15m)`, v.start, v.end - v.start);
    }
    return { relative: rel };
  }
  const abs = parseAbsolute(t);
  if (abs === undefined) {
    throw new QueryError(`"${t}" is not a time; write now-7d, 2026-01-31, 2026-01-31T12:00Z or 2026-01-31T12:00:00+02:00`, v.start, v.end - v.start);
  }
  return abs;
}

const SAFE_BARE = /^[^\s"\\,~<>=!\-][^\s"\\,]*$/;

function quote(v: string): string {
  if (SAFE_BARE.test(v) && !v.includes('..')) return v;
  return '"' + v.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

function formatTime(v: TimeValue): string {
  return typeof v === 'number' ? formatAbsolute(v) : `now-${v.relative}`;
}

/** Prints filters as query text that parses back to the same filters. Throws QueryError for an invalid filter. */
export function formatQuery(filters: readonly Filter[]): string {
  return filters.map((f, i) => formatFilter(validateFilter(f, i))).join(' ');
}

function formatFilter(f: Filter): string {
  const q = COLUMNS.find((c) => c.column === f.column)!.qualifier;
  switch (f.column) {
    case 'id':
    case 'entityId': {
      const v = f.column === 'id' ? String(f.value) : quote(f.value);
      if (f.op === 'equals') return `${q}:${v}`;
      if (f.op === 'notEquals') return `-${q}:${v}`;
      return `${q}:${f.op === 'greaterThan' ? '>' : '<'}${v}`;
    }
    case 'user':
    case 'bot':
      return `${f.op === 'notEquals' ? '-' : ''}${q}:${quote(f.value)}`;
    case 'entityName': {
      const neg = f.op === 'notEquals' || f.op === 'notContains' ? '-' : '';
      const tilde = f.op === 'contains' || f.op === 'notContains' ? '~' : '';
      return `${neg}${q}:${tilde}${quote(f.value)}`;
    }
    case 'action':
    case 'outcome':
      return `${q}:${f.value.join(',')}`;
    case 'timestamp':
      return `${q}:${f.op === 'after' ? '>' : '<'}${quote(formatTime(f.value))}`;
    case 'text':
      return '"' + f.value.replace(/[\\"]/g, (c) => '\\' + c) + '"';
  }
}

/**
 * Checks one filter row (as it may come from the webview or a caller). Returns it, or throws a QueryError
 * (position -1) that says which row and what is wrong.
 */
export function validateFilter(f: Filter, index = 0): Filter {
  const row = `filter ${index + 1}`;
  const bad = (why: string): never => {
    throw new QueryError(`${row}: ${why}`, -1);
  };
  if (!f || typeof f !== 'object') bad('not a filter');
  const spec = COLUMNS.find((c) => c.column === (f as Filter).column);
  if (!spec) return bad(`unknown column "${String((f as { column?: unknown }).column)}"`);
  if (!spec.ops.some((o) => o.op === f.op)) bad(`${spec.label} does not take "${String(f.op)}"; it takes ${spec.ops.map((o) => o.label).join(', ')}`);
  const v: unknown = f.value;
  switch (f.column) {
    case 'id':
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad('ID must be a whole number');
      break;
    case 'entityId':
    case 'user':
    case 'bot':
    case 'entityName':
      if (typeof v !== 'string' || v === '') bad(`${spec.label} needs a value`);
      break;
    case 'text':
      if (typeof v !== 'string' || v.trim() === '') bad('search text is empty');
      break;
    case 'action':
      if (!Array.isArray(v) || v.length === 0) bad('choose at least one action');
      for (const a of v as unknown[]) if (!(ACTIONS as readonly unknown[]).includes(a)) bad(`"${String(a)}" is not an action`);
      break;
    case 'outcome':
      if (!Array.isArray(v) || v.length === 0) bad('choose at least one outcome');
      for (const o of v as unknown[]) if (!(OUTCOMES as readonly unknown[]).includes(o)) bad(`"${String(o)}" is not an outcome (0, 4, 8, 12)`);
      break;
    case 'timestamp':
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) bad('the time is not a number');
      } else if (!v || typeof v !== 'object' || typeof (v as { relative?: unknown }).relative !== 'string' || parseRelative((v as { relative: string }).relative) === undefined) {
        bad('the time must be UTC milliseconds or { relative: "15m" } (units s, m, h, d, w)');
      }
      break;
  }
  return f;
}
