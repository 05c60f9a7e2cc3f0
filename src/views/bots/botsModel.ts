import * as vscode from 'vscode';
import { DEFAULT_BOT_GLOB, botNameFromPath, folderOf, inspectBotFile, isBotFile } from '../../core/bots/botFiles';
import { Settings } from '../../constants';
import { Disposable } from '../../disposable';
import { log } from '../../logger';

export interface BotInfo {
  uri: vscode.Uri;
  /** Path relative to its workspace folder, `/`-separated. */
  relPath: string;
  name: string;
  folder: string;
  workspaceFolder: vscode.WorkspaceFolder;
  /** `source` with the handler's line, or why the file cannot be used as a bot. */
  status: { kind: 'source'; handlerLine?: number } | { kind: 'binary' } | { kind: 'empty' } | { kind: 'unreadable'; reason: string };
}

/**
 * The bots of the workspace: found with the glob setting, kept fresh by a file watcher.
 * Fires `onDidChange` after each refresh.
 */
export class BotsModel extends Disposable {
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;
  private bots: BotInfo[] = [];
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
        if (e.affectsConfiguration(Settings.botGlob)) {
          this.watch();
          this.scheduleRefresh();
        }
      }),
    );
    this.register(vscode.workspace.onDidChangeWorkspaceFolders(() => this.scheduleRefresh()));
    this.register({ dispose: () => this.debounce && clearTimeout(this.debounce) });
  }

  get glob(): string {
    return vscode.workspace.getConfiguration().get<string>(Settings.botGlob) || DEFAULT_BOT_GLOB;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  async getBots(): Promise<BotInfo[]> {
    if (!this.loaded) await this.refresh();
    return this.bots;
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
  }

  private scheduleRefresh(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.refresh(), 150);
  }

  /** Finds the bots again. Concurrent calls share one pass; a call during a pass queues one more. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.pending = true;
      return this.refreshing;
    }
    this.refreshing = this.scan()
      .then((bots) => {
        this.bots = bots;
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

  private async scan(): Promise<BotInfo[]> {
    const glob = this.glob;
    const uris = await vscode.workspace.findFiles(glob, '{**/node_modules/**,**/.git/**}');
    const bots: BotInfo[] = [];
    for (const uri of uris) {
      const workspaceFolder = vscode.workspace.getWorkspaceFolder(uri);
      if (!workspaceFolder) continue;
      const relPath = vscode.workspace.asRelativePath(uri, false);
      if (!isBotFile(relPath, glob)) continue;
      let status: BotInfo['status'];
      try {
        status = inspectBotFile(await vscode.workspace.fs.readFile(uri));
      } catch (e) {
        status = { kind: 'unreadable', reason: e instanceof Error ? e.message : String(e) };
      }
      bots.push({ uri, relPath, name: botNameFromPath(relPath), folder: folderOf(relPath), workspaceFolder, status });
    }
    bots.sort((a, b) => a.relPath.localeCompare(b.relPath));
    log.debug(`Found ${bots.length} bot(s) with ${glob}`);
    return bots;
  }
}
