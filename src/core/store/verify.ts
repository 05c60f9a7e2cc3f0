// Verifying the hash chain fast: the entries table is read straight from the database file's pages
// (SQLite's file format), each entry's canonical JSON is written as bytes from its stored values, and
// hashed. See "Integrity" in README.md.
//
// Going through sql.js cost ~13.5 µs per entry at 1M entries (stepping the statement 2.8, copying 23
// values out of WebAssembly 1.3, building a row object 3.2, its canonical JSON 5, the hash 1.3).
// Reading pages in 1 MiB chunks and writing the JSON from the record's bytes leaves mostly the hash.
//
// This path only ever says "intact": an entry passes when the SHA-256 of the bytes written here
// equals its stored hash, so those bytes are exactly the canonical JSON that was hashed when the entry
// was appended. Anything this path does not read the way the store does (a value of an unexpected
// type, a damaged page, a hash that does not match) stops it, and the caller goes on from that entry
// with the store's own reading (sql.js, dbToRow, hashRow), which gives the verdict and its reason.
import { createHash, hash as cryptoHash } from 'node:crypto';
import { InflateRaw, inflateRawSync } from 'node:zlib';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Database } from 'sql.js';
import type { PagedFile, SharedPages } from './pagefile';
import { dbToRow, GENESIS_HASH, hashOf, hashRow, HASHED_KEYS, ROW_COLUMNS, ROW_FIELDS, type Row, type SqlValue } from './row';
import { checkMark, type Witness, type WitnessMark } from './witness';

/** Reads bytes `[start, end)` of the database file as SQLite sees it into `out` at 0. */
export type ReadFile = (out: Uint8Array, start: number, end: number) => void;

/** Where the fast path stopped, and why (the caller continues from `id` with the exact path). */
export interface FastScan {
  /** Entries 1..verified are intact and chained. */
  verified: number;
  /** The hash of entry `verified` (hex), or the genesis hash. */
  headHash: string;
  /** Set when the scan stopped before the end of the table: what it could not decide. */
  stopped?: { id: number; why: string };
}

/** The table's column names in storage order, as `PRAGMA table_info(entries)` lists them. */
export type TableColumns = readonly string[];

/** Pages are read this many bytes at a time; a few at a time for a short range (an incremental check). */
const CHUNK = 1 << 20;
const SMALL_CHUNK = 64 << 10;
const SMALL_RANGE = 20_000;
const CHUNKS = 6;
const MAX_DEPTH = 20;

/** A value the fast path does not write the way the store's reading does: hand over to it. */
class Unsupported extends Error {}

/** SHA-256 as a 32-character latin1 ('binary') string (one-shot on Node 20.12+). */
const oneShot = typeof cryptoHash === 'function' ? cryptoHash : undefined;
const sha256Latin1: (data: Uint8Array) => string = oneShot ? (data) => oneShot('sha256', data, 'binary') : (data) => createHash('sha256').update(data).digest('binary');

/** Kinds of columns, by how their stored value becomes the canonical JSON value. */
const enum Kind {
  /** Text as a JSON string, an integer as a JSON number. */
  Plain,
  /** Also a BLOB: one format byte (1: raw DEFLATE) and the compressed UTF-8 text. */
  Packed,
  /** Also a BLOB: its bytes as hex (hash, prev_hash). */
  Hex,
  /** Also a 16-byte BLOB: the UUID's text with dashes (other lengths: hex). */
  Uuid,
}


const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Reads the `entries` table of a Bot Audit database file page by page, in rowid order, and checks
 * the chain. Not reentrant; one instance per scan.
 */
export class ChainScanner {
  private readonly pageSize: number;
  private readonly usable: number;
  private readonly pageCount: number;
  private readonly chunks: { start: number; buf: Buffer }[] = [];
  private chunkBytes = CHUNK;
  // The hashed keys in canonical order: `,"key":` as bytes, the column's position in the stored
  // record (-1: the rowid, for `id`), and its kind.
  private readonly fieldKeys: Key[];
  private readonly fieldCols: Int32Array;
  private readonly fieldKinds: Uint8Array;
  private readonly hashCol: number;
  private readonly prevCol: number;
  /** Serial types and offsets of the current record's columns. */
  private types = new Float64Array(32);
  private offs = new Float64Array(32);
  private nCols = 0;
  private out = Buffer.allocUnsafe(64 << 10);
  private outV = view(this.out);
  private payload = Buffer.allocUnsafe(64 << 10);
  private payloadV = view(this.payload);
  /** Inflated values are written here (see `inflate`). */
  private inflated = Buffer.allocUnsafe(64 << 10);
  private inflatedV = view(this.inflated);
  /** The hash of the entry before the next one, as 32 latin1 characters ('' when not a hash). */
  private prev = '';

  constructor(
    private readonly read: ReadFile,
    fileSize: number,
    columns: TableColumns,
    private readonly rootPage: number,
  ) {
    const head = new Uint8Array(100);
    read(head, 0, 100);
    const ps = (head[16] << 8) | head[17];
    this.pageSize = ps === 1 ? 65536 : ps;
    this.usable = this.pageSize - head[20];
    if (this.pageSize < 512 || (this.pageSize & (this.pageSize - 1)) !== 0) throw new Unsupported(`page size ${this.pageSize}`);
    if (((head[56] << 24) | (head[57] << 16) | (head[58] << 8) | head[59]) !== 1) throw new Unsupported('the text encoding is not UTF-8');
    this.pageCount = Math.floor(fileSize / this.pageSize);
    const colOf = (name: string) => columns.indexOf(name);
    this.fieldKeys = HASHED_KEYS.map((k) => keyOf(`"${k}":`));
    this.fieldCols = Int32Array.from(HASHED_KEYS, (k) => {
      const column = ROW_COLUMNS[ROW_FIELDS.indexOf(k)];
      const col = k === 'id' ? -1 : colOf(column);
      if (k !== 'id' && col < 0) throw new Unsupported(`no column ${column}`);
      return col;
    });
    this.fieldKinds = Uint8Array.from(HASHED_KEYS, (k) =>
      k === 'uuid' ? Kind.Uuid : k === 'prevHash' ? Kind.Hex : k === 'outcomeDesc' || k === 'input' || k === 'returnValue' || k === 'before' || k === 'after' ? Kind.Packed : Kind.Plain,
    );
    if (columns[0] !== 'id') throw new Unsupported('id is not the first column');
    this.hashCol = colOf('hash');
    this.leafBuf = Buffer.alloc(this.pageSize);
    this.leafV = view(this.leafBuf);
    this.prevCol = colOf('prev_hash');
  }

