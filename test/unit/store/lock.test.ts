// The writers' lock and this process's own pid: a lock naming our pid that nobody in this process
// holds is stale (pid reuse after a crash, a container restarted with the same pid); a lock held by
// another instance or another thread of this process is not.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { AuditStore } from '../../../src/core/store';
import { FileLock } from '../../../src/core/store/lock';
import { fixture, sampleEntries, useTempLog } from './helpers';

describe('store lock: our own pid', function () {
  this.timeout(20_000);
  let file: string;
  let lockFile: string;
  useTempLog((_d, f) => {
    file = f;
    lockFile = f + '.lock';
  });

  it('takes at once a lock that names our pid but was written by an earlier process with that pid', async () => {
    // What a process that crashed while holding the lock leaves, when the next one gets its pid
    // (a container restarted: the same small pid, the same boot): fresh, and its pid is alive.
    for (const extra of [{ start: 1 }, {}]) {
      fs.writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: os.hostname(), token: 'earlier-process', time: Date.now(), ...extra }));
      const t = Date.now();
      const s = await AuditStore.open(file, { watch: false, lockTimeoutMs: 5000 });
      await s.append(sampleEntries()[0]);
      await s.close();
      assert.ok(Date.now() - t < 4000, `not after the 5 s lock timeout: took ${Date.now() - t} ms`);
      assert.ok(!fs.existsSync(lockFile));
    }
  });

  it('takes at once a lock this process left behind and no longer holds', () => {
    const a = new FileLock(lockFile);
    assert.ok(a.tryAcquire());
    const left = fs.readFileSync(lockFile);
    a.release();
    fs.writeFileSync(lockFile, left); // the same lock file again, now held by nobody
    const b = new FileLock(lockFile);
    assert.equal(b.tryAcquire(), false, 'the first try breaks it');
    assert.equal(b.brokenStale, 1);
    assert.ok(b.tryAcquire());
    b.release();
  });

  it('still keeps two stores of one process apart', async () => {
    const a = new FileLock(lockFile);
    const b = new FileLock(lockFile);
    assert.ok(a.tryAcquire());
    for (let i = 0; i < 3; i++) assert.equal(b.tryAcquire(), false);
    assert.equal(b.brokenStale, 0);
    await assert.rejects(b.acquire(200), /locked by process/);
    a.release();
    assert.ok(b.tryAcquire());
    b.release();
  });

  it('still keeps another thread of this process out (an extension and its FHIR thread share a pid)', async () => {
    // The fixture is a bundle of its own: its lock module, and its tokens, are not this one's.
    const w = new Worker(fixture('holdlock'), { argv: [lockFile], stdout: true, stderr: true });
    try {
      await new Promise<void>((resolve, reject) => {
        w.stdout.on('data', (d: Buffer) => String(d).includes('locked') && resolve());
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`the thread exited (${code})`)));
      });
      const info = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { pid: number };
      assert.equal(info.pid, process.pid);
      const mine = new FileLock(lockFile);
      await assert.rejects(mine.acquire(300), /locked by process/);
      assert.equal(mine.brokenStale, 0);
    } finally {
      await w.terminate();
    }
  });
});
