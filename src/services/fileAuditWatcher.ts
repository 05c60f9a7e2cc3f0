import * as path from 'node:path';
import vscode = require('vscode');
import { isBotFile } from '../core/bots/botFiles';
import { BOT_AUDIT_CONFIG_FILE } from '../core/bots/config';
import type { FileLock } from '../core/store/lock';
import { FileEntity, type FileEntityName, WorkspaceFileAuditor } from '../core/workspace/fileAudit';
import { workspaceRelative } from '../core/workspace/layout';
import { Disposable } from '../disposable';
import { engine } from '../engine';
import { log } from '../logger';
import type { AuditService } from './auditService';
import type { BotsModel } from './botsModel';

const LEASE_REFRESH_MS = 15_000;
const LEASE_STALE_MS = 60_000;

/**
 * Audits the workspace's own files: bot sources and the settings file. Every window watches, but
 * only the one holding the lease (`.bot-audit/file-audit.lock`) records, so that two windows on
 * one workspace do not record the same change twice. When that window goes, another takes over.
 */
export class FileAuditWatcher extends Disposable {
  private auditor: WorkspaceFileAuditor | undefined;
  private lease: FileLock | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly audit: AuditService,
    private readonly bots: BotsModel,
  ) {
    super();
    const w = this.register(vscode.workspace.createFileSystemWatcher('**/*.{ts,mts,cts,js,mjs,cjs,json}'));
    w.onDidCreate((u) => void this.onFile(u, true));
    w.onDidChange((u) => void this.onFile(u, true));
    w.onDidDelete((u) => void this.onFile(u, false));
    this.register({ dispose: () => this.stop() });
  }

  /** Tries to become the recording window now, and again every so often. */
  async start(): Promise<void> {
    await this.tryLead();
    this.timer = setInterval(() => {
      if (this.lease?.held) this.lease.refresh();
      else void this.tryLead();
    }, LEASE_REFRESH_MS);
  }

  get isLeader(): boolean {
    return Boolean(this.lease?.held && this.auditor);
  }

  private async tryLead(): Promise<void> {
    if (this.lease?.held || this.isDisposed) return;
    const store = await this.audit.localStore();
    this.lease ??= new (engine().FileLock)(path.join(this.audit.dataDir, 'file-audit.lock'), LEASE_STALE_MS);
    if (!this.lease.tryAcquire()) return;
    const auditor = new WorkspaceFileAuditor(store, () => this.audit.user);
    // Baseline: what the files hold now; what changed while no window watched is recorded now.
    for (const bot of await this.bots.getBots()) {
      const text = await this.read(bot.uri);
      if (text !== undefined) await auditor.seen(FileEntity.bot, bot.relPath, text);
    }
    const settings = vscode.Uri.file(path.join(this.audit.root, BOT_AUDIT_CONFIG_FILE));
    const settingsText = await this.read(settings);
    if (settingsText !== undefined) await auditor.seen(FileEntity.settings, BOT_AUDIT_CONFIG_FILE, settingsText);
    this.auditor = auditor;
    log.info('This window records changes to bot files and settings');
  }

  private classify(uri: vscode.Uri): { entity: FileEntityName; relPath: string } | undefined {
    const rel = workspaceRelative(this.audit.root, uri.fsPath);
    if (rel.startsWith('..')) return undefined;
    if (rel === BOT_AUDIT_CONFIG_FILE) return { entity: FileEntity.settings, relPath: rel };
    if (isBotFile(rel, this.bots.glob)) return { entity: FileEntity.bot, relPath: rel };
    return undefined;
  }

  private async onFile(uri: vscode.Uri, exists: boolean): Promise<void> {
    const what = this.classify(uri);
    if (!what || !this.auditor) return;
    try {
      const text = exists ? await this.read(uri) : undefined;
      const entry = await this.auditor.changed(what.entity, what.relPath, text);
      if (entry) log.info(`${entry.action} ${what.entity} ${what.relPath} (entry ${entry.id})`);
    } catch (e) {
      log.error(`Could not record the change to ${what.relPath}`, e);
    }
  }

  private async read(uri: vscode.Uri): Promise<string | undefined> {
    try {
      return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    } catch {
      return undefined;
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.lease?.held) this.lease.release();
  }
}
