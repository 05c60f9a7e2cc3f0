// Keeps a local log replicated into the team log, in the background (issue 19). No `vscode`: the
// extension drives it (status bar, secret storage), and the CLI uses it for one round after a run.
//
// The local log stays the first, offline, durable write: the replicator only reads it. Each round
// connects, ships what the team log lacks (shipToTeam: in order, in batches, each one transaction,
// idempotent), and disconnects, so a server that goes away holds nothing of ours. A round starts
// when the replicator starts, shortly after appends (this process's and, with a watching store,
// other processes'), now and then to look again (a restored server), and on shipNow(). A server that
// cannot be reached is tried again after 1 s, 2 s, 4 s … up to a minute; the local log goes on.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import type { AuditStore, Disposable } from '../store';
import { asTeamLogError, redactSecrets, redactUrl, teamLogClient, TeamLogError } from './connect';
import { originOf, shipToTeam } from './shipper';

/**
 * Where replication stands:
 *  - `starting`: no round has ended yet;
 *  - `shipping`: a round is shipping, or entries are waiting for the next one;
 *  - `up-to-date`: the team log held every local entry at the end of the last round;
 *  - `offline`: the team log cannot be reached; retried by itself (see `retryAt`);
 *  - `forked`: the team log and the local log disagree (see `lastError`); nothing more is shipped
 *    until shipNow() finds them agreeing again (someone sorted it out);
 *  - `error`: anything else (a refused login or privilege, no team log in the database, a local
 *    entry that does not give its hash); retried by itself, like offline, except for a bad URL;
 *  - `stopped`: disposed.
 */
export type ReplicationState = 'starting' | 'shipping' | 'up-to-date' | 'offline' | 'forked' | 'error' | 'stopped';

export interface ReplicationStatus {
  state: ReplicationState;
  /** The team log's URL, as it may be shown (no password). */
  url: string;
  /** The local log's origin ID (the hash of its entry 1); undefined while it is empty. */
  origin?: string;
  /** The local log's newest ID. */
  localHead: number;
  /**
   * The newest of this log's entries the team log held when last reached (this process, or an
   * earlier one that kept a mark in `stateDir`); undefined when it never was.
   */
  teamHead?: number;
  /** How far behind: local entries the team log lacks, as far as known (`localHead - (teamHead ?? 0)`). */
  behind: number;
  /** When a round last reached the team log and ended with it holding `teamHead` (ms since the epoch). */
  lastSuccessAt?: number;
  /** Why the last round failed, for people: never a password (the URL's is refused, a given one or PGPASSWORD is masked). Cleared by a round that succeeds. */
  lastError?: string;
  /** The TeamLogError code of the last failure, when it was one. */
  lastErrorCode?: TeamLogError['code'];
  /** When the next automatic attempt is due, while offline or in error (ms since the epoch). */
  retryAt?: number;
  /**
   * The last time the team log was found to lack entries it had held (a server restored from a
   * backup): which of this log's entries it had lost, and when they were shipped again.
   */
  repaired?: { from: number; to: number; at: number };
  /** One line about `repaired`, for people. */
  note?: string;
}

export interface TeamReplicatorOptions {
  /** postgres://user@host:port/database, without a password (refused there). */
  url: string;
  /**
   * The password, asked for before each connection (the editor's secret storage); undefined, or
   * no function, leaves it to PGPASSWORD or ~/.pgpass. Never shown in a status or an error.
   */
  password?: () => Promise<string | undefined>;
  /**
   * A folder outside the log's (the witness's state folder) where the replicator keeps, per team log
   * and origin, the newest entry the team log was seen to hold: so that `behind` is known before the
   * server is reached, and a server restored from a backup is noticed across restarts. None: kept in memory only.
   */
  stateDir?: string;
  /** Rounds by themselves (at start, after appends, retries, rechecks); default true. false: only shipNow(). */
  background?: boolean;
  /** Entries per transaction (default 500). */
  batchSize?: number;
  /** How long after an append the round starts, so that a burst of appends ships as one round (default 250 ms). */
  delayMs?: number;
  /** First retry after a failure (default 1 s); each next one twice as late, up to `maxBackoffMs` (default 60 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** While up to date, a round now and then to see that the team log still holds this log (default 5 min; 0: never). */
  recheckMs?: number;
  /** Give up a connection attempt after this long (default 10 s). */
  connectTimeoutMs?: number;
}

