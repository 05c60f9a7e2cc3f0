// The bot worker: bundled to dist/bot-worker.js and started by the host (pool.ts) as a sandboxed
// Node process that runs exactly one bot run. It loads @medplum/core, checks that the sandbox is
// in force, takes away what the permission model leaves open (process.kill, …), says "ready",
// and blocks on its channel (fd 3, see protocol.ts) until its run arrives. The run happens in a
// fresh `vm` context (its own globals), with its own console, timers and `process` stand-in;
// everything goes to the host as messages, and the bot's Medplum calls are synchronous calls to
// the host over the same channel. The host owns time and memory limits: it kills this process
// (and its process group) on a timeout, a cancel, or past the memory limit, and after the run.
//
// Nothing here is a security boundary against the bot (it runs in this process and can reach its
// real `process` through any host function): the process and its permissions are. What the bot
// can bend is this process's report of its own run, which the host treats as such (runner.ts).
import * as fs from 'node:fs';
import * as util from 'node:util';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { SourceMap, createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { decodeMessage, encodeMessage, encodeReport, type DoneMessage, type RpcResultMessage, type RunMessage, type WireFailure, type WorkerToHost } from './protocol';
import type { LogLevel } from './types';
import { writeSearchDefinitions } from '../medplum/definitions';
import { createLocalClient, localClientClass, makeLocalFetch, startLocalClient, type HostFetch } from '../fhir/client';
import { LOCAL_BASE_URL, ensureWebSocket, loadCore } from '../fhir/platform';

type Core = typeof import('@medplum/core');
let coreModule: Core | undefined;
// Loaded before the process says it is ready (the bot's client is a real MedplumClient).
const core = (): Core => (coreModule ??= loadCore());
type RpcCall = (method: string, args: unknown[]) => Promise<unknown>;

// ---------------------------------------------------------------- channel (fd 3, one JSON line per message)
// Taken before any bot code runs: a bot that patches fs, Buffer or process later does not change them.
const CHANNEL_FD = 3;
const reallyExit = (process as unknown as { reallyExit?: (code: number) => never }).reallyExit;
const realExit: (code: number) => never = reallyExit ? reallyExit.bind(process) : process.exit.bind(process);
const writeSync = fs.writeSync;
const readSync = fs.readSync;
const bufferFrom = Buffer.from;
const pause = new Int32Array(new SharedArrayBuffer(4));
const retryLater = (e: unknown): boolean => {
  if ((e as NodeJS.ErrnoException)?.code !== 'EAGAIN') return false;
  Atomics.wait(pause, 0, 0, 1);
  return true;
};

/**
 * Started for a debug run (the host's sandbox argument says so): the inspector is on. Such a run skips
 * the full collection below: with it, Node 24's process died of SIGSEGV in about 1 debug run in 5
 * when a debugger evaluated code in a new context as it was made (js-debug does, in every context),
 * and in none of 20 without it.
 */
function underDebugger(): boolean {
  try {
    const inspector = (JSON.parse(process.argv[3] ?? '{}') as { inspector?: boolean | 'wait' }).inspector;
    return process.argv[2] === '--bot-audit-sandbox' && (inspector === true || inspector === 'wait');
  } catch {
    return false;
  }
}

/**
 * In a debug run: blocks until a debugger has attached and lets the process go on (node:inspector's
 * `waitForDebugger`, taken before the sandbox takes the module from the bot's code). The process
 * loads the runner (and rehearses) first, with no debugger on it, and says "ready" as any process;
 * once its run message has come (a process started ahead waits for it on its channel, and ends when
 * the host goes), it says "waiting", waits here, then says "attached" and runs: a debugger that
 * attaches has only the bot's code to read.
 */
const waitForDebugger = ((): (() => void) | undefined => {
  if (!underDebugger()) return undefined;
  if ((JSON.parse(process.argv[3] ?? '{}') as { inspector?: boolean | 'wait' }).inspector !== 'wait') return undefined; // --inspect-wait
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:inspector') as typeof import('node:inspector')).waitForDebugger;
})();

/**
 * A full collection, used once, before "ready": start-up and the rehearsal leave the young
 * generation nearly full, and V8 would otherwise collect it in the run's first turn of the event
 * loop (≈ 2.7 ms of a warm run's ≈ 7, measured). The function comes from a context made while the
 * flag was on (the documented way, as with --expose-gc), so no context of the bot's has a \`gc\`.
 */
const collectGarbage = ((): (() => void) | undefined => {
  if (underDebugger()) return undefined;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    v8.setFlagsFromString('--no-expose-gc');
    return gc;
  } catch {
    return undefined; // a collection later, in the run, as before
  }
})();

/** Set during the rehearsal run (before "ready"): nothing is sent, and the process does not end. */
let rehearsing = false;

/** This process's run's seal: read from the run message before any bot code runs, kept only here. */
let runSeal = '';

/** The run's report, sealed (see RunMessage.seal): the one message the host takes as the outcome. */
function report(d: Omit<DoneMessage, 'seal'>): void {
  writeLine(encodeReport(d, runSeal));
}

function send(m: WorkerToHost): void {
  writeLine(encodeMessage(m));
}

function writeLine(line: string): void {
  const b = bufferFrom(line, 'utf8');
  if (rehearsing) return;
  let off = 0;
  while (off < b.length) {
    try {
      off += writeSync(CHANNEL_FD, b, off, b.length - off);
    } catch (e) {
      if (retryLater(e)) continue;
      // The host is gone: nothing to report to.
      realExit(70);
    }
  }
}

