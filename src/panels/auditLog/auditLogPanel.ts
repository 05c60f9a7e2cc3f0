import vscode = require('vscode');
import { settings } from '../../services/editorSettings';
import { EXTENSION_ID, WebviewTypes } from '../../constants';
import { Disposable } from '../../disposable';
import { log } from '../../logger';
import { encodeLogLink, LOG_LINK_PATH } from '../links';
import { asPageState, HostNotification, isWebviewCommand, LogName, LogVariant, WebviewCommand } from '../protocol';
import { webviewHtml } from '../webviewHtml';
import { fullQuery, LogPageHost, type LogView, type PageSource } from './pageHost';

export type { LogView } from './pageHost';

/** The page's source, plus what only the editor can do. */
export interface AuditLogSource extends PageSource {
  /** Which log it reads; settable when the source can read the team log too (see register.ts). */
  log?: LogName;
  /** Export the entries matching `query` (the user picks the file). */
  exportView(query: string, format: 'csv' | 'ndjson' | 'fhir'): Thenable<unknown>;
  /** Fires when the log has new entries. */
  readonly onDidChange?: vscode.Event<void>;
}

function titleOf(variant: LogVariant, log: LogName): string {
  const t = titleOfVariant(variant);
  return log === 'team' ? vscode.l10n.t('{0} (Team)', t) : t;
}

function titleOfVariant(variant: LogVariant): string {
  switch (variant.kind) {
    case 'log':
      return vscode.l10n.t('Audit Log');
    case 'botEvents':
      return vscode.l10n.t('Events: {0}', variant.bot);
    case 'history':
      return vscode.l10n.t('History: {0}/{1}', variant.entityName, variant.entityId);
  }
}

/**
 * The "Audit Log" editor panel. One at a time; `show` reveals it with a new view when it is open.
 * The page owns its filters; this side answers its questions from the source and pushes news.
 */
export class AuditLogPanel extends Disposable {
  private static current: AuditLogPanel | undefined;
  private ready = false;
  /** A view a command or link asked for, sent with the next `init`. */
  private pending: LogView | undefined;
  private readonly page: LogPageHost;

  static show(extensionUri: vscode.Uri, source: AuditLogSource, view?: LogView): AuditLogPanel {
    if (AuditLogPanel.current) {
      AuditLogPanel.current.panel.reveal();
      if (view) AuditLogPanel.current.setView(view);
      return AuditLogPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(WebviewTypes.auditLog, vscode.l10n.t('Audit Log'), vscode.ViewColumn.Active, AuditLogPanel.options(extensionUri));
    AuditLogPanel.current = new AuditLogPanel(panel, extensionUri, source);
    if (view) AuditLogPanel.current.setView(view);
    return AuditLogPanel.current;
  }

  /** Brings back a panel VS Code restored after a reload, with the page's saved state. */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, source: AuditLogSource, state: unknown): AuditLogPanel {
    AuditLogPanel.current?.dispose();
    panel.webview.options = AuditLogPanel.options(extensionUri);
    const p = new AuditLogPanel(panel, extensionUri, source);
    const saved = asPageState(state);
    // A page that read the team log reads it again, while one is set.
    if (saved?.log === 'team' && source.log !== undefined && source.teamLog) source.log = 'team';
    if (saved) p.setVariant(saved.variant);
    AuditLogPanel.current = p;
    return p;
  }

  static get currentPanel(): AuditLogPanel | undefined {
    return AuditLogPanel.current;
  }

