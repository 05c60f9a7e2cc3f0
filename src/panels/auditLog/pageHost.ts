// The host side of the audit-log page, free of `vscode`: it answers the page's questions (queries,
// rows by position, entry details) from the core store and tells it about new entries. The panel
// wraps it with the editor's parts; the webview benchmark drives it against a real log in Chromium.
import { formatQuery, parseQuery, QueryError, type Filter } from '../../core/query';
import type { AuditWindow, Entry } from '../../core/store';
import type { Choices, HostNotification, LogName, LogVariant, SortOrder } from '../protocol';
import { toDetail, toRow } from './rows';

/**
 * Rows of one query, by position, pinned when the query ran (new entries are counted, not shifted in):
 * the part of the store's window (AuditWindow) the page uses.
 */
export type LogWindowLike = Pick<AuditWindow, 'total' | 'totalKnown' | 'maxId' | 'rows' | 'indexOf' | 'newSince'>;

/** Where the page's rows come from. */
export interface PageSource {
  /** A path or name for the footer; undefined when there is no log (no folder open). */
  readonly location: string | undefined;
  /** Which log it reads now (a source that can read only the local one says 'local'). */
  readonly log?: LogName;
  /** The team log's URL (no password) when one is set, so that the page offers the switch. */
  readonly teamLog?: string;
  open(filters: Filter[], order: SortOrder): Promise<LogWindowLike>;
  get(id: number): Promise<Entry | undefined>;
  choices(): Promise<Choices>;
}

export interface LogView {
  /** The log to read (a link's or a command's); the one read now when absent. */
  log?: LogName;
  variant: LogVariant;
  query: string;
  order?: SortOrder;
  select?: number;
}

export const FIRST_PAGE = 100;
export const MAX_ROWS_PER_REQUEST = 500;
/** How many recent results the host keeps rows for. */
export const KEPT_RESULTS = 4;

/** The filters a variant always applies under the user's own. */
export function baseQuery(variant: LogVariant): string {
  switch (variant.kind) {
    case 'log':
      return '';
    case 'botEvents':
      return variant.query;
    case 'history':
      return formatQuery([
        { column: 'entityName', op: 'equals', value: variant.entityName },
        { column: 'entityId', op: 'equals', value: variant.entityId },
      ]);
  }
}

/** The whole query a page shows: the variant's filters, then the user's. */
export function fullQuery(variant: LogVariant, query: string): string {
  return [baseQuery(variant), query].filter((q) => q.trim()).join(' ');
}

export class LogPageHost {
  variant: LogVariant = { kind: 'log' };
  /** The newest results by sequence number: rows asked for a just-replaced result still get an answer. */
  private readonly windows = new Map<number, LogWindowLike>();
  private window: LogWindowLike | undefined;
  private windowSeq = 0;
  private lastNew = 0;

  constructor(
    private readonly source: PageSource,
    private readonly post: (m: HostNotification) => PromiseLike<unknown>,
    private readonly onError: (what: string, e: unknown) => void = () => undefined,
    private readonly noFolderMessage = 'Open a folder to keep an audit log.',
    private readonly utcDefault: () => boolean = () => false,
  ) {}

  /**
   * Tells the page what it shows; `view` (from a command or link) overrides the page's own filters.
   * The init goes out at once; the dropdowns' values follow in a `choices` message, so the page's
   * first query is not held up behind them.
   */
  async init(view?: LogView): Promise<void> {
    const error = this.source.location === undefined ? this.noFolderMessage : undefined;
    await this.post({
      type: 'init',
      variant: this.variant,
      log: this.source.log ?? 'local',
      teamLog: this.source.teamLog,
      source: this.source.location ?? '',
      query: view?.query,
      order: view?.order,
      select: view?.select,
      error,
      utc: this.utcDefault(),
    });
    if (!error) await this.sendChoices();
  }

  private async sendChoices(): Promise<void> {
    let choices: Choices;
    try {
      choices = await this.source.choices();
    } catch (e) {
      // The page's query meets the same failure and shows it; the dropdowns stay empty.
      this.onError('could not read the filter values', e);
      return;
    }
    await this.post({ type: 'choices', choices });
  }

  /** Runs the page's query under the variant's filters; answers with the first page. */
  async query(seq: number, query: string, order: SortOrder, select: number | undefined): Promise<void> {
    let filters: Filter[];
    try {
      filters = parseQuery(fullQuery(this.variant, query));
    } catch (e) {
      if (!(e instanceof QueryError)) throw e;
      // Positions in the error are the page's text's: the base query comes first.
      const base = baseQuery(this.variant);
      const offset = base ? base.length + 1 : 0;
      const reason = e.position >= offset ? `at column ${e.position - offset + 1}: ${e.reason}` : e.message;
      await this.post({ type: 'result', seq, query, order, queryError: reason, total: 0, logSize: 0, first: [] });
      return;
    }
    let w: LogWindowLike;
    try {
      w = await this.source.open(filters, order);
    } catch (e) {
      this.onError('could not read the log', e);
      await this.post({ type: 'result', seq, query, order, total: 0, logSize: 0, first: [], error: e instanceof Error ? e.message : String(e) });
      return;
    }
    this.window = w;
    this.windowSeq = seq;
    this.lastNew = 0;
    this.windows.set(seq, w);
    while (this.windows.size > KEPT_RESULTS) this.windows.delete(this.windows.keys().next().value as number);
    const selectedIndex = select === undefined ? undefined : await w.indexOf(select);
    const firstStart = selectedIndex === undefined ? 0 : Math.max(0, selectedIndex - FIRST_PAGE / 2);
    // A broad query's first page goes out before its count: the rows show at once, and the count
    // (all of a big index, up to a few hundred ms) follows in a `total`. Rows around a selection
    // further down need the count first, to place them.
    const first = firstStart === 0 ? (await w.rows(0, FIRST_PAGE)).map(toRow) : [];
    const counting = firstStart === 0 && !w.totalKnown;
    await this.post({ type: 'result', seq, query, order, total: counting ? first.length : w.total, counting, logSize: w.maxId, first, selectedIndex });
    if (firstStart > 0) await this.post({ type: 'rows', seq, start: firstStart, rows: (await w.rows(firstStart, FIRST_PAGE)).map(toRow) });
    if (counting) {
      // Let the result leave before the count holds this thread.
      await new Promise((r) => setImmediate(r));
      if (this.window !== w) return; // another query came meanwhile: the page no longer shows this one
      await this.post({ type: 'total', seq, total: w.total });
    }
  }

  /** Rows by position in a recent result; questions about a result no longer held get no answer. */
  async rows(seq: number, start: number, count: number): Promise<void> {
    const w = this.windows.get(seq);
    if (!w) return;
    const n = Math.min(MAX_ROWS_PER_REQUEST, Math.max(0, Math.floor(count)));
    const from = Math.max(0, Math.floor(start));
    await this.post({ type: 'rows', seq, start: from, rows: (await w.rows(from, n)).map(toRow) });
  }

  async detail(id: number): Promise<void> {
    const e = await this.source.get(id);
    await this.post(e ? { type: 'detail', id, entry: toDetail(e) } : { type: 'detail', id, error: `Entry ${id} is not in the log.` });
  }

  /** The log grew: new dropdown values, and how many new entries match the current query. */
  async appended(): Promise<void> {
    await this.sendChoices();
    const w = this.window;
    if (!w) return;
    const n = await w.newSince();
    if (n !== this.lastNew) {
      this.lastNew = n;
      await this.post({ type: 'newEntries', seq: this.windowSeq, count: n });
    }
  }
}
