// The team log's PostgreSQL schema, its version, forward migrations and roles.
//
// One table, bot_audit.team_entries, holds every entry that the team's local logs shipped, each with
// its origin (which log: see originOf in shipper.ts), its ID and hashes there, and its canonical JSON exactly as
// it was hashed. The server adds its own sequence and its own SHA-256 chain over everything it
// received, computed by a trigger under a lock, so that no client can choose either:
//
//   team_hash = sha256(UTF-8 of team_prev || ':' || origin || ':' || origin_id || ':' || origin_hash), hex
//
// where team_prev is the team_hash of the entry at seq - 1 (64 zeros for seq 1) and origin_id is in
// decimal. The entry's content is covered through origin_hash, which is sha256 of entry_text
// (verify.ts checks both). received_at is the server's clock, kept for people, not hashed.
// The same trigger refuses an entry that breaks its origin's chain (a gap, another previous hash,
// a text that does not give its hash), so a writer's mistake is stopped at the door; verify
// finds what was changed past the triggers. Since schema version 4, shippers append a batch through
// bot_audit.append_entries, which does the trigger's work once a batch (APPEND_FUNCTION_V4).
import type { ClientBase } from 'pg';
import { GENESIS_HASH } from '../store/row';
import { TeamLogError } from './connect';

/** The version this code writes, in bot_audit.meta's schema_version. */
export const TEAM_SCHEMA_VERSION = 4;

/** The channel the insert trigger notifies (payload: the newest seq of the statement), for readers that tail the team log. */
export const TEAM_CHANNEL = 'bot_audit_team_entries';

/**
 * The text full-text search covers, as the local index's ftsBody (store/row.ts): outcome description,
 * input, return value and both snapshots (their canonical JSON text), joined by spaces, with the
 * 'simple' configuration. `||` rather than concat_ws, which is only STABLE and so not allowed in a
 * generated column; a missing field adds a space, and spaces are no words.
 */
export const TEAM_SEARCH_EXPR = `to_tsvector('simple'::regconfig, coalesce(entry->>'outcomeDesc', '') || ' ' || coalesce(entry->>'input', '') || ' ' || coalesce(entry->>'returnValue', '') || ' ' || coalesce(entry->>'before', '') || ' ' || coalesce(entry->>'after', ''))`;

/** Roles to grant to people's login roles: shippers (INSERT and SELECT only) and reviewers (SELECT). */
export const WRITER_ROLE = 'bot_audit_writer';
export const READER_ROLE = 'bot_audit_reader';

/**
 * The insert trigger's first part, in every version: one inserter at a time, and the row's seq and
 * team chain (see the top of this file).
 */
const CHAIN_ASSIGN = `    -- One inserter at a time, until its transaction ends: the chain's order is the commit order.
    PERFORM pg_advisory_xact_lock('bot_audit.team_entries'::regclass::oid::bigint);
    SELECT seq, team_hash INTO last_seq, last_hash FROM bot_audit.team_entries ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.team_prev := coalesce(last_hash, '${GENESIS_HASH}');
    NEW.team_hash := encode(sha256(convert_to(NEW.team_prev || ':' || NEW.origin || ':' || NEW.origin_id::text || ':' || NEW.origin_hash, 'UTF8')), 'hex');
    NEW.received_at := now();`;

/**
 * The insert trigger's origin checks, in every version: an entry that is there already returns (to
 * the unique key: ON CONFLICT skips it, a plain INSERT fails); a new one must follow its origin's
 * newest entry, give its own hash, and, as entry 1, be the origin's name.
 */
