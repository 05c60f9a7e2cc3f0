// What command handlers work with: the extension's services and views, handed over once at activation.
import type * as vscode from 'vscode';
import type { AuditService } from '../services/auditService';
import type { BotsModel } from '../services/botsModel';
import type { RunService } from '../services/runService';
import type { DebugService } from '../services/debugService';
import type { TeamLogService } from '../services/teamLogService';
import type { BotsTreeNode } from '../tree/nodes/botNode';
import type { BotsTreeProvider } from '../tree/botsTreeProvider';
import type { AuditLogPanel, LogView } from '../panels/auditLog/auditLogPanel';

export interface CommandContext {
  readonly bots: BotsModel;
  readonly tree: BotsTreeProvider;
  readonly view: vscode.TreeView<BotsTreeNode>;
  /** Undefined without a workspace folder (no log to keep). */
  readonly audit: AuditService | undefined;
  readonly runs: RunService | undefined;
  /** Runs under the debugger (with `runs`). */
  readonly debug: DebugService | undefined;
  readonly team: TeamLogService | undefined;
  /** Opens the audit-log page (or shows it, with `view` when given). */
  openLog(view?: LogView): AuditLogPanel;
}

/** The context of the commands that need the workspace's log (registered only when there is one). */
export interface LogCommandContext extends CommandContext {
  readonly audit: AuditService;
  readonly runs: RunService;
  readonly debug: DebugService;
}

/** Command id → handler, as each subject's module lists them. */
// Arguments come from the palette, menus, CodeLenses and other extensions: each handler states what it takes.
export type CommandTable = Record<string, (...args: any[]) => unknown>;
