// The team log as the outside witness of a local log's head: what the team log holds of this log
// (its newest entry there), and whether the two agree. Shipping refuses to go on when they do not, and
// a local `verify` with a team log configured fails.
import type { ClientBase } from 'pg';
import type { AuditStore } from '../store';
import { GENESIS_HASH } from '../store/row';
import { assertTeamLog } from './schema';

/** The newest of an origin's entries in the team log: its ID there (0: none yet) and hash (64 zeros for none). */
export interface TeamHead {
  id: number;
  hash: string;
}

export async function readTeamHead(client: ClientBase, origin: string): Promise<TeamHead> {
  const { rows } = await client.query<{ origin_id: string; origin_hash: string }>(
    'SELECT origin_id, origin_hash FROM bot_audit.team_entries WHERE origin = $1 ORDER BY origin_id DESC LIMIT 1',
    [origin],
  );
  return rows.length ? { id: Number(rows[0].origin_id), hash: rows[0].origin_hash } : { id: 0, hash: GENESIS_HASH };
}

/**
 * Why the local log and the team log's copy of it disagree, or undefined when the team log's copy is
 * the local log's first `head.id` entries. The team log's copy is a chain (its insert trigger sees
 * to that), so its newest entry having the local hash at that ID vouches for all before it.
 */
export function headDisagreement(store: AuditStore, origin: string, head: TeamHead): string | undefined {
  const size = store.size;
  const o = `origin ${origin.slice(0, 12)}…`;
  if (head.id > size) {
    return `the local log is shorter than the team log: the team log has entries 1..${head.id} of this log (${o}), but the local log ends at entry ${size} (its tail cut off, or restored from an older backup?)`;
  }
  const local = head.id > 0 ? store.get(head.id)?.hash : GENESIS_HASH;
  if (local !== head.hash) {
    return `entry ${head.id} of this log (${o}) has hash ${head.hash.slice(0, 12)}… in the team log but ${local?.slice(0, 12)}… here: the two logs forked (a restored backup of either side?)`;
  }
  return undefined;
}

export interface HeadComparison {
  /** This log's origin ID; undefined for an empty log (which the team log cannot hold). */
  origin?: string;
  /** The local log's newest ID. */
  localHead: number;
  /** The newest of this log's entries the team log holds (0: none). */
  teamHead: number;
  /** Why they disagree; undefined when the team log holds a prefix of the local log (then `localHead - teamHead` are not shipped yet). */
  disagreement?: string;
}

/** Compares the local log's head with the team log's copy of it (a local `verify` with a team log, `team status`). */
export async function compareHeads(store: AuditStore, client: ClientBase): Promise<HeadComparison> {
  const localHead = store.size;
  const origin = localHead ? store.get(1)?.hash : undefined;
  if (!origin) return { localHead, teamHead: 0 };
  await assertTeamLog(client);
  const head = await readTeamHead(client, origin);
  const disagreement = headDisagreement(store, origin, head);
  return { origin, localHead, teamHead: head.id, ...(disagreement ? { disagreement } : {}) };
}
