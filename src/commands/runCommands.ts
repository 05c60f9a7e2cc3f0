import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { Commands } from '../constants';
import { readSampleInput } from '../core/bots/config';
import { OUTCOME_NAMES, type AuditLogReader, type Entry, type ExportFormat, type Outcome } from '../core/store';
import { formatDuration, timeAgo } from '../core/format/time';
import { log } from '../logger';
import type { AuditService } from '../services/auditService';
import type { TeamLogService } from '../services/teamLogService';
import type { LogName } from '../webviews/protocol';
import { type RunInput, RunService, UntrustedWorkspaceError } from '../services/runService';
import type { WorkspaceBot, BotsModel } from '../services/botsModel';
import { botRunsFilter } from '../core/bots/discovery';
import { replayInput } from '../core/runner/replay';

/** What a command can be invoked with: a tree node, a URI (CodeLens, explorer), an entry id, or nothing (palette). */
type Target = { bot?: WorkspaceBot; entry?: Entry } | vscode.Uri | number | undefined;

function outcomeLabel(o: number | undefined): string {
  return o === undefined ? '' : (OUTCOME_NAMES[o as Outcome] ?? String(o));
}

export function registerRunCommands(context: vscode.ExtensionContext, bots: BotsModel, audit: AuditService, runs: RunService, team?: TeamLogService): void {
  const lastRun = async (bot: WorkspaceBot): Promise<Entry | undefined> => (await (await audit.store()).query(botRunsFilter(bot.entityId), { limit: 1 })).entries[0];

  const pickBot = async (placeHolder: string): Promise<WorkspaceBot | undefined> => {
    const list = (await bots.getBots()).filter((b) => b.status.kind === 'source');
    if (!list.length) {
      void vscode.window.showInformationMessage(vscode.l10n.t('No bots found in this workspace.'));
      return undefined;
    }
    const items = await Promise.all(
      list.map(async (bot) => {
        const last = await lastRun(bot).catch(() => undefined);
        return {
          label: bot.name,
          description: bot.relPath,
          detail: last ? `${outcomeLabel(last.outcome)} · ${timeAgo(last.recorded)}` : vscode.l10n.t('never run'),
          bot,
        };
      }),
    );
    return (await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true }))?.bot;
  };

  const botFor = async (target: Target, placeHolder: string): Promise<WorkspaceBot | undefined> => {
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
    return pickBot(placeHolder);
  };

  /** The default input of a run: the bot's first named sample input, if it has one. */
  const defaultInput = (bot: WorkspaceBot): RunInput => {
    const [first] = Object.values(bot.settings.inputs);
    return first ? readSampleInput(bot.workspaceFolder.uri.fsPath, first) : {};
  };

  const chooseInput = async (bot: WorkspaceBot): Promise<RunInput | undefined> => {
    type Item = vscode.QuickPickItem & { get?: () => Promise<RunInput | undefined> };
    const root = bot.workspaceFolder.uri.fsPath;
    const items: Item[] = [];
    const samples = Object.entries(bot.settings.inputs);
    if (samples.length) items.push({ label: vscode.l10n.t('Sample inputs'), kind: vscode.QuickPickItemKind.Separator });
    for (const [name, sample] of samples) {
      items.push({ label: `$(beaker) ${name}`, description: 'file' in sample ? sample.file : undefined, get: async () => readSampleInput(root, sample) });
    }
    const last = await lastRun(bot).catch(() => undefined);
    items.push({ label: vscode.l10n.t('Other'), kind: vscode.QuickPickItemKind.Separator });
    if (last?.input !== undefined) {
      items.push({
        label: `$(history) ${vscode.l10n.t('Last input')}`,
        description: `${timeAgo(last.recorded)} · ${last.input.slice(0, 60)}`,
        get: async () => ({ inputText: last.input, contentType: last.contentType }),
      });
    }
    items.push({
      label: `$(json) ${vscode.l10n.t('A JSON file from the workspace…')}`,
      get: async () => {
        const files = await vscode.workspace.findFiles(new vscode.RelativePattern(bot.workspaceFolder, '**/*.json'), '{**/node_modules/**,**/.bot-audit/**}', 2000);
        const pick = await vscode.window.showQuickPick(
          files.map((f) => ({ label: vscode.workspace.asRelativePath(f, false), uri: f })).sort((a, b) => a.label.localeCompare(b.label)),
          { placeHolder: vscode.l10n.t('Input for {0}', bot.name) },
        );
        return pick ? { inputText: fs.readFileSync(pick.uri.fsPath, 'utf8'), contentType: 'application/json' } : undefined;
      },
    });
    items.push({
      label: `$(edit) ${vscode.l10n.t('Type the input…')}`,
      get: async () => {
        const text = await vscode.window.showInputBox({
          prompt: vscode.l10n.t('Input for {0} ({1})', bot.name, bot.settings.contentType),
          value: last?.input ?? '',
          validateInput: (v) => {
            if (!bot.settings.contentType.includes('json')) return undefined;
            try {
              JSON.parse(v);
              return undefined;
            } catch (e) {
              return vscode.l10n.t('Not JSON: {0}', (e as Error).message);
            }
          },
        });
        return text === undefined ? undefined : { inputText: text };
      },
    });
    const pick = await vscode.window.showQuickPick(items, { placeHolder: vscode.l10n.t('Input for {0}', bot.name) });
    return pick?.get?.();
  };

  const runAndReport = async (bot: WorkspaceBot, input: RunInput) => {
    try {
      return await runs.run(bot, input);
    } catch (e) {
      if (e instanceof UntrustedWorkspaceError) void vscode.window.showWarningMessage(e.message, { modal: false });
      else {
        log.error(`Could not run ${bot.name}`, e);
        void vscode.window.showErrorMessage(vscode.l10n.t('Could not run {0}: {1}', bot.name, e instanceof Error ? e.message : String(e)));
      }
      return undefined;
    }
  };

  const entryFor = async (target: Target): Promise<Entry | undefined> => {
    const store = await audit.store();
    if (typeof target === 'number') return store.get(target);
    if (target && typeof target === 'object' && !(target instanceof vscode.Uri) && target.entry) return target.entry;
    const recent = (await store.query([{ column: 'action', op: 'oneOf', value: ['EXECUTED'] }], { limit: 50 })).entries;
    const pick = await vscode.window.showQuickPick(
      recent.map((e) => ({
        label: `#${e.id} ${e.bot ?? e.entityId}`,
        description: `${outcomeLabel(e.outcome)} · ${timeAgo(e.recorded)}${e.periodEnd && e.periodStart ? ` · ${formatDuration(e.periodEnd - e.periodStart)}` : ''}`,
        detail: e.input?.slice(0, 100),
        entry: e,
      })),
      { placeHolder: vscode.l10n.t('Event to replay') },
    );
    return pick?.entry;
  };

  context.subscriptions.push(
    vscode.commands.registerCommand(Commands.runBot, async (target: Target) => {
      const bot = await botFor(target, vscode.l10n.t('Bot to run'));
      return bot && runAndReport(bot, defaultInput(bot));
    }),
    vscode.commands.registerCommand(Commands.runBotWithInput, async (target: Target, given?: RunInput) => {
      const bot = await botFor(target, vscode.l10n.t('Bot to run'));
      if (!bot) return undefined;
      const input = given ?? (await chooseInput(bot));
      return input && runAndReport(bot, input);
    }),
    vscode.commands.registerCommand(Commands.runCurrentFile, async () => {
      const doc = vscode.window.activeTextEditor?.document;
      if (!doc) {
        void vscode.window.showInformationMessage(vscode.l10n.t('Open a bot file first.'));
        return undefined;
      }
      if (doc.isDirty) await doc.save();
      const bot = await botFor(doc.uri, '');
      return bot && runAndReport(bot, defaultInput(bot));
    }),
    vscode.commands.registerCommand(Commands.replayEvent, async (target: Target) => {
      const entry = await entryFor(target);
      if (!entry) return undefined;
      const bot = (await bots.getBots()).find((b) => b.entityId === entry.entityId);
      if (!bot) {
        void vscode.window.showWarningMessage(vscode.l10n.t('The bot of entry {0} ({1}) is no longer in the workspace.', entry.id, entry.entityId));
        return undefined;
      }
      const input = replayInput(entry);
      if (!input.ok) {
        void vscode.window.showErrorMessage(vscode.l10n.t('Cannot replay: {0}', input.reason));
        return undefined;
      }
      return runAndReport(bot, { inputText: input.inputText, contentType: input.contentType, replayOf: entry.id });
    }),
    vscode.commands.registerCommand(Commands.cancelRuns, () => {
      const n = runs.cancelAll();
      if (!n) void vscode.window.showInformationMessage(vscode.l10n.t('No bot is running.'));
      return n;
    }),
    vscode.commands.registerCommand(Commands.verifyIntegrity, async () => {
      const store = await audit.store();
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Verifying the audit log…') },
        async () => store.audit(),
      );
      if (r.damage) {
        void vscode.window.showErrorMessage(vscode.l10n.t('The audit log\'s database file is damaged: {0}', r.damage));
        return r;
      }
      // The message is not awaited: the command returns the result while the notification waits for a click.
      if (r.ok) {
        const copy = vscode.l10n.t('Copy Head Hash');
        void vscode.window
          .showInformationMessage(vscode.l10n.t('Audit log intact: {0}/{0} entries valid. Head hash {1}', r.count, r.headHash), copy)
          .then((choice) => {
            if (choice === copy) void vscode.env.clipboard.writeText(r.headHash);
          });
      } else {
        const show = vscode.l10n.t('Show Entry');
        const b = r.firstBroken!;
        void vscode.window
          .showErrorMessage(vscode.l10n.t('Audit log broken at entry {0}: {1}', b.id, b.reason), show)
          .then((choice) => {
            if (choice === show) void vscode.commands.executeCommand(Commands.showEvent, b.id);
          });
      }
      return r;
    }),
    // `query`: export only the entries that match (the audit log page exports its filtered view).
    vscode.commands.registerCommand(Commands.exportAuditLog, async (to?: vscode.Uri, format?: ExportFormat, query = '', log: LogName = 'local') => {
      // The team log's entries when the page reads it (its Local / Team switch).
      const store: AuditLogReader = log === 'team' && team ? await team.reader() : await audit.store();
      const ext = format === 'ndjson' ? 'ndjson' : format === 'fhir' ? 'json' : 'csv';
      const target =
        to ??
        (await vscode.window.showSaveDialog({
          title: query ? vscode.l10n.t('Export Filtered Audit Log') : vscode.l10n.t('Export Audit Log'),
          defaultUri: vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, `${log === 'team' ? 'team-audit-log' : 'audit-log'}.${ext}`),
          filters: { CSV: ['csv'], NDJSON: ['ndjson', 'jsonl'], 'FHIR Bundle': ['json'] },
        }));
      if (!target) return undefined;
      const fmt: ExportFormat = format ?? (target.path.endsWith('.csv') ? 'csv' : target.path.endsWith('.json') ? 'fhir' : 'ndjson');
      const out = fs.createWriteStream(target.fsPath);
      const n = await store.exportTo(query, fmt, out, { end: true });
      void vscode.window.showInformationMessage(vscode.l10n.t('Exported {0} entries to {1}', n, vscode.workspace.asRelativePath(target)));
      return n;
    }),
    vscode.commands.registerCommand(Commands.copyEventJson, async (target: Target) => {
      const entry = typeof target === 'number' || (target && typeof target === 'object' && 'entry' in target) ? await entryFor(target) : undefined;
      if (!entry) return undefined;
      const text = JSON.stringify(entry, null, 2);
      await vscode.env.clipboard.writeText(text);
      return text;
    }),
  );
}
