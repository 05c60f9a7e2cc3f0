import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, ROOT, cli, oneLine, workspace } from './helpers';





describe('bot-audit CLI (real child processes)', function () {
  this.timeout(120_000);
  let ws: string;
  let db: string;

  before(() => {
    ws = workspace();
    db = path.join(ws, '.bot-audit', 'audit.db');
  });
  after(() => fs.rmSync(ws, { recursive: true, force: true }));

  it('prints help, and refuses unknown commands and options with exit 2', () => {
    const h = cli(ws, '--help');
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Usage: bot-audit <command>/);
    assert.equal(cli(ws, 'run', '--help').code, 0);
    assert.equal(cli(ws).code, 2);
    const u = cli(ws, 'frobnicate');
    assert.equal(u.code, 2);
    oneLine(u.stderr);
    const o = cli(ws, 'log', '--colour');
    assert.equal(o.code, 2);
    oneLine(o.stderr);
  });

  it('exits with the run’s outcome: 0, 4, 8 and 12', () => {
    const ok = cli(ws, 'run', 'hello-bot');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\[log\] Greeting Ada in en/);
    assert.match(ok.stdout, /Outcome: 0 Success .* entry 1$/m);
    assert.equal(cli(ws, 'run', 'bots/validate-patient.ts').code, 4);
    const bad = cli(ws, 'run', 'broken-bot');
    assert.equal(bad.code, 8);
    assert.match(bad.stdout, /TypeError/);
    assert.equal(cli(ws, 'run', 'quitter').code, 12);
    assert.ok(fs.existsSync(db), 'the run created the log in .bot-audit/');
    assert.ok(fs.existsSync(path.join(ws, '.bot-audit', '.gitignore')));
  });

  it('runs with --input, --input-text, --content-type and --timeout, and prints JSON with --json', () => {
    const input = path.join(ws, 'in.json');
    fs.writeFileSync(input, '{"name":"Grace"}');
    const r = cli(ws, 'run', 'hello-bot', '--input', 'in.json');
    assert.match(r.stdout, /Greeting Grace/);
    const t = cli(ws, 'run', 'hello-bot', '--input-text', '{"name":"Linus","language":"de"}', '--json');
    assert.equal(t.code, 0);
    const j = JSON.parse(t.stdout);
    assert.equal(j.outcome, 0);
    assert.equal(JSON.parse(j.returnValue), 'Hallo, Linus!');
    const slow = cli(ws, 'run', 'endless-bot', '--timeout', '0.5');
    assert.equal(slow.code, 8);
    assert.match(slow.stdout, /timeout/);
  });

  it('gives bad input one line, its own exit code, and leaves the log untouched', () => {
    const before = fs.readFileSync(db);
    const journal = (() => {
      try {
        return fs.readFileSync(`${db}-journal`);
      } catch {
        return undefined;
      }
    })();
    const cases: [string[], number][] = [
      [['run', 'no-such-bot'], 3],
      [['run', 'hello-bot', '--input', 'missing.json'], 5],
      [['run', 'hello-bot', '--input-text', '{not json'], 6],
      [['run', 'validate-patient', '--input-text', '{"name":"x"}', '--content-type', 'application/fhir+json'], 6],
      [['log', '--filter', 'colour:red'], 7],
      [['show', '99999'], 10],
      [['run', 'hello-bot', '--timeout', 'soon'], 2],
    ];
    for (const [args, code] of cases) {
      const r = cli(ws, ...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r.stderr);
    }
    assert.deepEqual(fs.readFileSync(db), before);
    if (journal) assert.deepEqual(fs.readFileSync(`${db}-journal`), journal);
  });

  it('refuses a file that is not a Bot Audit log, and does not touch it', () => {
    const notDb = path.join(ws, 'notes.db');
    fs.writeFileSync(notDb, 'these are my notes, not a database\n'.repeat(100));
    const before = fs.readFileSync(notDb);
    for (const args of [['log'], ['verify'], ['run', 'hello-bot']]) {
      const r = cli(ws, ...args, '--db', notDb);
      assert.equal(r.code, 9, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r.stderr);
      assert.match(r.stderr, /notes\.db/);
    }
    assert.deepEqual(fs.readFileSync(notDb), before);
    const missing = cli(ws, 'log', '--db', path.join(ws, 'nope.db'));
    assert.equal(missing.code, 9);
    assert.ok(!fs.existsSync(path.join(ws, 'nope.db')), 'a read does not create a log');
  });

  it('lists bots with their settings and last outcome', () => {
    const r = cli(ws, 'bots');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^hello-bot {2}bots\/hello-bot\.ts$/m);
    assert.match(r.stdout, /endless-bot[\s\S]*?timeout 2 s/);
    assert.match(r.stdout, /nightly-report[\s\S]*?destination log/);
    const j = JSON.parse(cli(ws, 'bots', '--json').stdout);
    assert.equal(j.find((b: { name: string }) => b.name === 'hello-bot').lastRun.outcome, 0);
  });

  it('reads the log with filters, as a table, JSON, NDJSON or CSV', () => {
    const t = cli(ws, 'log', '--filter', 'outcome:8,12', '--limit', '5');
    assert.equal(t.code, 0, t.stderr);
    const rows = t.stdout.trim().split('\n');
    assert.match(rows[0], /^ID\s+Timestamp\s+User/);
    assert.ok(rows.slice(1).every((r) => /Serious|Major/.test(r)), t.stdout);
    const nd = cli(ws, 'log', '--format', 'ndjson', '--filter', 'action:EXECUTED');
    const entries = nd.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(entries.length >= 6);
    assert.ok(entries[0].id > entries[1].id, 'newest first');
    const csv = cli(ws, 'log', '--format', 'csv', '--limit', '2');
    assert.match(csv.stdout.split('\n')[0], /^id,uuid,timestamp,user,action/);
    assert.equal(csv.stdout.match(/^\d+,[0-9a-f-]{36},/gm)?.length, 2, 'two records (fields may span lines)');
    const js = JSON.parse(cli(ws, 'log', '--format', 'json', '--limit', '3').stdout);
    assert.equal(js.length, 3);
    // A filter value never becomes SQL.
    const inj = cli(ws, 'log', '--filter', `user:"'; DROP TABLE entries; --"`);
    assert.equal(inj.code, 0);
    assert.equal(cli(ws, 'verify').code, 0);
  });

  it('shows one entry, with a plain-text diff when stdout is not a terminal', () => {
    const crud = cli(ws, 'run', 'patient-crud');
    assert.equal(crud.code, 0, crud.stdout + crud.stderr);
    const upd = JSON.parse(cli(ws, 'log', '--format', 'json', '--filter', 'action:UPDATED entity:Patient', '--limit', '1').stdout)[0];
    const s = cli(ws, 'show', String(upd.id), '--diff');
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /Action\s+UPDATED/);
    assert.match(s.stdout, /Lovelace/);
    assert.match(s.stdout, /LOVELACE/);
    assert.doesNotMatch(s.stdout, /\x1b\[/, 'no colour codes off a terminal');
  });

  it('exports the filtered log, streamed to a file', () => {
    const out = path.join(ws, 'audit.json');
    const r = cli(ws, 'export', '--format', 'fhir', '--filter', 'action:EXECUTED', '-o', out);
    assert.equal(r.code, 0, r.stderr);
    const bundle = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(bundle.resourceType, 'Bundle');
    assert.ok(bundle.entry.every((e: { resource: { type: { code: string } } }) => e.resource.type.code === 'execute' || e.resource.type));
    const nd = cli(ws, 'export', '--format', 'ndjson');
    assert.ok(nd.stdout.trim().split('\n').length >= 8);
    assert.equal(cli(ws, 'export', '--format', 'xml').code, 2);
  });

  it('draws a progress bar on a terminal only, and never into the data', async () => {
    // Off a terminal (as here): no bar on stderr.
    const plain = cli(ws, 'export', '--format', 'ndjson');
    assert.equal(plain.stderr, '');
    // On a terminal: script(1) gives the CLI a pseudo-terminal.
    const hasScript = spawnSync('sh', ['-c', 'command -v script']).status === 0;
    assert.ok(hasScript, 'script(1) from util-linux is on this machine');
    const out = path.join(ws, 'tty-export.ndjson');
    const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} export --format ndjson -o ${out}`, '/dev/null'], { cwd: ws, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Exporting \[#+\] 100% (\d+)\/\1/);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    for (const l of lines) JSON.parse(l);
    const v = spawnSync('script', ['-qec', `${process.execPath} ${CLI} verify`, '/dev/null'], { cwd: ws, encoding: 'utf8' });
    assert.match(v.stdout, /Verifying \[#+\] 100%/);
    assert.match(v.stdout, /(\d+)\/\1 entries valid/);
  });

  it('verifies the chain and prints N/N entries valid and the head hash', () => {
    const r = cli(ws, 'verify');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^(\d+)\/\1 entries valid\nhead [0-9a-f]{64}\n$/);
  });

  it('replays a recorded event', () => {
    const first = JSON.parse(cli(ws, 'log', '--format', 'json', '--filter', 'action:EXECUTED bot:hello-bot', '--limit', '1').stdout)[0];
    const r = cli(ws, 'replay', String(first.id), '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).replayOf, first.id);
  });

  it('refuses to replay a run whose stored input was cut to the 1 MiB cap, and says so (issue 18, defect 10)', () => {
    const w = workspace();
    try {
      fs.writeFileSync(path.join(w, 'bots', 'quiet-bot.js'), 'exports.handler = async (m, e) => e.input.name.length;\n');
      const file = path.join(w, 'big-input.json');
      fs.writeFileSync(file, JSON.stringify({ name: 'x'.repeat(1_200_000) }));
      const run = cli(w, 'run', 'quiet-bot', '--input', file);
      assert.equal(run.code, 0, run.stderr);
      const id = Number(/entry (\d+)/.exec(run.stdout)?.[1]);
      assert.ok(Number.isSafeInteger(id), run.stdout);
      const runs = () => JSON.parse(cli(w, 'log', '--format', 'json', '--filter', 'action:EXECUTED', '--limit', '1000').stdout).length as number;
      const before = runs();
      const r = cli(w, 'replay', String(id));
      assert.equal(r.code, 6, r.stderr); // EXIT.badInput
      oneLine(r.stderr);
      assert.match(r.stderr, new RegExp(`entry ${id}'s input .*bytes of it were cut .*cannot be replayed`));
      assert.equal(runs(), before, 'no run was recorded');
    } finally {
      fs.rmSync(w, { recursive: true, force: true });
    }
  });

  it("does not count the local server's one-time GraphQL start-up against a bot's timeout, and says so", () => {
    const w = workspace();
    try {
      fs.writeFileSync(
        path.join(w, 'bots', 'graphql-bot.js'),
        "exports.handler = async (medplum) => { const r = await medplum.graphql('{ PatientList(_count: 1) { id } }'); return r.data.PatientList.length; };\n",
      );
      // Building GraphQL's schema takes seconds (7–10 s on the 2-core test machine), longer than this timeout.
      const r = cli(w, 'run', 'graphql-bot', '--timeout', '2', '--json');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const res = JSON.parse(r.stdout);
      assert.equal(res.outcome, 0, res.outcomeDesc);
      assert.match(res.outcomeDesc, /one-time start-up \(FHIR definitions, GraphQL's schema\) took \d+\.\d s; that time does not count against the bot's timeout/);
    } finally {
      fs.rmSync(w, { recursive: true, force: true });
    }
  });

  it('installs into another workspace from npm pack, with esbuild its only dependency', function () {
    this.timeout(180_000);
    const packDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-audit-pack-'));
    try {
      // dist/ is already built by the test build; --ignore-scripts skips prepack's rebuild.
      const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(pack.status, 0, pack.stderr);
      const tgz = path.join(packDir, fs.readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);
      const consumer = workspace();
      fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
      const inst = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tgz], { cwd: consumer, encoding: 'utf8', timeout: 150_000 });
      assert.equal(inst.status, 0, inst.stderr);
      const installed = JSON.parse(fs.readFileSync(path.join(consumer, 'node_modules', 'bot-audit', 'package.json'), 'utf8'));
      assert.deepEqual(Object.keys(installed.dependencies), ['esbuild']);
      const bin = path.join(consumer, 'node_modules', '.bin', 'bot-audit');
      const r = spawnSync(bin, ['run', 'hello-bot'], { cwd: consumer, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Outcome: 0 Success/);
      fs.rmSync(consumer, { recursive: true, force: true });
    } finally {
      fs.rmSync(packDir, { recursive: true, force: true });
    }
  });

  it('follows the log: sees an entry that another process appends', async () => {
    const follower = spawn(process.execPath, [CLI, 'log', '--follow', '--format', 'ndjson', '--limit', '1'], { cwd: ws, env: { ...process.env, NO_COLOR: '1' } });
    const exited = new Promise((r) => follower.once('exit', r));
    let out = '';
    follower.stdout.on('data', (d) => (out += d));
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const seen = out.trim().split('\n').length;
      const r = cli(ws, 'run', 'hello-bot', '--input-text', '{"name":"Follower"}');
      assert.equal(r.code, 0);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && out.trim().split('\n').length <= seen) await new Promise((res) => setTimeout(res, 100));
      const last = JSON.parse(out.trim().split('\n').pop()!);
      assert.equal(last.action, 'EXECUTED');
      assert.match(last.input, /Follower/);
    } finally {
      follower.kill('SIGINT');
      await exited;
    }
  });
});
