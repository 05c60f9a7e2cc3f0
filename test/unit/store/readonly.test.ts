// A read-only log (an auditor's copy, a read-only mount, chattr +i) is readable and verifiable: the
// store never opens the lock or the journal for writing and never creates a file (issue 18, defect 7).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { AuditStore, StoreError } from '../../../src/core/store';
import { sampleEntries, useTempLog } from './helpers';

/** Every file of the folder with its size, mtime and inode: equal before and after means untouched. */
function state(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of fs.readdirSync(dir).sort()) {
    const st = fs.statSync(path.join(dir, n));
    out[n] = `${st.size} ${st.mtimeMs} ${st.ino}`;
  }
  out['.'] = String(fs.statSync(dir).mtimeMs);
  return out;
}

const isReadOnly = (e: unknown) => e instanceof StoreError && e.code === 'READ_ONLY' && /read-only/.test(e.message);

/** A log of 8 entries: 5 in the database file, 3 only in the journal, then a torn last line. */
async function makeLog(file: string): Promise<void> {
  const w = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
  await w.appendBatch(sampleEntries().slice(0, 5));
  await w.checkpoint();
  await w.appendBatch(sampleEntries().slice(5, 8));
  // Copy the files as they are now, before close() folds the journal: that is the log under test.
  const db = fs.readFileSync(file);
  const journal = fs.readFileSync(file + '.journal');
  await w.close();
  fs.writeFileSync(file, db);
  fs.writeFileSync(file + '.journal', Buffer.concat([journal, Buffer.from('{"id":9,"uuid":"torn')]));
}

/** Everything a reader does: every read, the chain, an export. */
async function readAll(s: AuditStore): Promise<void> {
  assert.equal(s.size, 8);
  assert.equal(s.get(8)!.id, 8);
  assert.equal(s.query([]).total, 8);
  assert.equal(s.count('action:UPDATED'), 1);
  assert.deepEqual(s.verify(), { ok: true, count: 8, headHash: s.headHash });
  let text = '';
  const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
  assert.equal(await s.exportTo([], 'ndjson', out), 8);
  assert.equal(text.trim().split('\n').length, 8);
  assert.ok(s.query('finished').total >= 1, 'full-text search indexes in memory');
}

describe('store: read-only logs', function () {
  this.timeout(20_000);
  let dir: string;
  let file: string;
  useTempLog((d, f) => {
    dir = d;
    file = f;
  });

  it('opens read-only when asked: reads everything, the journal included, and creates or changes no file', async () => {
    await makeLog(file);
    const before = state(dir);
    const s = await AuditStore.open(file, { readOnly: true, autoCheckpoint: { idleMs: 10 } });
    assert.equal(s.readOnly, true);
    await readAll(s);
    assert.deepEqual(state(dir), before);
    await assert.rejects(s.append(sampleEntries()[8]), isReadOnly);
    await assert.rejects(s.appendWith(() => [sampleEntries()[8]]), isReadOnly);
    await assert.rejects(s.checkpoint(), isReadOnly);
    await new Promise((r) => setTimeout(r, 50));
    await s.close();
    assert.deepEqual(state(dir), before, 'nothing created, written, sealed or folded');
    assert.ok(!fs.existsSync(file + '.lock'));
  });

  it('does not create a log that is not there', async () => {
    const sub = path.join(dir, 'none', 'audit.db');
    await assert.rejects(AuditStore.open(sub, { readOnly: true, watch: false }), (e: unknown) => e instanceof StoreError && /does not exist/.test(e.message));
    assert.ok(!fs.existsSync(path.dirname(sub)));
  });

  it('follows a writer: its appends and its checkpoints', async () => {
    await makeLog(file);
    const r = await AuditStore.open(file, { readOnly: true, watch: false });
    const w = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    assert.equal(w.warnings[0]?.code, 'TORN_LINE');
    await w.append(sampleEntries()[9]);
    assert.equal(r.size, 9);
    await w.checkpoint();
    await w.append(sampleEntries()[10]);
    assert.equal(r.size, 10);
    assert.equal(r.verify().ok, true);
    await w.close();
    await r.close();
  });

  it('opens read-only by itself when the folder and journal are not writable (chmod; not as root)', async function () {
    if (process.getuid?.() === 0) {
      // Root writes whatever the mode says; the chattr test below and the explicit mode above cover it.
      return this.skip();
    }
    await makeLog(file);
    fs.chmodSync(file, 0o444);
    fs.chmodSync(file + '.journal', 0o444);
    fs.chmodSync(dir, 0o555);
    try {
      const before = state(dir);
      const s = await AuditStore.open(file, { watch: false });
      assert.equal(s.readOnly, true);
      await readAll(s);
      await assert.rejects(s.append(sampleEntries()[8]), isReadOnly);
      await s.close();
      assert.deepEqual(state(dir), before);
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  });

  it('opens read-only by itself when the folder and files are immutable (chattr +i)', async function () {
    await makeLog(file);
    const files = [file, file + '.journal', dir];
    const set = spawnSync('chattr', ['+i', ...files], { encoding: 'utf8' });
    if (set.status !== 0) {
      spawnSync('chattr', ['-i', ...files]);
      // No CAP_LINUX_IMMUTABLE (a container), or a file system without the attribute: not tested here.
      return this.skip();
    }
    try {
      const before = state(dir);
      const s = await AuditStore.open(file, { watch: false });
      assert.equal(s.readOnly, true);
      await readAll(s);
      await assert.rejects(s.append(sampleEntries()[8]), isReadOnly);
      await s.close();
      assert.deepEqual(state(dir), before);
    } finally {
      spawnSync('chattr', ['-i', ...files]);
    }
  });
});
