import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectUser, detectUserAsync } from '../../../src/core/runner/auditPolicy';

describe('who ran it: the git user, else the OS user', function () {
  this.timeout(30_000);
  const dirs: string[] = [];
  const repo = (email?: string): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-user-'));
    dirs.push(dir);
    execFileSync('git', ['init', '-q', dir]);
    if (email) execFileSync('git', ['config', 'user.email', email], { cwd: dir });
    return dir;
  };
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('detectUserAsync finds the repository user.email without blocking, and detectUser answers the same from its cache', async () => {
    const dir = repo('reviewer@example.com');
    assert.equal(await detectUserAsync(dir), 'reviewer@example.com');
    // Changed behind its back: the cached answer stands for this folder, as for detectUser.
    execFileSync('git', ['config', 'user.email', 'someone-else@example.com'], { cwd: dir });
    assert.equal(detectUser(dir), 'reviewer@example.com');
    assert.equal(await detectUserAsync(dir), 'reviewer@example.com');
  });

  it('both agree on a folder outside any repository with no git email: the OS user', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-user-'));
    dirs.push(dir);
    const env = { ...process.env };
    // No global git identity may leak in: point HOME and git's config elsewhere for this check.
    process.env.HOME = dir;
    process.env.GIT_CONFIG_GLOBAL = path.join(dir, 'none');
    process.env.GIT_CONFIG_NOSYSTEM = '1';
    try {
      const a = await detectUserAsync(dir);
      assert.equal(a, os.userInfo().username);
      assert.equal(detectUser(dir), a);
    } finally {
      process.env = env;
    }
  });
});
