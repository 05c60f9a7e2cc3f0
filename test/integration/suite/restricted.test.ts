// Runs in a window whose workspace is NOT trusted (Restricted Mode).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { BotAuditApi } from '../../../src/extension';
import { api } from './helpers';
import type { BotNode } from '../../../src/tree/nodes/botNode';

async function bots(a: BotAuditApi): Promise<BotNode[]> {
  const out: BotNode[] = [];
  for (const f of await a.tree.getChildren()) out.push(...((await a.tree.getChildren(f)) as BotNode[]));
  return out;
}

describe('Restricted Mode', function () {
  this.timeout(60_000);

  it('runs in an untrusted workspace, with the Bots view and the log still there', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const a = await api();
    await a.bots.refresh();
    const names = (await bots(a)).map((b) => b.bot.name);
    assert.ok(names.includes('hello-bot'));
    await vscode.commands.executeCommand('botAudit.openAuditLog');
    assert.ok(a.auditLogPanel());
    a.auditLogPanel()?.panel.dispose();
  });

  it('refuses to run a bot, from the command and from the API, and records nothing', async () => {
    const a = await api();
    const before = (await a.query('action:EXECUTED')).total;
    const uri = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'bots', 'hello-bot.ts');
    assert.equal(await vscode.commands.executeCommand('botAudit.runBot', uri), undefined);
    assert.equal(await vscode.commands.executeCommand('botAudit.runCurrentFile'), undefined);
    assert.equal(await vscode.commands.executeCommand('botAudit.debugBot', uri), undefined);
    assert.equal(await vscode.commands.executeCommand('botAudit.debugCurrentFile'), undefined);
    const hello = (await bots(a)).find((b) => b.bot.name === 'hello-bot')!;
    await assert.rejects(a.runs!.run(hello.bot), /trusted workspace/);
    await assert.rejects(a.debug!.debug(hello.bot), /trusted workspace/);
    // Nor from a launch configuration (F5, which VS Code itself refuses in Restricted Mode): the bot-audit type starts nothing.
    const folder = vscode.workspace.workspaceFolders![0];
    assert.equal(await a.debug!.resolveDebugConfigurationWithSubstitutedVariables(folder, { type: 'bot-audit', request: 'launch', name: 'Debug hello-bot', bot: 'bots/hello-bot.ts' }), undefined);
    assert.equal(vscode.debug.activeDebugSession, undefined);
    // Nor does a breakpoint set in a bot start a process for debugging ahead (as it does when trusted).
    const bp = new vscode.SourceBreakpoint(new vscode.Location(uri, new vscode.Position(12, 2)));
    vscode.debug.addBreakpoints([bp]);
    try {
      assert.equal(await a.debug!.prepareFor([bp]), false);
      assert.equal(await a.runs!.debugProcessesWaiting(), 0);
    } finally {
      vscode.debug.removeBreakpoints([bp]);
    }
    assert.equal(a.debug!.activeRuns, 0);
    assert.equal(a.runs!.activeRuns, 0);
    assert.equal((await a.query('action:EXECUTED')).total, before);
  });

  it('offers no Run or Debug CodeLens on a bot', async () => {
    const uri = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'bots', 'hello-bot.ts');
    await vscode.workspace.openTextDocument(uri); // the provider command needs the document open
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri, 10);
    const titles = lenses.map((l) => l.command?.title ?? '');
    assert.ok(titles.length >= 1, 'the events lens is still there');
    assert.ok(!titles.some((t) => /Run|Debug/.test(t)), `no run or debug lens: ${titles.join(' | ')}`);
  });

  it('hides the run commands from the palette and the tree when the workspace is not trusted', () => {
    const pkg = vscode.extensions.getExtension('bot-audit.bot-audit')!.packageJSON;
    const runCommands = [
      'botAudit.runBot',
      'botAudit.runBotWithInput',
      'botAudit.runCurrentFile',
      'botAudit.replayEvent',
      'botAudit.debugBot',
      'botAudit.debugCurrentFile',
      'botAudit.debugReplay',
    ];
    const menus: { command: string; when?: string }[] = Object.values(pkg.contributes.menus as Record<string, { command: string; when?: string }[]>).flat();
    for (const c of runCommands) {
      const entries = menus.filter((m) => m.command === c);
      assert.ok(entries.length > 0, `${c} has menu entries`);
      for (const m of entries) assert.match(m.when ?? '', /isWorkspaceTrusted/, `${c} is hidden when untrusted`);
      assert.equal(pkg.contributes.commands.find((x: { command: string }) => x.command === c)?.enablement, 'isWorkspaceTrusted', `${c} is disabled when untrusted`);
    }
    // The setting that picks the Node binary bots run on is not taken from an untrusted workspace.
    assert.ok(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations.includes('botAudit.nodePath'));
  });
});
