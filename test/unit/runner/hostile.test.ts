// Hostile bots (issue 18, "a record nobody can bend"): one test per way a bot once bent the
// record, each asserting that the record stays true. Some go through the real CLI (dist/cli.js):
// there the host is a process of its own that a bot may try to kill or read.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BotRunner, type RunResult } from '../../../src/core/runner';
import { AuditStore, type Entry } from '../../../src/core/store';
import { LYING_WORKER, hostileBots } from './hostile-bots';
import { MemoryRecorder, WORKER_PATH, makeWorkspace, removeWorkspace, repoRoot } from './helpers';

const REPO = repoRoot();
const CLI = path.join(REPO, 'dist', 'cli.js');
const WASM = path.join(REPO, 'node_modules', 'sql.js', 'dist', 'sql-wasm.wasm');
const PLANTED = 'planted-host-secret-7f3a9c1e';

/** Alive: not gone, and not a zombie (killed, waiting for init to reap it). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** PIDs of processes whose command line is exactly `words`. */
function processesRunning(...words: string[]): number[] {
  const want = words.join('\0');
  const out: number[] = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').replace(/\0$/, '') === want) out.push(Number(n));
    } catch {
      /* gone */
    }
  }
  return out;
}

function pidsIn(text: string): number[] {
  return [...text.matchAll(/CHILD_PID (\d+)/g)].map((m) => Number(m[1]));
}

function cleanUp(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function filesHash(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const f = path.join(dir, name);
    if (fs.statSync(f).isFile()) out[name] = createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  }
  return out;
}

async function entriesOf(db: string): Promise<{ entries: Entry[]; ok: boolean }> {
  const store = await AuditStore.open(db, { watch: false, wasmPath: WASM });
  try {
    const v = store.verify();
    const entries: Entry[] = [];
    for (let i = 1; i <= v.count; i++) {
      const e = store.get(i);
      if (e) entries.push(e);
    }
    return { entries, ok: v.ok };
  } finally {
    await store.close();
  }
}

/** Runs `bot-audit run <bot>` in `ws`; the result, with how long it took. */
function cli(ws: string, bot: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'run', bot, '--workspace', ws, '--json'], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr, ms: Date.now() - t });
    });
  });
}

