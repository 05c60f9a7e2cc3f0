// bot-audit: run bots and read the audit log from a terminal or CI, over the same core and the same
// database file as the extension. No `vscode`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { parseArgs } from 'node:util';
import { botEntityId, botRunsFilter, discoverBots, type BotInfo } from '../core/bots/discovery';
import { BOT_AUDIT_CONFIG_FILE, MEDPLUM_CONFIG_FILE, formatConfigIssue, readSampleInput } from '../core/bots/config';
import { QueryError, parseQuery, type Filter } from '../core/query';
import { type BotRunner, currentNode, debugProblem, formatLogLine, openRunner, parseRunInput, replayInput, type RunResult } from '../core/runner';
import { AuditStore, defaultStateDir, outcomeName, StoreError, type Entry, type ExportFormat, type StoreWarning, type VerifyOptions } from '../core/store';
import { DATA_DIR, ensureDataDir, resolveDbPath, workspaceRelative } from '../core/workspace/layout';
import { formatTable, outcomeText, safeText, styleFor } from './table';
import { diffText } from './diff';
import { formatter } from '../core/store/formats';
import { isDamage } from '../core/store/errors';
import { progressBar } from './progress';
import { asTeamLogError, checkTeamLogUrl, compareHeads, connectTeamLog, initTeamLog, isTeamLogUrl, readTeamMark, redactUrl, shipToTeam, TeamLogError, TeamLogReader, TeamReplicator, verifyTeamLog, writeTeamMark, type HeadComparison } from '../core/team';
import type { AuditLogReader } from '../core/store/api';
import type { Client } from 'pg';

/**
 * Exit codes. A run exits with its outcome (0, 4, 8, 12); everything else has its own code, never one
 * of those. The numbers are stable: scripts test them (README.md, "Exit codes").
 */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  unknownBot: 3,
  inputFile: 5,
  badInput: 6,
  badQuery: 7,
  /** Not a Bot Audit database, a damaged one, or one of a newer schema. */
  badDatabase: 9,
  noEntry: 10,
  /** The hash chain is broken: an entry of the database or of the journal was changed, removed or inserted. */
  chainBroken: 11,
  /** Reading or writing a file failed (a full disk, a file that cannot be opened, …). */
  io: 13,
  /** Another process held the log's lock for too long. */
  locked: 14,
  /** A command that writes, on a log that cannot be written (read-only folder, mount or files). */
  readOnly: 15,
  /** The team log (PostgreSQL) cannot be reached, or refused the login or a command. */
  teamLog: 16,
} as const;

/** The exit code for each way the store fails; the compiler checks that every code has one. */
export function exitCodeOf(e: StoreError): number {
  switch (e.code) {
    case 'NOT_BOT_AUDIT_DB':
    case 'CORRUPT':
    case 'NEWER_SCHEMA':
      return EXIT.badDatabase;
    case 'TAMPERED':
      return EXIT.chainBroken;
    case 'IO':
      return EXIT.io;
    case 'LOCKED':
      return EXIT.locked;
    case 'READ_ONLY':
      return EXIT.readOnly;
    case 'INVALID_ENTRY':
    case 'CLOSED':
      return EXIT.internal;
    default: {
      const unknown: never = e.code;
      return unknown;
    }
  }
}

/** The exit code for each way the team log fails. */
export function teamExitCodeOf(e: TeamLogError): number {
  switch (e.code) {
    case 'BAD_URL':
      return EXIT.usage;
    case 'UNREACHABLE':
    case 'REFUSED':
      return EXIT.teamLog;
    case 'NO_TEAM_LOG':
      return EXIT.badDatabase;
    case 'FORK':
    case 'LOCAL':
      return EXIT.chainBroken;
    default: {
      const unknown: never = e.code;
      return unknown;
    }
  }
}

/** A system call's error (ENOSPC, EIO, EACCES, …), as Node reports one. */
function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  const x = e as NodeJS.ErrnoException;
  return e instanceof Error && typeof x.code === 'string' && /^E[A-Z0-9]+$/.test(x.code) && typeof x.syscall === 'string';
}

class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

