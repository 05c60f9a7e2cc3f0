// The team log read as an audit log: TeamLogReader implements the one log interface (AuditLogReader,
// store/api.ts) over PostgreSQL, so that the views, the CLI and exports read it as they read a local
// log. Every value is a bound parameter (the query compiler's PostgreSQL dialect, sql.ts).
//
// IDs: a team log's entries are numbered by the server's `seq` (1..size, gapless, in the team chain's
// order), so `id` is the seq; each entry also says where it came from (`origin`, the hash of that
// log's entry 1, and `originId`, its ID there), and keeps that log's `hash`, `prevHash` and `replayOf`.
// `size` and `headHash` are the newest seq this reader has seen and its `team_hash` (the team chain's
// head, what `verify --db` prints): every read and every notice of new entries moves them.
import { once } from 'node:events';
import type { Client, QueryResultRow } from 'pg';
import { buildWhere, likeContains, parseQuery, QueryError, type Filter, type SqlParam } from '../query';
import type { AuditLogReader, AuditWindow, Disposable, Distinct } from '../store/api';
import { clampLimit, MAX_LIMIT, pageOf, pageStart, type Page, type PageOptions } from '../store/cursors';
import { formatter, type ExportFormat } from '../store/formats';
import { GENESIS_HASH, rowToEntry, type Row } from '../store/row';
import { ACTIONS, type Action, type Entry } from '../store/types';
import type { VerifyOptions, VerifyResult } from '../store/verify';
import type { WindowOptions } from '../store/window';
import { asTeamLogError, connectTeamLog, redactSecrets, teamLogClient, TeamLogError, type ConnectOptions } from './connect';
import { assertTeamLog, TEAM_CHANNEL } from './schema';
import { verifyTeamLog, type TeamVerifyResult } from './verify';

interface TeamRow {
  seq: string;
  origin: string;
  origin_id: string;
  origin_hash: string;
  entry_text: string;
  team_hash: string;
}

const COLS = 'SELECT seq, origin, origin_id, origin_hash, entry_text, team_hash FROM bot_audit.team_entries';

/** The entry of a team row: its canonical JSON as hashed (entry_text, never the jsonb), numbered by seq. */
function toEntry(r: TeamRow): Entry {
  const row = JSON.parse(r.entry_text) as Row;
  row.hash = r.origin_hash;
  const e = rowToEntry(row);
  e.id = Number(r.seq);
  e.origin = r.origin;
  e.originId = Number(r.origin_id);
  return e;
}

/** The WHERE expression of `filters` on the team log, IDs as seqs, its placeholders numbered from `firstParam`. */
function teamWhere(filters: readonly Filter[], now: number, firstParam: number, entityNamesContaining?: ReadonlyMap<string, readonly string[]>) {
  return buildWhere(filters, now, { dialect: 'postgres', firstParam, teamIds: 'seq', entityNamesContaining });
}

/** Entity names that an entity-name "contains" text is resolved against, at most (entityNamesContaining). */
const MAX_ENTITY_NAMES = 1000;

/** The entity names that contain each of $1 (as the ILIKE patterns $2), and whether that is all of them: entityNamesContaining. */
const ENTITY_NAMES_SQL = `WITH RECURSIVE d(v, n) AS (
    SELECT min(entity_name), 1 FROM bot_audit.team_entries
    UNION ALL
    SELECT (SELECT min(entity_name) FROM bot_audit.team_entries WHERE entity_name > d.v), d.n + 1 FROM d WHERE d.v IS NOT NULL AND d.n <= ${MAX_ENTITY_NAMES}
  ), names AS (SELECT v FROM d WHERE v IS NOT NULL)
  SELECT t.text, (SELECT array_agg(v ORDER BY v) FROM names WHERE v ILIKE t.pattern) AS names,
    (SELECT count(*) FROM names) <= ${MAX_ENTITY_NAMES} AS complete
  FROM unnest($1::text[], $2::text[]) AS t(text, pattern)`;

/** Conditions whose counts a reader keeps (countAt). */
const MAX_KEPT_COUNTS = 64;

/** Before the tail reconnects after losing the server: doubling from this, up to TAIL_RETRY_MAX_MS. */
const TAIL_RETRY_MS = 250;
const TAIL_RETRY_MAX_MS = 5_000;

