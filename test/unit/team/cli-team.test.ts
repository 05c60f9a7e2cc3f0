// `bot-audit team init|ship` and `bot-audit verify --db postgres://…`, the built CLI as a child
// process against a real PostgreSQL: exit codes, one-line errors, no password shown, and a shipper
// killed with SIGKILL inside a batch that loses and duplicates nothing.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import { EXIT } from '../../../src/cli/main';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { CLI, cli, cliWith, oneLine, workspace } from '../cli/helpers';
import { startCluster, type TestCluster } from './pg';

function entries(n: number, from = 0): NewEntry[] {
  return Array.from({ length: n }, (_, i) => ({ user: 'ci@example.com', action: 'UPDATED' as const, entityName: 'story', entityId: String(from + i), after: { n: from + i } }));
}

async function append(ws: string, n: number, from = 0): Promise<void> {
  const s = await AuditStore.open(path.join(ws, '.bot-audit', 'audit.db'), { watch: false });
  await s.appendBatch(entries(n, from));
  await s.close();
}

/** Waits until `test` holds, asking again every 50 ms; fails after `limitMs` (a bound, not a measurement). */
async function until(test: () => Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  for (const end = Date.now() + limitMs; Date.now() < end; ) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting until ${what}`);
}

describe('bot-audit team and verify --db postgres://…', function () {
  this.timeout(300_000);
  let pg: TestCluster;
  let admin: Client;
  let ws: string;
  let url: string;
  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    url = pg.url();
    ws = workspace('bot-audit-team-');
    fs.mkdirSync(path.join(ws, '.bot-audit'), { recursive: true });
  });
  after(async () => {
    await admin?.end();
    pg?.stop();
    if (ws) fs.rmSync(ws, { recursive: true, force: true });
  });

  it('team init, twice', () => {
    const a = cli(ws, 'team', 'init', '--db', url);
    assert.equal(a.code, EXIT.ok, a.stderr);
    assert.match(a.stdout, /: created \(schema version 4\); roles created: bot_audit_writer, bot_audit_reader/);
    const b = cli(ws, 'team', 'init', '--db', url);
    assert.equal(b.code, EXIT.ok, b.stderr);
    assert.match(b.stdout, /: already there \(schema version 4\)\n$/);
  });

  it('team ship ships once; BOT_AUDIT_TEAM_LOG stands in for --db; verify --db checks the team log', async () => {
    await append(ws, 600);
    const a = cli(ws, 'team', 'ship', '--db', url);
    assert.equal(a.code, EXIT.ok, a.stderr);
    assert.match(a.stdout, /^shipped 600 entries; the team log has entries 1\.\.600 of this log \(origin [0-9a-f]{64}\)\n$/);
    const b = cliWith({ BOT_AUDIT_TEAM_LOG: url }, ws, 'team', 'ship', '--workspace', ws);
    assert.equal(b.code, EXIT.ok, b.stderr);
    assert.match(b.stdout, /^shipped 0 entries/);
    const v = cli(ws, 'verify', '--db', url);
    assert.equal(v.code, EXIT.ok, v.stderr);
    assert.match(v.stdout, /^600\/600 team entries valid, from 1 logs\nhead [0-9a-f]{64}\norigin [0-9a-f]{64}: 600 entries, head [0-9a-f]{64}\n$/);
  });

  it('a shipper killed with SIGKILL inside a batch, then shipped again: nothing lost, nothing twice', async () => {
    await append(ws, 1400, 600);
    // Hold the team log's insert lock, so that the shipper is caught inside its first batch's INSERT.
    const holder = await pg.connect();
    await holder.query('BEGIN');
    await holder.query("SELECT pg_advisory_xact_lock('bot_audit.team_entries'::regclass::oid::bigint)");
    const child = spawn(process.execPath, [CLI, 'team', 'ship', '--db', url], { cwd: ws, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    try {
      await until(
        async () => (await admin.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rows[0].n > 0,
        'the shipper waits for the lock inside its batch',
      );
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    const count = async () => (await admin.query('SELECT count(*)::int AS n FROM bot_audit.team_entries')).rows[0].n;
    assert.equal(await count(), 600, 'the killed batch left nothing');
    const again = cli(ws, 'team', 'ship', '--db', url);
    assert.equal(again.code, EXIT.ok, again.stderr);
    assert.match(again.stdout, /^shipped 1400 entries; the team log has entries 1\.\.2000/);
    const ids = await admin.query('SELECT origin_id::int AS id FROM bot_audit.team_entries ORDER BY seq');
    assert.deepEqual(ids.rows.map((r) => r.id), Array.from({ length: 2000 }, (_, k) => k + 1));
    assert.equal(cli(ws, 'verify', '--db', url).code, EXIT.ok);
  });

  it('verify --db names a team entry changed on the server, and exits 11', async () => {
    await admin.query('ALTER TABLE bot_audit.team_entries DISABLE TRIGGER USER');
    await admin.query("UPDATE bot_audit.team_entries SET entry_text = replace(entry_text, 'ci@example.com', 'cj@example.com') WHERE seq = 1234");
    await admin.query('ALTER TABLE bot_audit.team_entries ENABLE TRIGGER USER');
    const v = cli(ws, 'verify', '--db', url);
    assert.equal(v.code, EXIT.chainBroken);
    assert.equal(v.stdout, '1233/2000 team entries valid\n');
    oneLine(v.stderr);
    assert.match(v.stderr, /team entry 1234 \(origin [0-9a-f]{64}, entry 1234\) is broken: its entry_text does not give its origin_hash/);
  });

  it('a server that cannot be reached: one line, exit 16', () => {
    const closed = url.replace(`:${pg.port}/`, ':1/');
    for (const args of [['verify', '--db', closed], ['team', 'ship', '--db', closed]]) {
      const r = cli(ws, ...args);
      assert.equal(r.code, EXIT.teamLog, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r.stderr);
      assert.match(r.stderr, /cannot reach the team log at postgres:\/\/postgres@127\.0\.0\.1:1\/postgres: .*ECONNREFUSED/);
    }
  });

  it('a password in the URL is refused and never shown; a team URL elsewhere is a usage error', () => {
    const r = cli(ws, 'team', 'init', '--db', url.replace('postgres@', 'postgres:hunter2@'));
    assert.equal(r.code, EXIT.usage);
    oneLine(r.stderr);
    assert.match(r.stderr, /postgres:\*\*\*@.* carries a password: give it in PGPASSWORD or ~\/\.pgpass/);
    assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
    const bots = cli(ws, 'bots', '--db', url);
    assert.equal(bots.code, EXIT.usage);
    assert.match(bots.stderr, /only log, show, export, verify and team read/);
    const log = cli(ws, 'log', '--db', url.replace('postgres@', 'postgres:hunter2@'));
    assert.equal(log.code, EXIT.usage);
    assert.doesNotMatch(log.stdout + log.stderr, /hunter2/);
    const none = cliWith({ BOT_AUDIT_TEAM_LOG: '' }, ws, 'team', 'ship');
    assert.equal(none.code, EXIT.usage);
    assert.match(none.stderr, /needs the team log: --db postgres:\/\/user@host:port\/database, or BOT_AUDIT_TEAM_LOG/);
  });

  it('a database without a team log: exit 9, saying how to make one', async () => {
    await admin.query('CREATE DATABASE empty_team');
    const r = cli(ws, 'verify', '--db', url.replace(/\/postgres$/, '/empty_team'));
    assert.equal(r.code, EXIT.badDatabase);
    assert.match(r.stderr, /no team log \(bot-audit team init --db … creates one\)/);
  });
});
