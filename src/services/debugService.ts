// Debugging a bot (issue 21): the `bot-audit` debug type and the runs started for debugging. The
// runner starts the bot's process with the inspector (src/core/runner, RunRequest.debug); this only
// attaches VS Code's own JavaScript debugger (js-debug, built in) to the address it reports, and
// cancels the run when that debug session is stopped. No debug adapter of our own, no processes.
import * as path from 'node:path';
import * as fs from 'node:fs';
import vscode = require('vscode');
import { readSampleInput } from '../core/bots/config';
import type { InspectorInfo, RunResult } from '../core/runner';
import { Disposable } from '../disposable';
import { log } from '../logger';
import type { BotsModel, WorkspaceBot } from './botsModel';
import { type RunInput, type RunService, UntrustedWorkspaceError } from './runService';

export const DEBUG_TYPE = 'bot-audit';
/** The key of a js-debug session's configuration that names the run it debugs. */
export const RUN_ID_KEY = '__botAuditRunId';
/** VS Code's built-in JavaScript debugger, which attaches to a bot's process. */
const JS_DEBUG = 'ms-vscode.js-debug';
/** The files that a breakpoint in a bot's code is set in. */
const SCRIPT = /\.[cm]?[jt]sx?$/i;

/** A `bot-audit` launch configuration (launch.json). */
export interface BotDebugConfiguration extends vscode.DebugConfiguration {
  /** The bot: its name, its path from the workspace folder, or its Medplum id. */
  bot?: string;
  /** The input as a value (JSON content types) or text. */
  input?: unknown;
  /** A file with the input, relative to the workspace folder. */
  inputFile?: string;
  contentType?: string;
}

/** A run under the debugger, as `debug` started it. */
export interface DebugRun {
  runId: string;
  /** The js-debug session attached to it (undefined when the run ended before its process listened). */
  session?: vscode.DebugSession;
  result: Promise<RunResult>;
}

export class DebugService extends Disposable implements vscode.DebugConfigurationProvider {
  /** Runs under the debugger, by run ID: their cancel and their session. */
  private readonly active = new Map<string, { cancel(): void; session?: vscode.DebugSession }>();
  /** The last prepareFor (they run one after another). */
  private preparing: Promise<boolean> = Promise.resolve(false);

