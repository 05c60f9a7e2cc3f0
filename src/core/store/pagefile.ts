// The database file as sql.js sees it, read from disk on demand instead of held whole in memory.
//
// sql.js runs SQLite on Emscripten's in-memory file system (MEMFS), which keeps each file as a byte
// array in `node.contents` and touches it only through `length`, `slice`, `subarray` and `set` (its
// read and write operations). `new SQL.Database(data)` hands `data` to MEMFS, which keeps
// `data.slice(0, data.length)` as the file. A PagedFile passes for such an array: its `slice` returns
// the PagedFile itself, so MEMFS keeps it as the file; reads come from the file on disk (one pread
// per SQLite page, or from the operating system's cache), and the blocks SQLite writes are kept in
// memory until a checkpoint folds them into a new file.
//
// The file on disk is never written in place: the store replaces it only by rename (see
// writeCheckpoint), so the descriptor held here keeps reading the same bytes even after another
// process has replaced the file. Opening a 1 GB log reads its header and a few pages, not 1 GB.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

/** The unit of the in-memory overlay. SQLite's pages are 4 KiB, so a page write is one block. */
const BLOCK = 4096;
/**
 * A read longer than this is not SQLite reading pages: it is MEMFS copying the whole file into a
 * plain array (it does so only to truncate a file, which an append-only log never does). From then
 * on MEMFS writes to its own copy, not here.
 */
const MATERIALIZE_BYTES = 16 << 20;
/** What MEMFS takes for the array's capacity once it keeps this file: it never needs to grow it. */
const CAPACITY = 2 ** 52;
/** zlib.crc32 (Node 20.15+; several GB/s), else SHA-256. */
export const SUM_ALGORITHM: 'crc32' | 'sha256' = typeof (zlib as unknown as { crc32?: unknown }).crc32 === 'function' ? 'crc32' : 'sha256';

export class PagedFile {
  /** Read as the array's length: the file's size while MEMFS copies it in, then its capacity. */
  length: number;
  /** MEMFS replaced this file by a plain copy (see MATERIALIZE_BYTES): the overlay is stale. */
  detached = false;
  /** Bytes read from the file on disk so far (reads, and blocks fetched before a partial write). */
  bytesRead = 0;
  private fd: number;
  private baseSize: number;
  /** The logical size: the file on disk, grown by writes past its end. */
  private size: number;
  // Int8Array, like the WebAssembly memory view (HEAP8) that MEMFS copies to and from: a copy
  // between arrays of one element type is a plain memory copy.
  private readonly blocks = new Map<number, Int8Array>();
  private scratch = new Int8Array(64 << 10);
  private closed = false;

