// The runner, end to end: real bot files in temp workspaces, bundled with esbuild, run in real
// worker threads (dist/bot-worker.js). Every outcome and failure kind comes from a real bot.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as util from 'node:util';
import { BotRunner, type RunRequest, type RunResult } from '../../../src/core/runner';
import { MemoryRecorder, WORKER_PATH, makeWorkspace, removeWorkspace, repoRoot } from './helpers';

const BOTS: Record<string, string> = {
  'bots/hello.ts': `
    interface Greeting { name?: string }
    export async function handler(_m: unknown, event: { input: Greeting; secrets: Record<string, { valueString: string }> }) {
      console.log('hello', { name: event.input.name, nested: { list: [1, 2, { deep: true }] } });
      console.info('info line');
      console.warn('careful');
      console.error('bad', new Map([['k', 1]]));
      console.debug('debug line');
      process.stdout.write('direct out\\n');
      process.stderr.write('direct err\\n');
      return { greeting: 'Hello, ' + event.input.name, n: 1n, f: function named() {} };
    }`,
  'bots/throws.ts': `
    type Order = { items?: number[] };
    export async function handler(_m: unknown, event: { input: Order }) {
      console.log('totalling');
      return event.input.items!.reduce((a, b) => a + b, 0);
    }`,
  'bots/client-error.ts': `
    export async function handler() {
      throw Object.assign(new Error('Missing field'), { status: 422 });
    }`,
  'bots/outcome-error.ts': `
    class OperationOutcomeError extends Error {
      constructor(readonly outcome: unknown) { super('invalid'); }
    }
    export async function handler() {
      throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', details: { text: 'Bad patient' } }] });
    }`,
  'bots/returns-outcome.ts': `
    export async function handler() {
      console.log('checking');
      return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', details: { text: 'No name' } }] };
    }`,
  'bots/returns-warning.ts': `
    export async function handler() {
      return { resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'informational', details: { text: 'meh' } }] };
    }`,
  'bots/server-error.ts': `
    export async function handler() {
      throw Object.assign(new Error('Upstream down'), { status: 503 });
    }`,
  'bots/never.ts': `
    export async function handler() {
      console.log('waiting forever');
      await new Promise(() => {});
    }`,
  'bots/spin.ts': `
    export async function handler() {
      console.log('spinning');
      while (true) {}
    }`,
  'bots/spin-later.ts': `
    export async function handler() {
      await new Promise((r) => setTimeout(r, 10));
      for (;;) {}
    }`,
  'bots/syntax.ts': `
    export async function handler() {
      const x = ;
    }`,
  'bots/no-handler.ts': `export const notHandler = 1;`,
  'bots/top-throw.ts': `
    throw new Error('cannot start');
    export async function handler() { return 1; }`,
  'bots/exit.js': `
    exports.handler = async function () {
      console.error('giving up');
      process.exit(3);
    };`,
  'bots/hog.ts': `
    export async function handler() {
      const keep: string[][] = [];
      for (let i = 0; ; i++) keep.push(Array.from({ length: 1000 }, (_, j) => i + ':' + j + ':'.padEnd(200, 'x')));
    }`,
  'bots/crash.ts': `
    export async function handler() {
      // Reaches the worker's real process through a host function and ends the worker without a word.
      const realProcess = (console.log as any).constructor('return process')();
      realProcess.exit(9);
    }`,
  'bots/unhandled.ts': `
    export async function handler() {
      Promise.reject(new Error('nobody catches me'));
      await new Promise((r) => setTimeout(r, 50));
      return 'done';
    }`,
  'bots/timer-throw.ts': `
    export async function handler() {
      setTimeout(() => { throw new Error('thrown in a timer'); }, 1);
      await new Promise((r) => setTimeout(r, 50));
      return 'done';
    }`,
  'bots/leak-global.ts': `
    export async function handler() {
      const before = (globalThis as any).leaked;
      (globalThis as any).leaked = 'yes';
      return { before: before ?? null, now: (globalThis as any).leaked, pid: process.pid };
    }`,
  'bots/sleep.ts': `
    export async function handler(_m: unknown, event: { input: { ms: number } }) {
      const start = Date.now();
      await new Promise((r) => setTimeout(r, event.input.ms));
      return { start, end: Date.now() };
    }`,
  'bots/secret.ts': `
    export async function handler(_m: unknown, event: { secrets: Record<string, { name: string; valueString: string }> }) {
      const key = event.secrets.API_KEY;
      console.log('using key', key.valueString, 'for', key.name);
      return { echoed: key.valueString, other: event.secrets.OTHER?.valueString };
    }`,
  'bots/chatty.ts': `
    export async function handler() {
      for (let i = 0; i < 2000; i++) console.log('line ' + i + ' ' + 'x'.repeat(100));
      return 'ok';
    }`,
  'bots/hl7.ts': `
    export async function handler(_m: unknown, event: { input: any; contentType: string }) {
      const msg = event.input;
      console.log(typeof msg.getSegment, msg.getSegment('PID').getField(5).toString());
      return msg;
    }`,
  'bots/text.ts': `
    export async function handler(_m: unknown, event: { input: string; contentType: string; bot: unknown; traceId: string }) {
      return { upper: event.input.toUpperCase(), contentType: event.contentType, bot: event.bot, hasTrace: typeof event.traceId === 'string' };
    }`,
  'bots/uses-helper.ts': `
    import { double } from './lib/helper';
    import { triple } from 'fake-pkg';
    export async function handler(_m: unknown, event: { input: { n: number } }) {
      return { doubled: double(event.input.n), tripled: triple(event.input.n) };
    }`,
  'bots/lib/helper.ts': `export function double(n: number): number { return n * 2; }`,
  'node_modules/fake-pkg/package.json': `{ "name": "fake-pkg", "version": "1.0.0", "main": "index.js" }`,
  'node_modules/fake-pkg/index.js': `exports.triple = (n) => n * 3;`,
  'bots/circular.ts': `
    export async function handler() {
      const a: any = { name: 'a' };
      a.self = a;
      return a;
    }`,
  'bots/console-misc.ts': `
    export async function handler() {
      console.table([{ a: 1, b: 2 }]);
      console.group('G');
      console.log('inside');
      console.groupEnd();
      console.count('c');
      console.count('c');
      console.assert(false, 'must hold');
      console.trace('here');
      return undefined;
    }`,
  '.env': `# secrets for the tests\nAPI_KEY="sk-live-0123456789"\nOTHER=plain-value # comment\n`,
};

