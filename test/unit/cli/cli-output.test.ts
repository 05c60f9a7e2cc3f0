// What the CLI prints for runs and the log, run as real child processes.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

function cli(cwd: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('bot-audit CLI output (real child processes)', function () {
  this.timeout(120_000);
  let ws: string;

  before(() => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-cli-out-'));
    fs.cpSync(path.join(ROOT, 'examples', 'workspace'), ws, { recursive: true });
  });
  after(() => fs.rmSync(ws, { recursive: true, force: true }));

  it('names the bot in the log table, not its path cut short', () => {
    const deep = path.join(ws, 'bots', 'records', 'admissions', 'night-shift');
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'admit.ts'), 'export async function handler() {\n  return 1;\n}\n');
    const run = cli(ws, 'run', 'bots/records/admissions/night-shift/admit.ts');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(cli(ws, 'run', 'hello-bot').code, 0);
    const t = cli(ws, 'log', '--filter', 'action:EXECUTED');
    assert.equal(t.code, 0, t.stderr);
    const rows = t.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 2, t.stdout);
    assert.match(rows[0], /\sEXECUTED\s+Bot\/hello-bot\s/);
    assert.match(rows[1], /\sEXECUTED\s+Bot\/admit\s/);
    assert.doesNotMatch(t.stdout, /bots\/|\.ts\b/, 'no paths');
  });
});