const chunk = Buffer.alloc(256 * 1024);
const bufIndexOf = Buffer.prototype.indexOf;
const bufToString = Buffer.prototype.toString;
const bufConcat = Buffer.concat;
const apply = Reflect.apply;
/** Bytes read and not yet taken: chunk[head, tail). */
let head = 0;
let tail = 0;
/**
 * The next line from the host (blocks); the process ends when the host has gone. Lines are cut in
 * the bytes (a newline byte is never part of a multi-byte UTF-8 character) and decoded once.
 */
function readLine(): string {
  let parts: Buffer[] | undefined;
  let partBytes = 0;
  for (;;) {
    if (head < tail) {
      const nl = apply(bufIndexOf, chunk, [10, head]) as number;
      if (nl >= 0 && nl < tail) {
        let line: string;
        if (!parts) line = apply(bufToString, chunk, ['utf8', head, nl]) as string;
        else {
          parts.push(chunk.subarray(head, nl));
          line = apply(bufToString, bufConcat(parts, partBytes + nl - head), ['utf8']) as string;
        }
        head = nl + 1;
        return line;
      }
      // A line longer than what is here: keep its start (chunk is read into again).
      (parts ??= []).push(bufferFrom(chunk.subarray(head, tail)));
      partBytes += tail - head;
    }
    head = 0;
    tail = readChannel(70);
  }
}

/** Reads what the host sent into `chunk` (blocks); the process ends with `endCode` once the host has gone. */
function readChannel(endCode: number): number {
  for (;;) {
    let n = 0;
    try {
      n = readSync(CHANNEL_FD, chunk, 0, chunk.length, null);
    } catch (e) {
      if (retryLater(e)) continue;
      realExit(endCode);
    }
    if (n === 0) realExit(endCode);
    return n;
  }
}

/**
 * After the report: this process's only thread blocks on the channel until the host ends the
 * process, or goes away (the channel's end). Nothing runs here any more, the bot's code included.
 */
function awaitEnd(): never {
  for (;;) readChannel(0);
}

// ---------------------------------------------------------------- bundles and source maps
interface LoadedBundle {
  script: vm.Script;
  code: string;
  filename: string;
  map?: SourceMap | null;
}

/** Header/footer that make the bundle a CommonJS-style function (same line: line numbers unchanged). */
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) {';
const WRAP_TAIL = '\n})';

function loadBundle(msg: RunMessage): LoadedBundle {
  const filename = `bot-bundle-${msg.hash.slice(0, 12)}.js`;
  // The host's code cache for this bundle, when it has one (V8 checks that it fits the source).
  const cachedData = msg.cachedData ? bufferFrom(msg.cachedData, 'base64') : undefined;
  const script = new vm.Script(WRAP_HEAD + msg.code + WRAP_TAIL, { filename, cachedData });
  return { script, code: msg.code, filename };
}

function sourceMapOf(b: LoadedBundle): SourceMap | null {
  if (b.map !== undefined) return b.map;
  b.map = null;
  const m = /\/\/# sourceMappingURL=data:application\/json;(?:charset=utf-8;)?base64,([A-Za-z0-9+/=]+)\s*$/.exec(b.code);
  if (m && typeof SourceMap === 'function') {
    try {
      b.map = new SourceMap(JSON.parse(Buffer.from(m[1], 'base64').toString('utf8')));
    } catch {
      b.map = null;
    }
  }
  return b.map;
}

/** A stack without the frames of this worker and of Node's internals (they say nothing about the bot). */
function cleanStack(stack: string): string {
  const lines = stack.split('\n');
  const i = lines.findIndex((l) => /^\s+at /.test(l) && (/bot-worker\.js|node:internal|[\\/]runner[\\/]worker\.ts/.test(l)));
  return (i < 0 ? lines : lines.slice(0, i)).join('\n');
}

/** Rewrites `bot-bundle-<hash>.js:L:C` in a stack or message to the bot's own file:line:col. */
function remap(text: string, b: LoadedBundle | undefined, root: string): string {
  if (!b || !text.includes(b.filename)) return text;
  const map = sourceMapOf(b);
  const re = new RegExp(`${b.filename.replace(/[.]/g, '\\.')}:(\\d+):(\\d+)`, 'g');
  return text.replace(re, (all, l: string, c: string) => {
    if (!map) return all;
    const line = Number(l) - 1;
    const col = Number(c) - 1 - (line === 0 ? WRAP_HEAD.length : 0);
    const e = map.findEntry(line, Math.max(0, col)) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (!e || e.originalSource === undefined || e.originalLine === undefined) return all;
    let src = e.originalSource;
    try {
      if (src.startsWith('file:')) src = fileURLToPath(src);
    } catch {
      /* as it is */
    }
    return `${path.resolve(root, src)}:${e.originalLine + 1}:${(e.originalColumn ?? 0) + 1}`;
  });
}

// ---------------------------------------------------------------- formatting
// As console.log formats, but two levels deeper before `[Object]`.
const INSPECT: util.InspectOptions = { depth: 4, colors: false };

function isError(v: unknown): v is Error {
  return Object.prototype.toString.call(v) === '[object Error]' || v instanceof Error;
}

/** `util.format`-style, then remapped (stacks in logged errors point at the bot's lines). */
function fmt(run: ActiveRun | undefined, args: unknown[]): string {
  let s = util.formatWithOptions(INSPECT, ...args);
  if (s.includes('    at ')) s = s.split('\n').filter((l) => !/^\s+at .*(bot-worker\.js|node:internal)/.test(l)).join('\n');
  return run ? remap(s, run.bundle, run.msg.root) : s;
}

/** The return value as JSON text; what JSON cannot hold is described, never fatal. */
function toJsonText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (isHl7Message(value)) return JSON.stringify(String((value as { toString(): string }).toString()));
  const ancestors: unknown[] = [];
  const replacer = function (this: unknown, _key: string, v: unknown): unknown {
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'function') return `[Function: ${(v as { name?: string }).name || 'anonymous'}]`;
    if (typeof v === 'symbol') return v.toString();
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null) return v;
    if (isHl7Message(v)) return String((v as { toString(): string }).toString());
    if (isError(v)) return { error: v.name, message: v.message };
    if (v instanceof Map || Object.prototype.toString.call(v) === '[object Map]') return Object.fromEntries(v as Map<unknown, unknown>);
    if (v instanceof Set || Object.prototype.toString.call(v) === '[object Set]') return [...(v as Set<unknown>)];
    if (ArrayBuffer.isView(v)) return `[${v.constructor.name} ${v.byteLength} bytes]`;
    // Keep only the ancestors of this value: a repeated (non-circular) object is fine.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(v)) return '[Circular]';
    ancestors.push(v);
    return v;
  };
  try {
    const s = JSON.stringify(value, replacer);
    return s === undefined ? JSON.stringify(util.inspect(value, INSPECT)) : s;
  } catch (e) {
    return JSON.stringify(`[Unserializable ${typeof value}: ${(e as Error).message}] ${util.inspect(value, INSPECT)}`);
  }
}

