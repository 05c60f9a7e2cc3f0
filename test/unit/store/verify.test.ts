// Verification: the fast path over the file's pages, incremental verification, the witness kept
// outside the log's folder, and the append-only triggers put back on open.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Database } from 'sql.js';
import { AuditStore, GENESIS_HASH, type NewEntry } from '../../../src/core/store';
import type { PagedFile } from '../../../src/core/store/pagefile';
import { storeChain, verifyChain, type ChainSource } from '../../../src/core/store/verify';
import { Witness } from '../../../src/core/store/witness';
import { removeDir, sampleEntries, startChild, tempDir } from './helpers';

/** The fast path alone: how many entries it passes from entry 1, and where it stopped. */
function fastScan(s: AuditStore) {
  void s.size; // catches up, puts waiting rows in
  const { db, pages } = s as unknown as { db: Database; pages: PagedFile };
  return storeChain(db, pages, s.size).scanner()!.scan(1, GENESIS_HASH);
}

/** Changes one stored value of entry `id` behind the store's back (the append-only trigger lifted). */
function tamper(s: AuditStore, id: number, sql = "user = 'mallory'"): void {
  s.unsafeExec('DROP TRIGGER IF EXISTS entries_no_update');
  s.unsafeExec(`UPDATE entries SET ${sql} WHERE id = ?`, [id]);
}

function odd(i: number): NewEntry {
  const texts = ['tab\there "quoted" \\ back', 'nul\u0000 and \u001f and \u007f', 'ünïcödé 日本語 😀', '\u2028\u2029 line seps', 'x'.repeat(3000) + '\n'.repeat(400)];
  return {
    user: texts[i % texts.length],
    action: 'UPDATED',
    entityName: 'story',
    entityId: String(-i * 1_000_003),
    outcomeDesc: texts[(i + 1) % texts.length].repeat(3),
    input: JSON.stringify({ n: i, t: texts[(i + 2) % texts.length] }),
    returnValue: texts[(i + 3) % texts.length],
    before: { big: 'y'.repeat(2000 + i), list: Array.from({ length: 50 }, (_, k) => ({ k, s: texts[k % texts.length] })) },
    after: { n: i, neg: -i, float: i / 3, nested: { a: [1, 2, { b: null }] } },
    replayOf: i,
    periodStart: -1,
    periodEnd: 2 ** 52,
    recorded: 1_700_000_000_000 + i,
  };
}

describe('verify: the fast path', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => removeDir(dir));

  it('reads every entry the way the store does: odd text, compressed values, overflow pages, checkpointed or not', async () => {
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    try {
      await s.appendBatch(sampleEntries());
      await s.appendBatch(Array.from({ length: 60 }, (_, i) => odd(i)));
      await s.checkpoint();
      // Some in the file, some only in the pages written since (the journal's entries).
      await s.appendBatch(Array.from({ length: 25 }, (_, i) => odd(i + 100)));
      const fast = fastScan(s);
      assert.deepEqual(fast, { verified: s.size, headHash: s.headHash });
      assert.deepEqual(s.verify(), { ok: true, count: 125, headHash: s.headHash });
    } finally {
      await s.close();
    }
  });

  it('stops where an entry changed, and the store’s own reading gives the verdict', async () => {
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    try {
      await s.appendBatch(sampleEntries());
      tamper(s, 17);
      const fast = fastScan(s);
      assert.equal(fast.verified, 16);
      assert.equal(fast.stopped?.id, 17);
      const v = s.verify();
      assert.equal(v.ok, false);
      assert.equal(v.count, 40);
      assert.deepEqual(v.firstBroken, { id: 17, reason: 'its content does not match its hash (the entry was changed)' });
    } finally {
      await s.close();
    }
  });
});

