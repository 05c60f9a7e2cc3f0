import vscode = require('vscode');
import { folderOf, isBotFile } from '../core/bots/botFiles';
import { type BotSettings, type ConfigIssue, formatConfigIssue, loadBotAuditConfig } from '../core/bots/config';
import { type BotFileStatus, type BotInfo, botEntityId, discoverBots } from '../core/bots/discovery';
import { Settings } from '../constants';
import { settings } from './editorSettings';
import { Disposable } from '../disposable';
import { log } from '../logger';

/**
 * A bot of the workspace as the editor sees it: where it is, its settings, and whether its file can
 * be run (core/bots/discovery.ts's BotInfo is the CLI's view of one, without the editor's URI).
 */
export interface WorkspaceBot {
  uri: vscode.Uri;
  /** Path relative to its workspace folder, `/`-separated. */
  relPath: string;
  /** Display name: from bot-audit.json, else medplum.config.json, else the file name. */
  name: string;
  /** The id the audit log files its runs under (Medplum id, else the relative path). */
  entityId: string;
  settings: BotSettings;
  folder: string;
  workspaceFolder: vscode.WorkspaceFolder;
  /** `source` with the handler's line, or why the file cannot be used as a bot. */
  status: BotFileStatus;
}

/**
 * The bots of the workspace, as core/bots/discovery.ts finds them (the files the glob setting
 * matches that export a `handler`, and medplum.config.json's bots); kept fresh by a file watcher.
 * A matched file that exports no handler is a shared module: kept apart (`getSharedModules`), not
 * a bot. Fires `onDidChange` after each refresh.
 */
export class BotsModel extends Disposable {
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;
  private bots: WorkspaceBot[] = [];
  private shared: WorkspaceBot[] = [];
  private issues: ConfigIssue[] = [];
  private loaded = false;
  private refreshing: Promise<void> | undefined;
  private pending = false;
  private watcher: vscode.FileSystemWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;

  constructor() {
    super();
    this.watch();
    this.register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(Settings.botGlob)) this.watch();
        // The glob, and the default timeout, memory limit, trigger and destination of every bot.
        if (e.affectsConfiguration(Settings.section)) this.scheduleRefresh();
      }),
    );
    this.register(vscode.workspace.onDidChangeWorkspaceFolders(() => this.scheduleRefresh()));
    this.register({ dispose: () => this.debounce && clearTimeout(this.debounce) });
  }

  /** bot-audit.json's `glob` when it sets one (the CLI reads the same file), else the setting. */
  get glob(): string {
    return this.configGlob ?? settings().botGlob;
  }
  private configGlob: string | undefined;

  /** Problems found in bot-audit.json or medplum.config.json by the last refresh. */
  get configIssues(): readonly ConfigIssue[] {
    return this.issues;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  async getBots(): Promise<WorkspaceBot[]> {
    await this.load();
    return this.bots;
  }

  /** The bot whose file is `uri`, if it is one. */
  async botAt(uri: vscode.Uri): Promise<WorkspaceBot | undefined> {
    const key = uri.toString();
    return (await this.getBots()).find((b) => b.uri.toString() === key);
  }

  /**
   * Files the glob matched that export no `handler` (say `bots/helpers.ts`): not bots, so not
   * listed, but a file that is explicitly run as a bot can be found here.
   */
  async getSharedModules(): Promise<WorkspaceBot[]> {
    await this.load();
    return this.shared;
  }

  private watch(): void {
    this.watcher?.dispose();
    // Watch every source file: a folder rename or a glob change can bring files in or out.
    const w = vscode.workspace.createFileSystemWatcher('**/*.{ts,mts,cts,js,mjs,cjs}');
    this.watcher = w;
    const onFile = (uri: vscode.Uri) => {
      const rel = vscode.workspace.asRelativePath(uri, false);
      if (isBotFile(rel, this.glob)) this.scheduleRefresh();
    };
    w.onDidCreate(onFile);
    w.onDidChange(onFile);
    w.onDidDelete(() => this.scheduleRefresh());
    this.register(w);
    const cfg = vscode.workspace.createFileSystemWatcher('**/{bot-audit.json,medplum.config.json}');
    cfg.onDidCreate(() => this.scheduleRefresh());
    cfg.onDidChange(() => this.scheduleRefresh());
    cfg.onDidDelete(() => this.scheduleRefresh());
    this.register(cfg);
  }

  private scheduleRefresh(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.refresh(), 150);
  }

  /** The first scan, once: joins the one under way rather than queueing another. */
  load(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    return this.refreshing ?? this.refresh();
  }

  /** Finds the bots again. Concurrent calls share one pass; a call during a pass queues one more. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.pending = true;
      return this.refreshing;
    }
    this.refreshing = this.scan()
      .then(({ bots, shared }) => {
        this.bots = bots;
        this.shared = shared;
        this.loaded = true;
        this.changed.fire();
      })
      .catch((e) => log.error('Could not list bots', e))
      .finally(() => {
        this.refreshing = undefined;
        if (this.pending) {
          this.pending = false;
          void this.refresh();
        }
      });
    return this.refreshing;
  }

  private async scan(): Promise<{ bots: WorkspaceBot[]; shared: WorkspaceBot[] }> {
    const bots: WorkspaceBot[] = [];
    const shared: WorkspaceBot[] = [];
    const issues: ConfigIssue[] = [];
    for (const workspaceFolder of vscode.workspace.workspaceFolders ?? []) {
      if (workspaceFolder.uri.scheme !== 'file') continue;
      const root = workspaceFolder.uri.fsPath;
      const config = loadBotAuditConfig(root);
      this.configGlob = config.glob;
      const editor = settings(workspaceFolder.uri);
      // The core's discovery, as the CLI's: it walks the folder and reads the files straight from
      // disk (a round trip per file through the editor's file service costs seconds for hundreds of
      // bots in a remote window). Whatever the folder holds is looked at, as the editor's search would.
      const found = await discoverBots(root, {
        config,
        // The folder's own setting, read with the others (one settings read, not two).
        glob: config.glob ?? editor.botGlob,
        defaults: {
          timeout: editor.defaultTimeout,
          memoryLimitMb: editor.defaultMemoryLimitMb,
          auditEventTrigger: editor.defaultAuditEventTrigger,
          auditEventDestination: editor.defaultAuditEventDestination,
        },
        maxFiles: Number.POSITIVE_INFINITY,
      });
      issues.push(...found.issues);
      const toBot = (b: BotInfo): WorkspaceBot => ({
        uri: vscode.Uri.file(b.path),
        relPath: b.relPath,
        name: b.name,
        entityId: botEntityId(b),
        settings: b.settings,
        folder: folderOf(b.relPath),
        workspaceFolder,
        status: found.content.get(b.relPath)!,
      });
      // A shared module (source without a `handler` export) is not a bot. A binary, empty or
      // unreadable file stays listed, with a warning.
      bots.push(...found.bots.map(toBot));
      shared.push(...found.shared.map(toBot));
    }
    bots.sort((a, b) => a.relPath.localeCompare(b.relPath));
    shared.sort((a, b) => a.relPath.localeCompare(b.relPath));
    for (const i of issues) log.warn(formatConfigIssue(i));
    this.issues = issues;
    log.debug(`Found ${bots.length} bot(s) and ${shared.length} shared module(s)`);
    return { bots, shared };
  }
}