function isHl7Message(v: unknown): boolean {
  if (!v || typeof v !== 'object') return false;
  const o = v as { segments?: unknown; constructor?: { name?: string }; toString?: unknown };
  if (coreModule && v instanceof coreModule.Hl7Message) return true;
  // Another copy of @medplum/core (bundled by the bot; its class names are minified): duck typing.
  return Array.isArray(o.segments) && typeof (o as { getSegment?: unknown }).getSegment === 'function' && typeof o.toString === 'function' && o.toString !== Object.prototype.toString;
}

// ---------------------------------------------------------------- classification
interface OutcomeLike {
  resourceType: 'OperationOutcome';
  issue?: { severity?: string; code?: string; details?: { text?: string }; diagnostics?: string }[];
}
function isOperationOutcome(v: unknown): v is OutcomeLike {
  return !!v && typeof v === 'object' && (v as { resourceType?: unknown }).resourceType === 'OperationOutcome';
}
function hasErrorIssue(o: OutcomeLike): boolean {
  return (o.issue ?? []).some((i) => i.severity === 'error' || i.severity === 'fatal');
}
function outcomeText(o: OutcomeLike): string {
  return (o.issue ?? []).map((i) => `${i.severity ?? 'error'} ${i.code ?? ''}: ${i.details?.text ?? i.diagnostics ?? ''}`.trim()).join('; ');
}
function outcomeStatus(o: OutcomeLike): number | undefined {
  try {
    return core().getStatus(o as never);
  } catch {
    return undefined;
  }
}

/**
 * 4 (client-error): an error carrying a 4xx status, or an OperationOutcome with an error issue
 * (unless that outcome maps to a 5xx status, like Medplum's serverError). Anything else: 8 (error).
 */
function classifyError(err: unknown, run: ActiveRun): WireFailure {
  const e = err as { status?: unknown; statusCode?: unknown; outcome?: unknown; message?: unknown; stack?: unknown } | null;
  let status: number | undefined;
  for (const s of [e?.status, e?.statusCode]) if (typeof s === 'number' && s >= 100 && s < 600) status = s;
  const outcome = isOperationOutcome(e?.outcome) ? e.outcome : isOperationOutcome(err) ? err : undefined;
  if (outcome && hasErrorIssue(outcome) && status === undefined) status = outcomeStatus(outcome) ?? 400;
  const message = isError(err) ? err.message : outcome ? outcomeText(outcome) : fmt(run, [err]);
  const stack = isError(err) && typeof err.stack === 'string' ? cleanStack(remap(err.stack, run.bundle, run.msg.root)) : undefined;
  const clientError = (status !== undefined && status >= 400 && status < 500) || (outcome !== undefined && hasErrorIssue(outcome) && (status ?? 400) < 500);
  return { kind: clientError ? 'client-error' : 'error', message: remap(message, run.bundle, run.msg.root), stack, status };
}

// ---------------------------------------------------------------- a run
interface ActiveRun {
  msg: RunMessage;
  bundle?: LoadedBundle;
  closed: boolean;
  timers: Set<NodeJS.Timeout>;
  immediates: Set<NodeJS.Immediate>;
  pendingRpc: Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>;
  nextCallId: number;
  stdoutBuf: { stdout: string; stderr: string };
  failure?: WireFailure;
  finish?: (d: Omit<DoneMessage, 't' | 'runId'>) => void;
}

let current: ActiveRun | undefined;

function emit(run: ActiveRun, level: LogLevel, text: string): void {
  if (run.closed) return;
  send({ t: 'log', runId: run.msg.runId, line: { time: new Date().toISOString(), level, text } });
}