  /** Page `n` (1-based): the chunk that holds it and its offset there. */
  private page(n: number): [Buffer, number] {
    if (!(n >= 1 && n <= this.pageCount)) throw new Unsupported(`page ${n} is outside the file`);
    const pos = (n - 1) * this.pageSize;
    const start = pos - (pos % this.chunkBytes);
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c.start === start) {
        if (i) this.chunks.unshift(this.chunks.splice(i, 1)[0]);
        return [c.buf, pos - start];
      }
    }
    const c = this.chunks.length < CHUNKS ? { start, buf: Buffer.alloc(this.chunkBytes) } : this.chunks.pop()!;
    c.start = start;
    this.read(c.buf, start, Math.min(start + this.chunkBytes, this.pageCount * this.pageSize));
    this.chunks.unshift(c);
    return [c.buf, pos - start];
  }

  /**
   * Walks the table from entry `from` (the entries before it are taken as verified, entry from-1
   * having hash `prevHash`) to entry `until` (default: the table's end), and checks each entry's
   * link and hash; stops at the first entry it cannot pass. `onProgress` gets the last ID checked,
   * every 10,000 entries.
   */
  scan(from: number, prevHash: string, onProgress?: (id: number) => void, until = Infinity): FastScan {
    const chunkBytes = until - from < SMALL_RANGE ? SMALL_CHUNK : CHUNK;
    if (chunkBytes !== this.chunkBytes) {
      this.chunkBytes = chunkBytes;
      this.chunks.length = 0;
    }
    this.prev = /^[0-9a-fA-F]{64}$/.test(prevHash) ? Buffer.from(prevHash, 'hex').toString('latin1') : '';
    let expected = from;
    const head = () => (expected === from ? prevHash : Buffer.from(this.prev, 'latin1').toString('hex'));
    const stop = (id: number, why: string): FastScan => ({ verified: expected - 1, headHash: head(), stopped: { id, why } });
    const end = (): FastScan => ({ verified: expected - 1, headHash: head() });
    // Depth-first over the b-tree, children in order; interior pages are copied (chunks get reused).
    const stack: { page: Buffer; cell: number; cells: number; hdr: number }[] = [];
    const push = (n: number) => {
      if (stack.length > MAX_DEPTH) throw new Unsupported('the table is deeper than expected');
      const [buf, at] = this.page(n);
      const hdr = n === 1 ? 100 : 0;
      const type = buf[at + hdr];
      if (type === 0x0d) return this.leaf(buf, at, hdr);
      if (type !== 0x05) throw new Unsupported(`page ${n} is not a table page (type ${type})`);
      const page = Buffer.allocUnsafe(this.pageSize);
      buf.copy(page, 0, at, at + this.pageSize);
      stack.push({ page, cell: 0, cells: (page[hdr + 3] << 8) | page[hdr + 4], hdr });
      return undefined;
    };
    try {
      let leafRows: number | undefined = push(this.rootPage) as number | undefined;
      const leafDone = (): FastScan | undefined => {
        // `leaf` left its rows in this.batch; check them in order.
        for (let i = 0; i < this.batchLen; i++) {
          const id = this.batchIds[i];
          if (id < from) continue;
          if (id > until) return end();
          if (id !== expected) return stop(expected, id > expected ? 'an entry is missing' : 'an entry is out of order');
          const r = this.check(i);
          if (r) return stop(id, r);
          expected = id + 1;
          if (onProgress && id % 10_000 === 0) onProgress(id);
        }
        this.batchLen = 0;
        return undefined;
      };
      if (leafRows !== undefined) {
        const s = leafDone();
        if (s) return s;
      }
      while (stack.length) {
        const top = stack[stack.length - 1];
        let child: number;
        if (top.cell < top.cells) {
          const p = (top.page[top.hdr + 12 + 2 * top.cell] << 8) | top.page[top.hdr + 13 + 2 * top.cell];
          child = readU32(top.page, p);
          // Skip subtrees that end before `from`: the cell's key is the largest rowid on its left.
          const key = varint(top.page, p + 4);
          top.cell++;
          if (key < from) continue;
        } else {
          stack.pop();
          child = readU32(top.page, top.hdr + 8);
          if (top.cells === 0 && child === 0) continue;
        }
        leafRows = push(child) as number | undefined;
        if (leafRows !== undefined) {
          const s = leafDone();
          if (s) return s;
        }
      }
    } catch (err) {
      // Whatever this path cannot read (a damaged page, a value of another type, a read error), the exact path reads.
      return stop(expected, (err as Error).message);
    } finally {
      this.closeZlib();
    }
    return end();
  }

  // The rows of the current leaf page: their IDs, and where their records are.
  private batchIds = new Float64Array(1024);
  private batchLen = 0;
  private leafBuf: Buffer;
  private leafV: DataView;
  private cellPtrs = new Int32Array(1024);

  /** Takes a leaf page's cells (checked after, in `check`); returns their number. */
  private leaf(buf: Buffer, at: number, hdr: number): number {
    const n = (buf[at + hdr + 3] << 8) | buf[at + hdr + 4];
    if (n > this.batchIds.length) {
      this.batchIds = new Float64Array(n);
      this.cellPtrs = new Int32Array(n);
    }
    // Leaf pages are copied too: reading an overflow page may replace the chunk that holds it.
    const page = this.leafBuf;
    buf.copy(page, 0, at, at + this.pageSize);
    for (let i = 0; i < n; i++) {
      const p = (page[hdr + 8 + 2 * i] << 8) | page[hdr + 9 + 2 * i];
      if (p < hdr + 8 || p >= this.usable) throw new Unsupported('a cell outside its page');
      this.cellPtrs[i] = p;
      // Cell: payload size, rowid.
      varint(page, p);
      this.batchIds[i] = varint(page, p + vlen);
    }
    this.batchLen = n;
    return n;
  }

  /** Checks the i-th row of the current leaf; undefined when it passes, else what is wrong. */
  private check(i: number): string | undefined {
    const page = this.leafBuf;
    const p = this.cellPtrs[i];
    const size = varint(page, p);
    const a = vlen;
    const rowid = varint(page, p + a);
    const local = p + a + vlen;
    // Where the payload is: all on the page, or its first part here and the rest in overflow pages.
    const U = this.usable;
    const X = U - 35;
    let rec: Buffer;
    let recV: DataView;
    let base: number;
    if (size <= X) {
      if (local + size > U) throw new Unsupported('a record runs past its page');
      rec = page;
      recV = this.leafV;
      base = local;
    } else {
      const M = Math.floor(((U - 12) * 32) / 255) - 23;
      const K = M + ((size - M) % (U - 4));
      const here = K <= X ? K : M;
      if (local + here + 4 > U) throw new Unsupported('a record runs past its page');
      if (this.payload.length < size) {
        this.payload = Buffer.allocUnsafe(Math.max(size, this.payload.length * 2));
        this.payloadV = view(this.payload);
      }
      rec = this.payload;
      recV = this.payloadV;
      base = 0;
      rec.set(page.subarray(local, local + here), 0);
      let got = here;
      let next = readU32(page, local + here);
      let hops = 0;
      while (got < size) {
        if (next === 0 || ++hops > this.pageCount) throw new Unsupported('a broken overflow chain');
        const [ob, oat] = this.page(next);
        const take = Math.min(U - 4, size - got);
        rec.set(ob.subarray(oat + 4, oat + 4 + take), got);
        got += take;
        next = readU32(ob, oat);
      }
    }
    this.parseRecord(rec, base, size);
    return this.hashAndLink(rec, recV, rowid, size);
  }

  /** Reads the record header: each column's serial type and the offset of its value. */
  private parseRecord(rec: Buffer, base: number, size: number): void {
    const hdrLen = varint(rec, base);
    const h = vlen;
    if (hdrLen > size || hdrLen < h) throw new Unsupported('a damaged record header');
    const end = base + hdrLen;
    if (hdrLen - h > this.types.length) {
      this.types = new Float64Array(2 * (hdrLen - h));
      this.offs = new Float64Array(2 * (hdrLen - h));
    }
    const { types, offs } = this;
    let pos = base + h;
    let off = end;
    let n = 0;
    while (pos < end) {
      // Serial types below 128 (NULL, numbers, text and BLOBs up to 57 bytes) take one byte.
      let t = rec[pos];
      if (t < 0x80) pos++;
      else {
        t = varint(rec, pos);
        pos += vlen;
      }
      types[n] = t;
      offs[n] = off;
      off += t >= 12 && t < 0x7fffffff ? (t - 12) >> 1 : serialLength(t);
      n++;
    }
    if (off > base + size) throw new Unsupported('a record longer than its payload');
    this.nCols = n;
  }

  /** Room for `n` more bytes at `o` in the output buffer (grown, keeping what is written; see outV). */
  private reserve(o: number, n: number): Buffer {
    if (o + n > this.out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, o + n));
      this.out.copy(bigger, 0, 0, o);
      this.out = bigger;
      this.outV = view(bigger);
    }
    return this.out;
  }

  /** Writes the canonical JSON of the current record (`size` bytes), hashes it and checks its links. */
  private hashAndLink(rec: Buffer, recV: DataView, rowid: number, size: number): string | undefined {
    // Every value takes at most 6 bytes of JSON per stored byte (\u00XX), and the keys ~400 bytes;
    // only a decompressed value needs more room. (A key's last word may pass its end by 3 bytes.)
    let out = this.reserve(0, 1024 + 6 * size);
    let outV = this.outV;
    let o = 0;
    out[o++] = 0x7b; // {
    let first = 1;
    const { fieldCols: cols, fieldKinds: kinds, fieldKeys: keys, types, offs, nCols } = this;
    for (let fi = 0; fi < cols.length; fi++) {
      const col = cols[fi];
      if (col === -1) {
        o = writeKey(outV, o, keys[fi], first);
        o = writeDigits(out, o, rowid);
        first = 0;
        continue;
      }
      const t = col < nCols ? types[col] : 0;
      if (t === 0) continue; // NULL, or a column added after this row was written: absent
      const at = offs[col];
      o = writeKey(outV, o, keys[fi], first);
      first = 0;
      if (t >= 13 && (t & 1) === 1) {
        o = writeJsonString(rec, recV, at, at + (t - 13) / 2, out, outV, o);
      } else if (t >= 12) {
        const len = (t - 12) / 2;
        const kind = kinds[fi];
        if (kind === Kind.Hex || (kind === Kind.Uuid && len !== 16)) {
          out[o++] = 0x22;
          o = writeHex(rec, at, at + len, out, outV, o);
          out[o++] = 0x22;
        } else if (kind === Kind.Uuid) {
          out[o++] = 0x22;
          o = writeHex(rec, at, at + 4, out, outV, o);
          for (const [s, e] of UUID_GROUPS) {
            out[o++] = 0x2d;
            o = writeHex(rec, at + s, at + e, out, outV, o);
          }
          out[o++] = 0x22;
        } else if (kind === Kind.Packed && len > 1 && rec[at] === 1) {
          const n = this.inflate(rec, at + 1, at + len);
          out = this.reserve(o, 1024 + 6 * (size + n));
          outV = this.outV;
          o = writeJsonString(this.inflated, this.inflatedV, 0, n, out, outV, o);
        } else throw new Unsupported('a BLOB where text is expected');
      } else if (t >= 1 && t <= 6) {
        o = writeDigits(out, o, readInt(rec, at, t));
      } else if (t === 8 || t === 9) {
        out[o++] = t === 8 ? 0x30 : 0x31;
      } else throw new Unsupported(`a value of serial type ${t}`);
    }
    out[o++] = 0x7d; // }
    // The entry's own hash and its previous hash, as 32 bytes: in the record (BLOBs), or converted
    // from the text of old rows.
    const own = this.hashAt(rec, this.hashCol, this.own);
    const ownAt = own === rec ? offs[this.hashCol] : 0;
    const link = this.hashAt(rec, this.prevCol, this.link);
    const linkAt = link === rec ? offs[this.prevCol] : 0;
    if (!own || !link) throw new Unsupported('a hash that is not 32 bytes or 64 hex digits');
    const prev = this.prev;
    if (prev.length !== 32) return 'its previous hash does not match';
    for (let k = 0; k < 32; k++) if (link[linkAt + k] !== prev.charCodeAt(k)) return 'its previous hash does not match';
    // The digest as a 32-character latin1 string: a Buffer result costs a microsecond more.
    const digest = sha256Latin1(new Uint8Array(out.buffer, out.byteOffset, o));
    for (let k = 0; k < 32; k++) if (digest.charCodeAt(k) !== own[ownAt + k]) return 'its content does not match its hash';
    this.prev = digest;
    return undefined;
  }

  private readonly own = Buffer.alloc(32);
  private readonly link = Buffer.alloc(32);

  /**
   * The hash in column `col`: `rec` itself when it is a 32-byte BLOB (at the column's offset), else
   * `to` with the 32 bytes of its 64 hex digits; undefined when it is neither.
   */
  private hashAt(rec: Buffer, col: number, to: Buffer): Buffer | undefined {
    const t = col < this.nCols ? this.types[col] : 0;
    if (t === 76) return rec;
    if (t !== 141) return undefined;
    const at = this.offs[col];
    const hex = rec.toString('latin1', at, at + 64);
    return HEX64.test(hex) && to.write(hex, 'hex') === 32 ? to : undefined;
  }

  private zlib: Inflater | null | undefined;

  /**
   * Inflates the raw DEFLATE data `src[s, e)` into `this.inflated` as `inflateRawSync` does (the
   * store's reading), with one zlib stream reset for each value instead of a new one; returns its length.
   */
  private inflate(src: Buffer, s: number, e: number): number {
    if (this.zlib === undefined) this.zlib = inflater();
    const z = this.zlib;
    if (!z) {
      let text: Buffer;
      try {
        text = inflateRawSync(src.subarray(s, e));
      } catch {
        throw new Unsupported('a damaged compressed value');
      }
      this.roomToInflate(0, text.length);
      text.copy(this.inflated);
      return text.length;
    }
    z.handle.reset();
    let inOff = s;
    let availIn = e - s;
    let outOff = 0;
    for (;;) {
      const availOut = this.inflated.length - outOff;
      z.error = undefined;
      z.handle.writeSync(Z_FINISH, src, inOff, availIn, this.inflated, outOff, availOut);
      if (z.error !== undefined) {
        this.closeZlib();
        throw new Unsupported('a damaged compressed value');
      }
      const availOutAfter = z.state[0];
      const availInAfter = z.state[1];
      outOff += availOut - availOutAfter;
      inOff += availIn - availInAfter;
      availIn = availInAfter;
      // As zlib's processChunkSync: done when zlib left room in the output; else give it more.
      if (availOutAfter !== 0) return outOff;
      this.roomToInflate(outOff, this.inflated.length);
    }
  }

  /** Grows `this.inflated` to hold `n` more bytes after `used`, keeping those. */
  private roomToInflate(used: number, n: number): void {
    if (used + n <= this.inflated.length) return;
    const size = Math.max(used + n, this.inflated.length * 2);
    if (size > MAX_INFLATED) throw new Unsupported('a compressed value too large to check here');
    const bigger = Buffer.allocUnsafe(size);
    this.inflated.copy(bigger, 0, 0, used);
    this.inflated = bigger;
    this.inflatedV = view(bigger);
  }

  private closeZlib(): void {
    try {
      this.zlib?.handle.close();
    } catch {
      /* already closed */
    }
    this.zlib = undefined;
  }
}

