// The bot runner: bundles a bot, runs it in a sandboxed process of its own (see pool.ts for the
// choice and its measurements), with a timeout, a memory limit, a concurrency limit and
// cancel; captures its console; classifies the outcome; masks secrets; and records the run
// (EXECUTED entry in the store and/or a JSON line to the log) as the bot's settings say.
//
// The host writes every entry from what it observed itself: the user, the times, the outcome
// code and the sandbox the run had are the host's. From the bot's process it takes only that
// process's report of its own run (output, return value, how it failed), once: a message for
// another run, a second report, a message out of place or a line that is no message makes the
// run a Major failure (12) that says so, and the process is killed. A process that dies, or is
// killed for its memory, still leaves an entry.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BotPermissions, type BotSettings, DEFAULT_BOT_SETTINGS, CONTENT_TYPES } from '../bots/config';
import { SecretMasker, loadSecrets, toEventSecrets } from '../bots/secrets';
import { BotBundler, BundleError, nodeVersionProblem, withAbsoluteSources } from './bundler';
import { isJsonContentType, parseRunInput } from './input';
import { type BotProcess, IsolatePool } from './pool';
import type { PauseWatch } from './pauseWatch';
import { type NodeRuntime, currentNode, debugProblem, normalizePermissions, probeNode } from './sandbox';
import type { DoneMessage, RunMessage, WorkerToHost } from './protocol';
import { destinations, detectUser, shouldRecord } from './auditPolicy';
import { type ReplayableEntry, ReplayError, replayInput } from './replay';
import { stableId } from '../fhir/ids';
import { LOCAL_BASE_URL } from '../fhir/platform';
import { workspaceRelative } from '../workspace/layout';
import {
  type AuditEntryInput,
  type AuditSink,
  type BotReference,
  FAILURE_OUTCOME,
  type FailureKind,
  type LogLine,
  OUTCOME_DISPLAY,
  type RunOutcome,
  formatLogLine,
} from './types';

/** The host side of the bot's Medplum client: src/core/fhir's FhirHost, which answers its fetch. */
export interface MedplumHost {
  /** Returns the value (or a promise of it), or throws an error with `status`/`outcome`. */
  handle(method: string, args: unknown[], ctx: MedplumCallContext): unknown;
  /** Makes the change entries queued so far durable; called before a run's EXECUTED entry. */
  flush?(): Promise<void>;
}

export interface MedplumCallContext {
  /** `Bot/<name>`. */
  botUser: string;
  botName: string;
  /** The person who ran the bot. */
  onBehalfOf: string;
  traceId: string;
  masker: SecretMasker;
  /** A line in the run's output. */
  log?: (level: 'info' | 'warn', text: string) => void;
  /** Runs a local bot as a child of this run (the bot's `executeBot`). */
  executeBot?: (ref: { id?: string; identifier?: string }, body: unknown, contentType: string) => Promise<{ status: number; body: unknown; contentType?: string }>;
}

/** How deep `executeBot` may nest (a bot that runs itself stops here). */
const MAX_CHILD_DEPTH = 5;

export interface BotRunnerOptions {
  /** Path of dist/bot-worker.js. */
  workerPath: string;
  /** Where EXECUTED entries go when a bot's destination has `resource`. */
  store?: AuditSink;
  /** Where the JSON line of a run goes when a bot's destination has `log` (log channel, stderr). */
  onLog?: (jsonLine: string) => void;
  /** Serves the bot's Medplum client. Without it, the client's calls fail with a clear error. */
  medplum?: MedplumHost;
  /** Runs at once (default 4); more wait in order. */
  maxConcurrent?: number;
  /** Overrides the detected user (git user.email, else the OS user). */
  user?: string;
  esbuildPath?: string;
  /** Bot processes started ahead per sandbox key (memory limit, workspace, opt-ins); default 1. */
  spareProcesses?: number;
  /** Output kept per run before the middle is dropped (default 16 MiB; the store caps further). */
  maxOutputBytes?: number;
  /**
   * The Node binary bot processes run on (default: this process's own). Its version chooses the
   * sandbox's flags; debugging a bot needs one with `--allow-inspector` (Node 24.10 or newer).
   */
  nodePath?: string;
  /** Finds a workspace bot by its Medplum id, name or identifier (`system|value`), for `executeBot`. */
  resolveBot?: (root: string, ref: { id?: string; identifier?: string }) => BotTarget | undefined | Promise<BotTarget | undefined>;
}

/** What to run. A BotInfo from discovery fits. */
export interface BotTarget {
  /** Absolute path, or relative to the root. */
  path: string;
  name?: string;
  /** Medplum id, when the bot has one (medplum.config.json). */
  id?: string;
  relPath?: string;
  settings?: Partial<BotSettings>;
}