const HELP: Record<string, string> = {
  '': `bot-audit: run bots and read the Bot Audit log

Usage: bot-audit <command> [options]

Commands:
  run <bot>            run a bot (exits with its outcome: 0, 4, 8 or 12)
  replay <event-id>    run a recorded event's input again with the bot's current code
  bots                 the bots found, with their settings and last outcome
  log                  the log, newest first (--filter, --limit, --format, --follow)
  show <id>            one entry (--diff for its before/after)
  export               the log, streamed as csv, ndjson or a FHIR Bundle
                       (log, show and export read the team log with --db postgres://…)
  verify               check the hash chain (of the team log with --db postgres://…)
  team init|ship|status
                       create the team log in PostgreSQL; ship this workspace's log into it;
                       say how far behind the team log is

Every command takes --db PATH and --workspace DIR, before or after the command, and --help.
log, show, export, verify and team take --db postgres://user@host:port/database for the team log
(team also reads BOT_AUDIT_TEAM_LOG); the password comes from PGPASSWORD or ~/.pgpass, never from the
URL. The team log's entries are numbered by its seq, and each says which log it came from (origin)
and its ID there.
run and replay take --team-log postgres://… (or BOT_AUDIT_TEAM_LOG): once the run is recorded,
the entries the team log lacks are shipped; a team log that cannot be reached is a warning, and
the next command ships them. A local verify with a team log compares this log's head with it.
Without --workspace, the workspace is the nearest folder, here or above, with bot-audit.json,
medplum.config.json or .bot-audit/ (else this folder).
BOT_AUDIT_LOCK_TIMEOUT: seconds to wait for another writer's lock (default 30).
Exit codes: 0/4/8/12 run outcomes; 2 usage; 3 unknown bot; 5 input file; 6 bad input;
7 bad filter; 9 not a Bot Audit database, or a damaged one; 10 no such entry; 11 broken chain
(or a changed journal entry, or a team log that disagrees with this log); 13 I/O error; 14 log
locked too long; 15 read-only log; 16 team log unreachable or refused; 1 internal error.`,
  run: `Usage: bot-audit run <bot> [--input FILE | --input-text TEXT] [--content-type T] [--timeout S] [--inspect[=PORT]] [--team-log URL] [--json]

<bot> is a bot's name or its path from the workspace root. Without an input, the bot's first
sample input from bot-audit.json is used. Prints the output as it comes, then the outcome and the
bot's return value (a string as its text, anything else as JSON). With --team-log postgres://… (or
BOT_AUDIT_TEAM_LOG), the log's entries the team log lacks are shipped once the run is recorded; when
the team log cannot be reached, a warning says how far behind it is, and the exit code stays the run's.

With --inspect (port 9229) or --inspect=PORT (0: any free port), the bot runs under a debugger: its
process starts with the inspector on 127.0.0.1:PORT in the same sandbox, prints the address to
stderr, and waits until a debugger attaches (VS Code's "Attach" to that port, chrome://inspect, or
node inspect ws://…). The bot's time limit is suspended while a debugger holds it paused (and runs
while it runs); the entry says the run was debugged, and how long it was paused. Needs Node 24.10
or newer (Node 20's permission model cannot allow the inspector). Ctrl+C cancels the run.`,
  replay: 'Usage: bot-audit replay <event-id> [--team-log URL] [--json]',
  bots: 'Usage: bot-audit bots [--json]',
  log: `Usage: bot-audit log [--filter QUERY] [--limit N] [--format table|json|ndjson|csv] [--follow]

QUERY is the audit log's query text, e.g. 'action:UPDATED,DELETED entity:~Patient -user:system created:>now-7d'.

With --db postgres://user@host:port/database, reads the team log: IDs are its seq, an Origin column
says which log each entry came from and its ID there (origin, origin_id in csv and json), and
--follow is told of new entries by the server (LISTEN/NOTIFY), reconnecting when it goes away.`,
  show: `Usage: bot-audit show <id> [--diff] [--json]

With --db postgres://…, <id> is the team log's seq; the entry says which log it came from (origin) and its ID there.`,
  export: `Usage: bot-audit export --format csv|ndjson|fhir [--filter QUERY] [-o FILE]

With --db postgres://…, exports the team log (csv gets the columns origin and origin_id).`,
  verify: `Usage: bot-audit verify [--full] [--expect-head [ID:]HASH] [--team-log URL] [--json]

Checks the hash chain. After a first full check, only the entries added since the last successful
check are checked (and that the last entry checked then still has the same hash); --full checks
every entry again. The log is also compared with the newest entry this machine saw written to it
(kept outside the log's folder, in $BOT_AUDIT_STATE_DIR, else $XDG_STATE_HOME/bot-audit or
~/.local/state/bot-audit; %LOCALAPPDATA%\\bot-audit on Windows): a log that got shorter, or whose
history was hashed again, fails. --expect-head checks against a head kept elsewhere (the "head"
line of an earlier run, or ID:HASH for an entry before the newest). Exits 11 when anything fails.

With --team-log postgres://… (or BOT_AUDIT_TEAM_LOG), the team log is an outside witness too: it must
hold a beginning of this log, never more entries of it than this log has, nor another hash at an ID
both have (exit 11). A team log that cannot be reached is a warning; the local log is verified anyway.

With --db postgres://user@host:port/database, verifies the team log instead, on the server: its own
chain over every entry it received, and each origin's chain (contiguous IDs, each entry's text giving
its hash); the first broken entry is named by its team seq, origin and ID. --full also parses every
entry: its text is JSON naming its own ID and previous hash, and the server's jsonb copy of it (what
filters and full-text search read) is the same entry; many times slower. Exits 16 when it cannot be
reached.`,
  team: `Usage: bot-audit team init|ship|status --db postgres://user@host:port/database

  init    create the team log (schema bot_audit, its append-only table, and the roles
          bot_audit_writer and bot_audit_reader when this user may create roles); safe to run twice
  ship    ship this workspace's log (--workspace DIR) into the team log, the entries it lacks, once
  status  how far behind the team log is with this workspace's log (exit 11 when they disagree;
          when it cannot be reached, how far behind it was when last reached)

--team-log or BOT_AUDIT_TEAM_LOG may stand in for --db. The password comes from PGPASSWORD or
~/.pgpass. A ship that finds the team log and this log disagreeing about an entry (a restored
backup of either side) ships nothing and exits 11.`,
};

const COMMON = {
  db: { type: 'string' },
  workspace: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
} as const;

const OPTIONS = {
  run: { ...COMMON, 'team-log': { type: 'string' }, input: { type: 'string' }, 'input-text': { type: 'string' }, 'content-type': { type: 'string' }, timeout: { type: 'string' }, inspect: { type: 'string' } },
  replay: { ...COMMON, 'team-log': { type: 'string' } },
  bots: { ...COMMON },
  log: { ...COMMON, filter: { type: 'string' }, limit: { type: 'string' }, format: { type: 'string' }, follow: { type: 'boolean', short: 'f' } },
  show: { ...COMMON, diff: { type: 'boolean' } },
  export: { ...COMMON, filter: { type: 'string' }, format: { type: 'string' }, output: { type: 'string', short: 'o' } },
  verify: { ...COMMON, full: { type: 'boolean' }, 'expect-head': { type: 'string' }, 'team-log': { type: 'string' } },
  team: { ...COMMON, 'team-log': { type: 'string' } },
} as const;

type Command = keyof typeof OPTIONS;

export interface CliIo {
  stdout: NodeJS.WriteStream | NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where dist/ is (sql-wasm.wasm, bot-worker.js). */
  distDir: string;
}

