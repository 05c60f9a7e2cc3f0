// The one message protocol between the extension host and the audit-log webview.
// Imported by both sides: keep it free of `vscode` and of the DOM.
//
//   webview → host: commands (fire and forget) and requests (carry `requestId`, get one reply)
//   host → webview: notifications, and replies to requests
// The webview says `ready` before the host sends anything.

/** One audit-log row as the table shows it. Every string here is untrusted text. */
export interface EntryRow {
  id: number;
  user: string;
  action: string;
  entityName: string;
  entityId: string;
  /** Recorded time, UTC milliseconds. */
  recorded: number;
  bot?: string;
  outcome?: number;
  outcomeName?: string;
  outcomeDescFirstLine?: string;
}

/** Which page this is: the whole log, or one bot's events with Medplum's Event-tab columns. */
export type LogVariant = { kind: 'log' } | { kind: 'botEvents'; bot: string };

export interface LogState {
  /** Where the log lives, for the header (a path or a name). */
  source: string;
  variant: LogVariant;
  /** The query text the rows answer. */
  query: string;
  /** Why the query text is not valid; the rows are the last valid query's. */
  queryError?: string;
  entries: EntryRow[];
  total: number;
  /** Shown instead of the table when the log cannot be read. */
  error?: string;
}

// ---- webview → host
export interface ReadyCommand {
  type: 'ready';
}
export interface RefreshCommand {
  type: 'refresh';
}
export interface ShowLogCommand {
  type: 'showLog';
}
export interface SetQueryCommand {
  type: 'setQuery';
  query: string;
}
export type WebviewCommand = ReadyCommand | RefreshCommand | ShowLogCommand | SetQueryCommand;

// ---- host → webview
export interface StateNotification {
  type: 'state';
  state: LogState;
}
export type HostNotification = StateNotification;

const COMMAND_TYPES: ReadonlySet<string> = new Set<WebviewCommand['type']>(['ready', 'refresh', 'showLog', 'setQuery']);

/** Type guard for what the host receives: anything else is dropped with a log line. */
export function isWebviewCommand(msg: unknown): msg is WebviewCommand {
  if (typeof msg !== 'object' || msg === null || !COMMAND_TYPES.has((msg as { type?: unknown }).type as string)) return false;
  const m = msg as { type: string; query?: unknown };
  return m.type !== 'setQuery' || typeof m.query === 'string';
}

/** Type guard for what the webview receives. */
export function isHostNotification(msg: unknown): msg is HostNotification {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'state';
}
