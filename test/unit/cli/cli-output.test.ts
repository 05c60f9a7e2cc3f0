// What the CLI prints for runs and the log, run as real child processes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, cli } from './helpers';



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

  it('prints the return value after the outcome: a string as its text, JSON pretty, control characters shown', () => {
    /** What `run`/`replay` print after the outcome line. */
    const afterOutcome = (stdout: string) => stdout.split(/^Outcome: .*\n/m)[1];

    const hello = cli(ws, 'run', 'hello-bot');
    assert.equal(hello.code, 0, hello.stderr);
    assert.equal(afterOutcome(hello.stdout), 'Return value:\nHello, Ada!\n');

    fs.writeFileSync(
      path.join(ws, 'bots', 'bundle-bot.ts'),
      `export async function handler() {
        return { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient', id: 'p1' } }] };
      }\n`,
    );
    const bundle = cli(ws, 'run', 'bundle-bot');
    assert.equal(bundle.code, 0, bundle.stdout + bundle.stderr);
    const text = afterOutcome(bundle.stdout);
    assert.match(text, /^Return value:\n\{\n {2}"resourceType": "Bundle",\n/, 'pretty-printed');
    assert.deepEqual(JSON.parse(text.replace('Return value:\n', '')), {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: { resourceType: 'Patient', id: 'p1' } }],
    });

    // An HL7 ACK: its segments (split by carriage returns) one to a line, an escape shown, not sent.
    fs.writeFileSync(
      path.join(ws, 'bots', 'ack-bot.ts'),
      `export async function handler() {
        return 'MSH|^~\\\\&|BOT|LAB|||20260101||ACK^A01|1|P|2.5\\rMSA|AA|42\\x1b[2J';
      }\n`,
    );
    const ack = cli(ws, 'run', 'ack-bot');
    assert.equal(ack.code, 0, ack.stdout + ack.stderr);
    assert.equal(afterOutcome(ack.stdout), 'Return value:\nMSH|^~\\&|BOT|LAB|||20260101||ACK^A01|1|P|2.5\nMSA|AA|42\\x1b[2J\n');
    assert.doesNotMatch(ack.stdout, /[\x1b\r]/);

    // Nothing returned, nothing printed; --json keeps the JSON text in returnValue alone.
    const none = cli(ws, 'run', 'quitter');
    assert.equal(none.code, 12);
    assert.equal(afterOutcome(none.stdout), '');
    const json = JSON.parse(cli(ws, 'run', 'hello-bot', '--json').stdout);
    assert.equal(JSON.parse(json.returnValue), 'Hello, Ada!');

    // A replay prints it too.
    const id = JSON.parse(cli(ws, 'log', '--format', 'json', '--filter', 'action:EXECUTED bot:bundle-bot', '--limit', '1').stdout)[0].id;
    const replay = cli(ws, 'replay', String(id));
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(afterOutcome(replay.stdout), /^Return value:\n\{\n {2}"resourceType": "Bundle",/);
  });

  it('prints a run’s error once, then the stack frames that point at the bot', () => {
    const count = (s: string, part: string) => s.split(part).length - 1;
    const broken = cli(ws, 'run', 'broken-bot');
    assert.equal(broken.code, 8);
    const all = broken.stdout + broken.stderr;
    assert.equal(count(all, "TypeError: Cannot read properties of undefined (reading 'reduce')"), 1, all);
    assert.match(broken.stdout, /^TypeError: Cannot read .*\n {4}at handler \(.*broken-bot\.ts:\d+:\d+\)$/m, 'the frames follow the message');

    // A message over several lines: each line once.
    fs.writeFileSync(
      path.join(ws, 'bots', 'two-line-error.ts'),
      `export async function handler() {
        throw new Error('first line of the trouble\\nsecond line of the trouble');
      }\n`,
    );
    const two = cli(ws, 'run', 'two-line-error');
    assert.equal(two.code, 8, two.stdout + two.stderr);
    const both = two.stdout + two.stderr;
    assert.equal(count(both, 'first line of the trouble'), 1, both);
    assert.equal(count(both, 'second line of the trouble'), 1, both);
    assert.match(two.stdout, /^ {4}at handler \(.*two-line-error\.ts:\d+:\d+\)$/m);
  });

  it('does not repeat an error that the run’s output already showed (an unhandled rejection, an uncaught exception)', () => {
    const count = (s: string, part: string) => s.split(part).length - 1;
    fs.writeFileSync(
      path.join(ws, 'bots', 'late-reject.ts'),
      `export async function handler() {
        Promise.reject(new Error('late trouble'));
        await new Promise((r) => setTimeout(r, 200));
        return 1;
      }\n`,
    );
    fs.writeFileSync(
      path.join(ws, 'bots', 'timer-throw.ts'),
      `export async function handler() {
        setTimeout(() => { throw new RangeError('timer trouble'); }, 10);
        await new Promise((r) => setTimeout(r, 200));
        return 1;
      }\n`,
    );
    for (const [bot, text, frame] of [
      ['late-reject', 'late trouble', /late-reject\.ts:\d+:\d+/g],
      ['timer-throw', 'timer trouble', /timer-throw\.ts:\d+:\d+/g],
    ] as const) {
      const r = cli(ws, 'run', bot);
      assert.equal(r.code, 8, r.stdout + r.stderr);
      const all = r.stdout + r.stderr;
      assert.match(r.stdout, new RegExp(`\\[error\\] (Unhandled promise rejection|Uncaught exception): ${text}`), 'the output shows the error');
      assert.equal(count(all, `: ${text}`), 2, `its two lines (the output's and the stack's header), once each: ${all}`);
      assert.equal(all.match(frame)?.length, 1, `the frame once: ${all}`);
      assert.match(r.stdout, /^Outcome: 8 Serious failure \(error\)/m);
      // The log keeps the whole failure.
      const e = JSON.parse(cli(ws, 'log', '--format', 'json', '--filter', `bot:${bot}`, '--limit', '1').stdout)[0];
      assert.match(e.outcomeDesc, new RegExp(text));
    }
  });
});