interface Tail {
  /** The newest seq handed to the listeners. */
  delivered: number;
  client?: Client;
  timer?: NodeJS.Timeout;
  retryMs: number;
  stopped: boolean;
  draining?: Promise<void>;
  /** A notice came while draining: drain again after. */
  again: boolean;
}

export class TeamLogReader implements AuditLogReader {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private lastSeq = 0;
  private lastHash = GENESIS_HASH;
  private closed = false;
  private readonly listeners = new Set<(entries: Entry[]) => void>();
  private tail: Tail | undefined;
  /** Counts by condition (the compiled WHERE and its values), each as of a seq, most recent use last: countAt. */
  private readonly counts = new Map<string, { upTo: number; hash: string; n: number }>();

  private constructor(
    /** The team log's postgres:// URL (never with a password: checkTeamLogUrl). */
    readonly url: string,
    private readonly opts: ConnectOptions,
  ) {}

  /**
   * Connects to the team log at `url` and reads its head. TeamLogError: BAD_URL, UNREACHABLE,
   * REFUSED, NO_TEAM_LOG (no team log there, or one of another schema version).
   */
  static async open(url: string, opts: ConnectOptions = {}): Promise<TeamLogReader> {
    const r = new TeamLogReader(url, opts);
    try {
      teamLogClient(url, opts); // checks the URL before anything connects
      await assertTeamLog(await r.db());
      await r.refreshHead();
    } catch (e) {
      await r.close();
      throw r.failure(e);
    }
    return r;
  }

  get size(): number {
    return this.lastSeq;
  }

  get headHash(): string {
    return this.lastHash;
  }

