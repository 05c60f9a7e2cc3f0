import vscode = require('vscode');
import { settings } from './editorSettings';
import { Commands, Settings } from '../constants';
import { Disposable } from '../disposable';
import { engine } from '../engine';
import { log } from '../logger';
import type { ReplicationStatus, TeamLogReader, TeamReplicator } from '../core/team';

type TeamReader = TeamLogReader;
import type { AuditService } from './auditService';

/** The secret storage key of a team log's password: one per server and database, never per workspace. */
export function teamPasswordKey(url: string): string {
  try {
    const u = new URL(url);
    return `botAudit.teamLogPassword:${u.hostname.toLowerCase()}:${u.port || '5432'}${decodeURIComponent(u.pathname)}:${decodeURIComponent(u.username)}`;
  } catch {
    return `botAudit.teamLogPassword:${url}`;
  }
}

/** What the status bar item says for a status: its text, and the words of its tooltip. */
export function describeReplication(s: ReplicationStatus): { text: string; summary: string } {
  const behind = s.behind === 1 ? vscode.l10n.t('1 entry behind') : vscode.l10n.t('{0} entries behind', s.behind.toLocaleString('en-US'));
  switch (s.state) {
    case 'up-to-date':
      return { text: '$(cloud) ' + vscode.l10n.t('Team log'), summary: vscode.l10n.t('Up to date: the team log holds all {0} entries of this log.', s.localHead.toLocaleString('en-US')) };
    case 'starting':
    case 'shipping':
      return { text: `$(cloud-upload) ${s.behind ? behind : vscode.l10n.t('Team log')}`, summary: s.behind ? vscode.l10n.t('Shipping: {0}.', behind) : vscode.l10n.t('Looking at the team log…') };
    case 'offline':
      return { text: `$(debug-disconnect) ${vscode.l10n.t('Team log offline')}${s.behind ? ` · ${behind}` : ''}`, summary: vscode.l10n.t('The team log cannot be reached; this log keeps working and catches up when it can ({0}).', behind) };
    case 'forked':
      return { text: '$(error) ' + vscode.l10n.t('Team log disagrees'), summary: vscode.l10n.t('The team log and this log disagree; nothing more is shipped until that is sorted out.') };
    case 'error':
      return { text: `$(warning) ${vscode.l10n.t('Team log')}${s.behind ? ` · ${behind}` : ''}`, summary: vscode.l10n.t('The team log refused this log ({0}).', behind) };
    case 'stopped':
      return { text: '$(cloud) ' + vscode.l10n.t('Team log stopped'), summary: vscode.l10n.t('Not shipping.') };
  }
}

/**
 * Replicates the workspace's log into the team log set in `botAudit.teamLog` (a postgres:// URL
 * without a password), in the background, and shows how far behind it is in the status bar. The
 * password comes from the editor's secret storage (Set Team Log Password…), else PGPASSWORD or
 * ~/.pgpass. The replicator (core/team) does the work; this is the glue. `pg` and the team code are
 * loaded only when a team log is set.
 */
