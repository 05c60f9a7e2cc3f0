// Verifies the team log: the team chain over every entry received, and each origin's own chain.
//
// What the default verify proves, every check computed by the server in SQL with built-in functions
// only (sha256, encode, convert_to, window functions: never a function stored in the database, which
// its owner could replace), so that only what is wrong crosses the socket:
//  - the team chain: seq runs 1, 2, 3… without a gap, each team_prev is the team_hash of the entry
//    before it (64 zeros for seq 1), and each team_hash is sha256 of its link (schema.ts, teamLink):
//    the head (headHash) pins every entry's origin, ID and hash, and their order;
//  - each origin's chain: its IDs run 1, 2, 3… in seq order, none missing or repeated, each
//    origin_prev is the origin_hash of the origin's entry before it (64 zeros for entry 1), and the
//    origin is the hash of its entry 1, as the local log it came from has them;
//  - sha256(entry_text) = origin_hash: the text kept is, byte for byte, the text that was hashed.
// So the hashed text and both chains are proven. Not by default: `entry`, the jsonb copy of
// entry_text (made by the insert trigger since schema version 3), and what is generated from it (the
// full-text column `search`, the query columns). They are the server's copies for queries, covered by no hash: a changed `entry` makes a
// filter or a search find another row than its text says, but never changes what an entry says
// (readers show entry_text). `full` checks them too: each entry_text is JSON naming its own ID and
// previous hash (as its columns do), and `entry` is entry_text as a value (NULL exactly when jsonb
// cannot hold the text: jsonbCanHold). The generated `search` follows `entry` by itself.
//
// The shape, measured on a 1M-entry team log (~1 KB entries, 2.8 GB table; PostgreSQL 15, 2 cores):
// the chain pass reads the log by its primary key in seq ranges, each in a connection (and so a
// server process) of its own, at once. Each range hashes every row (its text, its own team link) and
// runs the windows over its rows in the same process, and returns per origin only its first and last
// entry there and its first broken one; this process stitches the ranges together (the team chain
// and each origin's chain across each boundary). Two ranges took 4.2-5.3 s (verifyTeamLog, back to
// back, load ~1); one query whose parallel workers hash the rows and hand them through a Gather
// Merge to a leader that runs the windows (the pass before this one) 6.2-7.2 s on the same log and
// machine: the tuple queue to the leader cost more than the windows. Three and four ranges on 2
// cores: 5.8 and 6.3 s. Linking each origin's entries by a window partitioned by
// origin over every row instead (a sort of every row), two queries (the hashes in one parallel scan,
// the links in a second pass) and self-joins instead of windows all cost more.
// The reason for the first broken entry is then named by checkChains() below, from that one row and
// the state before it, so the texts stay those of the row-by-row verify this replaced (40 s in the
// client at 1M), which the CLI and tests show.
import { isDeepStrictEqual } from 'node:util';
import type { Client, ClientBase, QueryResultRow } from 'pg';
import { GENESIS_HASH, sha256 } from '../store/row';
import { assertTeamLog, jsonbCanHold, teamLink } from './schema';

export interface TeamVerifyResult {
  ok: boolean;
  /** Entries in the team log. */
  count: number;
  /** The newest team_hash (64 zeros for an empty team log): keep it elsewhere to check the team log against later. */
  headHash: string;
  /** Each origin's entries and newest hash, up to the first broken entry when there is one. */
  origins: { origin: string; count: number; headHash: string }[];
  /** The first entry that breaks either chain, by its seq, and its origin and ID there when it has them. */
  firstBroken?: { seq: number; origin?: string; originId?: number; reason: string };
}

export interface TeamVerifyOptions {
  /**
   * Also parse every entry: entry_text is JSON naming its own ID and previous hash, and `entry`
   * (jsonb) is entry_text as a value. Reads every entry_text into this process and compares the
   * jsonb on the server: many times slower than the default.
   */
  full?: boolean;
  /**
   * Opens another connection to the same team log, for the chain pass to read the log in several
   * seq ranges at once (each in a server process of its own, as many as the server's
   * max_parallel_workers_per_gather, so a server tuned for more cores uses them). Without it, one
   * connection reads the whole log, with the server's parallel workers.
   */
  connect?: () => Promise<Client>;
  /** The number of seq ranges of the chain pass, instead of the server's setting (tests: the stitching of ranges). */
  ranges?: number;
}

