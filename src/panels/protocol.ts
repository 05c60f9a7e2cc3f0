// The one message protocol between the extension host and the audit-log webview.
// Imported by both sides: keep it free of `vscode` and of the DOM.
//
//   webview → host: commands. `query`, `rows` and `detail` carry a sequence number the answer repeats,
//                   so the page can drop answers to questions it no longer asks.
//   host → webview: notifications and answers.
// The webview says `ready` before the host sends anything. All data arrives by message; every
// string in it is untrusted text.

import type { Entry } from '../core/store/types';

/** One audit-log row as the table shows it: the entry's fields that the table has columns for. */
export interface EntryRow extends Pick<Entry, 'id' | 'user' | 'action' | 'entityName' | 'entityId' | 'recorded' | 'bot' | 'outcome' | 'onBehalfOf'> {
  outcomeName?: string;
  /** The first line of the outcome description, without its log timestamp. */
  outcomeDescFirstLine?: string;
}

/** Everything about one entry, for the detail pane and the quick view: every field of the entry. */
export interface EntryDetail extends EntryRow, Omit<Entry, 'before' | 'after'> {
  /** The snapshots, as JSON text (undefined when there is none). */
  before?: string;
  after?: string;
}

/**
 * Which page this is: the whole log, one bot's events (Medplum's Event-tab columns), or the
 * history of one entity (oldest first, any two versions comparable).
 */
export type LogVariant =
  | { kind: 'log' }
  | { kind: 'botEvents'; bot: string; query: string }
  | { kind: 'history'; entityName: string; entityId: string };

export type SortOrder = 'desc' | 'asc';

/** Which log a page reads: this workspace's own, or the team log it is replicated into. */
export type LogName = 'local' | 'team';

/** Values the filter dropdowns offer. */
export interface Choices {
  users: string[];
  actions: string[];
  entityNames: string[];
  bots: string[];
}
export const EMPTY_CHOICES: Readonly<Choices> = Object.freeze({ users: [], actions: [], entityNames: [], bots: [] });

/** What the page keeps across reloads (`vscode.setState`): filters, sort, layout. Never data. */
export interface PageState {
  variant: LogVariant;
  query: string;
  order: SortOrder;
  /** Column key → width in px. */
  widths: Record<string, number>;
  hidden: string[];
  utc: boolean;
  detailOpen: boolean;
  detailWidth: number;
  showUnchanged: boolean;
  /** The selected entry, for permalinks and reloads. */
  selected?: number;
  /** Which log the page read (absent: the local one). */
  log?: LogName;
}

// ---- webview → host
export interface ReadyCommand {
  type: 'ready';
}
/** Run a query: the answer is a `result` with the first page. */
export interface QueryCommand {
  type: 'query';
  seq: number;
  query: string;
  order: SortOrder;
  /** Select this entry in the answer (and say where it is). */
  select?: number;
}
/** Rows by position in the current result; the answer is `rows`. */
export interface RowsCommand {
  type: 'rows';
  seq: number;
  start: number;
  count: number;
}
export interface DetailCommand {
  type: 'detail';
  id: number;
}
export interface ExportCommand {
  type: 'export';
  format: 'csv' | 'ndjson' | 'fhir';
  query: string;
}
export interface CopyLinkCommand {
  type: 'copyLink';
  query: string;
  entry?: number;
}
export interface OpenSourceCommand {
  type: 'openSource';
  path: string;
  line: number;
  column?: number;
}
export interface OpenHistoryCommand {
  type: 'openHistory';
  entityName: string;
  entityId: string;
}
export interface ShowLogCommand {
  type: 'showLog';
}
/** Read the other log (the Local / Team switch); the answer is an `init`. */
export interface SwitchLogCommand {
  type: 'switchLog';
  log: LogName;
}
export type WebviewCommand =
  | ReadyCommand
  | QueryCommand
  | RowsCommand
  | DetailCommand
  | ExportCommand
  | CopyLinkCommand
  | OpenSourceCommand
  | OpenHistoryCommand
  | ShowLogCommand
  | SwitchLogCommand;