interface Ctx {
  io: CliIo;
  root: string;
  dbPath: string;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function out(ctx: Ctx, s: string): void {
  ctx.io.stdout.write(`${s}\n`);
}

/**
 * Opens the log: `write` to record runs (created when missing), `read` for everything else, which
 * opens it read-only: no lock, nothing written or folded, so an auditor's read-only copy reads, and a
 * missing file is refused rather than created. A log that cannot be written (a read-only mount, …)
 * is refused for `write` before anything runs.
 */
async function openStore(ctx: Ctx, mode: 'read' | 'write', watch = false): Promise<AuditStore> {
  const create = mode === 'write';
  if (!create && !fs.existsSync(ctx.dbPath)) {
    throw new CliError(EXIT.badDatabase, `no audit log at ${ctx.dbPath} (run a bot first, or pass --db)`);
  }
  if (create && !fs.existsSync(ctx.dbPath)) ensureDataDir(ctx.dbPath);
  const store = await AuditStore.open(ctx.dbPath, {
    wasmPath: path.join(ctx.io.distDir, 'sql-wasm.wasm'),
    watch,
    lockTimeoutMs: lockTimeoutMs(ctx),
    readOnly: !create,
    // The newest entry this machine saw, kept outside the log's folder (see `verify`).
    witnessDir: defaultStateDir(ctx.io.env),
  });
  if (create && store.readOnly) {
    await store.close();
    throw new CliError(EXIT.readOnly, `${ctx.dbPath} is read-only (its folder or journal cannot be written); nothing was run or recorded`);
  }
  // A damaged database file is not written to: found before the bot runs, not after.
  const damage = create ? store.checkDatabaseFile() : undefined;
  if (damage) {
    await store.close();
    throw new CliError(EXIT.badDatabase, `${damage}; nothing was run or recorded`);
  }
  if (create && store.tampering) {
    const { message } = store.tampering;
    await store.close();
    throw new CliError(EXIT.chainBroken, `${store.journalFile}: ${message}; nothing was run or recorded`);
  }
  // What the store found and went past (a torn journal line, a checkpoint that failed, …): one line each
  // on stderr. A command that writes is refused below for a changed journal line: not said twice.
  const warn = (w: StoreWarning) => ctx.io.stderr.write(`warning: ${safeText(w.message)}\n`);
  for (const w of store.warnings) if (!(create && w.code === 'TAMPERED')) warn(w);
  store.onDidWarn(warn);
  return store;
}

/** BOT_AUDIT_LOCK_TIMEOUT (seconds), else the store's default. */
function lockTimeoutMs(ctx: Ctx): number | undefined {
  const v = ctx.io.env.BOT_AUDIT_LOCK_TIMEOUT;
  if (v === undefined || v === '') return undefined;
  const s = Number(v);
  if (!(s >= 0 && s <= 3600)) throw new CliError(EXIT.usage, `BOT_AUDIT_LOCK_TIMEOUT must be a number of seconds between 0 and 3600, not "${v}"`);
  return s * 1000;
}

/** The log a reading command (log, show, export) reads, and how to name it in messages. */
interface OpenedLog {
  log: AuditLogReader;
  where: string;
  /** The team log: entries are numbered by its seq, and carry their origin and origin ID. */
  team: boolean;
  close(): Promise<void>;
}

/** The workspace's log (or --db PATH), or for --db postgres://… the team log (TeamLogReader). */
async function openReader(ctx: Ctx, watch = false): Promise<OpenedLog> {
  const db = ctx.values.db;
  if (typeof db === 'string' && isTeamLogUrl(db)) {
    const reader = await TeamLogReader.open(db);
    return { log: reader, where: `the team log at ${redactUrl(db)}`, team: true, close: () => reader.close() };
  }
  const store = await openStore(ctx, 'read', watch);
  return { log: store, where: ctx.dbPath, team: false, close: () => store.close() };
}

function filtersOf(ctx: Ctx): Filter[] {
  const q = ctx.values.filter;
  if (typeof q !== 'string') return [];
  return parseQuery(q);
}

async function findBot(ctx: Ctx, nameOrPath: string): Promise<BotInfo> {
  const found = await discoverBots(ctx.root);
  for (const i of found.issues) ctx.io.stderr.write(`warning: ${safeText(formatConfigIssue(i))}\n`);
  const rel = workspaceRelative(ctx.root, path.resolve(ctx.io.cwd, nameOrPath));
  const bot = found.bots.find((b) => b.relPath === nameOrPath || b.relPath === rel || b.name === nameOrPath || b.id === nameOrPath);
  if (!bot) {
    const names = found.bots.map((b) => b.name).join(', ') || 'none';
    throw new CliError(EXIT.unknownBot, `unknown bot "${nameOrPath}" (bots here: ${names})`);
  }
  return bot;
}

async function withRunner<T>(ctx: Ctx, store: AuditStore, fn: (r: BotRunner) => Promise<T>): Promise<T> {
  const { runner, fhir } = openRunner({
    store,
    distDir: ctx.io.distDir,
    dataDir: path.dirname(ctx.dbPath),
    maxConcurrent: 1,
    onLog: (line) => ctx.io.stderr.write(`${line}\n`),
  });
  try {
    return await fn(runner);
  } finally {
    runner.dispose();
    await fhir.flush();
  }
}

/**
 * A return value (JSON text) for the terminal: a string as its text, with carriage returns (an HL7 message's
 * segment breaks) as line breaks; anything else as indented JSON. Control characters are shown, not sent.
 */
export function returnValueText(json: string): string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    value = json;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return safeText(text.replace(/\r\n?/g, '\n'));
}

/**
 * What a stack adds to the message printed above it: its frames, and any line the message does not
 * already say (a stack starts with the error's name and message, which would print the error twice).
 */
export function stackAfterMessage(stack: string, message = ''): string {
  return stack
    .split('\n')
    .filter((l) => /^\s+at /.test(l) || !message.includes(l.trim()))
    .join('\n');
}

function printRun(ctx: Ctx, r: RunResult): number {
  const st = styleFor((ctx.io.stdout as NodeJS.WriteStream).isTTY, ctx.io.env);
  if (ctx.values.json) {
    const { logs: _logs, ...rest } = r;
    out(ctx, JSON.stringify(rest, null, 2));
  } else {
    // An error that escaped the handler is already in the output printed above (message and stack): not again.
    const printed = r.logs.map((l) => l.text).join('\n');
    const frames = r.stack ? stackAfterMessage(r.stack, r.message) : '';
    const framesShown = !!frames && frames.split('\n').every((l) => printed.includes(l.trim()));
    const gist = r.message?.replace(/^[A-Z][\w ]*: /, ''); // without the runner's "Error: " or the like
    const messageShown = !!r.message && (printed.includes(r.message) || (!!gist && printed.includes(gist) && (!frames || framesShown)));
    if (r.message && !messageShown) out(ctx, st.red(safeText(r.message)));
    if (frames && !framesShown) out(ctx, st.dim(safeText(frames)));
    const where = r.entryId ? `entry ${r.entryId}` : r.logged ? 'written to the log only' : 'not recorded';
    out(ctx, `${st.bold('Outcome:')} ${r.outcome} ${outcomeText(r.outcome, st)}${r.failureKind ? ` (${r.failureKind})` : ''} in ${Math.round(r.durationMs)} ms, ${where}`);
    if (r.returnValue !== undefined) out(ctx, `${st.bold('Return value:')}\n${returnValueText(r.returnValue)}`);
  }
  return r.outcome;
}