interface TeamRow {
  seq: string;
  origin: string;
  origin_id: string;
  origin_hash: string;
  origin_prev: string;
  entry_text: string;
  team_prev: string;
  team_hash: string;
}

/** What the parse checks read of a row. */
interface TextRow {
  seq: string;
  origin_id: string;
  origin_prev: string;
  entry_text: string;
  /** Whether `entry` is NULL. */
  entry_null: boolean;
  /** `entry` as text, when the jsonb is compared in this process. */
  entry_json?: string;
}

/** The chain pass's result (stitchRanges). */
interface Chains {
  /** The newest seq, and its team_hash (0 and 64 zeros for an empty team log). */
  lastSeq: bigint;
  headHash: string | null;
  /** The lowest seq of an entry that breaks either chain. */
  broken?: bigint;
  /** Each origin: the seq of its first entry, the ID and origin_hash of its last. */
  origins: { origin: string; first: number; count: number; headHash: string | null }[];
}

const TABLE = 'bot_audit.team_entries';
const PAGE = 2000;
const NOT_JSONB = 'its entry (jsonb) is not its entry_text';

/**
 * Planner settings for the passes, local to their transaction. The planner cannot know that sha256
 * and jsonb parsing are costly (every function costs it the same), so it must be told that workers
 * pay off; the leader keeps to the windows rather than scanning too; and JIT compilation cost more
 * than it saved here (measured). The server's own limits on workers stay as they are.
 */
const PASS_SETTINGS = 'SET LOCAL jit = off; SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0.0001; SET LOCAL parallel_leader_participation = off';

/**
 * Both chains and every entry's own hashes over the seqs $1..$2, in one pass. Innermost, each row
 * alone (`ORDER BY seq OFFSET 0` keeps that subquery whole: read by the primary key, in order; with
 * parallel workers when one range is the whole log). Then one window by seq: the team chain, and
 * the origin's chain where the previous row is of the same origin. A row whose previous row is of
 * another origin (the start of a run: shippers send batches, so runs are long) is linked to its
 * origin's entry before it, the end of that origin's previous run, by a second window over run
 * starts, run ends and broken rows only: so no sort of every row. The range's first row, and each
 * origin's first row in the range, have nothing before them here: they are linked by stitchRanges.
 * Per origin: its first row in the range (seq, ID, origin_prev, team_prev), its last (seq, ID,
 * origin_hash, team_hash), and the lowest seq of an entry that breaks something; which check failed
 * is not told here (checkChains names it for the first one). While every entry before a row is
 * sound, these checks hold or fail for it just as checkChains's do: its origin's previous entry then
 * has ID count and hash headHash, and a broken row among the run ends lies after one that is flagged already.
 */
