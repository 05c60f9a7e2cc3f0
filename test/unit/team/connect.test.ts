// The team log's URL and errors, without a server: a password is never shown, and failures are sorted
// into "cannot reach" and "refused".
import * as assert from 'node:assert/strict';
import { asTeamLogError, checkTeamLogUrl, isTeamLogUrl, redactUrl, TeamLogError } from '../../../src/core/team';

describe('team log: URL and errors', () => {
  it('redacts a password, whatever it holds, and leaves a URL without one as it is', () => {
    assert.equal(redactUrl('postgres://alice:s3cr%40t:x@db:5432/audit'), 'postgres://alice:***@db:5432/audit');
    assert.equal(redactUrl('postgresql://alice:pw@db/audit?sslmode=require'), 'postgresql://alice:***@db/audit?sslmode=require');
    assert.equal(redactUrl('postgres://alice:p@ss@db:5432/audit'), 'postgres://alice:***@db:5432/audit');
    assert.equal(redactUrl('postgres://alice@db:5432/audit'), 'postgres://alice@db:5432/audit');
    assert.equal(redactUrl('postgres://db/audit'), 'postgres://db/audit');
  });

  it('takes postgres:// URLs without a password only', () => {
    assert.equal(isTeamLogUrl('POSTGRESQL://a@b/c'), true);
    assert.equal(isTeamLogUrl('./postgres://x'), false);
    assert.doesNotThrow(() => checkTeamLogUrl('postgres://alice@db:5432/audit'));
    assert.throws(() => checkTeamLogUrl('mysql://alice@db/audit'), (e: unknown) => e instanceof TeamLogError && e.code === 'BAD_URL');
    assert.throws(
      () => checkTeamLogUrl('postgres://alice:hunter2@db/audit'),
      (e: unknown) => e instanceof TeamLogError && e.code === 'BAD_URL' && !e.message.includes('hunter2') && e.message.includes('alice:***@'),
    );
  });

  it('sorts failures: no connection, a refused login or privilege, and anything else left alone', () => {
    const url = 'postgres://alice:hunter2@db/audit';
    const err = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
    const cases: [Error, string | undefined][] = [
      [err('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), 'UNREACHABLE'],
      [err('', 'ECONNREFUSED'), 'UNREACHABLE'],
      [err('database "audit" does not exist', '3D000'), 'UNREACHABLE'],
      [err('terminating connection due to administrator command', '57P01'), 'UNREACHABLE'],
      [err('Connection terminated unexpectedly'), 'UNREACHABLE'],
      [err('password authentication failed for user "alice"', '28P01'), 'REFUSED'],
      [err('permission denied for table team_entries', '42501'), 'REFUSED'],
      [err('syntax error at or near "x"', '42601'), undefined],
    ];
    for (const [e, code] of cases) {
      const t = asTeamLogError(e, url);
      assert.equal(t?.code, code, e.message);
      if (t) assert.ok(!t.message.includes('hunter2') && t.message.length > `cannot reach the team log at ${redactUrl(url)}: `.length, t.message);
    }
  });
});
