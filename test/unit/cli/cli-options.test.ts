// The CLI's global options and how it finds the workspace root, run as real child processes.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-cli-opts-'));
}

function workspace(): string {
  const dir = tempDir();
  fs.cpSync(path.join(ROOT, 'examples', 'workspace'), dir, { recursive: true });
  return dir;
}

function cli(cwd: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** One line on stderr, no stack trace. */
function oneLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

describe('bot-audit CLI options (real child processes)', function () {
  this.timeout(120_000);
  const made: string[] = [];
  const dir = (d: string) => (made.push(d), d);
  after(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });

  it('takes --workspace, --db and --help before the command as well as after it', () => {
    const ws = dir(workspace());
    const elsewhere = dir(tempDir());
    const db = path.join(ws, '.bot-audit', 'audit.db');

    const run = cli(elsewhere, '--workspace', ws, 'run', 'hello-bot');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /Outcome: 0 Success .* entry 1$/m);
    assert.ok(fs.existsSync(db), 'the log is in the workspace given before the command');
    assert.ok(!fs.existsSync(path.join(elsewhere, '.bot-audit')), 'nothing is written where the CLI was started');

    const eq = cli(elsewhere, `--workspace=${ws}`, 'bots');
    assert.equal(eq.code, 0, eq.stderr);
    assert.match(eq.stdout, /^hello-bot {2}bots\/hello-bot\.ts$/m);

    const log = cli(elsewhere, '--db', db, 'log', '--format', 'ndjson');
    assert.equal(log.code, 0, log.stderr);
    const entries = log.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(entries.length, 1);
    assert.equal(entries[0].action, 'EXECUTED');

    // Both places at once: the workspace before, the command's own options after.
    const both = cli(elsewhere, '--workspace', ws, 'log', '--format', 'json', '--limit', '1');
    assert.equal(both.code, 0, both.stderr);
    assert.equal(JSON.parse(both.stdout)[0].id, entries[0].id);
    // Given twice, the one after the command wins.
    const twice = cli(elsewhere, '--db', path.join(elsewhere, 'nope.db'), 'log', '--db', db, '--format', 'ndjson');
    assert.equal(twice.code, 0, twice.stderr);

    const help = cli(elsewhere, '--help', 'run');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: bot-audit run <bot>/);
    assert.match(cli(elsewhere, '--workspace', ws, '--help').stdout, /^Usage: bot-audit <command>/m);

    // Mistakes before the command are usage errors, one line each.
    for (const args of [['--colour', 'log'], ['--db'], ['--input', 'x.json', 'run', 'hello-bot']]) {
      const r = cli(elsewhere, ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r.stderr);
    }
    const none = cli(elsewhere, '--workspace', ws);
    assert.equal(none.code, 2, 'options without a command');
    assert.match(none.stdout, /Usage: bot-audit <command>/);
  });
});
