// Types shared by the runner's host side and its worker. Imports nothing at runtime.
import type { AuditEventDestination, AuditEventTrigger } from '../bots/config';

export type RunOutcome = 0 | 4 | 8 | 12;

/** Why a run failed, beside its outcome code. */
export type FailureKind =
  | 'bad-input' // 4: the input did not parse for its content type
  | 'client-error' // 4: 4xx error or an OperationOutcome with an error issue
  | 'error' // 8: anything else thrown / rejected / returned as an Error
  | 'timeout' // 8
  | 'cancelled' // 8
  | 'compile' // 12: esbuild could not bundle it
  | 'load' // 12: evaluating the bundle threw, or it has no `handler` export
  | 'exit' // 12: process.exit
  | 'out-of-memory' // 12
  | 'crash'; // 12: the worker / process died otherwise

export const FAILURE_OUTCOME: Record<FailureKind, RunOutcome> = {
  'bad-input': 4,
  'client-error': 4,
  error: 8,
  timeout: 8,
  cancelled: 8,
  compile: 12,
  load: 12,
  exit: 12,
  'out-of-memory': 12,
  crash: 12,
};

export const OUTCOME_DISPLAY: Record<RunOutcome, string> = {
  0: 'Success',
  4: 'Minor failure',
  8: 'Serious failure',
  12: 'Major failure',
};

export type LogLevel = 'log' | 'info' | 'warn' | 'error' | 'debug' | 'trace' | 'stdout' | 'stderr';

/** One captured line of output. */
export interface LogLine {
  /** ISO time. */
  time: string;
  level: LogLevel;
  text: string;
}

/** `2026-11-23T16:30:00.123Z [warn] text` */
export function formatLogLine(l: LogLine): string {
  return `${l.time} [${l.level}] ${l.text}`;
}

/** A reference to the bot, as Medplum passes `event.bot`. */
export interface BotReference {
  reference: string;
  display?: string;
}

/** The minimal audit store the runner writes to (the real one is src/core/store's AuditStore). */
export interface AuditSink {
  append(e: AuditEntryInput): Promise<{ id: number }>;
  /** Used for group commits of change entries when present (the AuditStore has it). */
  appendBatch?(es: AuditEntryInput[]): Promise<{ id: number }[]>;
}

/** The fields the runner and the local Medplum client append (a subset of the store's NewEntry). */
export interface AuditEntryInput {
  user: string;
  action: 'CREATED' | 'UPDATED' | 'DELETED' | 'EXECUTED';
  entityName: string;
  entityId: string;
  bot?: string;
  outcome?: RunOutcome;
  failureKind?: string;
  outcomeDesc?: string;
  periodStart?: number;
  periodEnd?: number;
  traceId?: string;
  contentType?: string;
  /** The input as text: JSON text for JSON content types, else the text itself. */
  input?: string;
  /** The return value as JSON text. */
  returnValue?: string;
  before?: unknown;
  after?: unknown;
  replayOf?: number;
  /** For a change made by a bot: the person who ran it (the store keeps it once it has the field). */
  onBehalfOf?: string;
}

export interface RunSettings {
  /** Seconds. */
  timeout: number;
  memoryLimitMb: number;
  auditEventTrigger: AuditEventTrigger;
  auditEventDestination: AuditEventDestination[];
}