async function cmdRun(ctx: Ctx): Promise<number> {
  const name = ctx.positionals[0];
  if (!name) throw new CliError(EXIT.usage, 'run needs a bot: bot-audit run <bot>');
  const bot = await findBot(ctx, name);
  let inputText: string | undefined;
  let input: unknown;
  if (typeof ctx.values.input === 'string') {
    const file = path.resolve(ctx.io.cwd, ctx.values.input);
    try {
      inputText = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new CliError(EXIT.inputFile, `cannot read input file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else if (typeof ctx.values['input-text'] === 'string') {
    inputText = ctx.values['input-text'];
  } else {
    const [first] = Object.values(bot.settings.inputs);
    if (first) {
      try {
        ({ input, inputText } = readSampleInput(ctx.root, first));
      } catch (e) {
        throw new CliError(EXIT.inputFile, `cannot read the sample input of ${bot.name}: ${(e as Error).message}`);
      }
    }
  }
  const contentType = typeof ctx.values['content-type'] === 'string' ? ctx.values['content-type'] : bot.settings.contentType;
  // Bad input is refused here, before the log is opened: nothing is written for it.
  const parsed = parseRunInput(contentType, input, inputText);
  if (!parsed.ok) throw new CliError(EXIT.badInput, parsed.reason);
  let timeout: number | undefined;
  if (typeof ctx.values.timeout === 'string') {
    timeout = Number(ctx.values.timeout);
    if (!(timeout > 0 && timeout <= 3600)) throw new CliError(EXIT.usage, `--timeout must be a number of seconds between 0 and 3600, not "${ctx.values.timeout}"`);
  }
  let inspectPort: number | undefined;
  if (typeof ctx.values.inspect === 'string') {
    inspectPort = Number(ctx.values.inspect);
    if (!/^\d+$/.test(ctx.values.inspect) || !(inspectPort >= 0 && inspectPort <= 65535)) {
      throw new CliError(EXIT.usage, `--inspect takes a port between 0 and 65535, not "${ctx.values.inspect}"`);
    }
    const problem = debugProblem(currentNode());
    if (problem) throw new CliError(EXIT.usage, problem);
  }
  teamLogUrl(ctx);
  const store = await openStore(ctx, 'write');
  try {
    const st = styleFor((ctx.io.stdout as NodeJS.WriteStream).isTTY, ctx.io.env);
    // Under the debugger, Ctrl+C cancels the run (recorded as cancelled): the bot's process, in a
    // process group of its own and waiting for a debugger, would not notice this one going away.
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    if (inspectPort !== undefined) {
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }
    const r = await withRunner(ctx, store, (runner) =>
      runner.run({
        signal: abort.signal,
        debug:
          inspectPort === undefined
            ? undefined
            : {
                port: inspectPort,
                // chrome://inspect and an attach by port read the inspector's list over HTTP.
                publishHttp: true,
                onInspector: (i) =>
                  ctx.io.stderr.write(
                    `Waiting for a debugger on ${i.host}:${i.port} (${i.url}): attach to port ${i.port}, or open chrome://inspect. The bot's time limit is suspended while it is paused.\n`,
                  ),
              },
        root: ctx.root,
        bot,
        input,
        inputText,
        contentType,
        settings: timeout ? { timeout } : undefined,
        onOutput: ctx.values.json ? undefined : (l) => out(ctx, l.level === 'error' || l.level === 'stderr' ? st.red(safeText(formatLogLine(l))) : l.level === 'warn' ? st.yellow(safeText(formatLogLine(l))) : safeText(formatLogLine(l))),
      }),
    ).finally(() => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    });
    const code = printRun(ctx, r);
    await shipAfterWrite(ctx, store);
    return code;
  } finally {
    await store.close();
  }
}

/** Opens the log and hands `fn` the entry named by the first argument (`usage` when there is none). */
async function withEntry(ctx: Ctx, mode: 'read' | 'write', usage: string, fn: (store: AuditStore, entry: Entry) => Promise<number>): Promise<number> {
  const id = Number(ctx.positionals[0]);
  if (!Number.isSafeInteger(id) || id < 1) throw new CliError(EXIT.usage, usage);
  if (mode === 'write' && !fs.existsSync(ctx.dbPath)) throw new CliError(EXIT.badDatabase, `no audit log at ${ctx.dbPath} (run a bot first, or pass --db)`);
  const store = await openStore(ctx, mode);
  try {
    const entry = store.get(id);
    if (!entry) throw new CliError(EXIT.noEntry, `no entry ${id} in ${ctx.dbPath}`);
    return await fn(store, entry);
  } finally {
    await store.close();
  }
}

function cmdReplay(ctx: Ctx): Promise<number> {
  teamLogUrl(ctx);
  return withEntry(ctx, 'write', 'replay needs an event id: bot-audit replay <event-id>', async (store, entry) => {
    if (entry.action !== 'EXECUTED') throw new CliError(EXIT.noEntry, `entry ${entry.id} is ${entry.action}, not a bot run`);
    const input = replayInput(entry);
    if (!input.ok) throw new CliError(EXIT.badInput, input.reason);
    const bot = await findBot(ctx, entry.entityId);
    const r = await withRunner(ctx, store, (runner) => runner.replay(entry, { root: ctx.root, bot, onOutput: ctx.values.json ? undefined : (l) => out(ctx, safeText(formatLogLine(l))) }));
    const code = printRun(ctx, r);
    await shipAfterWrite(ctx, store);
    return code;
  });
}

async function cmdBots(ctx: Ctx): Promise<number> {
  const found = await discoverBots(ctx.root);
  for (const i of found.issues) ctx.io.stderr.write(`warning: ${safeText(formatConfigIssue(i))}\n`);
  const store = fs.existsSync(ctx.dbPath) ? await openStore(ctx, 'read') : undefined;
  try {
    const rows = found.bots.map((b) => {
      const last = store?.latest(botRunsFilter(botEntityId(b)), 1)[0];
      return { bot: b, last };
    });
    if (ctx.values.json) {
      out(ctx, JSON.stringify(rows.map(({ bot, last }) => ({ ...bot, lastRun: last ? { id: last.id, outcome: last.outcome, recorded: new Date(last.recorded).toISOString() } : null })), null, 2));
      return EXIT.ok;
    }
    const st = styleFor((ctx.io.stdout as NodeJS.WriteStream).isTTY, ctx.io.env);
    if (!rows.length) out(ctx, `No bots in ${safeText(ctx.root)} (glob ${safeText(found.glob)}).`);
    for (const { bot, last } of rows) {
      const s = bot.settings;
      out(ctx, `${st.bold(safeText(bot.name))}  ${st.dim(safeText(bot.relPath))}`);
      out(ctx, `  timeout ${s.timeout} s · memory ${s.memoryLimitMb} MB · trigger ${s.auditEventTrigger} · destination ${s.auditEventDestination.join('+')} · ${safeText(s.contentType)}`);
      out(ctx, `  last run: ${last ? `${outcomeText(last.outcome, st)} at ${new Date(last.recorded).toISOString()} (entry ${last.id})` : 'never'}`);
    }
    return EXIT.ok;
  } finally {
    await store?.close();
  }
}

