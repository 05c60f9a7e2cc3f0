// Shared steps of the UI checks: open the workbench, run a command from the palette, find a
// webview's frame, switch the colour theme, as a person would.
import path from 'node:path';
import { ROOT, launchChromium, remoteUri, startCodeServer, workbenchUrl } from '../harness/code-server.mjs';

/** Opens VS Code on a folder and waits for the workbench. */
export async function openWorkbench(browser, server, folder, payload) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  await page.goto(workbenchUrl(server, folder, payload), { waitUntil: 'domcontentloaded', timeout: 60_000 });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  await page.locator('.activitybar').waitFor({ timeout: 60_000 });
  return page;
}

/**
 * code-server on `folder` (a fresh workspace's, by default) with this checkout's extension loaded, a
 * browser, and the workbench open in it. What was started is stopped again if a later step fails.
 */
export async function openDevWindow(fresh, folder = fresh.ws) {
  const server = await startCodeServer({ folder, userDataDir: path.join(fresh.dir, 'user-data'), extensionsDir: path.join(fresh.dir, 'extensions') });
  let browser;
  try {
    browser = await launchChromium();
    const page = await openWorkbench(browser, server, folder, [
      ['extensionDevelopmentPath', remoteUri(server, ROOT)],
      ['skipWelcome', 'true'],
    ]);
    return { server, browser, page };
  } catch (e) {
    await browser?.close();
    await server.stop();
    throw e;
  }
}

export async function openBotAuditView(page) {
  const icon = page.locator('.activitybar [aria-label^="Bot Audit"]').first();
  await icon.waitFor({ timeout: 60_000 });
  await icon.click();
  // With one view in the container its header is hidden (the container's title stands in), so wait
  // for it to be attached rather than visible.
  await page.locator('.sidebar .pane-header[aria-label^="Bots"]').first().waitFor({ state: 'attached', timeout: 30_000 });
}

export async function treeRows(page) {
  return page.locator('.sidebar .monaco-list-row .label-name').allInnerTexts();
}

export async function waitForRows(page, wanted, timeout = 30_000) {
  const end = Date.now() + timeout;
  let rows = [];
  while (Date.now() < end) {
    rows = (await treeRows(page)).map((r) => r.trim());
    if (wanted.every((w) => rows.includes(w))) return rows;
    await page.waitForTimeout(250);
  }
  throw new Error(`Tree rows ${JSON.stringify(rows)} lack ${JSON.stringify(wanted)}`);
}

export async function runCommand(page, title) {
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

/**
 * Runs a command that opens a quick pick of its own, and waits for `ready` (a locator in that pick).
 * VS Code can close such a pick by itself when a webview editor had focus: the palette hands focus
 * back to the webview as it closes, and the webview takes it once the new pick is up
 * (microsoft/vscode#93950, #75209). A person runs the command again, and so does this, once. A pick
 * that stays open without `ready` fails at once.
 */
export async function openPick(page, title, ready) {
  for (let attempt = 1; ; attempt++) {
    await runCommand(page, title);
    try {
      await ready.waitFor({ state: 'visible', timeout: 15_000 });
      return;
    } catch (e) {
      if (attempt >= 2 || (await page.locator('.quick-input-widget').isVisible())) throw e;
      console.log(`      (the pick of "${title}" closed by itself; running the command again)`);
    }
  }
}

/**
 * Runs a bot as a person does: Bot Audit: Run Bot…, then the bot's name and Enter. The pick can
 * also close by itself after its rows show (see openPick: a webview that had focus takes it back a
 * moment later, on a busy machine after the rows are drawn); a person opens it again, and so does
 * this, up to twice. The name goes in only while the pick is open.
 */
export async function runBotFromPalette(page, name) {
  const input = page.locator('.quick-input-widget input');
  for (let attempt = 1; ; attempt++) {
    await openPick(page, 'Bot Audit: Run Bot…', page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first());
    try {
      await input.fill(name, { timeout: 10_000 });
      await page.keyboard.press('Enter');
      return;
    } catch (e) {
      if (attempt >= 3 || (await page.locator('.quick-input-widget').isVisible())) throw e;
      console.log('      (the bot pick closed by itself before the name went in; running the command again)');
    }
  }
}

/** A webview's content lives in nested iframes: find the frame that holds `selector`. */
export async function webviewFrame(page, selector, timeout = 30_000) {
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

/** The workbench's class for each theme the checks switch to (its kind: light, dark, high contrast). */
const THEME_KINDS = { 'Light Modern': 'vs', 'Dark Modern': 'vs-dark', 'Dark High Contrast': 'hc-black' };

/**
 * Switches the colour theme as a person does: Preferences: Color Theme, then the theme's name, once
 * the list has it in focus; returns when the workbench shows it (on a busy machine, a fixed wait
 * was not always long enough, and the sidebar was still light).
 */
export async function setTheme(page, theme) {
  const kind = THEME_KINDS[theme];
  if (!kind) throw new Error(`setTheme knows no theme ${theme}`);
  const input = page.locator('.quick-input-widget input[placeholder*="Color Theme" i]');
  await openPick(page, 'Preferences: Color Theme', input);
  await input.fill(theme);
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: theme }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press('Enter');
  await page.waitForFunction((k) => document.querySelector('.monaco-workbench')?.classList.contains(k), kind, { timeout: 15_000 });
  // Views and webviews take the new colours on the next frames.
  await page.waitForTimeout(300);
}