/** What a state folder keeps for one team log and origin: the newest of the origin's entries the team log was seen to hold. */
export interface TeamMark {
  /** The team log's URL, as it may be shown. */
  url: string;
  origin: string;
  teamHead: number;
  /** When (ISO 8601). */
  at: string;
}

/** The team log's identity for the mark's file name: its host, port and database, not the user or options. */
function teamLogKey(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname.toLowerCase()}:${u.port || '5432'}${decodeURIComponent(u.pathname)}`;
  } catch {
    return url;
  }
}

function teamMarkFile(stateDir: string, url: string, origin: string): string {
  const key = createHash('sha256').update(`${teamLogKey(url)}\n${origin}`).digest('hex');
  return path.join(stateDir, 'team', `${key}.json`);
}

/** The mark kept in `stateDir` for this team log and origin; undefined when there is none (or it cannot be read). */
export function readTeamMark(stateDir: string, url: string, origin: string): TeamMark | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(teamMarkFile(stateDir, url, origin), 'utf8')) as TeamMark;
    return m.origin === origin && Number.isSafeInteger(m.teamHead) && m.teamHead >= 0 ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps the newest team head seen. Never throws: the mark is a help, not the record. */
export function writeTeamMark(stateDir: string, url: string, origin: string, teamHead: number): void {
  const file = teamMarkFile(stateDir, url, origin);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    const mark: TeamMark = { url: redactUrl(url), origin, teamHead, at: new Date().toISOString() };
    fs.writeFileSync(tmp, `${JSON.stringify(mark)}\n`);
    fs.renameSync(tmp, file);
  } catch {
    /* a state folder that cannot be written: how far behind is known again at the next contact */
  }
}

/**
 * Ships a local log into the team log in the background and says how far behind it is.
 *
 * ```ts
 * const rep = new TeamReplicator(store, { url, password: () => secrets.get('botAudit.teamLogPassword'), stateDir });
 * rep.onDidChange((s) => statusBar.text = s.state === 'up-to-date' ? 'Team log ✓' : `Team log: ${s.behind} behind`);
 * …
 * await rep.dispose(); // before closing the store
 * ```
 */
export class TeamReplicator {
  private readonly opts: Required<Omit<TeamReplicatorOptions, 'password' | 'stateDir'>> & Pick<TeamReplicatorOptions, 'password' | 'stateDir'>;
  private current: ReplicationStatus;
  private readonly listeners = new Set<(s: ReplicationStatus) => void>();
  private readonly subscription?: Disposable;
  private timer?: NodeJS.Timeout;
  private timerDue = 0;
  private running?: Promise<void>;
  /** Another round is wanted when this one ends: after appends, or forced by shipNow(). */
  private again = false;
  private forced = false;
  private failures = 0;
  private client?: Client;
  private disposed = false;
  /** The newest of this log's entries the team log was seen to hold, by this replicator. */
  private believed = 0;
  private secrets: (string | undefined)[] = [];

  constructor(
    private readonly store: AuditStore,
    options: TeamReplicatorOptions,
  ) {
    this.opts = {
      background: true,
      batchSize: 500,
      delayMs: 250,
      minBackoffMs: 1_000,
      maxBackoffMs: 60_000,
      recheckMs: 300_000,
      connectTimeoutMs: 10_000,
      ...options,
    };
    const localHead = store.size;
    const origin = originOf(store);
    const mark = origin ? this.readMark(origin) : undefined;
    this.current = { state: 'starting', url: redactUrl(options.url), origin, localHead, teamHead: mark?.teamHead, behind: Math.max(0, localHead - (mark?.teamHead ?? 0)) };
    if (this.opts.background) {
      this.subscription = store.onDidAppend((entries) => this.appended(entries.length ? entries[entries.length - 1].id : 0));
      this.schedule(0);
    }
  }

  /** Where replication stands now (a copy). */
  get status(): ReplicationStatus {
    return { ...this.current, ...(this.current.repaired ? { repaired: { ...this.current.repaired } } : {}) };
  }

  /** Called with the new status whenever it changes (state, how far behind, an error, a repair). */
  onDidChange(listener: (s: ReplicationStatus) => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * A round now (after the one under way, if any), whatever the state: a retry at once when offline,
   * a new look when forked. Resolves with the status once it has ended.
   */
  async shipNow(): Promise<ReplicationStatus> {
    if (this.disposed) return this.status;
    if (this.running) {
      this.forced = true;
      await this.running;
      // The round under way may have ended the loop before it saw `forced` (dispose, or it ended first).
      if (!this.forced) return this.status;
    }
    this.clearTimer();
    await this.loop();
    return this.status;
  }

  /**
   * Stops: no more rounds, no timers; a round under way is cut off (its open batch is rolled back
   * by the server, and shipped again next time). Resolves once its connection is closed. Safe to
   * call twice. Call it before closing the store.
   */
  async dispose(): Promise<void> {
    if (!this.disposed) {
      this.disposed = true;
      this.clearTimer();
      this.subscription?.dispose();
      // Ends the connection under way, which fails its query: the round ends at once.
      void this.client?.end().catch(() => undefined);
    }
    await this.running;
    if (this.current.state !== 'stopped') this.update({ state: 'stopped', retryAt: undefined });
    this.listeners.clear();
  }

  private appended(lastId: number): void {
    if (this.disposed) return;
    const localHead = Math.max(this.current.localHead, lastId);
    const origin = this.current.origin ?? originOf(this.store);
    this.update({ localHead, origin, behind: Math.max(0, localHead - (this.current.teamHead ?? 0)), ...(this.current.state === 'up-to-date' ? { state: 'shipping' as const } : {}) });
    // Offline or in error: the retry timer stands (appends do not hammer a server that is down); forked: nothing.
    if (this.current.state === 'offline' || this.current.state === 'error' || this.current.state === 'forked') return;
    if (this.running) this.again = true;
    else this.schedule(this.opts.delayMs);
  }

  private update(patch: Partial<ReplicationStatus>): void {
    const next = { ...this.current, ...patch };
    for (const k of Object.keys(next) as (keyof ReplicationStatus)[]) if (next[k] === undefined) delete next[k];
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    this.current = next;
    const s = this.status;
    for (const l of [...this.listeners]) {
      try {
        l(s);
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  /** A round after `ms`, unless one is due sooner already. */
  private schedule(ms: number): void {
    if (this.disposed || !this.opts.background) return;
    const due = Date.now() + ms;
    if (this.timer && this.timerDue <= due) return;
    this.clearTimer();
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.loop();
    }, ms);
    // The owner decides how long the process lives, not a retry a minute away.
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Rounds until nothing more is wanted, then the next timer (a retry or a recheck). One at a time. */
  private loop(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        for (;;) {
          this.again = false;
          this.forced = false;
          await this.round();
          const healthy = this.current.state === 'up-to-date' || this.current.state === 'shipping';
          if (this.disposed || !(this.forced || (this.again && healthy))) break;
        }
      } finally {
        this.running = undefined;
      }
      if (this.disposed) return;
      const s = this.current.state;
      if (s === 'offline' || (s === 'error' && this.current.lastErrorCode !== 'BAD_URL')) {
        const wait = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** Math.min(this.failures - 1, 30));
        if (this.opts.background) this.update({ retryAt: Date.now() + wait });
        this.schedule(wait);
      } else if ((s === 'up-to-date' || s === 'shipping') && this.current.localHead > (this.current.teamHead ?? 0)) {
        this.schedule(this.opts.delayMs);
      } else if (s === 'up-to-date' && this.opts.recheckMs > 0) {
        this.schedule(this.opts.recheckMs);
      }
    })();
    return this.running;
  }

  private async round(): Promise<void> {
    let client: Client | undefined;
    try {
      const password = this.opts.password ? await this.opts.password() : undefined;
      this.secrets = [password, process.env.PGPASSWORD];
      if (this.disposed) return;
      const origin = originOf(this.store);
      const localHead = this.store.size;
      if (!origin) {
        this.succeeded({ origin: undefined, localHead: 0, teamHead: 0 });
        return;
      }
      const mark = this.readMark(origin);
      if (this.current.state === 'starting' || this.current.state === 'up-to-date') this.update({ state: 'shipping' });
      this.update({ origin, localHead, behind: Math.max(0, localHead - (this.current.teamHead ?? mark?.teamHead ?? 0)) });
      client = teamLogClient(this.opts.url, { connectTimeoutMs: this.opts.connectTimeoutMs, password });
      this.client = client;
      await client.connect();
      if (this.disposed) return;
      const believed = Math.max(this.believed, mark?.teamHead ?? 0);
      const r = await shipToTeam(this.store, client, {
        batchSize: this.opts.batchSize,
        onBatch: (_shipped, upTo) => {
          if (this.disposed) throw new TeamLogError('UNREACHABLE', 'stopped');
          const head = Math.max(this.current.localHead, upTo);
          this.update({ teamHead: upTo, localHead: head, behind: Math.max(0, head - upTo) });
        },
      });
      const now = Date.now();
      const repaired = r.teamHeadBefore < believed ? { from: r.teamHeadBefore + 1, to: believed, at: now } : undefined;
      this.succeeded({
        origin,
        localHead: Math.max(this.store.size, r.teamHead),
        teamHead: r.teamHead,
        ...(repaired
          ? { repaired, note: `the team log had lost entries ${repaired.from}..${repaired.to} of this log (restored from a backup?); they were shipped again` }
          : {}),
      });
      this.writeMark(origin, r.teamHead);
    } catch (e) {
      if (this.disposed) return;
      this.failed(e);
    } finally {
      if (client) {
        if (this.client === client) this.client = undefined;
        await client.end().catch(() => undefined);
      }
    }
  }

  private succeeded(p: { origin?: string; localHead: number; teamHead: number; repaired?: ReplicationStatus['repaired']; note?: string }): void {
    this.failures = 0;
    this.believed = p.teamHead;
    const behind = Math.max(0, p.localHead - p.teamHead);
    this.update({
      ...p,
      state: behind > 0 ? 'shipping' : 'up-to-date',
      behind,
      lastSuccessAt: Date.now(),
      lastError: undefined,
      lastErrorCode: undefined,
      retryAt: undefined,
    });
  }

  private failed(e: unknown): void {
    this.failures++;
    const te = asTeamLogError(e, this.opts.url);
    const raw = te?.message ?? `the team log at ${redactUrl(this.opts.url)} failed: ${(e as Error)?.message ?? String(e)}`;
    const message = redactSecrets(raw, this.secrets);
    const state: ReplicationState = te?.code === 'FORK' ? 'forked' : te?.code === 'UNREACHABLE' ? 'offline' : 'error';
    let localHead = this.current.localHead;
    try {
      localHead = this.store.size;
    } catch {
      /* a closed store: the last known head */
    }
    this.update({ state, localHead, behind: Math.max(0, localHead - (this.current.teamHead ?? 0)), lastError: message, lastErrorCode: te?.code, retryAt: undefined });
  }

  private readMark(origin: string): TeamMark | undefined {
    return this.opts.stateDir ? readTeamMark(this.opts.stateDir, this.opts.url, origin) : undefined;
  }

  private writeMark(origin: string, teamHead: number): void {
    if (this.opts.stateDir) writeTeamMark(this.opts.stateDir, this.opts.url, origin, teamHead);
  }
}
