// The audit log page's host side, in the real VS Code: the panel answers the page's protocol
// messages from the workspace's log, follows new entries, and handles links, history and export.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BotAuditApi } from '../../../src/extension';
import { api, until, EXTENSION_ID } from './helpers';
import type { AuditLogPanel } from '../../../src/panels/auditLog/auditLogPanel';
import { decodeLogLink } from '../../../src/panels/links';
import type { HostNotification, ResultNotification, TotalNotification } from '../../../src/panels/protocol';

/** The first message after `from` that matches. */
function sentAfter<T extends HostNotification>(panel: AuditLogPanel, from: number, pred: (m: HostNotification) => m is T): T | undefined {
  return panel.sent.slice(from).find(pred);
}
const isResult =
  (seq: number) =>
  (m: HostNotification): m is ResultNotification =>
    m.type === 'result' && m.seq === seq;

describe('Audit log page (host side)', function () {
  this.timeout(120_000);
  let a: BotAuditApi;
  let panel: AuditLogPanel;
  const stamp = `al-${Date.now()}`;

  before(async () => {
    a = await api();
    // A small history of one entity, and a value that must stay text.
    await a.record({ user: 'dev@example.com', action: 'CREATED', entityName: 'story', entityId: stamp, after: { id: stamp, title: 'One', tags: ['a'] } });
    await a.record({
      user: 'dev@example.com',
      action: 'UPDATED',
      entityName: 'story',
      entityId: stamp,
      before: { id: stamp, title: 'One', tags: ['a'] },
      after: { id: stamp, title: 'Two', tags: ['a', 'b'] },
    });
    await a.record({ user: 'ops@example.com', action: 'DELETED', entityName: 'story', entityId: stamp, before: { id: stamp, title: 'Two', tags: ['a', 'b'] } });
    await vscode.commands.executeCommand('botAudit.openAuditLog');
    panel = await until('the audit log panel', () => a.auditLogPanel());
    await until('the webview to say ready', () => panel.isReady, 45_000);
  });

  after(() => a.auditLogPanel()?.panel.dispose());

  it('answers a query with the total, the log size and the first page, newest first', async () => {
    const from = panel.sent.length;
    await panel.onMessage({ type: 'query', seq: 9001, query: `entity-id:${stamp}`, order: 'desc' });
    const r = await until('the result', () => sentAfter(panel, from, isResult(9001)));
    assert.equal(r.total, 3);
    assert.ok(r.logSize >= 3);
    assert.deepEqual(
      r.first.map((e) => e.action),
      ['DELETED', 'UPDATED', 'CREATED'],
    );
    assert.equal(r.queryError, undefined);
  });

  it('sends a broad query’s first page at once, and its count after', async () => {
    // More than 2,000 matches is broad: the first page goes out before the count.
    const name = `broad-${stamp}`;
    await Promise.all(Array.from({ length: 2050 }, (_, i) => a.record({ user: 'dev@example.com', action: 'UPDATED', entityName: name, entityId: String(i) })));
    const from = panel.sent.length;
    await panel.onMessage({ type: 'query', seq: 9002, query: `entity:${name}`, order: 'desc' });
    const r = await until('the result', () => sentAfter(panel, from, isResult(9002)));
    assert.equal(r.counting, true);
    assert.equal(r.first.length, 100);
    assert.equal(r.total, 100);
    assert.equal(r.first[0].entityId, '2049');
    const t = await until('the count', () => sentAfter(panel, from, (m): m is TotalNotification => m.type === 'total' && m.seq === 9002));
    assert.equal(t.total, 2050);
  });

  it('serves rows by position, and ignores questions about a result it does not hold', async () => {
    const from = panel.sent.length;
    await panel.onMessage({ type: 'query', seq: 9002, query: `entity-id:${stamp}`, order: 'asc' });
    await until('the result', () => sentAfter(panel, from, isResult(9002)));
    await panel.onMessage({ type: 'rows', seq: 9002, start: 1, count: 2 });
    const rows = await until('rows', () => sentAfter(panel, from, (m): m is Extract<HostNotification, { type: 'rows' }> => m.type === 'rows' && m.seq === 9002));
    assert.deepEqual(
      rows.rows.map((e) => e.action),
      ['UPDATED', 'DELETED'],
    );
    const before = panel.sent.length;
    await panel.onMessage({ type: 'rows', seq: 1234567, start: 0, count: 2 });
    assert.equal(panel.sent.length, before, 'no answer about a result the host does not hold');
  });

  it('says what is wrong with a bad query, and where, in the page’s own text', async () => {
    const from = panel.sent.length;
    await panel.onMessage({ type: 'query', seq: 9003, query: 'user:x action:SMILED', order: 'desc' });
    const r = await until('the result', () => sentAfter(panel, from, isResult(9003)));
    assert.match(r.queryError ?? '', /^at column 15: .*SMILED/);
    assert.equal(r.first.length, 0);
  });

  it('selects an entry by ID and says where it is (permalinks)', async () => {
    const entry = (await a.query(`entity-id:${stamp} action:UPDATED`)).entries[0];
    const from = panel.sent.length;
    await panel.onMessage({ type: 'query', seq: 9004, query: `entity-id:${stamp}`, order: 'desc', select: entry.id });
    const r = await until('the result', () => sentAfter(panel, from, isResult(9004)));
    assert.equal(r.selectedIndex, 1);
  });

  it('sends an entry’s details with its snapshots as JSON text', async () => {
    const entry = (await a.query(`entity-id:${stamp} action:UPDATED`)).entries[0];
    const from = panel.sent.length;
    await panel.onMessage({ type: 'detail', id: entry.id });
    const d = await until('the detail', () => sentAfter(panel, from, (m): m is Extract<HostNotification, { type: 'detail' }> => m.type === 'detail' && m.id === entry.id));
    assert.equal(JSON.parse(d.entry!.before!).title, 'One');
    assert.equal(JSON.parse(d.entry!.after!).title, 'Two');
    assert.equal(d.entry!.hash.length, 64);
    const missing = panel.sent.length;
    await panel.onMessage({ type: 'detail', id: 99_999_999 });
    const e = await until('the missing detail', () => sentAfter(panel, missing, (m): m is Extract<HostNotification, { type: 'detail' }> => m.type === 'detail' && m.id === 99_999_999));
    assert.match(e.error ?? '', /not in the log/);
  });

  it('tells the page about new entries that match its query', async () => {
    const from = panel.sent.length;
    await panel.onMessage({ type: 'query', seq: 9005, query: `entity-id:${stamp}`, order: 'desc' });
    await until('the result', () => sentAfter(panel, from, isResult(9005)));
    await a.record({ user: 'dev@example.com', action: 'CREATED', entityName: 'story', entityId: stamp, after: { id: stamp, title: 'Again' } });
    const n = await until('newEntries', () => sentAfter(panel, from, (m): m is Extract<HostNotification, { type: 'newEntries' }> => m.type === 'newEntries' && m.seq === 9005));
    assert.equal(n.count, 1);
    // And the dropdowns learn new values.
    await a.record({ user: `new-user-${stamp}@example.com`, action: 'INVITED', entityName: 'Invite', entityId: stamp });
    await until('choices with the new user', () =>
      panel.sent.slice(from).some((m) => m.type === 'choices' && m.choices.users.includes(`new-user-${stamp}@example.com`)),
    );
  });

  it('copies a vscode:// link that opens the same view and entry', async () => {
    await panel.onMessage({ type: 'copyLink', query: `entity-id:${stamp}`, entry: 7 });
    const text = await vscode.env.clipboard.readText();
    const uri = vscode.Uri.parse(text);
    assert.equal(uri.scheme, vscode.env.uriScheme);
    assert.equal(uri.authority, EXTENSION_ID);
    assert.deepEqual(decodeLogLink(uri.query), { variant: { kind: 'log' }, query: `entity-id:${stamp}`, entry: 7 });
    // The URI handler opens it: the page is told the query and the entry.
    const from = panel.sent.length;
    const opened = a.openLink(uri);
    assert.equal(opened, panel);
    const init = await until('init', () => panel.sent.slice(from).find((m) => m.type === 'init'));
    assert.equal(init.type === 'init' && init.query, `entity-id:${stamp}`);
    assert.equal(init.type === 'init' && init.select, 7);
    assert.equal(init.type === 'init' && init.utc, false, 'the editor’s time zone setting (local) comes along');
  });

  it('refuses a bad link with a message, and opens nothing new', async () => {
    const from = panel.sent.length;
    assert.equal(a.openLink(vscode.Uri.parse(`${vscode.env.uriScheme}://${EXTENSION_ID}/log?entry=DROP%20TABLE`)), undefined);
    assert.equal(a.openLink(vscode.Uri.parse(`${vscode.env.uriScheme}://${EXTENSION_ID}/elsewhere`)), undefined);
    assert.equal(panel.sent.slice(from).filter((m) => m.type === 'init').length, 0);
  });

  it('opens an entity’s history, oldest first, under the history variant', async () => {
    const from = panel.sent.length;
    await panel.onMessage({ type: 'openHistory', entityName: 'story', entityId: stamp });
    assert.equal(panel.panel.title, `History: story/${stamp}`);
    assert.equal(panel.currentVariant.kind, 'history');
    await until('init', () => panel.sent.slice(from).find((m) => m.type === 'init' && m.variant.kind === 'history' && m.order === 'asc'));
    // The variant's filters apply under the page's (empty) query.
    await panel.onMessage({ type: 'query', seq: 9006, query: '', order: 'asc' });
    const r = await until('the result', () => sentAfter(panel, from, isResult(9006)));
    assert.equal(r.total, 4);
    assert.deepEqual(
      r.first.map((e) => e.action),
      ['CREATED', 'UPDATED', 'DELETED', 'CREATED'],
    );
    // Back to the whole log.
    await vscode.commands.executeCommand('botAudit.openAuditLog', '');
    assert.equal(panel.currentVariant.kind, 'log');
  });

  it('exports the filtered view', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-export-')), 'story.ndjson');
    const n = await vscode.commands.executeCommand<number>('botAudit.exportAuditLog', vscode.Uri.file(file), 'ndjson', `entity-id:${stamp} action:CREATED`);
    assert.equal(n, 2);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => JSON.parse(l).action === 'CREATED'));
  });

  it('opens stack-trace locations only inside the workspace', async () => {
    const bot = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'bots', 'broken-bot.ts');
    await panel.onMessage({ type: 'openSource', path: bot.fsPath, line: 12, column: 3 });
    const editor = await until('an editor on broken-bot.ts', () => vscode.window.visibleTextEditors.find((e) => e.document.uri.fsPath === bot.fsPath));
    assert.equal(editor.selection.active.line, 11);
    const outside = path.join(os.tmpdir(), 'not-in-workspace.ts');
    fs.writeFileSync(outside, 'export {};\n');
    await panel.onMessage({ type: 'openSource', path: outside, line: 1 });
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!vscode.window.visibleTextEditors.some((e) => e.document.uri.fsPath === outside));
  });

  it('drops messages of unknown shape', async () => {
    const before = panel.sent.length;
    await panel.onMessage({ type: 'rows', seq: 'x' });
    await panel.onMessage({ type: 'eval', code: 'alert(1)' });
    assert.equal(panel.sent.length, before);
  });
});
