// A cross-process lock: a lock file created with O_EXCL, holding the owner's pid, host, boot id, the
// process's start time and a token. A lock is stale when its owner is gone (same host: pid dead, the
// machine rebooted since, or the pid is ours but the lock is not held in this process; other hosts:
// not refreshed for `staleMs`). Breaking it happens under a second, short-lived "break"
// lock, so that two processes cannot both break the same stale lock and then remove each other's
// fresh one.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { randomBytes } from 'node:crypto';
import { StoreError } from './errors';

interface LockInfo {
  pid: number;
  host: string;
  token: string;
  time: number;
  /** Linux's boot id: a lock from before a reboot is stale even if its pid now names another process. */
  boot?: string;
  /**
   * When the owner process started (START): a lock naming our pid but another start was written by an
   * earlier process that had our pid (pid reuse after a crash, a container restarted), and is stale.
   */
  start?: string;
}

const HOST = os.hostname();
const BOOT = (() => {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
})();
/** On this host a live pid keeps its lock this long even unrefreshed (a very slow checkpoint); then pid reuse is assumed. */
const SAME_HOST_STALE_MS = 10 * 60_000;
/**
 * This process's start: from Linux's /proc (clock ticks since boot; the same in every thread), else
 * the wall-clock second it started, which threads compute alike to within a second or so.
 */
const START = (() => {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    if (/^\d+$/.test(ticks)) return `proc:${ticks}`;
  } catch {
    /* not Linux */
  }
  return `approx:${Math.round((Date.now() - process.uptime() * 1000) / 1000)}`;
})();

/** Whether a lock's `start` is this process's (see START). */
function startedWithUs(start: unknown): boolean {
  if (start === START) return true;
  if (typeof start !== 'string' || !start.startsWith('approx:') || !START.startsWith('approx:')) return false;
  return Math.abs(Number(start.slice(7)) - Number(START.slice(7))) <= 2;
}

/** Tokens start with this: the tokens of this copy of the module (this thread's; a worker thread has its own). */
const TOKEN_PREFIX = `${process.pid.toString(36)}-${randomBytes(6).toString('hex')}-`;
let tokenCounter = 0;
/** The tokens that FileLocks of this copy of the module hold now. */
const HELD = new Set<string>();

/** Whether a process of this host is alive (EPERM: alive, but not ours to signal). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readInfo(file: string): { info?: LockInfo; mtimeMs: number } | undefined {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(file).mtimeMs;
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined; // gone
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    if (typeof info.pid === 'number' && typeof info.token === 'string') return { info, mtimeMs };
  } catch {
    /* being written, or garbage */
  }
  return { mtimeMs };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class FileLock {
  private token?: string;
  private acquiredAt = 0;
  /** How many stale locks this instance broke (for tests and diagnostics). */
  brokenStale = 0;

  constructor(
    readonly file: string,
    /** A lock not refreshed for this long is stale even if its pid looks alive (pid reuse, other hosts). */
    readonly staleMs = 60_000,
  ) {}

  get held(): boolean {
    return this.token !== undefined;
  }

  /** One attempt; breaks a stale lock first. */
  tryAcquire(): boolean {
    if (this.token) throw new Error('lock already held by this instance');
    const token = TOKEN_PREFIX + (++tokenCounter).toString(36);
    const info: LockInfo = { pid: process.pid, host: HOST, token, time: Date.now(), start: START, ...(BOOT ? { boot: BOOT } : {}) };
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'wx');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new StoreError('READ_ONLY', `cannot create the lock file, so the log cannot be written here: ${(err as Error).message}`, this.file, { cause: err });
      }
      if (code !== 'EEXIST') throw new StoreError('IO', `cannot create lock file: ${(err as Error).message}`, this.file, { cause: err });
      this.breakIfStale();
      return false;
    }
    HELD.add(token);
    try {
      fs.writeSync(fd, JSON.stringify(info));
    } finally {
      fs.closeSync(fd);
    }
    this.token = token;
    this.acquiredAt = Date.now();
    return true;
  }

  /** Waits for the lock, polling with a short backoff. */
  async acquire(timeoutMs = 30_000): Promise<void> {
    if (this.tryAcquire()) return;
    const deadline = Date.now() + timeoutMs;
    let wait = 1;
    for (;;) {
      await sleep(wait);
      if (this.tryAcquire()) return;
      if (Date.now() > deadline) {
        const cur = readInfo(this.file)?.info;
        throw new StoreError('LOCKED', `the log is locked by process ${cur?.pid ?? '?'} on ${cur?.host ?? '?'} for more than ${timeoutMs} ms`, this.file);
      }
      wait = Math.min(wait * 2, 4);
    }
  }

  /** Marks the lock as fresh during a long operation. */
  refresh(): void {
    if (!this.token) return;
    this.acquiredAt = Date.now();
    const now = new Date();
    try {
      fs.utimesSync(this.file, now, now);
    } catch {
      /* ignore */
    }
  }

  release(): void {
    if (!this.token) return;
    const token = this.token;
    this.token = undefined;
    HELD.delete(token);
    // Nobody may break a lock younger than staleMs, so a young lock is ours without reading it back.
    const young = Date.now() - this.acquiredAt < this.staleMs / 2;
    if (young || readInfo(this.file)?.info?.token === token) {
      try {
        fs.unlinkSync(this.file);
      } catch {
        /* already gone */
      }
    }
  }

  private isStale(r: { info?: LockInfo; mtimeMs: number }): boolean {
    const age = Date.now() - r.mtimeMs;
    if (!r.info) return age > 5_000; // unreadable: a writer died between create and write
    if (r.info.host === HOST) {
      if (r.info.pid === process.pid) {
        // Ours when a FileLock of this module holds it; another thread of this process (its own copy
        // of this module, the same pid and start) is live as any other process is. Otherwise the lock
        // was left by an earlier process that had our pid, or by this one: nobody holds it.
        if (r.info.token.startsWith(TOKEN_PREFIX)) return !HELD.has(r.info.token);
        if (!startedWithUs(r.info.start)) return true;
      } else if (!pidAlive(r.info.pid)) return true;
      if (BOOT && r.info.boot && r.info.boot !== BOOT) return true;
      return age > Math.max(this.staleMs, SAME_HOST_STALE_MS);
    }
    return age > this.staleMs;
  }

  private breakIfStale(): void {
    const seen = readInfo(this.file);
    if (!seen || !this.isStale(seen)) return;
    const breakFile = this.file + '.break';
    let fd: number;
    try {
      fd = fs.openSync(breakFile, 'wx');
    } catch {
      // Someone else is breaking it. A break lock is held for microseconds; a leftover one is removed.
      try {
        if (Date.now() - fs.statSync(breakFile).mtimeMs > 5_000) fs.unlinkSync(breakFile);
      } catch {
        /* gone */
      }
      return;
    }
    try {
      fs.closeSync(fd);
      const again = readInfo(this.file);
      if (again && this.isStale(again) && again.info?.token === seen.info?.token) {
        fs.unlinkSync(this.file);
        this.brokenStale++;
      }
    } finally {
      try {
        fs.unlinkSync(breakFile);
      } catch {
        /* ignore */
      }
    }
  }
}
