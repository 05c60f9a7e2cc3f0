// The team log's address and connection: a postgres:// URL that never carries a password (pg reads
// PGPASSWORD or ~/.pgpass itself), and one error type whose messages never show one either.
import { Client } from 'pg';

/**
 * Why the team log refused or failed. Codes:
 *  - BAD_URL: not a postgres:// URL, or one with a password in it;
 *  - UNREACHABLE: no connection (refused, unknown host, timeout, no such database, server shutting down);
 *  - REFUSED: connected, but the login or a command was refused (bad password, missing privilege);
 *  - NO_TEAM_LOG: the database has no team log (`bot-audit team init` makes one), or one this code cannot use
 *    (a newer or older schema, a server encoding other than UTF8);
 *  - FORK: the team log and the local log disagree about an entry (a restored backup of either side, or a
 *    copy of the local log shipping as the same origin); nothing of the disagreeing batch was kept;
 *  - LOCAL: the local log's entry cannot be shipped as it was hashed (its text no longer gives its hash).
 */
export type TeamLogErrorCode = 'BAD_URL' | 'UNREACHABLE' | 'REFUSED' | 'NO_TEAM_LOG' | 'FORK' | 'LOCAL';

export class TeamLogError extends Error {
  readonly code: TeamLogErrorCode;
  constructor(code: TeamLogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TeamLogError';
    this.code = code;
  }
}

export function isTeamLogUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

/**
 * The URL as it may be shown: a password in it (`user:secret@`) becomes `user:***@`. The password
 * runs to the authority's last `@`, as URL parsers read it, so a raw `@` in it is hidden too.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i, '$1:***@');
}

/** Refuses anything but a postgres:// URL without a password: credentials come from PGPASSWORD or ~/.pgpass, never from a URL that lands in shell history and settings. */
export function checkTeamLogUrl(url: string): void {
  if (!isTeamLogUrl(url)) throw new TeamLogError('BAD_URL', `the team log is a postgres://user@host:port/database URL, not "${redactUrl(url)}"`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TeamLogError('BAD_URL', `"${redactUrl(url)}" is not a valid URL`);
  }
  if (u.password) throw new TeamLogError('BAD_URL', `${redactUrl(url)} carries a password: give it in PGPASSWORD or ~/.pgpass instead`);
}

/** Node's words for a connection that could not be made or was lost. */
const NETWORK = /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)$/;

/**
 * A failure of pg or the network as a TeamLogError (the URL shown without its password), or undefined
 * for anything else. SQLSTATE classes: 08 connection, 3D no such database, 57P server shutting down
 * (unreachable); 28 login, 42501 privilege (refused).
 */
export function asTeamLogError(e: unknown, url: string): TeamLogError | undefined {
  if (e instanceof TeamLogError) return e;
  if (!(e instanceof Error)) return undefined;
  const code = (e as { code?: unknown }).code;
  const where = redactUrl(url);
  if ((typeof code === 'string' && (NETWORK.test(code) || /^(08|3D|57P)/.test(code))) || /^Connection terminated|timeout expired|not queryable/i.test(e.message)) {
    return new TeamLogError('UNREACHABLE', `cannot reach the team log at ${where}: ${e.message || code}`, { cause: e });
  }
  if (typeof code === 'string' && /^(28|42501)/.test(code)) return new TeamLogError('REFUSED', `the team log at ${where} refused: ${e.message}`, { cause: e });
  return undefined;
}

export interface ConnectOptions {
  /** Give up connecting after this long (default 10 s): an unreachable host is UNREACHABLE, not a hang. */
  connectTimeoutMs?: number;
  /**
   * The password, when it does not come from PGPASSWORD or ~/.pgpass (the editor's secret storage).
   * It is handed to the driver only; never put in a URL, an error or a log line.
   */
  password?: string;
}

/**
 * Removes secrets from a text meant for people (an error, a warning, a status): each of `secrets`
 * (the password given, PGPASSWORD) becomes `***`. A secret shorter than 4 characters is left alone:
 * hiding every "a" in a message would hide the message, and reveals little.
 */
export function redactSecrets(text: string, secrets: (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  return out;
}

/** A client for the team log, not connected yet (so that its owner can end it while it connects). */
export function teamLogClient(url: string, opts: ConnectOptions = {}): Client {
  checkTeamLogUrl(url);
  const client = new Client({ connectionString: url, connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000, application_name: 'bot-audit' });
  // Not in the config: pg lays the URL's fields (a password of undefined among them) over the config's.
  // The client's own property, which pg keeps out of enumeration and so out of logs and inspections.
  if (opts.password !== undefined) client.password = opts.password;
  // A connection lost while idle is reported by the next query; without a listener it would crash the process.
  client.on('error', () => undefined);
  return client;
}

/** A connected client for the team log; the caller ends it. */
export async function connectTeamLog(url: string, opts: ConnectOptions = {}): Promise<Client> {
  const client = teamLogClient(url, opts);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw asTeamLogError(e, url) ?? e;
  }
  return client;
}
