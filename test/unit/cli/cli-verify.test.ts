// `bot-audit verify` against tampering that the log's own files cannot show: a cut tail, a deleted
// last entry with its journal, a history hashed again (the witness), a head kept elsewhere
// (--expect-head), and dropped append-only triggers. Real files, the built CLI as a child process.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { Witness } from '../../../src/core/store/witness';
import { startChild } from '../store/helpers';
import { CLI } from './helpers';

function entries(n: number, tag = 'a'): NewEntry[] {
  return Array.from({ length: n }, (_, i) => ({ user: `dev-${tag}@example.com`, action: 'UPDATED', entityName: 'story', entityId: String(i), before: { t: i }, after: { t: i + 1 } }));
}

describe('bot-audit verify: tampering the files alone cannot show (real child processes)', function () {
  this.timeout(120_000);
  let dir: string;
  let state: string;
  let file: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-verify-'));
    state = path.join(dir, 'state');
    file = path.join(dir, 'ws', '.bot-audit', 'audit.db');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function verify(...args: string[]) {
    const r = spawnSync(process.execPath, [CLI, 'verify', '--db', file, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', BOT_AUDIT_STATE_DIR: state }, timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  async function write(es: NewEntry[]): Promise<void> {
    const s = await AuditStore.open(file, { watch: false, witnessDir: state });
    await s.appendBatch(es);
    await s.close();
  }

  function copyLog(to: string): void {
    fs.cpSync(path.dirname(file), to, { recursive: true });
  }

  function restoreLog(from: string): void {
    fs.rmSync(path.dirname(file), { recursive: true });
    fs.cpSync(from, path.dirname(file), { recursive: true });
  }

  it('fails with exit 11 when the tail was cut off (the log is shorter than this machine saw)', async () => {
    await write(entries(8));
    copyLog(path.join(dir, 'at8'));
    await write(entries(4, 'b'));
    assert.equal(verify().code, 0);
    restoreLog(path.join(dir, 'at8'));
    for (const args of [[], ['--full']]) {
      const r = verify(...args);
      assert.equal(r.code, 11, r.stdout + r.stderr);
      assert.match(r.stdout, /^8\/8 entries valid\n$/);
      assert.match(r.stderr, /the log is incomplete: the log is shorter than when this machine last wrote to it \(12 entries, head [0-9a-f]{12}…, on \d{4}-/);
      assert.match(r.stderr, /delete .*witness/);
    }
  });

  it('fails with exit 11 when the last entry was deleted together with its journal', async () => {
    await write(entries(5));
    // A writer appends entry 6 to the journal, records it outside the log, and is killed.
    const kid = startChild('appender', [JSON.stringify({ file, count: 1, user: 'late', opts: { witnessDir: state, autoCheckpoint: false }, hang: true })]);
    await kid.waitFor(/^hanging$/);
    const w = new Witness(state, file);
    for (let i = 0; i < 100 && w.read()?.head?.id !== 6; i++) await new Promise((r) => setTimeout(r, 50));
    kid.proc.kill('SIGKILL');
    await kid.exited;
    assert.equal(w.read()?.head?.id, 6);
    fs.rmSync(file + '.journal');
    const r = verify();
    assert.equal(r.code, 11, r.stdout + r.stderr);
    assert.match(r.stderr, /shorter than when this machine last wrote to it \(6 entries/);
  });

  it('fails with exit 11 when the whole history was hashed again', async () => {
    await write(entries(6));
    // Another log of the same length, whose chain is valid on its own, put in its place.
    const forged = path.join(dir, 'forged', 'audit.db');
    const f = await AuditStore.open(forged, { watch: false });
    await f.appendBatch([...entries(2), { ...entries(1, 'forged')[0], entityId: '2' }, ...entries(6).slice(3)]);
    await f.close();
    restoreLog(path.dirname(forged));
    const full = verify('--full', '--json');
    assert.equal(full.code, 11, full.stdout + full.stderr);
    const j = JSON.parse(full.stdout);
    assert.equal(j.ok, false);
    assert.equal(j.count, 6);
    assert.equal(j.firstBroken.id, 6);
    assert.match(j.firstBroken.reason, /entry 6 no longer has the hash it had when this machine last wrote to it .*hashed again/);
    assert.equal(j.witness.id, 6);
  });

  it('checks against a head kept elsewhere with --expect-head HASH or ID:HASH', async () => {
    await write(entries(5));
    const first = JSON.parse(verify('--json').stdout);
    assert.equal(first.ok, true);
    assert.match(first.headHash, /^[0-9a-f]{64}$/);
    assert.equal(verify('--expect-head', first.headHash).code, 0);
    assert.equal(verify('--expect-head', `5:${first.headHash.toUpperCase()}`).code, 0);
    await write(entries(3, 'b'));
    // The log grew: the old head is still entry 5.
    assert.equal(verify('--expect-head', `5:${first.headHash}`).code, 0);
    const moved = verify('--expect-head', first.headHash);
    assert.equal(moved.code, 11);
    assert.match(moved.stderr, /the newest entry, 8, has hash .* not the expected head \(entry 8/);
    const wrong = verify('--expect-head', `4:${first.headHash}`);
    assert.equal(wrong.code, 11);
    assert.match(wrong.stderr, /entry 4 has hash [0-9a-f]{12}…, not the expected head/);
    const beyond = verify('--expect-head', `9:${first.headHash}`);
    assert.equal(beyond.code, 11);
    assert.match(beyond.stderr, /the log ends at entry 8, before the expected head \(entry 9/);
    const bad = verify('--expect-head', 'abc');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--expect-head takes a head hash/);
  });

  it('checks only the new entries after a successful check, says so, and --full checks all', async () => {
    await write(entries(10));
    const a = verify();
    assert.equal(a.code, 0);
    assert.doesNotMatch(a.stderr, /checked entries/);
    await write(entries(4, 'b'));
    const b = verify();
    assert.equal(b.code, 0);
    assert.match(b.stdout, /^14\/14 entries valid\nhead [0-9a-f]{64}\n$/);
    assert.match(b.stderr, /checked entries 11\.\.14; entries 1\.\.10 were verified on \d{4}-.* --full checks them all again/);
    const c = verify('--full');
    assert.equal(c.code, 0);
    assert.doesNotMatch(c.stderr, /checked entries/);
  });

  it('puts back dropped append-only triggers and warns on stderr', async () => {
    const s = await AuditStore.open(file, { watch: false, witnessDir: state });
    await s.appendBatch(entries(3));
    s.unsafeExec('DROP TRIGGER entries_no_update');
    s.unsafeExec('DROP TRIGGER entries_no_delete');
    await s.checkpoint();
    await s.close();
    // verify reads read-only: it reports, and leaves the file as it is.
    const r = verify();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: the append-only triggers entries_no_update and entries_no_delete were missing or changed; this read-only open left the file as it is; the next writer puts them back/);
    // The next writer puts them back, and says so.
    const w = await AuditStore.open(file, { watch: false, witnessDir: state });
    const said = w.warnings.map((x) => x.message).join('\n');
    await w.close();
    assert.match(said, /were missing or changed; they were put back/);
    const again = verify();
    assert.doesNotMatch(again.stderr, /warning/);
  });
});
