import * as assert from 'node:assert/strict';
import { formatDuration, formatInstant, timeAgo } from '../../../src/core/format/time';

describe('format/time', () => {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  it('says how long ago', () => {
    assert.equal(timeAgo(now - 2000, now), 'just now');
    assert.equal(timeAgo(now - 42_000, now), '42 s ago');
    assert.equal(timeAgo(now - 3 * 60_000, now), '3 min ago');
    assert.equal(timeAgo(now - 5 * 3600_000, now), '5 h ago');
    assert.equal(timeAgo(now - 2 * 86400_000, now), '2 d ago');
    assert.equal(timeAgo(now - 90 * 86400_000, now), '2026-08-25');
  });
  it('formats durations', () => {
    assert.equal(formatDuration(850), '850 ms');
    assert.equal(formatDuration(1234), '1.2 s');
    assert.equal(formatDuration(12_400), '12 s');
    assert.equal(formatDuration(125_000), '2 min 5 s');
    assert.equal(formatDuration(120_000), '2 min');
    assert.equal(formatDuration(-1), '');
  });
  it('formats instants in UTC', () => {
    assert.equal(formatInstant(now + 5000, 'utc'), '2026-11-23 12:00:05 UTC');
    assert.match(formatInstant(now, 'local'), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  });
});
