import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BotAuditApi } from '../../../src/extension';
import { api, until } from './helpers';
import type { RunResult } from '../../../src/core/runner';
import type { BotNode, BotsTreeNode, EventNode } from '../../../src/tree/nodes/botNode';
import type { AuditLogPanel } from '../../../src/panels/auditLog/auditLogPanel';
import type { ResultNotification } from '../../../src/panels/protocol';

function botUri(rel: string): vscode.Uri {
  return vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, rel);
}

async function botNode(a: BotAuditApi, name: string): Promise<BotNode> {
  for (const f of await a.tree.getChildren()) {
    for (const b of await a.tree.getChildren(f)) {
      if ((b as BotNode).bot?.name === name) return b as BotNode;
    }
  }
  throw new Error(`no bot ${name} in the tree`);
}

const run = (rel: string) => vscode.commands.executeCommand<RunResult>('botAudit.runBot', botUri(rel));

describe('Running bots', function () {
  this.timeout(120_000);

  it('checks an HL7 v2 input with @medplum/core, loaded from its own file beside the bundle on first use', async () => {
    const a = await api();
    const bot = (await a.bots.getBots()).find((b) => b.relPath === 'bots/hello-bot.ts')!;
    // The extension's bundle requires @medplum/core (dist/medplum-core.js) only when it is needed.
    assert.ok(fs.existsSync(path.join(vscode.extensions.getExtension('bot-audit.bot-audit')!.extensionPath, 'dist', 'medplum-core.js')));
    const contentType = 'x-application/hl7-v2+er7';
    const bad = await a.runs!.run(bot, { inputText: 'hello there', contentType });
    assert.equal(bad.outcome, 4, bad.outcomeDesc);
    assert.match(bad.outcomeDesc, /HL7 v2/);
    const good = await a.runs!.run(bot, { inputText: 'MSH|^~\\&|LAB|HOSP|APP|FAC|20240101120000||ADT^A01|MSG1|P|2.5\rPID|1||123^^^HOSP||Doe^Jane', contentType });
    // Parsed with @medplum/core in the extension host (the input check), then in the bot's worker.
    assert.equal(good.outcome, 0, good.outcomeDesc);
  });

  it('runs a bot from the command with its first sample input, and records a Success event', async () => {
    const a = await api();
    const r = await run('bots/hello-bot.ts');
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.ok(r.entryId);
    const e = (await a.query(`id:${r.entryId}`)).entries[0];
    assert.equal(e.action, 'EXECUTED');
    assert.equal(e.entityName, 'Bot');
    assert.equal(e.entityId, 'bots/hello-bot.ts');
    assert.equal(e.outcome, 0);
    assert.equal(e.user, a.audit!.user);
    assert.match(e.outcomeDesc!, /Greeting Ada in en/);
    assert.match(e.outcomeDesc!, /Input was \{ name: 'Ada', language: 'en' \}/, 'objects print as Node prints them');
    assert.ok(e.periodStart! <= e.periodEnd!);
    assert.equal(JSON.parse(e.input!).name, 'Ada');
  });

  it('shows the last outcome on the bot and its events under it, newest first', async () => {
    const a = await api();
    const latest = await run('bots/hello-bot.ts');
    const node = await until('the tree to show the run', async () => {
      const n = await botNode(a, 'hello-bot');
      return n.runs?.last?.id === latest.entryId && n;
    });
    const item = node.toTreeItem();
    assert.match(String(item.description), /^Success · /);
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'pass');
    assert.equal(item.collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
    const events = (await a.tree.getChildren(node)) as EventNode[];
    assert.ok(events.length >= 2);
    assert.ok(events[0].entry.id > events[1].entry.id, 'newest first');
    const ev = events[0].toTreeItem();
    assert.equal(ev.label, 'Success');
    assert.equal(ev.contextValue, 'event');
    assert.match(String(ev.description), / ms|s ·|\d s$/);
    assert.equal(ev.command?.command, 'botAudit.showEvent');
  });

  it('gives each failure its outcome and kind', async function () {
    const cases: [string, number, string][] = [
      ['bots/validate-patient.ts', 4, 'client-error'],
      ['bots/broken-bot.ts', 8, 'error'],
      ['bots/endless-bot.ts', 8, 'timeout'],
      ['bots/quitter.js', 12, 'exit'],
      ['bots/memory-hog.ts', 12, 'out-of-memory'],
    ];
    for (const [rel, outcome, kind] of cases) {
      const r = await run(rel);
      assert.equal(r.outcome, outcome, `${rel}: ${r.outcomeDesc.slice(0, 500)}`);
      assert.equal(r.failureKind, kind, rel);
      assert.ok(r.entryId, `${rel} was recorded`);
    }
    // The extension host is still here and still runs bots.
    assert.equal((await run('bots/hello-bot.ts')).outcome, 0);
  });

  it('applies the editor’s default timeout to bots whose settings file does not set one', async () => {
    const a = await api();
    const cfg = vscode.workspace.getConfiguration('botAudit');
    await cfg.update('defaultTimeout', 1, vscode.ConfigurationTarget.Workspace);
    try {
      const hello = await until('the new default on hello-bot', async () => {
        const n = await botNode(a, 'hello-bot');
        return n.bot.settings.timeout === 1 && n;
      });
      assert.equal(hello.bot.settings.timeout, 1);
      assert.equal((await botNode(a, 'endless-bot')).bot.settings.timeout, 2, 'bot-audit.json’s own timeout wins');
      assert.equal((await botNode(a, 'memory-hog')).bot.settings.timeout, 30);
    } finally {
      await cfg.update('defaultTimeout', undefined, vscode.ConfigurationTarget.Workspace);
    }
    await until('the built-in default back', async () => (await botNode(a, 'hello-bot')).bot.settings.timeout === 10);
  });

  it('refuses input that does not parse before the bot starts', async () => {
    const r = await vscode.commands.executeCommand<RunResult>('botAudit.runBotWithInput', botUri('bots/hello-bot.ts'), { inputText: '{not json' });
    assert.equal(r.outcome, 4);
    assert.equal(r.failureKind, 'bad-input');
  });

  it('records what a CRUD bot changed, with snapshots and the run’s trace id', async () => {
    const a = await api();
    const r = await run('bots/records/patient-crud.ts');
    assert.equal(r.outcome, 0, r.outcomeDesc);
    const changes = (await a.query([{ column: 'action', op: 'oneOf', value: ['CREATED', 'UPDATED', 'DELETED'] }, { column: 'user', op: 'equals', value: 'Bot/patient-crud' }], 50)).entries.reverse();
    assert.deepEqual(changes.map((c) => `${c.action} ${c.entityName}`), ['CREATED Patient', 'CREATED Observation', 'UPDATED Patient', 'DELETED Observation']);
    for (const c of changes) {
      assert.equal(c.traceId, r.traceId);
      assert.equal(c.onBehalfOf, a.audit!.user, 'a bot’s change names the person who ran it');
    }
    // The run's event document lists what it changed.
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.from({ scheme: 'bot-audit-event', path: `/entry-${r.entryId}.md` }));
    assert.match(doc.getText(), /## Changes made by this run\n\n- `#\d+ CREATED Patient\/[0-9a-f-]+`\n- `#\d+ CREATED Observation\//);
    const upd = changes[2];
    assert.equal((upd.before as { name: { family: string }[] }).name[0].family, 'Lovelace');
    assert.equal((upd.after as { name: { family: string }[] }).name[0].family, 'LOVELACE');
  });

  it('runs a Medplum bot against the local FHIR server (on its own thread): transaction, search, history, email; resources outlive the run', async () => {
    const a = await api();
    const r = await run('bots/records/care-summary.ts');
    assert.equal(r.outcome, 0, r.outcomeDesc);
    const v = JSON.parse(r.returnValue!) as { patient: { reference: string }; readings: number[]; versions: number };
    assert.deepEqual([v.readings, v.versions], [[74, 68], 2]);
    assert.match(r.output, /sendEmail captured, not sent: to ward@example\.com; subject: Admitted Doe/);
    const store = await a.audit!.localStore();
    const changes = store.byTrace(r.traceId);
    assert.deepEqual(
      changes.map((c) => `${c.action} ${c.entityName}`),
      ['CREATED Patient', 'CREATED Observation', 'CREATED Observation', 'UPDATED Patient', 'CREATED Email', 'EXECUTED Bot'],
    );
    // A second run finds its own new patient, and the first one's is still there: one store, in the log.
    const again = await run('bots/records/care-summary.ts');
    assert.equal(again.outcome, 0, again.outcomeDesc);
    assert.notEqual(JSON.parse(again.returnValue!).patient.reference, v.patient.reference);
    assert.deepEqual(
      store.history('Patient', v.patient.reference.split('/')[1]).map((e) => e.action),
      ['CREATED', 'UPDATED'],
    );
  });

  it('writes a log-only bot’s run to the log, not the store, and says why its events are empty', async () => {
    const a = await api();
    const r = await run('bots/nightly-report.ts');
    assert.equal(r.outcome, 0);
    assert.equal(r.entryId, undefined);
    assert.equal(r.logged, true);
    const node = await botNode(a, 'nightly-report');
    const kids = (await a.tree.getChildren(node)) as BotsTreeNode[];
    assert.equal(kids.length, 1);
    const notice = kids[0].toTreeItem();
    assert.equal(notice.contextValue, 'notice');
    assert.match(String(notice.label), /not stored/);
    assert.equal(notice.command?.command, 'botAudit.openBotSettings');
  });

  it('replays an event with its stored input; the new event refers to it', async () => {
    const a = await api();
    const first = await run('bots/hello-bot.ts');
    const again = await vscode.commands.executeCommand<RunResult>('botAudit.replayEvent', first.entryId);
    assert.equal(again.outcome, 0);
    const e = (await a.query(`id:${again.entryId}`)).entries[0];
    assert.equal(e.replayOf, first.entryId);
    assert.equal(e.input, (await a.query(`id:${first.entryId}`)).entries[0].input);
  });

  it('runs the current file as a bot', async () => {
    await vscode.window.showTextDocument(botUri('bots/hello-bot.ts'));
    const r = await vscode.commands.executeCommand<RunResult>('botAudit.runCurrentFile');
    assert.equal(r.outcome, 0);
    assert.equal(r.bot.entityId, 'bots/hello-bot.ts');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('cancels a running bot at once', async () => {
    const a = await api();
    const pending = run('bots/endless-bot.ts');
    await until('the run to start', () => a.runs!.activeRuns > 0);
    assert.equal(await vscode.commands.executeCommand('botAudit.cancelRuns'), 1);
    const r = await pending;
    assert.equal(r.outcome, 8);
    // 'cancelled', not 'timeout': it stopped for the cancel, before its 2 s timeout.
    assert.equal(r.failureKind, 'cancelled');
  });

  it('opens an event as a read-only document with the whole description', async () => {
    const r = await run('bots/broken-bot.ts');
    await vscode.commands.executeCommand('botAudit.showEvent', r.entryId);
    const doc = await until('the event document', () => vscode.window.activeTextEditor?.document.uri.scheme === 'bot-audit-event' && vscode.window.activeTextEditor.document);
    const text = doc.getText();
    assert.match(text, new RegExp(`^# Entry ${r.entryId}: EXECUTED Bot`));
    assert.match(text, /Serious failure/);
    assert.match(text, /TypeError/);
    assert.match(text, /broken-bot\.ts:\d+/, 'the stack points at the bot’s own file');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('copies an event as JSON', async () => {
    const r = await run('bots/hello-bot.ts');
    const text = await vscode.commands.executeCommand<string>('botAudit.copyEventJson', r.entryId);
    assert.equal(JSON.parse(text).id, r.entryId);
    assert.equal(await vscode.env.clipboard.readText(), text);
  });

  it('verifies the log’s hash chain', async () => {
    const a = await api();
    const v = await vscode.commands.executeCommand<{ ok: boolean; count: number; headHash: string }>('botAudit.verifyIntegrity');
    assert.equal(v.ok, true);
    assert.equal(v.count, (await a.query([])).total);
    assert.match(v.headHash, /^[0-9a-f]{64}$/);
  });

  it('exports the log as CSV, NDJSON and a FHIR Bundle', async () => {
    const a = await api();
    const total = (await a.query([])).total;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-export-'));
    const csv = vscode.Uri.file(path.join(dir, 'log.csv'));
    assert.equal(await vscode.commands.executeCommand('botAudit.exportAuditLog', csv), total);
    const lines = fs.readFileSync(csv.fsPath, 'utf8').trim().split('\n');
    assert.match(lines[0], /^id,/);
    const nd = vscode.Uri.file(path.join(dir, 'log.ndjson'));
    assert.equal(await vscode.commands.executeCommand('botAudit.exportAuditLog', nd), total);
    assert.equal(fs.readFileSync(nd.fsPath, 'utf8').trim().split('\n').length, total);
    const fhir = vscode.Uri.file(path.join(dir, 'log.json'));
    await vscode.commands.executeCommand('botAudit.exportAuditLog', fhir);
    const bundle = JSON.parse(fs.readFileSync(fhir.fsPath, 'utf8'));
    assert.equal(bundle.resourceType, 'Bundle');
    assert.ok(bundle.entry.some((e: { resource: { resourceType: string } }) => e.resource.resourceType === 'AuditEvent'));
  });
});

describe('Bot events in the editor', function () {
  this.timeout(60_000);

  it('puts Run, Run with Input, Debug and the event count above the handler', async () => {
    await run('bots/hello-bot.ts');
    await vscode.workspace.openTextDocument(botUri('bots/hello-bot.ts')); // the provider command needs the document open
    const lenses = await until('the CodeLenses', async () => {
      const l = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', botUri('bots/hello-bot.ts'), 10);
      return l.length === 4 && l.every((x) => x.command) && l;
    });
    const titles = lenses.map((l) => l.command!.title);
    assert.equal(titles[0], '$(play) Run');
    assert.equal(titles[1], 'Run with Input…');
    assert.equal(titles[2], '$(debug-alt-small) Debug');
    assert.equal(lenses[2].command!.command, 'botAudit.debugBot');
    assert.match(titles[3], /^Events \(\d+\) · last: Success (just now|\d+ s ago)$/);
    const doc = await vscode.workspace.openTextDocument(botUri('bots/hello-bot.ts'));
    assert.match(doc.lineAt(lenses[0].range.start.line).text, /export async function handler/);
    assert.equal(String(lenses[0].command!.arguments?.[0]), botUri('bots/hello-bot.ts').toString());
  });

  it('links the stack trace in an event document to the bot’s source line', async () => {
    const r = await run('bots/broken-bot.ts');
    const uri = vscode.Uri.from({ scheme: 'bot-audit-event', path: `/entry-${r.entryId}.md` });
    await vscode.workspace.openTextDocument(uri);
    const links = await vscode.commands.executeCommand<vscode.DocumentLink[]>('vscode.executeLinkProvider', uri);
    const link = links.find((l) => l.target?.path.endsWith('/bots/broken-bot.ts'));
    assert.ok(link, `a link to broken-bot.ts among ${links.map((l) => l.target?.toString()).join(', ')}`);
    assert.match(link.target!.fragment, /^L12(,\d+)?$/);
  });

  it('shows a bot’s events in the audit log with the Event-tab columns', async () => {
    const a = await api();
    const panel = await vscode.commands.executeCommand<AuditLogPanel>('botAudit.showBotEvents', botUri('bots/hello-bot.ts'));
    assert.equal(panel.currentVariant.kind, 'botEvents');
    assert.equal(panel.currentVariant.kind === 'botEvents' && panel.currentVariant.bot, 'hello-bot');
    // A webview can take a while to load on a busy machine; the page asks its first query itself.
    const result = await until('the bot events result', () => panel.isReady && panel.sent.find((m): m is ResultNotification => m.type === 'result' && !m.queryError), 45_000);
    assert.ok(result.total > 0);
    assert.ok(result.first.every((e) => e.action === 'EXECUTED' && e.entityId === 'bots/hello-bot.ts'));
    assert.ok(result.first.every((e) => e.outcomeName !== undefined));
    assert.equal(a.auditLogPanel()?.panel.title, 'Events: hello-bot');
    a.auditLogPanel()?.panel.dispose();
  });
});