/** Beyond this, a decompressed value is left to the store's reading. */
const MAX_INFLATED = 1 << 30;
const Z_FINISH = 4;

/** A zlib stream's handle, driven directly (see `ChainScanner.inflate`). */
interface Inflater {
  handle: {
    writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
    reset(): void;
    close(): void;
    onerror: (message: string, errno: number) => void;
  };
  /** After each write: [0] the output room left, [1] the input left. */
  state: Uint32Array;
  error?: string;
}

/**
 * One raw-inflate handle of node:zlib, as `inflateRawSync` drives it, without a stream object per
 * value (half the cost of a snapshot was building one). These are node:zlib's internals (`_handle`,
 * `_writeState`, stable since Node 10): when they are not there, null, and `inflateRawSync` is used.
 */
function inflater(): Inflater | null {
  try {
    const engine = new InflateRaw() as unknown as { _handle?: Inflater['handle']; _writeState?: unknown };
    const handle = engine._handle;
    const state = engine._writeState;
    if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || typeof handle.close !== 'function') return null;
    if (!(state instanceof Uint32Array) || state.length !== 2) return null;
    const z: Inflater = { handle, state };
    // Errors come back through this callback, during writeSync (the stream's own would destroy it).
    handle.onerror = (message) => {
      z.error = String(message);
    };
    return z;
  } catch {
    return null;
  }
}