// ---- host → webview
/** Sent after `ready` and whenever a command or link changes what the page shows. */
export interface InitNotification {
  type: 'init';
  variant: LogVariant;
  /** Which log the page reads now. */
  log: LogName;
  /** The team log (its URL, no password) when one is set: the page then offers the Local / Team switch. */
  teamLog?: string;
  /** Where the log lives, for the footer. The dropdowns' values follow in a `choices` message. */
  source: string;
  /** A query the page must show (from a command or a link); otherwise it keeps its own. */
  query?: string;
  order?: SortOrder;
  select?: number;
  /** Shown instead of the table when there is no log to read. */
  error?: string;
  /** The editor's time-zone setting: the page starts with it until the user toggles. */
  utc: boolean;
}
export interface ResultNotification {
  type: 'result';
  seq: number;
  query: string;
  order: SortOrder;
  /** Why the query is not valid; the page keeps its last valid rows. */
  queryError?: string;
  /** The number of matches; with `counting`, only a lower bound (the rows in `first`) until a `total` comes. */
  total: number;
  counting?: boolean;
  /** Entries logged since the whole log had this many; for "N new entries". */
  logSize: number;
  first: EntryRow[];
  /** Where `select` is in the result, when it is. */
  selectedIndex?: number;
  error?: string;
}
/** The count of a result that came `counting`. */
export interface TotalNotification {
  type: 'total';
  seq: number;
  total: number;
}
export interface RowsNotification {
  type: 'rows';
  seq: number;
  start: number;
  rows: EntryRow[];
}
export interface DetailNotification {
  type: 'detail';
  id: number;
  entry?: EntryDetail;
  error?: string;
}
/** New entries match the current query; the page shows them or offers a pill. */
export interface NewEntriesNotification {
  type: 'newEntries';
  seq: number;
  count: number;
}
export interface ChoicesNotification {
  type: 'choices';
  choices: Choices;
}
export type HostNotification = InitNotification | ResultNotification | TotalNotification | RowsNotification | DetailNotification | NewEntriesNotification | ChoicesNotification;

// ---- guards: both sides check what they receive; anything else is dropped with a log line.
type Shape = Record<string, 'string' | 'number' | 'string?' | 'number?'>;
const COMMAND_SHAPES: Record<WebviewCommand['type'], Shape> = {
  ready: {},
  query: { seq: 'number', query: 'string', order: 'string', select: 'number?' },
  rows: { seq: 'number', start: 'number', count: 'number' },
  detail: { id: 'number' },
  export: { format: 'string', query: 'string' },
  copyLink: { query: 'string', entry: 'number?' },
  openSource: { path: 'string', line: 'number', column: 'number?' },
  openHistory: { entityName: 'string', entityId: 'string' },
  showLog: {},
  switchLog: { log: 'string' },
};
const ENUMS: Partial<Record<string, readonly string[]>> = { order: ['desc', 'asc'], format: ['csv', 'ndjson', 'fhir'], log: ['local', 'team'] };

function hasShape(m: Record<string, unknown>, shape: Shape): boolean {
  for (const [k, t] of Object.entries(shape)) {
    const v = m[k];
    const optional = t.endsWith('?');
    if (v === undefined && optional) continue;
    const base = optional ? t.slice(0, -1) : t;
    if (typeof v !== base) return false;
    if (base === 'number' && !Number.isFinite(v)) return false;
    const allowed = ENUMS[k];
    if (allowed && !allowed.includes(v as string)) return false;
  }
  return true;
}

export function isWebviewCommand(msg: unknown): msg is WebviewCommand {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as Record<string, unknown>;
  const shape = Object.prototype.hasOwnProperty.call(COMMAND_SHAPES, m.type as string) ? COMMAND_SHAPES[m.type as WebviewCommand['type']] : undefined;
  return !!shape && hasShape(m, shape);
}

const NOTIFICATION_TYPES: ReadonlySet<string> = new Set<HostNotification['type']>(['init', 'result', 'total', 'rows', 'detail', 'newEntries', 'choices']);

export function isHostNotification(msg: unknown): msg is HostNotification {
  return typeof msg === 'object' && msg !== null && NOTIFICATION_TYPES.has((msg as { type?: unknown }).type as string);
}

/** The page's state from `getState()`, or undefined when it is not one (an older version's, or none). */
export function asPageState(v: unknown): PageState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Partial<PageState>;
  if (typeof s.query !== 'string' || (s.order !== 'desc' && s.order !== 'asc') || typeof s.variant !== 'object' || s.variant === null) return undefined;
  const k = (s.variant as { kind?: unknown }).kind;
  if (k !== 'log' && k !== 'botEvents' && k !== 'history') return undefined;
  return {
    variant: s.variant,
    query: s.query,
    order: s.order,
    widths: typeof s.widths === 'object' && s.widths !== null ? s.widths : {},
    hidden: Array.isArray(s.hidden) ? s.hidden.filter((h) => typeof h === 'string') : [],
    utc: s.utc === true,
    detailOpen: s.detailOpen !== false,
    detailWidth: typeof s.detailWidth === 'number' ? s.detailWidth : 420,
    showUnchanged: s.showUnchanged === true,
    selected: typeof s.selected === 'number' ? s.selected : undefined,
    log: s.log === 'team' ? 'team' : undefined,
  };
}
