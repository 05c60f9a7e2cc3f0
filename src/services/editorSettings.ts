// The `botAudit.*` settings as the editor holds them, read through core/settings.ts's check (which has
// their defaults and bounds); a bad value is reported here, once. (Bots' own settings are bot-audit.json's:
// core/bots/config.ts.)
import vscode = require('vscode');
import { Settings } from '../constants';
import { type ExtensionSettings, checkSettings } from '../core/settings';
import { log } from '../logger';

const KEYS: (keyof ExtensionSettings)[] = [
  'databasePath',
  'botGlob',
  'defaultTimeout',
  'defaultMemoryLimitMb',
  'defaultAuditEventTrigger',
  'defaultAuditEventDestination',
  'maxConcurrentRuns',
  'notifyOnFailure',
  'timeZone',
  'teamLog',
  'nodePath',
];

const reported = new Set<string>();

/** The `botAudit.*` settings, checked: a bad value is reported once and its default used. */
export function settings(scope?: vscode.Uri): ExtensionSettings {
  const cfg = vscode.workspace.getConfiguration(Settings.section, scope);
  const raw: Partial<Record<keyof ExtensionSettings, unknown>> = {};
  for (const k of KEYS) {
    const i = cfg.inspect(k);
    // Only what the user set is checked; the manifest's defaults are ours.
    raw[k] = i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
  }
  const { values, problems } = checkSettings(raw);
  for (const p of problems) {
    const key = `${p.key}=${JSON.stringify(p.value)}`;
    if (reported.has(key)) continue;
    reported.add(key);
    const msg = vscode.l10n.t('Bot Audit setting "{0}" {1}; using the default instead.', `${Settings.section}.${p.key}`, p.reason);
    // A team log URL that carries a password is refused, and the password is not written down.
    const shown = p.key === 'teamLog' && typeof p.value === 'string' ? p.value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i, '$1:***@') : p.value;
    log.warn(`${msg} (value: ${JSON.stringify(shown)})`);
    void vscode.window.showWarningMessage(msg, vscode.l10n.t('Open Settings')).then((choice) => {
      if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', `${Settings.section}.${p.key}`);
    });
  }
  return values;
}
