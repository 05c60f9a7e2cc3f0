// A run whose entry is durable in the journal has succeeded, even when folding the journal into
// audit.db fails afterwards: a warning, retried later, and exit with the run's outcome, so that a CI
// retry does not record the run twice (issue 18, defect 8). Real child processes, real failures.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, cli, workspace } from './helpers';

/** `bot-audit ...args` with a file size limit (RLIMIT_FSIZE, KiB): writing past it fails with EFBIG, as a full disk fails with ENOSPC. */
function cliLimited(kib: number, cwd: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const cmd = `ulimit -f ${kib} && exec "$0" "$@"`;
  const r = spawnSync('bash', ['-c', cmd, process.execPath, CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function journalBase(db: string): number {
  return (JSON.parse(fs.readFileSync(`${db}.journal`, 'utf8').split('\n')[0]) as { base: number }).base;
}

function runsOf(ws: string, name: string): number[] {
  const r = cli(ws, 'log', '--format', 'ndjson', '--filter', `bot:hello-bot`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: number; input: string })
    .filter((e) => e.input.includes(name))
    .map((e) => e.id);
}

describe('bot-audit CLI: a durable run whose checkpoint fails', function () {
  this.timeout(60_000);
  let ws: string;
  let db: string;
  beforeEach(() => {
    ws = workspace();
    db = path.join(ws, '.bot-audit', 'audit.db');
    assert.equal(cli(ws, 'run', 'hello-bot').code, 0);
  });
  afterEach(() => {
    spawnSync('chattr', ['-i', db]);
    fs.rmSync(ws, { recursive: true, force: true });
  });

  it('file too large for the checkpoint (EFBIG, as ENOSPC): exit 0 with a warning, recorded once, folded by the next run', () => {
    const size = fs.statSync(db).size;
    assert.ok(size > 48 * 1024, `the database (${size} bytes) is larger than the limit`);
    const r = cliLimited(48, ws, 'run', 'hello-bot', '--input-text', '{"name":"Limited"}');
    assert.match(r.stdout, /Outcome: 0 Success .* entry 2$/m);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*checkpoint.*EFBIG/i);
    assert.match(r.stderr, /Entry 2 is safe in the journal/);
    assert.equal(fs.statSync(db).size, size, 'audit.db was not replaced');
    assert.equal(journalBase(db), 1, 'the entry waits in the journal');
    assert.deepEqual(fs.readdirSync(path.dirname(db)).filter((f) => f.includes('.tmp-')), [], 'no temp file left');
    assert.deepEqual(runsOf(ws, 'Limited'), [2]);
    // Without the limit, the next run folds the journal into the database.
    const next = cli(ws, 'run', 'hello-bot', '--input-text', '{"name":"Unlimited"}');
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.stderr, '');
    assert.equal(journalBase(db), 3);
    assert.deepEqual(runsOf(ws, 'Limited'), [2]);
    assert.match(cli(ws, 'verify').stdout, /^3\/3 entries valid/);
  });

  it('an immutable audit.db (chattr +i): exit 0 with a warning, recorded once', function () {
    const attr = spawnSync('chattr', ['+i', db], { encoding: 'utf8' });
    if (attr.status !== 0) {
      // A container without CAP_LINUX_IMMUTABLE, or a file system without the attribute.
      return this.skip();
    }
    const r = cli(ws, 'run', 'hello-bot', '--input-text', '{"name":"Immutable"}');
    assert.match(r.stdout, /Outcome: 0 Success .* entry 2$/m);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*checkpoint.*EPERM/i);
    assert.deepEqual(runsOf(ws, 'Immutable'), [2]);
    spawnSync('chattr', ['-i', db]);
    assert.equal(cli(ws, 'run', 'hello-bot').code, 0);
    assert.equal(journalBase(db), 3);
    assert.match(cli(ws, 'verify').stdout, /^3\/3 entries valid/);
  });
});