describe('runner: BotRunner end to end', function () {
  this.timeout(60_000);
  let root: string;
  let runner: BotRunner;
  let recorder: MemoryRecorder;
  let logLines: string[];

  before(async () => {
    assert.ok(fs.existsSync(WORKER_PATH), `build first: ${WORKER_PATH}`);
    root = makeWorkspace(BOTS);
    recorder = new MemoryRecorder();
    logLines = [];
    runner = new BotRunner({ workerPath: WORKER_PATH, store: recorder, onLog: (l) => logLines.push(l), user: 'dev@example.com', maxConcurrent: 4 });
    await runner.warmUp();
  });
  after(() => {
    runner.dispose();
    removeWorkspace(root);
  });

  const run = (bot: string, extra: Partial<RunRequest> = {}): Promise<RunResult> =>
    runner.run({ root, bot: { path: `bots/${bot}` }, ...extra });

  it('0 Success: console at every level with time and level, objects as Node formats them, the return value as JSON', async () => {
    const r = await run('hello.ts', { input: { name: 'Ada' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.equal(r.failureKind, undefined);
    assert.equal(r.ok, true);
    const levels = r.logs.map((l) => l.level);
    assert.deepEqual(levels, ['log', 'info', 'warn', 'error', 'debug', 'stdout', 'stderr']);
    assert.equal(r.logs[0].text, util.formatWithOptions({ depth: 4 }, 'hello', { name: 'Ada', nested: { list: [1, 2, { deep: true }] } }));
    assert.doesNotMatch(r.output, /\[object Object\]/);
    assert.match(r.logs[3].text, /Map\(1\) \{ 'k' => 1 \}/);
    for (const l of r.logs) assert.ok(!Number.isNaN(Date.parse(l.time)));
    assert.match(r.output, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[log\] hello/);
    assert.equal(r.logs[5].text, 'direct out');
    assert.deepEqual(JSON.parse(r.returnValue!), { greeting: 'Hello, Ada', n: '1n', f: '[Function: named]' });
    // Recorded as an EXECUTED entry.
    const e = recorder.entries.find((x) => x.id === r.entryId)!;
    assert.equal(e.action, 'EXECUTED');
    assert.equal(e.user, 'dev@example.com');
    assert.equal(e.entityName, 'Bot');
    assert.equal(e.entityId, 'bots/hello.ts');
    assert.equal(e.bot, 'hello');
    assert.equal(e.outcome, 0);
    assert.equal(e.traceId, r.traceId);
    assert.equal(e.contentType, 'application/json');
    assert.equal(e.input, '{"name":"Ada"}');
    assert.ok(e.periodStart! <= e.periodEnd!);
    assert.match(e.outcomeDesc!, /\[warn\] careful/);
  });

  it('4 bad-input: input that does not parse is refused before the bot starts', async () => {
    const a = await run('hello.ts', { inputText: '{ not json' });
    assert.equal(a.outcome, 4);
    assert.equal(a.failureKind, 'bad-input');
    assert.equal(a.logs.length, 0);
    assert.match(a.message!, /not valid JSON/);
    const b = await run('hello.ts', { contentType: 'application/fhir+json', input: { name: 'x' } });
    assert.equal(b.failureKind, 'bad-input');
    assert.match(b.message!, /resourceType/);
    const c = await run('hl7.ts', { contentType: 'x-application/hl7-v2+er7', inputText: 'hello there' });
    assert.equal(c.failureKind, 'bad-input');
    const d = await run('text.ts', { contentType: 'text/plain', input: { not: 'text' } });
    assert.equal(d.failureKind, 'bad-input');
    // The refused input is still stored, so it can be fixed and replayed.
    assert.equal(recorder.entries.find((x) => x.id === a.entryId)!.input, '{ not json');
  });

  it('4 client-error: a 4xx error, an OperationOutcomeError, a returned error OperationOutcome', async () => {
    const a = await run('client-error.ts');
    assert.deepEqual([a.outcome, a.failureKind], [4, 'client-error']);
    assert.match(a.message!, /Missing field/);
    const b = await run('outcome-error.ts');
    assert.deepEqual([b.outcome, b.failureKind], [4, 'client-error']);
    const c = await run('returns-outcome.ts');
    assert.deepEqual([c.outcome, c.failureKind], [4, 'client-error']);
    assert.match(c.message!, /No name/);
    assert.equal(JSON.parse(c.returnValue!).resourceType, 'OperationOutcome');
    const d = await run('returns-warning.ts');
    assert.equal(d.outcome, 0, 'warnings are a success');
  });

  it('a workspace reached through a symbolic link: the stack points at the bot under the folder as it was given, not its real path', async () => {
    const link = path.join(os.tmpdir(), `bot-audit-link-${process.pid}-${Date.now()}`);
    fs.symlinkSync(root, link, 'dir');
    try {
      const r = await runner.run({ root: link, bot: { path: 'bots/throws.ts' }, input: {} });
      assert.deepEqual([r.outcome, r.failureKind], [8, 'error']);
      assert.ok(r.stack!.includes(`${path.join(link, 'bots', 'throws.ts')}:5:`), r.stack);
    } finally {
      fs.unlinkSync(link);
    }
  });

  it('8 error: a thrown TypeError, with a stack that points at the bot’s own file and line', async () => {
    const r = await run('throws.ts', { input: {} });
    assert.deepEqual([r.outcome, r.failureKind], [8, 'error']);
    assert.match(r.message!, /TypeError|Cannot read properties of undefined/);
    const file = path.join(root, 'bots', 'throws.ts');
    assert.ok(r.stack!.includes(`${file}:5:`), r.stack);
    assert.doesNotMatch(r.stack!, /bot-worker\.js/);
    assert.match(r.outcomeDesc, /\[log\] totalling/);
    const s = await run('server-error.ts');
    assert.deepEqual([s.outcome, s.failureKind], [8, 'error']);
  });

  it('8 timeout: `await new Promise(() => {})` and `while (true) {}` are both stopped, and the runner goes on', async () => {
    const t0 = Date.now();
    const a = await run('never.ts', { settings: { timeout: 0.5 } });
    assert.deepEqual([a.outcome, a.failureKind], [8, 'timeout']);
    assert.match(a.output, /waiting forever/);
    const b = await run('spin.ts', { settings: { timeout: 0.5 } });
    assert.deepEqual([b.outcome, b.failureKind], [8, 'timeout']);
    assert.match(b.output, /spinning/, 'output before the loop is kept');
    const c = await run('spin-later.ts', { settings: { timeout: 0.5 } });
    assert.deepEqual([c.outcome, c.failureKind], [8, 'timeout']);
    assert.ok(Date.now() - t0 < 20_000, 'three half-second timeouts end their runs (a bound for a busy machine)');
    const ok = await run('hello.ts', { input: { name: 'after' } });
    assert.equal(ok.outcome, 0);
  });

  it('8 cancelled: cancel stops a running bot at once, and a queued one before it starts', async () => {
    const h = runner.start({ root, bot: { path: 'bots/spin.ts' }, settings: { timeout: 30 } });
    await new Promise((r) => setTimeout(r, 300));
    const t = Date.now();
    h.cancel();
    const r = await h.result;
    assert.deepEqual([r.outcome, r.failureKind], [8, 'cancelled']);
    // Long before its 30 s timeout, with a bound that holds on a busy 2-core machine (how fast a
    // cancel is, is the benchmark's business).
    assert.ok(Date.now() - t < 10_000, `stops at once, not at its timeout (took ${Date.now() - t} ms)`);
    const ac = new AbortController();
    ac.abort();
    const q = await runner.run({ root, bot: { path: 'bots/hello.ts' }, input: { name: 'x' }, signal: ac.signal });
    assert.deepEqual([q.outcome, q.failureKind], [8, 'cancelled']);
    assert.equal(q.logs.length, 0);
  });

  it('12 compile: a syntax error names the file and line', async () => {
    const r = await run('syntax.ts');
    assert.deepEqual([r.outcome, r.failureKind], [12, 'compile']);
    assert.ok(r.message!.includes(`${path.join(root, 'bots', 'syntax.ts')}:3:`), r.message);
  });

  it('12 load: no handler export; a module that throws while loading', async () => {
    const a = await run('no-handler.ts');
    assert.deepEqual([a.outcome, a.failureKind], [12, 'load']);
    assert.match(a.message!, /no exported handler/);
    const b = await run('top-throw.ts');
    assert.deepEqual([b.outcome, b.failureKind], [12, 'load'], b.outcomeDesc);
    assert.match(b.message!, /cannot start/);
    assert.ok(b.stack!.includes(path.join(root, 'bots', 'top-throw.ts')), b.stack);
  });

  it('12 exit: process.exit ends the run, not the host', async () => {
    const r = await run('exit.js');
    assert.deepEqual([r.outcome, r.failureKind], [12, 'exit']);
    assert.equal(r.exitCode, 3);
    assert.match(r.output, /giving up/);
    assert.equal((await run('hello.ts', { input: { name: 'still here' } })).outcome, 0);
  });

  it('12 out-of-memory: a memory bomb hits the memory limit, not the host', async () => {
    const r = await run('hog.ts', { settings: { memoryLimitMb: 48, timeout: 30 } });
    assert.deepEqual([r.outcome, r.failureKind], [12, 'out-of-memory'], r.outcomeDesc);
    assert.match(r.message!, /48 MB/);
    assert.equal((await run('hello.ts', { input: { name: 'ok' } })).outcome, 0);
  });

  it('12 crash: a worker that dies without a word', async () => {
    const r = await run('crash.ts');
    assert.deepEqual([r.outcome, r.failureKind], [12, 'crash'], r.outcomeDesc);
    assert.match(r.message!, /exit code 9/);
  });

  it('an unhandled rejection or an exception in a timer fails the run (8) and never hurts the host', async () => {
    const a = await run('unhandled.ts');
    assert.deepEqual([a.outcome, a.failureKind], [8, 'error'], a.outcomeDesc);
    assert.match(a.message!, /Unhandled promise rejection: nobody catches me/);
    const b = await run('timer-throw.ts');
    assert.deepEqual([b.outcome, b.failureKind], [8, 'error'], b.outcomeDesc);
    assert.match(b.message!, /Uncaught exception: thrown in a timer/);
    assert.equal((await run('hello.ts', { input: { name: 'fine' } })).outcome, 0);
  });

  it('each run has its own globals, in a process of its own', async () => {
    const runner1 = new BotRunner({ workerPath: WORKER_PATH, maxConcurrent: 1, user: 'u' });
    try {
      const a = JSON.parse((await runner1.run({ root, bot: { path: 'bots/leak-global.ts' } })).returnValue!);
      const b = JSON.parse((await runner1.run({ root, bot: { path: 'bots/leak-global.ts' } })).returnValue!);
      assert.deepEqual([a.before, a.now, b.before, b.now], [null, 'yes', null, 'yes']);
      assert.ok(Number.isInteger(a.pid) && Number.isInteger(b.pid) && a.pid !== b.pid, `two processes served the two runs (${a.pid}, ${b.pid})`);
    } finally {
      runner1.dispose();
    }
  });

  it('runs at most maxConcurrent at once', async () => {
    const r2 = new BotRunner({ workerPath: WORKER_PATH, maxConcurrent: 2, user: 'u' });
    try {
      const results = await Promise.all(Array.from({ length: 4 }, () => r2.run({ root, bot: { path: 'bots/sleep.ts' }, input: { ms: 250 } })));
      const spans = results.map((r) => JSON.parse(r.returnValue!) as { start: number; end: number });
      // Sweep over start/end events: the most runs in flight at any instant.
      const events = spans.flatMap((sp) => [[sp.start + 2, 1], [sp.end - 2, -1]] as [number, number][]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let inFlight = 0;
      let most = 0;
      for (const [, d] of events) most = Math.max(most, (inFlight += d));
      assert.equal(most, 2, `at most 2 at once, saw ${most}`);
      const all = Math.max(...spans.map((s) => s.end)) - Math.min(...spans.map((s) => s.start));
      assert.ok(all >= 480, `4 runs of 250 ms two at a time take ≥ 500 ms (took ${all})`);
    } finally {
      r2.dispose();
    }
  });

  it('secrets from .env reach the bot as Medplum passes them, and are masked everywhere they are kept', async () => {
    const r = await run('secret.ts', { input: { key: 'sk-live-0123456789' } });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.doesNotMatch(r.output, /sk-live-0123456789/);
    assert.match(r.output, /using key •••••••• for API_KEY/);
    assert.deepEqual(JSON.parse(r.returnValue!), { echoed: '••••••••', other: '••••••••' });
    const e = recorder.entries.find((x) => x.id === r.entryId)!;
    assert.doesNotMatch(JSON.stringify(e), /sk-live-0123456789|plain-value/);
    assert.equal(e.input, '{"key":"••••••••"}');
  });

  it('a short or partial match of a secret changes nothing; a masked JSON input still replays (issue 18, defect 5)', async () => {
    // The secrets are the workspace's .env plus a one-character one, as `PORT=1` would give.
    const secrets = { API_KEY: 'sk-live-0123456789', PORT: '1' };
    const input = { birthDate: '1815-12-10', id: '1b1d', n: 11, key: 'sk-live-0123456789', note: 'xsk-live-0123456789' };
    const r = await run('hello.ts', { input: { name: JSON.stringify(input) }, secrets });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    const e = recorder.entries.find((x) => x.id === r.entryId)!;
    const kept = JSON.parse(JSON.parse(e.input!).name) as typeof input;
    assert.deepEqual(kept, { ...input, key: '••••••••' }, 'only the whole secret is masked; the 1-character one not at all');
    const again = await runner.replay({ id: e.id, input: e.input, contentType: e.contentType }, { root, bot: { path: 'bots/hello.ts' }, secrets });
    assert.equal(again.outcome, 0, again.outcomeDesc);
    // A JSON input whose value is the secret: what is kept parses, so the replay is not a bad input.
    const numeric = await run('hello.ts', { inputText: '{"name":"sk-live-0123456789","when":"2026-01-01T11:11:11Z"}', secrets });
    const kept2 = recorder.entries.find((x) => x.id === numeric.entryId)!.input!;
    assert.deepEqual(JSON.parse(kept2), { name: '••••••••', when: '2026-01-01T11:11:11Z' });
  });

  it('keeps the whole output up to its cap, and says how much was dropped', async () => {
    const r = await run('chatty.ts');
    assert.equal(r.logs.length, 2000);
    const small = new BotRunner({ workerPath: WORKER_PATH, maxOutputBytes: 10_000, user: 'u' });
    try {
      const s = await small.run({ root, bot: { path: 'bots/chatty.ts' } });
      assert.equal(s.outcome, 0);
      assert.ok(s.logs.length < 100);
      assert.match(s.logs[s.logs.length - 1].text, /\d+ more line\(s\) of output were dropped/);
    } finally {
      small.dispose();
    }
  });

  it('HL7 v2 input arrives as an Hl7Message; a returned Hl7Message is kept as text', async () => {
    const hl7 = 'MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101120000||ADT^A01|MSG0001|P|2.5\rPID|1||12345||Lovelace^Ada||18151210|F';
    const r = await run('hl7.ts', { contentType: 'x-application/hl7-v2+er7', inputText: hl7 });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.match(r.output, /function Lovelace\^Ada/);
    assert.equal(JSON.parse(r.returnValue!), hl7);
  });

  it('text input, and the event has bot, contentType and traceId as Medplum passes them', async () => {
    const r = await runner.run({ root, bot: { path: 'bots/text.ts', id: 'b-1', name: 'Texty' }, contentType: 'text/plain', input: 'abc' });
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.deepEqual(JSON.parse(r.returnValue!), { upper: 'ABC', contentType: 'text/plain', bot: { reference: 'Bot/b-1', display: 'Texty' }, hasTrace: true });
    assert.equal(r.bot.entityId, 'b-1');
  });

  it('bundles relative imports and workspace packages, caches by content, rebuilds on change', async () => {
    const a = await run('uses-helper.ts', { input: { n: 2 } });
    assert.deepEqual(JSON.parse(a.returnValue!), { doubled: 4, tripled: 6 });
    const b = await run('uses-helper.ts', { input: { n: 2 } });
    assert.equal(b.bundleCached, true);
    // Touching a file without changing it keeps the cache; changing an import rebuilds.
    const helper = path.join(root, 'bots/lib/helper.ts');
    const now = new Date(Date.now() + 2000);
    fs.utimesSync(helper, now, now);
    const c = await run('uses-helper.ts', { input: { n: 2 } });
    assert.equal(c.bundleCached, true);
    fs.writeFileSync(helper, 'export function double(n: number): number { return n * 20; }');
    const d = await run('uses-helper.ts', { input: { n: 2 } });
    assert.equal(d.bundleCached, false);
    assert.deepEqual(JSON.parse(d.returnValue!), { doubled: 40, tripled: 6 });
  });

  it('describes return values JSON cannot hold', async () => {
    const r = await run('circular.ts');
    assert.equal(r.outcome, 0);
    assert.deepEqual(JSON.parse(r.returnValue!), { name: 'a', self: '[Circular]' });
  });

  it('console.table, group, count, assert and trace', async () => {
    const r = await run('console-misc.ts');
    assert.equal(r.outcome, 0, r.outcomeDesc);
    assert.match(r.output, /┌/);
    assert.match(r.output, /\[log\]   inside/);
    assert.match(r.output, /c: 2/);
    assert.match(r.output, /\[error\] Assertion failed: must hold/);
    assert.match(r.output, /\[trace\] Trace: here/);
  });

  it('records by trigger and destination', async () => {
    const rec = new MemoryRecorder();
    const lines: string[] = [];
    const r3 = new BotRunner({ workerPath: WORKER_PATH, store: rec, onLog: (l) => lines.push(l), user: 'u' });
    try {
      const go = (bot: string, settings: RunRequest['settings']) => r3.run({ root, bot: { path: `bots/${bot}` }, input: { name: 'x' }, settings });
      await go('hello.ts', { auditEventTrigger: 'never' });
      await go('hello.ts', { auditEventTrigger: 'on-error' });
      assert.equal(rec.entries.length, 0);
      await go('throws.ts', { auditEventTrigger: 'on-error' });
      assert.equal(rec.entries.length, 1);
      await go('returns-warning.ts', { auditEventTrigger: 'on-output' });
      assert.equal(rec.entries.length, 1, 'no output, not recorded');
      await go('hello.ts', { auditEventTrigger: 'on-output' });
      assert.equal(rec.entries.length, 2);
      const logged = await go('hello.ts', { auditEventDestination: ['log'] });
      assert.equal(rec.entries.length, 2, 'log only: not in the store');
      assert.equal(logged.logged, true);
      assert.equal(logged.entryId, undefined);
      const line = JSON.parse(lines[lines.length - 1]);
      assert.equal(line.action, 'EXECUTED');
      assert.equal(line.traceId, logged.traceId);
      await go('hello.ts', { auditEventDestination: ['resource', 'log'] });
      assert.equal(rec.entries.length, 3);
      assert.equal(lines.length, 2);
    } finally {
      r3.dispose();
    }
  });

  it('EXECUTED entries of runs that end together share one durable write; a store without appendBatch gets append()', async () => {
    const rec = new MemoryRecorder();
    const r5 = new BotRunner({ workerPath: WORKER_PATH, store: rec, user: 'u', maxConcurrent: 4 });
    const plain = new MemoryRecorder(false);
    const r6 = new BotRunner({ workerPath: WORKER_PATH, store: plain, user: 'u' });
    try {
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => r5.run({ root, bot: { path: 'bots/hello.ts' }, input: { name: `g${i}` } })));
      assert.deepEqual(rs.map((r) => r.entryId).sort((a, b) => a! - b!), [1, 2, 3, 4, 5, 6, 7, 8]);
      for (const r of rs) assert.equal(JSON.parse(rec.entries[r.entryId! - 1].input!).name, JSON.parse(r.input!).name);
      assert.equal(rec.writes.reduce((a, b) => a + b, 0), 8);
      const p = await r6.run({ root, bot: { path: 'bots/hello.ts' }, input: { name: 'p' } });
      assert.equal(p.entryId, 1);
      assert.deepEqual(plain.writes, [1]);
    } finally {
      r5.dispose();
      r6.dispose();
    }
  });

  it('a store that fails does not fail the run', async () => {
    const r4 = new BotRunner({ workerPath: WORKER_PATH, store: { append: async () => Promise.reject(new Error('disk full')) }, user: 'u' });
    try {
      const r = await r4.run({ root, bot: { path: 'bots/hello.ts' }, input: { name: 'x' } });
      assert.equal(r.outcome, 0);
      assert.match(r.recordError!, /disk full/);
    } finally {
      r4.dispose();
    }
  });

  it('replays a recorded entry with its input and the bot’s current code; the new entry refers to it', async () => {
    const first = await run('hello.ts', { input: { name: 'Replay' } });
    const entry = recorder.entries.find((x) => x.id === first.entryId)!;
    const again = await runner.replay({ id: entry.id, input: entry.input, contentType: entry.contentType }, { root, bot: { path: 'bots/hello.ts' } });
    assert.equal(again.outcome, 0);
    assert.equal(again.replayOf, entry.id);
    assert.equal(JSON.parse(again.returnValue!).greeting, 'Hello, Replay');
    const e2 = recorder.entries.find((x) => x.id === again.entryId)!;
    assert.equal(e2.replayOf, entry.id);
    assert.equal(e2.input, entry.input);
    assert.notEqual(e2.traceId, entry.traceId);
  });

  it('many runs at once mix outcomes without crossing output', async () => {
    const jobs = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 0 ? run('throws.ts', { input: {} }) : run('hello.ts', { input: { name: `n${i}` } }),
    );
    const rs = await Promise.all(jobs);
    rs.forEach((r, i) => {
      if (i % 3 === 0) assert.equal(r.outcome, 8);
      else {
        assert.equal(r.outcome, 0);
        assert.equal(JSON.parse(r.returnValue!).greeting, `Hello, n${i}`);
        assert.ok(r.logs.every((l) => !l.text.includes('totalling')));
      }
    });
  });
});

describe('runner: the sample bots in examples/workspace', function () {
  this.timeout(60_000);
  const ws = path.join(repoRoot(), 'examples', 'workspace');
  let runner: BotRunner;
  before(() => {
    runner = new BotRunner({ workerPath: WORKER_PATH, user: 'dev@example.com' });
  });
  after(() => runner.dispose());
  const input = (name: string): string => fs.readFileSync(path.join(ws, 'inputs', `${name}.json`), 'utf8');
  const cases: [string, string, number, string | undefined, RunRequest['settings']?][] = [
    ['bots/hello-bot.ts', 'hello-bot', 0, undefined],
    ['bots/validate-patient.ts', 'validate-patient', 4, 'client-error'],
    ['bots/broken-bot.ts', 'broken-bot', 8, 'error'],
    ['bots/endless-bot.ts', 'endless-bot', 8, 'timeout', { timeout: 1 }],
    ['bots/memory-hog.ts', 'memory-hog', 12, 'out-of-memory', { memoryLimitMb: 64, timeout: 60 }],
    ['bots/quitter.js', 'quitter', 12, 'exit'],
  ];
  for (const [bot, inp, outcome, kind, settings] of cases) {
    it(`${bot} → ${outcome}${kind ? ` ${kind}` : ''}`, async function () {
      if (!fs.existsSync(path.join(ws, bot))) this.skip();
      const r = await runner.run({ root: ws, bot: { path: bot }, inputText: input(inp), settings });
      assert.equal(r.outcome, outcome, r.outcomeDesc);
      assert.equal(r.failureKind, kind);
    });
  }
});
