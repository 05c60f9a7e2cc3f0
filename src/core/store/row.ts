// The stored form of an entry (a "row"), its canonical JSON, its hash, and size caps.
import { createHash, hash as cryptoHash, randomFillSync } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { entityNumber } from '../query/sql';
import { parseSnapshot } from '../format/snapshot';
import { everyKeyOf, isAction, isOutcome, type Entry, type NewEntry, type Outcome } from './types';
import { StoreError } from './errors';

/** The hash that precedes entry 1. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * An entry as stored in the journal and the database: the entry's fields (a team log's origin
 * aside), with `before`/`after` as canonical JSON text, and the action and outcome as read back
 * (checked on append). Absent optional fields are omitted (never null), so that the canonical JSON is unique.
 */
export interface Row extends Omit<Entry, 'action' | 'outcome' | 'before' | 'after' | 'origin' | 'originId'> {
  action: string;
  outcome?: number;
  before?: string;
  after?: string;
}

/** Row keys in canonical (sorted) order, hash excluded. */
export const HASHED_KEYS = everyKeyOf<Omit<Row, 'hash'>>()([
  'action',
  'after',
  'before',
  'bot',
  'contentType',
  'entityId',
  'entityName',
  'failureKind',
  'id',
  'input',
  'onBehalfOf',
  'outcome',
  'outcomeDesc',
  'periodEnd',
  'periodStart',
  'prevHash',
  'recorded',
  'replayOf',
  'returnValue',
  'traceId',
  'user',
  'uuid',
]);

/** Canonical JSON of a row without its hash: sorted keys, absent fields omitted. */
export function canonicalRow(r: Omit<Row, 'hash'> | Row): string {
  const o: Record<string, unknown> = {};
  for (const k of HASHED_KEYS) {
    const v = (r as Record<string, unknown>)[k];
    if (v !== undefined && v !== null) o[k] = v;
  }
  return JSON.stringify(o);
}

/** One-shot hashing (Node 20.12+) skips the Hash object: about twice as fast for a 1 KB entry. */
const oneShot = typeof cryptoHash === 'function' ? cryptoHash : undefined;

