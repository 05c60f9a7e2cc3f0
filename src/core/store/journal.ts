// The journal: an append-only NDJSON file beside the database. Its first line is a header naming the
// entry it follows (`base`, the last entry already in the database file, and that entry's hash); each
// further line is one entry (see row.ts). Appends are one write() with O_APPEND, then fdatasync.
// A checkpoint replaces the journal with a fresh one (temp file, fsync, rename); readers holding the
// old file open read it to its end first, so nothing is missed.
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from './errors';

/** A Buffer as a plain Uint8Array view (the Node typings in use do not accept Buffer where a view is expected). */
export function view(b: Buffer | Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export interface JournalHeader {
  botAuditJournal: 1;
  base: number;
  baseHash: string;
  /**
   * The database file the checkpoint wrote, as `algorithm:sum:size` (PagedFile.baseSum): a file that
   * no longer matches it was damaged or changed since, and is not written to. Absent in journals
   * from before this field, and then not checked.
   */
  db?: string;
}

export interface JournalLine {
  text: string;
  /** Byte offset of the line in the journal. */
  offset: number;
}

/** fsyncs a directory so that a rename or a new file in it is durable. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* some platforms cannot fsync a directory */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Replaces a file atomically: `write` fills a temp file beside it (given its descriptor and path),
 * which is fsynced and renamed over the file; then the directory is fsynced.
 */
export function replaceFileAtomic(file: string, write: (fd: number, tmp: string) => void): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const fd = fs.openSync(tmp, 'wx');
  try {
    write(fd, tmp);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(file));
}