  /** Stops the tail and ends the connections. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.stopTail();
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  // ------------------------------------------------------------------ reads

  async get(id: number): Promise<Entry | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    return (await this.entries(`${COLS} WHERE seq = $1`, [id]))[0];
  }

  async query(filters: Filter[] | string, page: PageOptions = {}): Promise<Page> {
    const fl = this.toFilters(filters);
    const start = pageStart(page);
    // The entity names are read once for the count and the page.
    const names = await this.entityNamesContaining(fl);
    const total = await this.countAt(fl, start.now, undefined, names);
    const rows = await this.page(fl, start.now, start.after, start.order, start.limit + 1, 0, names);
    return pageOf(start, rows, total);
  }

  async count(filters: Filter[] | string): Promise<number> {
    return this.countAt(this.toFilters(filters), Date.now());
  }

  async latest(filters: Filter[] | string, limit = 1): Promise<Entry[]> {
    return this.page(this.toFilters(filters), Date.now(), undefined, 'desc', clampLimit(limit), 0);
  }

  /**
   * The last run of each bot (see AuditLogReader.lastRuns): one statement for all of them, each ID's
   * newest EXECUTED `Bot` row found on the entity_id index.
   */
  async lastRuns(entityIds: readonly string[]): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    if (!entityIds.length) return out;
    const found = await this.entries(
      `SELECT t.* FROM unnest($1::text[]) AS b(id) CROSS JOIN LATERAL (
         ${COLS} WHERE entity_id = b.id AND entity_name = 'Bot' AND action = 'EXECUTED' ORDER BY seq DESC LIMIT 1
       ) t`,
      [[...new Set(entityIds)]],
    );
    for (const e of found) out.set(e.entityId, e);
    return out;
  }

  /** A window on the matches, pinned at the newest seq now; counted before it resolves. */
  async window(filters: Filter[] | string, opts: WindowOptions = {}): Promise<AuditWindow> {
    const fl = this.toFilters(filters);
    const order = opts.order ?? 'desc';
    if (order !== 'desc' && order !== 'asc') throw new QueryError(`a window's order is "desc" or "asc", not ${JSON.stringify(order)}`, -1);
    const now = opts.now ?? Date.now();
    if (typeof now !== 'number' || !Number.isFinite(now)) throw new QueryError(`a window's "now" must be a time in milliseconds, not ${String(now)}`, -1);
    await this.refreshHead();
    const maxId = this.lastSeq;
    const total = await this.countAt(fl, now, maxId);
    return new TeamWindow(
      {
        count: (f) => this.countAt(f, now),
        page: (f, after, dir, limit, offset) => this.page(f, now, after, dir, limit, offset),
        lastId: async () => (await this.refreshHead(), this.lastSeq),
      },
      structuredClone(fl),
      order,
      maxId,
      total,
    );
  }

  async byTrace(traceId: string, limit = MAX_LIMIT): Promise<Entry[]> {
    return this.entries(`${COLS} WHERE trace_id = $1 ORDER BY seq ASC LIMIT $2`, [traceId, clampLimit(limit)]);
  }

  /** All entries of one entity, from every origin, in the team log's order. */
  async history(entityName: string, entityId: string): Promise<Entry[]> {
    return this.entries(`${COLS} WHERE entity_name = $1 AND entity_id = $2 ORDER BY seq ASC`, [entityName, String(entityId)]);
  }

  /**
   * The values of the filterable fields. Each is a walk down its index from one value to the next
   * (PostgreSQL has no skip scan): one index probe per distinct value, not a scan of every entry.
   */
  async distinct(): Promise<Distinct> {
    const values = async (column: string) => {
      const { rows } = await this.run<{ v: string }>(
        `WITH RECURSIVE d(v) AS (
           SELECT min(${column}) FROM bot_audit.team_entries
           UNION ALL
           SELECT (SELECT min(${column}) FROM bot_audit.team_entries WHERE ${column} > d.v) FROM d WHERE d.v IS NOT NULL
         ) SELECT v FROM d WHERE v IS NOT NULL`,
        [],
      );
      return rows.map((r) => r.v).sort((a, b) => a.localeCompare(b));
    };
    const [users, actions, entityNames, bots] = [await values('user_name'), await values('action'), await values('entity_name'), await values('bot')];
    return { users, actions: ACTIONS.filter((a) => actions.includes(a)), entityNames, bots };
  }

  async entriesAfter(afterId: number, limit = MAX_LIMIT, actions?: readonly Action[]): Promise<Entry[]> {
    const n = clampLimit(limit);
    if (!actions) return this.entries(`${COLS} WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterId, n]);
    return this.entries(`${COLS} WHERE seq > $1 AND action = ANY($3::text[]) ORDER BY seq LIMIT $2`, [afterId, n, [...actions]]);
  }

  /**
   * Streams the matches up to the newest seq now, in `order` (default newest first), in pages of 500
   * by keyset, waiting for `drain`. CSV gets the columns origin and origin_id.
   */
  async exportTo(filters: Filter[] | string, format: ExportFormat, out: NodeJS.WritableStream, opts: { order?: 'desc' | 'asc'; end?: boolean } = {}): Promise<number> {
    const fl = this.toFilters(filters);
    const now = Date.now();
    const fmt = formatter(format, now, { origins: true });
    await this.refreshHead();
    const bounded: Filter[] = [...fl, { column: 'id', op: 'lessThan', value: this.lastSeq + 1 }];
    const order = opts.order ?? 'desc';
    const write = async (chunk: string) => {
      if (chunk && !out.write(chunk)) await once(out, 'drain');
    };
    await write(fmt.head);
    let n = 0;
    let after: number | undefined;
    for (;;) {
      const rows = await this.page(bounded, now, after, order, 500, 0);
      if (!rows.length) break;
      let chunk = '';
      for (const e of rows) chunk += fmt.entry(e, n++);
      await write(chunk);
      after = rows[rows.length - 1].id;
    }
    await write(fmt.tail);
    if (opts.end) {
      out.end();
      await once(out, 'finish').catch(() => undefined);
    }
    return n;
  }

  /**
   * The team chain and every origin's chain (verifyTeamLog); the first broken entry by its seq. A team
   * log has no incremental check: `incremental: false`, a local log's "check every entry again" (the
   * CLI's --full), asks for verifyTeamLog's full check (every entry parsed, and its jsonb compared).
   */
  async audit(opts: VerifyOptions = {}): Promise<VerifyResult & { team: TeamVerifyResult }> {
    const team = await this.using((c) => verifyTeamLog(c, { full: opts.incremental === false, connect: () => connectTeamLog(this.url, this.opts) }));
    const r: VerifyResult & { team: TeamVerifyResult } = { ok: team.ok, count: team.count, headHash: team.headHash, team };
    if (team.firstBroken) {
      const b = team.firstBroken;
      r.firstBroken = { id: b.seq, reason: b.origin ? `${b.reason} (origin ${b.origin.slice(0, 12)}…, entry ${b.originId} there)` : b.reason };
    }
    return r;
  }

  /**
   * Called with the entries that reach the team log after the newest this reader had seen when the
   * listener subscribed, in seq order, none skipped: LISTEN on TEAM_CHANNEL, and on each notice (and
   * on every reconnect, since notices sent while cut off are lost) the entries after the last one
   * handed out are read by seq. A lost connection is tried again (250 ms doubling to 5 s).
   */
  onDidAppend(listener: (entries: Entry[]) => void): Disposable {
    if (this.closed) throw new TeamLogError('UNREACHABLE', 'the team log reader is closed');
    this.listeners.add(listener);
    this.startTail();
    return {
      dispose: () => {
        this.listeners.delete(listener);
        if (!this.listeners.size) this.stopTail();
      },
    };
  }

  // ------------------------------------------------------------------ the tail

  private startTail(): void {
    if (this.tail) return;
    const t: Tail = { delivered: this.lastSeq, retryMs: TAIL_RETRY_MS, stopped: false, again: false };
    this.tail = t;
    void this.listen(t);
  }

  private stopTail(): void {
    const t = this.tail;
    if (!t) return;
    this.tail = undefined;
    t.stopped = true;
    clearTimeout(t.timer);
    void t.client?.end().catch(() => undefined);
    t.client = undefined;
  }

  private async listen(t: Tail): Promise<void> {
    if (t.stopped) return;
    const c = teamLogClient(this.url, this.opts);
    t.client = c;
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (t.client === c) t.client = undefined;
      void c.end().catch(() => undefined);
      this.retryListen(t);
    };
    c.on('error', onLost);
    c.on('end', onLost);
    try {
      await c.connect();
      await c.query(`LISTEN ${TEAM_CHANNEL}`);
    } catch {
      onLost();
      return;
    }
    if (t.stopped || lost) return;
    t.retryMs = TAIL_RETRY_MS;
    c.on('notification', () => this.drain(t));
    this.drain(t); // what came while not listening
  }

  private retryListen(t: Tail): void {
    if (t.stopped) return;
    clearTimeout(t.timer);
    t.timer = setTimeout(() => void this.listen(t), t.retryMs);
    t.retryMs = Math.min(t.retryMs * 2, TAIL_RETRY_MAX_MS);
  }

  /** Hands the entries after `t.delivered` to the listeners, one drain at a time. */
  private drain(t: Tail): void {
    if (t.stopped) return;
    if (t.draining) {
      t.again = true;
      return;
    }
    t.draining = (async () => {
      do {
        t.again = false;
        for (;;) {
          const batch = await this.entriesAfter(t.delivered, MAX_LIMIT);
          // seqs are gapless and committed in order; never hand out past a gap (read again on the next notice).
          let upTo = 0;
          while (upTo < batch.length && batch[upTo].id === t.delivered + upTo + 1) upTo++;
          if (t.stopped || !upTo) break;
          const got = batch.slice(0, upTo);
          t.delivered = got[got.length - 1].id;
          for (const l of [...this.listeners]) {
            try {
              l(got);
            } catch {
              /* one listener's failure is not the others' */
            }
          }
          if (upTo < MAX_LIMIT) break;
        }
      } while (t.again && !t.stopped);
    })()
      .catch(() => {
        // The server went away mid-read: the listening connection notices too, and drains on reconnect;
        // if it did not, try again shortly.
        if (!t.stopped) setTimeout(() => this.drain(t), t.retryMs).unref();
      })
      .finally(() => {
        t.draining = undefined;
      });
  }

  // ------------------------------------------------------------------ SQL

  private toFilters(filters: Filter[] | string): Filter[] {
    return typeof filters === 'string' ? parseQuery(filters) : filters;
  }

  /**
   * For each entity-name "contains" text among `filters`, the entity names in the team log that
   * contain it (the server's ILIKE, so its case folding), read now: a walk down the entity-name index
   * from one name to the next, at most MAX_ENTITY_NAMES of them (with more, the text stays an ILIKE).
   * buildWhere then writes `entity_name IN (…)`, which the (entity_name, seq) index walks newest
   * first; an ILIKE was checked on every entry, newest first, until a page was full (58,000 entries
   * for `entity:story` on the benchmark's 1M log, 18 ms).
   */
  private async entityNamesContaining(filters: Filter[]): Promise<Map<string, string[]> | undefined> {
    const texts = [...new Set(filters.filter((f) => f.column === 'entityName' && f.op === 'contains').map((f) => String(f.value)))];
    if (!texts.length) return undefined;
    // A named statement: planned once a connection (its plan, over a dozen indexes, took longer than running it).
    const { rows } = await this.using((c) =>
      c.query<{ text: string; names: string[] | null; complete: boolean }>({ name: 'bot_audit_entity_names', text: ENTITY_NAMES_SQL, values: [texts, texts.map(likeContains)] }),
    );
    if (!rows.length || !rows[0].complete) return undefined;
    return new Map(rows.map((r) => [r.text, r.names ?? []]));
  }

  /**
   * The matches among seqs 1..upTo (default: the newest now). Counts are kept: entries are never
   * changed or removed and seqs are gapless and visible in order, so the count of a condition up to a
   * seq never changes, and a later count adds only the entries since (or takes away those after an
   * older bound). A relative time resolves to another condition at every `now`, and so is not reused.
   */
  private async countAt(filters: Filter[], now: number, upTo?: number, names?: Map<string, string[]>): Promise<number> {
    // seq is gapless (the trigger takes newest + 1 under a lock held to commit): the whole log's count is its newest seq, without a scan.
    if (!filters.length) {
      if (upTo !== undefined) return upTo;
      await this.refreshHead();
      return this.lastSeq;
    }
    const w = teamWhere(filters, now, 1, names ?? (await this.entityNamesContaining(filters)));
    const key = JSON.stringify([w.sql, w.params]);
    const kept = this.counts.get(key);
    const params: unknown[] = [...w.params];
    const bind = (v: unknown) => (params.push(v), `$${params.length}`);
    // The bound, its hash and the count from one snapshot, so the count is exactly that of 1..bound;
    // and the kept count's bound's hash, which differs only if the team log was restored from a backup
    // and went on from there (then nothing kept holds).
    const bound = upTo === undefined ? '(SELECT max(seq) FROM bot_audit.team_entries)' : `${bind(upTo)}::bigint`;
    let range = 'seq <= h.bound';
    let keptHash = 'NULL';
    let sign = 1;
    if (kept) {
      const k = bind(kept.upTo);
      keptHash = `(SELECT team_hash FROM bot_audit.team_entries WHERE seq = ${k}::bigint)`;
      if (upTo === undefined || upTo >= kept.upTo) range = `seq > ${k}::bigint AND seq <= h.bound`;
      else {
        range = `seq > h.bound AND seq <= ${k}::bigint`;
        sign = -1;
      }
    }
    const { rows } = await this.run<{ bound: string; hash: string; kept_hash: string | null; n: string }>(
      `WITH h AS (SELECT seq AS bound, team_hash FROM bot_audit.team_entries WHERE seq = ${bound})
       SELECT h.bound, h.team_hash AS hash, ${keptHash} AS kept_hash, (SELECT count(*) FROM bot_audit.team_entries WHERE (${w.sql}) AND ${range}) AS n FROM h`,
      params,
    );
    if (!rows.length) return 0; // an empty team log
    if (kept && rows[0].kept_hash !== kept.hash) {
      this.counts.clear();
      return this.countAt(filters, now, upTo);
    }
    const n = (kept ? kept.n : 0) + sign * Number(rows[0].n);
    this.counts.delete(key);
    this.counts.set(key, { upTo: Number(rows[0].bound), hash: rows[0].hash, n });
    if (this.counts.size > MAX_KEPT_COUNTS) this.counts.delete(this.counts.keys().next().value!);
    return n;
  }

  /** Matches in `order`, after the keyset `after` (exclusive), skipping `offset`, at most `limit` (pageSql). */
  private async page(filters: Filter[], now: number, after: number | undefined, order: 'desc' | 'asc', limit: number, offset: number, names?: Map<string, string[]>): Promise<Entry[]> {
    const q = pageSql(filters, now, after, order, limit, offset, names ?? (await this.entityNamesContaining(filters)));
    return this.entries(q.sql, q.params);
  }

  /** The head now (the newest seq and its team_hash). */
  private async refreshHead(): Promise<void> {
    const { rows } = await this.run<{ seq: string; team_hash: string }>('SELECT seq, team_hash FROM bot_audit.team_entries ORDER BY seq DESC LIMIT 1', []);
    if (rows.length) this.note(Number(rows[0].seq), rows[0].team_hash);
  }

  private note(seq: number, teamHash: string): void {
    if (seq > this.lastSeq) {
      this.lastSeq = seq;
      this.lastHash = teamHash;
    }
  }

  private async entries(sql: string, params: unknown[]): Promise<Entry[]> {
    const { rows } = await this.run<TeamRow>(sql, params);
    for (const r of rows) this.note(Number(r.seq), r.team_hash);
    return rows.map(toEntry);
  }

  private async run<R extends QueryResultRow>(sql: string, params: unknown[] | SqlParam[]) {
    return this.using((c) => c.query<R>(sql, params));
  }

  /** Runs `f` on the connection (made again when it was lost); pg's and the network's failures as TeamLogError, without secrets. */
  private async using<T>(f: (c: Client) => Promise<T>): Promise<T> {
    let c: Client | undefined;
    try {
      c = await this.db();
      return await f(c);
    } catch (e) {
      const err = this.failure(e);
      if (err instanceof TeamLogError && err.code === 'UNREACHABLE' && c && this.client === c) {
        this.client = undefined;
        void c.end().catch(() => undefined);
      }
      throw err;
    }
  }

  private db(): Promise<Client> {
    if (this.closed) return Promise.reject(new TeamLogError('UNREACHABLE', 'the team log reader is closed'));
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const c = teamLogClient(this.url, this.opts);
      const drop = () => {
        if (this.client === c) this.client = undefined;
      };
      c.on('error', drop);
      c.on('end', drop);
      try {
        await c.connect();
      } catch (e) {
        await c.end().catch(() => undefined);
        throw e;
      }
      if (this.closed) {
        await c.end().catch(() => undefined);
        throw new TeamLogError('UNREACHABLE', 'the team log reader is closed');
      }
      this.client = c;
      return c;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** An error fit to show: pg's as TeamLogError, and never the password (nor the driver's error, as its cause, when its text had it). */
  private failure(e: unknown): unknown {
    const err = asTeamLogError(e, this.url) ?? e;
    if (!(err instanceof Error)) return err;
    const message = redactSecrets(err.message, [this.opts.password, process.env.PGPASSWORD]);
    if (message === err.message) return err;
    return err instanceof TeamLogError ? new TeamLogError(err.code, message) : new Error(message);
  }
}

/**
 * Matches in `order`, after the keyset `after` (exclusive), skipping `offset`, at most `limit`.
 *
 * A condition that is one of several values of an indexed column (`action:UPDATED,DELETED`, an
 * outcome list, an entity-name "contains" that names several entities) is walked as one run of its
 * index per value, newest first, merged (splitByValue): PostgreSQL reads an IN list's index runs
 * one after the other, not in seq order, so it walked the primary key instead and checked every
 * entry until the page was full (4,500 entries, 20-100 ms, for `action:UPDATED,DELETED` on the
 * benchmark's 1M log); merged, it reads the seqs of about limit + offset index entries, then only
 * the page's rows.
 */
export function pageSql(
  filters: readonly Filter[],
  now: number,
  after: number | undefined,
  order: 'desc' | 'asc',
  limit: number,
  offset: number,
  names?: ReadonlyMap<string, readonly string[]>,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const bind = (v: unknown) => (params.push(v), `$${params.length}`);
  const where = (fl: readonly Filter[]) => {
    const w = teamWhere(fl, now, params.length + 1, names);
    params.push(...w.params);
    return w.sql;
  };
  const dir = order === 'desc' ? 'DESC' : 'ASC';
  const split = splitByValue(filters, names);
  const conds = (split ?? [filters]).map(where);
  const keyset = after === undefined ? '' : ` AND seq ${order === 'desc' ? '<' : '>'} ${bind(after)}`;
  if (!split) return { sql: `${COLS} WHERE (${conds[0]})${keyset} ORDER BY seq ${dir} LIMIT ${bind(limit)} OFFSET ${bind(offset)}`, params };
  const each = bind(limit + offset);
  const runs = conds.map((sql) => `(SELECT seq FROM bot_audit.team_entries WHERE (${sql})${keyset} ORDER BY seq ${dir} LIMIT ${each})`).join(' UNION ALL ');
  return { sql: `${COLS} WHERE seq IN (SELECT seq FROM (${runs}) AS runs ORDER BY seq ${dir} LIMIT ${bind(limit)} OFFSET ${bind(offset)}) ORDER BY seq ${dir}`, params };
}

/** Values of one condition that a page walks as merged index runs (TeamLogReader.page), at most. */
const MERGED_RUNS_MAX = 32;

/**
 * `filters` once per value of its first condition that is one of several values of a column with a
 * (column, seq) index (action, outcome, an entity-name "contains" resolved to several names), with
 * that condition narrowed to the one value; undefined when there is no such condition. The lists'
 * matches together are exactly the filters' matches, each once (the values differ).
 */
export function splitByValue(filters: readonly Filter[], names?: ReadonlyMap<string, readonly string[]>): Filter[][] | undefined {
  const several = <T>(vs: readonly T[]) => {
    const u = [...new Set(vs)];
    return u.length > 1 && u.length <= MERGED_RUNS_MAX ? u : undefined;
  };
  for (let i = 0; i < filters.length; i++) {
    const f = filters[i];
    let each: Filter[] | undefined;
    if (f.column === 'action') each = several(f.value)?.map((v) => ({ column: 'action', op: 'oneOf', value: [v] }));
    else if (f.column === 'outcome') each = several(f.value)?.map((v) => ({ column: 'outcome', op: 'oneOf', value: [v] }));
    else if (f.column === 'entityName' && f.op === 'contains') each = several(names?.get(f.value) ?? [])?.map((v) => ({ column: 'entityName', op: 'equals', value: v }));
    if (each) return each.map((g) => filters.map((x, j) => (j === i ? g : x)));
  }
  return undefined;
}

/** What a TeamWindow reads through (the reader provides it). */
interface TeamWindowSource {
  count(filters: Filter[]): Promise<number>;
  page(filters: Filter[], after: number | undefined, order: 'desc' | 'asc', limit: number, offset: number): Promise<Entry[]>;
  lastId(): Promise<number>;
}

/**
 * The matches of a team-log query by position (AuditWindow), pinned at the newest seq when it
 * opened, counted before it opens. Without filters, a position is a seq by arithmetic (seqs are
 * gapless). With filters, every page served leaves its last position as an anchor, and a request
 * continues by keyset from the nearest anchor at or before it (scrolling on reads no skipped rows);
 * only a jump ahead of every anchor pays for an OFFSET. A smaller cousin of LogWindow (window.ts),
 * which is synchronous for sql.js.
 */
class TeamWindow implements AuditWindow {
  private readonly anchors = new Map<number, number>();
  constructor(
    private readonly source: TeamWindowSource,
    readonly filters: Filter[],
    readonly order: 'desc' | 'asc',
    readonly maxId: number,
    readonly total: number,
  ) {}

  get totalKnown(): boolean {
    return true;
  }

  private bounded(extra: Filter[] = []): Filter[] {
    return [...this.filters, ...extra, { column: 'id', op: 'lessThan', value: this.maxId + 1 }];
  }

  async rows(start: number, count: number): Promise<Entry[]> {
    const whole = (x: number) => (Number.isNaN(x) ? 0 : Math.floor(x));
    const lo = Math.max(0, whole(start));
    const hi = Math.min(this.total, whole(start) + Math.max(0, whole(count)));
    if (!(hi > lo)) return [];
    let after: number | undefined;
    let offset = lo;
    if (!this.filters.length) {
      after = this.order === 'desc' ? this.maxId - lo + 1 : lo;
      offset = 0;
    } else {
      let best = -1;
      for (const pos of this.anchors.keys()) if (pos < lo && pos > best) best = pos;
      if (best >= 0) {
        after = this.anchors.get(best);
        offset = lo - best - 1;
      }
    }
    const rows = await this.source.page(this.bounded(), after, this.order, hi - lo, offset);
    if (rows.length && this.filters.length) {
      this.anchors.set(lo + rows.length - 1, rows[rows.length - 1].id);
      if (this.anchors.size > 256) this.anchors.delete(this.anchors.keys().next().value!);
    }
    return rows;
  }

  async indexOf(id: number): Promise<number | undefined> {
    if (!Number.isSafeInteger(id) || id < 1 || id > this.maxId) return undefined;
    if (!this.filters.length) return this.order === 'desc' ? this.maxId - id : id - 1;
    if ((await this.source.count([...this.filters, { column: 'id', op: 'equals', value: id }])) === 0) return undefined;
    const newer = await this.source.count(this.bounded([{ column: 'id', op: 'greaterThan', value: id }]));
    return this.order === 'desc' ? newer : this.total - 1 - newer;
  }

  async newSince(): Promise<number> {
    const last = await this.source.lastId();
    if (last <= this.maxId) return 0;
    if (!this.filters.length) return last - this.maxId;
    return this.source.count([...this.filters, { column: 'id', op: 'greaterThan', value: this.maxId }]);
  }
}
