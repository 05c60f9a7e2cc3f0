import * as vscode from 'vscode';
import { Disposable } from '../../disposable';
import type { BotsModel } from './botsModel';
import { BotNode, BotsTreeNode, FolderNode } from './nodes/botNode';

/** Maps the bots model to tree items: folders of bots, then bots. */
export class BotsTreeProvider extends Disposable implements vscode.TreeDataProvider<BotsTreeNode> {
  private readonly changed = this.register(new vscode.EventEmitter<BotsTreeNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private roots: FolderNode[] = [];

  constructor(private readonly model: BotsModel) {
    super();
    this.register(model.onDidChange(() => this.changed.fire(undefined)));
  }

  getTreeItem(node: BotsTreeNode): vscode.TreeItem {
    return node.toTreeItem();
  }

  async getChildren(node?: BotsTreeNode): Promise<BotsTreeNode[]> {
    if (node instanceof FolderNode) return node.children;
    if (node) return [];
    const folders = new Map<string, FolderNode>();
    for (const bot of await this.model.getBots()) {
      const key = `${bot.workspaceFolder.uri.toString()}|${bot.folder}`;
      let f = folders.get(key);
      if (!f) folders.set(key, (f = new FolderNode(bot.folder, bot.workspaceFolder)));
      f.children.push(new BotNode(bot, f));
    }
    this.roots = [...folders.values()];
    return this.roots;
  }

  getParent(node: BotsTreeNode): BotsTreeNode | undefined {
    return node instanceof BotNode ? node.parent : undefined;
  }

  /** The nodes of the last listing, for tests and `reveal`. */
  get lastRoots(): readonly FolderNode[] {
    return this.roots;
  }
}
