// The team log from the editor: with botAudit.teamLog set, this window's log is replicated into a
// real PostgreSQL (a throwaway cluster on a loopback port), in the background, and the status bar
// says how far behind it is. A URL that carries a password is refused and never written down.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { AuditStore } from '../../../src/core/store';
import { initTeamLog, originOf, shipToTeam } from '../../../src/core/team';
import type { DetailNotification, InitNotification, ResultNotification } from '../../../src/panels/protocol';
import { teamPasswordKey } from '../../../src/services/teamLogService';
import { startCluster, type TestCluster } from '../../unit/team/pg';
import type { EventNode, FolderNode } from '../../../src/tree/nodes/botNode';
import { api, until } from './helpers';

describe('The team log (PostgreSQL) from the editor', function () {
  this.timeout(240_000);
  let cluster: TestCluster;

  before(async () => {
    cluster = await startCluster();
    const c = await cluster.connect();
    try {
      await initTeamLog(c);
    } finally {
      await c.end();
    }
  });

  after(async () => {
    await vscode.workspace.getConfiguration('botAudit').update('teamLog', undefined, vscode.ConfigurationTarget.Workspace);
    cluster?.stop();
  });

  async function teamCount(origin: string): Promise<number> {
    const c = await cluster.connect();
    try {
      const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM bot_audit.team_entries WHERE origin = $1', [origin]);
      return Number(r.rows[0].n);
    } finally {
      await c.end();
    }
  }

  it('replicates the window\u2019s log once botAudit.teamLog is set, and keeps up with new entries', async () => {
    const a = await api();
    const store = await a.audit!.localStore();
    await a.record({ user: 'team-test', action: 'CREATED', entityName: 'Patient', entityId: 'p1', after: { resourceType: 'Patient', id: 'p1' } });
    assert.equal(a.team!.status, undefined, 'no team log is set yet');

    await vscode.workspace.getConfiguration('botAudit').update('teamLog', cluster.url(), vscode.ConfigurationTarget.Workspace);
    const up = await until('the team log to hold every entry', () => {
      const s = a.team!.status;
      return s?.state === 'up-to-date' && s.behind === 0 && s.localHead === store.size ? s : undefined;
    });
    const origin = originOf(store)!;
    assert.equal(up.origin, origin);
    assert.equal(await teamCount(origin), store.size);

    // New entries are shipped in the background, without asking.
    for (let i = 0; i < 25; i++) await a.record({ user: 'team-test', action: 'UPDATED', entityName: 'Patient', entityId: 'p1', before: { n: i }, after: { n: i + 1 } });
    await until('the 25 new entries in the team log', async () => ((await teamCount(origin)) === store.size ? true : undefined));
    const s = await until('an up-to-date status', () => (a.team!.status?.state === 'up-to-date' && a.team!.status.behind === 0 ? a.team!.status : undefined));
    assert.equal(s.teamHead, store.size);
  });

  it('says offline and how far behind while the server is away, and catches up when it is back', async () => {
    const a = await api();
    const store = await a.audit!.localStore();
    const origin = originOf(store)!;
    // Another database name on the same server: one that does not exist is unreachable for us.
    const away = cluster.url().replace(/\/postgres$/, '/no_such_database');
    await vscode.workspace.getConfiguration('botAudit').update('teamLog', away, vscode.ConfigurationTarget.Workspace);
    await a.record({ user: 'team-test', action: 'DELETED', entityName: 'Patient', entityId: 'p1', before: { resourceType: 'Patient', id: 'p1' } });
    const off = await until('a status that is not up to date', () => {
      const st = a.team!.status;
      return st && st.url.endsWith('/no_such_database') && (st.state === 'offline' || st.state === 'error') ? st : undefined;
    });
    assert.ok(off.lastError, 'it says why');

    await vscode.workspace.getConfiguration('botAudit').update('teamLog', cluster.url(), vscode.ConfigurationTarget.Workspace);
    await until('the team log caught up', async () => (a.team!.status?.state === 'up-to-date' && (await teamCount(origin)) === store.size ? true : undefined));
  });

  it('reads the team log on the audit-log page through its Local / Team switch: rows, details, links and the live tail', async () => {
    const a = await api();
    const store = await a.audit!.localStore();
    await vscode.workspace.getConfiguration('botAudit').update('teamLog', cluster.url(), vscode.ConfigurationTarget.Workspace);
    await until('the team log caught up', async () => (a.team!.status?.state === 'up-to-date' && (await teamCount(originOf(store)!)) === store.size ? true : undefined));
    // A second machine's log, shipped into the same team log: the team page shows both.
    const other = await AuditStore.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'team-other-')), 'audit.db'), { watch: false });
    try {
      for (let i = 0; i < 3; i++) await other.append({ user: 'laptop-2', action: 'CREATED', entityName: 'Observation', entityId: `o${i}`, after: { resourceType: 'Observation', id: `o${i}` } });
      const c = await cluster.connect();
      try {
        await shipToTeam(other, c);
      } finally {
        await c.end();
      }
    } finally {
      await other.close();
    }

    await vscode.commands.executeCommand('botAudit.openAuditLog');
    const panel = await until('the audit log panel', () => a.auditLogPanel());
    await until('the webview to say ready', () => panel.isReady);
    const init = await until('an init that offers the switch', () => panel.sent.find((m): m is InitNotification => m.type === 'init' && !!m.teamLog));
    assert.equal(init.teamLog, cluster.url());

    let from = panel.sent.length;
    await panel.onMessage({ type: 'switchLog', log: 'team' });
    const teamInit = await until('the team init', () => panel.sent.slice(from).find((m): m is InitNotification => m.type === 'init'));
    assert.equal(teamInit.log, 'team');
    assert.equal(panel.currentLog, 'team');
    assert.match(panel.panel.title, /Team/);
    // The page asks again by itself (another log is another view); answered from the team log.
    const teamTotal = store.size + 3;
    const result = await until('the page\u2019s result from the team log', () =>
      panel.sent.slice(from).find((m): m is ResultNotification => m.type === 'result' && !m.counting && m.total === teamTotal),
    );
    assert.ok(result.first.some((r) => r.user === 'laptop-2'), 'the other machine\u2019s entries show');
    from = panel.sent.length;
    await panel.onMessage({ type: 'query', seq: 7001, query: 'user:laptop-2', order: 'asc' });
    const mine = await until('a filtered result', () => panel.sent.slice(from).find((m): m is ResultNotification => m.type === 'result' && m.seq === 7001));
    assert.deepEqual(mine.first.map((r) => r.entityId), ['o0', 'o1', 'o2']);
    await panel.onMessage({ type: 'detail', id: mine.first[0].id });
    const d = await until('the detail', () => panel.sent.slice(from).find((m): m is DetailNotification => m.type === 'detail' && m.id === mine.first[0].id));
    assert.equal(d.entry?.entityId, 'o0');
    assert.equal(d.entry?.originId, 1, 'a team entry says its ID in the log it came from');

    // A link says which log it points into.
    await panel.onMessage({ type: 'copyLink', query: 'user:laptop-2', entry: mine.first[0].id });
    const link = await vscode.env.clipboard.readText();
    assert.match(link, /[?&]log=team(&|$)/);

    // The live tail: an entry shipped by another machine reaches the open page as "new entries".
    from = panel.sent.length;
    await panel.onMessage({ type: 'query', seq: 7002, query: '', order: 'desc' });
    await until('the whole team log', () => panel.sent.slice(from).find((m) => m.type === 'result' && m.seq === 7002));
    await a.record({ user: 'team-test', action: 'UPDATED', entityName: 'Patient', entityId: 'p2', before: { n: 1 }, after: { n: 2 } });
    await until('new entries from the team log', () => panel.sent.slice(from).find((m) => m.type === 'newEntries' && m.seq === 7002 && m.count >= 1));

    // Back to this workspace's log.
    from = panel.sent.length;
    await panel.onMessage({ type: 'switchLog', log: 'local' });
    await until('the local init', () => panel.sent.slice(from).find((m): m is InitNotification => m.type === 'init' && m.log === 'local'));
    await until('the local result', () => panel.sent.slice(from).find((m): m is ResultNotification => m.type === 'result' && !m.counting && m.total === store.size));
  });

  it('shows the team log\u2019s runs in the Bots view from its view menu', async () => {
    const a = await api();
    await vscode.workspace.getConfiguration('botAudit').update('teamLog', cluster.url(), vscode.ConfigurationTarget.Workspace);
    const store = await a.audit!.localStore();
    // A run in this window: it is in the team log too once shipped.
    const hello = (await a.bots.getBots()).find((b) => b.name === 'hello-bot');
    assert.ok(hello, 'the sample workspace has hello-bot');
    const res = await a.runs!.run(hello, { inputText: '{"name":"team"}' });
    assert.ok(res.entryId, res.recordError);
    await until('the run in the team log', async () => ((await teamCount(originOf(store)!)) === store.size ? true : undefined));
    const ran = (await store.latest('action:EXECUTED', 1))[0];
    const eventsOfRanBot = async () => {
      const bots = (await a.tree.getChildren()).flatMap((f) => (f as FolderNode).children);
      const bot = bots.find((b) => b.bot.entityId === ran.entityId);
      assert.ok(bot, `the Bots view lists ${ran.entityId}`);
      // Event nodes (the extension's own classes: this suite is bundled apart, so no instanceof).
      return (await a.tree.getChildren(bot)).filter((n): n is EventNode => 'entry' in n && 'log' in n);
    };
    await vscode.commands.executeCommand('botAudit.showTeamLogInTree');
    assert.equal(a.tree.log, 'team');
    const teamEvents = await until('the bot\u2019s runs from the team log', async () => ((await eventsOfRanBot()).length ? eventsOfRanBot() : undefined));
    assert.ok(teamEvents.every((e) => e.log === 'team' && e.entry.origin === originOf(store)));
    const item = teamEvents[0].toTreeItem();
    assert.deepEqual(item.command?.arguments, ['', teamEvents[0].entry.id, 'team'], 'a team event opens on the team log');
    await vscode.commands.executeCommand('botAudit.showLocalLogInTree');
    assert.equal(a.tree.log, 'local');
    const localEvents = await eventsOfRanBot();
    assert.ok(localEvents.length > 0 && localEvents.every((e) => e.log === 'local'));
  });

  it('refuses a URL that carries a password, and keeps passwords per server in secret storage', async () => {
    const a = await api();
    const withPassword = cluster.url().replace('postgres@', 'postgres:hunter2-not-here@');
    await vscode.workspace.getConfiguration('botAudit').update('teamLog', withPassword, vscode.ConfigurationTarget.Workspace);
    await until('replication stopped', () => (a.team!.status === undefined ? true : undefined));
    assert.equal(a.team!.teamLogUrl, '', 'the setting with a password is not used');
    // One secret per server, database and user: never the workspace's, never the password itself.
    const key = teamPasswordKey(cluster.url());
    assert.match(key, /^botAudit\.teamLogPassword:127\.0\.0\.1:\d+\/postgres:postgres$/);
    assert.equal(teamPasswordKey('postgres://ann@db.example:6543/team'), 'botAudit.teamLogPassword:db.example:6543/team:ann');
  });
});