const ORIGIN_DOOR = `    SELECT origin_id, origin_hash INTO last_id, last_origin_hash FROM bot_audit.team_entries WHERE origin = NEW.origin ORDER BY origin_id DESC LIMIT 1;
    IF NEW.origin_id <= coalesce(last_id, 0) AND EXISTS (SELECT 1 FROM bot_audit.team_entries WHERE origin = NEW.origin AND origin_id = NEW.origin_id) THEN
      RETURN NEW;
    END IF;
    IF NEW.origin_id <> coalesce(last_id, 0) + 1 OR NEW.origin_prev <> coalesce(last_origin_hash, '${GENESIS_HASH}') THEN
      RAISE EXCEPTION 'entry % of origin % does not follow entry % there', NEW.origin_id, NEW.origin, coalesce(last_id, 0) USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF encode(sha256(convert_to(NEW.entry_text, 'UTF8')), 'hex') <> NEW.origin_hash THEN
      RAISE EXCEPTION 'entry % of origin % does not give its origin_hash', NEW.origin_id, NEW.origin USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.origin_id = 1 AND NEW.origin <> NEW.origin_hash THEN
      RAISE EXCEPTION 'origin % is not the hash of its entry 1', NEW.origin USING ERRCODE = 'integrity_constraint_violation';
    END IF;`;

/**
 * The insert trigger from schema version 3: version 1's chain and door checks, then the entry's
 * jsonb copy. Its lookups of the newest entry must go by index whatever the statistics say: a plan
 * made while the table was empty or small (a fresh team log, just analyzed) is kept for the session,
 * and a sequential scan per inserted row made shipping quadratic (330 entries a second after a
 * minute, measured). So the function runs with enable_seqscan off. The jsonb copy is made here
 * from entry_text (the client's `entry`, if any, is replaced). jsonb cannot hold a \u0000 or a lone
 * surrogate (jsonbCanHold); such an entry's copy is NULL and its fields match no filter, as before.
 * Rows already there (ON CONFLICT) return before any parsing.
 */
const CHAIN_FUNCTION_V3 = `
  CREATE OR REPLACE FUNCTION bot_audit.team_entries_chain() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog SET enable_seqscan = off AS $$
  DECLARE
    last_seq bigint;
    last_hash text;
    last_id bigint;
    last_origin_hash text;
    doc jsonb;
    kind text;
    id_text text;
    prev_text text;
  BEGIN
${CHAIN_ASSIGN}
${ORIGIN_DOOR}
    -- One parse, to jsonb: the server's copy of the entry, when jsonb can hold the text.
    IF strpos(NEW.entry_text, '\\u') = 0 OR NEW.entry_text !~* '(^|[^\\\\])(\\\\\\\\)*\\\\u(0000|d[89a-f])' THEN
      NEW.entry := NEW.entry_text::jsonb;
      kind := jsonb_typeof(NEW.entry);
      id_text := NEW.entry->>'id';
      prev_text := NEW.entry->>'prevHash';
    ELSE
      -- The fields are read from a copy with every escaped backslash spelled \\u005c, after which
      -- each backslash starts an escape, and those jsonb refuses are made spaces.
      NEW.entry := NULL;
      doc := regexp_replace(replace(NEW.entry_text, '\\\\', '\\u005c'), '\\\\u(0000|d[89a-f][0-9a-f]{2})', '\\\\u0020', 'gi')::jsonb;
      kind := jsonb_typeof(doc);
      id_text := doc->>'id';
      prev_text := doc->>'prevHash';
    END IF;
    IF kind IS DISTINCT FROM 'object' OR id_text IS DISTINCT FROM NEW.origin_id::text OR prev_text IS DISTINCT FROM NEW.origin_prev THEN
      RAISE EXCEPTION 'entry % of origin % names another ID or previous hash than its columns', NEW.origin_id, NEW.origin USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END $$;`;

/** The function shippers append through from schema version 4 (its signature, for grants). */
export const APPEND_FUNCTION = 'bot_audit.append_entries(text, bigint[], text[], text[], text[])';

/**
 * The setting that tells the row trigger that append_entries has made a row's seq, chain and jsonb
 * copy already (set and cleared around its INSERT, local to the transaction). It only lets the
 * trigger be skipped for rows that name their own seq, which a writer may not do (column grants):
 * setting it gets a writer nothing. The owner could use it to skip the trigger, as the owner can
 * switch triggers off: that is what verify is for.
 */
