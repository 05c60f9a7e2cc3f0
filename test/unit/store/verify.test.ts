// Verification: the fast path over the file's pages, incremental verification, the witness kept
// outside the log's folder, and the append-only triggers put back on open.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Database } from 'sql.js';
import { AuditStore, GENESIS_HASH, type NewEntry } from '../../../src/core/store';
import type { PagedFile } from '../../../src/core/store/pagefile';
import { canonicalRow, dbToRow, packText, ROW_COLUMNS, sha256, type SqlValue } from '../../../src/core/store/row';
import { jsonStringOf, storeChain, verifyChain, type ChainSource, type ParallelJob } from '../../../src/core/store/verify';
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

/** Texts with something to escape at every position modulo 4, before, inside and after long plain stretches, beside multi-byte characters. */
function escapeTexts(): string[] {
  const out: string[] = [];
  const escapes = ['"', '\\', '\n', '\t', '\u0000', '\u001f', '\b', '\u000b'];
  for (const c of escapes) {
    for (const pre of [0, 1, 2, 3, 4, 5, 6, 7, 47, 48, 49, 50, 51, 100]) out.push('a'.repeat(pre) + c + 'b'.repeat(pre % 5 === 0 ? 60 : 3));
    out.push(`ü${c}日${c}¢${c}\u00dc${c}😀`, `${c}${c}${c}${c}${c}`, `x${'y'.repeat(200)}${c}`);
  }
  return out;
}

