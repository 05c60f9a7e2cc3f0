// The TeamReplicator on a real PostgreSQL: background shipping on start and after appends, a server
// that is away (for a minute, while appends go on), a shipper killed with SIGKILL inside a batch, a
// server restored from a backup that lacks the last entries, an entry changed on the server behind
// our back, and a password that never shows.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { initTeamLog, originOf, TeamReplicator, verifyTeamLog, type ReplicationStatus, type TeamReplicatorOptions } from '../../../src/core/team';
import { removeDir, tempDir } from '../store/helpers';
import { startCluster, type TestCluster } from './pg';

function entries(n: number, from = 0): NewEntry[] {
  return Array.from({ length: n }, (_, i) => ({ user: 'dev@example.com', action: 'UPDATED' as const, entityName: 'story', entityId: String(from + i), after: { n: from + i } }));
}

/** Waits until `test` holds, asking again every 50 ms; fails after `limitMs` (a bound, not a measurement). */
async function until(test: () => boolean | Promise<boolean>, what: () => string, limitMs = 60_000): Promise<void> {
  for (const end = Date.now() + limitMs; Date.now() < end; ) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting until ${what()}`);
}

/** The replicator's statuses, as they changed. */
function record(rep: TeamReplicator): ReplicationStatus[] {
  const seen: ReplicationStatus[] = [];
  rep.onDidChange((s) => seen.push(s));
  return seen;
}

describe('team log: the replicator', function () {
  this.timeout(240_000);
  let pg: TestCluster;
  let admin: Client;
  let dir: string;
  let url: string;
  let store: AuditStore | undefined;
  let rep: TeamReplicator | undefined;

  /** The admin connection, again after a server restart. */
  async function sql<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    try {
      return (await admin.query(text, params)).rows as T[];
    } catch {
      await admin.end().catch(() => undefined);
      admin = await pg.connect();
      admin.on('error', () => undefined);
      return (await admin.query(text, params)).rows as T[];
    }
  }

  /** This origin's IDs in the team log, in seq order. */
  async function teamIds(origin: string): Promise<number[]> {
    return (await sql<{ id: number }>('SELECT origin_id::int AS id FROM bot_audit.team_entries WHERE origin = $1 ORDER BY seq', [origin])).map((r) => r.id);
  }

  /** Every local entry once, in ID order, with the local hash; and both chains sound. */
  async function assertReplicated(s: AuditStore): Promise<void> {
    const origin = originOf(s)!;
    const rows = await sql<{ id: number; hash: string }>('SELECT origin_id::int AS id, origin_hash AS hash FROM bot_audit.team_entries WHERE origin = $1 ORDER BY seq', [origin]);
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: s.size }, (_, k) => k + 1), 'every entry once, in order');
    for (const r of rows) assert.equal(r.hash, s.get(r.id)!.hash);
    const v = await verifyTeamLog(admin);
    assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
    assert.equal(s.verify().ok, true);
  }

  async function open(n: number): Promise<AuditStore> {
    const s = await AuditStore.open(path.join(fs.mkdtempSync(path.join(dir, 'log-')), 'audit.db'), { watch: false });
    if (n) await s.appendBatch(entries(n));
    return s;
  }

  function replicate(s: AuditStore, opts: Partial<TeamReplicatorOptions> = {}): TeamReplicator {
    rep = new TeamReplicator(s, { url, delayMs: 20, ...opts });
    return rep;
  }

  const upToDate = (r: TeamReplicator, n: number) => () => r.status.state === 'up-to-date' && r.status.teamHead === n;

  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    // A server stopped under it (on purpose): reported by the next query, which connects again.
    admin.on('error', () => undefined);
    url = pg.url();
    dir = tempDir();
  });
  after(async () => {
    await admin?.end();
    pg?.stop();
    removeDir(dir);
  });
  beforeEach(async () => {
    await sql('DROP SCHEMA IF EXISTS bot_audit CASCADE');
    await initTeamLog(admin);
  });
  afterEach(async () => {
    await rep?.dispose();
    await store?.close();
    rep = undefined;
    store = undefined;
  });

  it('ships on start and after appends, says how far behind, and stops cleanly', async () => {
    store = await open(120);
    const r = replicate(store, { batchSize: 50, stateDir: path.join(dir, 'state-1') });
    const seen = record(r);
    assert.equal(r.status.state, 'starting');
    assert.equal(r.status.behind, 120, 'nothing known shipped yet');
    await until(upToDate(r, 120), () => JSON.stringify(r.status));
    assert.ok(seen.some((s) => s.state === 'shipping' && s.teamHead === 50 && s.behind === 70), 'a batch at a time, and how far behind after each');
    await assertReplicated(store);
    for (let i = 0; i < 3; i++) await store.appendBatch(entries(10, 120 + 10 * i));
    await until(upToDate(r, 150), () => JSON.stringify(r.status));
    assert.ok(seen.some((s) => s.localHead > 120 && s.teamHead === 120 && s.behind === s.localHead - 120), 'an append puts it behind until shipped');
    assert.equal(r.status.behind, 0);
    assert.ok(r.status.lastSuccessAt! > Date.now() - 60_000);
    await assertReplicated(store);
    // A second replicator of the same log, later, knows how far the team log had got before it reaches it.
    const later = new TeamReplicator(store, { url, background: false, stateDir: path.join(dir, 'state-1') });
    assert.deepEqual([later.status.teamHead, later.status.behind], [150, 0]);
    await later.dispose();
    await r.dispose();
    assert.equal(r.status.state, 'stopped');
    await store.appendBatch(entries(5, 150));
    assert.equal((await r.shipNow()).state, 'stopped', 'nothing after dispose');
    assert.deepEqual((await teamIds(originOf(store)!)).length, 150);
    await until(async () => (await sql<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'bot-audit'"))[0].n === 0, () => 'no connection of ours is left');
  });

  it('a server that is not there: the local log goes on, the replicator is offline and how far behind, then catches up', async () => {
    store = await open(30);
    pg.stopServer();
    const r = replicate(store, { minBackoffMs: 100, maxBackoffMs: 400 });
    try {
      await until(() => r.status.state === 'offline', () => JSON.stringify(r.status));
      await store.appendBatch(entries(20, 30));
      await until(() => r.status.behind === 50, () => JSON.stringify(r.status));
      assert.match(r.status.lastError!, /^cannot reach the team log at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres: .*ECONNREFUSED/);
      assert.equal(r.status.lastErrorCode, 'UNREACHABLE');
      assert.ok(r.status.retryAt! > Date.now() - 1000);
    } finally {
      pg.startServer();
    }
    await until(upToDate(r, 50), () => JSON.stringify(r.status));
    assert.equal(r.status.lastError, undefined);
    await assertReplicated(store);
  });

  it('the server stopped for a minute mid-batch while appends go on: everything arrives once, in order', async function () {
    this.timeout(300_000);
    store = await open(3000);
    // The default back-off (1 s, doubling, up to 60 s), as in the extension.
    const r = replicate(store, { batchSize: 50 });
    const seen = record(r);
    await until(() => (r.status.teamHead ?? 0) >= 500, () => JSON.stringify(r.status));
    const stoppedAt = Date.now();
    pg.stopServer();
    let appended = 0;
    try {
      // Appends go on locally, every 500 ms, for the minute the server is away.
      while (Date.now() - stoppedAt < 60_000) {
        await store.appendBatch(entries(3, 3000 + appended));
        appended += 3;
        await new Promise((res) => setTimeout(res, 500));
      }
      assert.equal(r.status.state, 'offline', JSON.stringify(r.status));
      assert.equal(r.status.behind, 3000 + appended - r.status.teamHead!);
      assert.ok(r.status.teamHead! < 3000, 'the server went away mid-way');
    } finally {
      pg.startServer();
    }
    await until(upToDate(r, 3000 + appended), () => JSON.stringify(r.status), 150_000);
    assert.ok(seen.some((s) => s.state === 'offline'));
    assert.ok(!seen.some((s) => s.state === 'forked' || s.state === 'error'), JSON.stringify(seen.filter((s) => s.state === 'error')[0]));
    await assertReplicated(store);
  });

  it('a shipping process killed with SIGKILL inside a batch, then again between batches: every entry exactly once', async () => {
    store = await open(3000);
    await store.checkpoint();
    const origin = originOf(store)!;
    const child = () => {
      const p = spawn(process.execPath, [path.join(__dirname, '..', '..', 'fixtures', 'team', 'replicator.js'), JSON.stringify({ file: store!.file, url, batchSize: 100 })], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
      p.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => p.on('exit', (_c, signal) => resolve(signal)));
      return { p, exited, out: () => out };
    };
    // Inside a batch: the insert lock held elsewhere, so the child waits inside its first INSERT.
    const holder = await pg.connect();
    await holder.query('BEGIN');
    await holder.query("SELECT pg_advisory_xact_lock('bot_audit.team_entries'::regclass::oid::bigint)");
    const first = child();
    try {
      await until(async () => (await sql<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))[0].n > 0, () => `the child waits inside its batch: ${first.out()}`);
      first.p.kill('SIGKILL');
      assert.equal(await first.exited, 'SIGKILL');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    assert.deepEqual(await teamIds(origin), [], 'the killed batch left nothing');
    // Between or inside later batches: killed once it has shipped a third of the log.
    const second = child();
    await until(async () => (await teamIds(origin)).length >= 1000, () => `the child ships: ${second.out()}`);
    second.p.kill('SIGKILL');
    assert.equal(await second.exited, 'SIGKILL');
    const partial = await teamIds(origin);
    assert.ok(partial.length >= 1000 && partial.length < 3000, `killed mid-way (${partial.length})`);
    assert.equal(partial.length % 100, 0, 'whole batches only');
    // The next shipper resumes.
    const r = replicate(store, { batchSize: 100 });
    await until(upToDate(r, 3000), () => JSON.stringify(r.status));
    await assertReplicated(store);
  });

  it('a server restored from a backup that lacks the last entries: noticed, shipped again, reported, never forked', async () => {
    store = await open(40);
    const r = replicate(store, { recheckMs: 300, minBackoffMs: 100, maxBackoffMs: 500, stateDir: path.join(dir, 'state-restore') });
    const seen = record(r);
    await until(upToDate(r, 40), () => JSON.stringify(r.status));
    const backup = pg.backup();
    await store.appendBatch(entries(30, 40));
    await until(upToDate(r, 70), () => JSON.stringify(r.status));
    assert.equal(r.status.repaired, undefined);
    pg.restore(backup);
    assert.deepEqual(await teamIds(originOf(store)!), Array.from({ length: 40 }, (_, k) => k + 1), 'the restored server lacks 41..70');
    // No append needed: the replicator looks again by itself.
    await until(() => r.status.repaired !== undefined && r.status.state === 'up-to-date', () => JSON.stringify(r.status));
    assert.deepEqual([r.status.repaired!.from, r.status.repaired!.to, r.status.teamHead], [41, 70, 70]);
    assert.match(r.status.note!, /the team log had lost entries 41\.\.70 of this log \(restored from a backup\?\); they were shipped again/);
    assert.ok(!seen.some((s) => s.state === 'forked'));
    await assertReplicated(store);
  });

  it('an entry changed on the server behind our back: team verify names it; a changed head stops the replicator as forked', async () => {
    store = await open(60);
    const r = replicate(store, { recheckMs: 200, minBackoffMs: 100 });
    await until(upToDate(r, 60), () => JSON.stringify(r.status));
    const origin = originOf(store)!;
    const tamper = async (id: number) => {
      await sql('ALTER TABLE bot_audit.team_entries DISABLE TRIGGER USER');
      await sql("UPDATE bot_audit.team_entries SET entry_text = replace(entry_text, 'dev@example.com', 'eve@example.com'), origin_hash = repeat('e', 64) WHERE origin = $1 AND origin_id = $2", [origin, id]);
      await sql('ALTER TABLE bot_audit.team_entries ENABLE TRIGGER USER');
    };
    await tamper(25);
    const v = await verifyTeamLog(admin);
    assert.equal(v.ok, false);
    assert.deepEqual([v.firstBroken!.seq, v.firstBroken!.origin, v.firstBroken!.originId], [25, origin, 25]);
    await tamper(60);
    await until(() => r.status.state === 'forked', () => JSON.stringify(r.status));
    assert.match(r.status.lastError!, /entry 60 of this log \(origin [0-9a-f]{12}…\) has hash eeeeeeeeeeee… in the team log but [0-9a-f]{12}… here: the two logs forked/);
    // Never shipped over: appends wait, and shipNow() looks again and still refuses.
    await store.appendBatch(entries(5, 60));
    assert.equal((await r.shipNow()).state, 'forked');
    assert.equal(r.status.behind, 5);
    assert.equal((await teamIds(origin)).length, 60);
  });

  it('the password never shows: a wrong one, a right one, an unreachable host', async () => {
    const wrong = 'Wrong-Secret-1717';
    const right = 'Right-Secret-4242';
    await sql(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pwuser') THEN CREATE ROLE pwuser LOGIN IN ROLE bot_audit_writer; END IF; END $$`);
    await sql(`ALTER ROLE pwuser PASSWORD '${right}'`);
    pg.requirePassword('pwuser');
    store = await open(10);
    const all: string[] = [];
    const watch = (x: TeamReplicator) => x.onDidChange((s) => all.push(JSON.stringify(s)));
    const bad = replicate(store, { url: pg.url('pwuser'), password: async () => wrong, minBackoffMs: 50, maxBackoffMs: 100 });
    watch(bad);
    await until(() => bad.status.state === 'error', () => JSON.stringify(bad.status));
    assert.equal(bad.status.lastErrorCode, 'REFUSED', JSON.stringify(bad.status));
    assert.match(bad.status.lastError!, /refused: password authentication failed for user "pwuser"/);
    await bad.dispose();
    // PGPASSWORD, wrong, and an unreachable host.
    const saved = process.env.PGPASSWORD;
    process.env.PGPASSWORD = wrong;
    try {
      const away = replicate(store, { url: pg.url('pwuser').replace(`:${pg.port}/`, ':1/'), minBackoffMs: 50, maxBackoffMs: 100 });
      watch(away);
      await until(() => away.status.state === 'offline', () => JSON.stringify(away.status));
      await away.dispose();
      const env = replicate(store, { url: pg.url('pwuser'), minBackoffMs: 50, maxBackoffMs: 100 });
      watch(env);
      await until(() => env.status.state === 'error', () => JSON.stringify(env.status));
      await env.dispose();
    } finally {
      if (saved === undefined) delete process.env.PGPASSWORD;
      else process.env.PGPASSWORD = saved;
    }
    const good = replicate(store, { url: pg.url('pwuser'), password: async () => right });
    watch(good);
    await until(upToDate(good, 10), () => JSON.stringify(good.status));
    const text = all.join('\n');
    assert.ok(text.includes('password authentication failed') && text.includes('ECONNREFUSED'), 'the failures were seen');
    assert.doesNotMatch(text, /Secret-\d{4}/);
  });
});
