// What a command is invoked on, and how a command finds its bot or entry from that: a tree node, a
// URI (CodeLens, explorer, editor title), an entry id, or nothing (the palette: then a quick pick).
import vscode = require('vscode');
import { botRunsFilter } from '../core/bots/discovery';
import { formatDuration, timeAgo } from '../core/format/time';
import type { AuditLogReader } from '../core/store';
import { outcomeName, type Entry } from '../core/store/types';
import type { BotsModel, WorkspaceBot } from '../services/botsModel';

export type Target = { bot?: WorkspaceBot; entry?: Entry } | vscode.Uri | number | undefined;

/** A bot's newest run in the log, without counting its runs. */
export async function lastRun(store: AuditLogReader, bot: WorkspaceBot): Promise<Entry | undefined> {
  return (await store.latest(botRunsFilter(bot.entityId), 1))[0];
}

/** The target's bot; for a URI that is not a bot, says why; with no target, asks. */
export async function botFor(bots: BotsModel, store: () => Promise<AuditLogReader>, target: Target, placeHolder: string): Promise<WorkspaceBot | undefined> {
  if (target instanceof vscode.Uri) {
    const found = await bots.botAt(target);
    if (found) return found;
    // A module that bots share (no exported handler) is never run as one: it would only fail.
    const shared = (await bots.getSharedModules()).some((b) => b.uri.toString() === target.toString());
    void vscode.window.showWarningMessage(
      shared
        ? vscode.l10n.t('{0} is not a bot: it exports no handler function (bots export `handler(medplum, event)`).', vscode.workspace.asRelativePath(target))
        : vscode.l10n.t('{0} is not a bot: bots are the files matched by the Bot Glob setting.', vscode.workspace.asRelativePath(target)),
    );
    return undefined;
  }
  if (target && typeof target === 'object' && target.bot) return target.bot;
  return pickBot(bots, store, placeHolder);
}

/** A quick pick of the bots that can run, each with its last run. */
async function pickBot(bots: BotsModel, store: () => Promise<AuditLogReader>, placeHolder: string): Promise<WorkspaceBot | undefined> {
  const list = (await bots.getBots()).filter((b) => b.status.kind === 'source');
  if (!list.length) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No bots found in this workspace.'));
    return undefined;
  }
  const items = await Promise.all(
    list.map(async (bot) => {
      const last = await store()
        .then((s) => lastRun(s, bot))
        .catch(() => undefined);
      return {
        label: bot.name,
        description: bot.relPath,
        detail: last ? `${outcomeName(last.outcome)} · ${timeAgo(last.recorded)}` : vscode.l10n.t('never run'),
        bot,
      };
    }),
  );
  return (await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true }))?.bot;
}

/** The target's entry: by id, from a tree node, else picked from the newest runs. */
export async function entryFor(store: AuditLogReader, target: Target): Promise<Entry | undefined> {
  if (typeof target === 'number') return store.get(target);
  if (target && typeof target === 'object' && !(target instanceof vscode.Uri) && target.entry) return target.entry;
  const recent = (await store.query([{ column: 'action', op: 'oneOf', value: ['EXECUTED'] }], { limit: 50 })).entries;
  const pick = await vscode.window.showQuickPick(
    recent.map((e) => ({
      label: `#${e.id} ${e.bot ?? e.entityId}`,
      description: `${outcomeName(e.outcome)} · ${timeAgo(e.recorded)}${e.periodEnd && e.periodStart ? ` · ${formatDuration(e.periodEnd - e.periodStart)}` : ''}`,
      detail: e.input?.slice(0, 100),
      entry: e,
    })),
    { placeHolder: vscode.l10n.t('Event to replay') },
  );
  return pick?.entry;
}
