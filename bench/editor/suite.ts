// Runs inside VS Code's extension host (code-server), loaded like the integration suite, and
// measures what a person waits for in the editor. Writes { metric: number } to BOT_AUDIT_BENCH_OUT.
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import { performance } from 'node:perf_hooks';
import * as vscode from 'vscode';
import type { BotAuditApi } from '../../src/extension';

async function renderTree(api: BotAuditApi): Promise<number> {
  let items = 0;
  for (const folder of await api.tree.getChildren()) {
    folder.toTreeItem();
    for (const bot of await api.tree.getChildren(folder)) {
      bot.toTreeItem();
      items++;
    }
  }
  return items;
}

/** The time between two of the extension host's performance marks for an extension (`code/extHost/<will>/<id>` to `…/<did>/<id>`). */
function hostMarkSpan(id: string, will: string, did: string): number | undefined {
  const marks = (globalThis as { MonacoPerformanceMarks?: { getMarks(): { name: string; startTime: number }[] } }).MonacoPerformanceMarks?.getMarks() ?? [];
  const at = (name: string) => marks.find((m) => m.name === `code/extHost/${name}/${id}`)?.startTime;
  const start = at(will);
  const end = at(did);
  return start !== undefined && end !== undefined ? end - start : undefined;
}

/** How long the extension host took to load an extension's main module, from its performance marks. */
function codeLoadingMs(id: string): number | undefined {
  return hostMarkSpan(id, 'willLoadExtensionCode', 'didLoadExtensionCode');
}

/**
 * An extension's activation by the host's own marks: loading its main module, then calling its
 * activate() until the promise it returns resolves (the Extensions view shows the first two of
 * these: codeLoadingTime + activateCallTime). Not in it: the host making the extension's context
 * (its mementos ask the window for their state), which every extension waits for and which the host
 * does not count.
 */
function hostActivationMs(id: string): number | undefined {
  const load = codeLoadingMs(id);
  const call = hostMarkSpan(id, 'willActivateExtension', 'didActivateExtension');
  return load !== undefined && call !== undefined ? load + call : undefined;
}

/**
 * With BOT_AUDIT_BENCH_PROFILE=<file>, a CPU profile of the extension host from before activation
 * to the outcomes shown (open it in Chrome's DevTools or VS Code), to see where the time goes.
 */
