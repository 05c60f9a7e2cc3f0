// Odd text through the hash chain and back: every string an entry can hold is stored in one
// canonical form, so the hash taken when it is appended is the hash verify() recomputes from
// what was stored, in this process and after reopening the file.
import * as assert from 'node:assert/strict';
import { AuditStore } from '../../../src/core/store';
import { useTempLog } from './helpers';

const ODD: [string, string][] = [
  ['a lone high surrogate', 'x\ud83dy'],
  ['a lone low surrogate', '\ude00'],
  ['half an emoji at the end', '😀'.slice(0, 1)],
  ['a reversed pair', '\ude00\ud83d'],
  ['NUL', 'a\u0000b'],
  ['U+FFFE and U+FFFF', '\ufffe\uffff'],
  ['a BOM', '\ufeffstart'],
  ['control characters', '\u0001\u001b[31m\u007f'],
  ['a whole emoji', 'ok 😀'],
  ['an over-long line', 'z'.repeat(300_000) + '\ud83d'],
];

describe('store: odd text keeps the chain valid', function () {
  this.timeout(60_000);
  let file = '';
  useTempLog((_d, f) => (file = f));

  it('every odd string, in every text field and in snapshots, verifies now and after reopening', async () => {
    const s = await AuditStore.open(file, { watch: false });
    try {
      for (const [what, text] of ODD) {
        await s.append({
          user: `u ${text}`,
          action: 'EXECUTED',
          entityName: 'Bot',
          entityId: `bots/${text}.ts`,
          bot: text,
          outcome: 0,
          outcomeDesc: text,
          input: text,
          returnValue: JSON.stringify(text),
          traceId: text,
          before: { what, text },
          after: { [text]: [text] },
        });
      }
      const v = s.verify();
      assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
      await s.checkpoint();
      assert.equal(s.verify().ok, true);
    } finally {
      await s.close();
    }
    const again = await AuditStore.open(file, { watch: false });
    try {
      const v = again.verify();
      assert.equal(v.ok, true, JSON.stringify(v.firstBroken));
      assert.equal(v.count, ODD.length);
      // What comes back is the canonical form: well-formed text (a lone surrogate is U+FFFD), the rest as written.
      const e = again.get(1)!;
      assert.equal(e.outcomeDesc, 'x\ufffdy');
      assert.equal(again.get(5)!.outcomeDesc, 'a\u0000b', 'NUL is kept');
      assert.equal(again.get(9)!.outcomeDesc, 'ok 😀');
      assert.equal(again.get(7)!.outcomeDesc, '\u2060start', 'a leading U+FEFF, which the database drops, is stored as U+2060');
      assert.equal(again.get(6)!.outcomeDesc, '\ufffe\uffff', 'noncharacters are kept');
    } finally {
      await again.close();
    }
  });
});
