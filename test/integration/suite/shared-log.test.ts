// The CLI and this VS Code window write to the same log at the same time: nothing is lost, IDs stay
// one gapless sequence, the chain holds, and the window sees the CLI's entries.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BotAuditApi } from '../../../src/extension';
import type { Entry } from '../../../src/core/store';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

function cliRun(cwd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], { cwd, stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
    p.once('error', reject);
    p.once('exit', (code) => resolve(code ?? -1));
  });
}

describe('The log shared with the CLI', function () {
  this.timeout(180_000);

  it('loses nothing when the CLI and this window write at once', async () => {
    const a = await vscode.extensions.getExtension<BotAuditApi>('bot-audit.bot-audit')!.activate();
    const ws = vscode.workspace.workspaceFolders![0].uri.fsPath;
    const store = await a.audit!.localStore();
    const before = store.size;
    // The window is told of the CLI's entries by the store's watcher, not by asking.
    const seenFromCli: Entry[] = [];
    const sub = a.audit!.onDidAppend((es) => seenFromCli.push(...es.filter((e) => e.action === 'EXECUTED' && /"cli-\d"/.test(e.input ?? ''))));
    try {
      // Three CLI runs, each a separate process, while this window appends 200 entries of its own.
      const cli = Promise.all([1, 2, 3].map((i) => cliRun(ws, ['run', 'hello-bot', '--input-text', `{"name":"cli-${i}"}`, '--db', a.audit!.dbPath])));
      const mine: Promise<Entry>[] = [];
      for (let i = 0; i < 200; i++) mine.push(a.record({ user: 'window-writer', action: 'UPDATED', entityName: 'Counter', entityId: 'c', before: { n: i }, after: { n: i + 1 } }));
      const codes = await cli;
      assert.deepEqual(codes, [0, 0, 0]);
      await Promise.all(mine);
      const deadline = Date.now() + 3000;
      while (seenFromCli.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(seenFromCli.length, 3, 'onDidAppend reported the three CLI runs');
      const runs = (await a.query([{ column: 'action', op: 'oneOf', value: ['EXECUTED'] }, { column: 'text', op: 'matches', value: 'cli' }], 50)).entries;
      const names = runs.map((e) => JSON.parse(e.input ?? '{}').name).filter((n: string) => /^cli-\d$/.test(n)).sort();
      assert.deepEqual(names, ['cli-1', 'cli-2', 'cli-3'], 'the window reads every CLI run');
      assert.equal((await a.query('user:window-writer entity:Counter')).total, 200);
      // IDs are one gapless sequence and the chain holds.
      const all = store.query([{ column: 'id', op: 'greaterThan', value: before }], { limit: 1000, order: 'asc' }).entries;
      assert.ok(all.length >= 203);
      for (let i = 1; i < all.length; i++) {
        assert.equal(all[i].id, all[i - 1].id + 1);
        assert.equal(all[i].prevHash, all[i - 1].hash);
      }
      const v = store.verify();
      assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
    } finally {
      sub.dispose();
    }
  });
});