/**
 * A buffer's bytes as a DataView: JSON is copied 4 bytes at a time through it, at any offset
 * (TurboFan compiles its getInt32 and setInt32 to single loads and stores).
 */
function view(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** A key of the canonical JSON (`"key":`), after a comma or not, as little-endian 32-bit words. */
interface Key {
  /** `"key":` and `,"key":`, each as words (the last one padded) and its length in bytes. */
  words: [Int32Array, Int32Array];
  length: [number, number];
}

function keyOf(text: string): Key {
  const asWords = (t: string) => {
    const b = Buffer.alloc((t.length + 3) & ~3);
    b.write(t, 'latin1');
    return Int32Array.from({ length: b.length / 4 }, (_, i) => b.readInt32LE(4 * i));
  };
  return { words: [asWords(`,${text}`), asWords(text)], length: [text.length + 1, text.length] };
}
const HEX64 = /^[0-9a-f]{64}$/;

const UUID_GROUPS: [number, number][] = [
  [4, 6],
  [6, 8],
  [8, 10],
  [10, 16],
];

/** The length in bytes of the varint read last by `varint`. */
let vlen = 0;

/** A varint at `p`; its length is left in `vlen`. */
function varint(b: Uint8Array, p: number): number {
  let v = 0;
  for (let i = 0; i < 8; i++) {
    const c = b[p + i];
    if (c === undefined) throw new RangeError('a varint past the end of its page');
    v = v * 128 + (c & 0x7f);
    if (c < 0x80) {
      vlen = i + 1;
      return v;
    }
  }
  const c = b[p + 8];
  if (c === undefined) throw new RangeError('a varint past the end of its page');
  vlen = 9;
  return v * 256 + c;
}

function readU32(b: Uint8Array, p: number): number {
  return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
}

const INT_BYTES = [0, 1, 2, 3, 4, 6, 8];

function serialLength(t: number): number {
  if (t >= 12) return Math.floor((t - 12) / 2);
  if (t <= 6) return INT_BYTES[t];
  if (t === 7) return 8;
  if (t === 8 || t === 9) return 0;
  throw new Unsupported(`serial type ${t}`);
}

/** A big-endian two's complement integer of serial type 1–6; beyond 2^53 the store's reading differs. */
function readInt(b: Uint8Array, p: number, t: number): number {
  const n = INT_BYTES[t];
  let v = b[p] & 0x80 ? -1 : 0;
  if (n === 8 && !((b[p] === 0 || b[p] === 0xff) && (b[p + 1] & 0xe0) === (b[p] & 0xe0))) throw new Unsupported('an integer beyond 2^53');
  for (let i = 0; i < n; i++) v = v * 256 + b[p + i];
  return v;
}

/** `,"key":` (without its comma when `first` is 1), a word at a time: up to 3 bytes past it are written too. */
function writeKey(outV: DataView, o: number, key: Key, first: number): number {
  const w = key.words[first];
  for (let i = 0; i < w.length; i++) outV.setInt32(o + 4 * i, w[i], true);
  return o + key.length[first];
}

/** An integer (|n| < 2^53) in decimal, as JSON.stringify writes it: in 32-bit parts of 9 digits. */
function writeDigits(out: Uint8Array, o: number, n: number): number {
  if (n < 0) {
    out[o++] = 0x2d;
    n = -n;
  }
  if (n < 1e9) return writeUint(out, o, n | 0);
  const hi = Math.floor(n / 1e9);
  o = writeUint(out, o, hi);
  let lo = (n - hi * 1e9) | 0;
  for (let i = o + 8; i >= o; i--) {
    const q = (lo / 10) | 0;
    out[i] = 0x30 + lo - q * 10;
    lo = q;
  }
  return o + 9;
}

/** A 32-bit integer >= 0 in decimal. */
function writeUint(out: Uint8Array, o: number, n: number): number {
  let d = 1;
  for (let p = 10; p <= n && d < 10; p *= 10) d++;
  for (let i = o + d - 1; i >= o; i--) {
    const q = (n / 10) | 0;
    out[i] = 0x30 + n - q * 10;
    n = q;
  }
  return o + d;
}

/** Each byte's two hex digits, as a little-endian 16-bit word. */
const HEX2 = Uint16Array.from({ length: 256 }, (_, b) => HEX[b >> 4] | (HEX[b & 15] << 8));

/** The bytes `src[s, e)` in hex: two bytes (four digits) at a time. */
function writeHex(src: Uint8Array, s: number, e: number, out: Uint8Array, outV: DataView, o: number): number {
  let i = s;
  for (; i + 2 <= e; i += 2, o += 4) outV.setInt32(o, HEX2[src[i]] | (HEX2[src[i + 1]] << 16), true);
  if (i < e) {
    const h = HEX2[src[i]];
    out[o++] = h & 0xff;
    out[o++] = h >> 8;
  }
  return o;
}

/** For each byte: 0 when JSON.stringify leaves it as it is; else the letter of its short escape, or 0x75 (u) for \\u00XX. */
const ESCAPE = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) ESCAPE[c] = 0x75;
ESCAPE[8] = 0x62; // \b
ESCAPE[9] = 0x74; // \t
ESCAPE[10] = 0x6e; // \n
ESCAPE[12] = 0x66; // \f
ESCAPE[13] = 0x72; // \r
ESCAPE[0x22] = 0x22; // \"
ESCAPE[0x5c] = 0x5c; // \\

