// One sandboxed process per run (see pool.ts): nothing is kept between runs, one process is started
// ahead, and outcomes and limits hold.
import * as assert from 'node:assert/strict';
import { BotRunner } from '../../../src/core/runner';
import { WORKER_PATH, makeWorkspace, removeWorkspace } from './helpers';

const BOTS = {
  'bots/ok.ts': `export async function handler(_m: unknown, e: { input: { n: number } }) {
    const before = (globalThis as any).seen ?? null;
    (globalThis as any).seen = true;
    console.log('n', e.input.n);
    return { n: e.input.n * 2, before };
  }`,
  'bots/exit.js': `exports.handler = async () => { console.log('bye'); process.exit(7); };`,
  'bots/spin.ts': `export async function handler() { while (true) {} }`,
  'bots/hog.ts': `export async function handler() { const k: string[][] = []; for (let i = 0; ; i++) k.push(Array.from({ length: 1000 }, (_, j) => i + ':' + j + ':'.padEnd(200, 'x'))); }`,
  'bots/heap.js': `exports.handler = async () => {
    const young = require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    const outer = (function () { return this; }).constructor('return globalThis')();
    return { used: young.space_used_size, size: young.space_size, gc: typeof gc, outerGc: typeof outer.gc };
  };`,
  'bots/throws.ts': `export async function handler() { throw Object.assign(new Error('nope'), { status: 404 }); }`,
};

{
  describe('runner: a sandboxed process per run', function () {
    this.timeout(60_000);
    let root: string;
    let runner: BotRunner;
    before(() => {
      root = makeWorkspace(BOTS);
      runner = new BotRunner({ workerPath: WORKER_PATH, user: 'u', maxConcurrent: 2 });
    });
    after(() => {
      runner.dispose();
      removeWorkspace(root);
    });

    it('success, a fresh isolate each run, output captured', async () => {
      const a = await runner.run({ root, bot: { path: 'bots/ok.ts' }, input: { n: 2 } });
      const b = await runner.run({ root, bot: { path: 'bots/ok.ts' }, input: { n: 3 } });
      assert.equal(a.outcome, 0, a.outcomeDesc);
      assert.deepEqual(JSON.parse(a.returnValue!), { n: 4, before: null });
      assert.deepEqual(JSON.parse(b.returnValue!), { n: 6, before: null });
      assert.match(a.output, /\[log\] n 2/);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(runner.pool.size, 1, 'one process started ahead, nothing else kept');
    });

    it('starts the run with its young generation collected, and gives the bot no gc', async () => {
      await runner.warmUp(256, root);
      const r = await runner.run({ root, bot: { path: 'bots/heap.js' } });
      assert.equal(r.outcome, 0, r.outcomeDesc);
      const v = JSON.parse(r.returnValue!) as { used: number; size: number; gc: string; outerGc: string };
      // Start-up and the rehearsal leave it nearly full; collected, the run starts with room (V8
      // would otherwise collect it in the run's first turn of the event loop, ≈ 2.7 ms).
      assert.ok(v.used < v.size / 4, `young generation ${v.used} of ${v.size} bytes in use at the run's start`);
      assert.deepEqual([v.gc, v.outerGc], ['undefined', 'undefined']);
    });

    it('4 client-error, 12 exit, 8 timeout, 12 out-of-memory', async () => {
      const t = await runner.run({ root, bot: { path: 'bots/throws.ts' } });
      assert.deepEqual([t.outcome, t.failureKind], [4, 'client-error']);
      const e = await runner.run({ root, bot: { path: 'bots/exit.js' } });
      assert.deepEqual([e.outcome, e.failureKind, e.exitCode], [12, 'exit', 7], e.outcomeDesc);
      assert.match(e.output, /bye/);
      const s = await runner.run({ root, bot: { path: 'bots/spin.ts' }, settings: { timeout: 0.5 } });
      assert.deepEqual([s.outcome, s.failureKind], [8, 'timeout']);
      const h = await runner.run({ root, bot: { path: 'bots/hog.ts' }, settings: { memoryLimitMb: 48, timeout: 30 } });
      assert.deepEqual([h.outcome, h.failureKind], [12, 'out-of-memory'], h.outcomeDesc);
    });
  });
}