const APPENDING = 'bot_audit.appending';

/**
 * Schema version 4's append function (shipper.ts calls it): one call takes a run of consecutive
 * entries of one origin and does, for the whole run at once, what the row trigger does for one row:
 * the advisory lock, the newest seq and the origin's newest entry read once (not once a row), the
 * origin's chain, each text's hash and entry 1's name checked over the run in one statement, the
 * jsonb copies made and their ID and previous hash checked in a second, the team chain computed in a
 * loop, and then one INSERT with every column made. Entries the team log holds already (IDs up to the
 * origin's newest there: its chain there is gapless) are skipped, as ON CONFLICT skipped them; it
 * returns the IDs it inserted. SECURITY DEFINER: a writer may EXECUTE it (and INSERT only the
 * origin's columns, through the row trigger), so no writer chooses a seq, a team hash or a jsonb copy.
 * The refusals are the row trigger's, with the same texts and SQLSTATE, for the first entry of the run
 * that breaks a rule (a text that is no JSON fails the jsonb cast, as there).
 */
const APPEND_FUNCTION_V4 = `
  CREATE FUNCTION bot_audit.append_entries(p_origin text, p_ids bigint[], p_hashes text[], p_prevs text[], p_texts text[])
  RETURNS SETOF bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET enable_seqscan = off AS $$
  DECLARE
    n int := coalesce(cardinality(p_ids), 0);
    last_seq bigint;
    last_hash text;
    last_id bigint;
    last_origin_hash text;
    k0 int;
    bad_k int;
    bad_id bigint;
    bad_reason text;
    docs jsonb[];
    tprevs text[] := '{}';
    thashes text[] := '{}';
    h text;
    j int := 0;
    r record;
  BEGIN
    IF n = 0 THEN
      RETURN;
    END IF;
    IF cardinality(p_hashes) IS DISTINCT FROM n OR cardinality(p_prevs) IS DISTINCT FROM n OR cardinality(p_texts) IS DISTINCT FROM n THEN
      RAISE EXCEPTION 'append_entries takes as many hashes, previous hashes and texts as IDs' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_ids[1] IS NULL OR EXISTS (SELECT 1 FROM unnest(p_ids) WITH ORDINALITY AS u(id, k) WHERE id IS DISTINCT FROM p_ids[1] + k - 1) THEN
      RAISE EXCEPTION 'append_entries takes consecutive IDs of one origin, in order' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One inserter at a time, until its transaction ends (as the row trigger).
    PERFORM pg_advisory_xact_lock('bot_audit.team_entries'::regclass::oid::bigint);
    SELECT seq, team_hash INTO last_seq, last_hash FROM bot_audit.team_entries ORDER BY seq DESC LIMIT 1;
    SELECT origin_id, origin_hash INTO last_id, last_origin_hash FROM bot_audit.team_entries WHERE origin = p_origin ORDER BY origin_id DESC LIMIT 1;
    -- The run's first entry the team log lacks.
    k0 := greatest(1, coalesce(last_id, 0) - p_ids[1] + 2);
    IF k0 > n THEN
      RETURN;
    END IF;
    -- The origin's chain, each text's hash, entry 1's name: the first entry that breaks one.
    SELECT k, id, reason INTO bad_k, bad_id, bad_reason FROM (
      SELECT k, id, CASE
          WHEN (k = k0 AND id IS DISTINCT FROM coalesce(last_id, 0) + 1)
            OR prev IS DISTINCT FROM coalesce(lag(hash) OVER (ORDER BY k), last_origin_hash, '${GENESIS_HASH}') THEN 'follow'
          WHEN encode(sha256(convert_to(t, 'UTF8')), 'hex') IS DISTINCT FROM hash THEN 'hash'
          WHEN id = 1 AND p_origin IS DISTINCT FROM hash THEN 'name'
        END AS reason
      FROM unnest(p_ids, p_hashes, p_prevs, p_texts) WITH ORDINALITY AS u(id, hash, prev, t, k)
      WHERE k >= k0
    ) AS checked WHERE reason IS NOT NULL ORDER BY k LIMIT 1;
    IF bad_reason = 'follow' THEN
      RAISE EXCEPTION 'entry % of origin % does not follow entry % there', bad_id, p_origin, CASE WHEN bad_k = k0 THEN coalesce(last_id, 0) ELSE bad_id - 1 END USING ERRCODE = 'integrity_constraint_violation';
    ELSIF bad_reason = 'hash' THEN
      RAISE EXCEPTION 'entry % of origin % does not give its origin_hash', bad_id, p_origin USING ERRCODE = 'integrity_constraint_violation';
    ELSIF bad_reason = 'name' THEN
      RAISE EXCEPTION 'origin % is not the hash of its entry 1', p_origin USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    -- One parse of each text, to jsonb (NULL when jsonb cannot hold it: then the fields are read
    -- from a copy with such escapes made spaces, as the row trigger does), and its ID and previous hash.
    SELECT array_agg(e ORDER BY k), min(k) FILTER (WHERE jsonb_typeof(doc) IS DISTINCT FROM 'object' OR doc->>'id' IS DISTINCT FROM id::text OR doc->>'prevHash' IS DISTINCT FROM prev)
    INTO docs, bad_k
    FROM (
      SELECT k, id, prev, e, coalesce(e, regexp_replace(replace(t, '\\\\', '\\u005c'), '\\\\u(0000|d[89a-f][0-9a-f]{2})', '\\\\u0020', 'gi')::jsonb) AS doc
      FROM (
        SELECT k, id, prev, t, CASE WHEN strpos(t, '\\u') = 0 OR t !~* '(^|[^\\\\])(\\\\\\\\)*\\\\u(0000|d[89a-f])' THEN t::jsonb END AS e
        FROM unnest(p_ids, p_prevs, p_texts) WITH ORDINALITY AS u(id, prev, t, k)
        WHERE k >= k0
        OFFSET 0
      ) AS parsed
    ) AS fields;
    IF bad_k IS NOT NULL THEN
      RAISE EXCEPTION 'entry % of origin % names another ID or previous hash than its columns', p_ids[bad_k], p_origin USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    -- The team chain, link by link (schema.ts's formula).
    h := coalesce(last_hash, '${GENESIS_HASH}');
    FOR r IN SELECT id, hash FROM unnest(p_ids, p_hashes) WITH ORDINALITY AS u(id, hash, k) WHERE k >= k0 ORDER BY k LOOP
      j := j + 1;
      tprevs[j] := h;
      h := encode(sha256(convert_to(h || ':' || p_origin || ':' || r.id::text || ':' || r.hash, 'UTF8')), 'hex');
      thashes[j] := h;
    END LOOP;
    PERFORM set_config('${APPENDING}', 'on', true);
    INSERT INTO bot_audit.team_entries (seq, origin, origin_id, origin_hash, origin_prev, entry, entry_text, received_at, team_prev, team_hash)
    SELECT coalesce(last_seq, 0) + u.j, p_origin, u.id, u.hash, u.prev, u.e, u.t, now(), u.tp, u.th
    FROM unnest(p_ids[k0:n], p_hashes[k0:n], p_prevs[k0:n], p_texts[k0:n], docs, tprevs, thashes) WITH ORDINALITY AS u(id, hash, prev, t, e, tp, th, j)
    ORDER BY u.j;
    PERFORM set_config('${APPENDING}', '', true);
    RETURN QUERY SELECT unnest(p_ids[k0:n]);
  END $$;
  REVOKE ALL ON FUNCTION ${APPEND_FUNCTION} FROM PUBLIC;`;