export interface RunRequest {
  /** Workspace root: .env, node_modules, source map paths. */
  root: string;
  bot: BotTarget;
  /** The input as a value. */
  input?: unknown;
  /** The input as raw text, parsed for the content type (wins over `input`). */
  inputText?: string;
  /** Default: the bot's settings, else application/json. */
  contentType?: string;
  /** Overrides of the bot's settings for this run. */
  settings?: Partial<BotSettings>;
  /** NAME → value. Default: the root's .env. */
  secrets?: Record<string, string>;
  /** The entry id this run replays. */
  replayOf?: number;
  traceId?: string;
  requester?: BotReference;
  headers?: Record<string, string>;
  /** Aborting it cancels the run. */
  signal?: AbortSignal;
  /** Each output line as it comes (secrets masked). */
  onOutput?: (line: LogLine) => void;
  /** Set for a run started by another run's `executeBot`: how deep it nests (it takes no slot of its own). */
  childDepth?: number;
  /**
   * Runs the bot under the debugger: its process starts with the inspector on 127.0.0.1 and waits
   * for a debugger to attach before it runs anything; the bot's time limit is suspended while a
   * debugger holds it paused, and runs while it runs; the entry says the run was debugged, and for
   * how long it was paused. A cancel ends it as any run (outcome 8, cancelled).
   */
  debug?: DebugRequest;
}

export interface DebugRequest {
  /** Inspector port (default 0: any free port). */
  port?: number;
  /** Also list the inspector over HTTP (`/json/list`: `chrome://inspect`, attach by port only). */
  publishHttp?: boolean;
  /** Where to attach: `ws://127.0.0.1:PORT/UUID`, once the bot's process listens. */
  onInspector?: (info: InspectorInfo) => void;
}

export interface InspectorInfo {
  url: string;
  host: string;
  port: number;
}

/** What a debugged run's entry says about it (`after.debug`). */
export interface DebugRecord {
  /**
   * `suspended while paused`: the bot's time limit ran while the bot ran, and stood still while a
   * debugger held it paused (a debugger may hold it as long as it likes). `suspended`, in entries
   * written before that (issue 21's first version): the limit did not apply to the run at all.
   */
  timeLimit: 'suspended while paused' | 'suspended';
  /** The bot's time limit, in seconds (what it had to run in, paused time aside). */
  timeoutSeconds: number;
  /** Where the inspector listened (`127.0.0.1:PORT`), when it did. */
  inspector?: string;
  /** How long the bot was held paused during its run, in ms (the debugger's own short stops to read source maps included). */
  pausedMs?: number;
  /** How many times a debugger paused it (at a breakpoint, a step, `debugger;`, a pause; not the debugger's own stops to read source maps). */
  pauses?: number;
}

export interface RunResult {
  runId: string;
  traceId: string;
  bot: { name: string; entityId: string; path: string };
  outcome: RunOutcome;
  outcomeDisplay: string;
  failureKind?: FailureKind;
  ok: boolean;
  /** One-line failure summary. */
  message?: string;
  /** Stack trace pointing at the bot's own files and lines. */
  stack?: string;
  exitCode?: number;
  logs: LogLine[];
  /** The formatted log, one `time [level] text` per line. */
  output: string;
  /** What is stored as the outcome description: failure summary, stack, then the log. */
  outcomeDesc: string;
  /** JSON text of the return value. */
  returnValue?: string;
  contentType: string;
  /** The input as stored (JSON text or the text). */
  input?: string;
  replayOf?: number;
  /** Set when the run was debugged. */
  debugged?: DebugRecord;
  periodStart: number;
  periodEnd: number;
  durationMs: number;
  bundleMs: number;
  bundleCached: boolean;
  /** Id of the EXECUTED entry, when one was written. */
  entryId?: number;
  logged: boolean;
  recordError?: string;
}

export interface RunHandle {
  runId: string;
  traceId: string;
  result: Promise<RunResult>;
  /** Stops the run at once (outcome 8, kind cancelled). */
  cancel(): void;
}


interface Failure {
  kind: FailureKind;
  message: string;
  stack?: string;
  exitCode?: number;
}

const FAILURE_TITLE: Record<FailureKind, string> = {
  'bad-input': 'Bad input',
  'client-error': 'Client error',
  error: 'Error',
  timeout: 'Timeout',
  cancelled: 'Cancelled',
  compile: 'Compile error',
  load: 'Load error',
  exit: 'Exited',
  'out-of-memory': 'Out of memory',
  crash: 'Crashed',
};

class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  get running(): number {
    return this.active;
  }
  get waiting(): number {
    return this.waiters.length;
  }
  acquire(): Promise<void> & { abandon(): void } {
    let waiter: (() => void) | undefined;
    const p = new Promise<void>((resolve) => {
      if (this.active < this.limit) {
        this.active++;
        resolve();
      } else {
        waiter = () => {
          this.active++;
          resolve();
        };
        this.waiters.push(waiter);
      }
    }) as Promise<void> & { abandon(): void };
    p.abandon = () => {
      const i = waiter ? this.waiters.indexOf(waiter) : -1;
      if (i >= 0) this.waiters.splice(i, 1);
    };
    return p;
  }
  release(): void {
    this.active--;
    this.waiters.shift()?.();
  }
}

