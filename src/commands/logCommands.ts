// The audit log: open the page (the whole log, a bot's events, an entity's history), show one entry,
// verify the chain, export, copy an entry's JSON.
import * as fs from 'node:fs';
import vscode = require('vscode');
import { Commands } from '../constants';
import { botRunsFilter } from '../core/bots/discovery';
import { formatQuery } from '../core/query';
import type { AuditLogReader, ExportFormat } from '../core/store';
import type { AuditService } from '../services/auditService';
import type { WorkspaceBot } from '../services/botsModel';
import type { TeamLogService } from '../services/teamLogService';
import { EventDocumentProvider } from '../editor/eventDocumentProvider';
import { AuditLogPanel } from '../panels/auditLog/auditLogPanel';
import type { LogName } from '../panels/protocol';
import type { CommandContext, CommandTable } from './context';
import { entryFor, type Target } from './targets';

export function logCommands(c: CommandContext): CommandTable {
  const commands: CommandTable = {
    [Commands.openAuditLog]: (query?: string, entry?: number, log?: LogName) => openAuditLog(c, query, entry, log),
    [Commands.showBotEvents]: (target?: { bot?: WorkspaceBot } | vscode.Uri) => showBotEvents(c, target),
    [Commands.showEntityHistory]: (entityName: string, entityId: string) =>
      c.openLog({ variant: { kind: 'history', entityName: String(entityName), entityId: String(entityId) }, query: '', order: 'asc' }),
    [Commands.showEvent]: showEvent,
  };
  // Verify, export and copy read the workspace's log: there are none without one.
  const { audit, team } = c;
  if (!audit) return commands;
  return {
    ...commands,
    [Commands.verifyIntegrity]: () => verifyIntegrity(audit),
    // `query`: export only the entries that match (the audit log page exports its filtered view).
    [Commands.exportAuditLog]: (to?: vscode.Uri, format?: ExportFormat, query = '', log: LogName = 'local') => exportAuditLog(audit, team, to, format, query, log),
    [Commands.copyEventJson]: (target: Target) => copyEventJson(audit, target),
  };
}

function openAuditLog(c: CommandContext, query?: string, entry?: number, log?: LogName) {
  const which = log === 'team' || log === 'local' ? log : undefined;
  if (typeof query === 'string' || typeof entry === 'number') return c.openLog({ log: which, variant: { kind: 'log' }, query: typeof query === 'string' ? query : '', select: entry });
  // From a bot's events or an entity's history, the command goes back to the whole log.
  const open = AuditLogPanel.currentPanel;
  return c.openLog(open && open.currentVariant.kind !== 'log' ? { variant: { kind: 'log' }, query: '' } : undefined);
}

async function showBotEvents(c: CommandContext, target?: { bot?: WorkspaceBot } | vscode.Uri) {
  const bot =
    target instanceof vscode.Uri
      ? await c.bots.botAt(target)
      : (target?.bot ??
        (await vscode.window.showQuickPick((await c.bots.getBots()).map((b) => ({ label: b.name, description: b.relPath, bot: b })), { placeHolder: vscode.l10n.t('Bot') }))?.bot);
  if (!bot) return undefined;
  return c.openLog({ variant: { kind: 'botEvents', bot: bot.name, query: formatQuery(botRunsFilter(bot.entityId)) }, query: '' });
}

async function showEvent(id: number): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(EventDocumentProvider.uriFor(id));
  await vscode.window.showTextDocument(doc, { preview: true });
}

async function verifyIntegrity(audit: AuditService) {
  const store = await audit.store();
  const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Verifying the audit log…') }, async () => store.audit());
  if (r.damage) {
    void vscode.window.showErrorMessage(vscode.l10n.t("The audit log's database file is damaged: {0}", r.damage));
    return r;
  }
  // The message is not awaited: the command returns the result while the notification waits for a click.
  if (r.ok) {
    const copy = vscode.l10n.t('Copy Head Hash');
    void vscode.window.showInformationMessage(vscode.l10n.t('Audit log intact: {0}/{0} entries valid. Head hash {1}', r.count, r.headHash), copy).then((choice) => {
      if (choice === copy) void vscode.env.clipboard.writeText(r.headHash);
    });
  } else {
    const show = vscode.l10n.t('Show Entry');
    const b = r.firstBroken!;
    void vscode.window.showErrorMessage(vscode.l10n.t('Audit log broken at entry {0}: {1}', b.id, b.reason), show).then((choice) => {
      if (choice === show) void vscode.commands.executeCommand(Commands.showEvent, b.id);
    });
  }
  return r;
}

async function exportAuditLog(audit: AuditService, team: TeamLogService | undefined, to: vscode.Uri | undefined, format: ExportFormat | undefined, query: string, log: LogName) {
  // The team log's entries when the page reads it (its Local / Team switch).
  const store: AuditLogReader = log === 'team' && team ? await team.reader() : await audit.store();
  const ext = format === 'ndjson' ? 'ndjson' : format === 'fhir' ? 'json' : 'csv';
  const target =
    to ??
    (await vscode.window.showSaveDialog({
      title: query ? vscode.l10n.t('Export Filtered Audit Log') : vscode.l10n.t('Export Audit Log'),
      defaultUri: vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, `${log === 'team' ? 'team-audit-log' : 'audit-log'}.${ext}`),
      filters: { CSV: ['csv'], NDJSON: ['ndjson', 'jsonl'], 'FHIR Bundle': ['json'] },
    }));
  if (!target) return undefined;
  const fmt: ExportFormat = format ?? (target.path.endsWith('.csv') ? 'csv' : target.path.endsWith('.json') ? 'fhir' : 'ndjson');
  const out = fs.createWriteStream(target.fsPath);
  const n = await store.exportTo(query, fmt, out, { end: true });
  void vscode.window.showInformationMessage(vscode.l10n.t('Exported {0} entries to {1}', n, vscode.workspace.asRelativePath(target)));
  return n;
}

async function copyEventJson(audit: AuditService, target: Target) {
  const entry = typeof target === 'number' || (target && typeof target === 'object' && 'entry' in target) ? await entryFor(await audit.store(), target) : undefined;
  if (!entry) return undefined;
  const text = JSON.stringify(entry, null, 2);
  await vscode.env.clipboard.writeText(text);
  return text;
}