/**
 * Each migration takes the schema from version i to i+1 (index 0: nothing → 1). Migrations add
 * columns, indexes and checks, and replace indexes and functions: no entry's text, hash or place in
 * a chain is ever rewritten, so every hash stays valid.
 *
 * seq is not an identity column: an identity value is drawn before BEFORE triggers run, so two
 * shippers' rows could take their seqs in one order and the lock, and so their places in the chain,
 * in the other. The trigger assigns seq = last + 1 under the lock instead: gapless, in chain order,
 * and a row read from a stale snapshot (a REPEATABLE READ client) collides on the primary key
 * rather than forking the chain.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE bot_audit.team_entries (
    seq bigint PRIMARY KEY,
    origin text NOT NULL CHECK (origin ~ '^[0-9a-f]{64}$'),
    origin_id bigint NOT NULL CHECK (origin_id >= 1),
    origin_hash text NOT NULL CHECK (origin_hash ~ '^[0-9a-f]{64}$'),
    origin_prev text NOT NULL CHECK (origin_prev ~ '^[0-9a-f]{64}$'),
    -- The canonical JSON as jsonb, for queries; NULL when jsonb cannot hold it (a NUL character or
    -- a lone surrogate in a value). entry_text is always the text that was hashed, byte for byte.
    entry jsonb,
    entry_text text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    team_prev text NOT NULL,
    team_hash text NOT NULL,
    UNIQUE (origin, origin_id)
  );
  CREATE FUNCTION bot_audit.team_entries_chain() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
  DECLARE
    last_seq bigint;
    last_hash text;
    last_id bigint;
    last_origin_hash text;
  BEGIN
${CHAIN_ASSIGN}
    -- The origin's own chain, checked at the door. An entry that is there already goes on to the
    -- unique key (ON CONFLICT skips it; a plain INSERT fails); a new one must follow the origin's
    -- newest, give its own hash, and, as entry 1, be the origin's name.
${ORIGIN_DOOR}
    RETURN NEW;
  END $$;
  CREATE FUNCTION bot_audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'team entries are append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
  END $$;
  CREATE TRIGGER team_entries_chain BEFORE INSERT ON bot_audit.team_entries FOR EACH ROW EXECUTE FUNCTION bot_audit.team_entries_chain();
  CREATE TRIGGER team_entries_no_update BEFORE UPDATE ON bot_audit.team_entries FOR EACH ROW EXECUTE FUNCTION bot_audit.refuse_change();
  CREATE TRIGGER team_entries_no_delete BEFORE DELETE ON bot_audit.team_entries FOR EACH ROW EXECUTE FUNCTION bot_audit.refuse_change();
  CREATE TRIGGER team_entries_no_truncate BEFORE TRUNCATE ON bot_audit.team_entries FOR EACH STATEMENT EXECUTE FUNCTION bot_audit.refuse_change();`,
  // 1 → 2: reading the team log as a log (reader.ts). Only additions: the rows keep every byte.
  //  - `search`, the full-text vector, generated (so no client fills it, and an ALTER computes it
  //    for the rows there), and a GIN index on it: the query compiler's text condition reads it;
  //  - indexes for what readers look up: an entity's history, a run (trace), a user, a bot;
  //    pages and keysets go by seq, the primary key;
  //  - a NOTIFY on TEAM_CHANNEL after every INSERT statement that added rows (delivered at commit),
  //    so a reader tails the log with LISTEN instead of polling.
  `
  ALTER TABLE bot_audit.team_entries ADD COLUMN search tsvector GENERATED ALWAYS AS (${TEAM_SEARCH_EXPR}) STORED;
  CREATE INDEX team_entries_search ON bot_audit.team_entries USING gin (search);
  CREATE INDEX team_entries_entity ON bot_audit.team_entries ((entry->>'entityName'), (entry->>'entityId'), seq);
  CREATE INDEX team_entries_trace ON bot_audit.team_entries ((entry->>'traceId'), seq);
  CREATE INDEX team_entries_user ON bot_audit.team_entries ((entry->>'user'), seq);
  CREATE INDEX team_entries_bot ON bot_audit.team_entries ((entry->>'bot'), seq);
  CREATE FUNCTION bot_audit.team_entries_notify() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
  DECLARE
    newest bigint;
  BEGIN
    SELECT max(seq) INTO newest FROM new_rows;
    IF newest IS NOT NULL THEN
      PERFORM pg_notify('${TEAM_CHANNEL}', newest::text);
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER team_entries_notify AFTER INSERT ON bot_audit.team_entries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bot_audit.team_entries_notify();`,
  // 2 → 3: fast filters and counts (reader.ts), and the jsonb copy made by the server.
  //  - The insert trigger now makes `entry` itself from entry_text (NULL when jsonb cannot hold the
  //    text: a \u0000 or a lone surrogate escape), whatever the client sent; writers may no longer
  //    name it (GRANTS). It also refuses, at the door, an entry_text that is not a JSON object
  //    naming the row's own origin_id and origin_prev.
  //  - The fields queries filter on are plain stored columns generated from `entry` (computed after
  //    the BEFORE trigger, so from the server's copy), with B-tree indexes ending in seq: a count is
  //    an index-only scan, a page a keyset walk. Expression indexes on jsonb allowed neither. The
  //    rows already there get their columns from the table rewrite that adding them makes; no
  //    entry_text, hash or chain changes.
  //  - A larger statistics target on `search`, so that the planner tells a rare word from a common one.
  `
  ${CHAIN_FUNCTION_V3}
  ALTER TABLE bot_audit.team_entries
    ADD COLUMN action text GENERATED ALWAYS AS (entry->>'action') STORED,
    ADD COLUMN user_name text GENERATED ALWAYS AS (entry->>'user') STORED,
    ADD COLUMN bot text GENERATED ALWAYS AS (entry->>'bot') STORED,
    ADD COLUMN entity_name text GENERATED ALWAYS AS (entry->>'entityName') STORED,
    ADD COLUMN entity_id text GENERATED ALWAYS AS (entry->>'entityId') STORED,
    ADD COLUMN entity_num numeric GENERATED ALWAYS AS (CASE WHEN entry->>'entityId' ~ '^-?[0-9]{1,15}([.][0-9]{1,15})?$' THEN (entry->>'entityId')::numeric END) STORED,
    ADD COLUMN outcome int GENERATED ALWAYS AS (CASE WHEN entry->>'outcome' ~ '^-?[0-9]{1,9}$' THEN (entry->>'outcome')::int END) STORED,
    ADD COLUMN recorded bigint GENERATED ALWAYS AS (CASE WHEN entry->>'recorded' ~ '^-?[0-9]{1,18}$' THEN (entry->>'recorded')::bigint END) STORED,
    ADD COLUMN trace_id text GENERATED ALWAYS AS (entry->>'traceId') STORED;
  ALTER TABLE bot_audit.team_entries ALTER COLUMN search SET STATISTICS 1000;
  DROP INDEX bot_audit.team_entries_entity, bot_audit.team_entries_trace, bot_audit.team_entries_user, bot_audit.team_entries_bot;
  CREATE INDEX team_entries_action ON bot_audit.team_entries (action, seq);
  CREATE INDEX team_entries_user ON bot_audit.team_entries (user_name, seq);
  CREATE INDEX team_entries_bot ON bot_audit.team_entries (bot, seq);
  CREATE INDEX team_entries_entity ON bot_audit.team_entries (entity_name, entity_id, seq);
  CREATE INDEX team_entries_trace ON bot_audit.team_entries (trace_id, seq);
  CREATE INDEX team_entries_outcome ON bot_audit.team_entries (outcome, seq);
  CREATE INDEX team_entries_recorded ON bot_audit.team_entries (recorded, seq);
  ANALYZE bot_audit.team_entries;`,
  // 3 → 4: faster shipping. Shippers append a batch through bot_audit.append_entries (above), which
  //  does the row trigger's work once a batch instead of once a row; the row trigger stays for every
  //  other INSERT, and is skipped only for rows that append_entries made (they name their seq, and
  //  the setting says so). No entry's text, hash or place in a chain changes.
  //  An index on (entity_name, seq): an entity-name condition (the reader turns "contains" into
  //  `entity_name IN (…)`) walks it newest first; (entity_name, entity_id, seq) gave no seq order.
  //  New rows stay whole in the table up to a page (toast_tuple_target 8160, where the default ~2 KB
  //  compressed a fifth of the benchmark's rows and moved most of those into the TOAST table: a second
  //  table and index to write when shipping, and to read for a page); what is larger is compressed
  //  with lz4 rather than pglz, where the server has it. On 60,000 benchmark entries: 143 µs of server
  //  CPU per shipped entry, against 207 with lz4 alone and 195 before; the table 11% larger, verify
  //  as fast (measured with bench/team-ship-profile.ts). Rows there already stay as they are.
  `
  ${APPEND_FUNCTION_V4}
  DROP TRIGGER team_entries_chain ON bot_audit.team_entries;
  CREATE TRIGGER team_entries_chain BEFORE INSERT ON bot_audit.team_entries FOR EACH ROW
    WHEN (NEW.seq IS NULL OR current_setting('${APPENDING}', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION bot_audit.team_entries_chain();
  CREATE INDEX team_entries_entity_seq ON bot_audit.team_entries (entity_name, seq);
  ALTER TABLE bot_audit.team_entries SET (toast_tuple_target = 8160);
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
      ALTER TABLE bot_audit.team_entries ALTER COLUMN entry_text SET COMPRESSION lz4, ALTER COLUMN entry SET COMPRESSION lz4, ALTER COLUMN search SET COMPRESSION lz4;
    END IF;
  END $$;`,
];

/**
 * What each role may do, granted again by every init (GRANT is idempotent). A writer may name only
 * the origin's columns in an INSERT: seq, the team chain, received_at and the jsonb copy are the server's.
 */
