// The Bots view and the bot files: refresh, more events, the view's Local / Team switch, open a
// bot's source or the settings file, create a sample bot.
import vscode = require('vscode');
import { Commands, ContextKeys } from '../constants';
import { BOT_AUDIT_CONFIG_FILE } from '../core/bots/config';
import { SAMPLE_BOT_SOURCE } from '../sampleBot';
import type { LogName } from '../panels/protocol';
import type { CommandContext, CommandTable } from './context';

export function botCommands(c: CommandContext): CommandTable {
  return {
    [Commands.refreshBots]: () => c.bots.refresh(),
    [Commands.showMoreEvents]: (botUri: string) => c.tree.showMore(botUri),
    [Commands.showTeamLogInTree]: () => setTreeLog(c, 'team'),
    [Commands.showLocalLogInTree]: () => setTreeLog(c, 'local'),
    [Commands.openBotSource]: openBotSource,
    [Commands.openBotSettings]: openBotSettings,
    [Commands.createSampleBot]: () => createSampleBot(c),
  };
}

/** The Bots view's Local / Team switch (its view menu): the bots' outcomes and events from either log. */
export async function setTreeLog(c: Pick<CommandContext, 'tree' | 'view' | 'team'>, log: LogName): Promise<void> {
  const { tree, view, team } = c;
  tree.setLog(log === 'team' && team?.teamLogUrl ? 'team' : 'local');
  view.description = tree.log === 'team' ? vscode.l10n.t('Team log') : undefined;
  // Said at the top of the view too: with one view in the container its description does not show.
  view.message = tree.log === 'team' ? vscode.l10n.t("Runs from the team log (every member's): {0}", team?.teamLogUrl ?? '') : undefined;
  await vscode.commands.executeCommand('setContext', ContextKeys.treeLog, tree.log);
}

async function openBotSource(uri: vscode.Uri, line = 0): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(uri);
  const pos = new vscode.Position(line, 0);
  await vscode.window.showTextDocument(doc, { selection: new vscode.Range(pos, pos) });
}

/** Opens bot-audit.json, creating it (with no bots) when the workspace has none. */
async function openBotSettings(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) return;
  const uri = vscode.Uri.joinPath(folder.uri, BOT_AUDIT_CONFIG_FILE);
  if (!(await exists(uri))) await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode('{\n  "bots": {}\n}\n'));
  await vscode.window.showTextDocument(uri);
}

async function createSampleBot(c: CommandContext): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showWarningMessage(vscode.l10n.t('Open a folder first: bots live in a workspace.'));
    return;
  }
  let uri = vscode.Uri.joinPath(folder.uri, 'bots', 'hello-bot.ts');
  for (let i = 2; await exists(uri); i++) uri = vscode.Uri.joinPath(folder.uri, 'bots', `hello-bot-${i}.ts`);
  await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(SAMPLE_BOT_SOURCE));
  await c.bots.refresh();
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
