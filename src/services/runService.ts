import vscode = require('vscode');
import { settings } from './editorSettings';
import { Commands } from '../constants';
import type { BotRunner, DebugRequest, RunResult } from '../core/runner';
import type { FhirHost } from '../core/fhir/host';
import { Disposable } from '../disposable';
import { engine } from '../engine';
import { log } from '../logger';
import type { WorkspaceBot } from './botsModel';
import type { AuditService } from './auditService';

export interface RunInput {
  input?: unknown;
  inputText?: string;
  contentType?: string;
  replayOf?: number;
}

/** Thrown when a run is asked for in an untrusted workspace. */
export class UntrustedWorkspaceError extends Error {
  constructor() {
    super(vscode.l10n.t('Bots run workspace code, so they run only in a trusted workspace. Trust this workspace to run bots.'));
  }
}

/** A run started by `start`: its result, and a cancel. */
export interface EditorRun {
  runId: string;
  result: Promise<RunResult>;
  cancel(): void;
}

/** The setting `botAudit.nodePath`: the Node that bots run on (empty: the editor's own). */
export function nodePathSetting(): string | undefined {
  return settings().nodePath || undefined;
}

/**
 * Runs bots for the editor: one runner (isolated workers, bounded in time and memory) and the
 * local Medplum client, both created on the first run. Shows each run in the status bar, where
 * it can be cancelled.
 */
