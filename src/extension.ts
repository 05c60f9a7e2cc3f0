import { performance } from 'node:perf_hooks';
import vscode = require('vscode');
import { ContextKeys, Views } from './constants';
import { initLogger, log } from './logger';
import { BotsModel } from './services/botsModel';
import { BotsTreeProvider } from './tree/botsTreeProvider';
import { AuditLogPanel } from './panels/auditLog/auditLogPanel';
import { registerAuditLog } from './panels/auditLog/register';
import { AuditService } from './services/auditService';
import { FileAuditWatcher } from './services/fileAuditWatcher';
import { TeamLogService } from './services/teamLogService';
import { EventDocumentProvider } from './editor/eventDocumentProvider';
import { RunService } from './services/runService';
import { DebugService } from './services/debugService';
import { registerCommands, setTreeLog } from './commands';
import { BotCodeLensProvider, StackTraceLinkProvider } from './editor/botCodeLens';
import { EVENT_SCHEME } from './editor/eventDocumentProvider';
import type { Entry, NewEntry } from './core/store';
import type { Filter } from './core/query';

/** What `activate` returns: used by the integration tests, not a public API. */
export interface BotAuditApi {
  readonly bots: BotsModel;
  readonly tree: BotsTreeProvider;
  readonly audit: AuditService | undefined;
  readonly fileAudit: FileAuditWatcher | undefined;
  readonly runs: RunService | undefined;
  /** Runs under the debugger (the `bot-audit` debug type). */
  readonly debug: DebugService | undefined;
  /** The team log's replication (botAudit.teamLog), when the workspace has a log. */
  readonly team: TeamLogService | undefined;
  /** How long `activate` itself took. */
  readonly activationMs: number;
  auditLogPanel(): AuditLogPanel | undefined;
  /** Opens an audit-log link, as the URI handler does. */
  openLink(uri: vscode.Uri): AuditLogPanel | undefined;
  /** Records an entry in the workspace's audit log (for other extensions: INVITED, ACCEPTED, …). */
  record(entry: NewEntry): Promise<Entry>;
  /** The newest entries that match, as filter rows or query text. */
  query(filter: Filter[] | string, limit?: number): Promise<{ entries: Entry[]; total: number }>;
}

let audit: AuditService | undefined;
let team: TeamLogService | undefined;

export function activate(context: vscode.ExtensionContext): BotAuditApi {
  const started = performance.now();
  initLogger(context);
  log.info(`Bot Audit ${context.extension.packageJSON.version} activating in VS Code ${vscode.version}`);

  const bots = new BotsModel();
  context.subscriptions.push(bots);
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  audit = root ? new AuditService(context.extensionUri, root, context.globalStorageUri.fsPath) : undefined;
  if (audit) context.subscriptions.push(audit);
  team = audit ? new TeamLogService(audit, context.secrets, context.globalStorageUri.fsPath) : undefined;
  if (team) context.subscriptions.push(team);
  const tree = new BotsTreeProvider(bots, audit, team);
  context.subscriptions.push(tree);
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
  const setTrust = () => {
    view.message = vscode.workspace.isTrusted
      ? undefined
      : vscode.l10n.t('Restricted Mode: bots run workspace code, so they cannot run until you trust this workspace. You can still browse bots and the audit log.');
    return vscode.commands.executeCommand('setContext', ContextKeys.trusted, vscode.workspace.isTrusted);
  };
  void setTrust();
  context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(() => void setTrust()));

  const fileAudit = audit ? new FileAuditWatcher(audit, bots) : undefined;
  const runs = audit ? new RunService(context.extensionUri, audit) : undefined;
  const debug = runs ? new DebugService(bots, runs) : undefined;
  if (debug) context.subscriptions.push(debug);
  if (audit && runs) {
    context.subscriptions.push(new EventDocumentProvider(audit), runs);
    context.subscriptions.push(
      new BotCodeLensProvider(bots, audit),
      vscode.languages.registerDocumentLinkProvider({ scheme: EVENT_SCHEME }, new StackTraceLinkProvider()),
    );
  }
  if (fileAudit) context.subscriptions.push(fileAudit);
  // After activation returns, first the bots (the tree's first render needs them), then the log:
  // opening it loads sql.js and reads the database file, which neither activation nor the bots'
  // discovery should wait behind.
  const a = audit;
  const startInBackground = async () => {
    await bots.load();
    if (!a) return;
    try {
      // The Bots view's outcomes are read before the LOGIN entry is written: a process's first
      // write checks the whole database file against its checksum, which the view need not wait for.
      if (tree.log === 'local') await a.store().then(() => tree.lookUpLastRuns()).catch(() => undefined);
      await a.login();
      await fileAudit?.start();
      await team?.start();
      // A first run then takes tens of milliseconds instead of half a second.
      if (vscode.workspace.isTrusted) await runs?.warmUp();
      // Breakpoints kept from an earlier session in a folder with bots: ready a debug run too.
      await debug?.prepareFor(vscode.debug.breakpoints);
    } catch (e) {
      log.error('Could not open the audit log', e);
    }
  };
  setImmediate(() => void startInBackground());

  const auditLog = registerAuditLog(context, audit, team);
  registerCommands(context, { bots, tree, view, audit, runs, debug, team, openLog: auditLog.show });

  // The Bots view reads the local log again when the team log's setting goes.
  void vscode.commands.executeCommand('setContext', ContextKeys.treeLog, 'local');
  if (team) context.subscriptions.push(team.onDidChange(() => void (tree.log === 'team' && !team?.teamLogUrl && setTreeLog({ tree, view, team }, 'local'))));

  const activationMs = performance.now() - started;
  log.info(`Activated in ${activationMs.toFixed(1)} ms`);
  const requireAudit = () => {
    if (!audit) throw new Error('Bot Audit keeps its log in a workspace folder: open one first.');
    return audit;
  };
  return {
    bots,
    tree,
    audit,
    fileAudit,
    runs,
    debug,
    team,
    activationMs,
    auditLogPanel: () => AuditLogPanel.currentPanel,
    openLink: auditLog.openLink,
    record: async (entry) => (await requireAudit().store()).append(entry),
    query: async (filter, limit = 100) => {
      const page = await (await requireAudit().store()).query(filter, { limit });
      return { entries: page.entries, total: page.total };
    },
  };
}

/** Records LOGOUT and folds the journal into the database before the window goes. */
export async function deactivate(): Promise<void> {
  // The replicator reads the log: stopped before it closes.
  await team?.stop();
  team = undefined;
  await audit?.close();
  audit = undefined;
}
