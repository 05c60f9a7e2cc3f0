// Each failure has its own exit code (issue 18, defect 10): a lock held too long, an I/O error, a
// read-only log, a damaged or tampered one. Real child processes of the built CLI.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../../src/cli/main';
import { FileLock } from '../../../src/core/store/lock';
import { cli, cliWith, oneLine, snapshotFiles, workspace } from './helpers';

describe('bot-audit CLI: exit codes', function () {
  this.timeout(60_000);
  let ws: string;
  let db: string;
  before(() => {
    ws = workspace();
    db = path.join(ws, '.bot-audit', 'audit.db');
    const r = cli(ws, 'run', 'hello-bot');
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => fs.rmSync(ws, { recursive: true, force: true }));

  it('keeps the old codes and adds distinct ones, none of them a run outcome', () => {
    const codes = Object.values(EXIT);
    assert.equal(new Set(codes).size, codes.length, 'distinct');
    assert.deepEqual(
      { internal: EXIT.internal, usage: EXIT.usage, unknownBot: EXIT.unknownBot, inputFile: EXIT.inputFile, badInput: EXIT.badInput, badQuery: EXIT.badQuery, badDatabase: EXIT.badDatabase, noEntry: EXIT.noEntry, chainBroken: EXIT.chainBroken },
      { internal: 1, usage: 2, unknownBot: 3, inputFile: 5, badInput: 6, badQuery: 7, badDatabase: 9, noEntry: 10, chainBroken: 11 },
    );
    for (const c of codes) if (c !== EXIT.ok) assert.ok(![4, 8, 12].includes(c), `${c} is a run outcome`);
    const help = cli(ws, '--help').stdout;
    for (const [name, c] of Object.entries(EXIT)) if (c > 0) assert.match(help, new RegExp(`\\b${c} `), `help names ${name} (${c})`);
  });

  it('a lock held too long by another process: its own code, one line, nothing written', () => {
    const lock = new FileLock(`${db}.lock`);
    assert.ok(lock.tryAcquire());
    try {
      const before = snapshotFiles(db);
      const t = Date.now();
      const r = cliWith({ BOT_AUDIT_LOCK_TIMEOUT: '0.3' }, ws, 'run', 'hello-bot');
      assert.ok(Date.now() - t < 10_000, 'BOT_AUDIT_LOCK_TIMEOUT is honoured');
      assert.equal(r.code, EXIT.locked, r.stderr);
      assert.equal(EXIT.locked, 14);
      oneLine(r.stderr);
      assert.match(r.stderr, new RegExp(`locked by process ${process.pid}`));
      assert.deepEqual(snapshotFiles(db), before);
    } finally {
      lock.release();
    }
  });

  it('an I/O error: its own code, not "internal error" nor "not a Bot Audit database"', () => {
    const journal = `${db}.journal`;
    const saved = fs.readFileSync(journal);
    fs.rmSync(journal);
    fs.mkdirSync(journal); // reading or writing it fails with EISDIR
    try {
      for (const args of [['run', 'hello-bot'], ['log'], ['verify']]) {
        const r = cli(ws, ...args);
        assert.equal(r.code, EXIT.io, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(EXIT.io, 13);
        oneLine(r.stderr);
        assert.doesNotMatch(r.stderr, /internal error|not a Bot Audit/);
      }
    } finally {
      fs.rmSync(journal, { recursive: true });
      fs.writeFileSync(journal, saved);
    }
    assert.equal(cli(ws, 'verify').code, 0);
  });
});
