// `bot-audit log --follow` while eight processes append at once: every entry is printed, once,
// oldest first (issue 18, defect 3: a follower that kept only the newest N printed 3,700 of 4,000).
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuditStore } from '../../../src/core/store';
import { CLI } from './helpers';

const APPENDER = path.join(__dirname, '..', '..', 'fixtures', 'store', 'appender.js');

function runAppender(cfg: { file: string; count: number; user: string; batch?: number }): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [APPENDER, JSON.stringify(cfg)], { stdio: 'ignore' });
    p.on('exit', (code) => resolve(code));
  });
}

describe('bot-audit CLI: log --follow', function () {
  this.timeout(180_000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-follow-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints every entry of eight writers appending 500 each, once and in order', async () => {
    const file = path.join(dir, 'audit.db');
    const s = await AuditStore.open(file, { watch: false });
    await s.append({ user: 'setup', action: 'LOGIN', entityName: 'Session', entityId: 'start' });
    await s.close();
    const follower = spawn(process.execPath, [CLI, 'log', '--follow', '--format', 'ndjson', '--limit', '1', '--db', file], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
    const exited = new Promise((r) => follower.once('exit', r));
    let out = '';
    follower.stdout.on('data', (d) => (out += String(d)));
    const ids = (): number[] => out.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: number }).id);
    try {
      const deadline0 = Date.now() + 20_000;
      while (!ids().length && Date.now() < deadline0) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(ids(), [1], 'the first page: the newest entry');
      const codes = await Promise.all(Array.from({ length: 8 }, (_, i) => runAppender({ file, count: 500, user: `w${i}`, batch: i % 2 ? 1 : 25 })));
      assert.deepEqual(codes, Array(8).fill(0));
      const deadline = Date.now() + 60_000;
      while (ids().length < 4001 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const got = ids();
      assert.equal(got.length, 4001, `${got.length} entries printed`);
      assert.deepEqual(got, Array.from({ length: 4001 }, (_, i) => i + 1), 'each entry once, oldest first');
    } finally {
      follower.kill('SIGINT');
      await exited;
    }
  });
});
