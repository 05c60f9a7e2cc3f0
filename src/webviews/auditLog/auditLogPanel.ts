import * as vscode from 'vscode';
import { WebviewTypes } from '../../constants';
import { Disposable } from '../../disposable';
import { log } from '../../logger';
import { HostNotification, LogState, LogVariant, isWebviewCommand } from '../protocol';
import { webviewHtml } from '../webviewHtml';

/** Where the panel gets its rows from; the host side of the audit log. */
export interface AuditLogSource {
  /** The first page for a query; a bad query keeps `lastGood`'s rows and says why. */
  load(query: string, variant: LogVariant, lastGood: string): Promise<LogState>;
  /** Fires when the log has new entries. */
  readonly onDidChange?: vscode.Event<void>;
}

/** The "Audit Log" editor panel. One at a time; `show` reveals it when it is open. */
export class AuditLogPanel extends Disposable {
  private static current: AuditLogPanel | undefined;
  private ready = false;
  private query = '';
  private lastGoodQuery = '';
  private variant: LogVariant = { kind: 'log' };
  private lastState: LogState | undefined;

  static show(extensionUri: vscode.Uri, source: AuditLogSource, view?: { query: string; variant: LogVariant }): AuditLogPanel {
    if (AuditLogPanel.current) {
      AuditLogPanel.current.panel.reveal();
      if (view) AuditLogPanel.current.setView(view.query, view.variant);
      return AuditLogPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      WebviewTypes.auditLog,
      vscode.l10n.t('Audit Log'),
      vscode.ViewColumn.Active,
      {
        enableScripts: true,
        retainContextWhenHidden: false,
        localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')],
      },
    );
    AuditLogPanel.current = new AuditLogPanel(panel, extensionUri, source);
    if (view) AuditLogPanel.current.setView(view.query, view.variant);
    return AuditLogPanel.current;
  }

  static get currentPanel(): AuditLogPanel | undefined {
    return AuditLogPanel.current;
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly source: AuditLogSource,
  ) {
    super();
    this.register(panel);
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'audit-log.svg');
    panel.webview.html = webviewHtml({
      webview: panel.webview,
      extensionUri,
      script: 'auditLog.js',
      styles: ['codicon.css', 'auditLog.css'],
      title: 'Audit Log',
    });
    this.register(panel.onDidDispose(() => this.dispose()));
    this.register(panel.webview.onDidReceiveMessage((m) => void this.onMessage(m)));
    if (source.onDidChange) this.register(source.onDidChange(() => void this.pushState()));
  }

  /** Whether the page has said it is ready (for tests and waiting callers). */
  get isReady(): boolean {
    return this.ready;
  }

  /** The state last sent to the page (for tests). */
  get state(): LogState | undefined {
    return this.lastState;
  }

  setView(query: string, variant: LogVariant): void {
    this.query = query;
    this.variant = variant;
    this.panel.title = variant.kind === 'botEvents' ? vscode.l10n.t('Events: {0}', variant.bot) : vscode.l10n.t('Audit Log');
    void this.pushState();
  }

  private async onMessage(msg: unknown): Promise<void> {
    if (!isWebviewCommand(msg)) {
      log.warn(`Audit Log: ignored a message of unknown shape from the webview`);
      return;
    }
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        await this.pushState();
        break;
      case 'refresh':
        await this.pushState();
        break;
      case 'showLog':
        log.show();
        break;
      case 'setQuery':
        this.query = msg.query;
        await this.pushState();
        break;
    }
  }

  private async pushState(): Promise<void> {
    if (!this.ready || this.isDisposed) return;
    let state: LogState;
    try {
      state = await this.source.load(this.query, this.variant, this.lastGoodQuery);
      if (!state.queryError) this.lastGoodQuery = this.query;
    } catch (e) {
      log.error('Audit Log: could not load entries', e);
      state = { source: '', variant: this.variant, query: this.query, entries: [], total: 0, error: e instanceof Error ? e.message : String(e) };
    }
    this.lastState = state;
    await this.post({ type: 'state', state });
  }

  private post(msg: HostNotification): Thenable<boolean> {
    return this.panel.webview.postMessage(msg);
  }

  override dispose(): void {
    if (AuditLogPanel.current === this) AuditLogPanel.current = undefined;
    super.dispose();
  }
}