async function startProfile(): Promise<(() => Promise<void>) | undefined> {
  const file = process.env.BOT_AUDIT_BENCH_PROFILE;
  if (!file) return undefined;
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  return async () => {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    fs.writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

export async function run(): Promise<void> {
  const out: Record<string, number> = {};
  const stopProfile = await startProfile();
  const ext = vscode.extensions.getExtension<BotAuditApi>('bot-audit.bot-audit')!;
  if (ext.isActive) throw new Error('the extension was active before the benchmark could time its activation');
  let t = performance.now();
  const api = await ext.activate();
  out.activate_ms = performance.now() - t;
  // The part that is the extension's own: activate() itself, without the host loading the module.
  out.activate_body_ms = api.activationMs;
  // Loading dist/extension.js, as the host's own marks time it (the rest of activate_ms is mostly the
  // host creating the extension's context, which waits on the window, in parallel with the loading).
  const load = codeLoadingMs('bot-audit.bot-audit');
  if (load !== undefined) out.activate_code_loading_ms = load;
  const host = hostActivationMs('bot-audit.bot-audit');
  if (host !== undefined) out.activate_host_marks_ms = host;

  // First render: the tree as the view asks for it, bots found, log not yet open.
  t = performance.now();
  await api.bots.refresh();
  out.bot_discovery_500_ms = performance.now() - t;
  t = performance.now();
  const shown = await renderTree(api);
  out.tree_first_render_ms = performance.now() - t;
  out.tree_bots = shown;

  // The log opens in the background; then the tree shows every bot's last outcome.
  t = performance.now();
  const store = await api.audit!.store();
  out.log_open_1m_ms = performance.now() - t;
  out.log_entries = store.size;
  // Every bot's last outcome looked up (in the background after the first render), then shown.
  t = performance.now();
  await api.tree.lookUpLastRuns();
  out.tree_outcomes_ready_ms = performance.now() - t;
  await stopProfile?.();
  t = performance.now();
  await renderTree(api);
  out.tree_render_with_outcomes_ms = performance.now() - t;

  // After a run: an EXECUTED entry lands, the tree refreshes.
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) {
    await api.record({ user: 'bench', action: 'EXECUTED', entityName: 'Bot', entityId: 'bots/group-00/bot-000.ts', bot: 'bot-000', outcome: 0, outcomeDesc: 'bench' });
    t = performance.now();
    await renderTree(api);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  out.tree_refresh_after_run_ms = samples[Math.floor(samples.length / 2)];
  out.tree_refresh_after_run_p95_ms = samples[Math.floor(samples.length * 0.95)];
  // What activating costs any extension here, as the host sees it: a small built-in extension that
  // has not started yet, activated the same way (the host's own share of activate_ms).
  for (const id of ['vscode.references-view', 'vscode.extension-editing', 'vscode.configuration-editing', 'vscode.npm']) {
    const other = vscode.extensions.getExtension(id);
    if (!other || other.isActive) continue;
    t = performance.now();
    await other.activate();
    out.host_activate_small_builtin_ms = performance.now() - t;
    const otherLoad = codeLoadingMs(id);
    if (otherLoad !== undefined) out.host_small_builtin_code_loading_ms = otherLoad;
    const otherHost = hostActivationMs(id);
    if (otherHost !== undefined) out.host_small_builtin_host_marks_ms = otherHost;
    break;
  }
  for (const k of Object.keys(out)) out[k] = Math.round(out[k] * 100) / 100;
  // What is measured so far, which editor.mjs prints if the debug phase fails (its result is then not written).
  fs.writeFileSync(`${process.env.BOT_AUDIT_BENCH_OUT!}.partial`, JSON.stringify(out, null, 2));
  Object.assign(out, await debugToPause());
  for (const k of Object.keys(out)) out[k] = Math.round(out[k] * 100) / 100;
  fs.writeFileSync(process.env.BOT_AUDIT_BENCH_OUT!, JSON.stringify(out, null, 2));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Debugging a bot (issue 21): from the Debug command to the first pause at a breakpoint in the bot
 * (js-debug attached, the bundle's source map read, the breakpoint bound and hit). The first run in
 * the window apart: the breakpoint is set a second before it, as a person sets one and then clicks
 * Debug, and setting it starts the first debug run's process and js-debug ahead (DebugService's
 * prepareFor); then the median of 3. The editor's Node 20 cannot debug a bot: bots run on Node 24
 * (BOT_AUDIT_BENCH_NODE24, through botAudit.nodePath, set before the breakpoint, as a user's
 * settings are).
 */
async function debugToPause(): Promise<Record<string, number>> {
  const node24 = process.env.BOT_AUDIT_BENCH_NODE24;
  const cfg = vscode.workspace.getConfiguration('botAudit');
  if (!process.allowedNodeEnvironmentFlags.has('--allow-inspector')) {
    if (!node24 || !fs.existsSync(node24)) return {};
    await cfg.update('nodePath', node24, vscode.ConfigurationTarget.Global);
    await sleep(1000);
  }
  const bot = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'bots', 'group-00', 'bot-000.ts');
  // `console.log('bot 0', event.input);`, the handler's first line.
  const bp = new vscode.SourceBreakpoint(new vscode.Location(bot, new vscode.Position(1, 2)));
  vscode.debug.addBreakpoints([bp]);
  await sleep(1000);
  const stops: { session: vscode.DebugSession; threadId: number; at: number }[] = [];
  const tracker = vscode.debug.registerDebugAdapterTrackerFactory('*', {
    createDebugAdapterTracker: (session) => ({
      onDidSendMessage: (m: { type?: string; event?: string; body?: { threadId?: number } }) => {
        if (m.type === 'event' && m.event === 'stopped' && m.body?.threadId !== undefined) stops.push({ session, threadId: m.body.threadId, at: performance.now() });
      },
    }),
  });
  const wait = async <T>(what: string, fn: () => T | undefined | false, ms = 120_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  // Sessions that have ended, from their end events (as the integration test waits): waiting for
  // vscode.debug.activeDebugSession to be undefined timed out (120 s) in 2 of 3 runs on 2026-12-07.
  const ended = new Set<string>();
  const onEnd = vscode.debug.onDidTerminateDebugSession((s) => ended.add(s.id));
  const samples: number[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const before = stops.length;
      const t = performance.now();
      const run = await vscode.commands.executeCommand<{ result: Promise<{ outcome: number }> } | undefined>('botAudit.debugBot', bot);
      if (!run) throw new Error('the debug run did not start');
      const stop = await wait('the pause at the breakpoint', () => stops[before]);
      samples.push(stop.at - t);
      await stop.session.customRequest('continue', { threadId: stop.threadId });
      await run.result;
      let top = stop.session;
      while (top.parentSession) top = top.parentSession;
      await wait('the debug session to end', () => ended.has(stop.session.id) && ended.has(top.id));
    }
  } finally {
    tracker.dispose();
    onEnd.dispose();
    vscode.debug.removeBreakpoints([bp]);
    await cfg.update('nodePath', undefined, vscode.ConfigurationTarget.Global);
  }
  const warm = samples.slice(1).sort((a, b) => a - b);
  return { debug_start_to_pause_first_ms: samples[0], debug_start_to_pause_ms: warm[Math.floor(warm.length / 2)] };
}
