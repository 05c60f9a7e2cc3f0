import vscode = require('vscode');
import { Commands, NodeKind } from '../../constants';
import { formatDuration, timeAgo } from '../../core/format/time';
import { outcomeName, type Entry } from '../../core/store/types';
import type { WorkspaceBot } from '../../services/botsModel';
import { outcomeIcon } from './outcomeIcon';

/** What the tree knows of a bot's runs when it lists the bot (undefined: the log is not open yet). */
export interface RunSummary {
  last?: Entry;
}

export class BotNode {
  constructor(
    readonly bot: WorkspaceBot,
    readonly parent: FolderNode | undefined,
    readonly runs: RunSummary | undefined,
  ) {}

  get id(): string {
    return `bot:${this.bot.uri.toString()}`;
  }

  /** Whether runs of this bot are stored (Medplum's `auditEventDestination` includes `resource`). */
  get storesEvents(): boolean {
    return this.bot.settings.auditEventDestination.includes('resource');
  }

  toTreeItem(): vscode.TreeItem {
    const { bot, runs } = this;
    const expandable = runs?.last !== undefined || !this.storesEvents;
    const item = new vscode.TreeItem(bot.name, expandable ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = this.id;
    item.resourceUri = bot.uri;
    const md = new vscode.MarkdownString('', true);
    md.appendMarkdown(`**${escapeMd(bot.name)}** · `);
    md.appendText(bot.relPath);
    switch (bot.status.kind) {
      case 'source': {
        item.contextValue = NodeKind.Bot;
        const last = runs?.last;
        item.iconPath = outcomeIcon(last?.outcome);
        if (last) {
          item.description = `${outcomeLabel(last.outcome)} · ${timeAgo(last.recorded)}`;
          md.appendMarkdown(`\n\n${vscode.l10n.t('Last run')}: **${outcomeLabel(last.outcome)}** ${timeAgo(last.recorded)}`);
          appendDescHead(md, last.outcomeDesc);
        } else if (bot.status.handlerLine === undefined) {
          item.description = vscode.l10n.t('no handler export');
          md.appendMarkdown(`\n\n$(warning) ${vscode.l10n.t('This file does not export a `handler` function.')}`);
        } else if (runs) {
          item.description = vscode.l10n.t('never run');
        }
        break;
      }
      default: {
        item.contextValue = NodeKind.UnreadableBot;
        item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
        const why =
          bot.status.kind === 'binary'
            ? vscode.l10n.t('not a text file')
            : bot.status.kind === 'empty'
              ? vscode.l10n.t('empty file')
              : vscode.l10n.t('unreadable: {0}', bot.status.reason);
        item.description = why;
        md.appendMarkdown('\n\n');
        md.appendText(why);
      }
    }
    item.tooltip = md;
    const line = bot.status.kind === 'source' ? (bot.status.handlerLine ?? 0) : 0;
    item.command = { command: Commands.openBotSource, title: vscode.l10n.t('Open Source'), arguments: [bot.uri, line] };
    return item;
  }
}

export class EventNode {
  constructor(
    readonly entry: Entry,
    readonly parent: BotNode,
    /** The log it is in: a team log's entry opens in the audit log page on the team log. */
    readonly log: 'local' | 'team' = 'local',
  ) {}

  get id(): string {
    return `event:${this.log === 'team' ? 'team:' : ''}${this.entry.uuid}`;
  }

