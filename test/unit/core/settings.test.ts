import * as assert from 'node:assert/strict';
import { SETTINGS_DEFAULTS, checkSettings } from '../../../src/core/settings';

describe('settings', () => {
  it('gives the defaults when nothing is set', () => {
    const { values, problems } = checkSettings({});
    assert.deepEqual(values, SETTINGS_DEFAULTS);
    assert.deepEqual(problems, []);
  });

  it('keeps good values', () => {
    const { values, problems } = checkSettings({
      defaultTimeout: 30,
      defaultMemoryLimitMb: 512,
      maxConcurrentRuns: 2,
      defaultAuditEventTrigger: 'on-error',
      defaultAuditEventDestination: ['log', 'resource', 'log'],
      notifyOnFailure: false,
      timeZone: 'utc',
      botGlob: 'automations/*.ts',
      databasePath: 'logs/audit.db',
    });
    assert.deepEqual(problems, []);
    assert.equal(values.defaultTimeout, 30);
    assert.deepEqual(values.defaultAuditEventDestination, ['log', 'resource']);
    assert.equal(values.timeZone, 'utc');
    assert.equal(values.botGlob, 'automations/*.ts');
  });

  it('reports each bad value and uses its default instead', () => {
    const { values, problems } = checkSettings({
      defaultTimeout: 0,
      defaultMemoryLimitMb: 'lots',
      maxConcurrentRuns: 99,
      defaultAuditEventTrigger: 'sometimes',
      defaultAuditEventDestination: [],
      notifyOnFailure: 'yes',
      timeZone: 'Mars',
      botGlob: 'bots/*.{ts',
    });
    assert.deepEqual(
      problems.map((p) => p.key).sort(),
      ['botGlob', 'defaultAuditEventDestination', 'defaultAuditEventTrigger', 'defaultMemoryLimitMb', 'defaultTimeout', 'maxConcurrentRuns', 'notifyOnFailure', 'timeZone'],
    );
    assert.deepEqual(values, SETTINGS_DEFAULTS);
    assert.match(problems.find((p) => p.key === 'defaultTimeout')!.reason, /between 1 and 3600/);
    assert.match(problems.find((p) => p.key === 'botGlob')!.reason, /Unbalanced/);
  });
  it('takes a team log URL without a password, and refuses one with a password or of another kind', () => {
    assert.equal(checkSettings({ teamLog: ' postgres://ann@db.example:5432/team ' }).values.teamLog, 'postgres://ann@db.example:5432/team');
    assert.equal(checkSettings({ teamLog: '' }).values.teamLog, '');
    for (const bad of ['postgres://ann:secret@db.example/team', 'mysql://db/team', 'db.example', 42]) {
      const { values, problems } = checkSettings({ teamLog: bad });
      assert.equal(values.teamLog, '', String(bad));
      assert.deepEqual(problems.map((p) => p.key), ['teamLog']);
    }
    assert.match(checkSettings({ teamLog: 'postgres://ann:secret@db.example/team' }).problems[0].reason, /carries a password/);
  });

  it('has the defaults package.json declares', () => {
    const manifest = require('../../../package.json') as { contributes: { configuration: { properties: Record<string, { default?: unknown }> } } };
    const props = manifest.contributes.configuration.properties;
    for (const [key, value] of Object.entries(SETTINGS_DEFAULTS)) {
      assert.ok(`botAudit.${key}` in props, `botAudit.${key} is in package.json`);
      assert.deepEqual(props[`botAudit.${key}`].default, value, `botAudit.${key}'s default`);
    }
    assert.deepEqual(Object.keys(props).sort(), Object.keys(SETTINGS_DEFAULTS).map((k) => `botAudit.${k}`).sort(), 'every setting is checked');
  });
});