const GRANTS: Record<string, string> = {
  [WRITER_ROLE]: `
    GRANT USAGE ON SCHEMA bot_audit TO ${WRITER_ROLE};
    GRANT SELECT ON bot_audit.team_entries, bot_audit.meta TO ${WRITER_ROLE};
    REVOKE INSERT (entry) ON bot_audit.team_entries FROM ${WRITER_ROLE};
    GRANT INSERT (origin, origin_id, origin_hash, origin_prev, entry_text) ON bot_audit.team_entries TO ${WRITER_ROLE};`,
  [READER_ROLE]: `
    GRANT USAGE ON SCHEMA bot_audit TO ${READER_ROLE};
    GRANT SELECT ON bot_audit.team_entries, bot_audit.meta TO ${READER_ROLE};`,
};

export interface InitResult {
  /** The schema version before (0: there was no team log) and after. */
  from: number;
  version: number;
  /** The roles made now, and what could not be done about roles (the connecting user may not create them). */
  rolesCreated: string[];
  notices: string[];
}

/** The team log needs text to come back exactly as it went in: a UTF8 database. */
async function assertUtf8(client: ClientBase): Promise<void> {
  const { rows } = await client.query<{ enc: string }>("SELECT current_setting('server_encoding') AS enc");
  if (rows[0].enc !== 'UTF8') throw new TeamLogError('NO_TEAM_LOG', `the team log needs a database in UTF8, not ${rows[0].enc} (CREATE DATABASE … ENCODING 'UTF8')`);
}

