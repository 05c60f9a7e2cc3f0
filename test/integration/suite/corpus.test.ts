// The Medplum bot corpus (test/medplum-corpus) run through the extension, in a VS Code window on one
// of its fixture workspaces: @medplum/core 4.5.2 or 5.2.13 in the workspace's node_modules
// (BOT_AUDIT_SUITE corpus-medplum4 / corpus-medplum5, see test/harness/integration.mjs). Each bot
// runs with the Run Bot command, as a person runs it, with its first sample input.
//  - 4.x: every bot succeeds.
//  - 5.x: where the extension host's Node meets @medplum/core 5's `engines.node`, every bot
//    succeeds; where it does not (VS Code 1.100's Node 20), a bot that bundles @medplum/core fails
//    to load with one plain line naming both versions, and the others succeed.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import satisfies from 'semver/functions/satisfies';
import type { RunResult } from '../../../src/core/runner';
import type { DebugRun } from '../../../src/services/debugService';
import { type Stop, StopWatcher, api, until, useDebuggableNode } from './helpers';

const suite = process.env.BOT_AUDIT_SUITE ?? '';
const folder = (): vscode.Uri => vscode.workspace.workspaceFolders![0].uri;

function installedCore(): { version: string; node: string } {
  const pkg = JSON.parse(fs.readFileSync(path.join(folder().fsPath, 'node_modules', '@medplum', 'core', 'package.json'), 'utf8')) as { version: string; engines?: { node?: string } };
  return { version: pkg.version, node: pkg.engines?.node ?? '*' };
}

function corpusBots(): string[] {
  return fs
    .readdirSync(path.join(folder().fsPath, 'bots'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

describe(`The Medplum bot corpus in VS Code (${suite})`, function () {
  this.timeout(120_000);
  const results = new Map<string, RunResult>();

  before(async () => {
    const a = await api();
    // Every corpus bot is in the tree (and its shared module is not).
    await until('the corpus bots in the Bots view', async () => {
      const names = (await a.bots.getBots()).map((b) => b.name).sort();
      return names.length === corpusBots().length && names;
    }, 30_000);
  });

  it('lists every corpus bot, and not the module they share', async () => {
    const a = await api();
    const bots = await a.bots.getBots();
    assert.deepEqual(bots.map((b) => b.relPath).sort(), corpusBots().map((b) => `bots/${b}.ts`));
    assert.ok(!bots.some((b) => b.relPath === 'bots/lib/helpers.ts'));
  });

  for (const bot of fs.existsSync(path.join(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '', 'bots')) ? corpusBots() : []) {
    it(`runs ${bot}`, async () => {
      const r = await vscode.commands.executeCommand<RunResult>('botAudit.runBot', vscode.Uri.joinPath(folder(), 'bots', `${bot}.ts`));
      assert.ok(r, `${bot}: the command returned a run`);
      results.set(bot, r);
      const core = installedCore();
      const nodeOk = satisfies(process.versions.node, core.node);
      if (r.outcome === 0 || nodeOk) {
        assert.equal(r.outcome, 0, `${bot}: ${r.outcome} ${r.outcomeDisplay} (${r.failureKind ?? ''})\n${r.outcomeDesc.slice(0, 2000)}`);
        assert.ok(r.entryId, `${bot}: recorded`);
        return;
      }
      // The only failure allowed: @medplum/core needs a newer Node than this extension host's.
      assert.deepEqual([r.outcome, r.failureKind], [12, 'load'], `${bot}: ${r.outcomeDesc.slice(0, 2000)}`);
      assert.equal(r.message?.split('\n').length, 1, `${bot}: one line`);
      assert.match(r.message ?? '', new RegExp(`@medplum/core ${core.version.replace(/\./g, '\\.')} needs Node .+, but this bot runs on Node ${process.versions.node.replace(/\./g, '\\.')}: run it with Node `));
      assert.equal(r.stack, undefined, `${bot}: no stack from inside @medplum/core`);
    });
  }

  it("debugs core-helpers (it bundles the workspace's @medplum/core): stops in its handler, reads a local, evaluates there, and records the run as debugged", async function () {
    const a = await api();
    // Bots are debugged on a Node with --allow-inspector: the host's own (1.139), else Node 24.
    const undoNode = await useDebuggableNode();
    const bot = vscode.Uri.joinPath(folder(), 'bots', 'core-helpers.ts');
    // `check(isReference(ref), …);`, after `const ref = createReference(patient);` (1-based line 29).
    const LINE = 29;
    const bp = new vscode.SourceBreakpoint(new vscode.Location(bot, new vscode.Position(LINE - 1, 2)));
    const watcher = new StopWatcher();
    vscode.debug.addBreakpoints([bp]);
    try {
      const started = await vscode.commands.executeCommand<DebugRun | undefined>('botAudit.debugBot', bot);
      assert.ok(started, 'the debug run started');
      let ended: RunResult | undefined;
      void started.result.then((r) => (ended = r));
      const first = await until('the stop in core-helpers', () => (watcher.stops[0] as Stop | undefined) ?? (ended && ('ended' as const)), 90_000);
      if (first === 'ended') assert.fail(`the run ended without stopping: ${ended!.outcome} ${ended!.failureKind ?? ''} ${ended!.outcomeDesc.slice(0, 3000)}`);
      const stop = first;
      const { stackFrames } = (await stop.session.customRequest('stackTrace', { threadId: stop.threadId, startFrame: 0, levels: 1 })) as { stackFrames: { id: number; line: number; source?: { path?: string } }[] };
      assert.ok(stackFrames[0].source?.path?.endsWith('core-helpers.ts'), JSON.stringify(stackFrames[0]));
      assert.equal(stackFrames[0].line, LINE);
      // What @medplum/core's createReference returned, as the Debug Console reads it.
      const ev = (await stop.session.customRequest('evaluate', { expression: 'ref.display', frameId: stackFrames[0].id, context: 'repl' })) as { result: string };
      assert.equal(ev.result, "'Dr. Grace Brewster Hopper'");
      await stop.session.customRequest('continue', { threadId: stop.threadId });
      const r = await started.result;
      assert.equal(r.outcome, 0, `${r.outcomeDisplay}: ${r.outcomeDesc.slice(0, 2000)}`);
      const e = (await a.query(`id:${r.entryId}`)).entries[0];
      assert.equal(e.entityId, 'bots/core-helpers.ts');
      assert.equal((e.after as { debug?: { pauses?: number } }).debug?.pauses, 1);
    } finally {
      vscode.debug.removeBreakpoints([bp]);
      watcher.dispose();
      await undoNode();
    }
  });

  it('ran every bot: all of them on @medplum/core 4, and on 5 all or the ones a too-old Node stopped with its plain line', () => {
    const core = installedCore();
    const failed = [...results.entries()].filter(([, r]) => r.outcome !== 0).map(([b]) => b);
    assert.equal(results.size, corpusBots().length);
    if (core.version.startsWith('4.') || satisfies(process.versions.node, core.node)) assert.deepEqual(failed, []);
    else assert.ok(failed.length >= corpusBots().length / 2, `most corpus bots import @medplum/core (${failed.length} stopped)`);
  });
});