describe('verify: worker threads', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => removeDir(dir));
  // Built by `node esbuild.mjs` beside the extension and the CLI.
  const script = path.resolve(__dirname, '..', '..', '..', '..', 'dist', 'verify-worker.js');

  /** Entries this thread's fast path checked in the last verifyChain over split(). */
  let here = 0;

  /** The store's chain, split between this thread and `threads` workers however few entries there are. */
  function split(s: AuditStore, threads: number): ChainSource {
    void s.size;
    const { db, pages } = s as unknown as { db: Database; pages: PagedFile };
    const src = storeChain(db, pages, s.size, script);
    here = 0;
    return {
      ...src,
      parallel: () => ({ ...src.parallel!()!, threads, minEntries: 1 }),
      scanner() {
        const sc = src.scanner()!;
        const scan = sc.scan.bind(sc);
        sc.scan = (from, prev, progress, until) => {
          const r = scan(from, prev, progress, until);
          here += r.verified - from + 1;
          return r;
        };
        return sc;
      },
    };
  }

  it('checks parts of the log in parallel and chains them as one', async () => {
    assert.ok(fs.existsSync(script), `${script} is built`);
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    try {
      await s.appendBatch(Array.from({ length: 10 }, () => sampleEntries()).flat());
      await s.checkpoint();
      await s.appendBatch(Array.from({ length: 30 }, (_, i) => odd(i))); // in the overlay only
      for (const threads of [1, 3]) {
        assert.deepEqual(verifyChain(split(s, threads), {}), { ok: true, count: 430, headHash: s.headHash });
        assert.equal(here, Math.ceil(430 / (threads + 1)), 'the workers checked the other parts');
      }
      let calls = 0;
      verifyChain(split(s, 1), { onProgress: () => calls++ });
      assert.ok(calls >= 1);
    } finally {
      await s.close();
    }
  });

  it('finds a changed entry in a worker’s part, and the link between two parts', async () => {
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    try {
      await s.appendBatch(Array.from({ length: 10 }, () => sampleEntries()).flat());
      tamper(s, 350);
      assert.deepEqual(verifyChain(split(s, 1), {}).firstBroken, { id: 350, reason: 'its content does not match its hash (the entry was changed)' });
      // Entry 200 is the last of the first part: its hash changed, so entry 201 no longer links to it.
      tamper(s, 200, 'hash = randomblob(32)');
      const v = verifyChain(split(s, 1), {});
      assert.equal(v.firstBroken?.id, 200);
      assert.equal(v.count, 400);
    } finally {
      await s.close();
    }
  });
});

describe('verify: incremental', function () {
  this.timeout(60_000);
  let dir: string;
  let state: string;
  let file: string;
  beforeEach(() => {
    dir = tempDir();
    state = path.join(dir, 'state');
    file = path.join(dir, 'log', 'audit.db');
  });
  afterEach(() => removeDir(dir));

  it('checks the entries since the last verification, and says so; a full verify checks all', async () => {
    const s = await AuditStore.open(file, { watch: false, witnessDir: state });
    try {
      await s.appendBatch(sampleEntries().slice(0, 30));
      const first = s.verify({ incremental: true });
      assert.equal(first.ok, true);
      assert.equal(first.incremental, undefined, 'no mark yet: everything is checked');
      await s.appendBatch(sampleEntries().slice(30));
      const v = s.verify({ incremental: true });
      assert.equal(v.ok, true);
      assert.equal(v.count, 40);
      assert.equal(v.incremental?.from, 31);
      assert.match(v.incremental!.verifiedOn, /^\d{4}-\d\d-\d\dT/);
      // An old entry changed without touching the chain after it: only a full verify can see it.
      tamper(s, 5);
      const inc = s.verify({ incremental: true });
      assert.equal(inc.ok, true, 'entries 1..40 were verified before: an incremental check does not read them again');
      assert.equal(inc.incremental?.from, 41);
      const full = s.verify();
      assert.equal(full.ok, false);
      assert.equal(full.firstBroken?.id, 5);
    } finally {
      await s.close();
    }
  });

  it('catches a changed new entry', async () => {
    const s = await AuditStore.open(file, { watch: false, witnessDir: state });
    try {
      await s.appendBatch(sampleEntries().slice(0, 20));
      assert.equal(s.verify({ incremental: true }).ok, true);
      await s.appendBatch(sampleEntries().slice(20));
      tamper(s, 33, "outcome_desc = 'all fine'");
      const v = s.verify({ incremental: true });
      assert.equal(v.ok, false);
      assert.equal(v.incremental?.from, 21);
      assert.equal(v.firstBroken?.id, 33);
    } finally {
      await s.close();
    }
  });

  it('checks everything again when the last verified entry no longer has its hash', async () => {
    const s = await AuditStore.open(file, { watch: false, witnessDir: state });
    try {
      await s.appendBatch(sampleEntries().slice(0, 10));
      assert.equal(s.verify({ incremental: true }).ok, true);
      tamper(s, 10, `hash = randomblob(32)`);
      const v = s.verify({ incremental: true });
      assert.equal(v.ok, false);
      assert.equal(v.incremental, undefined, 'a full check');
      assert.equal(v.firstBroken?.id, 10);
      assert.match(v.firstBroken!.reason, /does not match its hash/);
    } finally {
      await s.close();
    }
  });
});

