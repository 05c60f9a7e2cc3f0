// `npm test`: every stage in order, stopping at the first that fails, then one closing
// line `N passed, N failed` (`, N skipped` when some were) over all stages and both VS Codes.
//   1. typecheck: tsc --noEmit on the host and the webview tsconfigs
//   2. unit: mocha in plain Node on code that imports no `vscode`
//   then, in VS Code 1.100.3 (the oldest we support; code-server 4.100.3, Node 20) and again in
//   VS Code 1.139.1 (the newest code-server publishes; code-server 4.139.1 on Node 24):
//   3. integration: the mocha suite inside that VS Code's extension host (code-server + headless Chromium)
//   4. ui: Playwright drives VS Code as a person would, takes screenshots, installs the packaged .vsix
// `--only NAME[,NAME]` runs some stages (a build always runs first); `--vscode 1.100|1.139[,…]` runs
// the VS Code stages in some versions only (while working on one; npm test runs both).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { CACHE, ROOT, VSCODE_TARGETS, VSCODE_TARGET_NAMES } from './code-server.mjs';
import { ensureNode24 } from './node24.mjs';

const argValue = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const only = argValue('--only') ? new Set(argValue('--only').split(',')) : null;
const versions = argValue('--vscode')?.split(',') ?? VSCODE_TARGET_NAMES;
for (const v of versions) {
  if (!VSCODE_TARGETS[v]) {
    console.error(`--vscode ${v}: not one of ${VSCODE_TARGET_NAMES.join(', ')}`);
    process.exit(2);
  }
}
const RESULTS = path.join(ROOT, 'test-results');
mkdirSync(RESULTS, { recursive: true });

const bin = (name) => path.join(ROOT, 'node_modules', '.bin', name);
const totals = { passed: 0, failed: 0, skipped: 0 };
/** The counts of the stages that ran in each VS Code, for the summary. */
const byVersion = new Map();
const versionCounts = (v) => byVersion.get(v) ?? byVersion.set(v, { passed: 0, failed: 0, skipped: 0 }).get(v);

function sh(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    p.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    p.on('error', (e) => {
      console.error(e.message);
      resolve(1);
    });
  });
}

function readStats(file) {
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8'));
}

/**
 * Installs code-server for a VS Code version (once; cached in .cache/, with Node 24 for 1.139) before
 * its first stage, so that no test's time bound includes the install. A failed install fails the stage.
 */
const installed = new Map();
function ensureVsCode(vscode) {
  if (!installed.has(vscode)) installed.set(vscode, sh(process.execPath, [path.join(ROOT, 'test/harness/code-server.mjs'), 'install'], { BOT_AUDIT_VSCODE: vscode }));
  return installed.get(vscode);
}

/** A stage that is a mocha run (in Node or in VS Code) reports its counts through the stats file. */
async function mochaStage(name, cmd, args, vscode) {
  if (vscode && (await ensureVsCode(vscode)) !== 0) {
    console.error(`[${name}] code-server for VS Code ${VSCODE_TARGETS[vscode].vscode} could not be installed`);
    totals.failed += 1;
    versionCounts(vscode).failed += 1;
    return false;
  }
  const statsFile = path.join(RESULTS, `${name}${vscode ? `-${vscode}` : ''}-stats.json`);
  rmSync(statsFile, { force: true });
  const code = await sh(cmd, args, { BOT_AUDIT_STATS_FILE: statsFile, ...(vscode ? { BOT_AUDIT_VSCODE: vscode } : {}) });
  const s = readStats(statsFile);
  const counts = vscode ? versionCounts(vscode) : undefined;
  const add = (key, n) => {
    totals[key] += n;
    if (counts) counts[key] += n;
  };
  if (s) {
    add('passed', s.passed);
    add('failed', s.failed);
    add('skipped', s.skipped);
  }
  if (code !== 0 && (!s || s.failed === 0)) add('failed', 1); // the stage itself failed (did not start, crashed)
  if (s && s.passed + s.failed === 0) {
    console.error(`[${name}] ran no test`);
    add('failed', 1);
    return false;
  }
  return code === 0;
}

const stages = [
  {
    name: 'typecheck',
    run: async () => {
      const a = await sh(bin('tsc'), [ '--noEmit', '-p', 'tsconfig.json']);
      const b = a === 0 ? await sh(bin('tsc'), [ '--noEmit', '-p', 'webview/tsconfig.json']) : 1;
      const ok = a === 0 && b === 0;
      totals[ok ? 'passed' : 'failed'] += 1;
      return ok;
    },
  },
  {
    name: 'unit',
    // Node 24 (from the npm registry, once) before the unit tests: the debug runs' tests need it (Node 20's
    // permission model has no --allow-inspector), as do the corpus's Medplum 5 bots.
    run: () =>
      Promise.resolve(ensureNode24(CACHE)).then(() => mochaStage('unit', bin('mocha'), [
        '--reporter', path.join(ROOT, 'test/harness/stats-reporter.cjs'), '--timeout', '30000',
        '--recursive', 'out/test/unit', '--extension', 'test.js',
      ])),
  },
  // The VS Code stages, once per version: integration then ui in 1.100, then both in 1.139.
  ...versions.flatMap((v) => [
    {
      name: 'integration',
      vscode: v,
      run: () => mochaStage('integration', process.execPath, ['test/harness/integration.mjs'], v),
    },
    {
      name: 'ui',
      vscode: v,
      run: () =>
        mochaStage('ui', bin('mocha'), [
          '--reporter', path.join(ROOT, 'test/harness/stats-reporter.cjs'), '--timeout', '180000',
          'test/ui/*.test.mjs',
        ], v),
    },
  ]),
];

let ok = true;
console.log('\n=== build');
if ((await sh(process.execPath, ['esbuild.mjs', '--tests'])) !== 0) {
  totals.failed += 1;
  ok = false;
}
for (const stage of stages) {
  if (!ok) break;
  if (only && !only.has(stage.name)) continue;
  const title = stage.vscode ? `${stage.name} in VS Code ${VSCODE_TARGETS[stage.vscode].vscode}` : stage.name;
  console.log(`\n=== ${title}`);
  const started = Date.now();
  ok = await stage.run();
  console.log(`[${title}] ${ok ? 'passed' : 'failed'} in ${Math.round((Date.now() - started) / 1000)} s`);
  if (!ok) console.error(`\n[${title}] failed; later stages were not run.`);
}
const count = (t) => `${t.passed} passed, ${t.failed} failed${t.skipped ? `, ${t.skipped} skipped` : ''}`;
for (const [v, t] of byVersion) console.log(`\nin VS Code ${VSCODE_TARGETS[v].vscode} (integration and ui): ${count(t)}`);
const ran = [...byVersion.keys()].map((v) => VSCODE_TARGETS[v].vscode);
console.log(`\n${count(totals)}${ran.length ? ` (all stages; VS Code ${ran.join(' and ')})` : ''}`);
process.exit(ok && totals.failed === 0 ? 0 : 1);