/**
 * Whether one of the 4 bytes of `w` is one that JSON.stringify escapes: below 0x20, or a `"` (0x22)
 * or `\\` (0x5c). The classic "has a byte less than n" test, with n = 0x20 on w, and n = 1 on w XOR
 * each of the two bytes repeated.
 */
function hasEscape(w: number): boolean {
  const q = w ^ 0x22222222;
  const b = w ^ 0x5c5c5c5c;
  return ((((w - 0x20202020) & ~w) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080) !== 0;
}

/**
 * UTF-8 text as JSON.stringify writes the string it decodes to: quoted, with `"` and `\\` escaped,
 * control characters as \\b \\t \\n \\f \\r or \\u00XX, every other character as it is: byte by byte,
 * UTF-8 sequences unchanged. (Bytes that are not UTF-8 come out as they are, where the store's
 * reading has U+FFFD: such an entry's hash cannot match, and the exact path decides.) Stretches
 * without an escape are copied 8 and 4 bytes at a time (`srcV`, `outV`: the buffers' DataViews).
 */
function writeJsonString(src: Uint8Array, srcV: DataView, s: number, e: number, out: Uint8Array, outV: DataView, o: number): number {
  out[o++] = 0x22;
  let i = s;
  while (i < e) {
    while (i + 8 <= e) {
      const w = srcV.getInt32(i, true);
      const v = srcV.getInt32(i + 4, true);
      if (hasEscape(w) || hasEscape(v)) break;
      outV.setInt32(o, w, true);
      outV.setInt32(o + 4, v, true);
      o += 8;
      i += 8;
    }
    if (i >= e) break;
    if (i + 4 <= e) {
      const w = srcV.getInt32(i, true);
      if (!hasEscape(w)) {
        outV.setInt32(o, w, true);
        o += 4;
        i += 4;
        continue;
      }
    }
    const c = src[i++];
    const x = ESCAPE[c];
    if (x === 0) {
      out[o++] = c;
      continue;
    }
    out[o++] = 0x5c;
    out[o++] = x;
    if (x === 0x75) {
      out[o++] = 0x30;
      out[o++] = 0x30;
      out[o++] = HEX[c >> 4];
      out[o++] = HEX[c & 15];
    }
  }
  out[o++] = 0x22;
  return o;
}

/** `text` written by writeJsonString from offset `at` of a buffer (for tests: every alignment). */
export function jsonStringOf(text: Uint8Array, at = 0): Buffer {
  const src = Buffer.alloc(at + text.length);
  src.set(text, at);
  const out = Buffer.alloc(6 * text.length + 8);
  return out.subarray(0, writeJsonString(src, view(src), at, at + text.length, out, view(out), 0));
}

// ---------------------------------------------------------------- the verification

export interface VerifyResult {
  ok: boolean;
  /** Entries in the chain, 1..count. */
  count: number;
  /** The hash of entry `count`: keep it elsewhere (`--expect-head`) to check the log against later. */
  headHash: string;
  firstBroken?: { id: number; reason: string };
  /**
   * Set when only the entries after an earlier verification were checked: entries `from`..count now,
   * entries 1..from-1 on `verifiedOn` (entry from-1 still has the hash it had then).
   */
  incremental?: { from: number; verifiedOn: string };
  /** The newest entry this machine saw written to the log (the witness), when there is one. */
  witness?: WitnessMark & { file: string };
}

export interface VerifyOptions {
  /**
   * Check only the entries after the last successful verification (its mark is kept in the witness,
   * outside the log's folder), after checking that its last entry still has the same hash. Without a
   * witness or a mark, everything is checked.
   */
  incremental?: boolean;
  /** A head kept elsewhere (CI): entry `id` (default: the newest) must have this hash. */
  expectHead?: { id?: number; hash: string };
  /** Called with (entries done, total) every 10,000 entries and at the end. */
  onProgress?: (done: number, total: number) => void;
}

/** What verification reads from the store. */
export interface ChainSource {
  /** The newest ID. */
  lastId: number;
  /** A reader of the database file's pages; undefined when it cannot be had (the exact path then does all). */
  scanner(): ChainScanner | undefined;
  /** What a worker thread needs to scan part of the table (see scanParallel); undefined: this thread alone. */
  parallel?(): ParallelJob | undefined;
  /** Calls `visit` with each entry from `from` on, in ID order, as the store reads it. */
  rows(from: number, visit: (r: Row) => void): void;
  /** The stored hash of one entry. */
  hashAt(id: number): string | undefined;
}

/**
 * Verifies the chain: from entry 1, or (incremental) from the entry after the last verification; then
 * checks the log against the witness and against `expectHead`.
 */
export function verifyChain(src: ChainSource, opts: VerifyOptions, witness?: Witness): VerifyResult {
  const total = src.lastId;
  const record = witness?.read();
  let from = 1;
  let prev = GENESIS_HASH;
  let incremental: VerifyResult['incremental'];
  const mark = opts.incremental ? record?.verified : undefined;
  // When the last verified entry is gone or changed, everything is checked again (and it fails below).
  let markBroken: { id: number; reason: string } | undefined;
  if (mark && mark.id > 0) {
    const c = checkMark(mark, total, (id) => src.hashAt(id), 'it was last verified');
    if (c.ok) {
      from = mark.id + 1;
      prev = mark.hash;
      incremental = { from, verifiedOn: mark.date };
    } else markBroken = { id: Math.min(mark.id, total + 1), reason: c.reason };
  }
  const progress = opts.onProgress ? (id: number) => opts.onProgress!(id, total) : undefined;
  let expected = from;
  let firstBroken: VerifyResult['firstBroken'];
  // The fast path first; from where it stops (if it does), the store's own reading decides.
  if (from <= total) {
    const fast = scanParallel(src, from, prev, total, progress);
    if (fast) {
      expected = fast.verified + 1;
      prev = fast.headHash;
    }
  }
  src.rows(expected, (r) => {
    if (!firstBroken) {
      if (r.id !== expected) {
        firstBroken = { id: expected, reason: r.id > expected ? `entry ${expected} is missing (the next is ${r.id})` : `entry ${r.id} is out of order` };
      } else if (r.prevHash !== prev) {
        firstBroken = { id: r.id, reason: `its previous hash does not match the hash of entry ${r.id - 1} (an entry was changed, removed or inserted)` };
      } else if (hashRow(r) !== r.hash) {
        firstBroken = { id: r.id, reason: 'its content does not match its hash (the entry was changed)' };
      }
    }
    prev = r.hash;
    expected = r.id + 1;
    if (progress && r.id % 10_000 === 0) progress(r.id);
  });
  const count = expected - 1;
  opts.onProgress?.(count, total);
  const result: VerifyResult = firstBroken ? { ok: false, count, headHash: prev, firstBroken } : { ok: true, count, headHash: prev };
  if (incremental) result.incremental = incremental;
  if (record?.head && witness) result.witness = { ...record.head, file: witness.file };
  if (!result.ok) return result;
  // What the files alone cannot show: a head kept elsewhere, and the newest entry this machine saw.
  const hashAt = (id: number) => (id === count ? prev : id > count ? undefined : src.hashAt(id));
  if (opts.expectHead) {
    const { hash } = opts.expectHead;
    const id = opts.expectHead.id ?? count;
    const got = hashAt(id);
    if (got !== hash) {
      const expected = `the expected head (entry ${id}, ${hash.slice(0, 12)}…)`;
      const reason =
        id > count
          ? `the log ends at entry ${count}, before ${expected}`
          : opts.expectHead.id === undefined
            ? `the newest entry, ${count}, has hash ${prev.slice(0, 12)}…, not ${expected}; give the head as ID:HASH to check an entry before the newest`
            : `entry ${id} has hash ${got?.slice(0, 12)}…, not ${expected}: the history up to it was changed or hashed again`;
      return { ...result, ok: false, firstBroken: { id: Math.min(id, count + 1), reason } };
    }
  }
  if (record?.head) {
    const c = checkMark(record.head, count, hashAt, 'this machine last wrote to it');
    if (!c.ok) return { ...result, ok: false, firstBroken: { id: Math.min(record.head.id, count + 1), reason: `${c.reason}. If that was meant (the log was deleted or restored from a backup), delete ${witness!.file}` } };
  }
  if (markBroken) return { ...result, ok: false, firstBroken: markBroken };
  try {
    witness?.noteVerified({ id: count, hash: prev });
  } catch {
    /* the mark is not kept: the next verification checks everything */
  }
  return result;
}

/** Below this many entries to check, a worker thread costs more than it saves. */
const PARALLEL_MIN = 100_000;

/** A part of the table: entries start..end, entry start-1 having the stored hash `prev`. */
export interface Part {
  start: number;
  end: number;
  prev: string;
}

/** What a worker thread is given (see verifyWorker.ts). */
export interface WorkerJob {
  pages: SharedPages;
  columns: string[];
  root: number;
  parts: Part[];
  /** The part this worker starts with; then it takes the next part no thread has taken (see Board). */
  own: number;
  /** The Board's memory. */
  shared: SharedArrayBuffer;
}

/** What the store offers worker threads: the worker script, how many, and the file as it reads it. */
export interface ParallelJob {
  script: string;
  threads: number;
  /** Fewer entries to check than this, and this thread checks them alone. */
  minEntries: number;
  /** Entries per part (default PART_ENTRIES). */
  partEntries?: number;
  pages: SharedPages;
  columns: string[];
  root: number;
}

/** Entries per part: small enough that the threads finish within a part's time of each other. */
const PART_ENTRIES = 25_000;
const MAX_PARTS = 64;

const enum PartState {
  Free = 0,
  Taken = 1,
  Done = 2,
  Failed = 3,
}

/**
 * The parts' state in shared memory, for the threads that check them: each thread starts with a part
 * of its own (thread i with part i), then takes the next free part in order until none is left, so a
 * thread that starts late or runs slowly checks fewer. A part is taken by swapping its state from
 * Free to Taken, so no two threads check one part.
 */
export class Board {
  /** [0]: the next part to hand out. */
  private readonly next: Int32Array;
  private readonly states: Int32Array;
  private readonly verified: Float64Array;
  /** The last ID each part's check reached (progress). */
  readonly reached: Float64Array;
  private readonly heads: Uint8Array;

  static bytes(parts: number): number {
    return 8 + 8 * Math.ceil(parts / 2) + 16 * parts + 32 * parts;
  }

  constructor(
    readonly shared: SharedArrayBuffer,
    readonly parts: readonly Part[],
  ) {
    const n = parts.length;
    this.next = new Int32Array(shared, 0, 2);
    this.states = new Int32Array(shared, 8, n);
    const f = 8 + 8 * Math.ceil(n / 2);
    this.verified = new Float64Array(shared, f, n);
    this.reached = new Float64Array(shared, f + 8 * n, n);
    this.heads = new Uint8Array(shared, f + 16 * n, 32 * n);
  }

  /** Hands out the parts after the threads' own ones (`first` of them). */
  start(first: number): void {
    Atomics.store(this.next, 0, first);
  }

  /** Takes part `i` for this thread; false when another has it. */
  take(i: number): boolean {
    return Atomics.compareExchange(this.states, i, PartState.Free, PartState.Taken) === PartState.Free;
  }

  /** The next free part this thread takes, or -1 when all are handed out. */
  takeNext(): number {
    for (;;) {
      const i = Atomics.add(this.next, 0, 1);
      if (i >= this.parts.length) return -1;
      if (this.take(i)) return i;
    }
  }

  /** Hands out no more parts (a part stopped: those after it are not needed). */
  close(): void {
    Atomics.store(this.next, 0, this.parts.length);
  }

  state(i: number): PartState {
    return Atomics.load(this.states, i);
  }

  /** Checks part `i` with `scanner`, and leaves its result here. */
  check(i: number, scanner: ChainScanner, onProgress?: (id: number) => void): FastScan {
    const { start, end, prev } = this.parts[i];
    let r: FastScan;
    try {
      r = scanner.scan(start, prev, (id) => {
        this.reached[i] = id;
        onProgress?.(id);
      }, end);
    } catch (err) {
      Atomics.store(this.states, i, PartState.Failed);
      Atomics.notify(this.states, i);
      throw err;
    }
    this.verified[i] = r.verified;
    this.reached[i] = r.verified;
    this.heads.set(Buffer.from(r.headHash, 'hex'), 32 * i);
    if (r.verified !== end) this.close();
    Atomics.store(this.states, i, PartState.Done);
    Atomics.notify(this.states, i);
    return r;
  }

  /** Part `i`'s result, once Done. */
  result(i: number): FastScan {
    return { verified: this.verified[i], headHash: Buffer.from(this.heads.subarray(32 * i, 32 * i + 32)).toString('hex') };
  }

  /** Waits up to `ms` for part `i` to leave `state`. */
  wait(i: number, state: PartState, ms: number): void {
    Atomics.wait(this.states, i, state, ms);
  }

  /** Entries checked so far, over all parts. */
  done(): number {
    let n = 0;
    for (let i = 0; i < this.parts.length; i++) n += Math.max(0, this.reached[i] - this.parts[i].start + 1);
    return n;
  }
}

/**
 * The fast path over entries from..total, split by ID into parts checked by this thread and worker
 * threads when there are many: each part is checked from the stored hash of the entry before it,
 * which the part before checks against that entry's content, so the parts chain as one. Undefined
 * when there is no fast path. Synchronous: this thread checks parts too, then waits for the workers'
 * with Atomics.wait. A part that no worker took is checked here, and so is one whose worker failed
 * or stalled.
 */
function scanParallel(src: ChainSource, from: number, prev: string, total: number, progress?: (id: number) => void): FastScan | undefined {
  let scanner: ChainScanner | undefined;
  try {
    scanner = src.scanner();
  } catch {
    return undefined;
  }
  if (!scanner) return undefined;
  let job: ParallelJob | undefined;
  try {
    job = src.parallel?.();
  } catch {
    job = undefined;
  }
  const count = total - from + 1;
  if (!job || job.threads < 1 || count < job.minEntries) return scanner.scan(from, prev, progress, total);
  const threads = job.threads + 1;
  const n = Math.min(MAX_PARTS, Math.max(threads, Math.ceil(count / (job.partEntries ?? PART_ENTRIES))));
  const size = Math.ceil(count / n);
  const parts: Part[] = [];
  for (let start = from; start <= total; start += size) {
    const before = start === from ? prev : src.hashAt(start - 1);
    if (!before) return scanner.scan(from, prev, progress, total);
    parts.push({ start, end: Math.min(total, start + size - 1), prev: before });
  }
  const board = new Board(new SharedArrayBuffer(Board.bytes(parts.length)), parts);
  const workerCount = Math.min(job.threads, parts.length - 1);
  board.start(workerCount + 1);
  const workers: Worker[] = [];
  for (let own = 1; own <= workerCount; own++) {
    try {
      const data: WorkerJob = { pages: job.pages, columns: job.columns, root: job.root, parts, own, shared: board.shared };
      const w = new Worker(job.script, { workerData: data });
      // Its failure shows on the board (its part Failed, or never taken): the part is checked here.
      w.on('error', () => {});
      w.unref();
      workers.push(w);
    } catch {
      /* its part stays free: it is checked here */
    }
  }
  const report = progress && (() => progress(Math.min(total, from - 1 + board.done())));
  const here = (i: number) => board.check(i, scanner, report);
  try {
    if (board.take(0)) here(0);
    for (let i = board.takeNext(); i >= 0; i = board.takeNext()) here(i);
    // The parts in order: each one's result, checked here when no thread took it or its thread failed.
    let result: FastScan = { verified: from - 1, headHash: prev };
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      let r: FastScan | undefined;
      let seen = -1;
      let since = Date.now();
      while (!r) {
        const state = board.state(i);
        if (state === PartState.Done) r = board.result(i);
        else if (state === PartState.Failed || (state === PartState.Free && board.take(i))) r = scanner.scan(part.start, part.prev, undefined, part.end);
        else {
          // A worker has it. One that stalls for a minute is given up (its errors would come through
          // the event loop, which this thread does not run): its part is checked here.
          board.wait(i, PartState.Taken, 250);
          if (board.reached[i] !== seen) {
            seen = board.reached[i];
            since = Date.now();
            report?.();
          } else if (Date.now() - since > 60_000) r = scanner.scan(part.start, part.prev, undefined, part.end);
        }
      }
      // A part that stopped, or ended before its last entry, hands over to the exact path there.
      if (r.verified !== part.end) {
        return { verified: Math.max(r.verified, part.start - 1), headHash: r.verified >= part.start ? r.headHash : part.prev, stopped: r.stopped ?? { id: r.verified + 1, why: 'the part ended early' } };
      }
      result = r;
    }
    return result;
  } finally {
    board.close();
    for (const w of workers) void w.terminate();
  }
}