function makeConsole(run: ActiveRun): Console {
  const counts = new Map<string, number>();
  const times = new Map<string, number>();
  let indent = '';
  const out = (level: LogLevel) => (...args: unknown[]) => {
    const text = fmt(run, args);
    emit(run, level, indent ? text.replace(/^/gm, indent) : text);
  };
  const tableText = (data: unknown, cols?: readonly string[]): string => {
    let s = '';
    const sink = new Writable({ write(chunk, _enc, cb) { s += String(chunk); cb(); } });
    new console.Console({ stdout: sink, stderr: sink, colorMode: false }).table(data, cols);
    return s.replace(/\n$/, '');
  };
  const c = {
    log: out('log'),
    info: out('info'),
    warn: out('warn'),
    error: out('error'),
    debug: out('debug'),
    dirxml: out('log'),
    trace: (...args: unknown[]) => {
      const stack = cleanStack(remap(new Error().stack ?? '', run.bundle, run.msg.root)).split('\n').slice(2).join('\n');
      emit(run, 'trace', `Trace: ${fmt(run, args)}\n${stack}`);
    },
    dir: (obj: unknown, options?: util.InspectOptions) => emit(run, 'log', indent + util.inspect(obj, { ...INSPECT, ...options })),
    table: (data: unknown, cols?: readonly string[]) => emit(run, 'log', tableText(data, cols)),
    assert: (cond: unknown, ...args: unknown[]) => {
      if (!cond) emit(run, 'error', `Assertion failed${args.length ? `: ${fmt(run, args)}` : ''}`);
    },
    count: (label = 'default') => {
      const n = (counts.get(label) ?? 0) + 1;
      counts.set(label, n);
      emit(run, 'info', `${indent}${label}: ${n}`);
    },
    countReset: (label = 'default') => void counts.delete(label),
    time: (label = 'default') => void times.set(label, performance.now()),
    timeLog: (label = 'default', ...args: unknown[]) => {
      const t = times.get(label);
      emit(run, 'info', `${indent}${label}: ${t === undefined ? 'no such label' : `${(performance.now() - t).toFixed(3)}ms`}${args.length ? ' ' + fmt(run, args) : ''}`);
    },
    timeEnd: (label = 'default') => {
      c.timeLog(label);
      times.delete(label);
    },
    group: (...args: unknown[]) => {
      if (args.length) out('log')(...args);
      indent += '  ';
    },
    groupCollapsed: (...args: unknown[]) => c.group(...args),
    groupEnd: () => void (indent = indent.slice(2)),
    timeStamp: () => undefined,
    profile: () => undefined,
    profileEnd: () => undefined,
  };
  return c as unknown as Console;
}

function makeStream(run: ActiveRun, which: 'stdout' | 'stderr'): NodeJS.WriteStream {
  const write = (chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
    const text = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? new TextDecoder().decode(chunk) : String(chunk);
    run.stdoutBuf[which] += text;
    let i: number;
    while ((i = run.stdoutBuf[which].indexOf('\n')) >= 0) {
      emit(run, which, remap(run.stdoutBuf[which].slice(0, i), run.bundle, run.msg.root));
      run.stdoutBuf[which] = run.stdoutBuf[which].slice(i + 1);
    }
    const callback = typeof enc === 'function' ? enc : cb;
    if (typeof callback === 'function') queueMicrotask(() => (callback as () => void)());
    return true;
  };
  const noop = function (this: unknown) {
    return this;
  };
  return { write, isTTY: false, columns: 120, rows: 40, fd: which === 'stdout' ? 1 : 2, on: noop, once: noop, off: noop, end: () => undefined } as unknown as NodeJS.WriteStream;
}

function flushStreams(run: ActiveRun): void {
  for (const which of ['stdout', 'stderr'] as const) {
    if (run.stdoutBuf[which]) emit(run, which, run.stdoutBuf[which]);
    run.stdoutBuf[which] = '';
  }
}

/** A stand-in for `process`: no host env, exit ends this run (and this worker) with kind `exit`. */
function makeProcess(run: ActiveRun): Record<string, unknown> {
  const noop = function (this: unknown) {
    return this;
  };
  const p: Record<string, unknown> = {
    env: { NODE_ENV: 'production' },
    // Its path is the run's: set when the run comes (a run's process and context are made ahead).
    argv: [process.execPath],
    execArgv: [],
    platform: process.platform,
    arch: process.arch,
    version: process.version,
    versions: process.versions,
    release: process.release,
    pid: process.pid,
    ppid: process.ppid,
    title: 'bot',
    exitCode: undefined,
    cwd: () => run.msg.root,
    chdir: () => {
      throw new Error('process.chdir() is not available to bots');
    },
    hrtime: process.hrtime,
    uptime: () => process.uptime(),
    memoryUsage: () => process.memoryUsage(),
    cpuUsage: () => process.cpuUsage(),
    nextTick: (fn: (...a: unknown[]) => void, ...a: unknown[]) => process.nextTick(() => !run.closed && fn(...a)),
    emitWarning: (w: unknown) => emit(run, 'warn', `Warning: ${fmt(run, [w])}`),
    on: noop,
    once: noop,
    off: noop,
    addListener: noop,
    removeListener: noop,
    removeAllListeners: noop,
    listeners: () => [],
    emit: () => false,
    stdout: makeStream(run, 'stdout'),
    stderr: makeStream(run, 'stderr'),
    exit: (code?: unknown) => {
      const c = typeof code === 'number' ? code : typeof p.exitCode === 'number' ? (p.exitCode as number) : 0;
      flushStreams(run);
      const failure: WireFailure = { kind: 'exit', message: `The bot called process.exit(${c})`, exitCode: c };
      run.closed = true;
      report({ t: 'done', runId: run.msg.runId, failure });
      realExit(c);
      // Unwind the bot's code; the worker ends as soon as the message is out.
      throw new ExitSignal(c);
    },
    abort: () => p.exit && (p.exit as (c: number) => never)(134),
    kill: () => {
      throw new Error('process.kill() is not available to bots');
    },
  };
  p.hrtime = Object.assign((t?: [number, number]) => process.hrtime(t), { bigint: () => process.hrtime.bigint() });
  return p;
}

