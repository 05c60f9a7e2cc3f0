// Runs the extension's mocha suite (out/test/integration/suite/index.js) inside the real
// extension host of VS Code (code-server: 1.100, or 1.139 with BOT_AUDIT_VSCODE=1.139), opened in
// headless Chromium by Playwright.
// Exits with the suite's result; the suite writes its counts to BOT_AUDIT_STATS_FILE.
import path from 'node:path';
import { existsSync, appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { format } from 'node:util';
import {
  HarnessError, RESULTS_DIR, ROOT, TARGET, freshWorkspace, launchChromium, registerCleanup, remoteUri, startCodeServer, workbenchUrl,
} from './code-server.mjs';
import { prepareCorpusWorkspace } from './corpus-fixtures.mjs';

const NOISE = /^\s+at |Creating a socket|connection token|open-vsx|Service Worker|ChatSessionStore|Updating additional builtin|^\[Extension Host\]|Started local extension host|^%c/;
const TIMEOUT_MS = Number(process.env.BOT_AUDIT_SUITE_TIMEOUT_MS ?? 10 * 60 * 1000);

async function main() {
  // Two passes: the suite in a trusted window, then the Restricted Mode checks in an untrusted one.
  const statsFile = process.env.BOT_AUDIT_STATS_FILE;
  // Then the Medplum bot corpus, in a window on each of its fixture workspaces (@medplum/core 4 and 5).
  const passes = [
    { name: 'trusted', trust: true },
    { name: 'restricted', trust: false },
    { name: 'corpus-medplum4', trust: true, corpus: 'medplum4' },
    { name: 'corpus-medplum5', trust: true, corpus: 'medplum5' },
  ];
  // BOT_AUDIT_PASSES=trusted,restricted runs some passes only (while working on a test; npm test runs all).
  const chosen = process.env.BOT_AUDIT_PASSES ? new Set(process.env.BOT_AUDIT_PASSES.split(',')) : undefined;
  let worst = 0;
  const totals = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const pass of passes.filter((p) => !chosen || chosen.has(p.name))) {
    const passStats = path.join(RESULTS_DIR, `integration-${pass.name}-stats.json`);
    rmSync(passStats, { force: true });
    const code = await runPass(pass, passStats);
    worst = Math.max(worst, code === 0 ? 0 : 1);
    if (existsSync(passStats)) {
      const s = JSON.parse(readFileSync(passStats, 'utf8'));
      totals.passed += s.passed;
      totals.failed += s.failed;
      totals.skipped += s.skipped;
      totals.failures.push(...s.failures);
    } else {
      totals.failed += 1;
    }
  }
  if (statsFile) writeFileSync(statsFile, JSON.stringify(totals, null, 2));
  return worst;
}

/** A corpus fixture workspace (installed once in .cache/corpus), and a temp folder for the window's state. */
async function corpusWorkspace(name) {
  const ws = await prepareCorpusWorkspace(ROOT, name);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bot-audit-corpus-'));
  registerCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  return { dir, ws };
}

async function runPass(pass, statsFile) {
  const suite = path.join(ROOT, 'out', 'test', 'integration', 'suite', 'index.js');
  if (!existsSync(suite) || !existsSync(path.join(ROOT, 'dist', 'extension.js'))) {
    throw new HarnessError('The extension or the suite is not built: run `node esbuild.mjs --tests` first.');
  }
  const { dir, ws } = pass.corpus ? await corpusWorkspace(pass.corpus) : await freshWorkspace();
  const server = await startCodeServer({
    folder: ws,
    userDataDir: path.join(dir, 'user-data'),
    extensionsDir: path.join(dir, 'extensions'),
    trust: pass.trust,
    env: { BOT_AUDIT_TEST_WORKSPACE: ws, BOT_AUDIT_SUITE: pass.name, BOT_AUDIT_STATS_FILE: statsFile, BOT_AUDIT_VSCODE_EXPECTED: TARGET.vscode },
  });
  try {
    const browser = await launchChromium();
    const page = await browser.newPage();
    let resolveExit;
    const exited = new Promise((r) => (resolveExit = r));
    await page.exposeFunction('codeAutomationExit', (code) => resolveExit(code));
    // The workbench forwards its console and the extension host's here. Everything goes to a log
    // file; the terminal gets the suite's own lines without the workbench's start-up noise.
    const logFile = path.join(RESULTS_DIR, `integration-${pass.name}-workbench.log`);
    mkdirSync(path.dirname(logFile), { recursive: true });
    writeFileSync(logFile, '');
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      const text = format(...(Array.isArray(args) ? args : [args]));
      appendFileSync(logFile, `[${type}] ${text}\n`);
      if (NOISE.test(text)) return;
      (type === 'error' ? process.stderr : process.stdout).write(`${text}\n`);
    });
    const url = workbenchUrl(server, ws, [
      ['extensionDevelopmentPath', remoteUri(server, ROOT)],
      ['extensionTestsPath', remoteUri(server, suite)],
      ['skipWelcome', 'true'],
    ]);
    console.log(`\n[integration] ${pass.name} window, VS Code ${TARGET.vscode}`);
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60_000 }).catch((e) => {
      throw new HarnessError(`VS Code did not load at ${server.url}: ${e.message}`);
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new HarnessError(`The integration suite did not finish within ${TIMEOUT_MS / 1000}s (VS Code may not have started the extension host).\ncode-server said:\n${server.output().slice(-3000)}`)),
        TIMEOUT_MS,
      );
    });
    const code = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (code !== 0) await afterFailure(page, pass);
    await browser.close();
    return code;
  } finally {
    await server.stop();
  }
}

/**
 * What the window showed when its suite failed: a screenshot, and the messages of its notifications
 * (where VS Code reports what the API does not, a failed save for one).
 */
async function afterFailure(page, pass) {
  try {
    const shot = path.join(RESULTS_DIR, `integration-${pass.name}-failed.png`);
    await page.screenshot({ path: shot });
    await page.locator('.statusbar [id="status.notifications"] a, .statusbar-item[id="status.notifications"]').first().click({ timeout: 5_000 }).catch(() => undefined);
    await page.waitForTimeout(500);
    const notes = await page.locator('.notifications-center .notification-list-item-message, .notifications-toasts .notification-list-item-message').allInnerTexts();
    console.error(`[integration] ${pass.name}: the window is in ${shot}; its notifications: ${notes.length ? `\n  ${notes.join('\n  ')}` : 'none'}`);
  } catch (e) {
    console.error(`[integration] ${pass.name}: could not look at the window after the failure: ${e.message}`);
  }
}

main().then(
  (code) => process.exit(code === 0 ? 0 : 1),
  (e) => {
    console.error(`[integration] ${e instanceof HarnessError ? e.message : (e?.stack ?? e)}`);
    process.exit(2);
  },
);
