// The audit log's glue: its source, the panel serializer (it reopens after a reload) and the
// link handler. Rows come from the core store's windows; nothing here builds SQL.
import vscode = require('vscode');
import { Commands, EXTENSION_ID, WebviewTypes } from '../../constants';
import { log } from '../../logger';
import type { AuditLogReader } from '../../core/store';
import type { AuditService } from '../../services/auditService';
import type { TeamLogService } from '../../services/teamLogService';
import { decodeLogLink, LOG_LINK_PATH } from '../links';
import { EMPTY_CHOICES, type LogName } from '../protocol';
import { AuditLogPanel, type AuditLogSource, type LogView } from './auditLogPanel';

/** The page's source, switchable between the workspace's log and the team log. */
export interface SwitchableLogSource extends AuditLogSource {
  log: LogName;
}

export function auditLogSource(audit: AuditService | undefined, team?: TeamLogService): SwitchableLogSource {
  const reader = async (log: LogName): Promise<AuditLogReader> => {
    if (log === 'team') {
      if (!team) throw new Error(vscode.l10n.t('No team log is set (botAudit.teamLog).'));
      return team.reader();
    }
    if (!audit) throw new Error(vscode.l10n.t('Open a folder to keep an audit log.'));
    return audit.store();
  };
  const source: SwitchableLogSource = {
    log: 'local',
    get location() {
      return source.log === 'team' ? team?.teamLogUrl || undefined : audit?.dbPath;
    },
    get teamLog() {
      return team?.teamLogUrl || undefined;
    },
    open: async (filters, order) => (await reader(source.log)).window(filters, { order }),
    get: async (id) => (source.log === 'team' || audit ? (await reader(source.log)).get(id) : undefined),
    choices: async () => (source.log === 'team' || audit ? (await reader(source.log)).distinct() : EMPTY_CHOICES),
    exportView: (query, format) => vscode.commands.executeCommand(Commands.exportAuditLog, undefined, format, query, source.log),
    // New entries of the log the page reads: this workspace's appends, or the team log's notices.
    onDidChange: (listener, thisArg, disposables) => {
      const subs = [
        audit?.onDidAppend(() => source.log === 'local' && listener.call(thisArg, undefined)),
        team?.onDidAppendTeam(() => source.log === 'team' && listener.call(thisArg, undefined)),
      ].filter((d): d is vscode.Disposable => !!d);
      const d = vscode.Disposable.from(...subs);
      disposables?.push(d);
      return d;
    },
  };
  return source;
}

/** What the rest of the extension opens the page with. */
export interface AuditLogHost {
  /** Opens the page (or shows it, with `view` when given). */
  show(view?: LogView): AuditLogPanel;
  /** Opens an audit-log link, as the URI handler does. */
  openLink(uri: vscode.Uri): AuditLogPanel | undefined;
}

/** Registers the audit log's panel serializer and link handler (its commands are in src/commands/logCommands.ts). */
export function registerAuditLog(context: vscode.ExtensionContext, audit: AuditService | undefined, team?: TeamLogService): AuditLogHost {
  const source = auditLogSource(audit, team);
  const show = (view?: LogView) => AuditLogPanel.show(context.extensionUri, source, view);
  const handleUri = (uri: vscode.Uri): AuditLogPanel | undefined => {
    if (uri.path !== LOG_LINK_PATH) {
      void vscode.window.showErrorMessage(vscode.l10n.t('Bot Audit cannot open {0}: only {1} links are known.', uri.toString(true), LOG_LINK_PATH));
      return undefined;
    }
    try {
      const link = decodeLogLink(uri.query);
      if (link.log === 'team' && !team?.teamLogUrl) throw new Error(vscode.l10n.t('it points into a team log, and none is set here (botAudit.teamLog)'));
      return show({ log: link.log ?? 'local', variant: link.variant, query: link.query, order: link.order, select: link.entry });
    } catch (e) {
      log.warn(`Ignored a bad link ${uri.toString(true)}: ${(e as Error).message}`);
      void vscode.window.showErrorMessage(vscode.l10n.t('This Bot Audit link is not valid: {0}', (e as Error).message));
      return undefined;
    }
  };
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(WebviewTypes.auditLog, {
      deserializeWebviewPanel: async (panel, state) => {
        AuditLogPanel.revive(panel, context.extensionUri, source, state);
      },
    }),
    vscode.window.registerUriHandler({ handleUri: (uri) => void handleUri(uri) }),
    { dispose: () => AuditLogPanel.currentPanel?.dispose() },
  );
  log.debug(`Links open with ${vscode.env.uriScheme}://${EXTENSION_ID}${LOG_LINK_PATH}`);
  return { show, openLink: handleUri };
}
