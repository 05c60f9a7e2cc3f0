import vscode = require('vscode');
import { Commands } from '../constants';
import { botRunsFilter } from '../core/bots/discovery';
import type { AuditLogReader, Entry } from '../core/store';
import { Disposable } from '../disposable';
import { log } from '../logger';
import type { AuditService } from '../services/auditService';
import type { TeamLogService } from '../services/teamLogService';
import type { LogName } from '../panels/protocol';
import type { BotsModel } from '../services/botsModel';
import { BotNode, BotsTreeNode, EventNode, FolderNode, MoreEventsNode, NoticeNode, type RunSummary } from './nodes/botNode';

/** How many of a bot's events one "page" of the tree shows. */
export const EVENTS_PAGE = 20;

/** Maps bots and their events to tree items: folders, bots, then each bot's events, newest first. */
export class BotsTreeProvider extends Disposable implements vscode.TreeDataProvider<BotsTreeNode> {
  private readonly changed = this.register(new vscode.EventEmitter<BotsTreeNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private roots: FolderNode[] = [];
  /** Bot uri → how many pages of events to show. */
  private readonly pages = new Map<string, number>();
  /** Bot entity id → its last run, kept up to date from new entries instead of asking the log again. */
  private readonly lastRuns = new Map<string, Entry | null>();

  /** Which log the bots' outcomes and events come from: the workspace's, or the team log (every member's runs). */
  private logName: LogName = 'local';

  constructor(
    private readonly model: BotsModel,
    private readonly audit: AuditService | undefined,
    private readonly team?: TeamLogService,
  ) {
    super();
    this.register(model.onDidChange(() => this.changed.fire(undefined)));
    if (team) {
      // Any member's run may be a bot's newest: looked up again.
      this.register(
        team.onDidAppendTeam(() => {
          if (this.logName !== 'team') return;
          this.lastRuns.clear();
          this.changed.fire(undefined);
        }),
      );
    }
    if (audit) {
      this.register(
        audit.onDidAppend((entries) => {
          if (this.logName !== 'local') return;
          let runs = false;
          for (const e of entries) {
            if (e.action !== 'EXECUTED' || e.entityName !== 'Bot') continue;
            const known = this.lastRuns.get(e.entityId);
            if (!known || known.id < e.id) this.lastRuns.set(e.entityId, e);
            runs = true;
          }
          if (runs) this.changed.fire(undefined);
        }),
      );
      this.register(audit.onDidOpen(() => this.changed.fire(undefined)));
    }
  }

  get log(): LogName {
    return this.logName;
  }

  /** Shows the bots' outcomes and events from the other log. */
  setLog(log: LogName): void {
    if (log === this.logName) return;
    this.logName = log;
    this.lastRuns.clear();
    this.pages.clear();
    this.changed.fire(undefined);
  }

  /** The log the view reads now. */
  private reader(): Promise<AuditLogReader> | undefined {
    if (this.logName === 'team') return this.team?.reader();
    return this.audit?.store();
  }

  getTreeItem(node: BotsTreeNode): vscode.TreeItem {
    return node.toTreeItem();
  }

  async getChildren(node?: BotsTreeNode): Promise<BotsTreeNode[]> {
    if (node instanceof FolderNode) return node.children;
    if (node instanceof BotNode) return this.eventsOf(node);
    if (node) return [];
    const folders = new Map<string, FolderNode>();
    // The bots show at once. Their last outcomes follow: when the log opens (onDidOpen refreshes),
    // and, for bots not looked up yet, from a background pass that refreshes the view when done.
    const store = this.logName === 'team' ? this.team : this.audit?.openStore;
    if (this.logName === 'local' && this.audit && !store) void this.audit.store().catch((e) => log.error('The Bots view cannot read the audit log', e));
    const bots = await this.model.getBots();
    if (store && bots.some((b) => !this.lastRuns.has(b.entityId))) void this.lookUpLastRuns();
    for (const bot of bots) {
      const key = `${bot.workspaceFolder.uri.toString()}|${bot.folder}`;
      let f = folders.get(key);
      if (!f) folders.set(key, (f = new FolderNode(bot.folder, bot.workspaceFolder)));
      const last = store ? this.lastRuns.get(bot.entityId) : undefined;
      const runs: RunSummary | undefined = last === undefined ? undefined : { last: last ?? undefined };
      f.children.push(new BotNode(bot, f, runs));
    }
    this.roots = [...folders.values()];
    return this.roots;
  }

  private lookingUp: Promise<void> | undefined;

  /**
   * Looks up the last run of every bot not known yet, a few at a time so the extension host stays
   * responsive, then refreshes the view once. Resolves when every bot's last run is known.
   */
  lookUpLastRuns(): Promise<void> {
    this.lookingUp ??= (async () => {
      let store: AuditLogReader | undefined;
      try {
        store = await this.reader();
      } catch (e) {
        log.warn(`The Bots view cannot read the ${this.logName} log: ${(e as Error).message}`);
        return;
      }
      if (!store) return;
      const missing = [...new Set((await this.model.getBots()).filter((b) => !this.lastRuns.has(b.entityId)).map((b) => b.entityId))];
      // A hundred bots per query (tens of milliseconds on a large log), so the extension host stays responsive.
      for (let i = 0; i < missing.length; i += 100) {
        const part = missing.slice(i, i + 100).filter((id) => !this.lastRuns.has(id));
        const last = await store.lastRuns(part);
        // A run may have finished meanwhile: its outcome is newer than what was read.
        for (const id of part) if (!this.lastRuns.has(id)) this.lastRuns.set(id, last.get(id) ?? null);
        if (i + 100 < missing.length) await new Promise((r) => setImmediate(r));
      }
      if (missing.length) this.changed.fire(undefined);
    })().finally(() => {
      this.lookingUp = undefined;
    });
    return this.lookingUp;
  }

  private async eventsOf(node: BotNode): Promise<BotsTreeNode[]> {
    if (!node.storesEvents) {
      return [
        new NoticeNode(
          node,
          vscode.l10n.t('Events are not stored for this bot'),
          vscode.l10n.t(
            'Its auditEventDestination is {0}: runs go to the Bot Audit log channel only. Add "resource" in bot-audit.json to keep them here.',
            JSON.stringify(node.bot.settings.auditEventDestination),
          ),
          { command: Commands.openBotSettings, title: vscode.l10n.t('Open Bot Settings'), arguments: [node.bot.uri] },
        ),
      ];
    }
    let store: AuditLogReader | undefined;
    try {
      store = await this.reader();
    } catch (e) {
      return [new NoticeNode(node, vscode.l10n.t('The team log cannot be read'), (e as Error).message)];
    }
    if (!store) return [];
    const want = (this.pages.get(node.bot.uri.toString()) ?? 1) * EVENTS_PAGE;
    const page = await store.query(botRunsFilter(node.bot.entityId), { limit: want });
    const out: BotsTreeNode[] = page.entries.map((e) => new EventNode(e, node, this.logName));
    if (page.nextCursor) out.push(new MoreEventsNode(node, page.entries.length, page.total));
    return out;
  }

  /** Shows one more page of a bot's events. */
  showMore(botUri: string): void {
    this.pages.set(botUri, (this.pages.get(botUri) ?? 1) + 1);
    const node = this.roots.flatMap((f) => f.children).find((b) => b.bot.uri.toString() === botUri);
    this.changed.fire(node);
  }

  getParent(node: BotsTreeNode): BotsTreeNode | undefined {
    return node instanceof FolderNode ? undefined : node.parent;
  }

  /** The nodes of the last listing, for tests and `reveal`. */
  get lastRoots(): readonly FolderNode[] {
    return this.roots;
  }
}
