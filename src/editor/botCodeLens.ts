import vscode = require('vscode');
import { Commands } from '../constants';
import { findHandlerLine } from '../core/bots/botFiles';
import { timeAgo } from '../core/format/time';
import { STACK_LOCATION_RE } from '../core/format/outcomeDesc';
import { outcomeName } from '../core/store/types';
import { Disposable } from '../disposable';
import type { AuditService } from '../services/auditService';
import type { BotsModel } from '../services/botsModel';
import { botRunsFilter } from '../core/bots/discovery';

/** "▶ Run", "Run with Input…", "Debug" and "Events (N) · last: …" above a bot's exported handler. */
export class BotCodeLensProvider extends Disposable implements vscode.CodeLensProvider {
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this.changed.event;

  constructor(
    private readonly bots: BotsModel,
    private readonly audit: AuditService,
  ) {
    super();
    this.register(audit.onDidAppend(() => this.changed.fire()));
    this.register(bots.onDidChange(() => this.changed.fire()));
    this.register(
      vscode.languages.registerCodeLensProvider(
        [
          { scheme: 'file', language: 'typescript' },
          { scheme: 'file', language: 'javascript' },
        ],
        this,
      ),
    );
  }

  async provideCodeLenses(doc: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    const bot = await this.bots.botAt(doc.uri);
    if (!bot) return [];
    const line = findHandlerLine(doc.getText());
    if (line === undefined) return [];
    const range = new vscode.Range(line, 0, line, 0);
    const lenses: vscode.CodeLens[] = [];
    if (vscode.workspace.isTrusted) {
      lenses.push(
        new vscode.CodeLens(range, { title: `$(play) ${vscode.l10n.t('Run')}`, command: Commands.runBot, arguments: [doc.uri] }),
        new vscode.CodeLens(range, { title: vscode.l10n.t('Run with Input…'), command: Commands.runBotWithInput, arguments: [doc.uri] }),
        new vscode.CodeLens(range, { title: `$(debug-alt-small) ${vscode.l10n.t('Debug')}`, command: Commands.debugBot, arguments: [doc.uri] }),
      );
    }
    if (bot.settings.auditEventDestination.includes('resource')) {
      const store = await this.audit.store();
      const page = await store.query(botRunsFilter(bot.entityId), { limit: 1 });
      const last = page.entries[0];
      const title = last
        ? vscode.l10n.t('Events ({0}) · last: {1} {2}', page.total, outcomeName(last.outcome), timeAgo(last.recorded))
        : vscode.l10n.t('Events (0)');
      lenses.push(new vscode.CodeLens(range, { title, command: Commands.showBotEvents, arguments: [doc.uri] }));
    } else {
      lenses.push(new vscode.CodeLens(range, { title: vscode.l10n.t('Events go to the log only'), command: Commands.openBotSettings, arguments: [doc.uri] }));
    }
    return lenses;
  }
}

/** Makes `path/to/bot.ts:12:30` in an event document a link to that line of the bot. */
export class StackTraceLinkProvider implements vscode.DocumentLinkProvider {
  provideDocumentLinks(doc: vscode.TextDocument): vscode.DocumentLink[] {
    const text = doc.getText();
    const links: vscode.DocumentLink[] = [];
    for (const m of text.matchAll(STACK_LOCATION_RE)) {
      const start = doc.positionAt(m.index!);
      const end = doc.positionAt(m.index! + m[0].length);
      const target = vscode.Uri.file(m[1]).with({ fragment: `L${m[2]}${m[3] ? `,${m[3]}` : ''}` });
      const link = new vscode.DocumentLink(new vscode.Range(start, end), target);
      link.tooltip = vscode.l10n.t('Open the bot at this line');
      links.push(link);
    }
    return links;
  }
}
