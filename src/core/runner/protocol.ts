// Messages between the runner (host) and its worker (a worker thread, or a child process).
import type { LogLine } from './types';
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
  /** Content hash of the bundle; `code` is sent only the first time a worker sees it. */
  hash: string;
  code?: string;
  /** The bot's absolute path (for `require` of externals, `__filename`). */
  botPath: string;
  /** Workspace root: sources in the bundle's source map are relative to it. */
  root: string;
  event: WireEvent;
}

export interface RpcResultMessage {
  t: 'rpc-result';
  runId: string;
  callId: number;
  ok: boolean;
  value?: unknown;
  error?: { message: string; status?: number; outcome?: unknown };
  /** Reply to a synchronous call (sent on the call port, then the shared flag is raised). */
  sync?: boolean;
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
  /** JSON text of the return value (described when it cannot be serialized). */
  returnValue?: string;
  failure?: WireFailure;
}

export type WorkerToHost =
  | { t: 'ready' }
  | { t: 'log'; runId: string; line: LogLine }
  | { t: 'rpc'; runId: string; callId: number; method: string; args: unknown[]; sync?: boolean }
  /** Thread mode: the port and shared flag for synchronous calls (sent once, before ready). */
  | { t: 'rpc-port'; port: import('node:worker_threads').MessagePort; flag: SharedArrayBuffer }
  | DoneMessage;

/** The synchronous-call buffer: ints [state, reply length], then the reply's UTF-8 JSON. */
export const SYNC_HEADER_INTS = 2;
export const SYNC_BUFFER_BYTES = 256 * 1024;
/** States of the buffer's first int. */
export const SYNC_WAITING = 0;
export const SYNC_ON_PORT = 1;
export const SYNC_IN_BUFFER = 2;