async function cmdLog(ctx: Ctx): Promise<number> {
  const filters = filtersOf(ctx);
  const limit = ctx.values.limit === undefined ? 50 : Number(ctx.values.limit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new CliError(EXIT.usage, '--limit must be a whole number from 1 to 1000');
  const format = (ctx.values.format ?? 'table') as string;
  if (!['table', 'json', 'ndjson', 'csv'].includes(format)) throw new CliError(EXIT.usage, `--format must be table, json, ndjson or csv, not "${format}"`);
  const follow = Boolean(ctx.values.follow);
  const { log, close, team } = await openReader(ctx, follow);
  const stdout = ctx.io.stdout as NodeJS.WriteStream;
  const st = styleFor(stdout.isTTY, ctx.io.env);
  const width = stdout.columns ?? 120;
  const csv = format === 'csv' ? formatter('csv', Date.now(), { origins: team }) : undefined;
  let n = 0;
  const print = (entries: Entry[], header: boolean) => {
    if (format === 'table') {
      if (!entries.length) return;
      const t = formatTable(entries, width, st);
      out(ctx, header ? t : t.split('\n').slice(1).join('\n'));
    } else if (csv) {
      ctx.io.stdout.write((header ? csv.head : '') + entries.map((e) => csv.entry(e, n++)).join(''));
    } else if (format === 'json' && !follow) {
      out(ctx, JSON.stringify(entries, null, 2));
    } else {
      for (const e of entries) out(ctx, JSON.stringify(e));
    }
  };
  try {
    const start = follow ? log.size : 0;
    const page = await log.query(filters, { limit });
    print(page.entries, true);
    if (!follow && format === 'table') ctx.io.stderr.write(st.dim(`${page.entries.length} of ${page.total} entries\n`));
    if (!follow) return EXIT.ok;
    // --follow: print what any writer appends, oldest first, until interrupted. Each append is
    // only a signal: what is printed is every matching entry after the last ID printed, read in
    // pages, so that no entry is missed however many writers append at once.
    // Everything up to `start`, and whatever the first page showed, is printed already.
    // The team log signals by LISTEN/NOTIFY (and reconnects by itself); one read at a time.
    let last = Math.max(start, ...page.entries.map((e) => e.id));
    const printNew = async (): Promise<void> => {
      for (;;) {
        const page = (await log.query([...filters, { column: 'id', op: 'greaterThan', value: last }], { limit: 1000, order: 'asc' })).entries;
        if (!page.length) return;
        print(page, false);
        last = page[page.length - 1].id;
        if (page.length < 1000) return;
      }
    };
    let reading = Promise.resolve();
    const signal = () => {
      reading = reading.then(printNew).catch((e: unknown) => {
        // A team log gone away: said once per failed read; the next notice (after reconnecting) reads again.
        ctx.io.stderr.write(`warning: ${safeText((e as Error)?.message ?? String(e))}\n`);
      });
    };
    await new Promise<void>((resolve) => {
      // The store's watchers do not keep the process alive; following does, until interrupted.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      const sub = log.onDidAppend(signal);
      const stop = () => {
        clearInterval(keepAlive);
        sub.dispose();
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return EXIT.ok;
  } finally {
    await close();
  }
}

async function cmdShow(ctx: Ctx): Promise<number> {
  const id = Number(ctx.positionals[0]);
  if (!Number.isSafeInteger(id) || id < 1) throw new CliError(EXIT.usage, 'show needs an entry id: bot-audit show <id>');
  const { log, close, where } = await openReader(ctx);
  try {
    const e = await log.get(id);
    if (!e) throw new CliError(EXIT.noEntry, `no entry ${id} in ${where}`);
    if (ctx.values.json) {
      out(ctx, JSON.stringify(e, null, 2));
      return EXIT.ok;
    }
    const stdout = ctx.io.stdout as NodeJS.WriteStream;
    const st = styleFor(stdout.isTTY, ctx.io.env);
    const line = (k: string, v: string | number | undefined) => v !== undefined && v !== '' && out(ctx, `${st.bold(k.padEnd(13))} ${safeText(String(v))}`);
    line('ID', e.id);
    // From the team log: ID is its seq; the log the entry came from, and its ID there.
    line('Origin', e.origin === undefined ? undefined : `${e.origin}, entry ${e.originId} there`);
    line('Recorded', new Date(e.recorded).toISOString());
    line('User', e.user);
    line('Action', e.action);
    line('Entity', `${e.entityName}/${e.entityId}`);
    line('Bot', e.bot);
    if (e.outcome !== undefined) line('Outcome', `${e.outcome} ${outcomeName(e.outcome)}${e.failureKind ? ` (${e.failureKind})` : ''}`);
    line('Trace ID', e.traceId);
    line('Content type', e.contentType);
    line('Replay of', e.replayOf);
    line('Hash', e.hash);
    if (e.outcomeDesc) out(ctx, `\n${st.bold('Outcome description')}\n${safeText(e.outcomeDesc)}`);
    if (e.input) out(ctx, `\n${st.bold('Input')}\n${safeText(e.input)}`);
    if (e.returnValue) out(ctx, `\n${st.bold('Return value')}\n${safeText(e.returnValue)}`);
    if (e.before !== undefined || e.after !== undefined) {
      if (ctx.values.diff) {
        const color = Boolean(stdout.isTTY) && !('NO_COLOR' in ctx.io.env);
        // diffText shows the values' control characters as text: its only escapes are its colours.
        out(ctx, `\n${st.bold('Changes')}\n${diffText(e.before, e.after, color)}`);
      } else {
        if (e.before !== undefined) out(ctx, `\n${st.bold('Before')}\n${safeText(JSON.stringify(e.before, null, 2))}`);
        if (e.after !== undefined) out(ctx, `\n${st.bold('After')}\n${safeText(JSON.stringify(e.after, null, 2))}`);
      }
    }
    return EXIT.ok;
  } finally {
    await close();
  }
}

async function cmdExport(ctx: Ctx): Promise<number> {
  const format = ctx.values.format as string | undefined;
  if (format !== 'csv' && format !== 'ndjson' && format !== 'fhir') throw new CliError(EXIT.usage, '--format must be csv, ndjson or fhir');
  const filters = filtersOf(ctx);
  const { log, close } = await openReader(ctx);
  try {
    const file = typeof ctx.values.output === 'string' ? path.resolve(ctx.io.cwd, ctx.values.output) : undefined;
    const dest = file ? fs.createWriteStream(file) : ctx.io.stdout;
    // The bar goes to stderr, so it shows when the export itself is piped or written to a file.
    const total = await log.count(filters);
    const bar = progressBar(ctx.io.stderr as NodeJS.WriteStream, 'Exporting');
    let written = 0;
    const counting = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        // Lines approximate entries (a CSV field may span lines; the count is capped at the total).
        written += chunk.toString('utf8').split('\n').length - 1;
        bar.update(Math.min(written, total), total);
        cb(null, chunk);
      },
    });
    counting.pipe(dest, { end: dest !== ctx.io.stdout });
    // A reader that goes away (`| head`): the rest of the export is read and dropped, so it ends.
    if (dest === ctx.io.stdout) (dest as NodeJS.EventEmitter).once('error', () => (counting.unpipe(dest), counting.resume()));
    // Listened for before the export: its last write may end the stream before exportTo returns.
    const flushed = new Promise<void>((resolve, reject) => {
      if (dest === ctx.io.stdout) counting.once('end', () => resolve());
      else (dest as fs.WriteStream).once('finish', () => resolve()).once('error', reject);
    });
    const n = await log.exportTo(filters, format as ExportFormat, counting, { end: true });
    await flushed;
    bar.update(total, total);
    bar.done();
    if (file) ctx.io.stderr.write(`Exported ${n} entries to ${file}\n`);
    return EXIT.ok;
  } finally {
    await close();
  }
}

/** `--expect-head`: HASH (the newest entry's) or ID:HASH. */
function expectedHead(v: string | boolean | undefined): VerifyOptions['expectHead'] {
  if (typeof v !== 'string') return undefined;
  const m = /^(?:(\d+):)?([0-9a-fA-F]{64})$/.exec(v.trim());
  const id = m?.[1] === undefined ? undefined : Number(m[1]);
  if (!m || (id !== undefined && !(Number.isSafeInteger(id) && id >= 1))) throw new CliError(EXIT.usage, `--expect-head takes a head hash (64 hex digits) or ID:HASH, not "${v}"`);
  return { id, hash: m[2].toLowerCase() };
}

/**
 * The team log a command that writes ships to, and a local verify compares with: --team-log, else
 * BOT_AUDIT_TEAM_LOG; undefined when neither is set. A URL that is not one (or carries a password)
 * is a usage error, before anything runs.
 */
function teamLogUrl(ctx: Ctx): string | undefined {
  const flag = ctx.values['team-log'];
  const url = typeof flag === 'string' ? flag : ctx.io.env.BOT_AUDIT_TEAM_LOG || undefined;
  if (url === undefined) return undefined;
  checkTeamLogUrl(url);
  return url;
}

/**
 * After a command wrote to the local log (its entries durable there): ships what the team log lacks.
 * A team log that cannot be reached, refuses, or disagrees is a warning, never the command's
 * failure: the local record is what counts, and the next command (or the extension) ships it.
 */
async function shipAfterWrite(ctx: Ctx, store: AuditStore): Promise<void> {
  const url = teamLogUrl(ctx);
  if (!url) return;
  const rep = new TeamReplicator(store, { url, background: false, stateDir: defaultStateDir(ctx.io.env), connectTimeoutMs: 5_000 });
  try {
    const s = await rep.shipNow();
    if (s.note) ctx.io.stderr.write(`notice: ${safeText(s.note)}\n`);
    if (s.state === 'forked') {
      ctx.io.stderr.write(`warning: not shipped to the team log: ${safeText(s.lastError ?? 'the team log and this log disagree')}; ${entries(s.behind)} behind until that is sorted out (bot-audit team status)\n`);
    } else if (s.state !== 'up-to-date' && s.state !== 'shipping') {
      ctx.io.stderr.write(`warning: ${safeText(s.lastError ?? 'the team log failed')}; not shipped; ${entries(s.behind)} behind; will be shipped next time\n`);
    }
  } finally {
    await rep.dispose();
  }
}

/**
 * Connects to the team log, runs `fn`, and disconnects. A failure of the connection or the server
 * becomes a TeamLogError, whose message shows the URL without a password.
 */
async function withTeamLog<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectTeamLog(url);
  try {
    return await fn(client);
  } catch (e) {
    throw asTeamLogError(e, url) ?? e;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** "1 entry", "2 entries". */
function entries(n: number): string {
  return `${n} ${n === 1 ? 'entry' : 'entries'}`;
}

/** What the team log holds of this log, in words (team status, verify). */
function headsText(h: HeadComparison): string {
  if (!h.origin) return 'the log is empty: nothing to ship';
  const behind = h.localHead - h.teamHead;
  if (!h.teamHead) return `the team log has none of this log's ${entries(h.localHead)} yet (origin ${h.origin}): ${entries(behind)} behind`;
  return `the team log has entries 1..${h.teamHead} of this log (origin ${h.origin}), which ends at ${h.localHead}: ${behind ? `${entries(behind)} behind` : 'up to date'}`;
}

async function cmdTeam(ctx: Ctx): Promise<number> {
  const sub = ctx.positionals[0];
  if (sub !== 'init' && sub !== 'ship' && sub !== 'status') throw new CliError(EXIT.usage, 'team needs init, ship or status: bot-audit team init|ship|status --db postgres://…');
  const db = ctx.values.db;
  const url = typeof db === 'string' && isTeamLogUrl(db) ? db : teamLogUrl(ctx);
  if (!url) throw new CliError(EXIT.usage, `team ${sub} needs the team log: --db postgres://user@host:port/database, or BOT_AUDIT_TEAM_LOG`);
  if (sub === 'init') {
    return withTeamLog(url, async (client) => {
      const r = await initTeamLog(client);
      for (const n of r.notices) ctx.io.stderr.write(`notice: ${safeText(n)}\n`);
      const what = r.from === 0 ? 'created' : r.from < r.version ? `migrated from schema version ${r.from}` : 'already there';
      out(ctx, `team log at ${redactUrl(url)}: ${what} (schema version ${r.version})${r.rolesCreated.length ? `; roles created: ${r.rolesCreated.join(', ')}` : ''}`);
      return EXIT.ok;
    });
  }
  const store = await openStore(ctx, 'read');
  const stateDir = defaultStateDir(ctx.io.env);
  try {
    if (sub === 'status') {
      let h: HeadComparison;
      try {
        h = await withTeamLog(url, (client) => compareHeads(store, client));
      } catch (e) {
        // Unreachable: how far behind, as of the last time this machine reached it.
        const origin = store.size ? store.get(1)?.hash : undefined;
        const mark = origin ? readTeamMark(stateDir, url, origin) : undefined;
        if (e instanceof TeamLogError && mark) throw new TeamLogError(e.code, `${e.message}; as of ${mark.at}, the team log had entries 1..${mark.teamHead} of this log, which ends at ${store.size}: ${entries(store.size - mark.teamHead)} behind`);
        throw e;
      }
      if (h.origin && !h.disagreement) writeTeamMark(stateDir, url, h.origin, h.teamHead);
      if (ctx.values.json) out(ctx, JSON.stringify(h, null, 2));
      else if (!h.disagreement) out(ctx, headsText(h));
      if (h.disagreement) {
        if (!ctx.values.json) ctx.io.stderr.write(`bot-audit team: ${safeText(h.disagreement)}\n`);
        return EXIT.chainBroken;
      }
      return EXIT.ok;
    }
    return await withTeamLog(url, async (client) => {
      const origin = store.size ? store.get(1)?.hash : undefined;
      const mark = origin ? readTeamMark(stateDir, url, origin) : undefined;
      const r = await shipToTeam(store, client);
      if (r.origin) writeTeamMark(stateDir, url, r.origin, r.teamHead);
      if (mark && r.teamHeadBefore < mark.teamHead) {
        ctx.io.stderr.write(`notice: the team log had lost entries ${r.teamHeadBefore + 1}..${mark.teamHead} of this log (restored from a backup?); they were shipped again\n`);
      }
      if (ctx.values.json) out(ctx, JSON.stringify(r, null, 2));
      else if (!r.origin) out(ctx, 'the log is empty: nothing to ship');
      else out(ctx, `shipped ${r.shipped} entries; the team log has entries 1..${r.teamHead} of this log (origin ${r.origin})`);
      return EXIT.ok;
    });
  } finally {
    await store.close();
  }
}

async function cmdVerifyTeam(ctx: Ctx, url: string): Promise<number> {
  if (ctx.values['expect-head'] !== undefined) throw new CliError(EXIT.usage, '--expect-head checks a local log; the team log\'s head is in verify --json');
  return withTeamLog(url, async (client) => {
    const r = await verifyTeamLog(client, { full: ctx.values.full === true, connect: () => connectTeamLog(url) });
    if (ctx.values.json) {
      out(ctx, JSON.stringify(r, null, 2));
    } else if (r.ok) {
      out(ctx, `${r.count}/${r.count} team entries valid, from ${r.origins.length} logs\nhead ${r.headHash}`);
      for (const o of r.origins) out(ctx, `origin ${o.origin}: ${o.count} entries, head ${o.headHash}`);
    } else {
      const b = r.firstBroken!;
      out(ctx, `${b.seq - 1}/${r.count} team entries valid`);
      ctx.io.stderr.write(`team entry ${b.seq} (origin ${b.origin}, entry ${b.originId}) is broken: ${safeText(b.reason)}\n`);
    }
    return r.ok ? EXIT.ok : EXIT.chainBroken;
  });
}

/**
 * A local verify's outside witness: with a team log configured (--team-log, BOT_AUDIT_TEAM_LOG), the
 * team log's copy of this log must be a prefix of it. A team log that cannot be reached (or refuses)
 * is `unreachable`, a warning: the local log is verified all the same.
 */
async function compareWithTeamLog(ctx: Ctx, store: AuditStore): Promise<(HeadComparison & { url: string; unreachable?: string }) | undefined> {
  const url = teamLogUrl(ctx);
  if (!url) return undefined;
  try {
    return { url: redactUrl(url), ...(await withTeamLog(url, (client) => compareHeads(store, client))) };
  } catch (e) {
    if (!(e instanceof TeamLogError)) throw e;
    return { url: redactUrl(url), localHead: store.size, teamHead: 0, unreachable: e.message };
  }
}

async function cmdVerify(ctx: Ctx): Promise<number> {
  if (typeof ctx.values.db === 'string' && isTeamLogUrl(ctx.values.db)) return cmdVerifyTeam(ctx, ctx.values.db);
  const expectHead = expectedHead(ctx.values['expect-head']);
  teamLogUrl(ctx);
  const store = await openStore(ctx, 'read');
  try {
    const bar = progressBar(ctx.io.stderr as NodeJS.WriteStream, 'Verifying');
    const { damage, ...r } = store.audit({ incremental: !ctx.values.full, expectHead, onProgress: (done, total) => bar.update(done, total) });
    bar.done();
    if (damage) throw new CliError(EXIT.badDatabase, damage);
    const team = await compareWithTeamLog(ctx, store);
    if (ctx.values.json) out(ctx, JSON.stringify(team ? { ...r, team } : r, null, 2));
    else if (r.ok) out(ctx, `${r.count}/${r.count} entries valid\nhead ${r.headHash}`);
    else {
      const valid = Math.min(r.firstBroken!.id - 1, r.count);
      out(ctx, `${valid}/${r.count} entries valid`);
      const b = r.firstBroken!;
      ctx.io.stderr.write(b.id > r.count ? `the log is incomplete: ${safeText(b.reason)}\n` : `entry ${b.id} is broken: ${safeText(b.reason)}\n`);
    }
    // What an incremental check did and did not look at, beside the data (stdout keeps its two lines).
    if (r.incremental && !ctx.values.json) {
      const { from, verifiedOn } = r.incremental;
      const now = from <= r.count ? `checked entries ${from}..${r.count}` : 'no new entries to check';
      ctx.io.stderr.write(`${now}; entries 1..${from - 1} were verified on ${verifiedOn} (entry ${from - 1} still has the hash it had then); --full checks them all again\n`);
    }
    if (team && !ctx.values.json) {
      if (team.disagreement) ctx.io.stderr.write(`the log disagrees with the team log at ${redactUrl(team.url)}: ${safeText(team.disagreement)}\n`);
      else if (team.unreachable) ctx.io.stderr.write(`warning: ${safeText(team.unreachable)}; the local log was verified without comparing its head with the team log\n`);
      else ctx.io.stderr.write(`${safeText(headsText(team))}\n`);
    }
    return r.ok && !team?.disagreement ? EXIT.ok : EXIT.chainBroken;
  } finally {
    await store.close();
  }
}

const COMMANDS: Record<Command, (ctx: Ctx) => Promise<number>> = {
  run: cmdRun,
  replay: cmdReplay,
  bots: cmdBots,
  log: cmdLog,
  show: cmdShow,
  export: cmdExport,
  verify: cmdVerify,
  team: cmdTeam,
};

/** The options that may also come before the command: `bot-audit --workspace DIR run x`. */
const GLOBAL = {
  db: { type: 'string' },
  workspace: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Splits `argv` at the command: the global options before it, the command, and what follows it. */
function splitAtCommand(argv: string[]): { before: string[]; cmd?: string; rest: string[] } {
  let i = 0;
  while (i < argv.length && argv[i].startsWith('-') && argv[i] !== '-') {
    if (argv[i] === '--') return { before: argv.slice(0, i), cmd: argv[i + 1], rest: argv.slice(i + 2) };
    // `--db PATH` and `--workspace DIR` take the next word; `--db=PATH` does not.
    i += argv[i] === '--db' || argv[i] === '--workspace' ? 2 : 1;
  }
  return { before: argv.slice(0, Math.min(i, argv.length)), cmd: argv[i], rest: argv.slice(i + 1) };
}

/**
 * The workspace root for a CLI started in `cwd`: the nearest folder, `cwd` or above, that holds
 * bot-audit.json, medplum.config.json or a .bot-audit/ folder; `cwd` itself when none does.
 */
export function findWorkspaceRoot(cwd: string): string {
  const stat = (p: string) => {
    try {
      return fs.statSync(p, { throwIfNoEntry: false });
    } catch {
      return undefined; // a folder we may not read is no marker
    }
  };
  const isFile = (p: string) => stat(p)?.isFile() ?? false;
  const isDir = (p: string) => stat(p)?.isDirectory() ?? false;
  for (let dir = path.resolve(cwd); ; ) {
    if (isFile(path.join(dir, BOT_AUDIT_CONFIG_FILE)) || isFile(path.join(dir, MEDPLUM_CONFIG_FILE)) || isDir(path.join(dir, DATA_DIR))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(cwd);
    dir = up;
  }
}

/** Runs the CLI; returns the exit code. Never throws: every failure is one line on stderr. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const split = splitAtCommand(argv);
  const { before, cmd } = split;
  // `run --inspect` without a port: Node's default inspector port (a string option needs its `=`).
  const rest = cmd === 'run' ? split.rest.map((a) => (a === '--inspect' ? '--inspect=9229' : a)) : split.rest;
  let globals: Record<string, string | boolean | undefined>;
  try {
    ({ values: globals } = parseArgs({ args: before, options: GLOBAL, allowPositionals: false, strict: true }));
  } catch (e) {
    io.stderr.write(`bot-audit: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  if (!cmd || cmd === 'help') {
    io.stdout.write(`${HELP['']}\n`);
    return cmd || globals.help ? EXIT.ok : EXIT.usage;
  }
  if (!(cmd in COMMANDS)) {
    io.stderr.write(`bot-audit: unknown command "${cmd}" (try bot-audit --help)\n`);
    return EXIT.usage;
  }
  const command = cmd as Command;
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: OPTIONS[command], allowPositionals: true, strict: true }) as {
      values: Record<string, string | boolean | undefined>;
      positionals: string[];
    });
  } catch (e) {
    io.stderr.write(`bot-audit ${command}: ${safeText((e as Error).message)}\n`);
    return EXIT.usage;
  }
  // Options after the command win over the same options before it.
  values = { ...globals, ...values };
  if (values.help) {
    io.stdout.write(`${HELP[command]}\n`);
    return EXIT.ok;
  }
  const root = typeof values.workspace === 'string' ? path.resolve(io.cwd, values.workspace) : findWorkspaceRoot(io.cwd);
  // A postgres:// --db is a team log, which log, show, export, verify and team read; for team, the local log is the workspace's.
  const teamDb = typeof values.db === 'string' && isTeamLogUrl(values.db);
  if (teamDb && !['log', 'show', 'export', 'verify', 'team'].includes(command)) {
    io.stderr.write(`bot-audit ${command}: --db postgres://… is a team log, which only log, show, export, verify and team read\n`);
    return EXIT.usage;
  }
  const dbPath = typeof values.db === 'string' && !teamDb ? path.resolve(io.cwd, values.db) : resolveDbPath(root);
  try {
    return await COMMANDS[command]({ io, root, dbPath, values, positionals });
  } catch (e) {
    if (e instanceof CliError) {
      io.stderr.write(`bot-audit ${command}: ${safeText(e.message)}\n`);
      return e.exitCode;
    }
    if (e instanceof QueryError) {
      io.stderr.write(`bot-audit ${command}: bad filter: ${safeText(e.message)}\n`);
      return EXIT.badQuery;
    }
    if (e instanceof StoreError) {
      io.stderr.write(`bot-audit ${command}: ${safeText(e.message)}\n`);
      return exitCodeOf(e);
    }
    if (e instanceof TeamLogError) {
      io.stderr.write(`bot-audit ${command}: ${safeText(e.message)}\n`);
      return teamExitCodeOf(e);
    }
    if (isDamage(e)) {
      // SQLite found the file malformed where the store does not catch it itself (in verify's walk).
      io.stderr.write(`bot-audit ${command}: ${safeText(dbPath)}: is damaged: ${safeText((e as Error).message)}. Restore it from a copy, or move it aside (with its journal, to start a new log); the journal holds the entries after the last checkpoint\n`);
      return EXIT.badDatabase;
    }
    if (isSystemError(e)) {
      io.stderr.write(`bot-audit ${command}: ${safeText(e.message)}\n`);
      return EXIT.io;
    }
    io.stderr.write(`bot-audit ${command}: internal error: ${safeText((e as Error)?.message ?? String(e))}\n`);
    if (io.env.BOT_AUDIT_DEBUG) io.stderr.write(`${(e as Error)?.stack}\n`);
    return EXIT.internal;
  }
}

/**
 * When the reader of stdout goes away (`bot-audit run x | head -1`), output ends quietly, as Unix
 * tools do: later writes are dropped, and the command goes on (a run is still recorded) and exits
 * with its own code. Without this, the EPIPE error killed the process before it recorded anything.
 */
export function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    stream.write = (() => true) as typeof stream.write;
  });
}

if (require.main === module) {
  quietOnClosedPipe(process.stdout);
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), distDir: __dirname }).then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = EXIT.internal;
    },
  );
}