const RANGE_SQL = `
  SELECT origin, min(seq) AS first_seq, max(seq) AS last_seq,
    (array_agg(origin_id ORDER BY seq))[1] AS first_id, (array_agg(origin_prev ORDER BY seq))[1] AS first_prev,
    (array_agg(team_prev ORDER BY seq))[1] AS first_team_prev,
    (array_agg(origin_id ORDER BY seq DESC))[1] AS last_id, (array_agg(origin_hash ORDER BY seq DESC))[1] AS last_hash,
    (array_agg(team_hash ORDER BY seq DESC))[1] AS last_team_hash,
    min(seq) FILTER (WHERE broken) AS broken
  FROM (
    SELECT seq, origin, origin_id, origin_hash, origin_prev, team_prev, team_hash,
      broken OR (run_start AND row_number() OVER o > 1 AND (origin_id IS DISTINCT FROM lag(origin_id) OVER o + 1
        OR origin_prev IS DISTINCT FROM lag(origin_hash) OVER o)) AS broken
    FROM (
      SELECT seq, origin, origin_id, origin_hash, origin_prev, team_prev, team_hash,
        p_origin IS DISTINCT FROM origin AS run_start,
        n_origin IS DISTINCT FROM origin AS run_end,
        own_broken
          OR (p_seq IS NOT NULL AND (seq IS DISTINCT FROM p_seq + 1 OR team_prev IS DISTINCT FROM p_team))
          OR (p_origin = origin AND (origin_id IS DISTINCT FROM p_id + 1 OR origin_prev IS DISTINCT FROM p_hash)) AS broken
      FROM (
        SELECT seq, origin, origin_id, origin_hash, origin_prev, team_prev, team_hash, own_broken,
          lag(seq) OVER t AS p_seq, lag(team_hash) OVER t AS p_team, lag(origin) OVER t AS p_origin,
          lag(origin_id) OVER t AS p_id, lag(origin_hash) OVER t AS p_hash, lead(origin) OVER t AS n_origin
        FROM (
          SELECT seq, origin COLLATE "C" AS origin, origin_id, origin_hash, origin_prev, team_prev, team_hash,
            team_hash IS DISTINCT FROM encode(sha256(convert_to(team_prev || ':' || origin || ':' || origin_id::text || ':' || origin_hash, 'UTF8')), 'hex')
              OR encode(sha256(convert_to(entry_text, 'UTF8')), 'hex') IS DISTINCT FROM origin_hash
              OR (origin_id = 1 AND origin IS DISTINCT FROM origin_hash) AS own_broken
          FROM ${TABLE}
          WHERE seq >= $1 AND seq <= $2
          ORDER BY seq OFFSET 0
        ) AS own
        WINDOW t AS (ORDER BY seq)
      ) AS team
    ) AS marked
    WHERE run_start OR run_end OR broken
    WINDOW o AS (PARTITION BY origin ORDER BY seq)
  ) AS chains
  GROUP BY origin`;

/** What RANGE_SQL gives for one origin in one range. */
interface RangeRow {
  origin: string;
  first_seq: string;
  last_seq: string;
  first_id: string | null;
  first_prev: string | null;
  first_team_prev: string | null;
  last_id: string | null;
  last_hash: string | null;
  last_team_hash: string | null;
  broken: string | null;
}

