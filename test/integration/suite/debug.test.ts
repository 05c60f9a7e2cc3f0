// Debugging a bot in the real VS Code (issue 21): the Debug command starts the run with the
// inspector and VS Code's own JavaScript debugger (js-debug, built in) attaches; a breakpoint in a
// shared module's TypeScript binds through the bundle's source map, the session stops there, a local
// reads through the debug protocol, and the run is recorded as debugged. Stopping the session while
// it is paused cancels the run.
//
// The editor's Node here is 20, whose permission model cannot allow the inspector: bots run on the
// Node 24 that the corpus test installs (.cache/node24), through the setting botAudit.nodePath.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DebugRun } from '../../../src/services/debugService';
import { type Stop, StopWatcher, api, until, useDebuggableNode } from './helpers';


const folder = () => vscode.workspace.workspaceFolders![0].uri;
const BOT = () => vscode.Uri.joinPath(folder(), 'bots', 'records', 'care-summary.ts');
const SHARED = () => vscode.Uri.joinPath(folder(), 'bots', 'records', 'fhir-helpers.ts');
/** `return \`${resource.resourceType}/${resource.id}\`;` in getReferenceString (0-based line 5). */
const SHARED_LINE = 5;

/** A debug protocol path as a file path (in a remote window the workbench hands them back as vscode-remote: URIs). */
function fsPathOf(p: string): string {
  return /^[a-z][a-z0-9+.-]+:\/\//i.test(p) ? vscode.Uri.parse(p).path : p;
}