describe('runner: hostile bots cannot bend the record (issue 18)', function () {
  this.timeout(120_000);
  let root: string;
  let runner: BotRunner;
  let recorder: MemoryRecorder;
  const run = (bot: string, extra: { input?: unknown; settings?: object } = {}): Promise<RunResult> =>
    runner.run({ root, bot: { path: `bots/${bot}` }, input: extra.input, settings: extra.settings });

  before(() => {
    assert.ok(fs.existsSync(WORKER_PATH), `build first: ${WORKER_PATH}`);
    root = makeWorkspace(hostileBots(REPO));
    recorder = new MemoryRecorder();
    runner = new BotRunner({ workerPath: WORKER_PATH, store: recorder, user: 'dev@example.com', maxConcurrent: 2 });
  });
  after(() => {
    runner.dispose();
    removeWorkspace(root);
  });

  it('forges no entry: a bot that appends an admin LOGIN with the store’s own code fails, and the log verifies', async () => {
    const dir = path.join(root, '.bot-audit');
    fs.mkdirSync(dir, { recursive: true });
    const db = path.join(dir, 'audit.db');
    const store = await AuditStore.open(db, { watch: false, wasmPath: WASM });
    const r4 = new BotRunner({ workerPath: WORKER_PATH, store, user: 'dev@example.com' });
    let r: RunResult;
    try {
      r = await r4.run({ root, bot: { path: 'bots/forge-login.ts' }, input: { db, wasm: WASM } });
    } finally {
      r4.dispose();
      await store.close();
    }
    const { entries, ok } = await entriesOf(db);
    assert.equal(ok, true, 'the chain verifies');
    assert.deepEqual(entries.filter((e) => e.action === 'LOGIN').map((e) => e.user), [], 'no forged LOGIN');
    assert.deepEqual(entries.map((e) => [e.action, e.user]), [['EXECUTED', 'dev@example.com']]);
    assert.notEqual(r.outcome, 0, r.outcomeDesc);
    assert.equal(entries[0].id, r.entryId, 'the run has its entry');
  });

  it('a bot that patches its messaging and throws is recorded as the failure it is', async () => {
    const r = await run('patch-messaging.ts');
    assert.deepEqual([r.outcome, r.failureKind], [8, 'error'], r.outcomeDesc);
    assert.match(r.message!, /the real failure/);
    assert.notEqual(r.returnValue, '"all good"');
  });

  it('the log’s files are unchanged, byte for byte, after a bot tries to overwrite them', async () => {
    const dir = path.join(root, 'victim', '.bot-audit');
    fs.mkdirSync(dir, { recursive: true });
    const store = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, wasmPath: WASM });
    await store.append({ user: 'dev@example.com', action: 'EXECUTED', entityName: 'Bot', entityId: 'x', outcome: 0 });
    await store.close();
    const before = filesHash(dir);
    const r = await run('overwrite-db.ts', { input: { dir } });
    assert.deepEqual(filesHash(dir), before, `changed by ${r.returnValue}`);
    const { ok, entries } = await entriesOf(path.join(dir, 'audit.db'));
    assert.equal(ok, true);
    assert.equal(entries.length, 1);
  });

  it('a bot cannot kill the host: it lives on, and the run has its entry (CLI)', async () => {
    const r = await cli(root, 'bots/kill-host.js');
    assert.equal(r.code, 0, `the CLI ended with ${r.code}: ${r.stderr}`);
    const { entries, ok } = await entriesOf(path.join(root, '.bot-audit', 'audit.db'));
    assert.equal(ok, true);
    const e = entries.filter((x) => x.entityId === 'bots/kill-host.js');
    assert.equal(e.length, 1, JSON.stringify(entries.map((x) => [x.action, x.entityId])) + r.stdout);
    for (const line of JSON.parse(e[0].returnValue!) as string[]) assert.doesNotMatch(line, /^(kill|_kill|kill group|setPriority|exec kill): done$/, line);
  });

  it('the host’s environment never reaches the bot: not /proc/*/environ, not process.env (CLI)', async () => {
    const r = await cli(root, 'bots/read-env.js', { ...process.env, BOT_AUDIT_PLANTED_SECRET: PLANTED });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(PLANTED) && !r.stderr.includes(PLANTED), 'not in the CLI output');
    const { entries } = await entriesOf(path.join(root, '.bot-audit', 'audit.db'));
    const e = entries.filter((x) => x.entityId === 'bots/read-env.js');
    assert.equal(e.length, 1);
    assert.ok(!JSON.stringify(e).includes(PLANTED), 'not in the entry');
    const seen = JSON.parse(e[0].returnValue!) as Record<string, string>;
    for (const k of ['self', 'parent', 'pid']) assert.match(seen[k], /^denied/, `/proc ${k}: ${seen[k].slice(0, 80)}`);
  });

  it('a bot cannot start a detached process that outlives its run', async () => {
    const r = await run('detach.js');
    const pids = pidsIn(r.output);
    try {
      await new Promise((res) => setTimeout(res, 200));
      assert.deepEqual(pids.filter(alive), [], 'no child of the run is alive');
      assert.equal(processesRunning('sleep', '31.5').length, 0);
      assert.match(r.outcomeDesc, /ERR_ACCESS_DENIED|Access to this API has been restricted/);
    } finally {
      cleanUp(pids);
    }
  });

  it('defect 6: with child processes opted in, a timeout ends the whole tree at once (CLI)', async () => {
    const ws = makeWorkspace({
      'bots/blocker.js': hostileBots(REPO)['bots/blocker.js'],
      'bot-audit.json': JSON.stringify({ bots: { 'bots/blocker.js': { timeout: 2, permissions: { childProcess: true } } } }),
    });
    let pids: number[] = [];
    try {
      const r = await cli(ws, 'bots/blocker.js');
      const { entries } = await entriesOf(path.join(ws, '.bot-audit', 'audit.db'));
      const e = entries.find((x) => x.entityId === 'bots/blocker.js')!;
      pids = pidsIn(e.outcomeDesc ?? '');
      assert.equal(r.code, 8, r.stderr);
      assert.equal(e.failureKind, 'timeout');
      // Well before the 21.5 s execSync would have ended, with room for a busy 2-core machine.
      assert.ok(r.ms < 15_000, `the CLI returned after ${r.ms} ms`);
      assert.equal(pids.length, 2, e.outcomeDesc);
      await new Promise((res) => setTimeout(res, 200));
      assert.deepEqual(pids.filter(alive), [], 'its children are gone');
      assert.deepEqual(processesRunning('sleep', '21.5'), [], 'the blocking sleep is gone');
      assert.deepEqual((e.after as { permissions?: unknown } | undefined)?.permissions, { childProcess: true }, 'the opt-in is on the entry');
    } finally {
      cleanUp([...pids, ...processesRunning('sleep', '21.5'), ...processesRunning('sleep', '32.5'), ...processesRunning('sleep', '33.5')]);
      removeWorkspace(ws);
    }
  });

  it('1.6 GB of Buffers under a 64 MB limit is out of memory (12), and the host lives on', async () => {
    const r = await run('buffers.js', { settings: { memoryLimitMb: 64, timeout: 30 } });
    assert.deepEqual([r.outcome, r.failureKind], [12, 'out-of-memory'], r.outcomeDesc);
    assert.equal((await run('hello.js', { input: 1 })).outcome, 0);
  });

  it('a process that reports another run, or writes garbage, makes its run a Major failure that says so', async () => {
    const a = await run('other-run.js');
    assert.deepEqual([a.outcome, a.failureKind], [12, 'crash'], a.outcomeDesc);
    assert.match(a.message!, /another run/);
    const b = await run('garbage.js');
    assert.deepEqual([b.outcome, b.failureKind], [12, 'crash'], b.outcomeDesc);
    assert.match(b.message!, /protocol/);
  });

  it('a report a bot writes itself on the channel, with its own run ID, makes its run a Major failure', async () => {
    const r = await run('forge-report.js', { settings: { timeout: 20 } });
    assert.deepEqual([r.outcome, r.failureKind], [12, 'crash'], r.outcomeDesc);
    assert.match(r.message!, /report that the runner did not write/);
    assert.notEqual(r.returnValue, '"forged success"');
  });

  it('a process whose reports the runner did not write makes its run a Major failure; the next run is not affected', async () => {
    const liar = path.join(root, 'lying-worker.js');
    fs.writeFileSync(liar, LYING_WORKER);
    const rec = new MemoryRecorder();
    const r5 = new BotRunner({ workerPath: liar, store: rec, user: 'dev@example.com' });
    try {
      const r = await r5.run({ root, bot: { path: 'bots/hello.js' }, input: 1 });
      assert.deepEqual([r.outcome, r.failureKind], [12, 'crash'], r.outcomeDesc);
      assert.match(r.message!, /report that the runner did not write/);
      assert.equal(rec.entries.length, 1);
      assert.equal(rec.entries[0].user, 'dev@example.com');
    } finally {
      r5.dispose();
    }
    assert.equal((await run('hello.js', { input: 2 })).outcome, 0);
  });
});
