// `npm test`: every stage in order, stopping at the first that fails, then one closing
// line `N passed, N failed` (`, N skipped` when some were) over all stages.
//   1. typecheck: tsc --noEmit on the host and the webview tsconfigs
//   2. unit: mocha in plain Node on code that imports no `vscode`
//   3. integration: the mocha suite inside VS Code 1.100's extension host (code-server + headless Chromium)
//   4. ui: Playwright drives VS Code as a person would, takes screenshots, installs the packaged .vsix
// `--only NAME[,NAME]` runs some stages (a build always runs first).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './code-server.mjs';

const onlyIdx = process.argv.indexOf('--only');
const only = onlyIdx > 0 ? new Set(process.argv[onlyIdx + 1].split(',')) : null;
const RESULTS = path.join(ROOT, 'test-results');
mkdirSync(RESULTS, { recursive: true });

const bin = (name) => path.join(ROOT, 'node_modules', '.bin', name);
const totals = { passed: 0, failed: 0, skipped: 0 };

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

/** A stage that is a mocha run (in Node or in VS Code) reports its counts through the stats file. */
async function mochaStage(name, cmd, args) {
  const statsFile = path.join(RESULTS, `${name}-stats.json`);
  rmSync(statsFile, { force: true });
  const code = await sh(cmd, args, { BOT_AUDIT_STATS_FILE: statsFile });
  const s = readStats(statsFile);
  if (s) {
    totals.passed += s.passed;
    totals.failed += s.failed;
    totals.skipped += s.skipped;
  }
  if (code !== 0 && (!s || s.failed === 0)) totals.failed += 1; // the stage itself failed (did not start, crashed)
  if (s && s.passed + s.failed === 0) {
    console.error(`[${name}] ran no test`);
    totals.failed += 1;
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
    run: () =>
      mochaStage('unit', bin('mocha'), [
        '--reporter', path.join(ROOT, 'test/harness/stats-reporter.cjs'), '--timeout', '30000',
        '--recursive', 'out/test/unit', '--extension', 'test.js',
      ]),
  },
  {
    name: 'integration',
    run: () => mochaStage('integration', process.execPath, ['test/harness/integration.mjs']),
  },
  {
    name: 'ui',
    run: () =>
      mochaStage('ui', bin('mocha'), [
        '--reporter', path.join(ROOT, 'test/harness/stats-reporter.cjs'), '--timeout', '180000',
        'test/ui/*.test.mjs',
      ]),
  },
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
  console.log(`\n=== ${stage.name}`);
  ok = await stage.run();
  if (!ok) console.error(`\n[${stage.name}] failed; later stages were not run.`);
}
const skipped = totals.skipped ? `, ${totals.skipped} skipped` : '';
console.log(`\n${totals.passed} passed, ${totals.failed} failed${skipped}`);
process.exit(ok && totals.failed === 0 ? 0 : 1);
