// Entry types shared by the store and the query module. Imports nothing.

export const ACTIONS = ['CREATED', 'UPDATED', 'DELETED', 'INVITED', 'ACCEPTED', 'LOGIN', 'LOGOUT', 'EXECUTED'] as const;
export type Action = (typeof ACTIONS)[number];

export const OUTCOMES = [0, 4, 8, 12] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** FHIR AuditEvent outcome codes and their display names. */
export const OUTCOME_NAMES: Record<Outcome, string> = {
  0: 'Success',
  4: 'Minor failure',
  8: 'Serious failure',
  12: 'Major failure',
};

/** An outcome's display name; the number itself for a code that is not one of the four; '' for none. */
export function outcomeName(o: number | undefined): string {
  return o === undefined ? '' : (OUTCOME_NAMES[o as Outcome] ?? String(o));
}

export function isAction(v: unknown): v is Action {
  return typeof v === 'string' && (ACTIONS as readonly string[]).includes(v);
}

export function isOutcome(v: unknown): v is Outcome {
  return typeof v === 'number' && (OUTCOMES as readonly number[]).includes(v);
}

/**
 * `keys`, which the compiler checks to name every key of T: a list of an entry's fields (hashed,
 * stored, exported) fails to compile when the entry gains a field that the list lacks.
 */
export function everyKeyOf<T>() {
  return <const K extends readonly (keyof T)[]>(keys: K & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, K[number]> })): K => keys;
}

/** What a caller hands to `append()`: the one list of an entry's fields, which the other forms derive from. */
export interface NewEntry {
  user: string;
  action: Action;
  entityName: string;
  entityId: string;
  bot?: string;
  outcome?: Outcome;
  failureKind?: string;
  outcomeDesc?: string;
  periodStart?: number;
  periodEnd?: number;
  traceId?: string;
  contentType?: string;
  input?: string;
  returnValue?: string;
  before?: unknown;
  after?: unknown;
  replayOf?: number;
  /** For a change a bot made: the person who ran the bot (the entry's user is `Bot/<name>`). */
  onBehalfOf?: string;
  /** UTC milliseconds; defaults to Date.now(). */
  recorded?: number;
}

/** A stored entry. `before`/`after` come back as parsed JSON (or undefined). */
export interface Entry extends NewEntry {
  id: number;
  uuid: string;
  recorded: number;
  hash: string;
  prevHash: string;
  /**
   * Entries read from a team log (src/core/team/reader.ts) only: the log the entry came from (its
   * origin, the hash of that log's entry 1) and its ID there. `id` is then the team log's seq, and
   * `hash`, `prevHash` and `replayOf` are the origin log's.
   */
  origin?: string;
  originId?: number;
}