  toTreeItem(): vscode.TreeItem {
    const e = this.entry;
    const item = new vscode.TreeItem(`${outcomeLabel(e.outcome)}`, vscode.TreeItemCollapsibleState.None);
    item.id = this.id;
    item.contextValue = NodeKind.Event;
    item.iconPath = outcomeIcon(e.outcome);
    const parts = [`#${e.id}`, timeAgo(e.recorded)];
    if (e.periodStart !== undefined && e.periodEnd !== undefined) parts.push(formatDuration(e.periodEnd - e.periodStart));
    if (e.failureKind) parts.push(e.failureKind);
    item.description = parts.join(' · ');
    const md = new vscode.MarkdownString('', true);
    md.appendMarkdown(`**#${e.id} ${outcomeLabel(e.outcome)}**`);
    if (e.failureKind) md.appendMarkdown(` (${escapeMd(e.failureKind)})`);
    md.appendMarkdown(` · ${escapeMd(e.user)} · ${escapeMd(new Date(e.recorded).toLocaleString())}`);
    appendDescHead(md, e.outcomeDesc);
    item.tooltip = md;
    item.command =
      this.log === 'team'
        ? { command: Commands.openAuditLog, title: vscode.l10n.t('Show Event'), arguments: ['', e.id, 'team'] }
        : { command: Commands.showEvent, title: vscode.l10n.t('Show Event'), arguments: [e.id] };
    if (this.log === 'team') item.contextValue = NodeKind.TeamEvent;
    return item;
  }
}

/** "Show more…": the next page of a bot's events. */
export class MoreEventsNode {
  constructor(
    readonly parent: BotNode,
    readonly shown: number,
    readonly total: number,
  ) {}

  get id(): string {
    return `more:${this.parent.id}`;
  }

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(vscode.l10n.t('Show more…'), vscode.TreeItemCollapsibleState.None);
    item.id = this.id;
    item.contextValue = NodeKind.MoreEvents;
    item.description = vscode.l10n.t('{0} of {1}', this.shown, this.total);
    item.iconPath = new vscode.ThemeIcon('ellipsis');
    item.command = { command: Commands.showMoreEvents, title: vscode.l10n.t('Show more…'), arguments: [this.parent.bot.uri.toString()] };
    return item;
  }
}

/** A line of explanation under a bot, e.g. why its event list is empty. */
export class NoticeNode {
  constructor(
    readonly parent: BotNode,
    readonly label: string,
    readonly tooltip: string,
    readonly command?: vscode.Command,
  ) {}

  get id(): string {
    return `notice:${this.parent.id}`;
  }

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.label, vscode.TreeItemCollapsibleState.None);
    item.id = this.id;
    item.contextValue = NodeKind.Notice;
    item.iconPath = new vscode.ThemeIcon('info');
    item.tooltip = this.tooltip;
    item.command = this.command;
    return item;
  }
}

export class FolderNode {
  readonly children: BotNode[] = [];
  constructor(
    readonly folder: string,
    readonly workspaceFolder: vscode.WorkspaceFolder,
  ) {}

  get id(): string {
    return `folder:${this.workspaceFolder.uri.toString()}/${this.folder}`;
  }

  toTreeItem(): vscode.TreeItem {
    const label = this.folder || this.workspaceFolder.name;
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Expanded);
    item.id = this.id;
    item.contextValue = NodeKind.Folder;
    item.iconPath = vscode.ThemeIcon.Folder;
    item.resourceUri = vscode.Uri.joinPath(this.workspaceFolder.uri, this.folder);
    item.description = this.children.length === 1 ? vscode.l10n.t('1 bot') : vscode.l10n.t('{0} bots', this.children.length);
    return item;
  }
}

export type BotsTreeNode = FolderNode | BotNode | EventNode | MoreEventsNode | NoticeNode;

function outcomeLabel(o: number | undefined): string {
  return o === undefined ? vscode.l10n.t('Unknown') : outcomeName(o);
}

/** The first lines of an outcome description, as a code block (text, never markup). */
function appendDescHead(md: vscode.MarkdownString, desc: string | undefined): void {
  if (!desc) return;
  const lines = desc.split('\n');
  const head = lines.slice(0, 8).join('\n');
  md.appendMarkdown('\n\n');
  md.appendCodeblock(head.length > 800 ? `${head.slice(0, 800)}…` : head, 'log');
  if (lines.length > 8) md.appendMarkdown(`\n${vscode.l10n.t('… {0} more lines', lines.length - 8)}`);
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
