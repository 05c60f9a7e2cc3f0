// An auditor's read-only copy is readable and verifiable: verify, log, show, export and bots never
// take the lock, never write, never fold the journal; run refuses with its own code (issue 18, defect 7).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXIT } from '../../../src/cli/main';
import { AuditStore } from '../../../src/core/store';
import { cli, oneLine, workspace } from './helpers';

/** Size, mtime and inode of every file of the folder, and the bytes of the log's files. */
function state(dir: string): string {
  return fs
    .readdirSync(dir)
    .sort()
    .map((n) => {
      const p = path.join(dir, n);
      const st = fs.statSync(p);
      return `${n} ${st.size} ${st.mtimeMs} ${st.ino} ${st.isFile() ? fs.readFileSync(p).toString('base64') : ''}`;
    })
    .join('\n');
}

/** Every reading command works, prints what the journal holds too, and changes nothing. */
function readsWithoutWriting(ws: string, dir: string): void {
  const before = state(dir);
  const v = cli(ws, 'verify');
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^3\/3 entries valid/);
  const log = cli(ws, 'log', '--format', 'ndjson');
  assert.equal(log.code, 0, log.stderr);
  assert.equal(log.stdout.trim().split('\n').length, 3);
  const show = cli(ws, 'show', '3');
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /only in the journal/);
  const exp = cli(ws, 'export', '--format', 'ndjson');
  assert.equal(exp.code, 0, exp.stderr);
  assert.equal(exp.stdout.trim().split('\n').length, 3);
  const bots = cli(ws, 'bots', '--json');
  assert.equal(bots.code, 0, bots.stderr);
  assert.equal(state(dir), before, 'no file created, changed or folded');
}

describe('bot-audit CLI: a read-only log', function () {
  this.timeout(60_000);
  let ws: string;
  let dir: string;
  let db: string;
  before(async () => {
    ws = workspace();
    dir = path.join(ws, '.bot-audit');
    db = path.join(dir, 'audit.db');
    assert.equal(cli(ws, 'run', 'hello-bot').code, 0);
    // Entry 3 only in the journal, as a writer that has not checkpointed yet leaves it.
    const w = await AuditStore.open(db, { watch: false, autoCheckpoint: false });
    await w.append({ user: 'dev@example.com', action: 'LOGIN', entityName: 'access', entityId: '1' });
    await w.append({ user: 'dev@example.com', action: 'LOGOUT', entityName: 'access', entityId: '1', outcomeDesc: 'only in the journal' });
    const files = [db, `${db}.journal`].map((f) => [f, fs.readFileSync(f)] as const);
    await w.close();
    for (const [f, b] of files) fs.writeFileSync(f, b);
  });
  after(() => {
    spawnSync('chattr', ['-i', dir, db, `${db}.journal`]);
    fs.rmSync(ws, { recursive: true, force: true });
  });

  it('reading commands open the log read-only: no lock, no write, the journal not folded', () => {
    readsWithoutWriting(ws, dir);
    assert.equal((JSON.parse(fs.readFileSync(`${db}.journal`, 'utf8').split('\n')[0]) as { base: number }).base, 1);
  });

  it('an immutable folder and files (chattr +i): everything reads; run exits 15 and writes nothing', function () {
    const files = [dir, db, `${db}.journal`, path.join(dir, '.gitignore')];
    if (spawnSync('chattr', ['+i', ...files]).status !== 0) {
      spawnSync('chattr', ['-i', ...files]);
      return this.skip(); // no CAP_LINUX_IMMUTABLE here, or no such attribute on this file system
    }
    try {
      readsWithoutWriting(ws, dir);
      const before = state(dir);
      const r = cli(ws, 'run', 'hello-bot');
      assert.equal(r.code, EXIT.readOnly, r.stdout + r.stderr);
      oneLine(r.stderr);
      assert.match(r.stderr, /read-only/);
      assert.doesNotMatch(r.stdout, /Outcome/, 'the bot did not run');
      assert.equal(state(dir), before);
    } finally {
      spawnSync('chattr', ['-i', ...files]);
    }
  });

  it('a read-only mount: everything reads; run exits 15', function () {
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-ro-'));
    const copy = path.join(mnt, 'ws');
    fs.mkdirSync(copy);
    const bind = spawnSync('mount', ['--bind', '-o', 'ro', ws, copy], { encoding: 'utf8' });
    const ro = bind.status === 0 && spawnSync('mount', ['-o', 'remount,ro,bind', copy]).status === 0;
    try {
      if (!ro) return this.skip(); // not allowed to mount here (no CAP_SYS_ADMIN)
      assert.throws(() => fs.writeFileSync(path.join(copy, 'x'), ''), /EROFS/);
      // The reading commands one by one are above; here, that the mount is met the same way.
      const v = cli(copy, 'verify');
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /^3\/3 entries valid/);
      assert.match(cli(copy, 'show', '3').stdout, /only in the journal/);
      const r = cli(copy, 'run', 'hello-bot');
      assert.equal(r.code, EXIT.readOnly, r.stdout + r.stderr);
      oneLine(r.stderr);
    } finally {
      if (bind.status === 0) spawnSync('umount', [copy]);
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('a folder and files without write permission (chmod; not as root): everything reads; run exits 15', function () {
    if (process.getuid?.() === 0) return this.skip(); // root writes whatever the mode says: the tests above cover it
    fs.chmodSync(db, 0o444);
    fs.chmodSync(`${db}.journal`, 0o444);
    fs.chmodSync(dir, 0o555);
    try {
      readsWithoutWriting(ws, dir);
      const r = cli(ws, 'run', 'hello-bot');
      assert.equal(r.code, EXIT.readOnly, r.stdout + r.stderr);
      oneLine(r.stderr);
    } finally {
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(db, 0o644);
      fs.chmodSync(`${db}.journal`, 0o644);
    }
  });
});
