// Messages between the runner (host) and a bot's process, and how they travel.
//
// The channel is the bot process's file descriptor 3 (a socket pair): one JSON message per line
// each way. Bytes (Uint8Array, ArrayBuffer) travel as {"$bytes": "<base64>"}. The bot process
// writes and reads it with blocking fs calls, so a call to the host (the bot's Medplum client) is
// synchronous there: write the request, block until the reply's line has come. The host reads
// with a stream and trusts nothing it reads: see `parseWorkerLine`.
import type { LogLine, LogLevel } from './types';
import type { WireInput } from './input';

export interface WireEvent {
  bot: { reference: string; display?: string };
  contentType: string;
  input: WireInput;
  secrets: Record<string, { name: string; valueString: string }>;
  traceId: string;
  requester?: { reference: string; display?: string };
  headers?: Record<string, string>;
  /** The local FHIR server's base URL (the bot's client talks to it). */
  baseUrl: string;
  defaultHeaders: Record<string, string>;
}

export interface RunMessage {
  t: 'run';
  runId: string;
  /** Content hash of the bundle. */
  hash: string;
  code: string;
  /** V8's code cache for the bundle, made by the host (never by a bot process), base64. */
  cachedData?: string;
  /** The bot's absolute path (for `require` of externals, `__filename`). */
  botPath: string;
  /** Workspace root: sources in the bundle's source map are relative to it. */
  root: string;
  /** The run's own temporary folder (the only place it may write by default). */
  tmpDir: string;
  /**
   * A secret of this run (random, 128 bits): the runner's code in the bot's process puts it on its
   * report, and the host takes only the report that carries it. Bot code never sees it, so a line a
   * bot writes on the channel cannot pass for the report.
   */
  seal: string;
  event: WireEvent;
}

export interface RpcResultMessage {
  t: 'rpc-result';
  runId: string;
  callId: number;
  ok: boolean;
  value?: unknown;
  error?: { message: string; status?: number; outcome?: unknown };
}

export type HostToWorker = RunMessage | RpcResultMessage;

export interface WireFailure {
  kind: 'client-error' | 'error' | 'load' | 'exit';
  message: string;
  /** The stack, remapped to the bot's own files and lines. */
  stack?: string;
  status?: number;
  exitCode?: number;
}

export interface DoneMessage {
  t: 'done';
  runId: string;
  /** The run's seal (see RunMessage.seal); set on the wire by `encodeReport`. */
  seal?: string;
  /** JSON text of the return value (described when it cannot be serialized). */
  returnValue?: string;
  failure?: WireFailure;
}

export type WorkerToHost =
  | { t: 'ready' }
  /** A debug process has its run message and waits for its debugger (before any of the run's code). */
  | { t: 'waiting' }
  /** A debug process's debugger has attached and let it go on: the run starts now. */
  | { t: 'attached' }
  | { t: 'log'; runId: string; line: LogLine }
  | { t: 'rpc'; runId: string; callId: number; method: string; args: unknown[] }
  | DoneMessage;

/** The most a single line from a bot process may hold (a return value, one log line, a request). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

// Taken when this module loads (before any bot code runs in a bot process): a bot that patches
// JSON or Buffer later does not change how its process's report is written.
const jsonStringify = JSON.stringify;
const jsonParse = JSON.parse;
const bufferFrom = Buffer.from;

function bytesReplacer(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const raw = this[key];
  if (raw instanceof Uint8Array) return { $bytes: bufferFrom(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  if (raw instanceof ArrayBuffer) return { $bytes: bufferFrom(raw).toString('base64') };
  return v;
}

/**
 * Whether a message may hold bytes (then the replacer is needed: it makes JSON.stringify several
 * times slower, and a bot's Medplum calls send and receive one message each way). Deep values are
 * taken to hold bytes; a message's own values (requests, replies, log lines) are shallow.
 */