class ExitSignal extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
  }
}

function makeTimers(run: ActiveRun) {
  const dead = setTimeout(() => undefined, 0);
  clearTimeout(dead);
  /** Runs a timer callback of this run; what it throws fails this run (never another one). */
  const guard = (fn: (...a: unknown[]) => void, a: unknown[]): void => {
    if (run.closed) return;
    try {
      fn(...a);
    } catch (e) {
      if (!(e instanceof ExitSignal)) failRun(run, 'Uncaught exception', e);
    }
  };
  return {
    setTimeout: (fn: (...a: unknown[]) => void, ms?: number, ...a: unknown[]) => {
      if (run.closed) return dead;
      const h = setTimeout(() => {
        run.timers.delete(h);
        guard(fn, a);
      }, ms);
      run.timers.add(h);
      return h;
    },
    clearTimeout: (h?: NodeJS.Timeout) => {
      if (!h) return;
      run.timers.delete(h);
      clearTimeout(h);
    },
    setInterval: (fn: (...a: unknown[]) => void, ms?: number, ...a: unknown[]) => {
      if (run.closed) return dead;
      const h = setInterval(() => guard(fn, a), ms);
      run.timers.add(h);
      return h;
    },
    clearInterval: (h?: NodeJS.Timeout) => {
      if (!h) return;
      run.timers.delete(h);
      clearInterval(h);
    },
    setImmediate: (fn: (...a: unknown[]) => void, ...a: unknown[]) => {
      const h = setImmediate(() => {
        run.immediates.delete(h);
        guard(fn, a);
      });
      run.immediates.add(h);
      return h;
    },
    clearImmediate: (h?: NodeJS.Immediate) => {
      if (!h) return;
      run.immediates.delete(h);
      clearImmediate(h);
    },
  };
}

const web = globalThis as unknown as Record<string, unknown>;
const getJson = new vm.Script('JSON');
const setGlobal = new vm.Script('globalThis.global = globalThis; globalThis.self = globalThis;');

function makeRequire(run: ActiveRun, proc: Record<string, unknown>): NodeJS.Require {
  const real = createRequire(run.msg.botPath);
  const req = ((id: string) => {
    if (id === 'process' || id === 'node:process') return proc;
    return real(id);
  }) as NodeJS.Require;
  req.resolve = real.resolve;
  req.cache = real.cache;
  return req;
}

function buildEvent(run: ActiveRun, ctx: vm.Context): unknown {
  const ctxJson = getJson.runInContext(ctx) as JSON;
  const { input, ...rest } = run.msg.event;
  const event = ctxJson.parse(JSON.stringify(rest)) as Record<string, unknown>;
  switch (input.kind) {
    case 'none':
      event.input = undefined;
      break;
    case 'json':
      event.input = ctxJson.parse(input.text);
      break;
    case 'text':
      event.input = input.text;
      break;
    case 'hl7':
      event.input = core().Hl7Message.parse(input.text);
      break;
  }
  return event;
}

/** A run without its message yet (it is made before the message comes, see `prepare`). */
function newRun(): ActiveRun {
  return {
    msg: undefined as unknown as RunMessage,
    closed: false,
    timers: new Set(),
    immediates: new Set(),
    pendingRpc: new Map(),
    nextCallId: 1,
    stdoutBuf: { stdout: '', stderr: '' },
  };
}

/**
 * What a run needs that its message does not change: its context with the bot's globals, its
 * `process`, console and timers, its channel to the host. Made while the process waits for its
 * run (before it says it is ready), so that the run itself does not pay for it.
 */
interface Prepared {
  run: ActiveRun;
  ctx: vm.Context;
  proc: Record<string, unknown>;
  hostFetch: HostFetch;
  /** The bot's MedplumClient (no default headers), and its trace ID's holder, set when the run comes. */
  medplum: ReturnType<typeof createLocalClient>;
  trace: { id: string };
}

