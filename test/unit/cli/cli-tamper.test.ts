// The set-up: a line of audit.db.journal edited before a checkpoint. verify exits 11 naming
// the entry; log, show and export read on with a warning; run refuses; the journal is kept as
// evidence, byte for byte (issue 18, defect 4).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../../src/cli/main';
import { AuditStore } from '../../../src/core/store';
import { cli, snapshotFiles, workspace } from './helpers';

describe('bot-audit CLI: a changed journal line', function () {
  this.timeout(60_000);
  let ws: string;
  let db: string;
  beforeEach(async () => {
    ws = workspace();
    db = path.join(ws, '.bot-audit', 'audit.db');
    assert.equal(cli(ws, 'run', 'hello-bot').code, 0);
    // Entries 2–4 only in the journal, as a writer that has not checkpointed yet leaves them.
    const w = await AuditStore.open(db, { watch: false, autoCheckpoint: false });
    for (const u of ['ann', 'bob', 'cy']) await w.append({ user: `${u}@example.com`, action: 'LOGIN', entityName: 'access', entityId: u });
    const files = [db, `${db}.journal`].map((f) => [f, fs.readFileSync(f)] as const);
    await w.close();
    for (const [f, b] of files) fs.writeFileSync(f, b);
  });
  afterEach(() => fs.rmSync(ws, { recursive: true, force: true }));

  function edit(user: string): void {
    const j = `${db}.journal`;
    fs.writeFileSync(j, fs.readFileSync(j, 'utf8').replace(`"user":"${user}@example.com"`, `"user":"mallory@example.com"`));
  }

  it('the last line: verify exits 11 naming it, reads go on with a warning, run refuses, the evidence stays', () => {
    edit('cy');
    const evidence = snapshotFiles(db);
    const v = cli(ws, 'verify');
    assert.equal(v.code, EXIT.chainBroken, v.stdout + v.stderr);
    assert.match(v.stdout, /^3\/4 entries valid/);
    assert.match(v.stderr, /entry 4 is broken/);
    const log = cli(ws, 'log', '--format', 'ndjson');
    assert.equal(log.code, 0, log.stderr);
    assert.deepEqual(log.stdout.trim().split('\n').map((l) => JSON.parse(l).id), [4, 3, 2, 1]);
    assert.match(log.stderr, /^warning: .*entry 4 of the journal .*changed after it was written/m);
    assert.equal(cli(ws, 'show', '4').code, 0);
    assert.equal(cli(ws, 'export', '--format', 'ndjson').code, 0);
    const run = cli(ws, 'run', 'hello-bot');
    assert.equal(run.code, EXIT.chainBroken, run.stdout + run.stderr);
    assert.match(run.stderr, /entry 4\b.*nothing was run or recorded/);
    assert.doesNotMatch(run.stdout, /Outcome/);
    assert.deepEqual(snapshotFiles(db), evidence, 'no write, no checkpoint: the changed line is kept');
  });

  it('a middle line: verify names that entry, not another, and the whole log stays readable', () => {
    edit('ann');
    const evidence = snapshotFiles(db);
    const v = cli(ws, 'verify');
    assert.equal(v.code, EXIT.chainBroken, v.stdout + v.stderr);
    assert.match(v.stderr, /entry 2 is broken/);
    const log = cli(ws, 'log', '--format', 'ndjson');
    assert.equal(log.code, 0, log.stderr);
    assert.equal(log.stdout.trim().split('\n').length, 4);
    assert.deepEqual(snapshotFiles(db), evidence);
  });
});
