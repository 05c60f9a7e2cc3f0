// Running bots: run, run with input, run the current file, replay an entry, cancel the runs; and
// the same under the debugger (debug a bot, the current file, a replay).
import * as fs from 'node:fs';
import vscode = require('vscode');
import { Commands } from '../constants';
import { readSampleInput } from '../core/bots/config';
import { replayInput } from '../core/runner/replay';
import { timeAgo } from '../core/format/time';
import { log } from '../logger';
import { type RunInput, UntrustedWorkspaceError } from '../services/runService';
import type { DebugRun } from '../services/debugService';
import type { WorkspaceBot } from '../services/botsModel';
import type { CommandTable, LogCommandContext } from './context';
import { botFor, entryFor, lastRun, type Target } from './targets';

export function runCommands(c: LogCommandContext): CommandTable {
  return {
    [Commands.runBot]: (target: Target) => runBot(c, target),
    [Commands.runBotWithInput]: (target: Target, given?: RunInput) => runBotWithInput(c, target, given),
    [Commands.runCurrentFile]: () => runCurrentFile(c),
    [Commands.replayEvent]: (target: Target) => replayEvent(c, target),
    [Commands.cancelRuns]: () => cancelRuns(c),
    [Commands.debugBot]: (target: Target, given?: RunInput) => debugBot(c, target, given),
    [Commands.debugCurrentFile]: () => debugCurrentFile(c),
    [Commands.debugReplay]: (target: Target) => debugReplay(c, target),
  };
}

const pickBotFor = (c: LogCommandContext, target: Target, placeHolder: string) => botFor(c.bots, () => c.audit.store(), target, placeHolder);

async function runBot(c: LogCommandContext, target: Target) {
  const bot = await pickBotFor(c, target, vscode.l10n.t('Bot to run'));
  return bot && runAndReport(c, bot, defaultInput(bot));
}

async function runBotWithInput(c: LogCommandContext, target: Target, given?: RunInput) {
  const bot = await pickBotFor(c, target, vscode.l10n.t('Bot to run'));
  if (!bot) return undefined;
  const input = given ?? (await chooseInput(c, bot));
  return input && runAndReport(c, bot, input);
}

/** The bot of the active editor's file, saved first (undefined, having said why, when there is none). */
async function currentFileBot(c: LogCommandContext): Promise<WorkspaceBot | undefined> {
  const doc = vscode.window.activeTextEditor?.document;
  if (!doc) {
    void vscode.window.showInformationMessage(vscode.l10n.t('Open a bot file first.'));
    return undefined;
  }
  if (doc.isDirty) await doc.save();
  return pickBotFor(c, doc.uri, '');
}

async function runCurrentFile(c: LogCommandContext) {
  const bot = await currentFileBot(c);
  return bot && runAndReport(c, bot, defaultInput(bot));
}

/** A recorded run's bot and input, for a replay (undefined, having said why, when there is none). */
async function replayOf(c: LogCommandContext, target: Target): Promise<{ bot: WorkspaceBot; input: RunInput } | undefined> {
  const entry = await entryFor(await c.audit.store(), target);
  if (!entry) return undefined;
  const bot = (await c.bots.getBots()).find((b) => b.entityId === entry.entityId);
  if (!bot) {
    void vscode.window.showWarningMessage(vscode.l10n.t('The bot of entry {0} ({1}) is no longer in the workspace.', entry.id, entry.entityId));
    return undefined;
  }
  const input = replayInput(entry);
  if (!input.ok) {
    void vscode.window.showErrorMessage(vscode.l10n.t('Cannot replay: {0}', input.reason));
    return undefined;
  }
  return { bot, input: { inputText: input.inputText, contentType: input.contentType, replayOf: entry.id } };
}

async function replayEvent(c: LogCommandContext, target: Target) {
  const r = await replayOf(c, target);
  return r && runAndReport(c, r.bot, r.input);
}

async function debugBot(c: LogCommandContext, target: Target, given?: RunInput) {
  const bot = await pickBotFor(c, target, vscode.l10n.t('Bot to debug'));
  return bot && debugAndReport(c, bot, given ?? defaultInput(bot));
}

async function debugCurrentFile(c: LogCommandContext) {
  const bot = await currentFileBot(c);
  return bot && debugAndReport(c, bot, defaultInput(bot));
}

async function debugReplay(c: LogCommandContext, target: Target) {
  const r = await replayOf(c, target);
  return r && debugAndReport(c, r.bot, r.input);
}

/** Starts a run under the debugger; resolves once js-debug is attached (the run's result is in it). */
function debugAndReport(c: LogCommandContext, bot: WorkspaceBot, input: RunInput): Promise<DebugRun | undefined> {
  return reportFailure(() => c.debug.debug(bot, input), `Could not debug ${bot.name}`, (reason) => vscode.l10n.t('Could not debug {0}: {1}', bot.name, reason));
}

function cancelRuns(c: LogCommandContext): number {
  const n = c.runs.cancelAll();
  if (!n) void vscode.window.showInformationMessage(vscode.l10n.t('No bot is running.'));
  return n;
}

/** The default input of a run: the bot's first named sample input, if it has one. */
function defaultInput(bot: WorkspaceBot): RunInput {
  const [first] = Object.values(bot.settings.inputs);
  return first ? readSampleInput(bot.workspaceFolder.uri.fsPath, first) : {};
}

function runAndReport(c: LogCommandContext, bot: WorkspaceBot, input: RunInput) {
  return reportFailure(() => c.runs.run(bot, input), `Could not run ${bot.name}`, (reason) => vscode.l10n.t('Could not run {0}: {1}', bot.name, reason));
}

/**
 * Starts a run (or a debug run), telling the user when it cannot: a warning in an untrusted
 * workspace, else an error, logged as `logged`, with `shown`'s message.
 */
async function reportFailure<T>(start: () => Promise<T>, logged: string, shown: (reason: string) => string): Promise<T | undefined> {
  try {
    return await start();
  } catch (e) {
    if (e instanceof UntrustedWorkspaceError) void vscode.window.showWarningMessage(e.message, { modal: false });
    else {
      log.error(logged, e);
      void vscode.window.showErrorMessage(shown(e instanceof Error ? e.message : String(e)));
    }
    return undefined;
  }
}

/** Asks for a run's input: a sample input, the last run's, a JSON file of the workspace, or typed. */
async function chooseInput(c: LogCommandContext, bot: WorkspaceBot): Promise<RunInput | undefined> {
  type Item = vscode.QuickPickItem & { get?: () => Promise<RunInput | undefined> };
  const root = bot.workspaceFolder.uri.fsPath;
  const items: Item[] = [];
  const samples = Object.entries(bot.settings.inputs);
  if (samples.length) items.push({ label: vscode.l10n.t('Sample inputs'), kind: vscode.QuickPickItemKind.Separator });
  for (const [name, sample] of samples) {
    items.push({ label: `$(beaker) ${name}`, description: 'file' in sample ? sample.file : undefined, get: async () => readSampleInput(root, sample) });
  }
  const last = await c.audit
    .store()
    .then((s) => lastRun(s, bot))
    .catch(() => undefined);
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
}
