// UI checks: Playwright drives VS Code (code-server in headless Chromium: 1.100, or 1.139 with
// BOT_AUDIT_VSCODE=1.139) as a person would, and saves screenshots under test-results/ (1.139's under
// test-results/vscode-1.139/) to look at.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { RESULTS_DIR, ROOT, codeServerCli, freshWorkspace, launchChromium, remoteUri, startCodeServer } from '../harness/code-server.mjs';
import { openBotAuditView, openDevWindow, openWorkbench, runBotFromPalette, runCommand, setTheme, waitForRows, webviewFrame } from './helpers.mjs';

const SHOTS = RESULTS_DIR;
mkdirSync(SHOTS, { recursive: true });
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const VSIX = path.join(ROOT, `bot-audit-${pkg.version}.vsix`);

describe('Bot Audit as a person sees it', function () {
  let browser;
  let server;
  let page;
  let ws;

  before(async function () {
    const fresh = await freshWorkspace();
    ws = fresh.ws;
    ({ server, browser, page } = await openDevWindow(fresh));
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
    await frame.locator('.rows .row', { hasText: 'LOGIN' }).first().waitFor({ timeout: 15_000 });
    assert.match(await frame.locator('.count').innerText(), /^\d+ of \d+ entries$/);
    // The toolkit's web components get defined just after the first rows: the CSP let the page's
    // script and its on-demand toolkit chunk run.
    await frame.waitForFunction(() => Boolean(customElements.get('vscode-button')), undefined, { timeout: 10_000 });
    assert.equal(await frame.evaluate(() => Boolean(customElements.get('vscode-button'))), true);
    // Theme variables reach the page, and the toolkit's controls take them (not its dark defaults).
    const fg = await frame.evaluate(() => getComputedStyle(document.body).getPropertyValue('--vscode-foreground').trim());
    assert.notEqual(fg, '');
    // The toolkit adopts a control's styles a moment after the element is defined (its design
    // tokens resolve asynchronously), so wait for the field to be styled, then compare.
    const readField = () => {
      const root = document.querySelector('vscode-text-field.search')?.shadowRoot?.querySelector('.root');
      const probe = document.createElement('div');
      probe.style.backgroundColor = 'var(--vscode-input-background)';
      document.body.append(probe);
      const want = getComputedStyle(probe).backgroundColor;
      probe.remove();
      return { got: root ? getComputedStyle(root).backgroundColor : '(no control)', want };
    };
    await frame
      .waitForFunction(`(({ got, want }) => got === want)((${readField})())`, undefined, { timeout: 10_000 })
      .catch(() => {});
    const field = await frame.evaluate(readField);
    assert.equal(field.got, field.want, 'the search field has the theme’s input background');
    await page.screenshot({ path: path.join(SHOTS, 'audit-log.png') });
  });

  it('runs a bot from the command palette and shows its event in the tree, in light and dark themes', async () => {
    await page.keyboard.press('Escape');
    await runBotFromPalette(page, 'hello-bot');
    // The bot's row shows its last outcome.
    const row = page.locator('.sidebar .monaco-list-row', { hasText: 'hello-bot' }).first();
    await row.locator('.label-description', { hasText: 'Success' }).waitFor({ timeout: 30_000 });
    // Expanding the bot shows the event.
    await row.click();
    await page.keyboard.press('ArrowRight');
    await page.locator('.sidebar .monaco-list-row .label-name', { hasText: /^Success$/ }).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: path.join(SHOTS, 'run-light.png') });
    await setTheme(page, 'Dark Modern');
    await page.screenshot({ path: path.join(SHOTS, 'run-dark.png') });
    const bg = await page.locator('.sidebar').evaluate((e) => getComputedStyle(e).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 200, `the dark theme is applied (sidebar ${bg})`);
    await setTheme(page, 'Light Modern');
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
      // Required on first use, after activation (esbuild.mjs).
      'extension/dist/engine.js',
      'extension/dist/pg.js',
      'extension/dist/medplum-core.js',
      'extension/dist/medplum-fhir-router.js',
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
    const fresh = await freshWorkspace();
    const extensionsDir = path.join(fresh.dir, 'extensions');
    const userDataDir = path.join(fresh.dir, 'user-data');
    const r = codeServerCli(['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', VSIX]);
    assert.equal(r.status, 0, `install failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(readdirSync(extensionsDir).some((d) => d.startsWith(`bot-audit.bot-audit-${pkg.version}`)), 'installed into the extensions folder');
    server = await startCodeServer({ folder: fresh.ws, userDataDir, extensionsDir });
    browser = await launchChromium();
    const page = await openWorkbench(browser, server, fresh.ws);
    await openBotAuditView(page);
    await waitForRows(page, ['hello-bot', 'patient-crud']);
    // The package carries what a run needs (esbuild, the worker, the FHIR search definitions):
    // run the CRUD bot, which bundles TypeScript and writes resources.
    await runBotFromPalette(page, 'patient-crud');
    const row = page.locator('.sidebar .monaco-list-row', { hasText: 'patient-crud' }).first();
    await row.locator('.label-description', { hasText: 'Success' }).waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(SHOTS, 'vsix-installed.png') });
  });
});