  constructor(
    private readonly bots: BotsModel,
    private readonly runs: RunService,
  ) {
    super();
    this.register(vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, this));
    // The bots offered in the Run and Debug view's dropdown ("bot-audit…"), without a launch.json.
    this.register(
      vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, { provideDebugConfigurations: (f) => this.provideDebugConfigurations(f) }, vscode.DebugConfigurationProviderTriggerKind.Dynamic),
    );
    this.register(
      vscode.debug.onDidStartDebugSession((s) => {
        const a = this.active.get(s.configuration[RUN_ID_KEY] as string);
        if (a && !s.parentSession) a.session = s;
      }),
    );
    // Stopping the debug session cancels the run (outcome 8, cancelled), at once: as the Stop request
    // goes to js-debug, before it detaches and lets the paused bot run on to its end. (After the run's
    // end, when js-debug's session ends with the process, this does nothing.)
    const stopping = (session: vscode.DebugSession): vscode.DebugAdapterTracker => ({
      onWillReceiveMessage: (m: { type?: string; command?: string }) => {
        if (m.type === 'request' && (m.command === 'disconnect' || m.command === 'terminate')) this.runOf(session)?.cancel();
      },
    });
    for (const type of ['pwa-node', 'node']) this.register(vscode.debug.registerDebugAdapterTrackerFactory(type, { createDebugAdapterTracker: stopping }));
    this.register(vscode.debug.onDidTerminateDebugSession((s) => this.runOf(s)?.cancel()));
    // A breakpoint set in a folder with bots: a debug run is near. What its first one would wait for
    // is started now (see prepareFor).
    this.register(vscode.debug.onDidChangeBreakpoints((e) => void this.prepareFor(e.added)));
  }

  /**
   * Readies the first debug run, when one of `breakpoints` is in a script of a workspace folder with
   * bots (a bot, or a module one imports): a bot process with its inspector, started ahead for that
   * folder (with the bot's sandbox when the breakpoint is in a bot), and VS Code's JavaScript
   * debugger, activated. A debug run takes that process at once, and its debugger attaches without
   * activating first. Later debug runs find a process started ahead after each run. Nothing in
   * Restricted Mode or where bots cannot be debugged; an unused process ends after five minutes.
   * True when a process waits (started now or before).
   */
  prepareFor(breakpoints: readonly vscode.Breakpoint[]): Promise<boolean> {
    // One at a time (each may start the runner); none is dropped, and a failed one stops no later one.
    const next = this.preparing
      .then(() => this.prepareNow(breakpoints))
      .catch((e: unknown) => {
        log.warn(`Could not start a bot process for debugging ahead: ${e instanceof Error ? e.message : String(e)}`);
        return false;
      });
    this.preparing = next;
    return next;
  }

  private async prepareNow(breakpoints: readonly vscode.Breakpoint[]): Promise<boolean> {
    if (!vscode.workspace.isTrusted) return false;
    const uris = breakpoints
      .filter((b): b is vscode.SourceBreakpoint => b instanceof vscode.SourceBreakpoint && b.enabled && SCRIPT.test(b.location.uri.path))
      .map((b) => b.location.uri);
    if (!uris.length) return false;
    const bots = (await this.bots.getBots()).filter((b) => b.status.kind === 'source');
    for (const uri of uris) {
      const folder = vscode.workspace.getWorkspaceFolder(uri);
      if (!folder || !bots.some((b) => b.workspaceFolder.uri.toString() === folder.uri.toString())) continue;
      const bot = bots.find((b) => b.uri.toString() === uri.toString());
      const ready = await this.runs.prepareDebug(folder, bot);
      if (ready) void vscode.extensions.getExtension(JS_DEBUG)?.activate().then(undefined, () => undefined);
      return ready;
    }
    return false;
  }

  /** One configuration per bot of the folder. */
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<BotDebugConfiguration[]> {
    const bots = (await this.bots.getBots()).filter((b) => b.status.kind === 'source' && (!folder || b.workspaceFolder.uri.toString() === folder.uri.toString()));
    return bots.map((b) => ({ type: DEBUG_TYPE, request: 'launch', name: vscode.l10n.t('Debug Bot: {0}', b.name), bot: b.relPath }));
  }

  /** F5 without a launch.json: the bot in the editor, else one picked. */
  async resolveDebugConfiguration(folder: vscode.WorkspaceFolder | undefined, config: BotDebugConfiguration): Promise<BotDebugConfiguration | undefined> {
    if (config.type && config.bot) return config;
    const editor = vscode.window.activeTextEditor?.document.uri;
    let bot = editor ? await this.bots.botAt(editor) : undefined;
    if (!bot) {
      const items = (await this.provideDebugConfigurations(folder)).map((c) => ({ label: c.bot!, config: c }));
      if (!items.length) {
        void vscode.window.showInformationMessage(vscode.l10n.t('No bots found in this workspace.'));
        return undefined;
      }
      const pick = await vscode.window.showQuickPick(items, { placeHolder: vscode.l10n.t('Bot to debug') });
      if (!pick) return undefined;
      bot = await this.findBot(folder, pick.config.bot!);
    }
    if (!bot) return undefined;
    return { ...config, type: DEBUG_TYPE, request: 'launch', name: config.name || vscode.l10n.t('Debug Bot: {0}', bot.name), bot: bot.relPath };
  }

  /**
   * Starts the run under the debugger and js-debug's session on it; the `bot-audit` session itself
   * never starts (undefined: nothing more to launch).
   */
  async resolveDebugConfigurationWithSubstitutedVariables(folder: vscode.WorkspaceFolder | undefined, config: BotDebugConfiguration): Promise<undefined> {
    try {
      const bot = config.bot ? await this.findBot(folder, config.bot) : undefined;
      if (!bot) {
        void vscode.window.showErrorMessage(vscode.l10n.t('Bot Audit: no bot "{0}" in this workspace (launch configuration "{1}").', config.bot ?? '', config.name));
        return undefined;
      }
      await this.debug(bot, this.inputOf(bot, config));
    } catch (e) {
      this.report(e, config.bot ?? '');
    }
    return undefined;
  }

  /**
   * Runs `bot` under the debugger: the run starts, its process waits with the inspector on, and a
   * js-debug session attaches to it. Undefined when bots cannot be debugged here (it says why).
   */
  async debug(bot: WorkspaceBot, input: RunInput = this.defaultInput(bot)): Promise<DebugRun | undefined> {
    if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
    const problem = await this.runs.debugProblem();
    if (problem) {
      const open = vscode.l10n.t('Open Settings');
      void vscode.window.showErrorMessage(problem, open).then((c) => c && vscode.commands.executeCommand('workbench.action.openSettings', 'botAudit.nodePath'));
      return undefined;
    }
    const t0 = performance.now();
    let listening!: (i: InspectorInfo) => void;
    const inspector = new Promise<InspectorInfo>((r) => (listening = r));
    const run = await this.runs.start(bot, input, { port: 0, onInspector: (i) => listening(i) });
    const entry: { cancel(): void; session?: vscode.DebugSession } = { cancel: run.cancel };
    this.active.set(run.runId, entry);
    const done = run.result.finally(() => {
      this.active.delete(run.runId);
      // js-debug ends its session when the process goes; this makes sure.
      if (entry.session) void vscode.debug.stopDebugging(entry.session).then(undefined, () => undefined);
    });
    done.catch(() => undefined);
    const info = await Promise.race([inspector, run.result.then(() => undefined, () => undefined)]);
    // Ended before its process listened (it could not be bundled, say): the run's entry says why.
    if (!info) return { runId: run.runId, result: done };
    const tListening = performance.now();
    const attach: vscode.DebugConfiguration = {
      type: 'pwa-node',
      request: 'attach',
      name: vscode.l10n.t('Bot: {0}', bot.name),
      // The address from the process's stderr (its inspector is not listed over HTTP).
      websocketAddress: info.url,
      continueOnAttach: true,
      sourceMaps: true,
      // The bundle is compiled as the run starts: js-debug binds its breakpoints (from the inline map)
      // before it runs, or a breakpoint in the handler's first lines could be passed already.
      pauseForSourceMap: true,
      // Only the bot's bundle has a source map worth reading: it is compiled from memory as
      // `bot-bundle-<hash>.js`, with an inline map naming the bot's files by absolute path. The
      // runner's worker and what it loads keep their maps unread (js-debug read them all before).
      resolveSourceMapLocations: ['**/bot-bundle-*.js'],
      // No compiled files on disk to look for breakpoints in (js-debug searched the workspace for them).
      outFiles: [],
      skipFiles: ['<node_internals>/**', '**/bot-worker.js'],
      autoAttachChildProcesses: false,
      attachExistingChildren: false,
      [RUN_ID_KEY]: run.runId,
    };
    const started = await vscode.debug.startDebugging(bot.workspaceFolder, attach);
    log.info(`Debugging ${bot.name}: its process listened after ${Math.round(tListening - t0)} ms, the debugger attached after ${Math.round(performance.now() - t0)} ms`);
    if (!started) {
      run.cancel();
      void vscode.window.showErrorMessage(vscode.l10n.t('Bot Audit: the JavaScript debugger could not attach to {0}; the run was cancelled.', bot.name));
    }
    return { runId: run.runId, session: entry.session, result: done };
  }

  /** The run that a js-debug session (or one of its child sessions) debugs. */
  private runOf(session: vscode.DebugSession): { cancel(): void } | undefined {
    for (let s: vscode.DebugSession | undefined = session; s; s = s.parentSession) {
      const id = s.configuration[RUN_ID_KEY] as string | undefined;
      if (id) return this.active.get(id);
    }
    return undefined;
  }

  /** Runs under the debugger now. */
  get activeRuns(): number {
    return this.active.size;
  }

  private async findBot(folder: vscode.WorkspaceFolder | undefined, ref: string): Promise<WorkspaceBot | undefined> {
    const all = (await this.bots.getBots()).filter((b) => b.status.kind === 'source');
    const inFolder = folder ? all.filter((b) => b.workspaceFolder.uri.toString() === folder.uri.toString()) : all;
    const norm = ref.replace(/\\/g, '/');
    const abs = folder && path.isAbsolute(ref) ? path.relative(folder.uri.fsPath, ref).replace(/\\/g, '/') : undefined;
    const match = (b: WorkspaceBot) => b.relPath === norm || b.relPath === abs || b.name === ref || b.entityId === ref;
    return inFolder.find(match) ?? all.find(match);
  }

  private defaultInput(bot: WorkspaceBot): RunInput {
    const [first] = Object.values(bot.settings.inputs);
    return first ? readSampleInput(bot.workspaceFolder.uri.fsPath, first) : {};
  }

  /** The configuration's input: `inputFile`, else `input`, else the bot's first sample input. */
  private inputOf(bot: WorkspaceBot, config: BotDebugConfiguration): RunInput {
    const contentType = config.contentType;
    if (config.inputFile) {
      const file = path.resolve(bot.workspaceFolder.uri.fsPath, config.inputFile);
      try {
        return { inputText: fs.readFileSync(file, 'utf8'), contentType };
      } catch (e) {
        throw new Error(vscode.l10n.t('the input file {0} of launch configuration "{1}" could not be read ({2})', file, config.name, (e as NodeJS.ErrnoException).code ?? (e as Error).message));
      }
    }
    if (config.input !== undefined) return typeof config.input === 'string' && contentType && !contentType.includes('json') ? { inputText: config.input, contentType } : { input: config.input, contentType };
    return { ...this.defaultInput(bot), contentType };
  }

  private report(e: unknown, what: string): void {
    if (e instanceof UntrustedWorkspaceError) {
      void vscode.window.showWarningMessage(e.message);
      return;
    }
    log.error(`Could not debug ${what}`, e);
    void vscode.window.showErrorMessage(vscode.l10n.t('Could not debug {0}: {1}', what, e instanceof Error ? e.message : String(e)));
  }

  override dispose(): void {
    for (const a of this.active.values()) a.cancel();
    super.dispose();
  }
}