/** Writes a file atomically: temp file beside it, fsync, rename over, fsync the directory. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  replaceFileAtomic(file, (fd) => {
    let off = 0;
    const buf = view(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    while (off < buf.length) off += fs.writeSync(fd, buf, off, Math.min(buf.length - off, 64 << 20));
  });
}

export function headerLine(base: number, baseHash: string, db?: string): string {
  const h: JournalHeader = { botAuditJournal: 1, base, baseHash, ...(db ? { db } : {}) };
  return JSON.stringify(h) + '\n';
}

export class Journal {
  private fd: number | undefined;
  readonly ino: number;
  readonly header: JournalHeader;
  /** Bytes consumed so far (always at a line boundary). */
  pos: number;
  /** Bytes of entries in this journal (after the header). */
  get entryBytes(): number {
    return this.pos - this.headerBytes;
  }
  private readonly headerBytes: number;
  /** SHA-256 of the bytes [0, pos) as this process read or wrote them (see unchanged()). */
  private readonly digest: Hash = createHash('sha256');

  private constructor(
    readonly file: string,
    fd: number | undefined,
    /** Opened for reading only: nothing is ever written (see AuditStore's read-only mode). */
    readonly readOnly: boolean,
    absent?: JournalHeader,
  ) {
    this.fd = fd;
    if (fd === undefined) {
      // A read-only store on a log without a journal: an empty one, until one appears.
      this.ino = -1;
      this.header = absent!;
      this.headerBytes = this.pos = 0;
      return;
    }
    let nl: number;
    let head: Buffer;
    try {
      const st = fs.fstatSync(fd);
      this.ino = st.ino;
      head = Buffer.alloc(Math.min(st.size, 4096));
      fs.readSync(fd, view(head), 0, head.length, 0);
      nl = head.indexOf(10);
    } catch (err) {
      fs.closeSync(fd);
      throw new StoreError('IO', `cannot read the journal: ${(err as Error).message}`, file, { cause: err });
    }
    let header: JournalHeader | undefined;
    if (nl > 0) {
      try {
        const h = JSON.parse(head.toString('utf8', 0, nl)) as JournalHeader;
        if (h && h.botAuditJournal === 1 && Number.isSafeInteger(h.base) && typeof h.baseHash === 'string') header = h;
      } catch {
        /* not ours */
      }
    }
    if (!header) {
      fs.closeSync(fd);
      throw new StoreError('NOT_BOT_AUDIT_DB', 'is not a Bot Audit journal (its first line is not a journal header); it was left untouched', file);
    }
    this.header = header;
    this.headerBytes = nl + 1;
    this.pos = nl + 1;
    this.digest.update(head.subarray(0, nl + 1));
  }

  /** Opens the journal at `file` (for reading only with `readOnly`), or returns undefined when there is none. */
  static open(file: string, readOnly = false): Journal | undefined {
    let fd: number;
    try {
      fd = fs.openSync(file, readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR | fs.constants.O_APPEND);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StoreError('IO', `cannot open the journal: ${(err as Error).message}`, file, { cause: err });
    }
    return new Journal(file, fd, readOnly);
  }

  /** For a read-only store on a log that has no journal: an empty one that follows entry `base`. */
  static absent(file: string, base: number, baseHash: string): Journal {
    return new Journal(file, undefined, true, { botAuditJournal: 1, base, baseHash });
  }

  /** Atomically replaces (or creates) the journal with an empty one that follows entry `base`. */
  static create(file: string, base: number, baseHash: string, db?: string): Journal {
    writeFileAtomic(file, headerLine(base, baseHash, db));
    const j = Journal.open(file);
    if (!j) throw new StoreError('IO', 'the journal vanished right after it was created', file);
    return j;
  }

  /** True when the path now names another file (a checkpoint replaced the journal). */
  replaced(): boolean {
    if (this.fd === undefined) return fs.existsSync(this.file);
    try {
      return fs.statSync(this.file).ino !== this.ino;
    } catch {
      return true;
    }
  }

  size(): number {
    return this.fd === undefined ? 0 : fs.fstatSync(this.fd).size;
  }

  /**
   * Reads the complete lines after `pos`. A trailing line without its newline is left for later
   * unless `sealTorn` (the caller holds the lock, so no writer is mid-line): then it is torn, and is
   * terminated with a newline so that it stays on record as a skipped line and later appends start
   * on a fresh line.
   */
  readNew(sealTorn: boolean): { lines: JournalLine[]; sealed?: JournalLine } {
    const size = this.size();
    const lines: JournalLine[] = [];
    if (size <= this.pos || this.fd === undefined) return { lines };
    const fd = this.fd;
    const buf = Buffer.allocUnsafe(size - this.pos);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, view(buf), got, buf.length - got, this.pos + got);
      if (n === 0) break;
      got += n;
    }
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0 || nl >= got) break;
      if (nl > start) lines.push({ text: buf.toString('utf8', start, nl), offset: this.pos + start });
      start = nl + 1;
    }
    let sealed: JournalLine | undefined;
    if (start < got && sealTorn && !this.readOnly) {
      sealed = { text: buf.toString('utf8', start, got), offset: this.pos + start };
      fs.writeSync(fd, '\n');
      fs.fdatasyncSync(fd);
      this.digest.update(buf.subarray(0, got));
      this.digest.update('\n');
      start = got + 1;
    } else this.digest.update(buf.subarray(0, start));
    this.pos += start;
    return { lines, sealed };
  }

  /** Appends whole lines (row.ts: LineBuffer), one write per part, then fdatasync. */
  append(parts: readonly Uint8Array[]): void {
    if (this.fd === undefined || this.readOnly) throw new StoreError('READ_ONLY', 'the journal is open read-only', this.file);
    let total = 0;
    for (const part of parts) {
      const buf = view(part);
      let off = 0;
      while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
      total += buf.length;
      this.digest.update(buf);
    }
    fs.fdatasyncSync(this.fd);
    this.pos += total;
  }

  /**
   * Whether the bytes [0, pos) of the file are still those this process read or wrote: a line
   * changed in place after it was read (by hand, by another program) is found before a checkpoint
   * would replace the journal and its evidence.
   */
  unchanged(): boolean {
    if (this.fd === undefined) return true;
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(this.pos, 4 << 20) || 1);
    for (let at = 0; at < this.pos; ) {
      const n = fs.readSync(this.fd, view(buf), 0, Math.min(buf.length, this.pos - at), at);
      if (n === 0) return false; // shorter than what was read: cut
      h.update(buf.subarray(0, n));
      at += n;
    }
    return h.digest('hex') === this.digest.copy().digest('hex');
  }

  /** Every complete line of the file from its first entry to `pos` (to find what unchanged() saw changed). */
  readAll(): JournalLine[] {
    if (this.fd === undefined) return [];
    const buf = Buffer.alloc(this.pos);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(this.fd, view(buf), got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    const lines: JournalLine[] = [];
    let start = buf.indexOf(10) + 1;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0 || nl >= got) break;
      if (nl > start) lines.push({ text: buf.toString('utf8', start, nl), offset: start });
      start = nl + 1;
    }
    return lines;
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
