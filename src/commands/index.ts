// Every command of the extension is registered here, from the tables of the subjects' modules:
// the Bots view and bot files, runs, the audit log, the team log.
import vscode = require('vscode');
import { botCommands } from './botCommands';
import type { CommandContext, CommandTable } from './context';
import { logCommands } from './logCommands';
import { runCommands } from './runCommands';
import { teamLogCommands } from './teamLogCommands';

export type { CommandContext } from './context';
export { setTreeLog } from './botCommands';

export function registerCommands(context: vscode.ExtensionContext, c: CommandContext): void {
  const tables: CommandTable[] = [botCommands(c), teamLogCommands(c), logCommands(c)];
  // Running a bot needs the workspace's log: without a folder these commands do not exist.
  const { audit, runs, debug } = c;
  if (audit && runs && debug) tables.push(runCommands({ ...c, audit, runs, debug }));
  for (const table of tables) {
    for (const [id, handler] of Object.entries(table)) context.subscriptions.push(vscode.commands.registerCommand(id, handler));
  }
}