async function schemaVersion(client: ClientBase): Promise<number> {
  const { rows } = await client.query<{ meta: string | null }>("SELECT to_regclass('bot_audit.meta')::text AS meta");
  if (!rows[0].meta) return 0;
  const v = await client.query<{ value: string }>("SELECT value FROM bot_audit.meta WHERE key = 'schema_version'");
  return v.rows.length ? Number(v.rows[0].value) : 0;
}

/**
 * Creates or migrates the team log (`bot-audit team init`): safe to run twice, and by two people at
 * once (an advisory lock serialises inits). Roles are made when the connecting user may create roles,
 * else a notice says what to ask an administrator for; either way, existing roles get their grants.
 */
export async function initTeamLog(client: ClientBase, opts: { version?: number } = {}): Promise<InitResult> {
  // `version`: migrate only that far (tests make an old team log with it); default the current one.
  const target = opts.version ?? TEAM_SCHEMA_VERSION;
  if (!Number.isSafeInteger(target) || target < 1 || target > TEAM_SCHEMA_VERSION) throw new Error(`no team log schema version ${String(target)}`);
  await assertUtf8(client);
  await client.query('BEGIN');
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('bot_audit.init'))");
    await client.query('CREATE SCHEMA IF NOT EXISTS bot_audit');
    await client.query('CREATE TABLE IF NOT EXISTS bot_audit.meta (key text PRIMARY KEY, value text NOT NULL)');
    const from = await schemaVersion(client);
    if (from > TEAM_SCHEMA_VERSION) throw new TeamLogError('NO_TEAM_LOG', `the team log has schema version ${from}, newer than this Bot Audit's ${TEAM_SCHEMA_VERSION}: update Bot Audit`);
    const version = Math.max(from, target);
    for (let v = from; v < version; v++) await client.query(MIGRATIONS[v]);
    await client.query(
      "INSERT INTO bot_audit.meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      [String(version)],
    );
    const rolesCreated: string[] = [];
    const notices: string[] = [];
    const { rows } = await client.query<{ may: boolean }>('SELECT rolsuper OR rolcreaterole AS may FROM pg_roles WHERE rolname = current_user');
    const mayCreate = rows[0]?.may === true;
    for (const role of [WRITER_ROLE, READER_ROLE]) {
      const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rows.length > 0;
      if (!exists && !mayCreate) {
        notices.push(`role ${role} not created: this user may not create roles; an administrator can run CREATE ROLE ${role} NOLOGIN, then team init again`);
        continue;
      }
      if (!exists) {
        await client.query(`CREATE ROLE ${role} NOLOGIN`);
        rolesCreated.push(role);
      }
      await client.query(GRANTS[role]);
      // From version 4, writers append through append_entries.
      if (role === WRITER_ROLE && version >= 4) await client.query(`GRANT EXECUTE ON FUNCTION ${APPEND_FUNCTION} TO ${WRITER_ROLE}`);
    }
    await client.query('COMMIT');
    return { from, version, rolesCreated, notices };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** Refuses a database without a team log of this schema version (before shipping into it or verifying it). */