describe('verify: the fast path, text and compressed values', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => removeDir(dir));

  it('writes text as JSON.stringify does, from every alignment', () => {
    const bytes = (t: string) => new Uint8Array(Buffer.from(t, 'utf8'));
    const all = [...escapeTexts(), '', 'a', 'abc"', 'x'.repeat(1000), '\u007f\u0080 ÿ', Array.from({ length: 256 }, (_, c) => String.fromCharCode(c)).join('')];
    // And random bytes, mostly the ones that matter (below 0x20, 0x22, 0x5c and their neighbours, high bytes).
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    const picks = [0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff, 0x61];
    const randoms = Array.from({ length: 300 }, (_, k) => Uint8Array.from({ length: k % 70 }, () => (rnd() & 1 ? picks[rnd() % picks.length] : rnd())));
    for (const text of [...all.map(bytes), ...randoms]) {
      const want = Buffer.from(JSON.stringify(Buffer.from(text).toString('latin1')), 'latin1');
      for (let at = 0; at < 8; at++) assert.deepEqual(jsonStringOf(text, at), want, `${JSON.stringify(Buffer.from(text).toString('latin1'))} at ${at}`);
    }
  });

  it('passes text with escapes anywhere, and compressed values of every size', async () => {
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    try {
      const texts = escapeTexts();
      await s.appendBatch(
        texts.map((t, i) => ({
          user: t,
          action: 'EXECUTED',
          entityName: 'bot',
          entityId: t,
          bot: 'b',
          outcome: 0,
          // Compressed (1 KB or more): text with raw control characters, JSON with escapes.
          outcomeDesc: t.repeat(Math.ceil(1100 / t.length)),
          input: t,
          returnValue: t.repeat(i % 3),
          before: i % 2 ? { t, more: t.repeat(200) } : undefined,
          after: { list: Array.from({ length: (i % 7) * 30 }, (_, k) => ({ k, t })) },
        })),
      );
      // Larger than the first buffers (64 KB), and many of them in a row.
      await s.appendBatch([
        { user: 'u', action: 'UPDATED', entityName: 'n', entityId: '1', before: { big: 'x"y\n'.repeat(60_000) }, after: { big: 'z'.repeat(300_000) } },
        ...Array.from({ length: 40 }, (_, i) => ({ user: 'u', action: 'UPDATED' as const, entityName: 'n', entityId: String(i), before: { s: 'q'.repeat(1000 + i * 97) }, after: { s: texts[i].repeat(40) } })),
      ]);
      const packed = s.unsafeExec("SELECT count(*) FROM entries WHERE typeof(before_json) = 'blob' AND typeof(outcome_desc) != 'blob'")[0][0];
      assert.ok((s.unsafeExec("SELECT count(*) FROM entries WHERE typeof(outcome_desc) = 'blob'")[0][0] as number) > 100, 'outcome descriptions are compressed');
      assert.ok((packed as number) >= 40, 'snapshots are compressed');
      assert.deepEqual(fastScan(s), { verified: s.size, headHash: s.headHash });
      await s.checkpoint();
      assert.deepEqual(fastScan(s), { verified: s.size, headHash: s.headHash });
      assert.equal(s.verify().ok, true);
    } finally {
      await s.close();
    }
  });

  /**
   * Entry `id` now holds `texts` (in `field`, as the store would store them) and the hash of its
   * canonical JSON with one escape left out: what a fast path that missed that escape would hash.
   * It must not pass.
   */
  function forgeUnescaped(s: AuditStore, id: number, field: 'user' | 'outcomeDesc' | 'before', text: string, which: number): boolean {
    const { db } = s as unknown as { db: Database };
    const r = dbToRow(db.exec(`SELECT ${ROW_COLUMNS.join(', ')} FROM entries WHERE id = ?`, [id])[0].values[0] as SqlValue[]);
    (r as unknown as Record<string, string>)[field] = text;
    const right = canonicalRow(r);
    const quoted = JSON.stringify(text);
    // The `which`-th escape of the text, unescaped.
    let at = -1;
    for (let k = 0, n = 0; k < quoted.length - 1; k++) {
      if (quoted[k] !== '\\') continue;
      if (n++ === which) {
        at = k;
        break;
      }
      k += quoted[k + 1] === 'u' ? 5 : 1;
    }
    if (at < 0) return false;
    const esc = quoted[at + 1];
    const raw = esc === 'u' ? String.fromCharCode(parseInt(quoted.slice(at + 2, at + 6), 16)) : ({ n: '\n', t: '\t', b: '\b', f: '\f', r: '\r' } as Record<string, string>)[esc] ?? esc;
    const wrongQuoted = quoted.slice(0, at) + raw + quoted.slice(at + (esc === 'u' ? 6 : 2));
    const i = right.indexOf(quoted);
    assert.ok(i > 0);
    const wrong = right.slice(0, i) + wrongQuoted + right.slice(i + quoted.length);
    const column = field === 'user' ? 'user' : field === 'outcomeDesc' ? 'outcome_desc' : 'before_json';
    const stored = field === 'user' ? text : packText(text);
    if (field !== 'user') assert.ok(stored instanceof Uint8Array, 'the value is stored compressed');
    s.unsafeExec('DROP TRIGGER IF EXISTS entries_no_update');
    s.unsafeExec(`UPDATE entries SET ${column} = ?, hash = ? WHERE id = ?`, [stored, Buffer.from(sha256(wrong), 'hex'), id]);
    return true;
  }

  it('does not pass an entry hashed with an escape left out, wherever it is', async () => {
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    try {
      const cases: { field: 'user' | 'outcomeDesc' | 'before'; text: string; which: number }[] = [];
      for (const t of escapeTexts()) {
        const n = [...t].filter((ch) => ch < ' ' || ch === '"' || ch === '\\').length;
        for (const which of [0, n > 1 ? n - 1 : 0]) {
          cases.push({ field: 'user', text: t, which });
          cases.push({ field: 'outcomeDesc', text: t.repeat(Math.ceil(1100 / t.length)), which: which * 3 });
          // Snapshots are JSON text: quotes and backslashes, no raw control characters.
          if (!/[\u0000-\u001f]/.test(t)) cases.push({ field: 'before', text: JSON.stringify({ t: t.repeat(Math.ceil(1100 / t.length)) }), which: 1 + which * 5 });
        }
      }
      await s.appendBatch(Array.from({ length: cases.length + 1 }, (_, i) => ({ user: 'u', action: 'UPDATED', entityName: 'n', entityId: String(i), outcomeDesc: 'd' })));
      void s.size;
      const { db, pages } = s as unknown as { db: Database; pages: PagedFile };
      const forged = cases.map((c, i) => forgeUnescaped(s, i + 2, c.field, c.text, c.which));
      assert.ok(forged.filter(Boolean).length > 400, `${forged.filter(Boolean).length} forged entries`);
      const src = storeChain(db, pages, s.size);
      cases.forEach((c, i) => {
        const id = i + 2;
        if (!forged[i]) return;
        // From the entry's own link (the entry before it is forged too).
        const prev = Buffer.from(s.unsafeExec('SELECT prev_hash FROM entries WHERE id = ?', [id])[0][0] as Uint8Array).toString('hex');
        const r = src.scanner()!.scan(id, prev, undefined, id);
        assert.equal(r.verified, id - 1, `${c.field} ${JSON.stringify(c.text.slice(0, 80))} (escape ${c.which}) passed`);
        assert.equal(r.stopped?.why, 'its content does not match its hash');
      });
      assert.deepEqual(s.verify().firstBroken, { id: 2, reason: 'its content does not match its hash (the entry was changed)' });
    } finally {
      await s.close();
    }
  });

  it('hands a damaged compressed value to the store’s reading, and agrees with it about bytes after the compressed data', async () => {
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    try {
      await s.appendBatch(Array.from({ length: 6 }, (_, i) => ({ user: 'u', action: 'UPDATED', entityName: 'n', entityId: String(i), before: { s: 'q"'.repeat(1000 + i) } })));
      void s.size;
      s.unsafeExec('DROP TRIGGER IF EXISTS entries_no_update');
      // Bytes after the end of the DEFLATE data: zlib (and so the store) ignores them; so does the fast path.
      s.unsafeExec("UPDATE entries SET before_json = CAST(before_json || x'00ff00ff' AS BLOB) WHERE id = 2");
      // Cut short: the store reads a marker; the fast path stops there, on the entry after a good one.
      s.unsafeExec('UPDATE entries SET before_json = substr(before_json, 1, length(before_json) - 5) WHERE id = 4');
      const fast = fastScan(s);
      assert.equal(fast.verified, 3, JSON.stringify(fast));
      assert.equal(fast.stopped?.id, 4);
      assert.equal(fast.stopped?.why, 'a damaged compressed value');
      assert.deepEqual(s.verify().firstBroken, { id: 4, reason: 'its content does not match its hash (the entry was changed)' });
      // And after that, later compressed values still read well (a fresh stream).
      const { db, pages } = s as unknown as { db: Database; pages: PagedFile };
      const src = storeChain(db, pages, s.size);
      assert.deepEqual(src.scanner()!.scan(5, src.hashAt(4)!), { verified: 6, headHash: s.headHash });
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
  let started = '';

  /** Waits (up to 30 s) until `threads` workers run, then a second for them to take their parts. */
  function waitForWorkers(threads: number): void {
    const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    for (let t = 0; t < 300 && fs.readdirSync(started).length < threads; t++) sleep(100);
    sleep(1000);
  }

  function split(s: AuditStore, threads: number, job: Partial<ParallelJob> = {}): ChainSource {
    void s.size;
    const { db, pages } = s as unknown as { db: Database; pages: PagedFile };
    // The worker script, behind one that notes each worker's start in `started`.
    started = fs.mkdtempSync(path.join(dir, 'started-'));
    const noting = path.join(started, '..', `${path.basename(started)}.js`);
    const real = job.script ?? script;
    fs.writeFileSync(noting, `require('node:fs').writeFileSync(${JSON.stringify(started)} + '/' + require('node:worker_threads').threadId, '');\nrequire(${JSON.stringify(real)});\n`);
    const src = storeChain(db, pages, s.size, script);
    here = 0;
    return {
      ...src,
      parallel: () => ({ ...src.parallel!()!, threads, minEntries: 1, ...job, script: noting }),
      scanner() {
        const sc = src.scanner()!;
        const scan = sc.scan.bind(sc);
        let first = true;
        sc.scan = (from, prev, progress, until) => {
          // This thread takes every part that no worker has taken yet: let the workers start first.
          if (first) waitForWorkers(threads);
          first = false;
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
        // Each thread starts with a part of its own, so the workers checked theirs at least.
        assert.ok(here >= 1 && here <= 430 - threads * Math.floor(430 / (threads + 1)), `this thread checked ${here} of 430: the workers checked the others`);
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

  it('shares many small parts between the threads, and still finds the first changed entry', async () => {
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false, autoCheckpoint: false });
    try {
      await s.appendBatch(Array.from({ length: 10 }, () => sampleEntries()).flat());
      await s.checkpoint();
      await s.appendBatch(Array.from({ length: 30 }, (_, i) => odd(i)));
      for (const threads of [1, 3]) {
        // 29 parts of 15 entries: each thread takes the next free one when it is done with its last.
        assert.deepEqual(verifyChain(split(s, threads, { partEntries: 15 }), {}), { ok: true, count: 430, headHash: s.headHash });
        assert.ok(here < 430, `this thread checked ${here} of 430: the workers checked the others`);
      }
      tamper(s, 377);
      tamper(s, 120);
      const v = verifyChain(split(s, 3, { partEntries: 15 }), {});
      assert.deepEqual(v.firstBroken, { id: 120, reason: 'its content does not match its hash (the entry was changed)' });
    } finally {
      await s.close();
    }
  });

  it('checks here the parts of a worker that cannot start', async () => {
    const bad = path.join(dir, 'broken-worker.js');
    fs.writeFileSync(bad, "throw new Error('this worker fails as it starts');\n");
    const s = await AuditStore.open(path.join(dir, 'audit.db'), { watch: false });
    try {
      await s.appendBatch(Array.from({ length: 10 }, () => sampleEntries()).flat());
      assert.deepEqual(verifyChain(split(s, 2, { script: bad, partEntries: 50 }), {}), { ok: true, count: 400, headHash: s.headHash });
      assert.equal(here, 400, 'this thread checked every part');
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
