// Real processes: kill -9 after append resolves, four concurrent writers, stale locks of killed
// processes, and appends noticed across processes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { AuditStore, type Entry } from '../../../src/core/store';
import { fixture, startChild, useTempLog } from './helpers';

describe('store across processes', function () {
  this.timeout(120_000);
  let file: string;
  before(() => assert.ok(fs.existsSync(fixture('appender')), `compiled fixture missing: ${fixture('appender')}`));
  useTempLog((_dir, f) => (file = f));

  it('keeps every entry whose append resolved when the process is killed -9 right after', async () => {
    for (let round = 0; round < 3; round++) {
      const child = startChild('appender', [JSON.stringify({ file, count: 100_000, user: `killed-${round}`, report: true, opts: { autoCheckpoint: false } })]);
      // Kill as soon as the 5th append of this round has resolved.
      const line = await child.waitFor(/^ok \d+ 4$/);
      child.proc.kill('SIGKILL');
      const { signal } = await child.exited;
      assert.equal(signal, 'SIGKILL');
      const reported = child.lines.filter((l) => l.startsWith('ok ')).map((l) => Number(l.split(' ')[1]));
      assert.ok(reported.length >= 5, line);
      const s = await AuditStore.open(file, { watch: false });
      try {
        for (const id of reported) {
          const e = s.get(id);
          assert.ok(e, `entry ${id} was reported durable but is missing`);
          assert.equal(e.user, `killed-${round}`);
        }
        assert.equal(s.verify().ok, true);
        assert.ok(s.size >= reported[reported.length - 1]);
      } finally {
        await s.close();
      }
    }
  });

  it('gives four processes appending 2,000 entries each 8,000 entries, IDs 1–8,000, one valid chain', async () => {
    const N = 2000;
    const children = [0, 1, 2, 3].map((k) =>
      startChild('appender', [
        JSON.stringify({ file, count: N, user: `writer-${k}`, waitGo: true, opts: { autoCheckpoint: { maxJournalEntries: 1500 } } }),
      ]),
    );
    // Create the log first so that the four opens race only for the lock, not for the file.
    const s0 = await AuditStore.open(file, { watch: false });
    await s0.close();
    await Promise.all(children.map((c) => c.waitFor(/^open$/)));
    for (const c of children) c.proc.stdin!.end('go\n');
    const results = await Promise.all(children.map((c) => c.exited));
    for (const [k, r] of results.entries()) assert.equal(r.code, 0, `writer ${k}: ${children[k].stderr.join('')}`);
    const s = await AuditStore.open(file, { watch: false });
    try {
      assert.equal(s.size, 4 * N);
      assert.equal(s.count([]), 4 * N);
      const v = s.verify();
      assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
      assert.equal(v.count, 4 * N);
      const ids = s.unsafeExec('SELECT min(id), max(id), count(DISTINCT id) FROM entries')[0];
      assert.deepEqual(ids, [1, 4 * N, 4 * N]);
      for (let k = 0; k < 4; k++) {
        assert.equal(s.count(`user:writer-${k}`), N);
        // Each writer's entries are in its own order.
        const seqs = s.unsafeExec('SELECT entity_id FROM entries WHERE user = ? ORDER BY id', [`writer-${k}`]).map((r) => Number(r[0]));
        assert.deepEqual(seqs, Array.from({ length: N }, (_, i) => i));
      }
      // They really interleaved.
      const runs = s.unsafeExec('SELECT count(*) FROM entries a JOIN entries b ON b.id = a.id + 1 WHERE a.user <> b.user')[0][0] as number;
      assert.ok(runs > 3, `only ${runs} switches between writers`);
    } finally {
      await s.close();
    }
  });

  it('recovers the lock of a process killed while holding it', async () => {
    const s0 = await AuditStore.open(file, { watch: false });
    await s0.close();
    const holder = startChild('holdlock', [file + '.lock']);
    await holder.waitFor(/^locked$/);
    holder.proc.kill('SIGKILL');
    await holder.exited;
    assert.ok(fs.existsSync(file + '.lock'), 'the dead process left its lock behind');
    const t = Date.now();
    const s = await AuditStore.open(file, { watch: false, lockTimeoutMs: 5000 });
    const e = await s.append({ user: 'u', action: 'LOGIN', entityName: 'access', entityId: '1' });
    assert.equal(e.id, 1);
    assert.ok(Date.now() - t < 4000, `not after the 5 s lock timeout: ${Date.now() - t} ms`);
    await s.close();
  });

  it("notices another process's appends within a second", async () => {
    const reader = await AuditStore.open(file, { watch: true });
    try {
      const seen: Entry[] = [];
      let firstAt = 0;
      reader.onDidAppend((es) => {
        if (!seen.length) firstAt = Date.now();
        seen.push(...es);
      });
      const child = startChild('appender', [JSON.stringify({ file, count: 3, user: 'other-process', report: true, opts: { autoCheckpoint: false } })]);
      await child.waitFor(/^ok 1 /);
      const reportedAt = Date.now();
      await child.exited;
      const deadline = Date.now() + 2000;
      while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(seen.map((e) => e.id), [1, 2, 3]);
      assert.ok(seen.every((e) => e.user === 'other-process'));
      assert.ok(firstAt - reportedAt < 1000, `${firstAt - reportedAt} ms`);
    } finally {
      await reader.close();
    }
  });
});
