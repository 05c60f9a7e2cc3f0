// Types shared by the runner's host side and its worker.
import { OUTCOME_NAMES, type NewEntry, type Outcome } from '../store/types';

/** The run outcomes are the store's: 0, 4, 8, 12. */
export type RunOutcome = Outcome;

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

/** Display names of the outcomes (one table, the store's). */
export const OUTCOME_DISPLAY: Record<RunOutcome, string> = OUTCOME_NAMES;

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

/** The minimal audit store the runner writes to (any AuditLog of src/core/store/api.ts has it). */
export interface AuditSink {
  append(e: AuditEntryInput): Promise<{ id: number }>;
  /** Used for group commits of change entries when present (the AuditStore has it). */
  appendBatch?(es: AuditEntryInput[]): Promise<{ id: number }[]>;
}

/**
 * What the runner and the local Medplum client append: the store's entry, limited to the actions a
 * run produces. `input` is JSON text for JSON content types, else the text; `returnValue` is JSON text.
 */
export type AuditEntryInput = Omit<NewEntry, 'action' | 'recorded'> & { action: 'CREATED' | 'UPDATED' | 'DELETED' | 'EXECUTED' };