/** One query in a read-only transaction of its own, with these planner settings; rolled back if it fails. */
async function readOnly<R extends QueryResultRow>(client: ClientBase, settings: string, sql: string, params: unknown[]): Promise<R[]> {
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(settings);
    const { rows } = await client.query<R>(sql, params);
    await client.query('COMMIT');
    return rows;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** A range's pass: with the server's parallel workers when it is the only one, else without (the ranges are the parallelism). */
function rangePass(client: ClientBase, lo: string, hi: string, alone: boolean): Promise<RangeRow[]> {
  return readOnly<RangeRow>(client, alone ? PASS_SETTINGS : 'SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0', RANGE_SQL, [lo, hi]);
}

/**
 * The ranges' results joined, in seq order: each range's first row must follow the previous
 * range's last (seq + 1, team_prev its team_hash; seq 1 and 64 zeros for the first), and each
 * origin's first row in a range must follow that origin's last row in the ranges before (ID + 1,
 * origin_prev its origin_hash; ID 1 and 64 zeros when there is none). A row that does not is
 * broken, as the windows would have found it in one range.
 */
function stitchRanges(ranges: readonly (readonly RangeRow[])[]): Chains {
  // Seqs as BigInt (see chainPass).
  const chains: Chains = { lastSeq: 0n, headHash: GENESIS_HASH, origins: [] };
  const origins = new Map<string, Chains['origins'][number]>();
  const mark = (seq: string) => {
    if (chains.broken === undefined || BigInt(seq) < chains.broken) chains.broken = BigInt(seq);
  };
  for (const rows of ranges) {
    if (!rows.length) continue;
    const first = rows.reduce((a, r) => (BigInt(r.first_seq) < BigInt(a.first_seq) ? r : a));
    const last = rows.reduce((a, r) => (BigInt(r.last_seq) > BigInt(a.last_seq) ? r : a));
    if (BigInt(first.first_seq) !== chains.lastSeq + 1n || first.first_team_prev !== chains.headHash) mark(first.first_seq);
    for (const r of rows) {
      let o = origins.get(r.origin);
      if (!o) origins.set(r.origin, (o = { origin: r.origin, first: Number(r.first_seq), count: 0, headHash: GENESIS_HASH }));
      if (r.first_id === null || Number(r.first_id) !== o.count + 1 || r.first_prev !== o.headHash) mark(r.first_seq);
      if (r.broken !== null) mark(r.broken);
      o.count = Number(r.last_id);
      o.headHash = r.last_hash;
    }
    chains.lastSeq = BigInt(last.last_seq);
    chains.headHash = last.last_team_hash;
  }
  chains.origins = [...origins.values()];
  return chains;
}

/**
 * Both chains over the whole team log (RANGE_SQL, stitchRanges): in `opts.ranges` seq ranges, or
 * in as many as the server's max_parallel_workers_per_gather (1 without `opts.connect` or for a
 * small log), read at once over that many connections.
 */
async function chainPass(client: ClientBase, opts: TeamVerifyOptions): Promise<Chains> {
  const { rows } = await client.query<{ lo: string | null; hi: string | null; workers: string }>(
    `SELECT min(seq) AS lo, max(seq) AS hi, current_setting('max_parallel_workers_per_gather') AS workers FROM ${TABLE}`,
  );
  if (rows[0].lo === null || rows[0].hi === null) return stitchRanges([]);
  // In BigInt: a seq written behind the triggers' back may be anywhere in bigint's range, past a double's precision.
  const lo = BigInt(rows[0].lo);
  const span = BigInt(rows[0].hi) - lo + 1n;
  const wanted = opts.ranges ?? (opts.connect && span >= MIN_RANGE * 2n ? Math.min(MAX_RANGES, Number(span / MIN_RANGE), Number(rows[0].workers)) : 1);
  const asked = Math.max(1, Math.floor(wanted) || 1);
  let n = BigInt(asked) < span ? asked : Number(span);
  const extra: Client[] = [];
  try {
    // As many connections as ranges; fewer when the server takes no more (each then reads several ranges in turn).
    while (opts.connect && extra.length + 1 < n) {
      const c = await opts.connect().catch(() => undefined);
      if (!c) break;
      extra.push(c);
    }
    const clients: ClientBase[] = [client, ...extra];
    // No second connection (a role's connection limit, a full server): one range, with the server's parallel workers.
    if (clients.length === 1 && opts.ranges === undefined) n = 1;
    const at = (i: number) => lo + (span * BigInt(i)) / BigInt(n);
    const bounds = Array.from({ length: n }, (_, i) => [String(at(i)), String(at(i + 1) - 1n)] as const);
    const results: RangeRow[][] = new Array(n);
    // Every connection's ranges settle before a failure is thrown: the caller's connection is then
    // out of its read-only transaction, whatever failed.
    const settled = await Promise.allSettled(clients.map(async (c, k) => {
      for (let i = k; i < n; i += clients.length) results[i] = await rangePass(c, bounds[i][0], bounds[i][1], n === 1);
    }));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return stitchRanges(results);
  } finally {
    await Promise.all(extra.map((c) => c.end().catch(() => undefined)));
  }
}

/** Seqs a range of the chain pass has at least, and ranges at most, when the server's setting chooses how many. */
const MIN_RANGE = 50_000n;
const MAX_RANGES = 16;

/** `entry` against entry_text as jsonb values, for entries that passed the parse checks in this process (so the cast has JSON that jsonb can hold). */
const JSONB_SQL = `SELECT min(seq) FILTER (WHERE entry IS DISTINCT FROM entry_text::jsonb) AS broken FROM ${TABLE} WHERE seq < $1 AND entry IS NOT NULL`;

const TEXT_PAGE_SQL = `
  SELECT seq, origin_id, origin_prev, entry_text, entry IS NULL AS entry_null
  FROM ${TABLE} WHERE seq > $1 AND seq < $2 ORDER BY seq LIMIT ${PAGE}`;

const JSON_PAGE_SQL = `
  SELECT seq, origin_id, origin_prev, entry_text, false AS entry_null, entry::text AS entry_json
  FROM ${TABLE} WHERE seq > $1 AND seq < $2 AND entry IS NOT NULL ORDER BY seq LIMIT ${PAGE}`;

/** What is wrong with one row's chains and hashes, given the chains before it; undefined when it is sound. */
function checkChains(r: TeamRow, seq: bigint, lastSeq: bigint, teamPrev: string, origin: { count: number; headHash: string } | undefined): string | undefined {
  if (seq !== lastSeq + 1n) return `team entries ${lastSeq + 1n}..${seq - 1n} are missing`;
  if (r.team_prev !== teamPrev) return 'its team_prev is not the previous entry\'s team_hash';
  if (r.team_hash !== sha256(teamLink(r.team_prev, r.origin, r.origin_id, r.origin_hash))) return 'its team_hash does not match its fields';
  const id = Number(r.origin_id);
  const expected = (origin?.count ?? 0) + 1;
  if (id !== expected) return id < expected ? `entry ${id} of this origin came again` : `entries ${expected}..${id - 1} of this origin are missing`;
  if (r.origin_prev !== (origin?.headHash ?? GENESIS_HASH)) return `its origin_prev is not the hash of entry ${id - 1} of this origin`;
  if (typeof r.entry_text !== 'string' || sha256(r.entry_text) !== r.origin_hash) return 'its entry_text does not give its origin_hash (the entry was changed)';
  if (id === 1 && r.origin !== r.origin_hash) return 'its origin is not the hash of its entry 1';
  return undefined;
}

/**
 * What is wrong with one row's parsed entry (after checkChains); undefined when it is sound. The
 * jsonb is compared here only when its text is given (entry_json); else the server compares it.
 */
function checkParsed(r: TextRow): string | undefined {
  let fields: { id?: unknown; prevHash?: unknown } | null;
  try {
    fields = JSON.parse(r.entry_text) as typeof fields;
  } catch {
    return 'its entry_text is not JSON';
  }
  if (fields?.id !== Number(r.origin_id) || fields?.prevHash !== r.origin_prev) return 'its entry_text names another ID or previous hash than its columns';
  // NULL exactly when jsonb cannot hold the text (as the shipper writes it).
  if (r.entry_null === jsonbCanHold(r.entry_text)) return NOT_JSONB;
  // jsonb keeps its own key order and number forms: compared as values.
  if (r.entry_json !== undefined && !isDeepStrictEqual(JSON.parse(r.entry_json), fields)) return NOT_JSONB;
  return undefined;
}

/**
 * The first row below seq `before` that `checkParsed` finds wrong, reading pages of `sql` by seq
 * (each one short query, so no snapshot is held for long); the next page is asked for before this
 * one is parsed, so the server reads while this process parses.
 */
async function firstParsedBroken(client: ClientBase, sql: string, before: bigint): Promise<{ seq: bigint; reason: string } | undefined> {
  let page = client.query<TextRow>(sql, [0, String(before)]);
  for (;;) {
    const { rows } = await page;
    const next = rows.length === PAGE ? client.query<TextRow>(sql, [rows[rows.length - 1].seq, String(before)]) : undefined;
    for (const r of rows) {
      const reason = checkParsed(r);
      if (reason) {
        await next?.catch(() => undefined);
        return { seq: BigInt(r.seq), reason };
      }
    }
    if (!next) return undefined;
    page = next;
  }
}

/**
 * The full checks of the entries below seq `before` (where the chains hold): first in this process,
 * each entry_text parsed (JSON.parse decides what is JSON, as the local log does) for its ID and
 * previous hash, and whether `entry` is NULL just when jsonb cannot hold the text; then, below the
 * first entry that fails those, `entry` against entry_text as jsonb on the server, in parallel
 * (sending the jsonb's text here too, to parse it as well, doubled this process's time: 20.5 CPU-s
 * instead of 11 at 1M). Should the server fail to read a text as jsonb all the same (a number past
 * its range, nesting past its stack), they are compared here.
 */
async function firstParsedBrokenBelow(client: ClientBase, before: bigint): Promise<{ seq: bigint; reason: string } | undefined> {
  const text = await firstParsedBroken(client, TEXT_PAGE_SQL, before);
  const bound = text?.seq ?? before;
  let jsonb: bigint | undefined;
  let compared = false;
  try {
    const rows = await readOnly<{ broken: string | null }>(client, PASS_SETTINGS, JSONB_SQL, [String(bound)]);
    jsonb = rows[0].broken === null ? undefined : BigInt(rows[0].broken);
    compared = true;
  } catch {
    // compared below in this process
  }
  if (!compared) return (await firstParsedBroken(client, JSON_PAGE_SQL, bound)) ?? text;
  return jsonb !== undefined ? { seq: jsonb, reason: NOT_JSONB } : text;
}

export async function verifyTeamLog(client: ClientBase, opts: TeamVerifyOptions = {}): Promise<TeamVerifyResult> {
  await assertTeamLog(client);
  // Seqs as BigInt: one written behind the triggers' back may be past a double's precision.
  const chains = await chainPass(client, opts);
  // Entries are only ever added, so what is below a seq seen here stays as it was for the queries that follow.
  const parsed = opts.full ? await firstParsedBrokenBelow(client, chains.broken ?? chains.lastSeq + 1n) : undefined;
  const firstSeq = parsed?.seq ?? chains.broken;
  if (firstSeq === undefined) {
    // Sound: seqs run 1..lastSeq, and each origin's IDs 1..its last; the pass read each head.
    const origins = [...chains.origins].sort((a, b) => a.first - b.first).map((o) => ({ origin: o.origin, count: o.count, headHash: o.headHash ?? GENESIS_HASH }));
    return { ok: true, count: Number(chains.lastSeq), headHash: chains.headHash ?? GENESIS_HASH, origins };
  }
  const count = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`)).rows[0].n);
  // Each origin's entries below the first broken one, and the state the row-by-row check has there.
  const { rows } = await client.query<{ origin: string; n: string; first_seq: string }>(
    `SELECT origin, count(*) AS n, min(seq) AS first_seq FROM ${TABLE} WHERE seq < $1 GROUP BY origin`,
    [String(firstSeq)],
  );
  const origins = await withHeads(client, rows.map((r) => ({ origin: r.origin, count: Number(r.n), first: Number(r.first_seq) })), firstSeq);
  const prev = (await client.query<{ seq: string; team_hash: string }>(`SELECT seq, team_hash FROM ${TABLE} WHERE seq < $1 ORDER BY seq DESC LIMIT 1`, [String(firstSeq)])).rows[0];
  const row = (await client.query<TeamRow>(
    `SELECT seq, origin, origin_id, origin_hash, origin_prev, entry_text, team_prev, team_hash FROM ${TABLE} WHERE seq = $1`,
    [String(firstSeq)],
  )).rows[0];
  const teamHead = prev?.team_hash ?? GENESIS_HASH;
  const state = origins.find((o) => o.origin === row?.origin);
  const reason = parsed?.reason
    ?? (row && checkChains(row, firstSeq, prev ? BigInt(prev.seq) : 0n, teamHead, state))
    // The server found what this process does not (a column the schema says is NOT NULL, set to NULL): still broken.
    ?? 'it breaks the team log\'s chains (found by the server\'s check)';
  return {
    ok: false,
    count,
    headHash: teamHead,
    origins,
    firstBroken: { seq: Number(firstSeq), ...(row ? { origin: row.origin, originId: Number(row.origin_id) } : {}), reason },
  };
}

/** The origins in the order they first appear, each with the hash of its newest entry below seq `before` (its entry `count`: the chain holds there). */
async function withHeads(client: ClientBase, origins: { origin: string; count: number; first: number }[], before: bigint): Promise<TeamVerifyResult['origins']> {
  if (!origins.length) return [];
  const { rows } = await client.query<{ origin: string; origin_hash: string }>(
    `SELECT o.origin, e.origin_hash FROM unnest($1::text[], $2::bigint[]) AS o(origin, id)
     JOIN ${TABLE} e ON e.origin = o.origin AND e.origin_id = o.id AND e.seq < $3`,
    [origins.map((o) => o.origin), origins.map((o) => o.count), String(before)],
  );
  const heads = new Map(rows.map((r) => [r.origin, r.origin_hash]));
  return [...origins].sort((a, b) => a.first - b.first).map((o) => ({ origin: o.origin, count: o.count, headHash: heads.get(o.origin) ?? GENESIS_HASH }));
}