  /** Opens `file` for reading; the descriptor stays open until close(). */
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'r');
    try {
      this.baseSize = fs.fstatSync(this.fd).size;
    } catch (err) {
      fs.closeSync(this.fd);
      throw err;
    }
    this.size = this.baseSize;
    this.length = this.baseSize;
  }

  /** The file's size as SQLite sees it. */
  get byteLength(): number {
    return this.size;
  }

  /** Bytes held in memory: the blocks written since the file on disk was last replaced. */
  get overlayBytes(): number {
    return this.blocks.size * BLOCK;
  }

  /** Reads `[start, end)` of the file on disk (not the overlay) into `out` at `at`; zeros past its end. */
  private readBase(out: Int8Array, at: number, start: number, end: number): void {
    const stop = Math.min(end, this.baseSize);
    let pos = start;
    while (pos < stop) {
      const n = fs.readSync(this.fd, out, at + pos - start, stop - pos, pos);
      if (n === 0) break; // the file shrank under us: what is missing reads as zeros, which SQLite reports as damage
      pos += n;
      this.bytesRead += n;
    }
    if (pos < end) out.fill(0, at + pos - start, at + end - start);
  }

  // ---------------------------------------------------------------- the array surface MEMFS uses

  /** MEMFS keeps `data.slice(0, data.length)` as a new file's contents: keep this object instead. */
  slice(start = 0, end = this.baseSize): PagedFile {
    if (start !== 0 || end !== this.baseSize) throw new Error(`PagedFile.slice(${start}, ${end}): only the whole file can be taken`);
    this.length = CAPACITY;
    return this;
  }

  /** MEMFS's read: the bytes `[start, end)`, valid until the next call. */
  subarray(start: number, end: number): Int8Array {
    this.check();
    const len = end - start;
    if (len > MATERIALIZE_BYTES) this.detached = true;
    if (len > this.scratch.length) this.scratch = new Int8Array(Math.max(len, this.scratch.length * 2));
    const out = this.scratch.subarray(0, len);
    const first = Math.floor(start / BLOCK);
    const last = Math.floor((end - 1) / BLOCK);
    let covered = this.blocks.size > 0;
    for (let b = first; covered && b <= last; b++) covered = this.blocks.has(b);
    if (!covered) this.readBase(out, 0, start, end);
    if (this.blocks.size) {
      for (let b = first; b <= last; b++) {
        const blk = this.blocks.get(b);
        if (!blk) continue;
        const from = Math.max(start, b * BLOCK);
        const to = Math.min(end, (b + 1) * BLOCK);
        out.set(blk.subarray(from - b * BLOCK, to - b * BLOCK), from - start);
      }
    }
    return out;
  }

  /** MEMFS's write: `src` (a view of WebAssembly memory) at `pos`. */
  set(src: ArrayBufferView, pos = 0): void {
    this.check();
    const data = src instanceof Int8Array ? src : new Int8Array(src.buffer, src.byteOffset, src.byteLength);
    const end = pos + data.length;
    for (let b = Math.floor(pos / BLOCK); b * BLOCK < end; b++) {
      const blockStart = b * BLOCK;
      let blk = this.blocks.get(b);
      if (!blk) {
        blk = new Int8Array(BLOCK);
        const whole = pos <= blockStart && end >= blockStart + BLOCK;
        if (!whole && blockStart < this.baseSize) this.readBase(blk, 0, blockStart, blockStart + BLOCK);
        this.blocks.set(b, blk);
      }
      const from = Math.max(pos, blockStart);
      const to = Math.min(end, blockStart + BLOCK);
      blk.set(data.subarray(from - pos, to - pos), from - blockStart);
    }
    if (end > this.size) this.size = end;
  }

  /**
   * Copies `[start, end)` of the file as SQLite sees it (the file on disk and the blocks written
   * since) into `out`, for a reader of its own that does not go through SQLite (see verify.ts).
   */
  read(out: Uint8Array, start: number, end: number): void {
    this.check();
    readOverlaid(this.fd, this.baseSize, this.blocks, out, start, end);
  }

  /**
   * What another thread of this process needs to read the file as SQLite sees it now, with
   * readOverlaid: the descriptor (valid until this object is closed or rebased), the size on disk,
   * and a copy of the blocks written since.
   */
  share(): SharedPages {
    this.check();
    return { fd: this.fd, baseSize: this.baseSize, size: this.size, blocks: [...this.blocks] };
  }

  // ---------------------------------------------------------------- checkpoints

  /**
   * Writes the whole file, as SQLite sees it, to the new, empty file `tmp` (open for writing as
   * `fd`). When `source` still names the file this reads from, the kernel copies it (copyFileSync:
   * copy_file_range, or a reflink where the file system has them) and only the overlay is written
   * over it; otherwise the old file is copied from this object's own descriptor.
   */
  writeTo(fd: number, tmp: string, source: string): void {
    this.check();
    if (this.detached) throw new Error('the database file was copied into memory; it cannot be written from its pages');
    let copied = false;
    try {
      const a = fs.fstatSync(this.fd);
      const b = fs.statSync(source);
      if (a.ino === b.ino && a.dev === b.dev && b.size === this.baseSize) {
        fs.copyFileSync(source, tmp, fs.constants.COPYFILE_FICLONE);
        copied = true;
      }
    } catch {
      copied = false;
    }
    if (!copied) {
      const chunk = new Int8Array(4 << 20);
      for (let pos = 0; pos < this.baseSize; pos += chunk.length) {
        const end = Math.min(this.baseSize, pos + chunk.length);
        this.readBase(chunk, 0, pos, end);
        writeAll(fd, chunk.subarray(0, end - pos), pos);
      }
    }
    const order = [...this.blocks.keys()].sort((x, y) => x - y);
    for (const b of order) {
      const blk = this.blocks.get(b)!;
      const start = b * BLOCK;
      if (start >= this.size) continue;
      writeAll(fd, blk.subarray(0, Math.min(BLOCK, this.size - start)), start);
    }
    fs.ftruncateSync(fd, this.size);
  }

  /**
   * A checksum of the file on disk (not the overlay) and its size, `crc32:<hex>:<size>` (or sha256
   * where this Node has no zlib.crc32): what a checkpoint records in the journal's header, and what
   * the store compares before it writes again (see AuditStore.checkDatabaseFile).
   */
  baseSum(algorithm: 'crc32' | 'sha256' = SUM_ALGORITHM): string {
    this.check();
    const chunk = new Int8Array(4 << 20);
    const crc32 = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
    let crc = 0;
    const sha = algorithm === 'sha256' ? createHash('sha256') : undefined;
    for (let pos = 0; pos < this.baseSize; pos += chunk.length) {
      const end = Math.min(this.baseSize, pos + chunk.length);
      this.readBase(chunk, 0, pos, end);
      const part = new Uint8Array(chunk.buffer, 0, end - pos);
      if (sha) sha.update(part);
      else crc = crc32!(part, crc);
    }
    const sum = sha ? sha.digest('hex') : (crc >>> 0).toString(16).padStart(8, '0');
    return `${algorithm}:${sum}:${this.baseSize}`;
  }

  /** After a checkpoint renamed the new file into place: read from it (`fd`, opened for reading) and drop the overlay. */
  rebase(fd: number): void {
    this.check();
    fs.closeSync(this.fd);
    this.fd = fd;
    this.baseSize = fs.fstatSync(fd).size;
    this.size = this.baseSize;
    this.blocks.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.blocks.clear();
    fs.closeSync(this.fd);
  }

  private check(): void {
    if (this.closed) throw new Error(`${this.file}: the database file was closed`);
  }
}

function writeAll(fd: number, data: Int8Array, pos: number): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off, pos + off);
}

export interface SharedPages {
  fd: number;
  baseSize: number;
  size: number;
  blocks: [number, Int8Array][];
}

/** Copies `[start, end)` of a file read through `fd` (`baseSize` bytes on disk, zeros past them) with `blocks` written over it into `out`. */
export function readOverlaid(fd: number, baseSize: number, blocks: ReadonlyMap<number, Int8Array>, out: Uint8Array, start: number, end: number): void {
  const view = new Int8Array(out.buffer, out.byteOffset, end - start);
  const stop = Math.min(end, baseSize);
  let pos = start;
  while (pos < stop) {
    const n = fs.readSync(fd, view, pos - start, stop - pos, pos);
    if (n === 0) break;
    pos += n;
  }
  if (pos < end) view.fill(0, pos - start, end - start);
  if (!blocks.size) return;
  for (let b = Math.floor(start / BLOCK); b * BLOCK < end; b++) {
    const blk = blocks.get(b);
    if (!blk) continue;
    const from = Math.max(start, b * BLOCK);
    const to = Math.min(end, (b + 1) * BLOCK);
    view.set(blk.subarray(from - b * BLOCK, to - b * BLOCK), from - start);
  }
}
