// What the CLI tests share: the built CLI, run as a real child process, and a copy of the sample workspace.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

// The CLI keeps the newest entry it saw of each log in the user's state folder: the tests' own, not the user's.
process.env.BOT_AUDIT_STATE_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-state-'));

/** A fresh copy of examples/workspace in a temp folder (the caller removes it). */
export function workspace(prefix = 'bot-audit-cli-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.cpSync(path.join(ROOT, 'examples', 'workspace'), dir, { recursive: true });
  return dir;
}

/** `bot-audit ...args` in `cwd`, to its end. */
export function cli(cwd: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  return cliWith({}, cwd, ...args);
}

/** `cli()` with more environment variables. */
export function cliWith(env: NodeJS.ProcessEnv, cwd: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The bytes of the log's files (a missing one as undefined), to show that a command changed nothing. */
export function snapshotFiles(db: string): Record<string, Buffer | undefined> {
  const out: Record<string, Buffer | undefined> = {};
  for (const f of [db, `${db}.journal`, `${db}.lock`]) {
    try {
      out[path.basename(f)] = fs.readFileSync(f);
    } catch {
      out[path.basename(f)] = undefined;
    }
  }
  return out;
}

/** One line on stderr, no stack trace. */
export function oneLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /);
}
