// Where bot runs happen: one sandboxed Node process per run (issue 18, "a record nobody can bend").
//
// Why a process, and why one per run. Bot code is untrusted once it runs: in a worker thread of
// the host (the design before issue 18) it could reach the worker's real `process` through any
// host function and, from there, write the audit log, rewrite its own report, kill the host or
// read its environment. So each run gets a process of its own (dist/bot-worker.js) started with
// Node's permission model (see sandbox.ts): it may read the workspace, its node_modules, the
// worker script and its own temporary folder, write only that folder, and use the network; it
// may not start processes or workers (unless the bot opts in), load native addons, or write
// anywhere else. Its environment is a minimal one (no host variables). A process serves exactly
// one run and is then killed, so nothing a bot leaves behind (patched globals, timers, a
// poisoned module cache) reaches a later run.
//
// Speed. Starting a Node process and loading the worker (with @medplum/core, and a rehearsal run
// of a built-in bot that takes a real run's paths, so the runner's own code is compiled) takes
// ≈ 300 ms here, so the pool keeps one process started ahead per sandbox key (memory limit,
// workspace, opt-ins), with its run's context already made, blocked on its channel until its one
// run arrives. The next one starts when that run is over (started at once, it took the CPU from
// the run: 2 cores). A run's process is killed once the run's entry is written, not when its
// report comes: after its report its one thread blocks on the channel (nothing runs), and a
// process exiting meanwhile made the entry's fsync ≈ 3 ms slower. Measured with
// bench/runner-bench.ts on this 2-core virtual machine (2026-12-07, Node 20, the bench under
// `chrt -f 50` beside two busy processes): a warm run (trivial bot, bundle cached, call → durable
// EXECUTED entry, the next process ready) p50 ≈ 4.5–5 ms, p95 ≈ 10 ms. Traced one run at a time:
// ≈ 0.45 ms in the host before the run message; ≈ 0.7 ms from the host's write to the process's
// read of it (a sleeping process waking on this virtual machine); ≈ 1 ms from there to the handler
// (the message parsed, the bundle compiled and evaluated, the event; the MedplumClient is made
// ahead, in `prepare`); ≈ 0.2 ms in a handler that logs one line; ≈ 0.3 ms to the sealed report;
// ≈ 0.3 ms for the host to wake to it; ≈ 1.5 ms for the entry's durable write (its fdatasync
// ≈ 0.5–1.5 ms). Three things cost ≈ 3.4 ms of it before: V8 collecting the young generation that
// start-up and the rehearsal filled, in the run's first turn of the event loop (the worker now
// collects before "ready"); the exception of a stat of a missing .env; randomBytes for the seal.
// A new bot's first run (bundling included) ≈ 10 ms; a brand-new runner's first run ≈ 0.5 s. Back-to-back runs are bounded by
// process start-up (≈ 8 runs/s, against ≈ 600/s with the old pooled threads).
// A bot's Medplum calls cost a host round trip each over the pipe: crud_1000 (3,000 calls, median
// of 3) 0.84–1.4 s. Per call ≈ 0.1 ms is the round trip itself (two wake-ups; a bare echo over
// such a pipe does 3,000 in ≈ 0.3 s), ≈ 57 µs Medplum's validation of the resource (as a Medplum
// server does), ≈ 56 µs the host's write of the reply (the syscall that wakes the process), and
// the rest the FHIR router, the log's append and parsing. The goal of ≤ 1 s for crud_1000 is not
// met here. V8's code cache is not used: one made by the host is rejected in a
// bot process, whose --max-old-space-size is part of V8's flags hash (and one made by a bot
// process is never trusted). Numbers: bench/results/runner.json.
//
// The host trusts nothing the process says beyond its own run's report: see runner.ts (runIn)
// and protocol.ts (parseWorkerLine). It ends a run's whole process tree at once (timeout, cancel,
// over the memory limit, a protocol violation; after its report, once the run's entry is written,
// or at once with child processes opted in): the process is
// started in a process group (and session) of its own, killed with SIGKILL to the group, and
// with the child-process opt-in, every process of its session or below it too (Linux /proc;
// elsewhere the group only; Windows: taskkill /T /F).
//
// Memory. --max-old-space-size bounds the V8 heap but not Buffers/ArrayBuffers, so the host also
// polls the process's resident set (Linux: /proc/<pid>/status, every 10 ms while it runs) and
// kills it once it has grown by more than its limit (+ 48 MB for V8's young generation and code)
// since it was ready. Elsewhere only the heap flag holds (documented in README).
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { MAX_LINE_BYTES, encodeMessage, parseWorkerLine, type HostToWorker, type WorkerToHost } from './protocol';
import { type SandboxSpec, sandboxKey, sandboxLaunch, waitsInWorker } from './sandbox';
import { type PauseWatch, watchPauses } from './pauseWatch';
import type { BotPermissions } from '../bots/config';

