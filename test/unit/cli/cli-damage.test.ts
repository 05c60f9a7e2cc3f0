// The trial: flip 4 random bytes of audit.db, then verify and run. Each trial ends with a clean
// verify, or exit 9/11 and nothing written by run; never exit 1, never an append past the damage
// (issue 18, defect 9). Seeded, so every run flips the same bytes; real child processes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../../src/cli/main';
import { AuditStore, type NewEntry } from '../../../src/core/store';
import { flip, prng } from '../store/helpers';
import { cli, snapshotFiles, workspace } from './helpers';

describe('bot-audit CLI: a damaged audit.db', function () {
  this.timeout(120_000);
  let ws: string;
  let db: string;
  let pristine: Record<string, Buffer | undefined>;
  before(async () => {
    ws = workspace();
    db = path.join(ws, '.bot-audit', 'audit.db');
    assert.equal(cli(ws, 'run', 'hello-bot').code, 0);
    // A few hundred entries.
    const s = await AuditStore.open(db, { watch: false });
    const es: NewEntry[] = [];
    for (let i = 0; i < 300; i++) es.push({ user: `user${i % 7}@example.com`, action: i % 5 ? 'UPDATED' : 'LOGIN', entityName: 'story', entityId: String(i), before: { n: i }, after: { n: i + 1, note: `change ${i}` } });
    await s.appendBatch(es);
    await s.close();
    pristine = snapshotFiles(db);
  });
  after(() => fs.rmSync(ws, { recursive: true, force: true }));

  it('8 seeded trials: verify is clean or exits 9/11; then run exits 9/11 and writes nothing', () => {
    const rand = prng(1809);
    const codes: number[] = [];
    for (let trial = 0; trial < 8; trial++) {
      const buf = Buffer.from(pristine['audit.db']!);
      const at = flip(buf, rand);
      fs.writeFileSync(db, buf);
      fs.writeFileSync(`${db}.journal`, pristine['audit.db.journal']!);
      const what = `trial ${trial}, bytes ${at.join(', ')}`;
      const before = snapshotFiles(db);
      const v = cli(ws, 'verify');
      codes.push(v.code);
      assert.ok([EXIT.ok, EXIT.badDatabase, EXIT.chainBroken].includes(v.code as 0), `${what}: verify exited ${v.code}: ${v.stderr}`);
      assert.doesNotMatch(v.stderr, /internal error/, what);
      if (v.code === EXIT.badDatabase) assert.match(v.stderr, /restore .*from a copy|move it aside/i, what);
      if (v.code === EXIT.ok) continue; // bytes no entry and no check reads: nothing to refuse
      const r = cli(ws, 'run', 'hello-bot');
      assert.ok([EXIT.badDatabase, EXIT.chainBroken].includes(r.code as 9), `${what}: run exited ${r.code} after verify's ${v.code}: ${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout, /Outcome/, `${what}: the bot did not run`);
      assert.deepEqual(snapshotFiles(db), before, `${what}: run wrote nothing`);
    }
    assert.ok(codes.some((c) => c !== EXIT.ok), `some trial found damage: ${codes.join(', ')}`);
  });
});
