// A reader of stdout that goes away (`bot-audit run x | head -1`): output ends quietly, the run is
// still recorded, and the exit code is the command's own (issue 18, defect 2).
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, cli, workspace } from './helpers';

/** Runs the CLI, reads its first line of stdout, then closes the pipe, as `| head -1` does. */
function firstLineThenClose(cwd: string, ...args: string[]): Promise<{ first: string; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let first = '';
    let stderr = '';
    p.stderr.on('data', (c) => (stderr += String(c)));
    p.stdout.on('data', (c: Buffer) => {
      if (first) return;
      first = String(c).split('\n')[0];
      p.stdout.destroy();
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ first, code, stderr }));
  });
}

describe('bot-audit CLI: a closed stdout', function () {
  this.timeout(120_000);
  let ws: string;
  before(() => {
    ws = workspace();
    fs.writeFileSync(path.join(ws, 'bots', 'chatty.js'), 'exports.handler = async () => { for (let i = 0; i < 20000; i++) console.log(i); return "done"; };\n');
  });
  after(() => fs.rmSync(ws, { recursive: true, force: true }));

  it('run: the run is recorded, the exit code is its outcome, and no EPIPE stack is printed', async () => {
    const r = await firstLineThenClose(ws, 'run', 'chatty', '--workspace', ws);
    assert.match(r.first, /\[log\] 0$/);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /);
    const log = cli(ws, 'log', '--workspace', ws, '--filter', 'bot:chatty', '--format', 'ndjson');
    assert.equal(log.code, 0, log.stderr);
    const runs = log.stdout.trim().split('\n').map((l) => JSON.parse(l) as { action: string; outcome: number; returnValue?: string });
    assert.deepEqual(runs.map((e) => [e.action, e.outcome, e.returnValue]), [['EXECUTED', 0, '"done"']]);
  });

  it('bots: a name that holds terminal escapes or bidirectional overrides is printed escaped (issue 18, defect 10)', () => {
    const odd = 'evil\u001b]0;owned\u0007\u202etxt';
    fs.mkdirSync(path.join(ws, 'bots', odd), { recursive: true });
    fs.writeFileSync(path.join(ws, 'bots', odd, `${odd}.js`), 'exports.handler = async () => 1;\n');
    try {
      const r = cli(ws, 'bots', '--workspace', ws);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /evil\\x1b\]0;owned\\x07\\u202etxt/);
      assert.doesNotMatch(r.stdout + r.stderr, /[\u001b\u0007\u202e]/);
      const unknown = cli(ws, 'run', odd.replace('evil', 'nope'), '--workspace', ws);
      assert.equal(unknown.code, 3);
      assert.doesNotMatch(unknown.stderr, /[\u001b\u0007\u202e]/, 'error messages are escaped too');
    } finally {
      fs.rmSync(path.join(ws, 'bots', odd), { recursive: true, force: true });
    }
  });

  it('log and export end quietly with exit 0', async () => {
    for (let i = 0; i < 3; i++) cli(ws, 'run', 'hello-bot', '--workspace', ws);
    for (const args of [['log'], ['log', '--format', 'ndjson'], ['export', '--format', 'ndjson'], ['export', '--format', 'csv']]) {
      const r = await firstLineThenClose(ws, ...args, '--workspace', ws);
      assert.ok(r.first.length > 0, args.join(' '));
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /EPIPE|internal error|\n\s+at /, args.join(' '));
    }
  });
});
