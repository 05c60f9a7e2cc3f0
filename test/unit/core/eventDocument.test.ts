import * as assert from 'node:assert/strict';
import { renderEventDocument } from '../../../src/core/format/eventDocument';
import type { Entry } from '../../../src/core/store';

const base: Entry = {
  id: 7,
  uuid: 'u-7',
  recorded: Date.UTC(2026, 10, 23, 12, 0, 0),
  hash: 'h',
  prevHash: 'p',
  user: 'dev@example.com',
  action: 'EXECUTED',
  entityName: 'Bot',
  entityId: 'bots/hello-bot.ts',
  bot: 'hello-bot',
  outcome: 8,
  failureKind: 'timeout',
  periodStart: Date.UTC(2026, 10, 23, 11, 59, 58),
  periodEnd: Date.UTC(2026, 10, 23, 12, 0, 0),
  outcomeDesc: 'line 1\n```\n# not a heading\n<img src=x onerror=alert(1)>',
  input: '{"name":"Ada"}',
  contentType: 'application/json',
};

describe('format/eventDocument', () => {
  it('shows every field of a run', () => {
    const doc = renderEventDocument(base, [{ ...base, id: 8, action: 'CREATED', entityName: 'Patient', entityId: 'p1' }]);
    assert.match(doc, /^# Entry 7: EXECUTED Bot/);
    assert.match(doc, /\*\*Outcome:\*\* `8 Serious failure`/);
    assert.match(doc, /\*\*Duration:\*\* `2\.0 s`/);
    assert.match(doc, /\*\*Recorded:\*\* `2026-11-23 12:00:00 UTC`/);
    assert.match(doc, /## Changes made by this run\n\n- `#8 CREATED Patient\/p1`/);
  });

  it('fences untrusted text so it cannot break out into Markdown', () => {
    const doc = renderEventDocument(base);
    // The description holds a ``` run, so its fence is four backticks long.
    assert.ok(doc.includes('````log\nline 1\n```\n# not a heading\n<img src=x onerror=alert(1)>\n````'));
    const weird = renderEventDocument({ ...base, user: 'a`b', entityId: '](javascript:x)' });
    assert.ok(!/\*\*User:\*\* `a`b`/.test(weird), 'a backtick in a value does not end its code span');
    assert.ok(weird.includes('```\na`b\n```'));
  });

  it('shows the JSON before and after of a change', () => {
    const doc = renderEventDocument({ ...base, action: 'UPDATED', outcome: undefined, before: { a: 1 }, after: { a: 2 } });
    assert.ok(doc.includes('## Before\n\n```json\n{\n  "a": 1\n}\n```'));
    assert.ok(doc.includes('## After\n\n```json\n{\n  "a": 2\n}\n```'));
    assert.ok(!doc.includes('Outcome:'));
  });
});
