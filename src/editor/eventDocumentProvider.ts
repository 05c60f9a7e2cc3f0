import vscode = require('vscode');
import { renderEventDocument } from '../core/format/eventDocument';
import { settings } from '../services/editorSettings';
import { Disposable } from '../disposable';
import type { AuditService } from '../services/auditService';

export const EVENT_SCHEME = 'bot-audit-event';

/** Read-only documents of single entries: `bot-audit-event:/entry-42.md`. */
export class EventDocumentProvider extends Disposable implements vscode.TextDocumentContentProvider {
  constructor(private readonly audit: AuditService) {
    super();
    this.register(vscode.workspace.registerTextDocumentContentProvider(EVENT_SCHEME, this));
  }

  static uriFor(id: number): vscode.Uri {
    return vscode.Uri.from({ scheme: EVENT_SCHEME, path: `/entry-${id}.md` });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const id = Number(/entry-(\d+)\.md$/.exec(uri.path)?.[1]);
    const store = await this.audit.store();
    const entry = Number.isSafeInteger(id) ? await store.get(id) : undefined;
    if (!entry) return vscode.l10n.t('There is no entry {0} in {1}.', String(id), this.audit.dbPath);
    // What the run changed: the other entries of its trace.
    const changes = entry.action === 'EXECUTED' && entry.traceId ? (await store.byTrace(entry.traceId)).filter((e) => e.id !== entry.id) : [];
    return renderEventDocument(entry, changes, settings().timeZone);
  }
}
