// UI checks: Playwright drives VS Code 1.100 (code-server in headless Chromium) as a person would,
// and saves screenshots under test-results/ to look at.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  CODE_SERVER_BIN, ROOT, ensureCodeServer, freshWorkspace, launchChromium, remoteUri, startCodeServer, workbenchUrl,
} from '../harness/code-server.mjs';

const SHOTS = path.join(ROOT, 'test-results');
mkdirSync(SHOTS, { recursive: true });
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const VSIX = path.join(ROOT, `bot-audit-${pkg.version}.vsix`);

/** Opens VS Code on a folder and waits for the workbench. */
async function openWorkbench(browser, server, folder, payload) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  await page.goto(workbenchUrl(server, folder, payload), { waitUntil: 'domcontentloaded', timeout: 60_000 });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  await page.locator('.activitybar').waitFor({ timeout: 60_000 });
  return page;
}

async function openBotAuditView(page) {
  const icon = page.locator('.activitybar [aria-label^="Bot Audit"]').first();
  await icon.waitFor({ timeout: 60_000 });
  await icon.click();
  // With one view in the container its header is hidden (the container's title stands in), so wait
  // for it to be attached rather than visible.
  await page.locator('.sidebar .pane-header[aria-label^="Bots"]').first().waitFor({ state: 'attached', timeout: 30_000 });
}

async function treeRows(page) {
  return page.locator('.sidebar .monaco-list-row .label-name').allInnerTexts();
}

async function waitForRows(page, wanted, timeout = 30_000) {
  const end = Date.now() + timeout;
  let rows = [];
  while (Date.now() < end) {
    rows = (await treeRows(page)).map((r) => r.trim());
    if (wanted.every((w) => rows.includes(w))) return rows;
    await page.waitForTimeout(250);
  }
  throw new Error(`Tree rows ${JSON.stringify(rows)} lack ${JSON.stringify(wanted)}`);
}

async function runCommand(page, title) {
  const exact = new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  // The palette can be caught mid-transition (a quick pick closing): start from a closed one, and
  // try again once.
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('Escape');
      await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
      await page.keyboard.press('Control+Shift+P');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(`>${title}`);
      // Click the row whose label is exactly the title (the first row may be a longer command).
      const row = page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: exact }) }).first();
      await row.waitFor({ state: 'visible', timeout: 10_000 });
      await row.click({ timeout: 10_000 });
      return;
    } catch (e) {
      if (attempt >= 2) throw e;
    }
  }
}

/** A webview's content lives in nested iframes: find the frame that holds `selector`. */
async function webviewFrame(page, selector, timeout = 30_000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    for (const f of page.frames()) {
      try {
        if (await f.locator(selector).count()) return f;
      } catch {
        /* frame went away */
      }
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`No webview frame holds ${selector}`);
}

describe('Bot Audit as a person sees it', function () {
  let browser;
  let server;
  let page;
  let ws;

  /** Switches the colour theme as a person does: Preferences: Color Theme, then the theme's name. */
  async function setTheme(theme) {
    await runCommand(page, 'Preferences: Color Theme');
    const input = page.locator('.quick-input-widget input[placeholder*="Color Theme" i]');
    await input.waitFor({ timeout: 10_000 });
    await input.fill(theme);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: theme }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await page.waitForTimeout(800);
  }

  before(async function () {
    const fresh = await freshWorkspace();
    ws = fresh.ws;
    server = await startCodeServer({
      folder: ws,
      userDataDir: path.join(fresh.dir, 'user-data'),
      extensionsDir: path.join(fresh.dir, 'extensions'),
    });
    browser = await launchChromium();
    page = await openWorkbench(browser, server, ws, [
      ['extensionDevelopmentPath', remoteUri(server, ROOT)],
      ['skipWelcome', 'true'],
    ]);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the sample bots in the Bot Audit view', async () => {
    await openBotAuditView(page);
    const rows = await waitForRows(page, ['bots', 'hello-bot', 'validate-patient', 'quitter', 'bots/records', 'patient-crud']);
    assert.ok(!rows.includes('hello-bot.test'));
    await page.screenshot({ path: path.join(SHOTS, 'bots-tree.png') });
  });

  it('opens the audit log from the command palette, themed, with this window’s LOGIN', async () => {
    await runCommand(page, 'Bot Audit: Open Audit Log');
    const frame = await webviewFrame(page, '#app .toolbar h1');
    assert.equal(await frame.locator('#app .toolbar h1').innerText(), 'Audit Log');
    await frame.locator('.grid .row', { hasText: 'LOGIN' }).first().waitFor({ timeout: 15_000 });
    assert.match(await frame.locator('.count').innerText(), /^\d+ of \d+ entries$/);
    // The toolkit's web components were defined (the CSP let the script run).
    assert.equal(await frame.evaluate(() => Boolean(customElements.get('vscode-button'))), true);
    // Theme variables reach the page.
    const fg = await frame.evaluate(() => getComputedStyle(document.body).getPropertyValue('--vscode-foreground').trim());
    assert.notEqual(fg, '');
    await page.screenshot({ path: path.join(SHOTS, 'audit-log.png') });
  });

  it('runs a bot from the command palette and shows its event in the tree, in light and dark themes', async () => {
    await page.keyboard.press('Escape');
    await runCommand(page, 'Bot Audit: Run Bot…');
    const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: 'hello-bot' }).first();
    await pick.waitFor({ timeout: 15_000 });
    await page.locator('.quick-input-widget input').fill('hello-bot');
    await page.keyboard.press('Enter');
    // The bot's row shows its last outcome.
    const row = page.locator('.sidebar .monaco-list-row', { hasText: 'hello-bot' }).first();
    await row.locator('.label-description', { hasText: 'Success' }).waitFor({ timeout: 30_000 });
    // Expanding the bot shows the event.
    await row.click();
    await page.keyboard.press('ArrowRight');
    await page.locator('.sidebar .monaco-list-row .label-name', { hasText: /^Success$/ }).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: path.join(SHOTS, 'run-light.png') });
    await setTheme('Dark Modern');
    await page.screenshot({ path: path.join(SHOTS, 'run-dark.png') });
    const bg = await page.locator('.sidebar').evaluate((e) => getComputedStyle(e).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 200, `the dark theme is applied (sidebar ${bg})`);
    await setTheme('Light Modern');
  });

  it('shows a welcome view with a button in a workspace without bots', async () => {
    const empty = await freshWorkspace('empty');
    rmSync(path.join(empty.ws, 'bots'), { recursive: true, force: true });
    const p = await openWorkbench(browser, server, empty.ws, [
      ['extensionDevelopmentPath', remoteUri(server, ROOT)],
      ['skipWelcome', 'true'],
    ]);
    try {
      await openBotAuditView(p);
      const welcome = p.locator('.welcome-view-content', { hasText: 'No bots found' });
      await welcome.waitFor({ timeout: 30_000 });
      await p.screenshot({ path: path.join(SHOTS, 'bots-welcome.png') });
      await welcome.locator('a.monaco-button', { hasText: 'Create a Sample Bot' }).click();
      await waitForRows(p, ['hello-bot']);
      assert.ok(existsSync(path.join(empty.ws, 'bots', 'hello-bot.ts')));
    } finally {
      await p.close();
    }
  });
});

