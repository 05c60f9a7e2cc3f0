// The CLI with a team log configured (--team-log, BOT_AUDIT_TEAM_LOG), as real child processes on a
// real PostgreSQL: three workspaces running bots at once, each run shipping its own log; a team log
// that cannot be reached (a warning, the run's exit code); a local verify that compares heads with
// the team log; team status; and a password that never shows.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from 'pg';
import { EXIT } from '../../../src/cli/main';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { initTeamLog, originOf, verifyTeamLog } from '../../../src/core/team';
import { CLI, cli, cliWith, workspace } from '../cli/helpers';
import { startCluster, type TestCluster } from './pg';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `bot-audit ...args` in `cwd`, as a child process that runs beside others. */
function cliAsync(env: NodeJS.ProcessEnv, cwd: string, ...args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function dbOf(ws: string): string {
  return path.join(ws, '.bot-audit', 'audit.db');
}

async function withStore<T>(ws: string, fn: (s: AuditStore) => T | Promise<T>): Promise<T> {
  const s = await AuditStore.open(dbOf(ws), { watch: false });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

function entries(n: number): NewEntry[] {
  return Array.from({ length: n }, (_, i) => ({ user: 'someone@example.com', action: 'UPDATED' as const, entityName: 'story', entityId: String(i), after: { n: i } }));
}

describe('bot-audit with a team log: --team-log and BOT_AUDIT_TEAM_LOG', function () {
  this.timeout(300_000);
  let pg: TestCluster;
  let admin: Client;
  let url: string;
  let closed: string;
  const dirs: string[] = [];
  const ws = (prefix: string) => {
    const d = workspace(prefix);
    dirs.push(d);
    return d;
  };
  /** A state folder of its own: a machine that never saw this log (no witness, no mark). */
  const freshState = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-state-'));
    dirs.push(d);
    return d;
  };

  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    // Stopped under it on purpose in one test (then connected again).
    admin.on('error', () => undefined);
    url = pg.url();
    closed = url.replace(`:${pg.port}/`, ':1/');
  });
  after(async () => {
    await admin?.end();
    pg?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await admin.query('DROP SCHEMA IF EXISTS bot_audit CASCADE');
    await initTeamLog(admin);
  });

  it('three machines at once: three workspaces run bots from their own processes, each shipping to one team log; every entry once, in order per origin; both verifies hold', async () => {
    const machines = ['alice', 'bob', 'carol'].map((who) => ws(`bot-audit-${who}-`));
    // Each machine: two rounds of two runs at once (two processes writing one log), all machines at once.
    const results = await Promise.all(
      machines.map(async (w) => {
        const env = { BOT_AUDIT_TEAM_LOG: url };
        const out: Ran[] = [];
        for (let round = 0; round < 2; round++) {
          out.push(...(await Promise.all([cliAsync(env, w, 'run', 'hello-bot'), cliAsync({}, w, 'run', 'hello-bot', '--team-log', url)])));
        }
        return out;
      }),
    );
    for (const r of results.flat()) {
      assert.equal(r.code, EXIT.ok, r.stderr);
      assert.doesNotMatch(r.stderr, /warning|notice/, r.stderr);
    }
    const origins = new Set<string>();
    for (const w of machines) {
      await withStore(w, async (s) => {
        assert.equal(s.size, 4, 'four runs recorded');
        const origin = originOf(s)!;
        origins.add(origin);
        const { rows } = await admin.query('SELECT origin_id::int AS id, origin_hash AS hash FROM bot_audit.team_entries WHERE origin = $1 ORDER BY seq', [origin]);
        assert.deepEqual(rows.map((r) => r.id), [1, 2, 3, 4], 'every entry once, in order');
        for (const r of rows) assert.equal(r.hash, s.get(r.id)!.hash);
      });
      const v = cli(w, 'verify', '--full', '--team-log', url);
      assert.equal(v.code, EXIT.ok, v.stderr);
      assert.match(v.stdout, /^4\/4 entries valid\n/);
      assert.match(v.stderr, /the team log has entries 1\.\.4 of this log \(origin [0-9a-f]{64}\), which ends at 4: up to date/);
    }
    assert.equal(origins.size, 3, 'three logs');
    const team = await verifyTeamLog(admin);
    assert.deepEqual([team.ok, team.count, team.origins.length], [true, 12, 3]);
    const tv = cli(machines[0], 'verify', '--db', url);
    assert.equal(tv.code, EXIT.ok, tv.stderr);
    assert.match(tv.stdout, /^12\/12 team entries valid, from 3 logs\n/);
  });

  it('a team log that cannot be reached: the run keeps its exit code, warns how far behind, and the next run ships it all', async () => {
    const w = ws('bot-audit-away-');
    const state = { BOT_AUDIT_STATE_DIR: freshState() };
    const a = cliWith(state, w, 'run', 'hello-bot', '--team-log', closed);
    assert.equal(a.code, EXIT.ok, a.stderr);
    assert.match(a.stdout, /Outcome: 0 Success/);
    assert.match(a.stderr, /^warning: cannot reach the team log at postgres:\/\/postgres@127\.0\.0\.1:1\/postgres: .*ECONNREFUSED.*; not shipped; 1 entry behind; will be shipped next time\n$/m);
    // A failed run keeps its own exit code too.
    const b = cliWith({ ...state, BOT_AUDIT_TEAM_LOG: closed }, w, 'run', 'broken-bot');
    assert.notEqual(b.code, EXIT.ok);
    assert.ok([4, 8, 12].includes(b.code), `a run outcome, not a team-log code: ${b.code}`);
    assert.match(b.stderr, /not shipped; 2 entries behind; will be shipped next time/);
    const before = cliWith(state, w, 'team', 'status', '--team-log', url);
    assert.equal(before.code, EXIT.ok, before.stderr);
    assert.match(before.stdout, /^the team log has none of this log's 2 entries yet \(origin [0-9a-f]{64}\): 2 entries behind\n$/);
    const c = cliWith({ ...state, BOT_AUDIT_TEAM_LOG: url }, w, 'run', 'hello-bot');
    assert.equal(c.code, EXIT.ok, c.stderr);
    assert.doesNotMatch(c.stderr, /warning/);
    const origin = await withStore(w, (s) => originOf(s)!);
    const { rows } = await admin.query('SELECT origin_id::int AS id FROM bot_audit.team_entries WHERE origin = $1 ORDER BY seq', [origin]);
    assert.deepEqual(rows.map((r) => r.id), [1, 2, 3]);
    const now = cliWith(state, w, 'team', 'status', '--team-log', url);
    assert.match(now.stdout, /^the team log has entries 1\.\.3 of this log \(origin [0-9a-f]{64}\), which ends at 3: up to date\n$/);
    // Away again: how far behind, as of the last time this machine reached it.
    await withStore(w, (s) => s.appendBatch(entries(4)));
    pg.stopServer();
    let away: ReturnType<typeof cliWith>;
    try {
      away = cliWith(state, w, 'team', 'status', '--team-log', url);
    } finally {
      pg.startServer();
    }
    await admin.end().catch(() => undefined);
    admin = await pg.connect();
    admin.on('error', () => undefined);
    assert.equal(away.code, EXIT.teamLog);
    assert.match(away.stderr, /cannot reach the team log .*; as of \d{4}-\d\d-\d\dT[^,]+, the team log had entries 1\.\.3 of this log, which ends at 7: 4 entries behind\n$/);
  });

  it('a local verify compares heads with the team log: a shorter log, a forked one, and a team log away', async () => {
    const w = ws('bot-audit-heads-');
    await withStore(w, (s) => s.appendBatch(entries(5)));
    await withStore(w, (s) => s.checkpoint());
    const copy = `${w}-backup`;
    dirs.push(copy);
    fs.cpSync(path.join(w, '.bot-audit'), copy, { recursive: true });
    await withStore(w, (s) => s.appendBatch(entries(7)));
    assert.equal(cli(w, 'team', 'ship', '--team-log', url).code, EXIT.ok);
    // The log put back as it was at 5 entries: its own chain holds, only the team log knows it was longer.
    fs.rmSync(path.join(w, '.bot-audit'), { recursive: true });
    fs.cpSync(copy, path.join(w, '.bot-audit'), { recursive: true });
    const state = { BOT_AUDIT_STATE_DIR: freshState() };
    const alone = cliWith(state, w, 'verify', '--full');
    assert.equal(alone.code, EXIT.ok, 'without the team log, nothing shows it');
    const v = cliWith(state, w, 'verify', '--full', '--team-log', url);
    assert.equal(v.code, EXIT.chainBroken);
    assert.equal(v.stdout, `5/5 entries valid\nhead ${await withStore(w, (s) => s.headHash)}\n`);
    assert.match(v.stderr, /the log disagrees with the team log at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres: the local log is shorter than the team log: the team log has entries 1\.\.12 of this log \(origin [0-9a-f]{12}…\), but the local log ends at entry 5/);
    const env = cliWith({ ...state, BOT_AUDIT_TEAM_LOG: url }, w, 'verify', '--json');
    assert.equal(env.code, EXIT.chainBroken);
    const j = JSON.parse(env.stdout);
    assert.deepEqual([j.ok, j.count, j.team.localHead, j.team.teamHead], [true, 5, 5, 12]);
    assert.match(j.team.disagreement, /the local log is shorter than the team log/);
    // Other entries written after the restore, past the team log's head: a fork, named by its ID.
    await withStore(w, (s) => s.appendBatch(entries(9)));
    const f = cliWith(state, w, 'verify', '--team-log', url);
    assert.equal(f.code, EXIT.chainBroken);
    assert.match(f.stderr, /entry 12 of this log \(origin [0-9a-f]{12}…\) has hash [0-9a-f]{12}… in the team log but [0-9a-f]{12}… here: the two logs forked/);
    // The team log away: a warning, and the local log is verified all the same.
    const away = cliWith(state, w, 'verify', '--team-log', closed);
    assert.equal(away.code, EXIT.ok, away.stderr);
    assert.match(away.stdout, /^14\/14 entries valid\n/);
    assert.match(away.stderr, /warning: cannot reach the team log at postgres:\/\/postgres@127\.0\.0\.1:1\/postgres: .*; the local log was verified without comparing its head with the team log/);
    // team status says the same, and a run on the forked log warns and keeps its exit code.
    const st = cliWith(state, w, 'team', 'status', '--team-log', url);
    assert.equal(st.code, EXIT.chainBroken);
    assert.match(st.stderr, /the two logs forked/);
  });

  it('the password never shows: a wrong PGPASSWORD, an unreachable host, a password in the URL', async () => {
    const secret = 'Wrong-Secret-1717';
    await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pwuser') THEN CREATE ROLE pwuser LOGIN PASSWORD 'Right-Secret-4242' IN ROLE bot_audit_writer; END IF; END $$`);
    pg.requirePassword('pwuser');
    const w = ws('bot-audit-secret-');
    const env = { PGPASSWORD: secret, BOT_AUDIT_STATE_DIR: freshState() };
    const pwUrl = pg.url('pwuser');
    const outputs: string[] = [];
    const run = cliWith(env, w, 'run', 'hello-bot', '--team-log', pwUrl);
    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.match(run.stderr, /warning: the team log at postgres:\/\/pwuser@127\.0\.0\.1:\d+\/postgres refused: password authentication failed for user "pwuser"; not shipped; 1 entry behind/);
    outputs.push(run.stdout + run.stderr);
    const v = cliWith(env, w, 'verify', '--team-log', pwUrl);
    assert.equal(v.code, EXIT.ok);
    assert.match(v.stderr, /warning: .*password authentication failed/);
    outputs.push(v.stdout + v.stderr);
    const st = cliWith(env, w, 'team', 'status', '--team-log', pwUrl);
    assert.equal(st.code, EXIT.teamLog);
    outputs.push(st.stdout + st.stderr);
    const unreachable = cliWith(env, w, 'run', 'hello-bot', '--team-log', pwUrl.replace(`:${pg.port}/`, ':1/'));
    assert.equal(unreachable.code, EXIT.ok);
    assert.match(unreachable.stderr, /cannot reach the team log/);
    outputs.push(unreachable.stdout + unreachable.stderr);
    const inUrl = cliWith(env, w, 'run', 'hello-bot', '--team-log', pwUrl.replace('pwuser@', `pwuser:${secret}@`));
    assert.equal(inUrl.code, EXIT.usage);
    assert.match(inUrl.stderr, /pwuser:\*\*\*@.* carries a password: give it in PGPASSWORD or ~\/\.pgpass/);
    outputs.push(inUrl.stdout + inUrl.stderr);
    assert.equal(await withStore(w, (s) => s.size), 2, 'the run with a password in its URL was refused before it ran');
    for (const o of outputs) assert.ok(!o.includes(secret), o);
  });
});