function mayHoldBytes(v: unknown, depth: number): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (v instanceof Uint8Array || v instanceof ArrayBuffer || depth > 8) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (mayHoldBytes(v[i], depth + 1)) return true;
    return false;
  }
  for (const k in v) if (mayHoldBytes((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/** JSON text of a message, one line, bytes as {"$bytes": base64}. */
export function encodeMessage(m: unknown): string {
  return (mayHoldBytes(m, 0) ? jsonStringify(m, bytesReplacer) : jsonStringify(m)) + '\n';
}

const apply = Reflect.apply;
const strSlice = String.prototype.slice;

/**
 * The report line of a run, sealed. The seal is joined to the JSON text by string concatenation
 * only, never handed to a function a bot could have replaced (JSON's toJSON and replacer hooks,
 * Symbol.hasInstance, String.prototype methods are all reachable from bot code in its process).
 */
export function encodeReport(done: Omit<DoneMessage, 'seal'>, seal: string): string {
  const body: string = encodeMessage(done); // '{"t":"done",…}\n' (its own key order: t first)
  return '{"seal":"' + seal + '",' + (apply(strSlice, body, [1]) as string);
}

const strIncludes = String.prototype.includes;

/** Parses one line; {"$bytes"} comes back as a Uint8Array. Throws on bad JSON. */
export function decodeMessage(line: string): unknown {
  // Without the reviver when no key can be "$bytes" (written plainly or with \u escapes): several
  // times faster.
  if (!apply(strIncludes, line, ['$bytes']) && !apply(strIncludes, line, ['\\u'])) return jsonParse(line);
  return jsonParse(line, (_k, v: unknown) => {
    if (v && typeof v === 'object' && typeof (v as { $bytes?: unknown }).$bytes === 'string' && Object.keys(v).length === 1) {
      const b = bufferFrom((v as { $bytes: string }).$bytes, 'base64');
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    return v;
  });
}

const LEVELS: ReadonlySet<string> = new Set<LogLevel>(['log', 'info', 'warn', 'error', 'debug', 'trace', 'stdout', 'stderr']);
const KINDS: ReadonlySet<string> = new Set(['client-error', 'error', 'load', 'exit']);
const isStr = (v: unknown): v is string => typeof v === 'string';
const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';

/**
 * A line from a bot process as a message, or why it is not one. Only the shapes above pass, with
 * the types they declare (a bot process may write anything on its channel).
 */
export function parseWorkerLine(line: string): { ok: true; m: WorkerToHost } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = decodeMessage(line);
  } catch {
    return { ok: false, reason: `a line that is not JSON (${JSON.stringify(line.slice(0, 60))})` };
  }
  const m = v as Record<string, unknown>;
  const bad = (what: string): { ok: false; reason: string } => ({ ok: false, reason: `a malformed ${what} message` });
  if (!m || typeof m !== 'object' || Array.isArray(m)) return { ok: false, reason: 'a message that is not an object' };
  switch (m.t) {
    case 'ready':
      return { ok: true, m: { t: 'ready' } };
    case 'waiting':
      return { ok: true, m: { t: 'waiting' } };
    case 'attached':
      return { ok: true, m: { t: 'attached' } };
    case 'log': {
      const l = m.line as Record<string, unknown> | undefined;
      if (!isStr(m.runId) || !l || typeof l !== 'object' || !isStr(l.text) || !isStr(l.level) || !LEVELS.has(l.level)) return bad('log');
      // The host stamps the time itself.
      return { ok: true, m: { t: 'log', runId: m.runId, line: { time: new Date().toISOString(), level: l.level as LogLevel, text: l.text } } };
    }
    case 'rpc':
      if (!isStr(m.runId) || !Number.isSafeInteger(m.callId) || !isStr(m.method) || !Array.isArray(m.args)) return bad('rpc');
      return { ok: true, m: { t: 'rpc', runId: m.runId, callId: m.callId as number, method: m.method, args: m.args } };
    case 'done': {
      if (!isStr(m.runId) || !optStr(m.returnValue)) return bad('done');
      const f = m.failure as Record<string, unknown> | undefined;
      if (f !== undefined) {
        if (!f || typeof f !== 'object' || !isStr(f.kind) || !KINDS.has(f.kind) || !isStr(f.message) || !optStr(f.stack)) return bad('done');
        if (f.exitCode !== undefined && !Number.isInteger(f.exitCode)) return bad('done');
        if (f.status !== undefined && typeof f.status !== 'number') return bad('done');
      }
      if (!optStr(m.seal)) return bad('done');
      const failure = f && ({ kind: f.kind, message: f.message, stack: f.stack, status: f.status, exitCode: f.exitCode } as WireFailure);
      return { ok: true, m: { t: 'done', runId: m.runId, seal: m.seal as string | undefined, returnValue: m.returnValue as string | undefined, failure } };
    }
    default:
      return { ok: false, reason: `a message of unknown type ${JSON.stringify(String(m.t)).slice(0, 40)}` };
  }
}
