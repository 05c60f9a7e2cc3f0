// UI checks of the team log, as a team member and a reviewer meet it: with botAudit.teamLog set, the
// status bar says the team log is up to date; the audit-log page's Team switch shows the team log
// (its title says so, and an entry's details say which member's log it came from); the Bots view's
// menu shows the team log's runs. Against a throwaway PostgreSQL cluster; screenshots of each.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { RESULTS_DIR, ROOT, freshWorkspace } from '../harness/code-server.mjs';
import { openBotAuditView, openDevWindow, runCommand, webviewFrame } from './helpers.mjs';

const SHOTS = RESULTS_DIR;
mkdirSync(SHOTS, { recursive: true });

/** Starts the cluster (a fixture process that stops it when its stdin ends); resolves with its URL. */
function startTeamLog() {
  const p = spawn(process.execPath, [path.join(ROOT, 'out/test/fixtures/ui/team-cluster.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const url = new Promise((resolve, reject) => {
    const lines = createInterface({ input: p.stdout });
    lines.once('line', (l) => resolve(JSON.parse(l)));
    p.once('exit', (code) => reject(new Error(`the team log's cluster did not start (exit ${code})`)));
  });
  return { ready: url, stop: () => new Promise((r) => (p.exitCode !== null ? r() : (p.once('exit', r), p.stdin.end()))) };
}

describe('The team log in the editor', function () {
  this.timeout(300_000);
  let team;
  /** The team log's URL, and another machine's entries it holds (see test/fixtures/ui/team-cluster.ts). */
  let other;
  let browser;
  let server;
  let page;

  before(async function () {
    team = startTeamLog();
    other = await team.ready;
    const url = other.url;
    const fresh = await freshWorkspace();
    mkdirSync(path.join(fresh.ws, '.vscode'), { recursive: true });
    writeFileSync(path.join(fresh.ws, '.vscode', 'settings.json'), JSON.stringify({ 'botAudit.teamLog': url }, null, 2));
    ({ server, browser, page } = await openDevWindow(fresh));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await team?.stop();
  });

  it('says in the status bar that the team log holds this log', async () => {
    await openBotAuditView(page); // the extension starts with its view
    const item = page.locator('.statusbar-item', { hasText: /Team log/ });
    await item.waitFor({ timeout: 90_000 });
    // What a screen reader says of it, and what its tooltip says.
    for (const end = Date.now() + 60_000; !/Up to date: the team log holds all/.test((await item.getAttribute('aria-label')) ?? '') && Date.now() < end; ) await page.waitForTimeout(250);
    assert.match((await item.getAttribute('aria-label')) ?? '', /Up to date: the team log holds all \d+ entries/);
    await page.screenshot({ path: path.join(SHOTS, 'team-status-bar.png') });
  });

  it('shows the team log on the audit-log page through its Team switch, with where each entry came from', async () => {
    await runCommand(page, 'Bot Audit: Open Audit Log');
    const frame = await webviewFrame(page, '.viewport');
    await frame.locator('.rows .row:not([hidden]):not(.loading)').first().waitFor({ timeout: 60_000 });
    const teamButton = frame.locator('vscode-button.log-team');
    await teamButton.waitFor({ timeout: 30_000 });
    assert.equal(await frame.locator('.toolbar h1').innerText(), 'Audit Log');
    await teamButton.click();
    await frame.locator('.toolbar h1', { hasText: 'Audit Log (Team)' }).waitFor({ timeout: 30_000 });
    assert.equal(await teamButton.getAttribute('aria-pressed'), 'true');
    // The footer names the team log's server, not this workspace's file.
    await frame.locator('footer.source', { hasText: /^postgres:\/\// }).waitFor({ timeout: 30_000 });
    // Entries from the other machine, whose markup stays text: no element of it in the page.
    const rows = frame.locator('.rows .row:not([hidden]):not(.loading)');
    const theirs = rows.filter({ hasText: other.otherUser });
    await theirs.first().waitFor({ timeout: 30_000 });
    assert.equal(await theirs.count(), 2);
    assert.equal((await theirs.first().locator('.col-entityId').innerText()).trim(), other.hostileId);
    assert.equal(await frame.locator('.rows img').count(), 0, 'no element made of an entry\u2019s text');
    assert.equal(await frame.evaluate(() => document.body.dataset.pwned ?? null), null);
    const row = theirs.first();
    await row.click();
    const from = frame.locator('.detail dd code.origin');
    await from.waitFor({ timeout: 30_000 });
    assert.match(await from.innerText(), /^[0-9a-f]{12}… #\d+$/);
    await page.screenshot({ path: path.join(SHOTS, 'team-audit-log.png') });
    // And back: this workspace's own log.
    await frame.locator('vscode-button.log-local').click();
    await frame.locator('.toolbar h1', { hasText: /^Audit Log$/ }).waitFor({ timeout: 30_000 });
  });

  it('shows the team log\u2019s runs in the Bots view from its menu', async () => {
    await runCommand(page, "Bot Audit: Show the Team Log's Runs in the Bots View");
    await page.locator('.sidebar', { hasText: "Runs from the team log (every member's): postgres://" }).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(SHOTS, 'team-bots-view.png') });
    await runCommand(page, "Bot Audit: Show This Workspace's Runs in the Bots View");
  });
});
