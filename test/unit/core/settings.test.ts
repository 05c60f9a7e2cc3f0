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
});