function prepare(run: ActiveRun): Prepared {
  const proc = makeProcess(run);
  // A call to the host: written on the channel, this process blocks until the reply's line has come.
  const rpc: RpcCall = (method, args) =>
    new Promise((resolve, reject) => {
      if (run.closed) return reject(new Error('The run has ended'));
      const runId = run.msg.runId;
      const callId = run.nextCallId++;
      send({ t: 'rpc', runId, callId, method, args });
      for (;;) {
        const reply = decodeMessage(rehearsing ? rehearsalReply(runId, callId, args) : readLine()) as RpcResultMessage;
        if (reply?.t !== 'rpc-result' || reply.runId !== runId || reply.callId !== callId) continue;
        if (reply.ok) resolve(reply.value);
        else reject(rpcError(reply));
        return;
      }
    });
  // The bot's requests to the host's FHIR server.
  const hostFetch: HostFetch = (req) => rpc('fetch', [req]) as ReturnType<HostFetch>;
  const c = core();
  const ctx = vm.createContext({
    console: makeConsole(run),
    process: proc,
    ...makeTimers(run),
    queueMicrotask,
    Buffer,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    AbortController,
    AbortSignal,
    Event,
    EventTarget,
    MessageChannel,
    // As Medplum's vmcontext: fetch (requests to the local server's base URL go to it; set when
    // the run comes), the web streams and encoders, WebSocket, and @medplum/core's ContentType,
    // Hl7Message and MedplumClient (ours: its fetch goes to the local server).
    Headers: web.Headers,
    Request: web.Request,
    Response: web.Response,
    FormData: web.FormData,
    Blob,
    structuredClone,
    atob,
    btoa,
    crypto: web.crypto,
    performance,
    ReadableStream: web.ReadableStream,
    WritableStream: web.WritableStream,
    TransformStream: web.TransformStream,
    TextEncoderStream: web.TextEncoderStream,
    TextDecoderStream: web.TextDecoderStream,
    WebSocket: ensureWebSocket(),
    ContentType: c.ContentType,
    Hl7Message: c.Hl7Message,
    MedplumClient: localClientClass(c),
  });
  setGlobal.runInContext(ctx);
  const trace = { id: '' };
  return { run, ctx, proc, hostFetch, trace, medplum: createLocalClient(c, hostFetch, { traceId: trace }) };
}

/** Runs `msg` (in what `prepared` made for it ahead, when given). */
async function execute(msg: RunMessage, prepared?: Prepared): Promise<void> {
  const run = prepared?.run ?? newRun();
  run.msg = msg;
  current = run;
  const done = (d: Omit<DoneMessage, 't' | 'runId'>): void => {
    if (run.closed) return;
    flushStreams(run);
    run.closed = true;
    for (const h of run.timers) clearTimeout(h);
    for (const h of run.immediates) clearImmediate(h);
    for (const p of run.pendingRpc.values()) p.reject(new Error('The run has ended'));
    if (current === run) current = undefined;
    report({ t: 'done', runId: msg.runId, ...d });
    // One run per process: it ends here. Its thread waits for the host to kill it (once the run's
    // entry is written: a process exiting on its own meanwhile slows that write down).
    if (!rehearsing) awaitEnd();
  };
  run.finish = done;

  // Load: the run's context (made ahead), compile, evaluate, find the handler.
  let handler: (medplum: unknown, event: unknown) => unknown;
  let p: Prepared;
  try {
    p = prepared ?? prepare(run);
    const requireFn = makeRequire(run, p.proc);
    p.proc.argv = [process.execPath, msg.botPath];
    p.ctx.require = requireFn;
    p.ctx.fetch = makeLocalFetch(p.hostFetch, msg.event.traceId, web.fetch as typeof fetch);
    run.bundle = loadBundle(msg);
    const fn = run.bundle.script.runInContext(p.ctx) as (...a: unknown[]) => void;
    const mod: { exports: Record<string, unknown> } = { exports: {} };
    fn.call(mod.exports, mod.exports, requireFn, mod, msg.botPath, path.dirname(msg.botPath));
    const exp = mod.exports as { handler?: unknown; default?: { handler?: unknown } | ((...a: unknown[]) => unknown) };
    const h = exp.handler ?? (typeof exp.default === 'object' ? exp.default?.handler : undefined);
    if (typeof h !== 'function') {
      done({ failure: { kind: 'load', message: `The bot has no exported handler function (exports: ${Object.keys(exp).join(', ') || 'none'})` } });
      return;
    }
    handler = h as typeof handler;
  } catch (err) {
    if (err instanceof ExitSignal || run.closed) return;
    const message = isError(err) ? err.message : fmt(run, [err]);
    const stack = isError(err) && err.stack ? cleanStack(remap(err.stack, run.bundle, msg.root)) : undefined;
    done({ failure: { kind: 'load', message: `The bot could not be loaded: ${remap(message, run.bundle, msg.root)}`, stack } });
    return;
  }

  // Run.
  try {
    // The client made ahead, unless the run asks for default headers (made with them, then).
    const { traceId, defaultHeaders } = msg.event;
    let medplum = p.medplum;
    if (defaultHeaders && Object.keys(defaultHeaders).length) medplum = createLocalClient(core(), p.hostFetch, { traceId, defaultHeaders });
    else {
      p.trace.id = traceId;
      startLocalClient(medplum, traceId);
    }
    const event = buildEvent(run, p.ctx);
    const result = await handler(medplum, event);
    // Let unhandled rejections of this run surface before it is reported as done.
    await new Promise((r) => setImmediate(r));
    if (run.closed) return;
    if (run.failure) return done({ failure: run.failure });
    if (isOperationOutcome(result) && hasErrorIssue(result)) {
      const f = classifyError({ outcome: result, message: outcomeText(result) }, run);
      return done({ returnValue: toJsonText(result), failure: { ...f, message: `Returned ${outcomeText(result)}` } });
    }
    if (isError(result)) {
      const f = classifyError(result, run);
      return done({ returnValue: toJsonText(result), failure: { ...f, message: `Returned an error: ${f.message}` } });
    }
    done({ returnValue: toJsonText(result) });
  } catch (err) {
    if (err instanceof ExitSignal || run.closed) return;
    done({ failure: classifyError(err, run) });
  }
}