export class RunService extends Disposable {
  private runner: Promise<BotRunner> | undefined;
  private fhir: FhirHost | undefined;
  private readonly running = new Map<string, { bot: WorkspaceBot; cancel: () => void }>();
  private readonly status = this.register(vscode.window.createStatusBarItem('botAudit.runs', vscode.StatusBarAlignment.Left, 50));
  private readonly finished = this.register(new vscode.EventEmitter<RunResult>());
  /** Fires after every run, recorded or not. */
  readonly onDidFinish = this.finished.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly audit: AuditService,
  ) {
    super();
    this.status.name = vscode.l10n.t('Bot Audit Runs');
    this.status.command = Commands.cancelRuns;
    this.register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('botAudit.nodePath')) void this.runner?.then((r) => r.setNodePath(nodePathSetting())).catch(() => undefined);
      }),
    );
  }

  private getRunner(): Promise<BotRunner> {
    this.runner ??= (async () => {
      const store = await this.audit.localStore();
      const { runner, fhir } = engine().openRunner({
        store,
        distDir: vscode.Uri.joinPath(this.extensionUri, 'dist').fsPath,
        dataDir: this.audit.dataDir,
        serverThread: { logFile: this.audit.dbPath },
        maxConcurrent: settings().maxConcurrentRuns,
        user: this.audit.user,
        onLog: (line) => log.info(line),
        nodePath: nodePathSetting(),
      });
      this.fhir = fhir;
      return runner;
    })().catch((e) => {
      this.runner = undefined;
      throw e;
    });
    return this.runner;
  }

  /** Runs a bot, refusing in an untrusted workspace. Cancellable from the status bar. */
  async run(bot: WorkspaceBot, input: RunInput = {}): Promise<RunResult> {
    return (await this.start(bot, input)).result;
  }

  /** Why bots cannot be debugged here (the Node they run on), or undefined when they can. */
  async debugProblem(): Promise<string | undefined> {
    return (await this.getRunner()).debugProblem();
  }

  /**
   * Starts a run (with `debug`, under the debugger: see the runner's RunRequest.debug), refusing in
   * an untrusted workspace. Cancellable from the status bar.
   */
  async start(bot: WorkspaceBot, input: RunInput = {}, debug?: DebugRequest): Promise<EditorRun> {
    // The run and debug commands are hidden in Restricted Mode; this is the check that counts.
    if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
    const runner = await this.getRunner();
    const s = settings(bot.uri);
    const handle = runner.start({
      debug,
      root: bot.workspaceFolder.uri.fsPath,
      bot: { path: bot.uri.fsPath, name: bot.name, id: bot.entityId !== bot.relPath ? bot.entityId : undefined, relPath: bot.relPath, settings: bot.settings },
      input: input.input,
      inputText: input.inputText,
      contentType: input.contentType,
      replayOf: input.replayOf,
      onOutput: (l) => log.trace(`[${bot.name}] ${l.level}: ${l.text}`),
    });
    this.running.set(handle.runId, { bot, cancel: handle.cancel });
    this.updateStatus();
    return { runId: handle.runId, cancel: handle.cancel, result: this.finish(bot, handle.runId, handle.result, s.notifyOnFailure) };
  }

  private async finish(bot: WorkspaceBot, runId: string, running: Promise<RunResult>, notify: boolean): Promise<RunResult> {
    try {
      const result = await running;
      log.info(`Ran ${bot.name}: ${result.outcome} ${result.outcomeDisplay}${result.failureKind ? ` (${result.failureKind})` : ''} in ${result.durationMs} ms${result.entryId ? `, entry ${result.entryId}` : ''}`);
      if (result.recordError) log.error(`The run of ${bot.name} could not be recorded: ${result.recordError}`);
      this.finished.fire(result);
      if (result.outcome !== 0 && notify && !(result.debugged && result.failureKind === 'cancelled')) void this.notifyFailure(result);
      return result;
    } finally {
      this.running.delete(runId);
      this.updateStatus();
    }
  }

  /** Starts the runner, and a bot process for the first workspace folder, ahead of the first run. */
  async warmUp(): Promise<void> {
    const runner = await this.getRunner();
    await runner.warmUp(settings().defaultMemoryLimitMb, vscode.workspace.workspaceFolders?.[0]?.uri.fsPath);
  }

  /**
   * Starts a bot process for debugging ahead, in `folder` (with `bot`'s sandbox, else the folder's
   * default one: botAudit.defaultMemoryLimitMb, no opt-ins), so that the first debug run need not wait
   * for one. Nothing in an untrusted workspace, or where bots cannot be debugged.
   */
  async prepareDebug(folder: vscode.WorkspaceFolder, bot?: WorkspaceBot): Promise<boolean> {
    if (!vscode.workspace.isTrusted) return false;
    return (await this.getRunner()).prepareDebug(folder.uri.fsPath, bot?.settings ?? { memoryLimitMb: settings(folder.uri).defaultMemoryLimitMb });
  }

  /** Bot processes started ahead for debug runs, waiting for one (none before the runner starts). */
  async debugProcessesWaiting(): Promise<number> {
    return this.runner ? (await this.runner).pool.debugSpares : 0;
  }

  /** Cancels every run of this window. */
  cancelAll(): number {
    const n = this.running.size;
    for (const r of this.running.values()) r.cancel();
    return n;
  }

  get activeRuns(): number {
    return this.running.size;
  }

  private updateStatus(): void {
    const runs = [...this.running.values()];
    if (!runs.length) {
      this.status.hide();
      return;
    }
    const names = runs.map((r) => r.bot.name);
    this.status.text = runs.length === 1 ? `$(sync~spin) ${vscode.l10n.t('Running {0}', names[0])}` : `$(sync~spin) ${vscode.l10n.t('Running {0} bots', runs.length)}`;
    this.status.tooltip = vscode.l10n.t('{0} — click to cancel', names.join(', '));
    this.status.show();
  }

  private async notifyFailure(r: RunResult): Promise<void> {
    const show = vscode.l10n.t('Show Event');
    const msg = vscode.l10n.t('{0}: {1} {2}{3}', r.bot.name, String(r.outcome), r.outcomeDisplay, r.message ? ` — ${r.message}` : '');
    const choice = await (r.outcome >= 8 ? vscode.window.showErrorMessage(msg, ...(r.entryId ? [show] : [])) : vscode.window.showWarningMessage(msg, ...(r.entryId ? [show] : [])));
    if (choice === show && r.entryId) await vscode.commands.executeCommand(Commands.showEvent, r.entryId);
  }

  override dispose(): void {
    this.cancelAll();
    void this.runner?.then((r) => r.dispose()).catch(() => undefined);
    void this.fhir?.close().catch(() => undefined);
    super.dispose();
  }
}