export interface IsolateExit {
  /** The process ran out of memory (V8's heap limit, or the host's resident-set limit). */
  oom: boolean;
  code: number | null;
  signal?: string | null;
  /** Why it died, when the host knows (it was killed, or it could not start). */
  error?: string;
  /** Whatever it wrote to its real stderr (Node's own messages, e.g. "heap out of memory"). */
  stderr: string;
}

const MB = 1024 * 1024;
const RSS_SLACK_MB = 48;
const READY_TIMEOUT_MS = 30_000;
const LINUX = process.platform === 'linux';

/** Where rssOf reads /proc/<pid>/status (≈ 1.5 KB; VmRSS is in its first lines). */
const statusBuf = Buffer.allocUnsafe(16 * 1024);

/**
 * Resident set of a process in bytes (Linux), else undefined. Read into one buffer kept for it:
 * readFileSync of a /proc file (its size says 0) allocates 64 KB a call, which cost ≈ 0.25 ms of
 * the host's time every 10 ms that a bot runs.
 */
function rssOf(pid: number): number | undefined {
  if (!LINUX) return undefined;
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/proc/${pid}/status`, 'r');
    const n = fs.readSync(fd, statusBuf, 0, statusBuf.length, 0);
    const m = /VmRSS:\s+(\d+) kB/.exec(statusBuf.toString('latin1', 0, n));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** pid → [ppid, pgid, sid] of every process (Linux). */
function processTable(): Map<number, [number, number, number]> {
  const t = new Map<number, [number, number, number]>();
  let names: string[] = [];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return t;
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const s = fs.readFileSync(`/proc/${n}/stat`, 'latin1');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      t.set(Number(n), [Number(f[1]), Number(f[2]), Number(f[3])]);
    } catch {
      /* gone */
    }
  }
  return t;
}

let hostGroup: number | undefined;
function hostPgid(): number {
  if (hostGroup === undefined) hostGroup = LINUX ? processTable().get(process.pid)?.[1] ?? -1 : -1;
  return hostGroup;
}

/**
 * Ends a bot process and everything it started, at once. `deep`: also look for its descendants
 * and the members of its session (it may start processes only with the child-process opt-in).
 */
export function killTree(pid: number, deep: boolean): void {
  if (process.platform === 'win32') {
    try {
      spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true }).on('error', () => undefined);
    } catch {
      /* gone */
    }
    return;
  }
  const victims = new Set<number>([pid]);
  const groups = new Set<number>([pid]);
  if (deep && LINUX) {
    const table = processTable();
    let grew = true;
    while (grew) {
      grew = false;
      for (const [p, [ppid, pgid, sid]] of table) {
        if (victims.has(p) || p === process.pid) continue;
        if (victims.has(ppid) || sid === pid) {
          victims.add(p);
          groups.add(pgid);
          grew = true;
        }
      }
    }
  }
  const own = hostPgid();
  for (const g of groups) {
    if (g > 1 && g !== own) {
      try {
        process.kill(-g, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  for (const p of victims) {
    if (p === process.pid) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** One bot process: started ahead, it takes one run, then it is killed. */
export class BotProcess {
  readonly key: string;
  readonly memoryLimitMb: number;
  readonly tmpDir: string;
  readonly permissions: BotPermissions;
  readonly ready: Promise<void>;
  /** Resolves once the process has exited and its output has been read. */
  readonly closed: Promise<void>;
  /** Set once it has exited. */
  exited?: IsolateExit;
  /** Set when it was handed a run (never twice). */
  taken = false;
  /** The first protocol violation seen (a line that is no message, a message out of place). */
  violation?: string;
  onMessage?: (m: WorkerToHost) => void;
  onViolation?: (reason: string) => void;
  onExit?: (e: IsolateExit) => void;
  /** Output Node itself wrote to the real stdout/stderr (the bot's console is captured inside). */
  onStd?: (which: 'stdout' | 'stderr', text: string) => void;
  /** Started for debugging: with the inspector, waiting for a debugger (no time limit on its start). */
  readonly debug: boolean;
  /**
   * A debug process's inspector address (`ws://127.0.0.1:PORT/UUID`), as it wrote it to its stderr,
   * once the process has its run and waits for its debugger ("waiting") and the host's own session on
   * it watches its pauses (`pauses`); rejects when it ended first, or when that session could not be
   * opened (the process is then stopped). Undefined for other processes.
   */
  readonly inspectorUrl?: Promise<string>;
  /** A debug process's pauses, as the host's own inspector session sees them (see pauseWatch.ts). */
  pauses?: PauseWatch;
  /**
   * A debug process that loads before its debugger attaches (sandbox.ts, waitsInWorker): its debugger
   * has let it go on ("attached"), and its run starts. Others are `ready` only once their debugger
   * has let them go on.
   */
  onAttached?: () => void;
  readonly waitsInWorker: boolean;
  private readonly child: ChildProcess;
  private baseline = 0;
  private killedFor?: { oom: boolean; why: string };
  private stderr = '';

  constructor(workerPath: string, spec: SandboxSpec) {
    this.key = sandboxKey(spec);
    this.memoryLimitMb = spec.memoryLimitMb;
    const launch = sandboxLaunch(workerPath, spec);
    this.tmpDir = launch.tmpDir;
    this.permissions = launch.permissions;
    this.debug = !!spec.debug;
    this.waitsInWorker = !!spec.debug && waitsInWorker(spec.debug);
    let inspectorResolve: ((url: string) => void) | undefined;
    let inspectorReject: ((e: Error) => void) | undefined;
    /** The inspector's address, once it listens; and whether the worker, loaded, waits for its debugger. */
    let listening: string | undefined;
    // With --inspect-wait, it waits for its debugger from its start: the host watches it at once.
    let waiting = this.debug && !this.waitsInWorker;
    // The host's session first, so that no pause goes unseen; then the debugger may have the address.
    const watchWhenWaiting = (): void => {
      const url = listening;
      if (!url || !waiting || !inspectorResolve) return;
      const found = inspectorResolve;
      inspectorResolve = undefined;
      watchPauses(url).then(
        (w) => {
          if (this.exited) return w.close();
          this.pauses = w;
          found(url);
        },
        (e: Error) => {
          inspectorReject?.(new Error(`The host could not watch the bot's inspector: ${e.message}`));
          this.terminate(`the host could not watch its inspector (${e.message})`);
        },
      );
    };
    if (this.debug) {
      this.inspectorUrl = new Promise<string>((res, rej) => {
        inspectorResolve = res;
        inspectorReject = rej;
      });
      this.inspectorUrl.catch(() => undefined);
    }
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => undefined);
    let closedResolve!: () => void;
    this.closed = new Promise<void>((res) => (closedResolve = res));

    const child = spawn(launch.execPath, launch.args, {
      cwd: launch.cwd,
      env: launch.env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Its own process group (and session): a timeout kills the group.
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    this.child = child;
    child.unref();
    // A debug process waits for its debugger, as long as that takes (a cancel ends it).
    const readyTimer = this.debug
      ? undefined
      : setTimeout(() => {
          this.violate(`it was not ready within ${READY_TIMEOUT_MS / 1000} s`);
        }, READY_TIMEOUT_MS);
    readyTimer?.unref();

    const onStd = (which: 'stdout' | 'stderr') => (chunk: string) => {
      if (which === 'stderr') this.stderr = (this.stderr + chunk).slice(-8192);
      if (this.debug && which === 'stderr') {
        // The inspector's own lines are not the bot's output; its address is the host's to pass on.
        listening ??= /Debugger listening on (ws:\/\/\S+)/.exec(this.stderr)?.[1];
        watchWhenWaiting();
        // Its JavaScript has ended and it waits for every session to go: the host's goes.
        if (/Waiting for the debugger to disconnect/.test(chunk)) this.pauses?.close();
        chunk = chunk
          .split('\n')
          .filter((l) => !/^(Debugger listening on |For help, see: |Debugger attached\.|Debugger ending on |Waiting for the debugger to disconnect)/.test(l))
          .join('\n');
        if (!chunk.trim()) return;
      }
      this.onStd?.(which, chunk);
    };
    for (const which of ['stdout', 'stderr'] as const) {
      const s = child[which] as Readable & { unref?: () => void };
      s.setEncoding('utf8');
      s.on('data', onStd(which));
      s.unref?.();
    }
    const channel = child.stdio[3] as Readable & { unref?: () => void; write?: (s: string) => boolean };
    channel.unref?.();
    // Lines are cut in the bytes (a newline byte is never part of a multi-byte UTF-8 character),
    // each decoded once; the start of a line that spans chunks waits in `pending`.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let gotReady = false;
    let attached = !this.waitsInWorker;
    channel.on('data', (chunk: Buffer) => {
      if (this.violation) return;
      let start = 0;
      let nl: number;
      while ((nl = chunk.indexOf(10, start)) >= 0) {
        let line: string;
        if (pendingBytes === 0) line = chunk.toString('utf8', start, nl);
        else {
          pending.push(chunk.subarray(start, nl));
          line = Buffer.concat(pending, pendingBytes + nl - start).toString('utf8');
          pending = [];
          pendingBytes = 0;
        }
        start = nl + 1;
        const p = parseWorkerLine(line);
        if (!p.ok) return this.violate(`it wrote ${p.reason}`);
        if (p.m.t === 'waiting') {
          if (!this.waitsInWorker || !this.taken || !gotReady || waiting) return this.violate('it said "waiting" out of place');
          waiting = true;
          watchWhenWaiting();
        } else if (p.m.t === 'attached') {
          if (!waiting || attached) return this.violate('it said "attached" out of place');
          attached = true;
          this.onAttached?.();
        } else if (p.m.t === 'ready') {
          if (gotReady) return this.violate('it said "ready" twice');
          gotReady = true;
          clearTimeout(readyTimer);
          this.baseline = rssOf(child.pid!) ?? 0;
          readyResolve();
        } else if (!this.taken) {
          return this.violate(`it sent a "${p.m.t}" message before it had a run`);
        } else if (!attached) {
          return this.violate(`it sent a "${p.m.t}" message before its debugger attached`);
        } else {
          this.onMessage?.(p.m);
        }
        if (this.violation) return;
      }
      if (start < chunk.length) {
        pending.push(start === 0 ? chunk : chunk.subarray(start));
        pendingBytes += chunk.length - start;
      }
      if (pendingBytes > MAX_LINE_BYTES) this.violate(`it wrote a line longer than ${MAX_LINE_BYTES / MB} MB`);
    });
    channel.on('error', () => undefined);
    this.send = (m) => {
      if (!this.exited && !channel.destroyed) channel.write!(encodeMessage(m));
    };

    let exitSeen = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, error?: string): void => {
      if (exitSeen) return;
      exitSeen = true;
      clearTimeout(readyTimer);
      const oom = this.killedFor?.oom || /heap out of memory|Allocation failed|JavaScript heap/i.test(this.stderr);
      this.exited = { oom: !!oom, code, signal, error: error ?? this.killedFor?.why, stderr: this.stderr };
      this.pauses?.close();
      inspectorReject?.(new Error(`The bot's process ended before its inspector listened${this.stderrLine() ? `: ${this.stderrLine()}` : ''}`));
      readyReject(new Error(`The bot's process ended before it was ready${this.stderrLine() ? `: ${this.stderrLine()}` : error ? `: ${error}` : ` (exit code ${code}${signal ? `, ${signal}` : ''})`}`));
      // Whatever it left behind (its children, with the opt-in) goes with it.
      if (this.permissions.childProcess) killTree(child.pid ?? -1, true);
      this.onExit?.(this.exited);
      fs.rm(this.tmpDir, { recursive: true, force: true, maxRetries: 2 }, () => undefined);
    };
    child.on('error', (e) => {
      finish(null, null, e.message);
      closedResolve();
    });
    child.on('exit', (code, signal) => {
      finish(code, signal);
      // Its output up to now is what it said: give the pipes a moment to drain, no more.
      setTimeout(closedResolve, 100).unref();
    });
    child.on('close', () => closedResolve());
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Keeps the host's event loop alive while it runs (a process started ahead does not). */
  hold(): void {
    this.child.ref();
    for (const s of [this.child.stdout, this.child.stderr, this.child.stdio[3]] as (Readable & { ref?: () => void } | null)[]) s?.ref?.();
  }

  send: (m: HostToWorker) => void;

  /** The first line of what it wrote to stderr (why it could not start). */
  private stderrLine(): string {
    return this.stderr.split('\n').find((l) => l.trim() && !/^\s+at /.test(l))?.trim() ?? '';
  }

  /** Records a protocol violation and ends the process. */
  violate(reason: string): void {
    if (this.violation) return;
    this.violation = reason;
    this.terminate(`it broke the run protocol: ${reason}`);
    this.onViolation?.(reason);
  }

  /** The process's growth in resident memory since it was ready, in bytes (Linux). */
  growth(): number | undefined {
    const pid = this.child.pid;
    if (pid === undefined || this.exited) return undefined;
    const rss = rssOf(pid);
    return rss === undefined ? undefined : rss - this.baseline;
  }

  /** Over its memory limit: killed, and its exit says out of memory. */
  checkMemory(): void {
    const g = this.growth();
    if (g !== undefined && g > (this.memoryLimitMb + RSS_SLACK_MB) * MB) {
      this.killedFor = { oom: true, why: `its resident memory grew by ${Math.round(g / MB)} MB, past its limit of ${this.memoryLimitMb} MB` };
      this.kill();
    }
  }

  /** Ends the process and its tree now. */
  terminate(why = 'it was stopped'): void {
    this.killedFor ??= { oom: false, why };
    this.kill();
  }

  private kill(): void {
    if (this.exited || this.child.pid === undefined) return;
    killTree(this.child.pid, !!this.permissions.childProcess);
  }
}

export interface PoolOptions {
  workerPath: string;
  /** Processes started ahead per sandbox key (default 1). */
  spares?: number;
  /** A process started ahead and not taken ends after this long (default 5 min). */
  idleTimeoutMs?: number;
  /** Sandbox keys that keep processes started ahead (default 4; the least recently used goes). */
  maxKeys?: number;
}

/** Hands out bot processes, one per run, each started ahead where it can be. */
export class IsolatePool {
  private readonly spares = new Map<string, { iso: BotProcess; timer: NodeJS.Timeout }[]>();
  /**
   * A debug process started ahead per sandbox key, once a debug run has been asked for there or one
   * is readied (prepareDebug); for at most maxKeys keys, the newest.
   */
  private readonly debugSparesByKey = new Map<string, { iso: BotProcess; timer: NodeJS.Timeout }>();
  private readonly all = new Set<BotProcess>();
  private readonly running = new Set<BotProcess>();
  private memoryTimer?: NodeJS.Timeout;
  private disposed = false;

  constructor(private readonly opts: PoolOptions) {}

  private start(spec: SandboxSpec): BotProcess {
    const iso = new BotProcess(this.opts.workerPath, spec);
    this.all.add(iso);
    void iso.closed.then(() => {
      this.all.delete(iso);
      this.running.delete(iso);
    });
    return iso;
  }

  /** Keeps `spares` processes started ahead for this spec. */
  private refill(spec: SandboxSpec, key: string): void {
    if (this.disposed) return;
    let list = this.spares.get(key);
    if (!list) {
      list = [];
      this.spares.set(key, list);
      const max = this.opts.maxKeys ?? 4;
      while (this.spares.size > max) {
        const [oldKey, old] = this.spares.entries().next().value as [string, { iso: BotProcess; timer: NodeJS.Timeout }[]];
        this.spares.delete(oldKey);
        for (const s of old) this.drop(s);
      }
    } else {
      // Most recently used last.
      this.spares.delete(key);
      this.spares.set(key, list);
    }
    while (list.length < (this.opts.spares ?? 1)) {
      let iso: BotProcess;
      try {
        iso = this.start(spec);
      } catch {
        return;
      }
      const entry = { iso, timer: setTimeout(() => this.drop(entry, list), this.opts.idleTimeoutMs ?? 300_000) };
      entry.timer.unref();
      list.push(entry);
      iso.onExit = () => {
        const i = list!.indexOf(entry);
        if (i >= 0) list!.splice(i, 1);
        clearTimeout(entry.timer);
      };
    }
  }

  private drop(entry: { iso: BotProcess; timer: NodeJS.Timeout }, list?: { iso: BotProcess; timer: NodeJS.Timeout }[]): void {
    clearTimeout(entry.timer);
    const i = list?.indexOf(entry) ?? -1;
    if (i >= 0) list!.splice(i, 1);
    entry.iso.terminate();
  }

  /** A process ready to take one run for `spec` (waits for its start-up); the next one starts at once. */
  async acquire(spec: SandboxSpec): Promise<BotProcess> {
    if (this.disposed) throw new Error('The bot runner has been disposed');
    const key = sandboxKey(spec);
    const list = this.spares.get(key);
    let iso: BotProcess | undefined;
    while (list?.length) {
      const entry = list.shift()!;
      clearTimeout(entry.timer);
      if (!entry.iso.exited && !entry.iso.violation) {
        iso = entry.iso;
        break;
      }
    }
    iso ??= this.start(spec);
    iso.onExit = undefined;
    iso.taken = true;
    iso.hold();
    // The next process starts when this one's run is over: started at once, it would take the CPU
    // from this run (≈ 250 ms of start-up against a run of a few ms, on 2 cores).
    // After the run's own end (its entry) has had its turn: starting a process blocks this thread
    // for a few ms.
    void iso.closed.then(() => setTimeout(() => this.refill(spec, key), 0));
    await iso.ready;
    return iso;
  }

  /**
   * A process for one run under the debugger, taken at once: started now, or ahead after an earlier
   * debug run with the same sandbox (see below). Its `inspectorUrl` says where to attach. It is
   * `ready` once loaded; its debugger lets it go on once it has its run (`onAttached`), or, with
   * `--inspect-wait` (sandbox.ts, waitsInWorker), before it loads. Throws when this Node cannot debug
   * a bot (see sandbox.ts, debugProblem).
   */
  startDebug(spec: SandboxSpec): BotProcess {
    if (this.disposed) throw new Error('The bot runner has been disposed');
    if (!spec.debug) throw new Error('startDebug needs a debug spec');
    // On any free port and not listed over HTTP (the editor's way), the next debug run's process is
    // started ahead once this one is over (where the pool starts processes ahead at all): loaded and
    // waiting for its run on its channel, as any process started ahead (it ends when the host goes),
    // its inspector listening on the loopback (the address, with its random id, is the host's).
    const ahead = waitsInWorker(spec.debug) && (this.opts.spares ?? 1) > 0;
    const key = sandboxKey(spec);
    let iso: BotProcess | undefined;
    const spare = ahead ? this.debugSparesByKey.get(key) : undefined;
    if (spare) {
      this.debugSparesByKey.delete(key);
      clearTimeout(spare.timer);
      if (!spare.iso.exited && !spare.iso.violation) iso = spare.iso;
      else spare.iso.terminate();
    }
    iso ??= this.start(spec);
    iso.onExit = undefined;
    iso.taken = true;
    iso.hold();
    if (ahead) void iso.closed.then(() => setTimeout(() => this.refillDebug(spec, key), 0));
    return iso;
  }

  /**
   * Starts a debug process ahead for `spec`, loaded and waiting for a debug run, unless one is
   * waiting already (the editor asks for one when a breakpoint is set in a bot's folder, before the
   * first debug run; later ones are started ahead after each debug run, as above). False where debug
   * processes are not started ahead (a known port, the HTTP listing, or no spares).
   */
  prepareDebug(spec: SandboxSpec): boolean {
    if (this.disposed || !spec.debug || !waitsInWorker(spec.debug) || (this.opts.spares ?? 1) <= 0) return false;
    const key = sandboxKey(spec);
    const waiting = this.debugSparesByKey.get(key);
    if (waiting) {
      // Asked for again: the newest, the last to go.
      this.debugSparesByKey.delete(key);
      this.debugSparesByKey.set(key, waiting);
      return true;
    }
    this.refillDebug(spec, key);
    return this.debugSparesByKey.has(key);
  }

  private refillDebug(spec: SandboxSpec, key: string): void {
    if (this.disposed || this.debugSparesByKey.has(key)) return;
    let iso: BotProcess;
    try {
      iso = this.start(spec);
    } catch {
      return;
    }
    const entry = { iso, timer: setTimeout(() => drop(), this.opts.idleTimeoutMs ?? 300_000) };
    const drop = (): void => {
      if (this.debugSparesByKey.get(key) === entry) this.debugSparesByKey.delete(key);
      clearTimeout(entry.timer);
      iso.terminate();
    };
    entry.timer.unref();
    this.debugSparesByKey.set(key, entry);
    // As many sandboxes as for runs (maxKeys): breakpoints set in many bots with sandboxes of their
    // own keep the newest ones' processes; the oldest goes.
    while (this.debugSparesByKey.size > (this.opts.maxKeys ?? 4)) {
      const [oldKey, old] = this.debugSparesByKey.entries().next().value as [string, { iso: BotProcess; timer: NodeJS.Timeout }];
      this.debugSparesByKey.delete(oldKey);
      clearTimeout(old.timer);
      old.iso.terminate();
    }
    iso.onExit = () => {
      if (this.debugSparesByKey.get(key) === entry) this.debugSparesByKey.delete(key);
      clearTimeout(entry.timer);
    };
  }

  /** Watches a process's memory while it runs its run. */
  watch(iso: BotProcess): void {
    this.running.add(iso);
    if (!LINUX || this.memoryTimer) return;
    this.memoryTimer = setInterval(() => {
      for (const r of this.running) r.checkMemory();
      if (this.running.size === 0) {
        clearInterval(this.memoryTimer);
        this.memoryTimer = undefined;
      }
    }, 10);
    this.memoryTimer.unref();
  }

  /** Ends a process (after its run, on a timeout, a cancel or a failure). */
  destroy(iso: BotProcess): void {
    this.running.delete(iso);
    iso.terminate();
  }

  /** Starts a process ahead for `spec` and waits until it is ready. */
  async warmUp(spec: SandboxSpec): Promise<void> {
    const key = sandboxKey(spec);
    this.refill(spec, key);
    // A process started ahead does not keep the host alive; one waited for here does, until it is ready.
    const keep = setInterval(() => undefined, 60_000);
    try {
      await Promise.all((this.spares.get(key) ?? []).map((s) => s.iso.ready.catch(() => undefined)));
    } finally {
      clearInterval(keep);
    }
  }

  /** Debug processes started ahead, waiting for a debug run. */
  get debugSpares(): number {
    return this.debugSparesByKey.size;
  }

  /** Processes alive (running or started ahead). */
  get size(): number {
    return this.all.size;
  }

  dispose(): void {
    this.disposed = true;
    for (const list of this.spares.values()) for (const { timer } of list) clearTimeout(timer);
    this.spares.clear();
    for (const { timer } of this.debugSparesByKey.values()) clearTimeout(timer);
    this.debugSparesByKey.clear();
    for (const iso of this.all) iso.terminate();
    if (this.memoryTimer) clearInterval(this.memoryTimer);
  }
}
