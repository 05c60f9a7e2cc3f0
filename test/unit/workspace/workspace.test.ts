import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuditStore } from '../../../src/core/store';
import { FileEntity, WorkspaceFileAuditor } from '../../../src/core/workspace/fileAudit';
import { DATA_DIR, defaultDbPath, ensureDataDir, resolveDbPath } from '../../../src/core/workspace/layout';
import { Session, recoverDeadSessions } from '../../../src/core/workspace/sessions';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-ws-'));
}

describe('workspace', () => {
  let dir: string;
  let store: AuditStore;

  beforeEach(async () => {
    dir = tmp();
    const db = defaultDbPath(dir);
    ensureDataDir(db);
    store = await AuditStore.open(db, { watch: false });
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('layout', () => {
    it('keeps the log in .bot-audit/ with a .gitignore that ignores it all', () => {
      assert.equal(defaultDbPath('/w'), path.join('/w', DATA_DIR, 'audit.db'));
      assert.equal(fs.readFileSync(path.join(dir, DATA_DIR, '.gitignore'), 'utf8').split('\n').includes('*'), true);
      // A second call keeps what is there.
      fs.writeFileSync(path.join(dir, DATA_DIR, '.gitignore'), 'mine\n');
      ensureDataDir(defaultDbPath(dir));
      assert.equal(fs.readFileSync(path.join(dir, DATA_DIR, '.gitignore'), 'utf8'), 'mine\n');
    });

    it('resolves a configured path against the root', () => {
      assert.equal(resolveDbPath('/w', 'logs/a.db'), path.join('/w', 'logs', 'a.db'));
      assert.equal(resolveDbPath('/w', '/abs/a.db'), '/abs/a.db');
      assert.equal(resolveDbPath('/w', '  '), defaultDbPath('/w'));
      assert.equal(resolveDbPath('/w'), defaultDbPath('/w'));
      const other = path.join(dir, 'elsewhere', 'x.db');
      ensureDataDir(other);
      assert.ok(fs.existsSync(path.dirname(other)));
      assert.ok(!fs.existsSync(path.join(dir, 'elsewhere', '.gitignore')), 'only Bot Audit’s own folder gets a .gitignore');
    });
  });

  describe('sessions', () => {
    it('records LOGIN and LOGOUT with the user and the client', async () => {
      const sdir = path.join(dir, DATA_DIR, 'sessions');
      const s = await Session.login(store, sdir, 'dev@example.com', 'VS Code');
      assert.equal(fs.readdirSync(sdir).length, 1);
      await s.logout();
      await s.logout(); // idempotent
      assert.equal(fs.readdirSync(sdir).length, 0);
      const h = store.history('Session', s.id);
      assert.deepEqual(h.map((e) => e.action), ['LOGIN', 'LOGOUT']);
      assert.equal(h[0].user, 'dev@example.com');
      assert.deepEqual(h[0].after, { client: 'VS Code', pid: process.pid, host: os.hostname() });
      assert.deepEqual(h[1].after, { reason: 'closed' });
    });

    it('records the missing LOGOUT of a process that died, once, marked as such', async () => {
      const sdir = path.join(dir, DATA_DIR, 'sessions');
      fs.mkdirSync(sdir, { recursive: true });
      // A real process that is gone by the time we look.
      const child = spawn(process.execPath, ['-e', '0']);
      const deadPid = child.pid!;
      await new Promise((r) => child.once('exit', r));
      fs.writeFileSync(
        path.join(sdir, 'dead.json'),
        JSON.stringify({ sessionId: 'dead', pid: deadPid, host: os.hostname(), user: 'ghost@example.com', client: 'VS Code', started: 1 }),
      );
      // A live one (ours) is left alone.
      fs.writeFileSync(
        path.join(sdir, 'live.json'),
        JSON.stringify({ sessionId: 'live', pid: process.pid, host: os.hostname(), user: 'me', client: 'CLI', started: 2 }),
      );
      const [a, b] = await Promise.all([recoverDeadSessions(store, sdir), recoverDeadSessions(store, sdir)]);
      assert.equal(a + b, 1, 'two processes recovering at once record one LOGOUT');
      const h = store.history('Session', 'dead');
      assert.equal(h.length, 1);
      assert.equal(h[0].action, 'LOGOUT');
      assert.equal(h[0].user, 'ghost@example.com');
      assert.deepEqual(h[0].after, { reason: 'ended without logging out' });
      assert.deepEqual(fs.readdirSync(sdir), ['live.json']);
      assert.equal(store.history('Session', 'live').length, 0);
    });
  });

  describe('file audit', () => {
    it('records CREATED, UPDATED and DELETED with the old and new source', async () => {
      const a = new WorkspaceFileAuditor(store, () => 'dev@example.com');
      const created = await a.changed(FileEntity.bot, 'bots/x.ts', 'v1');
      assert.equal(created?.action, 'CREATED');
      assert.deepEqual(created?.after, { path: 'bots/x.ts', source: 'v1' });
      assert.equal(created?.before, undefined);
      assert.equal(await a.changed(FileEntity.bot, 'bots/x.ts', 'v1'), undefined, 'no entry when nothing changed');
      const updated = await a.changed(FileEntity.bot, 'bots/x.ts', 'v2');
      assert.equal(updated?.action, 'UPDATED');
      assert.deepEqual(updated?.before, { path: 'bots/x.ts', source: 'v1' });
      assert.deepEqual(updated?.after, { path: 'bots/x.ts', source: 'v2' });
      const deleted = await a.changed(FileEntity.bot, 'bots/x.ts', undefined);
      assert.equal(deleted?.action, 'DELETED');
      assert.deepEqual(deleted?.before, { path: 'bots/x.ts', source: 'v2' }, 'keeps the last source');
      assert.equal(deleted?.user, 'dev@example.com');
      assert.equal(await a.changed(FileEntity.bot, 'bots/x.ts', undefined), undefined);
      assert.deepEqual(store.history('bot', 'bots/x.ts').map((e) => e.action), ['CREATED', 'UPDATED', 'DELETED']);
    });

    it('takes a file first seen at start-up as the baseline, and catches changes made while nobody watched', async () => {
      const a = new WorkspaceFileAuditor(store, () => 'u');
      assert.equal(await a.seen(FileEntity.bot, 'bots/old.ts', 'old'), undefined);
      const u = await a.changed(FileEntity.bot, 'bots/old.ts', 'new');
      assert.deepEqual(u?.before, { path: 'bots/old.ts', source: 'old' });
      // A new auditor (a new window) sees a different content than the log knew.
      const b = new WorkspaceFileAuditor(store, () => 'u');
      const offline = await b.seen(FileEntity.bot, 'bots/old.ts', 'edited in a terminal');
      assert.equal(offline?.action, 'UPDATED');
      assert.deepEqual(offline?.before, { path: 'bots/old.ts', source: 'new' });
      assert.equal(await b.seen(FileEntity.bot, 'bots/old.ts', 'edited in a terminal'), undefined);
    });

    it('records settings as JSON and ignores formatting-only changes', async () => {
      const a = new WorkspaceFileAuditor(store, () => 'u');
      await a.seen(FileEntity.settings, 'bot-audit.json', '{"bots":{}}');
      assert.equal(await a.changed(FileEntity.settings, 'bot-audit.json', '{\n  "bots": {}\n}\n'), undefined);
      const u = await a.changed(FileEntity.settings, 'bot-audit.json', '{"bots":{"a":{"timeout":5}}}');
      assert.equal(u?.action, 'UPDATED');
      assert.deepEqual(u?.before, { path: 'bot-audit.json', json: { bots: {} } });
      assert.deepEqual(u?.after, { path: 'bot-audit.json', json: { bots: { a: { timeout: 5 } } } });
      const broken = await a.changed(FileEntity.settings, 'bot-audit.json', '{"bots":');
      assert.deepEqual(broken?.after, { path: 'bot-audit.json', text: '{"bots":' }, 'invalid JSON is kept as text');
    });

    it('keeps changes in order when they come quickly', async () => {
      const a = new WorkspaceFileAuditor(store, () => 'u');
      await Promise.all([
        a.changed(FileEntity.bot, 'bots/q.ts', 'a'),
        a.changed(FileEntity.bot, 'bots/q.ts', 'b'),
        a.changed(FileEntity.bot, 'bots/q.ts', undefined),
        a.changed(FileEntity.bot, 'bots/q.ts', 'c'),
      ]);
      const h = store.history('bot', 'bots/q.ts');
      assert.deepEqual(h.map((e) => e.action), ['CREATED', 'UPDATED', 'DELETED', 'CREATED']);
      assert.deepEqual(h[3].after, { path: 'bots/q.ts', source: 'c' });
    });
  });
});