export function sha256(data: string | Uint8Array): string {
  return oneShot ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of the row's canonical JSON, which includes the previous entry's hash. */
export function hashRow(r: Omit<Row, 'hash'> | Row): string {
  return sha256(canonicalRow(r));
}

/**
 * Canonical JSON of any JSON value: object keys sorted, recursively (integer-like keys first, in
 * numeric order, as JavaScript enumerates them; then the others by UTF-16 code units).
 *
 * Plain data goes straight to JSON.stringify with every key of the value, sorted, as its property
 * list: each object then comes out in that order, and nothing is copied. Sorting copies of every
 * object took half the time and most of the memory of an append with 10 KB snapshots. Anything
 * else (a class instance, toJSON, more than 64 distinct keys, a key that Object.prototype also has)
 * is copied with sorted keys first, which gives the same text.
 */
export function canonicalJson(value: unknown): string {
  const keys = new Set<string>();
  return plainKeys(value, keys, 0) ? JSON.stringify(value, [...keys].sort(keyOrder)) : JSON.stringify(sortKeys(value, 0));
}

const MAX_LISTED_KEYS = 64;
const MAX_DEPTH = 512;
const INDEX_RE = /^(0|[1-9]\d{0,9})$/;

/** An array index as JavaScript orders own keys by (below 2^32 - 1). */
function arrayIndex(k: string): number | undefined {
  if (!INDEX_RE.test(k)) return undefined;
  const n = Number(k);
  return n < 4294967295 ? n : undefined;
}

function keyOrder(a: string, b: string): number {
  const x = arrayIndex(a);
  const y = arrayIndex(b);
  if (x !== undefined || y !== undefined) return x === undefined ? 1 : y === undefined ? -1 : x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Collects the keys of every object in `v` into `keys`; false as soon as something is not plain
 * data that a property list serializes exactly as sortKeys would.
 */
function plainKeys(v: unknown, keys: Set<string>, depth: number): boolean {
  if (depth > MAX_DEPTH) throw new StoreError('INVALID_ENTRY', `snapshot nests deeper than ${MAX_DEPTH} levels`);
  if (v === null || typeof v !== 'object') return true;
  const proto = Object.getPrototypeOf(v);
  if (Array.isArray(v)) {
    if (proto !== Array.prototype) return false;
    for (const x of v) if (!plainKeys(x, keys, depth + 1)) return false;
    return true;
  }
  if (proto !== Object.prototype && proto !== null) return false;
  const o = v as Record<string, unknown>;
  for (const k in o) {
    // Object.prototype's keys (constructor, __proto__, or one a script added to it) would be read
    // through the prototype from objects that lack them; a toJSON method changes what is serialized.
    if (k in Object.prototype || (k === 'toJSON' && typeof o[k] === 'function')) return false;
    keys.add(k);
    if (keys.size > MAX_LISTED_KEYS || !plainKeys(o[k], keys, depth + 1)) return false;
  }
  return true;
}

/** A copy of `v` with every object's keys in sorted order. */
function sortKeys(v: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new StoreError('INVALID_ENTRY', `snapshot nests deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(v)) return v.map((x) => sortKeys(x, depth + 1));
  if (v && typeof v === 'object') {
    const src = v as Record<string, unknown>;
    if (typeof (src as { toJSON?: unknown }).toJSON === 'function') return sortKeys((src as { toJSON(): unknown }).toJSON(), depth + 1);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(src).sort()) {
      if (src[k] === undefined) continue;
      const x = sortKeys(src[k], depth + 1);
      // Assigning "__proto__" would set the copy's prototype instead of keeping the key.
      if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
      else out[k] = x;
    }
    return out;
  }
  return v;
}

/**
 * Keeps a text whole when it fits in `capBytes` (UTF-8), else its head and tail with an explicit
 * marker `…[cut N bytes]…` in between, the result fitting in the cap.
 */
export function capText(text: string, capBytes: number): string {
  if (text.length * 3 <= capBytes) return text; // UTF-8 takes at most 3 bytes per UTF-16 unit
  const total = Buffer.byteLength(text, 'utf8');
  if (total <= capBytes) return text;
  const buf = Buffer.from(text, 'utf8');
  // The marker's length depends on N; reserve room for the longest N.
  const markerRoom = Buffer.byteLength(`…[cut ${total} bytes]…`, 'utf8');
  const room = Math.max(0, capBytes - markerRoom);
  let headEnd = Math.floor(room / 2);
  let tailStart = total - (room - headEnd);
  // Do not split a UTF-8 sequence: back the head off continuation bytes, move the tail past them.
  while (headEnd > 0 && (buf[headEnd] & 0xc0) === 0x80) headEnd--;
  while (tailStart < total && (buf[tailStart] & 0xc0) === 0x80) tailStart++;
  const cut = tailStart - headEnd;
  return buf.toString('utf8', 0, headEnd) + `…[cut ${cut} bytes]…` + buf.toString('utf8', tailStart);
}

const MARKER_RE = /…\[cut (\d+) bytes\]…/;

/** How many bytes were cut from a stored value (0 when it is whole). */
export function cutBytes(text: string | undefined): number {
  const m = text ? MARKER_RE.exec(text) : null;
  return m ? Number(m[1]) : 0;
}

type WellFormed = { isWellFormed(): boolean; toWellFormed(): string };

/**
 * The one form a text is hashed and stored in, the form it comes back in from the database file:
 * - well-formed UTF-16, each lone surrogate replaced by U+FFFD: SQLite stores text as UTF-8, which
 *   cannot hold a lone surrogate, so it would come back as U+FFFD while the hash had been taken over
 *   the original (a false "changed" that nobody could clear);
 * - a leading U+FEFF (byte order mark / zero-width no-break space) becomes U+2060 WORD JOINER, its
 *   standard stand-in: the UTF-8 decoder that reads the database drops a leading U+FEFF.
 * Every other character, NUL and the noncharacters included, is kept as it is.
 */
export function canonicalText(s: string): string {
  const w = (s as unknown as WellFormed).isWellFormed() ? s : (s as unknown as WellFormed).toWellFormed();
  return w.charCodeAt(0) === 0xfeff ? `\u2060${w.slice(1)}` : w;
}

function optString(e: NewEntry, k: keyof NewEntry): string | undefined {
  const v = e[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new StoreError('INVALID_ENTRY', `${k} must be a string`);
  return canonicalText(v);
}

function optNumber(e: NewEntry, k: keyof NewEntry, integer = true): number | undefined {
  const v = e[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v))) {
    throw new StoreError('INVALID_ENTRY', `${k} must be ${integer ? 'an integer' : 'a number'}`);
  }
  return v;
}

function requiredString(e: NewEntry, k: 'user' | 'entityName' | 'entityId'): string {
  const v = e[k] as unknown;
  if (typeof v === 'number' && k === 'entityId' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string' || v === '') throw new StoreError('INVALID_ENTRY', `${k} must be a non-empty string`);
  return canonicalText(v);
}

function snapshot(v: unknown, cap: number): string | undefined {
  if (v === undefined) return undefined;
  let text: string;
  try {
    text = canonicalJson(v);
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError('INVALID_ENTRY', `snapshot is not JSON: ${(err as Error).message}`);
  }
  if (text === undefined) return undefined; // a function or symbol
  // Above the cap the snapshot is kept as a JSON string holding its head and tail.
  const capped = capText(text, cap);
  return capped === text ? text : JSON.stringify(capped);
}

/**
 * Random (version 4) UUIDs, 256 at a time: one randomFillSync, their text written into a buffer,
 * and each one read out as a single 36-character string. crypto.randomUUID builds its text by
 * concatenating 20 pieces, 600 bytes of garbage per UUID: a tenth of what an append allocated.
 */
class UuidSource {
  private static readonly HEX = Buffer.from('0123456789abcdef', 'latin1');
  private readonly random = Buffer.alloc(16 * 256);
  private readonly text = Buffer.alloc(36 * 256);
  private used = 256;

  next(): string {
    if (this.used === 256) this.refill();
    const at = 36 * this.used++;
    return this.text.toString('latin1', at, at + 36);
  }

  private refill(): void {
    const { random, text } = this;
    const hex = UuidSource.HEX;
    randomFillSync(random);
    for (let u = 0, at = 0; u < 256; u++) {
      for (let i = 0; i < 16; i++) {
        let b = random[16 * u + i];
        if (i === 6) b = (b & 0x0f) | 0x40; // version 4
        else if (i === 8) b = (b & 0x3f) | 0x80; // variant 10xx
        if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d; // '-'
        text[at++] = hex[b >> 4];
        text[at++] = hex[b & 15];
      }
    }
    this.used = 0;
  }
}

const uuids = new UuidSource();

/** A validated new entry: a row whose id and prevHash are placeholders until sealRow, and without its hash. */
export type PreparedRow = Omit<Row, 'hash'>;

/**
 * Validates a new entry and turns it into a row, its id and prevHash placeholders. Its keys are
 * in canonical order, and only the present ones (assigned rather than deleted afterwards: deleting
 * properties turns an object into a slow dictionary), so that sealRow completes it in place and
 * JSON.stringify of it is its canonical JSON.
 */
export function prepareRow(e: NewEntry, capBytes: number, now: number): PreparedRow {
  if (!e || typeof e !== 'object') throw new StoreError('INVALID_ENTRY', 'entry must be an object');
  if (!isAction(e.action)) throw new StoreError('INVALID_ENTRY', `action must be one of CREATED, UPDATED, DELETED, INVITED, ACCEPTED, LOGIN, LOGOUT, EXECUTED (got ${String(e.action)})`);
  if (e.outcome !== undefined && e.outcome !== null && !isOutcome(e.outcome)) throw new StoreError('INVALID_ENTRY', `outcome must be 0, 4, 8 or 12 (got ${String(e.outcome)})`);
  const cap = (s: string | undefined) => (s === undefined ? undefined : capText(s, capBytes));
  // Every value first, in the order the checks report them; then the row in HASHED_KEYS order.
  const recorded = optNumber(e, 'recorded') ?? now;
  const user = requiredString(e, 'user');
  const entityName = requiredString(e, 'entityName');
  const entityId = requiredString(e, 'entityId');
  const bot = optString(e, 'bot');
  const outcome = e.outcome ?? undefined;
  const failureKind = optString(e, 'failureKind');
  const outcomeDesc = cap(optString(e, 'outcomeDesc'));
  const periodStart = optNumber(e, 'periodStart');
  const periodEnd = optNumber(e, 'periodEnd');
  const traceId = optString(e, 'traceId');
  const contentType = optString(e, 'contentType');
  const input = cap(optString(e, 'input'));
  const returnValue = cap(optString(e, 'returnValue'));
  const before = snapshot(e.before, capBytes);
  const after = snapshot(e.after, capBytes);
  const replayOf = optNumber(e, 'replayOf');
  const onBehalfOf = optString(e, 'onBehalfOf');
  // One literal with every key, in canonical order: one allocation and one shape for every row.
  // JSON.stringify leaves out the keys whose value is undefined, the absent ones and the hash.
  return {
    action: e.action,
    after,
    before,
    bot,
    contentType,
    entityId,
    entityName,
    failureKind,
    id: 0,
    input,
    onBehalfOf,
    outcome,
    outcomeDesc,
    periodEnd,
    periodStart,
    prevHash: '',
    recorded,
    replayOf,
    returnValue,
    traceId,
    user,
    uuid: uuids.next(),
    hash: undefined,
  } as PreparedRow;
}

/**
 * Completes a prepared row in place with its position in the chain and its hash, and writes its
 * journal line to `lines`.
 */
export function sealRow(p: PreparedRow, id: number, prevHash: string, lines: LineBuffer): Row {
  const r = p as Row;
  if ((r as { hash?: string }).hash !== undefined) throw new Error('this row is sealed already');
  r.id = id;
  r.prevHash = prevHash;
  r.hash = lines.add(JSON.stringify(r));
  return r;
}

// A journal line is the canonical JSON with the hash added last: `{…,"hash":"<64 hex>"}` and a newline.
const HASH_OPEN = ',"hash":"';
const LINE_CLOSE = '"}\n';

function lineOf(canonical: string, hash: string): string {
  return canonical.slice(0, -1) + HASH_OPEN + hash + LINE_CLOSE;
}

/** The journal line for a row: its canonical JSON with the hash added (sorted keys, hash last). */
export function rowLine(r: Row): string {
  return lineOf(canonicalRow(r), r.hash);
}

/**
 * Journal lines written as rows are sealed: the UTF-8 bytes of rowLine() for each, in chunks of
 * 1 MiB that are kept from batch to batch (fresh memory costs a page fault per 4 KiB on first
 * write, and a growing buffer a copy each time it grows). The canonical JSON is encoded once, right
 * after it is made (a fresh, flat string: encoding the line built by concatenation, which must be
 * flattened first, took ten times as long), and its hash is taken of those bytes; its closing
 * brace then becomes the comma before the hash.
 */
export class LineBuffer {
  private readonly chunks: Buffer[] = [];
  /** Bytes used in each chunk in use. */
  private readonly used: number[] = [];

  constructor(private readonly chunkBytes = 1 << 20) {}

  /** Empties the buffer for the next batch, keeping a few standard chunks. */
  reset(keepChunks = 8): void {
    const keep = this.chunks.filter((c) => c.length === this.chunkBytes).slice(0, keepChunks);
    this.chunks.length = 0;
    this.chunks.push(...keep);
    this.used.length = 0;
  }

  /** A chunk with room for `need` more bytes, and where they go in it. */
  private room(need: number): [Buffer, number] {
    const n = this.used.length;
    if (n && this.used[n - 1] + need <= this.chunks[n - 1].length) return [this.chunks[n - 1], this.used[n - 1]];
    if (need > this.chunkBytes) this.chunks.splice(n, 0, Buffer.allocUnsafe(need));
    else if (this.chunks.length <= n || this.chunks[n].length !== this.chunkBytes) this.chunks.splice(n, 0, Buffer.allocUnsafe(this.chunkBytes));
    this.used.push(0);
    return [this.chunks[n], 0];
  }

  /** Adds the line of a row whose canonical JSON (hash excluded) is `canonical`; returns its hash. */
  add(canonical: string): string {
    // Room for the longest UTF-8 the text can take (3 bytes per UTF-16 unit), so it is encoded without being measured first.
    const [buf, start] = this.room(canonical.length * 3 + HASH_OPEN.length - 1 + 64 + LINE_CLOSE.length);
    const size = buf.write(canonical, start, 'utf8');
    if (buf[start + size - 1] !== 0x7d) throw new Error('a canonical row is not a JSON object');
    const hash = sha256(buf.subarray(start, start + size));
    let at = start + size - 1; // over the closing brace
    at += buf.write(HASH_OPEN, at, 'latin1');
    at += buf.write(hash, at, 'latin1');
    at += buf.write(LINE_CLOSE, at, 'latin1');
    this.used[this.used.length - 1] = at;
    return hash;
  }

  /** The lines so far, as views of the chunks in use. */
  parts(): Buffer[] {
    return this.used.map((n, i) => this.chunks[i].subarray(0, n));
  }

  /** How many bytes the lines take. */
  get byteLength(): number {
    return this.used.reduce((a, b) => a + b, 0);
  }
}

/** Parses a journal line into a row; throws on anything that is not a well-formed row whose hash matches. */
export function parseRowLine(line: string): Row {
  const o = JSON.parse(line) as Row;
  if (!o || typeof o !== 'object' || !Number.isSafeInteger(o.id) || typeof o.hash !== 'string' || typeof o.prevHash !== 'string') {
    throw new Error('not an entry');
  }
  if (hashRow(o) !== o.hash) throw new Error('hash does not match its content');
  return o;
}

function lazySnapshot(e: Entry, key: 'before' | 'after', text: () => string): void {
  let value: unknown;
  let parsed = false;
  Object.defineProperty(e, key, {
    enumerable: true,
    configurable: true,
    get() {
      if (!parsed) {
        value = parseSnapshot(text());
        parsed = true;
      }
      return value;
    },
    set(v: unknown) {
      Object.defineProperty(e, key, { value: v, enumerable: true, configurable: true, writable: true });
    },
  });
}

/** Whether the row has a value for `key`, without reading it (a lazy property stays unread). */
function present(r: Row, key: 'before' | 'after'): boolean {
  if (!lazyRows.has(r)) return r[key] !== undefined; // a descriptor is an object per call
  const d = Object.getOwnPropertyDescriptor(r, key);
  return d !== undefined && (d.get !== undefined || d.value !== undefined);
}

/** The public entry for a row: snapshots come back as JSON values (parsed on first access). */
export function rowToEntry(r: Row): Entry {
  const e: Entry = {
    id: r.id,
    uuid: r.uuid,
    recorded: r.recorded,
    user: r.user,
    action: r.action as Entry['action'],
    entityName: r.entityName,
    entityId: r.entityId,
    hash: r.hash,
    prevHash: r.prevHash,
  };
  if (r.bot !== undefined) e.bot = r.bot;
  if (r.outcome !== undefined) e.outcome = r.outcome as Outcome;
  if (r.failureKind !== undefined) e.failureKind = r.failureKind;
  if (r.outcomeDesc !== undefined) e.outcomeDesc = r.outcomeDesc;
  if (r.periodStart !== undefined) e.periodStart = r.periodStart;
  if (r.periodEnd !== undefined) e.periodEnd = r.periodEnd;
  if (r.traceId !== undefined) e.traceId = r.traceId;
  if (r.contentType !== undefined) e.contentType = r.contentType;
  if (r.input !== undefined) e.input = r.input;
  if (r.returnValue !== undefined) e.returnValue = r.returnValue;
  // Snapshots are parsed when first read: a page of 100 changes with 10 KB snapshots would
  // otherwise spend most of its time in JSON.parse for values a list never shows.
  // A stored snapshot may still be compressed (see dbToRow): looking at its property does not decompress it.
  if (present(r, 'before')) lazySnapshot(e, 'before', () => r.before!);
  if (present(r, 'after')) lazySnapshot(e, 'after', () => r.after!);
  if (r.replayOf !== undefined) e.replayOf = r.replayOf;
  if (r.onBehalfOf !== undefined) e.onBehalfOf = r.onBehalfOf;
  return e;
}

/**
 * The text full-text search indexes for a row: outcome description, input, return value and both
 * snapshots, joined by spaces (exactly what the insert trigger of schema versions 2–4 indexed).
 */
export function ftsBody(r: Pick<Row, 'outcomeDesc' | 'input' | 'returnValue' | 'before' | 'after'>): string {
  return `${r.outcomeDesc ?? ''} ${r.input ?? ''} ${r.returnValue ?? ''} ${r.before ?? ''} ${r.after ?? ''}`;
}

/** Database column for each row field, in the order of ROW_COLUMNS. */
export const ROW_FIELDS = everyKeyOf<Row>()([
  'id',
  'uuid',
  'recorded',
  'user',
  'action',
  'entityName',
  'entityId',
  'bot',
  'outcome',
  'failureKind',
  'outcomeDesc',
  'periodStart',
  'periodEnd',
  'traceId',
  'contentType',
  'input',
  'returnValue',
  'before',
  'after',
  'replayOf',
  'onBehalfOf',
  'prevHash',
  'hash',
]);

export const ROW_COLUMNS = [
  'id',
  'uuid',
  'recorded',
  'user',
  'action',
  'entity_name',
  'entity_id',
  'bot',
  'outcome',
  'failure_kind',
  'outcome_desc',
  'period_start',
  'period_end',
  'trace_id',
  'content_type',
  'input',
  'return_value',
  'before_json',
  'after_json',
  'replay_of',
  'on_behalf_of',
  'prev_hash',
  'hash',
] as const;

/** Every row column of the entries table, for `${SELECT_COLS} WHERE …`. */
export const SELECT_COLS = `SELECT ${ROW_COLUMNS.join(', ')} FROM entries`;

export type SqlValue = string | number | null | Uint8Array;

// ---------------------------------------------------------------- stored form (schema 6)
//
// The database keeps the same values as the journal, in a more compact form; reading gives back
// exactly the row that was hashed, so the chain and its meaning do not change:
//  - uuid: 16 bytes, hash and prev_hash: 32 bytes (BLOBs) instead of hex text, when they have the
//    canonical lowercase form (anything else stays text);
//  - outcome descriptions, inputs, return values and snapshots of COMPRESS_MIN bytes or more: a BLOB
//    of one format byte (1: raw DEFLATE of the UTF-8 text) and the compressed bytes, when that saves
//    at least an eighth; smaller values stay text.
// Rows written by schemas 1–5 are all text and read the same way.

/** Text columns this size (UTF-8 bytes) or larger are compressed. */
export const COMPRESS_MIN = 1024;
const CODEC_DEFLATE = 1;
const DEFLATE_OPTS = { level: 1, windowBits: 12, memLevel: 8 };
const HEX64 = /^[0-9a-f]{64}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Columns (ROW_COLUMNS positions) that may be compressed, and the binary ones. */
const TEXT_COLS = [10, 15, 16, 17, 18];
const UUID_COL = 1;
const HASH_COLS = [21, 22];

/** A long text as a compressed BLOB, or the text itself when it is short or does not compress. */
export function packText(text: string): string | Uint8Array {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most bot logs are ruled out without encoding them.
  if (text.length * 3 < COMPRESS_MIN || Buffer.byteLength(text, 'utf8') < COMPRESS_MIN) return text;
  const raw = Buffer.from(text, 'utf8');
  const z = deflateRawSync(raw, DEFLATE_OPTS);
  if (z.length + 1 > raw.length - (raw.length >> 3)) return text;
  const out = new Uint8Array(z.length + 1);
  out[0] = CODEC_DEFLATE;
  out.set(z, 1);
  return out;
}

/** A text column's value as text: decompressed when it is a BLOB. A damaged BLOB reads as a marker (verify() then reports the entry). */
export function textOf(v: SqlValue): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) {
    try {
      if (v[0] !== CODEC_DEFLATE) throw new Error(`unknown format ${v[0]}`);
      return inflateRawSync(v.subarray(1)).toString('utf8');
    } catch (err) {
      return `…[damaged stored value: ${(err as Error).message}]…`;
    }
  }
  return String(v);
}

function hexOf(v: SqlValue): string {
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') : String(v);
}

/** A hash column's value as hex text. */
export function hashOf(v: SqlValue): string {
  return hexOf(v);
}

function uuidOf(v: SqlValue): string {
  if (!(v instanceof Uint8Array) || v.length !== 16) return hexOf(v);
  const h = hexOf(v);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function packHash(h: string): string | Uint8Array {
  return HEX64.test(h) ? Buffer.from(h, 'hex') : h;
}

function packUuid(u: string): string | Uint8Array {
  return UUID_RE.test(u) ? Buffer.from(u.replace(/-/g, ''), 'hex') : u;
}

/** Rows with a property that lazyText defined. */
const lazyRows = new WeakSet<object>();

/** A property that decompresses its value on first read (a list rarely shows snapshots). */
function lazyText(r: Record<string, unknown>, key: string, blob: Uint8Array): void {
  lazyRows.add(r);
  let value: string | undefined;
  Object.defineProperty(r, key, {
    enumerable: true,
    configurable: true,
    get() {
      if (value === undefined) value = textOf(blob);
      return value;
    },
    set(v: unknown) {
      Object.defineProperty(r, key, { value: v, enumerable: true, configurable: true, writable: true });
    },
  });
}

/** A database result row (in ROW_COLUMNS order) to a row. */
export function dbToRow(values: SqlValue[]): Row {
  const r: Record<string, unknown> = {};
  for (let i = 0; i < ROW_FIELDS.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (v instanceof Uint8Array) {
      if (i === UUID_COL) r[ROW_FIELDS[i]] = uuidOf(v);
      else if (i === 21 || i === 22) r[ROW_FIELDS[i]] = hexOf(v);
      else if (i === 17 || i === 18) lazyText(r, ROW_FIELDS[i], v);
      else r[ROW_FIELDS[i]] = textOf(v);
    } else r[ROW_FIELDS[i]] = v;
  }
  return r as unknown as Row;
}

/** Insert parameters for a row: the ROW_COLUMNS values in their stored form, then entity_num. */
export function rowToDb(r: Row): SqlValue[] {
  const out: SqlValue[] = ROW_FIELDS.map((k) => (r[k] === undefined ? null : (r[k] as SqlValue)));
  out[UUID_COL] = packUuid(r.uuid);
  for (const i of HASH_COLS) out[i] = packHash(out[i] as string);
  for (const i of TEXT_COLS) if (typeof out[i] === 'string') out[i] = packText(out[i] as string);
  out.push(entityNumber(r.entityId));
  return out;
}