/** Ends `run` with an error that escaped the handler (as Node would end the process). */
function failRun(run: ActiveRun, kind: string, reason: unknown): void {
  if (run.closed) return;
  const f = classifyError(reason, run);
  const message = `${kind}: ${f.message}`;
  emit(run, 'error', `${message}${f.stack ? `\n${f.stack}` : ''}`);
  run.failure ??= { kind: 'error', message, stack: f.stack };
  run.finish?.({ failure: run.failure });
}

function unhandled(kind: string) {
  return (reason: unknown): void => {
    if (reason instanceof ExitSignal) return;
    const run = current;
    if (!run || run.closed) return;
    // Left over from an earlier run of another bot (its stack names another bundle): not this run's.
    const stack = isError(reason) && typeof reason.stack === 'string' ? reason.stack : '';
    const bundles = stack.match(/bot-bundle-[0-9a-f]{12}\.js/g);
    if (bundles && run.bundle && !bundles.includes(run.bundle.filename)) return;
    failRun(run, kind, reason);
  };
}
process.on('unhandledRejection', unhandled('Unhandled promise rejection'));
process.on('uncaughtException', unhandled('Uncaught exception'));

function rpcError(m: RpcResultMessage): Error {
  return Object.assign(new Error(m.error?.message ?? 'Medplum call failed'), { status: m.error?.status, outcome: m.error?.outcome });
}

// ---------------------------------------------------------------- the sandbox, checked and closed
/**
 * Checks that Node's permission model is in force as the host asked (no write anywhere but the
 * granted paths, child processes only with the opt-in, no workers), and takes away what the model
 * leaves open and a bot has no use for. Throws when the sandbox is not there.
 */
function closeSandbox(expected: { childProcess?: boolean; fsWrite?: string[]; inspector?: boolean | 'wait' }): void {
  const perm = (process as unknown as { permission?: { has(scope: string, ref?: string): boolean } }).permission;
  if (!perm) throw new Error(`Node's permission model is not in force in this process (Node ${process.versions.node}${process.versions.electron ? `, Electron ${process.versions.electron}` : ''})`);
  const nowhere = path.join(path.parse(process.cwd()).root, 'bot-audit-sandbox-probe', String(process.pid));
  if (perm.has('fs.write', nowhere) || perm.has('fs.read', nowhere)) throw new Error('the sandbox grants reads or writes it should not');
  if (perm.has('child') !== !!expected.childProcess) throw new Error('the sandbox grants child processes it should not');
  if (perm.has('worker')) throw new Error('the sandbox grants worker threads it should not');
  // The inspector only in a run started for debugging (the host's --allow-inspector, where Node has it).
  if (!expected.inspector && perm.has('inspector')) throw new Error('the sandbox grants the inspector it should not');
  // Signals: the model does not cover process.kill, so a bot could signal the host (its parent).
  const denied = (what: string) =>
    function () {
      throw Object.assign(new Error(`${what} is not available to bots`), { code: 'ERR_ACCESS_DENIED' });
    };
  const lock = (obj: object, key: string, what: string): void => {
    try {
      Object.defineProperty(obj, key, { value: denied(what), writable: false, configurable: false, enumerable: false });
    } catch {
      /* already locked */
    }
  };
  lock(process, 'kill', 'process.kill()');
  lock(process, '_kill', 'process._kill()');
  lock(process, 'dlopen', 'process.dlopen()');
  lock(process, 'execve', 'process.execve()');
  // Other processes' priority, and V8's flags after start-up (e.g. natives syntax).
  // (The modules themselves, as a bot's require() gets them, not this bundle's import wrappers.)
  /* eslint-disable @typescript-eslint/no-require-imports */
  lock(require('node:os') as object, 'setPriority', 'os.setPriority()');
  lock(require('node:v8') as object, 'setFlagsFromString', 'v8.setFlagsFromString()');
  /* eslint-enable @typescript-eslint/no-require-imports */
  // In a debug run, the inspector is the debugger's (on its port), not the bot's: a session of its
  // own would let the bot's code drive the inspector from inside.
  if (expected.inspector) {
    for (const id of ['node:inspector', 'node:inspector/promises']) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(id) as Record<string, unknown>;
        for (const k of Object.keys(mod)) if (k !== 'console') lock(mod, k, `${id}'s ${k}`);
      } catch {
        /* not there */
      }
    }
  }
  // node:sqlite writes files without asking the permission model (started with --no-experimental-sqlite where
  // the flag exists); where it still loads, it is taken away.
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sqlite = require('node:sqlite') as Record<string, unknown>;
    for (const k of Object.keys(sqlite)) lock(sqlite, k, `node:sqlite's ${k}`);
  } catch {
    /* not there: good */
  }
}