export class TeamLogService extends Disposable {
  private replicator?: TeamReplicator;
  private url = '';
  private generation = 0;
  private readonly item = this.register(vscode.window.createStatusBarItem('botAudit.teamLog', vscode.StatusBarAlignment.Left, 49));
  private readonly changed = this.register(new vscode.EventEmitter<ReplicationStatus | undefined>());
  private readerPromise?: Promise<TeamReader>;
  private readerSub?: { dispose(): void };
  private readonly teamAppended = this.register(new vscode.EventEmitter<void>());
  /** The team log has new entries (any member's), while a page or view reads it. */
  readonly onDidAppendTeam = this.teamAppended.event;
  /** The replication status, whenever it changes (undefined: no team log). */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly audit: AuditService,
    private readonly secrets: vscode.SecretStorage,
    /** The witness's state folder (global storage): where the replicator keeps how far the team log got. */
    private readonly stateDir: string,
  ) {
    super();
    this.item.name = vscode.l10n.t('Bot Audit Team Log');
    this.item.command = Commands.showTeamLogStatus;
    this.register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(`${Settings.section}.teamLog`)) void this.restart();
      }),
    );
    this.register(vscode.workspace.onDidGrantWorkspaceTrust(() => void this.restart()));
    this.register(
      this.secrets.onDidChange((e) => {
        if (!this.url || e.key !== teamPasswordKey(this.url)) return;
        // A new password: the reader connects again with it on its next use, and shipping tries at once.
        void this.closeReader();
        void this.replicator?.shipNow();
      }),
    );
  }

  /** The team log's URL (no password), or '' when none is set. */
  get teamLogUrl(): string {
    return settings(vscode.Uri.file(this.audit.root)).teamLog;
  }

  /** Where replication stands, or undefined when no team log is set (or it has not started). */
  get status(): ReplicationStatus | undefined {
    return this.replicator?.status;
  }

  /** Starts replicating, once the log is open (call after it is). */
  start(): Promise<void> {
    return this.restart();
  }

  /** A round now; resolves with the status once it has ended. */
  async shipNow(): Promise<ReplicationStatus | undefined> {
    if (!this.replicator) await this.restart();
    return this.replicator?.shipNow();
  }

  /** Asks for the password of the team log and keeps it in the editor's secret storage. */
  async setPassword(): Promise<void> {
    const url = this.teamLogUrl;
    if (!url) {
      const open = vscode.l10n.t('Open Settings');
      if ((await vscode.window.showInformationMessage(vscode.l10n.t('No team log is set: set botAudit.teamLog to postgres://user@host:port/database first.'), open)) === open) {
        await vscode.commands.executeCommand('workbench.action.openSettings', `${Settings.section}.teamLog`);
      }
      return;
    }
    const value = await vscode.window.showInputBox({
      title: vscode.l10n.t('Team log password'),
      prompt: vscode.l10n.t('The password for {0}; kept in the editor\u2019s secret storage, never in settings. Leave it empty to use PGPASSWORD or ~/.pgpass.', url),
      password: true,
      ignoreFocusOut: true,
    });
    if (value === undefined) return;
    if (value) await this.secrets.store(teamPasswordKey(url), value);
    else await this.secrets.delete(teamPasswordKey(url));
  }

  /** Shows where replication stands, with what can be done about it. */
  async showStatus(): Promise<void> {
    const s = this.status;
    const ship = vscode.l10n.t('Ship Now');
    const password = vscode.l10n.t('Set Password…');
    const open = vscode.l10n.t('Open Settings');
    if (!s) {
      if ((await vscode.window.showInformationMessage(vscode.l10n.t('No team log is set (botAudit.teamLog).'), open)) === open) {
        await vscode.commands.executeCommand('workbench.action.openSettings', `${Settings.section}.teamLog`);
      }
      return;
    }
    const { summary } = describeReplication(s);
    const detail = [s.url, s.lastError, s.note, s.lastSuccessAt ? vscode.l10n.t('Last reached {0}.', new Date(s.lastSuccessAt).toLocaleString()) : undefined].filter(Boolean).join('\n');
    const choice = await vscode.window.showInformationMessage(summary, { modal: false, detail }, ship, password, open);
    if (choice === ship) await this.shipNow();
    else if (choice === password) await this.setPassword();
    else if (choice === open) await vscode.commands.executeCommand('workbench.action.openSettings', `${Settings.section}.teamLog`);
  }

  /**
   * The team log to read (the audit-log page's and the Bots view's Team switch): opened on first use,
   * kept while the setting stays, closed when it changes. Throws when none is set, in Restricted
   * Mode, or when it cannot be reached (the next call tries again).
   */
  reader(): Promise<TeamReader> {
    const url = this.teamLogUrl;
    if (!url) return Promise.reject(new Error(vscode.l10n.t('No team log is set (botAudit.teamLog).')));
    if (!vscode.workspace.isTrusted) return Promise.reject(new Error(vscode.l10n.t('The team log is not read in Restricted Mode.')));
    this.readerPromise ??= (async () => {
      const team = await engine().loadTeam();
      const r = await team.TeamLogReader.open(url, { password: (await this.secrets.get(teamPasswordKey(url))) || undefined });
      this.readerSub = r.onDidAppend(() => this.teamAppended.fire());
      return r;
    })();
    const p = this.readerPromise;
    p.catch(() => {
      if (this.readerPromise === p) this.readerPromise = undefined;
    });
    return p;
  }

  private async closeReader(): Promise<void> {
    const p = this.readerPromise;
    this.readerPromise = undefined;
    this.readerSub?.dispose();
    this.readerSub = undefined;
    const r = await p?.catch(() => undefined);
    await r?.close().catch((e: unknown) => log.warn(`Team log: ${(e as Error).message}`));
  }

  /** Stops the replicator (before the log closes) and closes the team log's reader. */
  async stop(): Promise<void> {
    this.generation++;
    await this.closeReader();
    const r = this.replicator;
    this.replicator = undefined;
    this.item.hide();
    await r?.dispose();
  }

  private async restart(): Promise<void> {
    await this.stop();
    const gen = this.generation;
    const url = this.teamLogUrl;
    this.url = url;
    // Shipping the log to a server is the workspace's setting acting: not in Restricted Mode
    // (the setting is restricted there too, see package.json).
    if (!url || !vscode.workspace.isTrusted) {
      this.changed.fire(undefined);
      return;
    }
    if (!this.audit.isOpen) return; // started once the log is open
    try {
      // The replicator reads the local log itself (sql.js), not the interface a team log also has.
      const store = await this.audit.localStore();
      const team = await engine().loadTeam();
      if (gen !== this.generation) return;
      const rep = new team.TeamReplicator(store, {
        url,
        password: async () => (await this.secrets.get(teamPasswordKey(url))) || undefined,
        stateDir: this.stateDir,
      });
      this.replicator = rep;
      rep.onDidChange((s) => this.show(s));
      this.show(rep.status);
    } catch (e) {
      log.warn(`Team log: ${(e as Error).message}`);
      this.item.text = '$(warning) ' + vscode.l10n.t('Team log');
      this.item.tooltip = (e as Error).message;
      this.item.show();
    }
  }

  private lastState?: string;

  private show(s: ReplicationStatus): void {
    const { text, summary } = describeReplication(s);
    this.item.text = text;
    this.item.accessibilityInformation = { label: `${vscode.l10n.t('Team log')}: ${summary}` };
    const tip = new vscode.MarkdownString(undefined, true);
    tip.isTrusted = false;
    tip.supportHtml = false;
    tip.appendText(`${summary}\n\n${s.url}`);
    if (s.lastError) tip.appendText(`\n\n${s.lastError}`);
    if (s.note) tip.appendText(`\n\n${s.note}`);
    this.item.tooltip = tip;
    this.item.backgroundColor = s.state === 'forked' ? new vscode.ThemeColor('statusBarItem.errorBackground') : s.state === 'error' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
    if (s.state !== this.lastState) {
      this.lastState = s.state;
      const line = `Team log ${s.url}: ${s.state}, ${s.behind} behind${s.lastError ? ` (${s.lastError})` : ''}${s.note ? `; ${s.note}` : ''}`;
      if (s.state === 'forked' || s.state === 'error') log.warn(line);
      else log.info(line);
    }
    this.changed.fire(s);
  }

  override dispose(): void {
    void this.stop();
    super.dispose();
  }
}