describe('verify: the witness and the triggers', function () {
  this.timeout(60_000);
  let dir: string;
  let state: string;
  let file: string;
  beforeEach(() => {
    dir = tempDir();
    state = path.join(dir, 'state');
    file = path.join(dir, 'log', 'audit.db');
  });
  afterEach(() => removeDir(dir));

  it('keeps the newest entry outside the log’s folder, and never moves it back', async () => {
    const s = await AuditStore.open(file, { watch: false, witnessDir: state });
    await s.appendBatch(sampleEntries().slice(0, 12));
    await s.close();
    const w = new Witness(state, file);
    assert.ok(!w.file.startsWith(path.dirname(file)));
    assert.equal(w.read()?.head?.id, 12);
    assert.equal(w.read()?.log, fs.realpathSync(file));
    // Another writer that saw less does not move it back.
    const hashes = new Map([[12, w.read()!.head!.hash]]);
    assert.deepEqual(new Witness(state, file).noteHead({ id: 7, hash: 'a'.repeat(64) }, 12, (id) => hashes.get(id)), { ok: true });
    assert.equal(w.read()?.head?.id, 12);
  });

  it('does not move past a log that contradicts it, and warns on open', async () => {
    const s = await AuditStore.open(file, { watch: false, witnessDir: state });
    await s.appendBatch(sampleEntries().slice(0, 6));
    await s.close();
    const copy = path.join(dir, 'copy');
    fs.cpSync(path.dirname(file), copy, { recursive: true });
    const t = await AuditStore.open(file, { watch: false, witnessDir: state });
    await t.appendBatch(sampleEntries().slice(6, 9));
    await t.close();
    // The log goes back to 6 entries, then grows past 9 again with other entries.
    fs.rmSync(path.dirname(file), { recursive: true });
    fs.cpSync(copy, path.dirname(file), { recursive: true });
    const u = await AuditStore.open(file, { watch: false, witnessDir: state });
    try {
      assert.equal(u.warnings.filter((x) => x.code === 'WITNESS').length, 1);
      assert.match(u.warnings.find((x) => x.code === 'WITNESS')!.message, /shorter than when this machine last saw it \(9 entries/);
      await u.appendBatch(sampleEntries().slice(20, 25));
      const v = u.verify();
      assert.equal(v.ok, false);
      assert.equal(v.firstBroken?.id, 9);
      assert.match(v.firstBroken!.reason, /entry 9 no longer has the hash it had when this machine last wrote to it/);
    } finally {
      await u.close();
    }
    assert.equal(new Witness(state, file).read()?.head?.id, 9, 'the evidence stays');
  });

  it('puts back dropped or emptied append-only triggers on open, and reports it', async () => {
    const s = await AuditStore.open(file, { watch: false });
    await s.appendBatch(sampleEntries().slice(0, 5));
    s.unsafeExec('DROP TRIGGER entries_no_delete');
    s.unsafeExec('DROP TRIGGER entries_no_update');
    s.unsafeExec('CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT 1; END');
    await s.checkpoint(); // the file on disk now lacks them
    await s.close();
    const t = await AuditStore.open(file, { watch: false });
    try {
      const w = t.warnings.filter((x) => x.code === 'TRIGGERS');
      assert.equal(w.length, 1);
      assert.match(w[0].message, /entries_no_update and entries_no_delete were missing or changed; they were put back/);
      assert.throws(() => t.unsafeExec("UPDATE entries SET user = 'x' WHERE id = 1"), /append-only: UPDATE is refused/);
      assert.throws(() => t.unsafeExec('DELETE FROM entries WHERE id = 5'), /append-only: DELETE is refused/);
    } finally {
      await t.close();
    }
    // Written back to the file: the next open finds them.
    const u = await AuditStore.open(file, { watch: false });
    assert.equal(u.warnings.filter((x) => x.code === 'TRIGGERS').length, 0);
    await u.close();
  });

  it('keeps the largest head when two processes write at once', async function () {
    this.timeout(120_000);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const opts = { witnessDir: state, autoCheckpoint: false };
    const kids = ['a', 'b'].map((user) => startChild('appender', [JSON.stringify({ file, count: 150, user, opts, waitGo: true })]));
    await Promise.all(kids.map((k) => k.waitFor(/^open$/)));
    for (const k of kids) k.proc.stdin!.write('go\n');
    const exits = await Promise.all(kids.map((k) => k.exited));
    assert.deepEqual(exits.map((e) => e.code), [0, 0], kids.map((k) => k.stderr.join('')).join('\n'));
    const s = await AuditStore.open(file, { watch: false, witnessDir: state });
    try {
      assert.equal(s.size, 300);
      assert.deepEqual(new Witness(state, file).read()?.head?.id, 300);
      assert.equal(s.verify().ok, true);
    } finally {
      await s.close();
    }
  });
});