export class BotRunner {
  readonly bundler: BotBundler;
  readonly pool: IsolatePool;
  private readonly slots: Semaphore;
  private readonly handles = new Map<string, RunHandle>();
  private readonly secretsCache = new Map<string, { mtimeMs: number; values: Record<string, string> }>();
  private readonly executedQueue: { entry: AuditEntryInput; resolve(v: { id: number }): void; reject(e: unknown): void }[] = [];
  private executedInFlight?: Promise<void>;

  constructor(private readonly opts: BotRunnerOptions) {
    const max = Math.max(1, opts.maxConcurrent ?? 4);
    this.slots = new Semaphore(max);
    this.bundler = new BotBundler({ esbuildPath: opts.esbuildPath });
    this.pool = new IsolatePool({ workerPath: opts.workerPath, spares: opts.spareProcesses ?? 1 });
  }

  private node?: NodeRuntime;

  /** The Node that bot processes run on (asked once). Throws when `nodePath` is no Node. */
  nodeRuntime(): NodeRuntime {
    if (!this.node) {
      try {
        this.node = this.opts.nodePath ? probeNode(this.opts.nodePath) : currentNode();
      } catch (e) {
        throw new Error(`The Node for bots (${this.opts.nodePath}) could not be run: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    return this.node;
  }

  /** Another Node binary for the bot processes from the next run on (undefined: this process's own). */
  setNodePath(nodePath: string | undefined): void {
    if (nodePath === this.opts.nodePath) return;
    this.opts.nodePath = nodePath;
    this.node = undefined;
  }

  /** Why bots cannot be debugged with this runner's Node (see sandbox.ts), or undefined when they can. */
  debugProblem(): string | undefined {
    try {
      return debugProblem(this.nodeRuntime());
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** Runs queued or running now. */
  get active(): number {
    return this.handles.size;
  }

  /** Starts a run; the handle can cancel it. */
  start(req: RunRequest): RunHandle {
    const runId = randomUUID();
    const traceId = req.traceId ?? randomUUID();
    const control = { cancelled: false, hook: undefined as (() => void) | undefined };
    const cancel = (): void => {
      if (control.cancelled) return;
      control.cancelled = true;
      control.hook?.();
    };
    if (req.signal?.aborted) control.cancelled = true;
    req.signal?.addEventListener('abort', cancel, { once: true });
    const result = this.execute(req, runId, traceId, control).finally(() => {
      this.handles.delete(runId);
      req.signal?.removeEventListener('abort', cancel);
    });
    const handle: RunHandle = { runId, traceId, result, cancel };
    this.handles.set(runId, handle);
    return handle;
  }

  run(req: RunRequest): Promise<RunResult> {
    return this.start(req).result;
  }

  /** Runs a recorded entry's input again with the bot's current code; the new entry has replayOf. */
  replay(entry: ReplayableEntry, req: Omit<RunRequest, 'input' | 'inputText' | 'contentType' | 'replayOf'>): Promise<RunResult> {
    const input = replayInput(entry);
    if (!input.ok) return Promise.reject(new ReplayError(input.reason));
    return this.run({ ...req, inputText: input.inputText, contentType: input.contentType, replayOf: entry.id });
  }

  cancel(runId: string): boolean {
    const h = this.handles.get(runId);
    h?.cancel();
    return !!h;
  }

  cancelAll(): void {
    for (const h of this.handles.values()) h.cancel();
  }

  /**
   * Starts esbuild, and with a workspace root a bot process for it, ahead of the first run (a
   * first run then takes ≈ 30 ms, not ≈ 500).
   */
  async warmUp(memoryLimitMb = DEFAULT_BOT_SETTINGS.memoryLimitMb, root?: string, permissions?: BotPermissions): Promise<void> {
    let node: NodeRuntime | undefined;
    try {
      node = this.nodeRuntime();
    } catch {
      node = undefined; // a run says why
    }
    await Promise.all([root && node ? this.pool.warmUp({ memoryLimitMb, root: path.resolve(root), permissions, node }) : undefined, this.bundler.warmUp()]);
  }

  /**
   * Starts a process for a debug run ahead, for a bot of `root` (its settings, for its sandbox; the
   * defaults without), loaded and with its inspector listening, so that a first debug run's debugger
   * attaches at once. False when bots cannot be debugged here (`debugProblem` says why).
   */
  prepareDebug(root: string, botSettings?: Partial<BotSettings>): boolean {
    if (this.debugProblem()) return false;
    const settings = { ...DEFAULT_BOT_SETTINGS, ...botSettings } as BotSettings;
    return this.pool.prepareDebug({ memoryLimitMb: settings.memoryLimitMb, root: path.resolve(root), permissions: settings.permissions, node: this.nodeRuntime(), debug: { port: 0 } });
  }

  dispose(): void {
    this.cancelAll();
    this.pool.dispose();
  }

  private secretsFor(root: string): Record<string, string> {
    const file = path.join(root, '.env');
    let mtimeMs = -1;
    try {
      // Without an exception for a missing file: making one costs ≈ 0.35 ms of every run.
      mtimeMs = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? -1;
    } catch {
      /* unreadable: as none */
    }
    const c = this.secretsCache.get(root);
    if (c && c.mtimeMs === mtimeMs) return c.values;
    const values = mtimeMs < 0 ? {} : loadSecrets(root).values;
    this.secretsCache.set(root, { mtimeMs, values });
    return values;
  }

  private async execute(
    req: RunRequest,
    runId: string,
    traceId: string,
    control: { cancelled: boolean; hook?: () => void },
  ): Promise<RunResult> {
    const used: { iso?: BotProcess } = {};
    try {
      return await this.executeIn(req, runId, traceId, control, used);
    } finally {
      // One run per process: the run's process is killed once its entry is written.
      if (used.iso) this.pool.destroy(used.iso);
    }
  }

  private async executeIn(
    req: RunRequest,
    runId: string,
    traceId: string,
    control: { cancelled: boolean; hook?: () => void },
    used: { iso?: BotProcess },
  ): Promise<RunResult> {
    const periodStart = Date.now();
    const t0 = performance.now();
    const root = path.resolve(req.root);
    const botPath = path.resolve(root, req.bot.path);
    const relPath = req.bot.relPath ?? workspaceRelative(root, botPath);
    const settings: BotSettings = { ...DEFAULT_BOT_SETTINGS, ...req.bot.settings, ...req.settings } as BotSettings;
    const name = req.settings?.name ?? req.bot.name ?? req.bot.settings?.name ?? path.basename(relPath).replace(/\.[cm]?[jt]s$/, '');
    const entityId = req.bot.id ?? relPath;
    const contentType = req.contentType ?? settings.contentType ?? CONTENT_TYPES.JSON;
    const user = this.opts.user ?? detectUser(root);
    const secrets = req.secrets ?? this.secretsFor(root);
    const masker = new SecretMasker(Object.values(secrets));
    const logs: LogLine[] = [];
    const maxOutput = this.opts.maxOutputBytes ?? 16 * 1024 * 1024;
    let outputBytes = 0;
    let droppedLines = 0;
    const addLog = (line: LogLine): void => {
      const l = masker.empty ? line : { ...line, text: masker.maskText(line.text) };
      req.onOutput?.(l);
      outputBytes += l.text.length + 32;
      if (outputBytes > maxOutput) {
        droppedLines++;
        return;
      }
      logs.push(l);
    };

    let failure: Failure | undefined;
    let returnValue: string | undefined;
    let debugged: DebugRecord | undefined = req.debug ? { timeLimit: 'suspended while paused', timeoutSeconds: settings.timeout, pausedMs: 0, pauses: 0 } : undefined;
    let bundleMs = 0;
    let bundleCached = false;

    const parsed = parseRunInput(contentType, req.input, req.inputText);
    const storedInput = parsed.ok ? parsed.stored : req.inputText ?? (req.input === undefined ? undefined : safeJson(req.input));

    run: {
      if (!parsed.ok) {
        failure = { kind: 'bad-input', message: parsed.reason };
        break run;
      }
      if (control.cancelled) {
        failure = { kind: 'cancelled', message: 'The run was cancelled before it started' };
        break run;
      }
      let bundle;
      try {
        bundle = await this.bundler.bundle(botPath, root);
        bundleMs = bundle.buildMs;
        bundleCached = bundle.cached;
      } catch (e) {
        failure = { kind: 'compile', message: e instanceof BundleError ? e.message : `The bot could not be bundled: ${(e as Error).message}` };
        break run;
      }
      let node: NodeRuntime;
      try {
        node = this.nodeRuntime();
      } catch (e) {
        failure = { kind: 'crash', message: `The bot's process could not start: ${(e as Error).message}` };
        break run;
      }
      const tooOld = nodeVersionProblem(bundle.engines, node.version);
      if (tooOld) {
        failure = { kind: 'load', message: tooOld };
        break run;
      }

      // Wait for a slot; a cancel while waiting ends the run here. A child run uses its parent's.
      const slot = req.childDepth ? Object.assign(Promise.resolve(), { abandon: () => undefined }) : this.slots.acquire();
      const cancelledWhileQueued = new Promise<'cancelled'>((resolve) => {
        control.hook = () => resolve('cancelled');
        if (control.cancelled) resolve('cancelled');
      });
      if ((await Promise.race([slot.then(() => 'slot' as const), cancelledWhileQueued])) === 'cancelled') {
        slot.abandon();
        if (!req.childDepth) void slot.then(() => this.slots.release());
        failure = { kind: 'cancelled', message: 'The run was cancelled before it started' };
        break run;
      }
      let iso: BotProcess | undefined;
      try {
        // The requester's profile: its id is stable, and the local server stores it before it
        // answers the run's first request (a run that makes none leaves no trace of it).
        const requester = req.requester ?? { reference: `Practitioner/${stableId('Practitioner', user)}`, display: user };
        try {
          const spec = { memoryLimitMb: settings.memoryLimitMb, root, permissions: settings.permissions, node };
          if (req.debug) {
            // A process of its own, waiting for a debugger (as long as that takes: a cancel ends it).
            const d = req.debug;
            const proc = this.pool.startDebug({ ...spec, debug: { port: d.port ?? 0, publishHttp: d.publishHttp } });
            used.iso = proc;
            control.hook = () => proc.terminate('its run was cancelled before it started');
            if (control.cancelled) control.hook();
            let unwatched: string | undefined;
            void proc.inspectorUrl?.then(
              (url) => {
                const u = new URL(url);
                const info: InspectorInfo = { url, host: u.hostname, port: Number(u.port) };
                debugged = { ...debugged!, inspector: `${info.host}:${info.port}` };
                addLog({
                  time: new Date().toISOString(),
                  level: 'info',
                  text: `[bot-audit] Run under the debugger (inspector on ${info.host}:${info.port}); the bot's time limit of ${settings.timeout} s is suspended while it is paused`,
                });
                try {
                  d.onInspector?.(info);
                } catch {
                  /* the caller's problem */
                }
              },
              (e: Error) => {
                if (/could not watch/.test(e.message)) unwatched = e.message;
              },
            );
            try {
              await proc.ready;
            } catch (e) {
              // Without the host's watch on its pauses, the run does not happen (its limit could not be kept).
              if (unwatched && !control.cancelled) throw new Error(unwatched);
              throw e;
            }
            iso = proc;
          } else {
            iso = await this.pool.acquire(spec);
            // One run per process: killed once the run's entry is written (execute).
            used.iso = iso;
          }
        } catch (e) {
          failure = control.cancelled
            ? { kind: 'cancelled', message: 'The run was cancelled before it started' }
            : { kind: 'crash', message: `The bot's process could not start: ${(e as Error).message}` };
          break run;
        }
        const outcome = await this.runIn(iso, {
          runId,
          requester,
          botId: req.bot.id ?? stableId('Bot', entityId),
          // Under the debugger, the source map names the bot's files by absolute path.
          bundle: req.debug ? { ...bundle, code: withAbsoluteSources(bundle.code, root) } : bundle,
          botPath,
          root,
          req,
          contentType,
          traceId,
          secrets,
          name,
          entityId,
          user,
          masker,
          timeoutMs: settings.timeout * 1000,
          debug: !!req.debug,
          memoryLimitMb: settings.memoryLimitMb,
          control,
          addLog,
          wire: parsed.wire,
        });
        failure = outcome.failure;
        returnValue = outcome.returnValue;
        if (debugged && outcome.paused) debugged = { ...debugged, pausedMs: Math.round(outcome.paused.ms), pauses: outcome.paused.count };
      } finally {
        if (!req.childDepth) this.slots.release();
      }
    }

    const periodEnd = Date.now();
    if (droppedLines > 0) {
      logs.push({ time: new Date().toISOString(), level: 'warn', text: `[bot-audit] ${droppedLines} more line(s) of output were dropped past ${maxOutput} bytes` });
    }
    const output = logs.map(formatLogLine).join('\n');
    const stack = failure?.stack ? masker.maskText(failure.stack) : undefined;
    // A thrown error says what it is in its stack's first line ("TypeError: …"): keep that name
    // rather than the generic title of the failure kind.
    const header = stack?.split('\n', 1)[0];
    const named =
      (failure?.kind === 'error' || failure?.kind === 'client-error') && !!header && header === `${/^(\w+):/.exec(header)?.[1]}: ${masker.maskText(failure.message)}`;
    const message = failure ? (named ? header : masker.maskText(`${FAILURE_TITLE[failure.kind]}: ${failure.message}`)) : undefined;
    // The stack's first line repeats the message: keep its frames only.
    const frames = stack?.split('\n').filter((l) => /^\s+at /.test(l)).join('\n');
    const descParts = [message, frames, output].filter((x): x is string => !!x);
    const outcomeDesc = descParts.join('\n\n');
    const outcome: RunOutcome = failure ? FAILURE_OUTCOME[failure.kind] : 0;
    const result: RunResult = {
      runId,
      traceId,
      bot: { name, entityId, path: botPath },
      outcome,
      outcomeDisplay: OUTCOME_DISPLAY[outcome],
      failureKind: failure?.kind,
      ok: !failure,
      message,
      stack,
      exitCode: failure?.exitCode,
      logs,
      output,
      outcomeDesc,
      returnValue: masker.maskText(returnValue),
      contentType,
      input: maskInput(masker, storedInput, contentType),
      replayOf: req.replayOf,
      debugged,
      periodStart,
      periodEnd,
      durationMs: performance.now() - t0,
      bundleMs,
      bundleCached,
      logged: false,
    };
    await this.record(result, settings, user, normalizePermissions(settings.permissions, root));
    return result;
  }

  private async record(result: RunResult, settings: BotSettings, user: string, permissions: BotPermissions): Promise<void> {
    if (this.opts.medplum?.flush) {
      try {
        await this.opts.medplum.flush();
      } catch (e) {
        result.recordError = (e as Error).message;
      }
    }
    if (!shouldRecord(settings.auditEventTrigger, result.outcome, result.outcomeDesc)) return;
    const dest = destinations(settings.auditEventDestination);
    const entry: AuditEntryInput = {
      user,
      action: 'EXECUTED',
      entityName: 'Bot',
      entityId: result.bot.entityId,
      bot: result.bot.name,
      outcome: result.outcome,
      failureKind: result.failureKind,
      outcomeDesc: result.outcomeDesc,
      periodStart: result.periodStart,
      periodEnd: result.periodEnd,
      traceId: result.traceId,
      contentType: result.contentType,
      input: result.input,
      returnValue: result.returnValue,
      replayOf: result.replayOf,
      // What the bot was allowed beyond the sandbox's defaults, on every entry of its runs; and
      // whether it ran under a debugger (its time limit suspended).
      ...(permissions.childProcess || permissions.fsWrite || result.debugged
        ? { after: { ...(permissions.childProcess || permissions.fsWrite ? { permissions } : {}), ...(result.debugged ? { debug: result.debugged } : {}) } }
        : {}),
    };
    if (dest.resource && this.opts.store) {
      try {
        result.entryId = (await this.appendExecuted(this.opts.store, entry)).id;
      } catch (e) {
        result.recordError = `The run could not be recorded: ${(e as Error).message}`;
      }
    }
    if (dest.log && this.opts.onLog) {
      try {
        this.opts.onLog(JSON.stringify({ type: 'execute', recorded: new Date(result.periodEnd).toISOString(), outcomeDisplay: result.outcomeDisplay, ...entry }));
        result.logged = true;
      } catch (e) {
        result.recordError ??= `The run could not be logged: ${(e as Error).message}`;
      }
    }
  }

  /**
   * Group commit of EXECUTED entries: while one durable write is in flight, the entries of runs
   * that end meanwhile wait and go together in the next appendBatch (one fsync for all). A
   * single run's entry is written at once, as with append().
   */
  private appendExecuted(store: AuditSink, entry: AuditEntryInput): Promise<{ id: number }> {
    if (!store.appendBatch) return store.append(entry);
    return new Promise((resolve, reject) => {
      this.executedQueue.push({ entry, resolve, reject });
      this.kickExecuted(store);
    });
  }

  private kickExecuted(store: AuditSink): void {
    if (this.executedInFlight || this.executedQueue.length === 0) return;
    const batch = this.executedQueue.splice(0, 500);
    this.executedInFlight = store.appendBatch!(batch.map((b) => b.entry))
      .then(
        (ids) => batch.forEach((b, i) => b.resolve(ids[i])),
        (e) => batch.forEach((b) => b.reject(e)),
      )
      .finally(() => {
        this.executedInFlight = undefined;
        this.kickExecuted(store);
      });
  }

  /**
   * One run in one bot process. The outcome is the host's: from the process's report of this run
   * (once, for this run ID), else from how the process ended; anything else it says breaks the
   * protocol and makes the run a Major failure.
   */
  private runIn(
    iso: BotProcess,
    r: {
      runId: string;
      requester: BotReference;
      botId: string;
      bundle: { hash: string; code: string };
      botPath: string;
      root: string;
      req: RunRequest;
      contentType: string;
      traceId: string;
      secrets: Record<string, string>;
      name: string;
      entityId: string;
      user: string;
      masker: SecretMasker;
      timeoutMs: number;
      /** Under the debugger: the time limit stands still while the bot is paused (iso.pauses). */
      debug: boolean;
      memoryLimitMb: number;
      control: { cancelled: boolean; hook?: () => void };
      addLog: (l: LogLine) => void;
      wire: RunMessage['event']['input'];
      extendDeadline?: (ms: number, what: string) => void;
    },
  ): Promise<{ failure?: Failure; returnValue?: string; paused?: { ms: number; count: number } }> {
    return new Promise((resolve) => {
      let settled = false;
      // Under the debugger, the clock stops while the bot is paused (when the pause began; how long, how often).
      let pausedAt: number | undefined;
      const paused = r.debug ? { ms: 0, count: 0 } : undefined;
      let watch: PauseWatch | undefined;
      // 122 random bits from the entropy randomUUID buffers (randomBytes(16) costs ≈ 0.35 ms a call here).
      const seal = randomUUID();
      let report: DoneMessage | undefined;
      let broken: string | undefined;
      const finish = (v: { failure?: Failure; returnValue?: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (watch) watch.onChange = undefined;
        iso.onAttached = undefined;
        if (paused && pausedAt !== undefined) paused.ms += performance.now() - pausedAt;
        r.control.hook = undefined;
        iso.onMessage = undefined;
        iso.onStd = undefined;
        iso.onViolation = undefined;
        resolve(paused ? { ...v, paused } : v);
      };
      const onTimeout = (): void => {
        iso.terminate('its run timed out');
        finish({ failure: { kind: 'timeout', message: `The bot ran past its timeout of ${r.timeoutMs / 1000} s${paused ? ' (the time it was held paused in the debugger aside)' : ''} and was stopped` } });
      };
      let deadline = performance.now() + r.timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const startClock = (): void => {
        deadline = performance.now() + r.timeoutMs;
        timer = setTimeout(onTimeout, r.timeoutMs);
      };
      if (!r.debug) startClock();
      else {
        // A debugger may hold the bot paused as long as it likes: the clock stands still meanwhile and
        // goes on, with the time that was left, when the bot runs again. It starts once the debugger
        // has let the process go on (at once where the process was let go before its run).
        const onPause = (isPaused: boolean, reason?: string): void => {
          if (settled) return;
          const now = performance.now();
          if (isPaused && pausedAt === undefined) {
            pausedAt = now;
            clearTimeout(timer);
            timer = undefined;
            // js-debug stops at each new script with a source map to read it: not a pause of the user's.
            if (reason !== 'instrumentation') paused!.count++;
          } else if (!isPaused && pausedAt !== undefined) {
            const held = now - pausedAt;
            pausedAt = undefined;
            paused!.ms += held;
            deadline += held;
            timer = setTimeout(onTimeout, Math.max(0, deadline - now));
          }
        };
        const attached = (): void => {
          if (settled) return;
          watch = iso.pauses;
          // No run without the host's watch on its pauses (it is in place before the debugger has the address).
          if (!watch || watch.closed) return iso.violate('its debugger let it go on before the host watched its pauses');
          startClock();
          watch.onChange = onPause;
          if (watch.paused) onPause(true, 'other');
        };
        if (iso.waitsInWorker) iso.onAttached = attached;
        else attached();
      }
      // The local server's one-time start-up (a Medplum server does it when it starts, not in a bot's
      // run) does not count against the bot's time limit; the run's output says so.
      r.extendDeadline = (ms, what) => {
        if (settled || !(ms > 0)) return;
        deadline += ms;
        clearTimeout(timer);
        // While paused, the clock goes on at the resume.
        timer = pausedAt === undefined ? setTimeout(onTimeout, Math.max(0, deadline - performance.now())) : undefined;
        if (ms >= 1000) r.addLog({ time: new Date().toISOString(), level: 'info', text: `[bot-audit] ${what} took ${(ms / 1000).toFixed(1)} s; that time does not count against the bot's timeout` });
      };
      r.control.hook = () => {
        iso.terminate('its run was cancelled');
        finish({ failure: { kind: 'cancelled', message: 'The run was cancelled' } });
      };
      if (r.control.cancelled) r.control.hook();

      iso.onStd = (which, text) => {
        for (const line of text.replace(/\n$/, '').split('\n')) r.addLog({ time: new Date().toISOString(), level: which, text: line });
      };
      iso.onViolation = (reason) => {
        broken ??= reason;
      };
      iso.onMessage = (m: WorkerToHost) => {
        if (settled || broken) return;
        if (m.t === 'ready' || m.t === 'waiting' || m.t === 'attached') return iso.violate(`it said "${m.t}" again`);
        if (m.runId !== r.runId) return iso.violate(`it sent a "${m.t}" message for another run (${JSON.stringify(m.runId.slice(0, 40))})`);
        if (report) return iso.violate(m.t === 'done' ? 'it reported its run twice' : `it sent a "${m.t}" message after its report`);
        if (m.t === 'log') r.addLog(m.line);
        else if (m.t === 'rpc') this.answerRpc(iso, r, m);
        else if (m.t === 'done') {
          // Only the runner's code in the process knows the seal: a report without it was written by
          // the bot.
          if (m.seal !== seal) return iso.violate('it sent a report that the runner did not write');
          report = m;
          // Its run is over, and the outcome is this report: everything before it on the channel
          // has been read (one ordered stream); nothing after it counts. The process has stopped
          // (its one thread waits to be killed, see worker.ts): execute() kills it once the run's
          // entry is written, since a process dying meanwhile slows that durable write down (≈ 3 ms
          // here). With child processes opted in, its tree may still be running: that ends now.
          if (iso.permissions.childProcess) iso.terminate('its run was over');
          else setTimeout(() => iso.terminate('its run was over'), 1000).unref();
          const f = m.failure;
          finish({ returnValue: m.returnValue, failure: f && { kind: f.kind, message: f.message, stack: f.stack, exitCode: f.kind === 'exit' ? f.exitCode : undefined } });
        }
      };
      void iso.closed.then(() => {
        if (settled) return;
        const e = iso.exited;
        if (broken) {
          finish({ failure: { kind: 'crash', message: `The bot's process broke the run protocol (${broken}); it was stopped, and nothing it reported about this run was kept` } });
        } else if (report) {
          const f = report.failure;
          finish({ returnValue: report.returnValue, failure: f && { kind: f.kind, message: f.message, stack: f.stack, exitCode: f.kind === 'exit' ? f.exitCode : undefined } });
        } else if (e?.oom) {
          finish({ failure: { kind: 'out-of-memory', message: `The bot ran out of memory (limit ${r.memoryLimitMb} MB)${e.error ? `: ${e.error}` : ''}` } });
        } else {
          const why = e?.error ?? (e?.signal ? `signal ${e.signal}` : `exit code ${e?.code}`);
          finish({ failure: { kind: 'crash', message: `The bot's process died without reporting its run (${why})` } });
        }
      });

      const msg: RunMessage = {
        t: 'run',
        runId: r.runId,
        hash: r.bundle.hash,
        code: r.bundle.code,
        botPath: r.botPath,
        root: r.root,
        tmpDir: iso.tmpDir,
        seal,
        event: {
          bot: { reference: `Bot/${r.botId}`, display: r.name },
          contentType: r.contentType,
          input: r.wire,
          secrets: toEventSecrets(r.secrets),
          traceId: r.traceId,
          requester: r.requester,
          headers: r.req.headers ?? {},
          baseUrl: LOCAL_BASE_URL,
          defaultHeaders: {},
        },
      };
      if (!settled) {
        this.pool.watch(iso);
        iso.send(msg);
      }
    });
  }

  /**
   * A bot's `executeBot`: runs the named workspace bot as a child run with the same trace ID (so
   * the log links them), recorded like any run; answers as Medplum's `$execute` does: the child's
   * return value, or an OperationOutcome when it failed.
   */
  private async childRun(
    parent: { root: string; req: RunRequest; traceId: string; requester: BotReference },
    ref: { id?: string; identifier?: string },
    body: unknown,
    contentType: string,
  ): Promise<{ status: number; body: unknown; contentType?: string }> {
    const depth = (parent.req.childDepth ?? 0) + 1;
    const what = ref.id ?? ref.identifier ?? '';
    if (depth > MAX_CHILD_DEPTH) return { status: 400, body: errorOutcome(`executeBot nests deeper than ${MAX_CHILD_DEPTH} runs (Bot ${what})`) };
    const target = await this.opts.resolveBot?.(parent.root, ref);
    if (!target) return { status: 404, body: errorOutcome(`Not found: Bot ${what} (no bot in this workspace has that id, name or identifier)`) };
    const res = await this.run({
      root: parent.root,
      bot: target,
      ...(isJsonContentType(contentType) || typeof body !== 'string' ? { input: body } : { inputText: body }),
      contentType,
      traceId: parent.traceId,
      requester: parent.requester,
      childDepth: depth,
      signal: parent.req.signal,
    });
    if (!res.ok) return { status: res.outcome === 4 ? 400 : 500, body: errorOutcome(`Bot ${res.bot.name} failed (${res.outcomeDisplay}): ${res.message ?? ''}`) };
    let value: unknown;
    try {
      value = res.returnValue === undefined ? undefined : JSON.parse(res.returnValue);
    } catch {
      value = res.returnValue;
    }
    return { status: 200, body: value, contentType: typeof value === 'string' ? res.contentType : undefined };
  }

  private answerRpc(
    iso: BotProcess,
    r: {
      runId: string;
      traceId: string;
      name: string;
      user: string;
      root: string;
      req: RunRequest;
      requester: BotReference;
      masker: SecretMasker;
      addLog: (l: LogLine) => void;
      medplumCtx?: MedplumCallContext;
      extendDeadline?: (ms: number, what: string) => void;
    },
    m: Extract<WorkerToHost, { t: 'rpc' }>,
  ): void {
    const reply = (value: unknown): void => {
      const warmupMs = (value as { warmupMs?: unknown } | undefined)?.warmupMs;
      if (typeof warmupMs === 'number') r.extendDeadline?.(warmupMs, "the local FHIR server's one-time start-up (FHIR definitions, GraphQL's schema)");
      iso.send({ t: 'rpc-result', runId: r.runId, callId: m.callId, ok: true, value });
    };
    const fail = (e: unknown): void => {
      const err = e as { message?: string; status?: number; outcome?: unknown };
      iso.send({ t: 'rpc-result', runId: r.runId, callId: m.callId, ok: false, error: { message: err?.message ?? String(e), status: err?.status, outcome: err?.outcome } });
    };
    try {
      if (!this.opts.medplum) throw Object.assign(new Error('No local Medplum data store is configured for this runner'), { status: 501 });
      r.medplumCtx ??= {
        botUser: `Bot/${r.name}`,
        botName: r.name,
        onBehalfOf: r.user,
        traceId: r.traceId,
        masker: r.masker,
        log: (level, text) => r.addLog({ time: new Date().toISOString(), level, text }),
        executeBot: (ref, body, contentType) => this.childRun(r, ref, body, contentType),
      };
      const value = this.opts.medplum.handle(m.method, m.args, r.medplumCtx);
      if (value instanceof Promise) value.then(reply, fail);
      else reply(value);
    } catch (e) {
      fail(e);
    }
  }
}

/**
 * The input as kept for replay, secrets masked. JSON is masked value by value (string leaves and
 * keys), so that what is kept still parses and replays; other text token by token.
 */
function maskInput(masker: SecretMasker, text: string | undefined, contentType: string): string | undefined {
  if (text === undefined || masker.empty) return text;
  if (isJsonContentType(contentType)) {
    try {
      const value: unknown = JSON.parse(text);
      const masked = JSON.stringify(masker.maskValue(value));
      return masked === JSON.stringify(value) ? text : masked;
    } catch {
      /* not JSON after all: mask it as text */
    }
  }
  return masker.maskText(text);
}

function errorOutcome(text: string): { resourceType: 'OperationOutcome'; issue: { severity: 'error'; code: string; details: { text: string } }[] } {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', details: { text } }] };
}

function safeJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
