// Where bot runs happen. Three kinds of isolate, all running the same worker script:
//  - 'pooled'          a worker thread kept between runs, a fresh vm context per run (default);
//  - 'worker-per-run'  a new worker thread for every run;
//  - 'child-process'   a new Node child process for every run.
// Measured with bench/runner-bench.ts (2 cores, Node 20; trivial bot, bundle cached, from the
// call to the result, no store): a pooled worker with a new vm context per run ≈ 0.8 ms a run
// (p50); a new worker thread per run ≈ 100 ms (starting a thread and loading the 320 KB worker
// bundle); a new child process per run ≈ 175 ms. The issue's estimates (20 ms, 0.02 ms, 0.4 ms)
// give the same order. So runs go to pooled workers, one run at a time per worker, each run in
// a new vm context for its own globals (most of the 0.8 ms); a worker whose run timed out, was
// cancelled, exited, ran out of memory or crashed is terminated (which stops sync loops and
// async work alike) and replaced. Memory is bounded per worker by `resourceLimits` (child:
// --max-old-space-size), so the pool is keyed by the memory limit.
// Note: a vm context is not a security boundary (a bot can reach the worker's real `process`
// through any host function); the worker thread is the fault boundary, not a sandbox.
// 'child-process' mode gives a process boundary at ≈ 200× the cost per run.
import { type ChildProcess, fork } from 'node:child_process';
import { type MessagePort, Worker } from 'node:worker_threads';
import { SYNC_HEADER_INTS, SYNC_IN_BUFFER, SYNC_ON_PORT, type HostToWorker, type WorkerToHost } from './protocol';


/** The reply as JSON text when it is plain JSON data (strings, numbers, objects), else undefined. */
function jsonReply(m: HostToWorker): string | undefined {
  const v = (m as { value?: unknown }).value as { body?: unknown } | undefined;
  if (v && typeof v === 'object' && v.body !== undefined && typeof v.body !== 'string') return undefined;
  try {
    return JSON.stringify(m);
  } catch {
    return undefined;
  }
}

export type IsolationMode = 'pooled' | 'worker-per-run' | 'child-process';

export interface IsolateExit {
  /** The isolate ran out of memory. */
  oom: boolean;
  code: number | null;
  signal?: string | null;
  /** An error the isolate reported as it died. */
  error?: string;
  /** Whatever it wrote to its real stderr (Node's own messages, e.g. "heap out of memory"). */
  stderr: string;
}

/** One worker thread or child process running the bot worker script. */
export interface Isolate {
  readonly memoryLimitMb: number;
  /** Bundle hashes this isolate already has (so the code is sent once). */
  readonly knownBundles: Set<string>;
  readonly ready: Promise<void>;
  /** Set once it has exited. */
  exited?: IsolateExit;
  send(m: HostToWorker): void;
  onMessage?: (m: WorkerToHost) => void;
  onExit?: (e: IsolateExit) => void;
  /** Output Node itself wrote (not the bot: the bot's console is captured inside). */
  onStd?: (which: 'stdout' | 'stderr', text: string) => void;
  terminate(): void;
  /** Runs done by this isolate. */
  runs: number;
}

