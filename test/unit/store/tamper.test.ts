// A changed journal line is tampering, not a torn tail: it is reported (verify names the entry), its
// bytes are kept as evidence, the rest of the log stays readable, nothing more is written and no ID is
// reused. Only an incomplete last line, as a crash mid-write leaves, is dropped (issue 18, defect 4).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { AuditStore, StoreError } from '../../../src/core/store';
import { sampleEntries, useTempLog } from './helpers';

const isTampered = (id: number) => (e: unknown) => {
  assert.ok(e instanceof StoreError, String(e));
  assert.equal(e.code, 'TAMPERED', e.message);
  assert.match(e.message, new RegExp(`entry ${id}\\b`));
  assert.match(e.message, /kept/);
  return true;
};

describe('store: a changed journal line', function () {
  this.timeout(20_000);
  let file: string;
  let journal: string;
  useTempLog((_d, f) => {
    file = f;
    journal = f + '.journal';
  });

  /** `n` entries, all of them only in the journal (the writer's files as they were before its close). */
  async function journalOnly(n: number): Promise<void> {
    const w = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await w.appendBatch(sampleEntries().slice(0, n));
    const saved = [file, journal].map((f) => [f, fs.readFileSync(f)] as const);
    await w.close();
    for (const [f, b] of saved) fs.writeFileSync(f, b);
  }

  /** Changes line `i` of the journal (1: the first entry) with `edit`. */
  function editLine(i: number, edit: (line: string) => string): void {
    const lines = fs.readFileSync(journal, 'utf8').split('\n');
    lines[i] = edit(lines[i]);
    fs.writeFileSync(journal, lines.join('\n'));
  }

  const files = () => [fs.readFileSync(file), fs.readFileSync(journal)];

  it('the last line changed: reported and kept, not dropped; its ID is never reused', async () => {
    await journalOnly(3);
    editLine(3, (l) => l.replace('"user":"', '"user":"X'));
    const evidence = files();
    const s = await AuditStore.open(file, { watch: false });
    assert.equal(s.size, 3, 'the changed entry is still there, as it now reads');
    assert.equal(s.get(3)!.user.startsWith('X'), true);
    assert.equal(s.warnings[0]?.code, 'TAMPERED');
    assert.match(s.warnings[0].message, /entry 3\b/);
    assert.deepEqual(s.tampering && { id: s.tampering.id }, { id: 3 });
    const v = s.verify();
    assert.equal(v.ok, false);
    assert.equal(v.firstBroken!.id, 3);
    await assert.rejects(s.append(sampleEntries()[3]), isTampered(3));
    await assert.rejects(s.checkpoint(), isTampered(3));
    await s.close();
    assert.deepEqual(files(), evidence, 'neither the next append nor a checkpoint nor close touched the evidence');
    const again = await AuditStore.open(file, { watch: false });
    assert.equal(again.size, 3);
    await assert.rejects(again.append(sampleEntries()[3]), isTampered(3));
    await again.close();
    assert.deepEqual(files(), evidence);
  });

  it('a middle line changed: names that entry, and the entries after it stay readable', async () => {
    await journalOnly(5);
    editLine(2, (l) => l.replace('"user":"', '"user":"Y'));
    const evidence = files();
    const s = await AuditStore.open(file, { watch: false });
    assert.equal(s.size, 5);
    assert.deepEqual(s.query([]).entries.map((e) => e.id), [5, 4, 3, 2, 1]);
    assert.equal(s.get(5)!.id, 5);
    const v = s.verify();
    assert.equal(v.firstBroken?.id, 2);
    assert.match(v.firstBroken!.reason, /does not match its hash/);
    assert.equal(s.tampering?.id, 2);
    await assert.rejects(s.append(sampleEntries()[5]), isTampered(2));
    await s.close();
    assert.deepEqual(files(), evidence);
  });

  it('a line changed and its hash made again: the next entry no longer links, and is named', async () => {
    await journalOnly(4);
    // Entry 2 changed and given a hash of its own: it is consistent, but entry 3 still names the old one.
    const { hashRow } = await import('../../../src/core/store/row');
    editLine(2, (l) => {
      const o = JSON.parse(l);
      o.user = 'rewritten';
      delete o.hash;
      o.hash = hashRow(o);
      return JSON.stringify(o);
    });
    const s = await AuditStore.open(file, { watch: false });
    assert.equal(s.size, 4);
    assert.equal(s.verify().firstBroken?.id, 3);
    assert.equal(s.tampering?.id, 3);
    await assert.rejects(s.append(sampleEntries()[5]), isTampered(3));
    await s.close();
  });

  it('a complete line made unreadable is tampering too, not a torn line', async () => {
    await journalOnly(3);
    editLine(2, (l) => l.replace('"user":"', '"user":'));
    const evidence = files();
    const s = await AuditStore.open(file, { watch: false });
    assert.equal(s.tampering?.id, 2);
    assert.equal(s.size, 1, 'nothing can be read past a line that is not an entry');
    await assert.rejects(s.append(sampleEntries()[3]), isTampered(2));
    await s.close();
    assert.deepEqual(files(), evidence);
  });

  it('a torn last line (a crash mid-write) is still dropped; a complete one without its newline is kept', async () => {
    await journalOnly(3);
    const whole = fs.readFileSync(journal, 'utf8');
    // Entry 3 written whole but for its newline: it is valid, and kept.
    fs.writeFileSync(journal, whole.slice(0, -1));
    const a = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    assert.equal(a.size, 3);
    assert.equal(a.tampering, undefined);
    await a.close();
    // Entry 3 cut short: torn, dropped with a warning; the next append takes ID 3.
    fs.rmSync(file);
    fs.rmSync(journal);
    await journalOnly(3);
    const lines = fs.readFileSync(journal, 'utf8').split('\n');
    fs.writeFileSync(journal, [...lines.slice(0, 3), lines[3].slice(0, 40)].join('\n'));
    const b = await AuditStore.open(file, { watch: false });
    assert.equal(b.size, 2);
    assert.equal(b.warnings[0]?.code, 'TORN_LINE');
    assert.equal(b.tampering, undefined);
    assert.equal((await b.append(sampleEntries()[5])).id, 3);
    assert.equal(b.verify().ok, true);
    await b.close();
  });

  it('a writer whose journal is changed under it does not fold the changed journal away', async () => {
    const w = await AuditStore.open(file, { watch: false, autoCheckpoint: false });
    await w.appendBatch(sampleEntries().slice(0, 3));
    editLine(2, (l) => l.replace('"user":"', '"user":"Z'));
    await assert.rejects(w.checkpoint(), isTampered(2));
    const evidence = files();
    await assert.rejects(w.append(sampleEntries()[3]), isTampered(2));
    await w.close();
    assert.deepEqual(files(), evidence);
    const r = await AuditStore.open(file, { readOnly: true, watch: false });
    assert.equal(r.verify().firstBroken?.id, 2);
    await r.close();
  });
});
