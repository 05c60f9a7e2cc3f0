// Verifies the team log: the team chain over every entry received, and each origin's own chain,
// read in pages by seq (never the whole log in memory).
import { isDeepStrictEqual } from 'node:util';
import type { ClientBase } from 'pg';
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

interface TeamRow {
  seq: string;
  origin: string;
  origin_id: string;
  origin_hash: string;
  origin_prev: string;
  entry_text: string;
  /** `entry` (jsonb) as text; null when entry is NULL. */
  entry_json: string | null;
  team_prev: string;
  team_hash: string;
}

const PAGE = 2000;

const PAGE_SQL = `
  SELECT seq, origin, origin_id, origin_hash, origin_prev, entry_text, entry::text AS entry_json, team_prev, team_hash
  FROM bot_audit.team_entries WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`;

/** What is wrong with one row, given the chains so far; undefined when it is sound. */
function check(r: TeamRow, seq: number, lastSeq: number, teamPrev: string, origin: { count: number; headHash: string } | undefined): string | undefined {
  if (seq !== lastSeq + 1) return `team entries ${lastSeq + 1}..${seq - 1} are missing`;
  if (r.team_prev !== teamPrev) return 'its team_prev is not the previous entry\'s team_hash';
  if (r.team_hash !== sha256(teamLink(r.team_prev, r.origin, r.origin_id, r.origin_hash))) return 'its team_hash does not match its fields';
  const id = Number(r.origin_id);
  const expected = (origin?.count ?? 0) + 1;
  if (id !== expected) return id < expected ? `entry ${id} of this origin came again` : `entries ${expected}..${id - 1} of this origin are missing`;
  if (r.origin_prev !== (origin?.headHash ?? GENESIS_HASH)) return `its origin_prev is not the hash of entry ${id - 1} of this origin`;
  if (sha256(r.entry_text) !== r.origin_hash) return 'its entry_text does not give its origin_hash (the entry was changed)';
  if (id === 1 && r.origin !== r.origin_hash) return 'its origin is not the hash of its entry 1';
  let fields: { id?: unknown; prevHash?: unknown };
  try {
    fields = JSON.parse(r.entry_text) as typeof fields;
  } catch {
    return 'its entry_text is not JSON';
  }
  if (fields.id !== id || fields.prevHash !== r.origin_prev) return 'its entry_text names another ID or previous hash than its columns';
  // jsonb keeps its own key order and number forms: compared as values.
  if (r.entry_json === null ? jsonbCanHold(r.entry_text) : !isDeepStrictEqual(JSON.parse(r.entry_json), fields)) return 'its entry (jsonb) is not its entry_text';
  return undefined;
}

export async function verifyTeamLog(client: ClientBase): Promise<TeamVerifyResult> {
  await assertTeamLog(client);
  const origins = new Map<string, { count: number; headHash: string }>();
  let lastSeq = 0;
  let teamHead = GENESIS_HASH;
  let firstBroken: TeamVerifyResult['firstBroken'];
  // Keyset pages by seq: each page is one short query, so a long verify holds no snapshot or cursor open.
  outer: for (;;) {
    const { rows } = await client.query<TeamRow>(PAGE_SQL, [lastSeq]);
    for (const r of rows) {
      const seq = Number(r.seq);
      const o = origins.get(r.origin);
      const reason = check(r, seq, lastSeq, teamHead, o);
      if (reason) {
        firstBroken = { seq, origin: r.origin, originId: Number(r.origin_id), reason };
        break outer;
      }
      origins.set(r.origin, { count: (o?.count ?? 0) + 1, headHash: r.origin_hash });
      lastSeq = seq;
      teamHead = r.team_hash;
    }
    if (rows.length < PAGE) break;
  }
  const count = firstBroken ? Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM bot_audit.team_entries')).rows[0].n) : lastSeq;
  return {
    ok: !firstBroken,
    count,
    headHash: teamHead,
    origins: [...origins].map(([origin, o]) => ({ origin, count: o.count, headHash: o.headHash })),
    ...(firstBroken ? { firstBroken } : {}),
  };
}
