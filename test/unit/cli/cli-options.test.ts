// The CLI's global options and how it finds the workspace root, run as real child processes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cli, oneLine, workspace } from './helpers';


function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-cli-opts-'));
}



/** A regular expression's text that matches `s` literally. */
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');


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

  it('finds the workspace root from a subfolder: the nearest folder with bot-audit.json, medplum.config.json or .bot-audit/', () => {
    // bot-audit.json: a run from bots/ writes the workspace's log, not one in bots/.
    const ws = dir(workspace());
    const bots = path.join(ws, 'bots');
    const run = cli(bots, 'run', 'hello-bot');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(fs.existsSync(path.join(ws, '.bot-audit', 'audit.db')), 'the log is at the workspace root');
    assert.ok(!fs.existsSync(path.join(bots, '.bot-audit')), 'no log in the subfolder');
    // A path from the subfolder still names the bot; so does a name from two levels down.
    assert.equal(cli(bots, 'run', 'hello-bot.ts').code, 0);
    assert.equal(cli(path.join(bots, 'records'), 'run', 'patient-crud').code, 0);
    const log = cli(path.join(bots, 'records'), 'log', '--format', 'ndjson', '--filter', 'action:EXECUTED');
    assert.equal(log.code, 0, log.stderr);
    assert.equal(log.stdout.trim().split('\n').length, 3);

    // .bot-audit/ alone marks a root: read-only commands find its log from deep below.
    const data = dir(tempDir());
    fs.mkdirSync(path.join(data, '.bot-audit'));
    fs.copyFileSync(path.join(ws, '.bot-audit', 'audit.db'), path.join(data, '.bot-audit', 'audit.db'));
    const deep = path.join(data, 'a', 'b', 'c');
    fs.mkdirSync(deep, { recursive: true });
    const v = cli(deep, 'verify');
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^\d+\/\d+ entries valid/);

    // medplum.config.json alone marks a root too, and its bots are found from below.
    const mp = dir(tempDir());
    fs.mkdirSync(path.join(mp, 'src'));
    fs.copyFileSync(path.join(ws, 'bots', 'hello-bot.ts'), path.join(mp, 'src', 'greeter.ts'));
    fs.writeFileSync(path.join(mp, 'medplum.config.json'), JSON.stringify({ bots: [{ name: 'greeter', source: 'src/greeter.ts' }] }));
    const listed = cli(path.join(mp, 'src'), 'bots');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^greeter {2}src\/greeter\.ts$/m);

    // The nearest marker wins over one further up.
    const inner = path.join(ws, 'inputs', 'inner');
    fs.mkdirSync(path.join(inner, 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(inner, 'bot-audit.json'), '{}');
    const near = cli(path.join(inner, 'deeper'), 'bots');
    assert.equal(near.code, 0, near.stderr);
    assert.match(near.stdout, new RegExp(`^No bots in ${literal(inner)} `, 'm'));

    // --workspace is taken as given, without a search.
    const given = cli(bots, '--workspace', '.', 'log');
    assert.equal(given.code, 9, 'no log in bots/ itself');
    assert.match(given.stderr, new RegExp(literal(path.join(bots, '.bot-audit', 'audit.db'))));

    // No marker anywhere up the tree: the current folder, as before.
    const bare = dir(tempDir());
    const none = cli(bare, 'bots');
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, new RegExp(`^No bots in ${literal(bare)} `, 'm'));
  });
});
