// The witness: the last head of a log that this machine saw, kept outside the log's folder.
//
// A hash chain cannot show, from inside its own files, that its tail was cut off, that its last
// entry was deleted together with the journal, or that the whole history was hashed again. So every
// writer (the extension in its global storage, the CLI in the user's state directory) keeps, per log,
// the newest entry it saw: its ID, its hash and when. `verify()` compares the log against it.
//
// One JSON file per log, named by a hash of the log's real path, in the witness folder:
//   { "botAuditWitness": 1, "log": "/real/path/audit.db",
//     "head": { "id": N, "hash": "…", "date": "…" },        the newest entry seen by a writer
//     "verified": { "id": N, "hash": "…", "date": "…" } }   where the last successful verify ended
// Writes are atomic (temp file, rename) and made under a small lock file, reading and merging what
// is there: the head never moves back (the larger ID wins), and never moves on past a log that
// contradicts it (entry N no longer has the witnessed hash) — that evidence stays until someone
// deletes the file on purpose.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface WitnessMark {
  id: number;
  hash: string;
  /** ISO 8601. */
  date: string;
}

export interface WitnessRecord {
  botAuditWitness: 1;
  log: string;
  head?: WitnessMark;
  verified?: WitnessMark;
}

/** What the log says about a witnessed mark. */
export type MarkCheck = { ok: true } | { ok: false; reason: string };

const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 2_000;

/** The state folder of the command line: $BOT_AUDIT_STATE_DIR, else the platform's per-user state folder. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env.BOT_AUDIT_STATE_DIR) return path.resolve(env.BOT_AUDIT_STATE_DIR);
  if (platform === 'win32') return path.join(env.LOCALAPPDATA || path.join(os.homedir(), 'AppData', 'Local'), 'bot-audit');
  return path.join(env.XDG_STATE_HOME ? path.resolve(env.XDG_STATE_HOME) : path.join(os.homedir(), '.local', 'state'), 'bot-audit');
}

function realPath(file: string): string {
  try {
    return fs.realpathSync.native(file);
  } catch {
    return path.resolve(file);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function isMark(m: unknown): m is WitnessMark {
  const x = m as WitnessMark;
  return !!x && Number.isSafeInteger(x.id) && x.id >= 0 && typeof x.hash === 'string' && /^[0-9a-f]{64}$/.test(x.hash) && typeof x.date === 'string';
}

/** Describes a mark for messages: "12 entries, head 3f2a9c0b12de…, on 2026-12-03T10:00:00.000Z". */
export function describeMark(m: WitnessMark): string {
  return `${m.id} ${m.id === 1 ? 'entry' : 'entries'}, head ${m.hash.slice(0, 12)}…, on ${m.date}`;
}

/**
 * Whether the log still holds a witnessed mark: entry `m.id` exists with hash `m.hash`.
 * `lastId` is the log's newest ID, `hashAt(id)` the stored hash of an entry.
 */
export function checkMark(m: WitnessMark, lastId: number, hashAt: (id: number) => string | undefined, what: string): MarkCheck {
  if (m.id === 0) return { ok: true };
  if (lastId < m.id) {
    return { ok: false, reason: `the log is shorter than when ${what} (${describeMark(m)}): it ends at entry ${lastId}; entries were removed from its end` };
  }
  const h = hashAt(m.id);
  if (h !== m.hash) {
    return { ok: false, reason: `entry ${m.id} no longer has the hash it had when ${what} (${describeMark(m)}; now ${h ? `${h.slice(0, 12)}…` : 'missing'}): the history up to it was changed or hashed again` };
  }
  return { ok: true };
}

/** One log's witness file in a witness folder. */
export class Witness {
  readonly file: string;
  readonly log: string;
  private readonly lockFile: string;
  /** The head this process last wrote (or found), to skip writes that change nothing. */
  private written = -1;

  constructor(
    readonly dir: string,
    logFile: string,
  ) {
    this.log = realPath(logFile);
    const key = createHash('sha256').update(this.log).digest('hex').slice(0, 32);
    this.file = path.join(dir, 'witness', `${key}.json`);
    this.lockFile = `${this.file}.lock`;
  }

  /** The witness as stored, or undefined when there is none (or it cannot be read). */
  read(): WitnessRecord | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const o = JSON.parse(text) as WitnessRecord;
      if (!o || o.botAuditWitness !== 1) return undefined;
      return { botAuditWitness: 1, log: String(o.log), head: isMark(o.head) ? o.head : undefined, verified: isMark(o.verified) ? o.verified : undefined };
    } catch {
      return undefined;
    }
  }

  /**
   * Records `head` as the newest entry seen, unless the witness already has a later one, or the log
   * contradicts the witnessed head (then it is kept, and the reason returned). `hashAt` reads an
   * entry's hash from the log; `lastId` is its newest ID.
   */
  noteHead(head: { id: number; hash: string }, lastId: number, hashAt: (id: number) => string | undefined): MarkCheck {
    if (head.id <= this.written) return { ok: true };
    let result: MarkCheck = { ok: true };
    this.update((w) => {
      if (w.head) {
        result = checkMark(w.head, lastId, hashAt, 'this machine last saw it');
        if (!result.ok || w.head.id >= head.id) return false;
      }
      w.head = { id: head.id, hash: head.hash, date: new Date().toISOString() };
      return true;
    });
    if (result.ok) this.written = head.id;
    return result;
  }

  /** Records a successful verification up to `mark` (and the head, when it is later). */
  noteVerified(mark: { id: number; hash: string }): void {
    const date = new Date().toISOString();
    this.update((w) => {
      if (w.verified && w.verified.id > mark.id) return false;
      w.verified = { id: mark.id, hash: mark.hash, date };
      if (!w.head || w.head.id < mark.id) w.head = { id: mark.id, hash: mark.hash, date };
      return true;
    });
  }

  /** Read, change, write atomically, under the lock. `change` returns false to write nothing. */
  private update(change: (w: WitnessRecord) => boolean): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.lock();
    try {
      const w = this.read() ?? { botAuditWitness: 1, log: this.log };
      w.log = this.log;
      if (!change(w)) return;
      const tmp = `${this.file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
      try {
        fs.writeFileSync(tmp, JSON.stringify(w, null, 2) + '\n');
        fs.renameSync(tmp, this.file);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
      }
    } finally {
      this.unlock();
    }
  }

  private lock(): void {
    const until = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        fs.closeSync(fs.openSync(this.lockFile, 'wx'));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      try {
        // A writer that died holding it: the lock is held for a millisecond, not seconds.
        if (Date.now() - fs.statSync(this.lockFile).mtimeMs > LOCK_STALE_MS) fs.rmSync(this.lockFile, { force: true });
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > until) throw new Error(`the witness ${this.file} stayed locked for ${LOCK_WAIT_MS} ms (${this.lockFile})`);
      sleepSync(2);
    }
  }

  private unlock(): void {
    fs.rmSync(this.lockFile, { force: true });
  }
}