  private static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      retainContextWhenHidden: false,
      enableFindWidget: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')],
    };
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly source: AuditLogSource,
  ) {
    super();
    this.page = new LogPageHost(source, (m) => this.post(m), (what, e) => log.error(`Audit Log: ${what}`, e), vscode.l10n.t('Open a folder to keep an audit log.'), () => settings().timeZone === 'utc');
    this.register(panel);
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'audit-log.svg');
    panel.webview.html = webviewHtml({
      webview: panel.webview,
      extensionUri,
      script: 'auditLog.js',
      styles: ['auditLog.css'],
      title: 'Audit Log',
    });
    this.register(panel.onDidDispose(() => this.dispose()));
    this.register(panel.webview.onDidReceiveMessage((m) => void this.onMessage(m)));
    if (source.onDidChange) this.register(source.onDidChange(() => this.onAppended()));
  }

  /** Whether the page has said it is ready (for tests and waiting callers). */
  get isReady(): boolean {
    return this.ready;
  }

  get currentVariant(): LogVariant {
    return this.page.variant;
  }

  /** Messages posted to the page, newest last (for tests); at most the last 200. */
  readonly sent: HostNotification[] = [];

  /** Which log the page reads now. */
  get currentLog(): LogName {
    return this.source.log ?? 'local';
  }

  setView(view: LogView): void {
    if (view.log && view.log !== this.currentLog && this.source.log !== undefined) this.source.log = view.log;
    this.setVariant(view.variant);
    this.pending = view;
    if (this.ready) void this.sendInit();
  }

  private setVariant(variant: LogVariant): void {
    this.page.variant = variant;
    this.panel.title = titleOf(variant, this.currentLog);
  }

  /** Handles one message from the page; exposed so tests can drive the host side directly. */
  async onMessage(msg: unknown): Promise<void> {
    if (!isWebviewCommand(msg)) {
      log.warn('Audit Log: ignored a message of unknown shape from the webview');
      return;
    }
    try {
      await this.handle(msg);
    } catch (e) {
      log.error(`Audit Log: could not answer "${msg.type}"`, e);
    }
  }

  private async handle(msg: WebviewCommand): Promise<void> {
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        await this.sendInit();
        break;
      case 'query':
        await this.page.query(msg.seq, msg.query, msg.order, msg.select);
        break;
      case 'rows':
        await this.page.rows(msg.seq, msg.start, msg.count);
        break;
      case 'detail':
        await this.page.detail(msg.id);
        break;
      case 'export':
        await this.source.exportView(fullQuery(this.page.variant, msg.query), msg.format);
        break;
      case 'copyLink': {
        const uri = `${vscode.env.uriScheme}://${EXTENSION_ID}${LOG_LINK_PATH}?${encodeLogLink({ log: this.currentLog, variant: this.page.variant, query: msg.query, entry: msg.entry })}`;
        await vscode.env.clipboard.writeText(uri);
        void vscode.window.setStatusBarMessage(msg.entry === undefined ? vscode.l10n.t('Link to this view copied') : vscode.l10n.t('Link to entry {0} copied', msg.entry), 3000);
        break;
      }
      case 'openSource': {
        const uri = vscode.Uri.file(msg.path);
        // Only files of the workspace: a stored path is untrusted text.
        if (!vscode.workspace.getWorkspaceFolder(uri)) {
          void vscode.window.showWarningMessage(vscode.l10n.t('{0} is not in this workspace.', msg.path));
          return;
        }
        const pos = new vscode.Position(Math.max(0, msg.line - 1), Math.max(0, (msg.column ?? 1) - 1));
        await vscode.window.showTextDocument(uri, { selection: new vscode.Range(pos, pos), viewColumn: vscode.ViewColumn.Beside });
        break;
      }
      case 'openHistory':
        this.setView({ variant: { kind: 'history', entityName: msg.entityName, entityId: msg.entityId }, query: '', order: 'asc' });
        break;
      case 'showLog':
        log.show();
        break;
      case 'switchLog':
        // Only a source that reads the team log too switches, and only to a team log that is set.
        if (this.source.log === undefined || (msg.log === 'team' && !this.source.teamLog) || msg.log === this.source.log) return;
        this.source.log = msg.log;
        this.panel.title = titleOf(this.page.variant, msg.log);
        // The page keeps its filters; its view changed (another log), so it asks again.
        await this.page.init();
        break;
    }
  }

  private async sendInit(): Promise<void> {
    const view = this.pending;
    this.pending = undefined;
    await this.page.init(view);
  }

  private appendTimer: ReturnType<typeof setTimeout> | undefined;

  /** New entries: count those matching the current query, at most a few times a second. */
  private onAppended(): void {
    if (this.appendTimer || !this.ready) return;
    this.appendTimer = setTimeout(() => {
      this.appendTimer = undefined;
      if (this.isDisposed) return;
      this.page.appended().catch((e) => log.error('Audit Log: could not count new entries', e));
    }, 150);
  }

  private post(msg: HostNotification): Thenable<boolean> {
    this.sent.push(msg);
    if (this.sent.length > 200) this.sent.splice(0, this.sent.length - 200);
    if (this.isDisposed) return Promise.resolve(false);
    return this.panel.webview.postMessage(msg);
  }

  override dispose(): void {
    if (this.appendTimer) clearTimeout(this.appendTimer);
    if (AuditLogPanel.current === this) AuditLogPanel.current = undefined;
    super.dispose();
  }
}
