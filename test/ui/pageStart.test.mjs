// The audit-log page on its own in Chromium (the built dist/webview, under the panel's CSP), with a
// stand-in for VS Code's webview API whose host answers late or not at all. The page stays undrawn
// until its first result, and loads the diff's code only when idle or asked: these checks make sure
// it never stays blank waiting for either.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, launchChromium } from '../harness/code-server.mjs';

const ORIGIN = 'https://webview.test';
const DIST = path.join(ROOT, 'dist', 'webview');
const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf' };

function shell() {
  const nonce = randomBytes(18).toString('base64');
  const csp = ["default-src 'none'", `style-src ${ORIGIN}`, `font-src ${ORIGIN}`, `script-src 'nonce-${nonce}'`].join('; ');
  return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="stylesheet" href="${ORIGIN}/auditLog.css"><title>Audit Log</title></head>
<body><div id="app" role="application"></div><script type="module" nonce="${nonce}" src="${ORIGIN}/auditLog.js"></script></body></html>`;
}

/** The webview API: records what the page posts; `answer` (page side) delivers a host message. */
function fakeApi() {
  window.__posted = [];
  // How #app looked once the page's script had run (module scripts run before DOMContentLoaded).
  document.addEventListener('DOMContentLoaded', () => {
    window.__displayAtLoad = getComputedStyle(document.getElementById('app')).display;
  });
  window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => undefined, setState: () => undefined });
  window.__answer = (m) => window.postMessage(m, '*');
}

describe('The audit log page before its data and its diff code', function () {
  this.timeout(60_000);
  let browser;
  let page;

  before(async () => {
    assert.ok(existsSync(path.join(DIST, 'auditLog.js')), 'the webview is built');
    browser = await launchChromium();
  });

  /** Set by a test: how to answer for the diff's chunk (held back, or refused). */
  let diffChunk;

  beforeEach(async () => {
    diffChunk = undefined;
    page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
    await page.route(`${ORIGIN}/**`, async (route) => {
      const p = new URL(route.request().url()).pathname;
      if (diffChunk && /^\/chunks\/diff-/.test(p)) {
        if (diffChunk === 'refuse') return route.fulfill({ status: 404, body: '' });
        await diffChunk; // held until the test lets it through
      }
      if (p === '/index.html') return route.fulfill({ status: 200, contentType: 'text/html', body: shell() });
      const file = path.join(DIST, p);
      if (!file.startsWith(DIST) || !existsSync(file)) return route.fulfill({ status: 404, body: '' });
      return route.fulfill({ status: 200, contentType: TYPES[path.extname(p)] ?? 'application/octet-stream', body: readFileSync(file) });
    });
    await page.addInitScript(fakeApi);
  });

  afterEach(async () => {
    await page?.context().close();
  });

  after(async () => {
    await browser?.close();
  });

  it('needs no file but its script and stylesheet before its first rows', () => {
    // The toolkit and the diff are chunks imported when needed; a module shared with them would be split
    // into a chunk that the page's script imports statically, one more request before anything runs.
    const script = readFileSync(path.join(DIST, 'auditLog.js'), 'utf8');
    assert.doesNotMatch(script, /^\s*import\s[^(]|\bfrom\s*["']\.\/chunks\//m, 'no static import in the page script');
    assert.match(script, /import\(\s*["']\.\/chunks\/diff-[\w-]+\.js["']\s*\)/, 'the diff is imported on demand');
  });

  it('asks for its rows at once, and shows its controls when the host does not answer', async () => {
    await page.goto(`${ORIGIN}/index.html`);
    const posted = await page.evaluate(() => window.__posted.map((m) => m.type));
    assert.deepEqual(posted.slice(0, 2), ['ready', 'query']);
    // Undrawn at first (the first result would be drawn with the controls in one frame)…
    assert.equal(await page.evaluate(() => window.__displayAtLoad), 'none');
    // … but not for long without one.
    await page.locator('h1', { hasText: 'Audit Log' }).waitFor({ state: 'visible', timeout: 2_000 });
    assert.notEqual(await page.locator('#app').evaluate((e) => getComputedStyle(e).display), 'none');
  });

  it('draws the controls and the first rows together when the result comes', async () => {
    await page.goto(`${ORIGIN}/index.html`);
    const query = await page.evaluate(() => window.__posted.find((m) => m.type === 'query'));
    const row = { id: 7, recorded: Date.UTC(2026, 0, 2), user: 'dev@example.com', action: 'UPDATED', entityName: 'story', entityId: '42' };
    const shown = await page.evaluate(
      ({ seq, row }) => {
        window.__answer({ type: 'init', variant: { kind: 'log' }, source: 'audit.db', utc: true });
        window.__answer({ type: 'result', seq, query: '', order: 'desc', total: 1, first: [row], logSize: 1 });
        // Before the hold runs out: the page is drawn because its result came.
        return new Promise((resolve) => setTimeout(() => resolve(getComputedStyle(document.getElementById('app')).display), 50));
      },
      { seq: query.seq, row },
    );
    assert.notEqual(shown, 'none');
    await page.locator('.rows .row[data-id="7"]').waitFor({ state: 'visible', timeout: 2_000 });
    assert.equal(await page.locator('.count').innerText(), '1 of 1 entries');
    assert.equal(await page.locator('.rows .row[data-id="7"] .col-entityId').innerText(), '42');
  });

  it('shows an error from the host at once', async () => {
    await page.goto(`${ORIGIN}/index.html`);
    const shown = await page.evaluate(() => {
      window.__answer({ type: 'init', variant: { kind: 'log' }, source: 'audit.db', utc: true, error: 'There is no audit log in this workspace yet.' });
      return new Promise((resolve) => setTimeout(() => resolve(getComputedStyle(document.getElementById('app')).display), 50));
    });
    assert.notEqual(shown, 'none');
    await page.getByText('There is no audit log in this workspace yet.').waitFor({ state: 'visible', timeout: 2_000 });
  });

  /** Opens the page with one UPDATED entry, selects it, and answers its details. */
  async function openEntry() {
    await page.goto(`${ORIGIN}/index.html`);
    const query = await page.evaluate(() => window.__posted.find((m) => m.type === 'query'));
    const row = { id: 7, recorded: Date.UTC(2026, 0, 2), user: 'dev@example.com', action: 'UPDATED', entityName: 'Patient', entityId: 'p1' };
    await page.evaluate(
      ({ seq, row }) => {
        window.__answer({ type: 'init', variant: { kind: 'log' }, source: 'audit.db', utc: true });
        window.__answer({ type: 'result', seq, query: '', order: 'desc', total: 1, first: [row], logSize: 1 });
      },
      { seq: query.seq, row },
    );
    await page.locator('.rows .row[data-id="7"]').click();
    await page.waitForFunction(() => window.__posted.some((m) => m.type === 'detail' && m.id === 7));
    const entry = { ...row, uuid: 'u-7', hash: 'a'.repeat(64), prevHash: 'b'.repeat(64), before: '{"active":true,"id":"p1"}', after: '{"active":false,"id":"p1"}' };
    await page.evaluate((entry) => window.__answer({ type: 'detail', id: 7, entry }), entry);
  }

  it('shows a diff asked for before its code is loaded, once the code comes', async () => {
    let release;
    diffChunk = new Promise((r) => (release = r));
    await openEntry();
    await page.locator('.detail .diff-loading', { hasText: 'Loading the diff…' }).waitFor({ state: 'visible', timeout: 5_000 });
    release();
    await page.locator('.detail .diff .jsondiffpatch-modified').waitFor({ state: 'visible', timeout: 5_000 });
    assert.equal(await page.locator('.detail .diff-loading').count(), 0);
    assert.match(await page.locator('.detail .diff').innerText(), /active/);
  });

  it('says so when the diff’s code cannot be loaded, and keeps the raw views', async () => {
    diffChunk = 'refuse';
    await openEntry();
    await page.locator('.detail .diff-loading', { hasText: 'The diff could not be loaded' }).waitFor({ state: 'visible', timeout: 5_000 });
    await page.locator('.detail .tab', { hasText: 'After' }).click();
    assert.match(await page.locator('.detail .raw').innerText(), /"active": false/);
  });
});