function makeIsolate(
  mode: IsolationMode,
  workerPath: string,
  memoryLimitMb: number,
): Isolate {
  let stderr = '';
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => undefined);
  const iso: Isolate = {
    memoryLimitMb,
    knownBundles: new Set(),
    ready,
    runs: 0,
    send: () => undefined,
    terminate: () => undefined,
  };
  let syncPort: MessagePort | undefined;
  let syncFlag: Int32Array | undefined;
  let syncBytes: Buffer | undefined;
  const handle = (m: WorkerToHost): void => {
    if (m.t === 'ready') readyResolve();
    else if (m.t === 'rpc-port') {
      syncPort = m.port;
      syncFlag = new Int32Array(m.flag, 0, SYNC_HEADER_INTS);
      syncBytes = Buffer.from(m.flag, SYNC_HEADER_INTS * 4);
      syncPort.on('message', (req: WorkerToHost) => iso.onMessage?.(req));
      syncPort.unref();
    } else iso.onMessage?.(m);
  };
  /**
   * Replies to a synchronous call and wakes the worker. A reply that is JSON and fits goes into the
   * shared buffer itself (no message to post: on this kind of machine each post costs a system
   * call, a large share of a FHIR call); anything else (bytes, a large body) goes on the port.
   */
  const replySync = (m: HostToWorker): boolean => {
    if (m.t !== 'rpc-result' || !m.sync || !syncPort || !syncFlag || !syncBytes) return false;
    let written = -1;
    const text = jsonReply(m);
    if (text !== undefined && text.length * 3 <= syncBytes.length) written = syncBytes.write(text, 0, 'utf8');
    if (written >= 0) {
      Atomics.store(syncFlag, 1, written);
      Atomics.store(syncFlag, 0, SYNC_IN_BUFFER);
    } else {
      syncPort.postMessage(m);
      Atomics.store(syncFlag, 0, SYNC_ON_PORT);
    }
    Atomics.notify(syncFlag, 0);
    return true;
  };
  const exited = (e: Omit<IsolateExit, 'stderr'>): void => {
    if (iso.exited) return;
    const oom = e.oom || /heap out of memory|ERR_WORKER_OUT_OF_MEMORY|Allocation failed/i.test(stderr);
    iso.exited = { ...e, oom, stderr };
    readyReject(new Error(`The bot worker exited before it was ready${e.error ? `: ${e.error}` : ''}`));
    iso.onExit?.(iso.exited);
  };
  const onStd = (which: 'stdout' | 'stderr') => (chunk: Buffer | string) => {
    const text = String(chunk);
    if (which === 'stderr') stderr = (stderr + text).slice(-8192);
    iso.onStd?.(which, text);
  };

  if (mode === 'child-process') {
    const child: ChildProcess = fork(workerPath, [], {
      execArgv: [`--max-old-space-size=${memoryLimitMb}`],
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { NODE_ENV: 'production', PATH: process.env.PATH ?? '' },
    });
    child.stdout?.on('data', onStd('stdout'));
    child.stderr?.on('data', onStd('stderr'));
    child.on('message', (m) => handle(m as WorkerToHost));
    child.on('error', (e) => exited({ oom: false, code: null, error: e.message }));
    child.on('exit', (code, signal) => exited({ oom: false, code, signal }));
    iso.send = (m) => {
      if (!iso.exited && !replySync(m) && child.connected) child.send(m);
    };
    iso.terminate = () => {
      if (!iso.exited) child.kill('SIGKILL');
    };
  } else {
    const worker = new Worker(workerPath, {
      resourceLimits: {
        maxOldGenerationSizeMb: memoryLimitMb,
        maxYoungGenerationSizeMb: Math.min(32, Math.max(4, Math.floor(memoryLimitMb / 8))),
        stackSizeMb: 4,
      },
      stdout: true,
      stderr: true,
      env: { NODE_ENV: 'production' },
    });
    worker.stdout.on('data', onStd('stdout'));
    worker.stderr.on('data', onStd('stderr'));
    worker.on('message', handle);
    let error: { message: string; code?: string } | undefined;
    worker.on('error', (e: Error & { code?: string }) => {
      error = { message: e.message, code: e.code };
    });
    worker.on('exit', (code) =>
      exited({ oom: error?.code === 'ERR_WORKER_OUT_OF_MEMORY', code, error: error?.message }),
    );
    iso.send = (m) => {
      if (!iso.exited && !replySync(m)) worker.postMessage(m);
    };
    iso.terminate = () => {
      if (!iso.exited) void worker.terminate();
    };
  }
  return iso;
}

export interface PoolOptions {
  workerPath: string;
  mode?: IsolationMode;
  /** Idle pooled workers kept per memory limit (default 4). */
  maxIdle?: number;
  /** Idle pooled workers end after this long (default 60 s). */
  idleTimeoutMs?: number;
}

/** Hands out isolates; pooled ones come back with `release`. */
export class IsolatePool {
  readonly mode: IsolationMode;
  private readonly idle = new Map<number, { iso: Isolate; timer: NodeJS.Timeout }[]>();
  private readonly all = new Set<Isolate>();
  private disposed = false;

  constructor(private readonly opts: PoolOptions) {
    this.mode = opts.mode ?? 'pooled';
  }

  /** An isolate ready to run (waits for its start-up). */
  async acquire(memoryLimitMb: number): Promise<Isolate> {
    if (this.disposed) throw new Error('The bot runner has been disposed');
    const list = this.idle.get(memoryLimitMb);
    while (list?.length) {
      const { iso, timer } = list.pop()!;
      clearTimeout(timer);
      if (!iso.exited) return iso;
    }
    const iso = makeIsolate(this.mode, this.opts.workerPath, memoryLimitMb);
    this.all.add(iso);
    const prevExit = (): void => void this.all.delete(iso);
    iso.onExit = prevExit;
    await iso.ready;
    return iso;
  }

  /** Gives an isolate back after a clean run (pooled mode keeps it; others end it). */
  release(iso: Isolate): void {
    iso.onMessage = undefined;
    iso.onStd = undefined;
    iso.onExit = () => void this.all.delete(iso);
    if (iso.exited) return;
    if (this.disposed || this.mode !== 'pooled') {
      this.destroy(iso);
      return;
    }
    const list = this.idle.get(iso.memoryLimitMb) ?? [];
    this.idle.set(iso.memoryLimitMb, list);
    if (list.length >= (this.opts.maxIdle ?? 4)) {
      this.destroy(iso);
      return;
    }
    const timer = setTimeout(() => {
      const i = list.findIndex((x) => x.iso === iso);
      if (i >= 0) list.splice(i, 1);
      this.destroy(iso);
    }, this.opts.idleTimeoutMs ?? 60_000);
    timer.unref();
    list.push({ iso, timer });
  }

  /** Ends an isolate now (timeout, cancel, or after a failure that may have left it broken). */
  destroy(iso: Isolate): void {
    this.all.delete(iso);
    iso.terminate();
  }

  /** Starts `count` pooled workers ahead of the first runs. */
  async warmUp(memoryLimitMb: number, count = 1): Promise<void> {
    if (this.mode !== 'pooled') return;
    const isos = await Promise.all(Array.from({ length: count }, () => this.acquire(memoryLimitMb)));
    for (const iso of isos) this.release(iso);
  }

  get size(): number {
    return this.all.size;
  }

  dispose(): void {
    this.disposed = true;
    for (const list of this.idle.values()) for (const { timer } of list) clearTimeout(timer);
    this.idle.clear();
    for (const iso of this.all) iso.terminate();
    this.all.clear();
  }
}