if (process.argv[2] === '--bot-audit-sandbox') {
  try {
    closeSandbox(JSON.parse(process.argv[3] ?? '{}') as { childProcess?: boolean; fsWrite?: string[]; inspector?: boolean | 'wait' });
    // Every run needs @medplum/core (the bot's MedplumClient): loaded before the process is ready.
    core();
  } catch (e) {
    process.stderr.write(`The bot sandbox could not start: ${(e as Error).message}\n`);
    realExit(78);
  }
  // A rehearsal: a run of a built-in bot (no bot code) that takes the paths a real run takes (its
  // message decoded, a context made ahead, the bundle compiled, console output,
  // Medplum calls through the client and the channel's encoding, answered here, the sealed
  // report encoded), so that this process's real run does not pay for compiling the runner's own
  // code on first use. Then the real run's context is made, "ready", and the process blocks on
  // its channel until its run comes.
  rehearsing = true;
  let rehearsal: RunMessage | undefined;
  try {
    rehearsal = parseRun(encodeMessage(rehearsalMessage()).slice(0, -1));
  } catch {
    rehearsal = undefined;
  }
  const ready = (): void => {
    rehearsing = false;
    runSeal = '';
    current = undefined;
    let next: Prepared | undefined;
    try {
      next = prepare(newRun());
    } catch {
      next = undefined; // made with the run instead, where a failure is the run's
    }
    collectGarbage?.();
    send({ t: 'ready' });
    takeRun(next);
  };
  if (!rehearsal) ready();
  else
    execute(rehearsal).then(
      () => setImmediate(ready),
      () => setImmediate(ready),
    );
}

/** The rehearsal's run message. */
function rehearsalMessage(): RunMessage {
  const code =
    'exports.handler = async (medplum, event) => {\n' +
    '  console.log("x", event.input, [1, "two"], new Error("e").message);\n' +
    '  for (let i = 0; i < 3; i++) {\n' +
    '    const p = await medplum.createResource({ resourceType: "Patient", name: [{ family: "R" + i }] });\n' +
    '    await medplum.readResource("Patient", p.id);\n' +
    '    await medplum.updateResource({ ...p, active: true });\n' +
    '    await medplum.searchResources("Patient", "name=R");\n' +
    '    await medplum.deleteResource("Patient", p.id);\n' +
    '  }\n' +
    '  return { ok: typeof medplum.readResource, n: event.input.a };\n' +
    '};';
  return {
    t: 'run',
    runId: 'rehearsal',
    hash: '0000000000000000',
    code,
    botPath: path.join(process.cwd(), 'rehearsal.js'),
    root: process.cwd(),
    tmpDir: process.cwd(),
    seal: 'rehearsal',
    event: {
      bot: { reference: 'Bot/rehearsal', display: 'rehearsal' },
      contentType: 'application/json',
      input: { kind: 'json', text: '{"a":1}' },
      secrets: {},
      traceId: '00000000-0000-4000-8000-000000000000',
      requester: { reference: 'Practitioner/rehearsal', display: 'rehearsal' },
      headers: {},
      baseUrl: LOCAL_BASE_URL,
      defaultHeaders: {},
    },
  };
}

/** The host's answer to a request of the rehearsal, as its line (no host is asked). */
function rehearsalReply(runId: string, callId: number, args: unknown[]): string {
  const req = (args[0] ?? {}) as { method?: string; url?: string; body?: unknown };
  const resource = { resourceType: 'Patient', id: 'rehearsal', meta: { versionId: String(callId), lastUpdated: new Date().toISOString() } };
  let status = 200;
  let body: string;
  if (req.method === 'POST' || req.method === 'PUT') {
    body = JSON.stringify({ ...(typeof req.body === 'string' ? (JSON.parse(req.body) as object) : {}), ...resource });
    if (req.method === 'POST') status = 201;
  } else if (req.method === 'DELETE') {
    body = JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', details: { text: 'Deleted' } }] });
  } else if (req.url?.includes('?')) {
    body = JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [{ fullUrl: `${LOCAL_BASE_URL}fhir/R4/Patient/rehearsal`, resource }] });
  } else {
    body = JSON.stringify(resource);
  }
  const headers = { 'content-type': 'application/fhir+json; charset=utf-8', etag: `W/"${callId}"` };
  const line = encodeMessage({ t: 'rpc-result', runId, callId, ok: true, value: { status, headers, body } });
  return line.slice(0, -1);
}

/** A run message from its line; the process ends when it is none. Takes its seal (kept here only). */
function parseRun(line: string): RunMessage {
  let msg: RunMessage | undefined;
  try {
    msg = decodeMessage(line) as RunMessage;
  } catch {
    msg = undefined;
  }
  if (msg?.t !== 'run' || typeof msg.seal !== 'string' || !msg.seal) realExit(2);
  runSeal = msg!.seal;
  msg!.seal = '';
  return msg!;
}

function takeRun(prepared: Prepared | undefined): void {
  const msg = parseRun(readLine());
  if (waitForDebugger) {
    send({ t: 'waiting' });
    waitForDebugger();
    send({ t: 'attached' });
  }
  // A bot that awaits forever keeps its process until the host's timeout (as in Medplum), not until its event loop is empty.
  setInterval(() => undefined, 1 << 30);
  void execute(msg, prepared);
}

if (process.argv[2] === '--bot-audit-sandbox') {
  /* started above */
} else if (process.argv[2] === '--write-search-definitions' && process.argv[3]) {
  // Build step: `node dist/bot-worker.js --write-search-definitions dist/fhir` writes the search
  // parameter bundles and the trimmed structure definitions that a packaged extension ships.
  writeSearchDefinitions(path.resolve(process.argv[3]));
  console.log(`wrote FHIR search definitions to ${process.argv[3]}`);
} else {
  console.error('bot-worker.js runs as a sandboxed process started by the Bot Audit runner');
  process.exitCode = 2;
}