describe('Debugging a bot', function () {
  this.timeout(180_000);
  let watcher: StopWatcher;
  let breakpoint: vscode.SourceBreakpoint;
  const trace: vscode.Disposable[] = [];
  /** Debug sessions that have ended (vscode.debug.activeDebugSession was seen to lag behind them). */
  const ended = new Set<string>();
  const sessionEnded = (s: vscode.DebugSession | undefined) => () => !!s && ended.has(s.id);

  let undoNode: (() => Promise<void>) | undefined;

  before(async function () {
    undoNode = await useDebuggableNode();
    assert.ok(vscode.extensions.getExtension('ms-vscode.js-debug'), "VS Code's JavaScript debugger is built in");
    watcher = new StopWatcher();
    trace.push(
      vscode.debug.onDidStartDebugSession((s) => console.log(`[debug test] session started: ${s.type} ${s.name} parent=${s.parentSession?.name ?? '-'}`)),
      vscode.debug.onDidTerminateDebugSession((s) => {
        ended.add(s.id);
        console.log(`[debug test] session ended: ${s.type} ${s.name}`);
      }),
    );
    breakpoint = new vscode.SourceBreakpoint(new vscode.Location(SHARED(), new vscode.Position(SHARED_LINE, 2)));
    vscode.debug.addBreakpoints([breakpoint]);
  });

  after(async () => {
    vscode.debug.removeBreakpoints([breakpoint]);
    watcher?.dispose();
    for (const d of trace) d.dispose();
    await undoNode?.();
  });

  it('stops at a breakpoint in a shared module, reads a local, continues, and records the run as debugged', async () => {
    const a = await api();
    const before = watcher.stops.length;
    const t0 = performance.now();
    const started = await vscode.commands.executeCommand<DebugRun | undefined>('botAudit.debugBot', BOT());
    assert.ok(started, 'the debug run started');
    console.log(`[debug test] started run ${started.runId}, session ${started.session?.name ?? 'none'}`);
    void started.result.then((r) => console.log(`[debug test] run ended: ${r.outcome} ${r.failureKind ?? ''} ${r.outcomeDesc.slice(0, 500)}`));
    const stop = await until('the session to stop at the breakpoint', () => watcher.stops[before], 90_000);
    console.log(`debug_start_to_pause_ms ${(stop.at - t0).toFixed(0)}`);
    const trace = (await stop.session.customRequest('stackTrace', { threadId: stop.threadId, startFrame: 0, levels: 5 })) as {
      stackFrames: { id: number; name: string; line: number; source?: { path?: string } }[];
    };
    const top = trace.stackFrames[0];
    assert.equal(top.source?.path && fs.realpathSync(fsPathOf(top.source.path)), fs.realpathSync(SHARED().fsPath), JSON.stringify(trace.stackFrames.slice(0, 3)));
    assert.equal(top.line, SHARED_LINE + 1);
    assert.match(top.name, /getReferenceString/);
    // The caller is the bot's own handler, in its TypeScript.
    assert.ok(trace.stackFrames.some((f) => f.source?.path?.endsWith('care-summary.ts')), 'the bot is on the call stack');
    const { scopes } = (await stop.session.customRequest('scopes', { frameId: top.id })) as { scopes: { name: string; variablesReference: number }[] };
    const local = scopes.find((s) => /local/i.test(s.name))!;
    const { variables } = (await stop.session.customRequest('variables', { variablesReference: local.variablesReference })) as {
      variables: { name: string; value: string; variablesReference: number }[];
    };
    const resource = variables.find((v) => v.name === 'resource');
    assert.ok(resource, `a local "resource": ${variables.map((v) => v.name).join(', ')}`);
    const fields = (await stop.session.customRequest('variables', { variablesReference: resource.variablesReference })) as { variables: { name: string; value: string }[] };
    assert.equal(fields.variables.find((v) => v.name === 'resourceType')?.value, "'Patient'");
    // The Debug Console evaluates in the bot's context.
    const ev = (await stop.session.customRequest('evaluate', { expression: 'resource.resourceType + "!"', frameId: top.id, context: 'repl' })) as { result: string };
    assert.equal(ev.result, "'Patient!'");
    // Continue past every stop (the helper is called more than once).
    const cont = setInterval(() => {
      for (const s of watcher.stops.splice(before)) void s.session.customRequest('continue', { threadId: s.threadId }).then(undefined, () => undefined);
    }, 100);
    try {
      await stop.session.customRequest('continue', { threadId: stop.threadId });
      const r = await started.result;
      assert.equal(r.outcome, 0, r.outcomeDesc);
      // The limit stood still while the session was stopped at the breakpoint (it stopped there at least once).
      assert.equal(r.debugged?.timeLimit, 'suspended while paused');
      assert.ok((r.debugged?.pauses ?? 0) >= 1, JSON.stringify(r.debugged));
      assert.ok((r.debugged?.pausedMs ?? 0) > 0, JSON.stringify(r.debugged));
      const e = (await a.query(`id:${r.entryId}`)).entries[0];
      assert.equal(e.action, 'EXECUTED');
      assert.equal(e.outcome, 0);
      assert.deepEqual((e.after as { debug?: unknown }).debug, r.debugged);
      assert.match(e.outcomeDesc!, /Run under the debugger .* time limit of \d+ s is suspended while it is paused/);
    } finally {
      clearInterval(cont);
    }
    await until('the debug session to end', sessionEnded(stop.session), 90_000);
  });

  it("steps from the bot's TypeScript into a shared module's, and on to the end of the run", async () => {
    // `const readings = await medplum.searchResources('Observation', { subject: getReferenceString(patient), …`
    const CALL_LINE = 33;
    const bp = new vscode.SourceBreakpoint(new vscode.Location(BOT(), new vscode.Position(CALL_LINE - 1, 2)));
    // Only this breakpoint: the suite's own, in the shared module, would stop the step before it lands.
    vscode.debug.removeBreakpoints([breakpoint]);
    vscode.debug.addBreakpoints([bp]);
    const topFrame = async (stop: Stop) =>
      ((await stop.session.customRequest('stackTrace', { threadId: stop.threadId, startFrame: 0, levels: 1 })) as { stackFrames: { name: string; line: number; source?: { path?: string } }[] })
        .stackFrames[0];
    try {
      const before = watcher.stops.length;
      const started = await vscode.commands.executeCommand<DebugRun | undefined>('botAudit.debugBot', BOT());
      assert.ok(started);
      const stop = await until('the stop in care-summary', () => watcher.stops[before], 90_000);
      const at = await topFrame(stop);
      assert.equal(fs.realpathSync(fsPathOf(at.source!.path!)), fs.realpathSync(BOT().fsPath));
      assert.equal(at.line, CALL_LINE);
      await stop.session.customRequest('stepIn', { threadId: stop.threadId });
      const stepped = await until('the step into the shared module', () => watcher.stops[before + 1], 60_000);
      const into = await topFrame(stepped);
      assert.equal(fs.realpathSync(fsPathOf(into.source!.path!)), fs.realpathSync(SHARED().fsPath), JSON.stringify(into));
      assert.match(into.name, /getReferenceString/);
      assert.equal(into.line, SHARED_LINE + 1);
      await stepped.session.customRequest('continue', { threadId: stepped.threadId });
      const r = await started.result;
      assert.equal(r.outcome, 0, r.outcomeDesc);
      assert.ok((r.debugged?.pauses ?? 0) >= 2, JSON.stringify(r.debugged));
      await until('the debug session to end', sessionEnded(stop.session), 90_000);
    } finally {
      vscode.debug.removeBreakpoints([bp]);
      vscode.debug.addBreakpoints([breakpoint]);
    }
  });

  it('stopping the debug session while it is paused cancels the run (8, cancelled)', async () => {
    const a = await api();
    const before = watcher.stops.length;
    const started = await vscode.commands.executeCommand<DebugRun | undefined>('botAudit.debugBot', BOT());
    assert.ok(started);
    const stop = await until('the session to stop at the breakpoint', () => watcher.stops[before], 90_000);
    // The session the user stops: the top one (js-debug's attach), as the toolbar's Stop does.
    let top: vscode.DebugSession = stop.session;
    while (top.parentSession) top = top.parentSession;
    await vscode.debug.stopDebugging(top);
    const r = await started.result;
    assert.equal(r.outcome, 8, r.outcomeDesc);
    assert.equal(r.failureKind, 'cancelled');
    const e = (await a.query(`id:${r.entryId}`)).entries[0];
    assert.equal(e.failureKind, 'cancelled');
    const debug = (e.after as { debug?: { timeLimit?: string; pauses?: number } }).debug;
    assert.equal(debug?.timeLimit, 'suspended while paused', 'recorded as debugged, its limit suspended while it was paused');
    assert.ok((debug?.pauses ?? 0) >= 1, JSON.stringify(debug));
    assert.equal(a.debug!.activeRuns, 0);
  });

  it("a breakpoint set in a bot readies its first debug run: a process for the bot's sandbox waits, and js-debug is active", async () => {
    const a = await api();
    // memory-hog's own memory limit (64 MB) is a sandbox that no debug run here has used.
    const hog = vscode.Uri.joinPath(folder(), 'bots', 'memory-hog.ts');
    const before = await a.runs!.debugProcessesWaiting();
    const bp = new vscode.SourceBreakpoint(new vscode.Location(hog, new vscode.Position(1, 0)));
    vscode.debug.addBreakpoints([bp]);
    try {
      await until('a debug process started ahead for memory-hog', async () => (await a.runs!.debugProcessesWaiting()) === before + 1, 30_000);
      await until('js-debug to be active', () => vscode.extensions.getExtension('ms-vscode.js-debug')!.isActive, 30_000);
      // Another breakpoint in the same bot starts no second process.
      assert.equal(await a.debug!.prepareFor([new vscode.SourceBreakpoint(new vscode.Location(hog, new vscode.Position(2, 0)))]), true);
      assert.equal(await a.runs!.debugProcessesWaiting(), before + 1);
    } finally {
      vscode.debug.removeBreakpoints([bp]);
    }
  });

  it('from Debug to the first pause at a breakpoint in the bot: debug_start_to_pause_ms (warm, 3 runs)', async () => {
    const hello = vscode.Uri.joinPath(folder(), 'bots', 'hello-bot.ts');
    // `const language = event.input?.language ?? 'en';`, in the handler (line 13).
    const bp = new vscode.SourceBreakpoint(new vscode.Location(hello, new vscode.Position(12, 2)));
    vscode.debug.addBreakpoints([bp]);
    const times: number[] = [];
    const attached: number[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const before = watcher.stops.length;
        const t0 = performance.now();
        const started = await vscode.commands.executeCommand<DebugRun | undefined>('botAudit.debugBot', hello);
        assert.ok(started);
        attached.push(performance.now() - t0);
        const stop = await until('the pause in hello-bot', () => watcher.stops[before], 60_000);
        times.push(stop.at - t0);
        const trace = (await stop.session.customRequest('stackTrace', { threadId: stop.threadId, startFrame: 0, levels: 1 })) as { stackFrames: { line: number; source?: { path?: string } }[] };
        assert.ok(trace.stackFrames[0].source?.path?.endsWith('hello-bot.ts'));
        assert.equal(trace.stackFrames[0].line, 13);
        await stop.session.customRequest('continue', { threadId: stop.threadId });
        assert.equal((await started.result).outcome, 0);
        await until('the debug session to end', sessionEnded(stop.session), 90_000);
      }
    } finally {
      vscode.debug.removeBreakpoints([bp]);
    }
    console.log(`debug_start_to_pause_ms ${times.map((t) => t.toFixed(0)).join(', ')} (goal 1500); js-debug attached after ${attached.map((t) => t.toFixed(0)).join(', ')}`);
  });

  it('Debug Current File as Bot debugs the bot in the active editor: it stops at a breakpoint in that file, and the run is recorded as debugged', async () => {
    const a = await api();
    const hello = vscode.Uri.joinPath(folder(), 'bots', 'hello-bot.ts');
    // `console.log(greeting);` (line 20), after the greeting is made.
    const bp = new vscode.SourceBreakpoint(new vscode.Location(hello, new vscode.Position(19, 2)));
    vscode.debug.addBreakpoints([bp]);
    try {
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(hello));
      const before = watcher.stops.length;
      const started = await vscode.commands.executeCommand<DebugRun | undefined>('botAudit.debugCurrentFile');
      assert.ok(started, 'the debug run started');
      const stop = await until('the pause in the current file', () => watcher.stops[before], 90_000);
      const trace = (await stop.session.customRequest('stackTrace', { threadId: stop.threadId, startFrame: 0, levels: 1 })) as { stackFrames: { id: number; line: number; source?: { path?: string } }[] };
      const top = trace.stackFrames[0];
      assert.equal(top.source?.path && fs.realpathSync(fsPathOf(top.source.path)), fs.realpathSync(hello.fsPath), JSON.stringify(top));
      assert.equal(top.line, 20);
      const ev = (await stop.session.customRequest('evaluate', { expression: 'greeting', frameId: top.id, context: 'repl' })) as { result: string };
      assert.match(ev.result, /, .*!/);
      await stop.session.customRequest('continue', { threadId: stop.threadId });
      const r = await started.result;
      assert.equal(r.outcome, 0, r.outcomeDesc);
      const e = (await a.query(`id:${r.entryId}`)).entries[0];
      assert.equal(e.action, 'EXECUTED');
      assert.equal(e.entityId, 'bots/hello-bot.ts');
      const debug = (e.after as { debug?: { timeLimit?: string; pauses?: number } }).debug;
      assert.equal(debug?.timeLimit, 'suspended while paused');
      assert.equal(debug?.pauses, 1, JSON.stringify(debug));
      await until('the debug session to end', sessionEnded(stop.session), 90_000);
    } finally {
      vscode.debug.removeBreakpoints([bp]);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    }
  });

  it("the Bots view's Debug action on a bot debugs that bot, with its first sample input", async () => {
    const a = await api();
    const pkg = vscode.extensions.getExtension('bot-audit.bot-audit')!.packageJSON;
    const items: { command: string; when?: string }[] = pkg.contributes.menus['view/item/context'];
    assert.ok(items.some((m) => m.command === 'botAudit.debugBot' && /viewItem == bot\b/.test(m.when ?? '')), "a Debug action on the tree's bots");
    let node: unknown;
    for (const f of await a.tree.getChildren()) {
      for (const b of await a.tree.getChildren(f)) if ((b as { bot?: { name: string } }).bot?.name === 'hello-bot') node = b;
    }
    assert.ok(node, 'hello-bot in the tree');
    // As the menu calls it: with the tree's node.
    const started = await vscode.commands.executeCommand<DebugRun | undefined>('botAudit.debugBot', node);
    assert.ok(started);
    const r = await started.result;
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.match(r.output, /Greeting Ada in en/);
    const e = (await a.query(`id:${r.entryId}`)).entries[0];
    assert.equal(e.entityId, 'bots/hello-bot.ts');
    assert.ok((e.after as { debug?: unknown }).debug);
    await until('the debug session to end', sessionEnded(started.session), 90_000);
  });

  it('Debug Replay runs a recorded input again under the debugger; the new entry refers to the old one', async () => {
    const a = await api();
    const hello = vscode.Uri.joinPath(folder(), 'bots', 'hello-bot.ts');
    const first = await a.runs!.run((await a.bots.botAt(hello))!, { input: { name: 'Replayed', language: 'fr' } });
    assert.ok(first.entryId);
    const started = await vscode.commands.executeCommand<DebugRun | undefined>('botAudit.debugReplay', first.entryId);
    assert.ok(started);
    const r = await started.result;
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.equal(r.replayOf, first.entryId);
    assert.match(r.output, /Greeting Replayed in fr/);
    const e = (await a.query(`id:${r.entryId}`)).entries[0];
    assert.equal(e.replayOf, first.entryId);
    assert.ok((e.after as { debug?: unknown }).debug);
    await until('the debug session to end', sessionEnded(started.session), 90_000);
  });

  it('offers the workspace bots as debug configurations, and launches one from a bot-audit configuration', async () => {
    const a = await api();
    const configs = await a.debug!.provideDebugConfigurations(vscode.workspace.workspaceFolders![0]);
    assert.ok(configs.some((c) => c.type === 'bot-audit' && c.bot === 'bots/hello-bot.ts'), JSON.stringify(configs));
    await vscode.workspace.openTextDocument(BOT()); // the provider command needs the document open
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', BOT(), 10);
    assert.ok(lenses.some((l) => /Debug/.test(l.command?.title ?? '') && l.command?.command === 'botAudit.debugBot'), 'a Debug CodeLens');
    // F5 with a launch configuration: hello-bot has no breakpoints, so it runs to its end.
    const newest = async () => (await a.query('action:EXECUTED', 5)).entries.find((e) => e.entityId === 'bots/hello-bot.ts');
    const launch = async (config: Record<string, unknown>) => {
      const done = new Promise<vscode.DebugSession>((resolve) => {
        const d = vscode.debug.onDidTerminateDebugSession((s) => {
          if (s.configuration.__botAuditRunId && !s.parentSession) {
            d.dispose();
            resolve(s);
          }
        });
      });
      const before = (await newest())?.id ?? 0;
      await vscode.debug.startDebugging(vscode.workspace.workspaceFolders![0], { type: 'bot-audit', request: 'launch', name: 'Debug hello-bot', bot: 'bots/hello-bot.ts', ...config });
      await done;
      return until('the debugged run to be recorded', async () => {
        const n = await newest();
        return n && n.id > before && n;
      });
    };
    const e = await launch({ input: { name: 'Launch' } });
    assert.equal(e.outcome, 0, e.outcomeDesc);
    assert.match(e.outcomeDesc!, /Greeting Launch in en/);
    assert.ok((e.after as { debug?: unknown }).debug);
    // `inputFile` (here an absolute path; a relative one is the workspace folder's) with its `contentType`.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-launch-'));
    try {
      const file = path.join(dir, 'input.json');
      fs.writeFileSync(file, JSON.stringify({ name: 'Filed', language: 'de' }));
      const f = await launch({ inputFile: file, contentType: 'application/json' });
      assert.equal(f.outcome, 0, f.outcomeDesc);
      assert.match(f.outcomeDesc!, /Greeting Filed in de/);
      assert.ok((f.after as { debug?: unknown }).debug);
      // A missing input file: nothing runs (the error says why), no entry.
      const before = (await newest())!.id;
      await vscode.debug.startDebugging(vscode.workspace.workspaceFolders![0], { type: 'bot-audit', request: 'launch', name: 'Debug hello-bot', bot: 'bots/hello-bot.ts', inputFile: path.join(dir, 'missing.json') });
      assert.equal(a.debug!.activeRuns, 0);
      assert.equal((await newest())!.id, before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