describe('The packaged extension', function () {
  let browser;
  let server;

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('packages into a .vsix with the bundles and without sources', () => {
    rmSync(VSIX, { force: true });
    const r = spawnSync('npm', ['run', 'package'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(r.status, 0, `npm run package failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(existsSync(VSIX), `${VSIX} exists`);
    const files = execFileSync('unzip', ['-Z1', VSIX], { encoding: 'utf8' }).trim().split('\n');
    for (const f of [
      'extension/package.json',
      'extension/dist/extension.js',
      'extension/dist/sql-wasm.wasm',
      'extension/dist/webview/auditLog.js',
      'extension/dist/webview/auditLog.css',
      'extension/dist/webview/codicon.ttf',
      'extension/media/bot-audit.svg',
      'extension/package.nls.json',
      'extension/readme.md',
      'extension/changelog.md',
      'extension/LICENSE.txt',
    ]) {
      assert.ok(files.some((x) => x.toLowerCase() === f.toLowerCase()), `${f} is in the package`);
    }
    const bad = files.filter((f) => /\.map$|\/src\/|\/test\/|\/webview\/[^/]+\.ts$|node_modules|\/examples\/|\.cache|test-results|tsconfig|esbuild\.mjs/.test(f));
    assert.deepEqual(bad, [], 'no sources, tests, maps or node_modules');
  });

  it('installs into VS Code from the .vsix and activates there', async () => {
    assert.ok(existsSync(VSIX), 'the previous test built the .vsix');
    ensureCodeServer();
    const fresh = await freshWorkspace();
    const extensionsDir = path.join(fresh.dir, 'extensions');
    const userDataDir = path.join(fresh.dir, 'user-data');
    const r = spawnSync(process.execPath, [CODE_SERVER_BIN, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', VSIX], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `install failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(readdirSync(extensionsDir).some((d) => d.startsWith(`bot-audit.bot-audit-${pkg.version}`)), 'installed into the extensions folder');
    server = await startCodeServer({ folder: fresh.ws, userDataDir, extensionsDir });
    browser = await launchChromium();
    const page = await openWorkbench(browser, server, fresh.ws);
    await openBotAuditView(page);
    await waitForRows(page, ['hello-bot', 'patient-crud']);
    // The package carries what a run needs (esbuild, the worker, the FHIR search definitions):
    // run the CRUD bot, which bundles TypeScript and writes resources.
    await runCommand(page, 'Bot Audit: Run Bot…');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'patient-crud' }).first().waitFor({ timeout: 15_000 });
    await page.locator('.quick-input-widget input').fill('patient-crud');
    await page.keyboard.press('Enter');
    const row = page.locator('.sidebar .monaco-list-row', { hasText: 'patient-crud' }).first();
    await row.locator('.label-description', { hasText: 'Success' }).waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(SHOTS, 'vsix-installed.png') });
  });
});
