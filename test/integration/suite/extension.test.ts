import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { BotAuditApi } from '../../../src/extension';
import { api, until, EXTENSION_ID } from './helpers';
// Types only: the extension's classes live in its own bundle, so `instanceof` cannot be used here.
import type { BotNode, FolderNode } from '../../../src/tree/nodes/botNode';

const SAMPLE_BOTS = ['broken-bot', 'care-summary', 'endless-bot', 'hello-bot', 'memory-hog', 'nightly-report', 'patient-crud', 'quitter', 'validate-patient'];

async function treeBots(a: BotAuditApi): Promise<BotNode[]> {
  const roots = await a.tree.getChildren();
  const out: BotNode[] = [];
  for (const r of roots) {
    assert.equal(r.toTreeItem().contextValue, 'folder', 'top-level nodes are folders');
    for (const c of await a.tree.getChildren(r)) {
      assert.ok('bot' in c, 'folders hold bots');
      out.push(c);
    }
  }
  return out;
}

function workspaceRoot(): vscode.Uri {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'a workspace folder is open');
  return f.uri;
}

// The harness says which VS Code it started (1.100.3 or 1.139.1); on a desktop run, any 1.x.
const expected = process.env.BOT_AUDIT_VSCODE_EXPECTED;

describe('Bot Audit in VS Code', () => {
  it(`runs in VS Code ${expected ?? '1.x'} and activates`, async () => {
    if (expected) assert.equal(vscode.version, expected);
    else assert.match(vscode.version, /^1\.\d+\./);
    const a = await api();
    assert.ok(vscode.extensions.getExtension(EXTENSION_ID)?.isActive);
    assert.ok(a.tree);
  });

  it('registers every command it contributes', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const contributed: string[] = ext.packageJSON.contributes.commands.map((c: { command: string }) => c.command);
    assert.ok(contributed.length >= 4);
    const all = new Set(await vscode.commands.getCommands(true));
    for (const c of contributed) assert.ok(all.has(c), `command ${c} is registered`);
  });

  it('lists the sample bots in the Bots tree, grouped by folder', async () => {
    const a = await api();
    await a.bots.refresh();
    const bots = await treeBots(a);
    assert.deepEqual(bots.map((b) => b.bot.name).sort(), SAMPLE_BOTS);
    const folders = (await a.tree.getChildren()).map((f) => (f as FolderNode).folder);
    assert.deepEqual(folders, ['bots', 'bots/records']);
    const hello = bots.find((b) => b.bot.name === 'hello-bot')!;
    const item = hello.toTreeItem();
    assert.equal(item.contextValue, 'bot');
    assert.equal(item.label, 'hello-bot');
    assert.equal(a.tree.getParent(hello), hello.parent);
    // The item opens the bot at its handler.
    assert.equal(item.command?.command, 'botAudit.openBotSource');
    assert.ok(hello.bot.status.kind === 'source' && hello.bot.status.handlerLine !== undefined);
  });

  it('refreshes when bot files are created and deleted, and ignores tests and node_modules', async () => {
    const a = await api();
    const root = workspaceRoot();
    const added = vscode.Uri.joinPath(root, 'bots', 'added-bot.ts');
    const testFile = vscode.Uri.joinPath(root, 'bots', 'hello-bot.test.ts');
    const dep = vscode.Uri.joinPath(root, 'node_modules', 'pkg', 'bots', 'dep.js');
    const enc = new TextEncoder();
    await vscode.workspace.fs.writeFile(testFile, enc.encode('export {};\n'));
    await vscode.workspace.fs.writeFile(dep, enc.encode('exports.handler = () => 1;\n'));
    await vscode.workspace.fs.writeFile(added, enc.encode('export async function handler() {\n  return 1;\n}\n'));
    const names = await until('added-bot to appear', async () => {
      const n = (await treeBots(a)).map((b) => b.bot.name);
      return n.includes('added-bot') && n;
    });
    assert.ok(!names.includes('hello-bot.test'));
    assert.ok(!names.includes('dep'));
    await vscode.workspace.fs.delete(added);
    await until('added-bot to disappear', async () => !(await treeBots(a)).some((b) => b.bot.name === 'added-bot'));
    await vscode.workspace.fs.delete(testFile);
    await vscode.workspace.fs.delete(vscode.Uri.joinPath(root, 'node_modules'), { recursive: true });
  });

  it('shows a binary or empty file in a bots folder without breaking the tree', async () => {
    const a = await api();
    const root = workspaceRoot();
    const binary = vscode.Uri.joinPath(root, 'bots', 'garbage.js');
    const empty = vscode.Uri.joinPath(root, 'bots', 'empty.ts');
    await vscode.workspace.fs.writeFile(binary, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0xff, 0xfe]));
    await vscode.workspace.fs.writeFile(empty, new Uint8Array());
    const bots = await until('garbage.js to be listed', async () => {
      const b = await treeBots(a);
      return b.some((n) => n.bot.name === 'garbage') && b.some((n) => n.bot.name === 'empty') && b;
    });
    const g = bots.find((b) => b.bot.name === 'garbage')!.toTreeItem();
    assert.equal(g.contextValue, 'bot.unreadable');
    assert.equal(g.description, 'not a text file');
    assert.equal(bots.find((b) => b.bot.name === 'empty')!.toTreeItem().description, 'empty file');
    // The real bots are still there.
    for (const n of SAMPLE_BOTS) assert.ok(bots.some((b) => b.bot.name === n), n);
    await vscode.workspace.fs.delete(binary);
    await vscode.workspace.fs.delete(empty);
    await until('the extra files to go', async () => (await treeBots(a)).length === SAMPLE_BOTS.length);
  });

  it('opens a bot at its handler from the tree', async () => {
    const a = await api();
    const hello = (await treeBots(a)).find((b) => b.bot.name === 'hello-bot')!;
    const cmd = hello.toTreeItem().command!;
    await vscode.commands.executeCommand(cmd.command, ...(cmd.arguments ?? []));
    const editor = await until('an editor on hello-bot.ts', () =>
      vscode.window.activeTextEditor?.document.uri.path.endsWith('/bots/hello-bot.ts') && vscode.window.activeTextEditor,
    );
    assert.match(editor.document.lineAt(editor.selection.active.line).text, /export async function handler/);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('opens the Audit Log panel, whose script runs under the CSP and says it is ready', async () => {
    const a = await api();
    await vscode.commands.executeCommand('botAudit.openAuditLog');
    const panel = await until('the audit log panel', () => a.auditLogPanel());
    assert.equal(panel.panel.viewType, 'botAudit.auditLog');
    assert.equal(panel.panel.title, 'Audit Log');
    const html = panel.panel.webview.html;
    assert.match(html, /default-src 'none'/);
    assert.match(html, /script-src 'nonce-[A-Za-z0-9+/=]{16,}'/);
    assert.doesNotMatch(html, /unsafe-inline|unsafe-eval/);
    await until('the webview to say ready', () => panel.isReady, 45_000);
    // A second open reveals the same panel.
    await vscode.commands.executeCommand('botAudit.openAuditLog');
    assert.equal(a.auditLogPanel(), panel);
    panel.panel.dispose();
    assert.equal(a.auditLogPanel(), undefined);
  });

  it('refreshes the bots on command, and opens the bot settings file', async () => {
    const a = await api();
    await vscode.commands.executeCommand('botAudit.refreshBots');
    assert.deepEqual((await treeBots(a)).map((b) => b.bot.name).sort(), SAMPLE_BOTS);
    await vscode.commands.executeCommand('botAudit.openBotSettings');
    const editor = await until('bot-audit.json in an editor', () => vscode.window.activeTextEditor?.document.uri.path.endsWith('/bot-audit.json') && vscode.window.activeTextEditor);
    assert.ok(JSON.parse(editor.document.getText()).bots['bots/hello-bot.ts']);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('creates a sample bot from the welcome view command', async () => {
    const a = await api();
    await vscode.commands.executeCommand('botAudit.createSampleBot');
    const bots = await until('the sample bot in the tree', async () => {
      const b = await treeBots(a);
      return b.some((n) => n.bot.name === 'hello-bot-2') && b;
    });
    const created = bots.find((b) => b.bot.name === 'hello-bot-2')!;
    assert.ok(created.bot.status.kind === 'source' && created.bot.status.handlerLine !== undefined);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.fs.delete(created.bot.uri);
  });
});

describe('The audit of the workspace', () => {
  it('records this window’s LOGIN in the log', async () => {
    const a = await api();
    const found = await until('a LOGIN entry', async () => {
      const r = await a.query('action:LOGIN');
      return r.total > 0 && r;
    });
    const login = found.entries[0];
    assert.equal(login.entityName, 'Session');
    assert.match(String((login.after as { client?: string }).client), new RegExp(`^VS Code ${(expected ?? '1.').replace(/\./g, '\\.')}`));
    assert.ok(a.audit);
    assert.equal(login.user, a.audit.user);
  });

  it('records creating, changing and deleting a bot file, with the sources', async () => {
    const a = await api();
    await until('this window to hold the file-audit lease', () => a.fileAudit?.isLeader);
    const uri = vscode.Uri.joinPath(workspaceRoot(), 'bots', 'audited-bot.ts');
    const enc = new TextEncoder();
    const v1 = 'export async function handler() {\n  return 1;\n}\n';
    const v2 = 'export async function handler() {\n  return 2;\n}\n';
    const history = async () => (await a.query('entity:bot entity-id:bots/audited-bot.ts', 50)).entries.reverse();
    await vscode.workspace.fs.writeFile(uri, enc.encode(v1));
    await until('CREATED', async () => (await history()).length === 1);
    // Saving a change in an editor is UPDATED.
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc);
    assert.ok(await editor.edit((b) => b.replace(new vscode.Range(1, 9, 1, 10), '2')), 'the edit applied');
    const onDisk = async () => new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    let saved = await doc.save();
    // VS Code 1.139 on a busy machine has answered false to this save (3 of 8 trusted windows; never in
    // 1.100), with nothing written and no error shown. A person saves again, and so does this, up to
    // three times, saying so; the history below must still be exact.
    for (let i = 0; !saved && i < 3; i++) {
      console.log(`      (the save answered false; dirty: ${doc.isDirty}, on disk: ${JSON.stringify(await onDisk())}; saving again)`);
      await new Promise((r) => setTimeout(r, 1000));
      saved = (await doc.save()) || (!doc.isDirty && (await onDisk()) === v2);
    }
    assert.ok(saved, `the save went through (dirty after: ${doc.isDirty}; on disk: ${JSON.stringify(await onDisk())})`);
    await until('UPDATED', async () => (await history()).length === 2);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.fs.delete(uri);
    const h = await until('DELETED', async () => {
      const x = await history();
      return x.length === 3 && x;
    });
    assert.deepEqual(h.map((e) => e.action), ['CREATED', 'UPDATED', 'DELETED']);
    assert.deepEqual(h[0].after, { path: 'bots/audited-bot.ts', source: v1 });
    assert.deepEqual(h[1].before, { path: 'bots/audited-bot.ts', source: v1 });
    assert.deepEqual(h[1].after, { path: 'bots/audited-bot.ts', source: v2 });
    assert.deepEqual(h[2].before, { path: 'bots/audited-bot.ts', source: v2 });
    for (const e of h) assert.equal(e.user, a.audit!.user);
  });

  it('records a change to the settings file as UPDATED with the JSON before and after', async () => {
    const a = await api();
    const uri = vscode.Uri.joinPath(workspaceRoot(), 'bot-audit.json');
    const original = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    const changed = JSON.parse(original);
    changed.bots['bots/hello-bot.ts'].timeout = 5;
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify(changed, null, 2)));
    const r = await until('UPDATED settings', async () => {
      const q = await a.query('entity:settings action:UPDATED');
      return q.total === 1 && q;
    });
    assert.deepEqual(r.entries[0].before, { path: 'bot-audit.json', json: JSON.parse(original) });
    assert.deepEqual(r.entries[0].after, { path: 'bot-audit.json', json: changed });
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(original));
    await until('the restore as a second UPDATED', async () => (await a.query('entity:settings action:UPDATED')).total === 2);
    // The bots read the file again on a watcher of their own, debounced, and a read in the middle of a
    // write finds it empty: wait until they have the restored settings, which the next tests run with.
    await until('the bots to read the restored settings', async () => {
      const hello = (await a.bots.getBots()).find((b) => b.relPath === 'bots/hello-bot.ts');
      return hello !== undefined && hello.settings.timeout !== 5 && Object.keys(hello.settings.inputs).length === 2;
    });
  });

  it('lets other extensions record and query entries through its API', async () => {
    const a = await api();
    const e = await a.record({ user: 'admin@example.com', action: 'INVITED', entityName: 'User', entityId: 'new@example.com', after: { role: 'reviewer' } });
    assert.ok(e.id > 0);
    const r = await a.query([{ column: 'action', op: 'oneOf', value: ['INVITED'] }]);
    assert.equal(r.entries[0].id, e.id);
    assert.deepEqual(r.entries[0].after, { role: 'reviewer' });
    await assert.rejects(a.record({ user: 'x', action: 'RENAMED' as never, entityName: 'User', entityId: '1' }));
  });
});
