// `bot-audit log|show|export --db postgres://…` on a real team log that two local logs were shipped
// into: the same flags and output as for a local log, entries numbered by the team seq, each saying
// which log it came from; `log --follow` over LISTEN/NOTIFY.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from 'pg';
import { EXIT } from '../../../src/cli/main';
import { AuditStore, type Entry } from '../../../src/core/store';
import { initTeamLog, originOf, shipToTeam } from '../../../src/core/team';
import { CLI, cli } from '../cli/helpers';
import { removeDir, sampleEntries, tempDir } from '../store/helpers';
import { startCluster, type TestCluster } from './pg';

describe('bot-audit log|show|export --db postgres://… (the team log)', function () {
  this.timeout(300_000);
  let pg: TestCluster;
  let admin: Client;
  let dir: string;
  let ws: string;
  let url: string;
  let a: AuditStore;
  let b: AuditStore;
  before(async () => {
    pg = await startCluster();
    admin = await pg.connect();
    url = pg.url();
    dir = tempDir();
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-team-read-'));
    await initTeamLog(admin);
    a = await AuditStore.open(path.join(dir, 'a.db'), { watch: false, autoCheckpoint: false });
    b = await AuditStore.open(path.join(dir, 'b.db'), { watch: false, autoCheckpoint: false });
    await a.appendBatch(sampleEntries());
    await b.appendBatch(sampleEntries().map((e) => ({ ...e, user: 'carol@example.com', outcomeDesc: e.outcomeDesc && `${e.outcomeDesc} wombat` })));
    await shipToTeam(a, admin);
    await shipToTeam(b, admin);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await admin?.end();
    pg?.stop();
    if (dir) removeDir(dir);
    if (ws) fs.rmSync(ws, { recursive: true, force: true });
  });

  it('log: every entry by team seq, newest first, with its origin; filters and query text as for a local log', () => {
    const r = cli(ws, 'log', '--db', url, '--format', 'ndjson', '--limit', '1000');
    assert.equal(r.code, EXIT.ok, r.stderr);
    const es = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Entry);
    assert.deepEqual(es.map((e) => e.id), Array.from({ length: 80 }, (_, i) => 80 - i));
    assert.deepEqual([es[0].origin, es[0].originId], [originOf(b), 40]);
    assert.deepEqual([es[79].origin, es[79].originId], [originOf(a), 1]);

    const w = cli(ws, 'log', '--db', url, '--filter', 'wombat user:carol@example.com', '--format', 'json');
    assert.equal(w.code, EXIT.ok, w.stderr);
    const found = JSON.parse(w.stdout) as Entry[];
    assert.equal(found.length, b.count('wombat'));
    assert.ok(found.length > 0 && found.every((e) => e.origin === originOf(b)));

    const t = cli(ws, 'log', '--db', url, '--limit', '5');
    assert.equal(t.code, EXIT.ok, t.stderr);
    assert.match(t.stdout.split('\n')[0], /^ID +Origin +Timestamp/);
    assert.match(t.stdout, new RegExp(`\\n80 +${originOf(b)!.slice(0, 8)}:40 `));
    assert.match(t.stderr, /5 of 80 entries/);

    const csv = cli(ws, 'log', '--db', url, '--limit', '2', '--format', 'csv');
    assert.match(csv.stdout.split('\r\n')[0], /,origin,origin_id$/);

    const bad = cli(ws, 'log', '--db', url, '--filter', 'user:');
    assert.equal(bad.code, EXIT.badQuery);
    const hostile = cli(ws, 'log', '--db', url, '--filter', `entity:"x'); DROP TABLE bot_audit.team_entries; --" quo'ted%_`, '--format', 'json');
    assert.equal(hostile.code, EXIT.ok, hostile.stderr);
    assert.deepEqual(JSON.parse(hostile.stdout), []);
    assert.equal(cli(ws, 'log', '--db', url, '--format', 'ndjson', '--limit', '1000').stdout.trim().split('\n').length, 80, 'the table is still there');
  });

  it('show: an entry by team seq, saying which log and ID it came from', () => {
    const r = cli(ws, 'show', '41', '--db', url);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /^ID +41$/m);
    assert.match(r.stdout, new RegExp(`^Origin +${originOf(b)}, entry 1 there$`, 'm'));
    const j = cli(ws, 'show', '40', '--db', url, '--json');
    const e = JSON.parse(j.stdout) as Entry;
    assert.deepEqual([e.id, e.origin, e.originId, e.hash], [40, originOf(a), 40, a.get(40)!.hash]);
    const none = cli(ws, 'show', '81', '--db', url);
    assert.equal(none.code, EXIT.noEntry);
    assert.match(none.stderr, /no entry 81 in the team log at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres/);
  });

  it('export: each format, with the origin of each entry', () => {
    const csv = cli(ws, 'export', '--db', url, '--format', 'csv');
    assert.equal(csv.code, EXIT.ok, csv.stderr);
    const lines = csv.stdout.trim().split('\r\n');
    assert.equal(lines.length, 81);
    assert.match(lines[0], /^id,uuid,.*,hash,origin,origin_id$/);
    const nd = cli(ws, 'export', '--db', url, '--format', 'ndjson', '--filter', 'action:UPDATED');
    const es = nd.stdout.trim().split('\n').map((l) => JSON.parse(l) as Entry);
    assert.equal(es.length, a.count('action:UPDATED') + b.count('action:UPDATED'));
    assert.ok(es.every((e) => e.action === 'UPDATED' && e.origin && e.originId));
    const file = path.join(ws, 'team.fhir.json');
    const fhir = cli(ws, 'export', '--db', url, '--format', 'fhir', '-o', file);
    assert.equal(fhir.code, EXIT.ok, fhir.stderr);
    assert.equal((JSON.parse(fs.readFileSync(file, 'utf8')) as { entry: unknown[] }).entry.length, 80);
  });

  it('a database without a team log is exit 9; a command that does not read the team log refuses it', async () => {
    await admin.query('CREATE DATABASE no_team');
    const r = cli(ws, 'log', '--db', url.replace(/\/postgres$/, '/no_team'));
    assert.equal(r.code, EXIT.badDatabase);
    assert.match(r.stderr, /no team log/);
  });

  it('log --follow prints what is shipped later, in order, once, by notice', async () => {
    const p = spawn(process.execPath, [CLI, 'log', '--db', url, '--follow', '--format', 'ndjson', '--limit', '1'], { cwd: ws, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const closed = new Promise<number | null>((resolve) => p.on('close', resolve));
    const lines = () => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
    const until = async (cond: () => boolean, what: string) => {
      const end = Date.now() + 30_000;
      while (!cond()) {
        if (Date.now() > end || p.exitCode !== null) throw new Error(`timed out waiting for ${what}: ${stdout} ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await until(() => lines().length === 1, 'the first page');
      assert.equal(lines()[0].id, 80);
      // Give the tail its LISTEN: a first shipped entry shows it is listening (then the rest must follow).
      await a.appendBatch(sampleEntries().slice(0, 1));
      await shipToTeam(a, admin);
      await until(() => lines().length === 2, 'the first entry by notice');
      for (let i = 0; i < 3; i++) {
        await b.appendBatch(sampleEntries().slice(0, 3));
        await shipToTeam(b, admin);
        await a.appendBatch(sampleEntries().slice(0, 2));
        await shipToTeam(a, admin);
      }
      await until(() => lines().length === 2 + 15, 'every entry shipped');
      assert.deepEqual(lines().map((e) => e.id), Array.from({ length: 17 }, (_, i) => 80 + i));
      assert.ok(lines().every((e) => e.origin && e.originId));
    } finally {
      p.kill('SIGINT');
      assert.equal(await closed, EXIT.ok, stderr);
    }
  });
});
