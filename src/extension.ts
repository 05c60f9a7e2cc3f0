import * as vscode from 'vscode';
import { Commands, ContextKeys, Views } from './constants';
import { initLogger, log } from './logger';
import { BotsModel } from './views/bots/botsModel';
import { BotsTreeProvider } from './views/bots/botsTreeProvider';
import { AuditLogPanel, AuditLogSource } from './webviews/auditLog/auditLogPanel';
import { SAMPLE_BOT_SOURCE } from './sampleBot';

/** What `activate` returns: used by the integration tests, not a public API. */
export interface BotAuditApi {
  readonly bots: BotsModel;
  readonly tree: BotsTreeProvider;
  auditLogPanel(): AuditLogPanel | undefined;
}

export function activate(context: vscode.ExtensionContext): BotAuditApi {
  initLogger(context);
  log.info(`Bot Audit ${context.extension.packageJSON.version} activating in VS Code ${vscode.version}`);

  const bots = new BotsModel();
  const tree = new BotsTreeProvider(bots);
  context.subscriptions.push(bots, tree);
  const view = vscode.window.createTreeView(Views.bots, { treeDataProvider: tree, showCollapseAll: true });
  context.subscriptions.push(view);
  context.subscriptions.push(
    bots.onDidChange(async () => {
      const list = await bots.getBots();
      await vscode.commands.executeCommand('setContext', ContextKeys.hasBots, list.length > 0);
      await vscode.commands.executeCommand('setContext', ContextKeys.botsLoaded, true);
    }),
  );

  // Running a bot executes workspace code: the run commands exist only in a trusted workspace.
  const setTrust = () => vscode.commands.executeCommand('setContext', ContextKeys.trusted, vscode.workspace.isTrusted);
  void setTrust();
  context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(() => void setTrust()));

  const source: AuditLogSource = {
    // The store arrives with the audit-store issue; until then the log is empty.
    load: async () => ({ source: 'Bot Audit', entries: [], total: 0 }),
  };

  context.subscriptions.push(
    vscode.commands.registerCommand(Commands.openAuditLog, () => AuditLogPanel.show(context.extensionUri, source)),
    vscode.commands.registerCommand(Commands.refreshBots, () => bots.refresh()),
    vscode.commands.registerCommand(Commands.openBotSource, async (uri: vscode.Uri, line = 0) => {
      const doc = await vscode.workspace.openTextDocument(uri);
      const pos = new vscode.Position(line, 0);
      await vscode.window.showTextDocument(doc, { selection: new vscode.Range(pos, pos) });
    }),
    vscode.commands.registerCommand(Commands.createSampleBot, () => createSampleBot(bots)),
    { dispose: () => AuditLogPanel.currentPanel?.dispose() },
  );

  void bots.refresh();
  return { bots, tree, auditLogPanel: () => AuditLogPanel.currentPanel };
}

export function deactivate(): void {
  // Everything is in context.subscriptions.
}

async function createSampleBot(bots: BotsModel): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showWarningMessage(vscode.l10n.t('Open a folder first: bots live in a workspace.'));
    return;
  }
  let uri = vscode.Uri.joinPath(folder.uri, 'bots', 'hello-bot.ts');
  for (let i = 2; await exists(uri); i++) uri = vscode.Uri.joinPath(folder.uri, 'bots', `hello-bot-${i}.ts`);
  await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(SAMPLE_BOT_SOURCE));
  await bots.refresh();
  await vscode.window.showTextDocument(uri);
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