export async function assertTeamLog(client: ClientBase): Promise<void> {
  await assertUtf8(client);
  const v = await schemaVersion(client);
  if (v === 0) throw new TeamLogError('NO_TEAM_LOG', 'this database has no team log (bot-audit team init --db … creates one)');
  if (v > TEAM_SCHEMA_VERSION) throw new TeamLogError('NO_TEAM_LOG', `the team log has schema version ${v}, newer than this Bot Audit's ${TEAM_SCHEMA_VERSION}: update Bot Audit`);
  if (v < TEAM_SCHEMA_VERSION) throw new TeamLogError('NO_TEAM_LOG', `the team log has schema version ${v}: bot-audit team init migrates it to ${TEAM_SCHEMA_VERSION}`);
}

/** The team chain's link, as the trigger computes it (see the top of this file). */
export function teamLink(teamPrev: string, origin: string, originId: number | string, originHash: string): string {
  return `${teamPrev}:${origin}:${originId}:${originHash}`;
}

/**
 * Whether jsonb can hold this JSON text (else the row's entry is NULL, and entry_text has it all).
 * JSON.stringify escapes only control characters and lone surrogates as \uXXXX, and jsonb refuses
 * \u0000 and lone surrogates; an escaped backslash before "u" (an even run of backslashes) is no escape.
 */
export function jsonbCanHold(text: string): boolean {
  return !/(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f])/i.test(text);
}
