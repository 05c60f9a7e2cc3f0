import * as vscode from 'vscode';
import { Commands, NodeKind } from '../../../constants';
import type { BotInfo } from '../botsModel';

export class BotNode {
  constructor(readonly bot: BotInfo, readonly parent: FolderNode | undefined) {}

  get id(): string {
    return `bot:${this.bot.uri.toString()}`;
  }

  toTreeItem(): vscode.TreeItem {
    const { bot } = this;
    const item = new vscode.TreeItem(bot.name, vscode.TreeItemCollapsibleState.None);
    item.id = this.id;
    item.resourceUri = bot.uri;
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**${escapeMd(bot.name)}**\n\n`);
    md.appendText(bot.relPath);
    switch (bot.status.kind) {
      case 'source':
        item.contextValue = NodeKind.Bot;
        item.iconPath = new vscode.ThemeIcon('hubot');
        if (bot.status.handlerLine === undefined) {
          item.description = vscode.l10n.t('no handler export');
          md.appendMarkdown(`\n\n$(warning) ${vscode.l10n.t('This file does not export a `handler` function.')}`);
          md.supportThemeIcons = true;
        }
        break;
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

export class FolderNode {
  readonly children: BotNode[] = [];
  constructor(readonly folder: string, readonly workspaceFolder: vscode.WorkspaceFolder) {}

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
    item.description =
      this.children.length === 1 ? vscode.l10n.t('1 bot') : vscode.l10n.t('{0} bots', this.children.length);
    return item;
  }
}

export type BotsTreeNode = FolderNode | BotNode;

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
