// Ships a local log's entries into the team log: in ID order, in batches, each batch one transaction
// that an interrupted shipper leaves whole or absent. Idempotent (an entry is unique by its origin
// and its ID there) and resumable: every run starts from what the team log already has.
import type { ClientBase } from 'pg';
import type { AuditStore, Entry } from '../store';
import { canonicalRow, sha256, type Row } from '../store/row';
import { TeamLogError } from './connect';
import { headDisagreement, readTeamHead } from './heads';
import { assertTeamLog } from './schema';

/**
 * A local log's ID in the team log: the hash of its entry 1. It needs no schema change, survives a
 * restore from a backup and a copy of the folder (the same log), and no two logs share it unless one
 * is a copy of the other (and then their shared entries are the same ones). An empty log has none,
 * and nothing to ship.
 */
export function originOf(store: { readonly size: number; get(id: number): Entry | undefined }): string | undefined {
  return store.size ? store.get(1)?.hash : undefined;
}

export interface ShipOptions {
  /** Entries per transaction (1..1000, default 500). */
  batchSize?: number;
  /** Called after each batch is committed, with the entries shipped so far and the last ID shipped. */
  onBatch?: (shipped: number, upTo: number) => void;
}

export interface ShipResult {
  /** This log's origin ID; undefined for an empty log. */
  origin?: string;
  /** Entries this run put into the team log. */
  shipped: number;
  /** The newest of this log's entries the team log held when this run began (less than before: a restored backup of the team log). */
  teamHeadBefore: number;
  /** The newest of this log's entries the team log holds now. */
  teamHead: number;
}

/**
 * The text that was hashed for a stored row (its snapshots are the stored canonical JSON text),
 * checked against the row's hash: what is shipped is byte for byte what was hashed, or nothing is.
 */
function hashedText(r: Row): string {
  const text = canonicalRow(r);
  if (sha256(text) !== r.hash) {
    throw new TeamLogError('LOCAL', `entry ${r.id} of the local log does not give its own hash back (bot-audit verify --full says more); nothing from it on was shipped`);
  }
  return text;
}

/**
 * The server makes the rest (seq, the team chain, the jsonb copy with its columns), a batch at a time:
 * append_entries (schema.ts) checks and chains the run in one call, skips what the team log holds
 * already, and returns the IDs it inserted.
 *
 * The texts go as one string, one a line, which the server splits: canonical JSON (JSON.stringify)
 * has no raw line break, as it escapes every control character. Sent as a text[] instead, each text
 * is escaped into an array literal here and parsed back there, character by character: that took
 * 2 to 5 times longer for a batch of 1 KB entries, on both sides (measured). A batch with a line
 * break in a text, or one empty text (neither of which a canonical row can have), goes as a text[].
 */
const INSERT_SQL = "SELECT bot_audit.append_entries($1, string_to_array($2, ',')::bigint[], string_to_array($3, ','), string_to_array($4, ','), string_to_array($5, E'\\n')) AS origin_id";
const INSERT_ARRAYS_SQL = 'SELECT bot_audit.append_entries($1, $2::bigint[], $3::text[], $4::text[], $5::text[]) AS origin_id';

function insertParams(origin: string, b: Batch): [string, unknown[]] {
  if (b.texts.some((t) => t === '' || t.includes('\n'))) return [INSERT_ARRAYS_SQL, [origin, b.ids, b.hashes, b.prevs, b.texts]];
  return [INSERT_SQL, [origin, b.ids.join(','), b.hashes.join(','), b.prevs.join(','), b.texts.join('\n')]];
}

interface Batch {
  ids: number[];
  hashes: string[];
  prevs: string[];
  texts: string[];
}

/**
 * Ships the entries of `store` that the team log lacks. Refuses (FORK) when the team log holds more
 * of this origin's entries than the local log, or a different hash for one of them: a restored
 * backup of either side, never forked silently.
 */
export async function shipToTeam(store: AuditStore, client: ClientBase, opts: ShipOptions = {}): Promise<ShipResult> {
  const batchSize = Math.min(1000, Math.max(1, Math.floor(opts.batchSize ?? 500)));
  const origin = originOf(store);
  if (!origin) return { shipped: 0, teamHeadBefore: 0, teamHead: 0 };
  await assertTeamLog(client);
  const head = await readTeamHead(client, origin);
  const disagreement = headDisagreement(store, origin, head);
  if (disagreement) throw new TeamLogError('FORK', `${disagreement}. Nothing was shipped`);
  const teamHeadBefore = head.id;
  let prevHash = head.hash;
  /** The next batch after `after`, read and checked; undefined when there is none. */
  const prepare = (after: number): Batch | undefined => {
    const rows = store.rowsAfter(after, batchSize);
    if (!rows.length) return undefined;
    const b: Batch = { ids: [], hashes: [], prevs: [], texts: [] };
    for (const r of rows) {
      // The store keeps its chain; checked here anyway, as what the team log receives must continue it.
      if (r.prevHash !== prevHash) throw new TeamLogError('LOCAL', `entry ${r.id} of the local log does not follow entry ${r.id - 1}; nothing from it on was shipped`);
      b.ids.push(r.id);
      b.hashes.push(r.hash);
      b.prevs.push(r.prevHash);
      b.texts.push(hashedText(r));
      prevHash = r.hash;
    }
    return b;
  };
  let upTo = head.id;
  let shipped = 0;
  let batch = prepare(upTo);
  while (batch) {
    const { ids, hashes } = batch;
    // One transaction a batch: an interrupted shipper leaves it whole or absent (a shipper killed before
    // its COMMIT leaves nothing, even if the server goes on with the INSERT).
    await client.query('BEGIN');
    const sent = client.query<{ origin_id: string }>(...insertParams(origin, batch));
    // While the server takes this batch, the next one is read and hashed here. A local failure waits
    // for the batch in flight, so that what was shipped is known.
    let next: Batch | undefined;
    let localError: unknown;
    try {
      next = prepare(ids[ids.length - 1]);
    } catch (e) {
      localError = e;
    }
    let fresh: Set<number>;
    try {
      const inserted = (await sent).rows;
      // Rows that were there already (another shipper of this log got there first) must be these very entries.
      fresh = new Set(inserted.map((r) => Number(r.origin_id)));
      const skipped = ids.filter((id) => !fresh.has(id));
      if (skipped.length) {
        const there = await client.query<{ origin_id: string; origin_hash: string }>(
          'SELECT origin_id, origin_hash FROM bot_audit.team_entries WHERE origin = $1 AND origin_id = ANY($2::bigint[])',
          [origin, skipped],
        );
        for (const r of there.rows) {
          const id = Number(r.origin_id);
          if (r.origin_hash !== hashes[ids.indexOf(id)]) {
            throw new TeamLogError('FORK', `entry ${id} of this log (origin ${origin.slice(0, 12)}…) is in the team log with another hash: the two logs forked. This batch was not shipped`);
          }
        }
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      // The insert trigger's refusal: an entry that does not continue this origin's chain there.
      if ((e as { code?: unknown }).code === '23000') throw new TeamLogError('FORK', `the team log refused entries ${ids[0]}..${ids[ids.length - 1]} of this log: ${(e as Error).message}. This batch was not shipped`, { cause: e });
      throw e;
    }
    shipped += fresh.size;
    upTo = ids[ids.length - 1];
    opts.onBatch?.(shipped, upTo);
    if (localError) throw localError;
    batch = next;
  }
  return { origin, shipped, teamHeadBefore, teamHead: upTo };
}
