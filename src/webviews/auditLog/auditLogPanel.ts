import * as vscode from 'vscode';
import { WebviewTypes } from '../../constants';
import { Disposable } from '../../disposable';
import { log } from '../../logger';
import { HostNotification, LogState, isWebviewCommand } from '../protocol';
import { webviewHtml } from '../webviewHtml';

/** Where the panel gets its rows from; the host side of the audit log. */
export interface AuditLogSource {
  load(): Promise<LogState>;
  /** Fires when the log has new entries. */
  readonly onDidChange?: vscode.Event<void>;
}

/** The "Audit Log" editor panel. One at a time; `show` reveals it when it is open. */
export class AuditLogPanel extends Disposable {
  private static current: AuditLogPanel | undefined;
  private ready = false;

  static show(extensionUri: vscode.Uri, source: AuditLogSource): AuditLogPanel {
    if (AuditLogPanel.current) {
      AuditLogPanel.current.panel.reveal();
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
    }
  }

  private async pushState(): Promise<void> {
    if (!this.ready || this.isDisposed) return;
    let state: LogState;
    try {
      state = await this.source.load();
    } catch (e) {
      log.error('Audit Log: could not load entries', e);
      state = { source: '', entries: [], total: 0, error: e instanceof Error ? e.message : String(e) };
    }
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
