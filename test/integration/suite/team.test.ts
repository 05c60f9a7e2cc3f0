// The team log from the editor: with botAudit.teamLog set, this window's log is replicated into a
// real PostgreSQL (a throwaway cluster on a loopback port), in the background, and the status bar
// says how far behind it is. A URL that carries a password is refused and never written down.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { initTeamLog, originOf } from '../../../src/core/team';
import { teamPasswordKey } from '../../../src/services/teamLogService';
import { startCluster, type TestCluster } from '../../unit/team/pg';
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