/** The worker script beside this bundle (dist/verify-worker.js), when there is one. */
export function defaultVerifyWorker(): string | undefined {
  const p = path.join(__dirname, 'verify-worker.js');
  return fs.existsSync(p) ? p : undefined;
}

/** The chain as a store holds it: sql.js's database over the file's pages (see index.ts). */
export function storeChain(db: Database, pages: PagedFile, lastId: number, workerScript?: string | false): ChainSource {
  let table: { columns: string[]; root: number } | undefined;
  const tableInfo = () =>
    (table ??= {
      columns: db.exec('PRAGMA table_info(entries)')[0].values.map((r) => String(r[1])),
      root: db.exec("SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'entries'")[0].values[0][0] as number,
    });
  return {
    lastId,
    scanner() {
      // Once sql.js has copied the file into memory (see pagefile.ts), the pages are not where SQLite reads.
      if (pages.detached) return undefined;
      const { columns, root } = tableInfo();
      return new ChainScanner((out, start, end) => pages.read(out, start, end), pages.byteLength, columns, root);
    },
    parallel() {
      const script = workerScript === false ? undefined : (workerScript ?? defaultVerifyWorker());
      const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
      if (!script || cpus < 2 || pages.detached || !fs.existsSync(script)) return undefined;
      return { script, threads: Math.min(cpus, 4) - 1, minEntries: PARALLEL_MIN, pages: pages.share(), ...tableInfo() };
    },
    rows(from, visit) {
      const s = db.prepare(`SELECT ${ROW_COLUMNS.join(', ')} FROM entries WHERE id >= ? ORDER BY id ASC`);
      try {
        s.bind([from]);
        while (s.step()) visit(dbToRow(s.get() as SqlValue[]));
      } finally {
        s.free();
      }
    },
    hashAt(id) {
      const r = db.exec('SELECT hash FROM entries WHERE id = ?', [id]);
      return r.length ? hashOf(r[0].values[0][0] as SqlValue) : undefined;
    },
  };
}
